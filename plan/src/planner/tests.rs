extern crate std;

use super::*;
use crate::encode::INT3;
use crate::layout::{site_addr, MAX_SITES_PER_KEY, SITE_BASE};
use std::collections::{BTreeSet, HashMap};
use std::vec::Vec;

const MODES: [bool; 2] = [false, true];

fn full(class: SiteClass, outofline: bool) -> ArenaPlan {
    plan(
        MAX_KEYS,
        class.max_sites_per_key(),
        MAX_TARGETS_PER_KEY,
        class,
        outofline,
    )
    .unwrap_or_else(|e| panic!("a full {class} plan (outofline {outofline}) was wanted, got {e}"))
}

/// An independent model of the window: the bytes of every mapped page, and
/// which of them are code. Built by writing the plan's encoded bytes, the way
/// the kernel does, without `classify_landing` or `CodeRange`.
struct Memory {
    pages: HashMap<u64, (Vec<u8>, Vec<bool>)>,
}

impl Memory {
    fn of(plan: &ArenaPlan) -> Memory {
        let mut m = Memory {
            pages: HashMap::new(),
        };
        let mut page = SITE_BASE;
        while page < SITE_BASE + SITE_ARENA_SIZE {
            m.map(page);
            page += PAGE_SIZE;
        }
        for k in 0..plan.keys() {
            for &t in plan.targets(k) {
                m.map(t & !(PAGE_SIZE - 1));
            }
        }
        for k in 0..plan.keys() {
            for i in 0..plan.sites_per_key() {
                m.write(plan.sites(k)[i], &plan.stub_bytes(k, i));
            }
            if let Some(t) = plan.trampoline(k) {
                m.write(t, &plan.trampoline_bytes(k).unwrap());
            }
            for j in 0..plan.targets_per_key() {
                m.write(plan.targets(k)[j], &plan.target_body(k, j));
            }
        }
        m
    }

    fn map(&mut self, page: u64) {
        let fresh = (
            std::vec![INT3; PAGE_SIZE as usize],
            std::vec![false; PAGE_SIZE as usize],
        );
        assert!(
            self.pages.insert(page, fresh).is_none(),
            "page {page:#x} mapped twice"
        );
    }

    fn write(&mut self, addr: u64, bytes: &[u8]) {
        for (n, &b) in bytes.iter().enumerate() {
            let a = addr + n as u64;
            let (data, code) = self
                .pages
                .get_mut(&(a & !(PAGE_SIZE - 1)))
                .unwrap_or_else(|| panic!("write to unmapped {a:#x}"));
            let off = (a % PAGE_SIZE) as usize;
            assert!(!code[off], "code written twice at {a:#x}");
            data[off] = b;
            code[off] = true;
        }
    }

    /// `Some((byte, is_code))`, or `None` when unmapped.
    fn at(&self, a: u64) -> Option<(u8, bool)> {
        let (data, code) = self.pages.get(&(a & !(PAGE_SIZE - 1)))?;
        let off = (a % PAGE_SIZE) as usize;
        Some((data[off], code[off]))
    }

    fn read<const N: usize>(&self, a: u64) -> [u8; N] {
        core::array::from_fn(|n| self.at(a + n as u64).expect("mapped").0)
    }
}

#[test]
fn every_class_mode_and_count_up_to_the_maxima_gives_a_plan_that_verifies() {
    let mut plans = 0;
    for &class in SiteClass::ALL {
        for outofline in MODES {
            for keys in 1..=MAX_KEYS {
                for sites in (1..=16).chain([64, MAX_SITES_PER_KEY]) {
                    for targets in 2..=MAX_TARGETS_PER_KEY {
                        if sites > class.max_sites_per_key() {
                            continue;
                        }
                        let p = plan(keys, sites, targets, class, outofline).unwrap_or_else(|e| {
                            panic!(
                                "a plan for {keys}x{sites}x{targets} {class} was wanted, got {e}"
                            )
                        });
                        // plan() has verified it; the census counts what verify saw.
                        let c = census(&p);
                        assert_eq!((c.code, c.outside), (0, 0));
                        assert_eq!(
                            c.min_differing_bytes, 4,
                            "all 4 operand bytes should differ, fewest was {}",
                            c.min_differing_bytes
                        );
                        plans += 1;
                    }
                }
            }
        }
    }
    // 18 counts of sites in three classes, the 16 paged ones in cross-page.
    assert_eq!(
        plans,
        (3 * 18 + 16) * 2 * MAX_KEYS * (MAX_TARGETS_PER_KEY - 1)
    );
}

#[test]
fn the_sizes_of_the_batching_benchmark_plan_in_every_class_that_holds_them_and_cross_page_refuses_beyond_16(
) {
    for &class in SiteClass::ALL {
        for outofline in MODES {
            for sites in [1, 8, 16, 64, 256] {
                let got = plan(2, sites, 4, class, outofline);
                if class == SiteClass::CrossPage && sites > 16 {
                    assert_eq!(
                        got,
                        Err(PlanError::ClassTooSmall {
                            class,
                            asked: sites,
                            most: 16
                        })
                    );
                    let msg = std::format!("{}", got.unwrap_err());
                    assert!(msg.contains("`cross-page` holds at most 16"), "{msg}");
                    continue;
                }
                let p = got.unwrap_or_else(|e| panic!("{class} x{sites}: {e}"));
                assert_eq!(
                    p.sites(1).len(),
                    sites,
                    "{class}: every site asked is placed"
                );
                let c = census(&p);
                assert_eq!((c.code, c.outside), (0, 0), "{class} x{sites}");
                assert_eq!(c.pairs as usize, 2 * 6 * if outofline { 1 } else { sites });
            }
        }
    }
}

#[test]
fn every_torn_mix_of_every_ordered_pair_lands_on_int3_or_unmapped_in_the_memory_model() {
    for &class in SiteClass::ALL {
        for outofline in MODES {
            let p = full(class, outofline);
            let mem = Memory::of(&p);
            let (mut unmapped, mut trap) = (0u32, 0u32);
            for key in 0..p.keys() {
                for &insn in p.patch_points(key) {
                    for (a, &ta) in p.targets(key).iter().enumerate() {
                        for (b, &tb) in p.targets(key).iter().enumerate() {
                            if a == b {
                                continue;
                            }
                            let old = ((ta as i64 - insn as i64 - 5) as i32).to_le_bytes();
                            let new = ((tb as i64 - insn as i64 - 5) as i32).to_le_bytes();
                            for mask in 0u8..16 {
                                let mix: [u8; 4] = core::array::from_fn(|i| {
                                    if mask & 1 << i != 0 {
                                        new[i]
                                    } else {
                                        old[i]
                                    }
                                });
                                if mix == old || mix == new {
                                    continue;
                                }
                                let land =
                                    (insn as i64 + 5 + i32::from_le_bytes(mix) as i64) as u64;
                                assert!(
                                    (GUARD_START..GUARD_END).contains(&land),
                                    "{class} key {key} insn {insn:#x} {a}->{b} mix {mix:02x?}: \
                                     wanted a landing in the window, got {land:#x}"
                                );
                                match mem.at(land) {
                                    None => unmapped += 1,
                                    Some((byte, is_code)) => {
                                        assert!(
                                            !is_code && byte == INT3,
                                            "{class} key {key} insn {insn:#x} {a}->{b} mix {mix:02x?}: \
                                             wanted int3 padding at {land:#x}, got byte {byte:#04x} \
                                             (code: {is_code})"
                                        );
                                        trap += 1;
                                    }
                                }
                                let want = if mem.at(land).is_some() {
                                    Landing::Trap
                                } else {
                                    Landing::Unmapped
                                };
                                assert_eq!(classify_landing(land, &p), want, "landing {land:#x}");
                            }
                        }
                    }
                }
            }
            assert!(
                unmapped > 0 && trap > 0,
                "{class}: both kinds of landing expected, got {unmapped} unmapped, {trap} trap"
            );
        }
    }
}

#[test]
fn executing_the_model_through_every_stub_returns_the_installed_target_id() {
    for &class in SiteClass::ALL {
        for outofline in MODES {
            let p = full(class, outofline);
            let mut mem = Memory::of(&p);
            for key in 0..p.keys() {
                for target in 0..p.targets_per_key() {
                    for &point in p.patch_points(key) {
                        let bytes = p.insn_bytes(key, point, target);
                        // Byte by byte: a cross-page point spans two pages.
                        for (n, &b) in bytes.iter().enumerate() {
                            let a = point + n as u64;
                            let (d, _) = mem.pages.get_mut(&(a & !(PAGE_SIZE - 1))).unwrap();
                            d[(a % PAGE_SIZE) as usize] = b;
                        }
                    }
                    for &site in p.sites(key) {
                        let (op, mut dest) =
                            encode::decode_rel32_dest(&mem.read::<5>(site), site).unwrap();
                        assert_eq!(op, encode::CALL_OPCODE);
                        assert_eq!(
                            mem.read::<1>(site + encode::STUB_LEN as u64 - 1),
                            [encode::RET],
                            "stub ends in ret"
                        );
                        if outofline {
                            assert_eq!(Some(dest), p.trampoline(key));
                            let (op, d) =
                                encode::decode_rel32_dest(&mem.read::<5>(dest), dest).unwrap();
                            assert_eq!(op, encode::JMP_OPCODE);
                            dest = d;
                        }
                        let id = encode::decode_target_body(&mem.read::<TARGET_BODY_LEN>(dest));
                        assert_eq!(
                            id,
                            Some(p.ids(key)[target]),
                            "{class} key {key} site {site:#x}: wanted target {target}'s id"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn torn_mixes_are_exactly_the_distinct_byte_mixes_other_than_old_and_new() {
    let cases: [([u8; 4], [u8; 4]); 5] = [
        ([1, 2, 3, 4], [5, 6, 7, 8]),
        ([1, 2, 3, 4], [1, 6, 3, 8]),
        ([1, 2, 3, 4], [1, 2, 3, 9]),
        ([1, 2, 3, 4], [1, 2, 3, 4]),
        ([0xFF, 0, 0xFF, 0], [0, 0xFF, 0, 0xFF]),
    ];
    for (old, new) in cases {
        let got: Vec<[u8; 4]> = torn_mixes(old, new).collect();
        let mut want = BTreeSet::new();
        for mask in 0u8..16 {
            let mix: [u8; 4] =
                core::array::from_fn(|i| if mask & 1 << i != 0 { new[i] } else { old[i] });
            if mix != old && mix != new {
                want.insert(mix);
            }
        }
        let got_set: BTreeSet<[u8; 4]> = got.iter().copied().collect();
        assert_eq!(got.len(), got_set.len(), "no mix twice: {got:02x?}");
        assert_eq!(got_set, want, "{old:02x?} / {new:02x?}");
        let d = differing_bytes(old, new);
        assert_eq!(
            got.len(),
            (1usize << d).saturating_sub(2),
            "2^{d} - 2 mixes"
        );
    }
}

#[test]
fn an_exhausted_torn_mix_iterator_stays_exhausted() {
    let mut it = torn_mixes([1, 2, 3, 4], [1, 2, 3, 5]);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn target_addresses_follow_the_documented_digits_and_are_independent_of_the_counts() {
    assert_eq!(target_addr(0, 0), TARGET_BASE + 0x0021_1200);
    assert_eq!(target_addr(1, 2), TARGET_BASE + 0x0C99_9B90);
    assert_eq!(target_id(3, 1), 0x5C00_0301);
    let a = plan(2, 3, 2, SiteClass::Line, false).unwrap();
    let b = plan(8, 16, 4, SiteClass::CrossPage, true).unwrap();
    assert_eq!(a.targets(1), &b.targets(1)[..2]);
    assert_eq!(a.sites(1)[2], site_addr(1, 2, SiteClass::Line));
}

#[test]
fn plan_refuses_counts_out_of_range_and_names_them() {
    let q = SiteClass::Qword;
    assert_eq!(plan(0, 1, 2, q, false), Err(PlanError::Keys { asked: 0 }));
    assert_eq!(
        plan(MAX_KEYS + 1, 1, 2, q, false),
        Err(PlanError::Keys {
            asked: MAX_KEYS + 1
        })
    );
    assert_eq!(
        plan(1, 0, 2, q, false),
        Err(PlanError::SitesPerKey { asked: 0 })
    );
    assert_eq!(
        plan(1, MAX_SITES_PER_KEY + 1, 2, q, false),
        Err(PlanError::SitesPerKey {
            asked: MAX_SITES_PER_KEY + 1
        })
    );
    assert_eq!(
        plan(1, 17, 2, SiteClass::CrossPage, true),
        Err(PlanError::ClassTooSmall {
            class: SiteClass::CrossPage,
            asked: 17,
            most: 16
        })
    );
    assert_eq!(
        plan(1, 1, 1, q, false),
        Err(PlanError::TargetsPerKey { asked: 1 })
    );
    assert_eq!(
        plan(1, 1, 5, q, false),
        Err(PlanError::TargetsPerKey { asked: 5 })
    );
    let msg = std::format!("{}", plan(1, 1, 1, q, false).unwrap_err());
    assert!(msg.contains("1 targets per key asked"), "{msg}");
}

#[test]
fn classify_landing_tells_padding_code_unmapped_and_outside_apart() {
    let p = full(SiteClass::Line, true);
    let site = p.sites(2)[3];
    assert_eq!(
        classify_landing(site, &p),
        Landing::Code(CodeRef::Stub { key: 2, index: 3 })
    );
    assert_eq!(
        classify_landing(site + 9, &p),
        Landing::Code(CodeRef::Stub { key: 2, index: 3 })
    );
    assert_eq!(classify_landing(site + 10, &p), Landing::Trap);
    assert_eq!(classify_landing(site - 1, &p), Landing::Trap);
    let t = p.trampoline(4).unwrap();
    assert_eq!(
        classify_landing(t + 4, &p),
        Landing::Code(CodeRef::Trampoline { key: 4 })
    );
    assert_eq!(classify_landing(t + 5, &p), Landing::Trap);
    let tg = p.targets(7)[3];
    assert_eq!(
        classify_landing(tg + 7, &p),
        Landing::Code(CodeRef::Target { key: 7, target: 3 })
    );
    assert_eq!(classify_landing(tg + 8, &p), Landing::Trap);
    assert_eq!(classify_landing(tg & !(PAGE_SIZE - 1), &p), Landing::Trap);
    assert_eq!(
        classify_landing((tg | (PAGE_SIZE - 1)) + 1, &p),
        Landing::Unmapped
    );
    assert_eq!(
        classify_landing(SITE_BASE + SITE_ARENA_SIZE, &p),
        Landing::Unmapped
    );
    assert_eq!(classify_landing(SITE_BASE - 1, &p), Landing::Unmapped);
    assert_eq!(classify_landing(GUARD_START - 1, &p), Landing::Outside);
    assert_eq!(classify_landing(GUARD_END, &p), Landing::Outside);
    assert_eq!(
        classify_landing(0x10_0000, &p),
        Landing::Outside,
        "kernel memory is not promised"
    );
}

#[test]
fn in_line_plans_have_no_trampolines_to_land_on() {
    let p = full(SiteClass::Qword, false);
    let t = crate::layout::trampoline_addr(0, SiteClass::Qword);
    assert_eq!(p.trampoline(0), None);
    assert_eq!(classify_landing(t, &p), Landing::Trap);
    assert_eq!(
        p.code().count(),
        MAX_KEYS * (MAX_SITES_PER_KEY + MAX_TARGETS_PER_KEY)
    );
}

// ---- verify must be able to fail ----

#[test]
fn verify_rejects_a_target_placed_where_a_tear_of_another_key_lands() {
    let mut p = full(SiteClass::CrossLine, false);
    // Find a tear of key 0 that lands on an unmapped page where a body fits,
    // and move key 1's target 0 there.
    let insn = p.sites(0)[0];
    let old = operand(insn, p.targets(0)[0]).unwrap();
    let new = operand(insn, p.targets(0)[1]).unwrap();
    let land = torn_mixes(old, new)
        .map(|m| encode::rel32_dest(insn, i32::from_le_bytes(m)))
        .find(|&l| {
            classify_landing(l, &p) == Landing::Unmapped
                && l % PAGE_SIZE <= PAGE_SIZE - TARGET_BODY_LEN as u64
                && (TARGET_BASE..TARGET_BASE + TARGET_REGION_SIZE).contains(&l)
        })
        .expect("some tear lands on an unmapped page");
    p.targets[1][0] = land;
    match verify(&p) {
        Err(PlanViolation::TornLandsOnCode { tear, hits }) => {
            assert_eq!(hits, CodeRef::Target { key: 1, target: 0 });
            assert_eq!(tear.landing, land);
            assert_eq!(tear.key, 0);
        }
        other => panic!("wanted a tear on key 1's target 0 at {land:#x}, got {other:?}"),
    }
}

#[test]
fn verify_rejects_a_tear_that_lands_inside_a_body_not_only_at_its_start() {
    let mut p = full(SiteClass::Qword, false);
    let insn = p.sites(0)[0];
    let old = operand(insn, p.targets(0)[0]).unwrap();
    let new = operand(insn, p.targets(0)[1]).unwrap();
    let land = torn_mixes(old, new)
        .map(|m| encode::rel32_dest(insn, i32::from_le_bytes(m)))
        .find(|&l| classify_landing(l, &p) == Landing::Unmapped && l % PAGE_SIZE >= 3)
        .unwrap();
    // The body starts 3 bytes before the landing: the tear hits its id bytes.
    p.targets[2][1] = land - 3;
    assert!(
        matches!(
            verify(&p),
            Err(PlanViolation::TornLandsOnCode {
                hits: CodeRef::Target { key: 2, target: 1 },
                ..
            })
        ),
        "wanted a tear into the middle of key 2's target 1, got {:?}",
        verify(&p)
    );
}

#[test]
fn verify_rejects_two_targets_whose_operands_differ_in_one_byte() {
    let mut p = full(SiteClass::Qword, false);
    // Two 64 KiB sub-blocks apart: only operand byte 2 differs, so no tear
    // could ever be seen.
    p.targets[0][1] = p.targets[0][0] + 0x2_0000;
    match verify(&p) {
        Err(PlanViolation::TooFewDifferingBytes {
            key: 0,
            old: 0,
            new: 1,
            differing,
            ..
        }) => {
            assert_eq!(differing, 1)
        }
        other => panic!("wanted too few differing bytes between targets 0 and 1, got {other:?}"),
    }
}

#[test]
fn verify_rejects_targets_close_enough_for_a_one_byte_tear_into_a_body() {
    // Same page, 3 bytes apart: the bodies overlap, which verify names first.
    let mut p = full(SiteClass::Qword, false);
    p.targets[0][1] = p.targets[0][0] + 3;
    assert!(
        matches!(verify(&p), Err(PlanViolation::Overlap { .. })),
        "{:?}",
        verify(&p)
    );
}

#[test]
fn verify_rejects_malformed_plans_with_the_reason() {
    let base = full(SiteClass::Qword, true);
    let t00 = CodeRef::Target { key: 0, target: 0 };
    let t01 = CodeRef::Target { key: 0, target: 1 };

    let mut p = base.clone();
    p.targets_per_key = 1;
    assert!(matches!(
        verify(&p),
        Err(PlanViolation::Counts {
            targets_per_key: 1,
            ..
        })
    ));

    let mut p = base.clone();
    p.targets[0][0] = (p.targets[0][0] | (PAGE_SIZE - 1)) - 2;
    assert_eq!(
        verify(&p),
        Err(PlanViolation::BodyCrossesPage {
            what: t00,
            addr: p.targets[0][0]
        })
    );

    let mut p = base.clone();
    p.targets[0][1] = p.targets[0][0] + 0x80;
    assert_eq!(
        verify(&p),
        Err(PlanViolation::SharedTargetPage { a: t00, b: t01 })
    );

    let mut p = base.clone();
    p.targets[0][0] = SITE_BASE + 0x8_0000;
    assert_eq!(
        verify(&p),
        Err(PlanViolation::OutsideTargetRegion {
            what: t00,
            addr: SITE_BASE + 0x8_0000
        })
    );

    let mut p = base.clone();
    p.sites[1][0] = SITE_BASE + SITE_ARENA_SIZE - 2;
    assert!(matches!(
        verify(&p),
        Err(PlanViolation::OutsideSiteArena {
            what: CodeRef::Stub { key: 1, index: 0 },
            ..
        })
    ));

    let mut p = base.clone();
    p.sites[1][1] = p.sites[1][0] + 3;
    assert!(
        matches!(verify(&p), Err(PlanViolation::Overlap { .. })),
        "{:?}",
        verify(&p)
    );

    let mut p = base.clone();
    p.trampolines[3] -= 2; // operand now starts at line + 6
    assert_eq!(
        verify(&p),
        Err(PlanViolation::WrongClass {
            what: CodeRef::Trampoline { key: 3 },
            want: SiteClass::Qword,
            got: SiteClass::Line
        })
    );

    let mut p = base.clone();
    p.ids[5][2] = p.ids[2][1];
    assert_eq!(
        verify(&p),
        Err(PlanViolation::DuplicateId {
            a: CodeRef::Target { key: 2, target: 1 },
            b: CodeRef::Target { key: 5, target: 2 }
        })
    );
}

#[test]
fn in_line_the_class_of_the_sites_is_checked() {
    let mut p = full(SiteClass::CrossPage, false);
    p.sites[6][9] -= 1; // operand at page + 4093 .. 4097: still crosses
    assert_eq!(
        verify(&p),
        Ok(()),
        "one byte earlier still crosses the page"
    );
    p.sites[6][9] -= 4; // operand ends at the page end
    assert!(matches!(
        verify(&p),
        Err(PlanViolation::WrongClass {
            what: CodeRef::Stub { key: 6, index: 9 },
            want: SiteClass::CrossPage,
            ..
        })
    ));
}

#[test]
fn the_census_of_a_safe_plan_counts_every_tear_and_none_on_code() {
    let p = full(SiteClass::Line, false);
    let c = census(&p);
    let pairs =
        MAX_KEYS * MAX_SITES_PER_KEY * (MAX_TARGETS_PER_KEY * (MAX_TARGETS_PER_KEY - 1) / 2);
    assert_eq!(c.pairs as usize, pairs);
    assert_eq!(
        c.tears as usize,
        pairs * 14,
        "4 differing bytes give 14 tears per pair"
    );
    assert_eq!((c.code, c.outside), (0, 0));
    assert_eq!(c.unmapped + c.trap, c.tears);
}

#[test]
fn every_operand_has_the_top_byte_the_rule_promises() {
    // Rule (2): no borrow into the top byte, wherever the patch point is.
    for &class in SiteClass::ALL {
        for outofline in MODES {
            let p = full(class, outofline);
            for k in 0..MAX_KEYS {
                for &insn in p.patch_points(k) {
                    for j in 0..MAX_TARGETS_PER_KEY {
                        let top = operand(insn, p.targets(k)[j]).unwrap()[3];
                        let want = 0x40 + 2 * (k * MAX_TARGETS_PER_KEY + j) as u8;
                        assert_eq!(top, want, "key {k} target {j} from {insn:#x}");
                    }
                }
            }
        }
    }
}

#[test]
fn patch_point_at_finds_every_patch_point_and_nothing_else_in_the_arena() {
    for &class in SiteClass::ALL {
        for outofline in MODES {
            let p = plan(5, 11, 3, class, outofline).unwrap();
            let mut want = HashMap::new();
            for key in 0..p.keys() {
                for (index, &a) in p.patch_points(key).iter().enumerate() {
                    let what = if outofline {
                        CodeRef::Trampoline { key }
                    } else {
                        CodeRef::Stub { key, index }
                    };
                    want.insert(a, what);
                }
            }
            let mut found = 0;
            for addr in SITE_BASE - 8..SITE_BASE + SITE_ARENA_SIZE + 8 {
                let want = want.get(&addr).copied();
                assert_eq!(
                    p.patch_point_at(addr),
                    want,
                    "{class} outofline {outofline} at {addr:#x}"
                );
                found += want.is_some() as usize;
            }
            assert_eq!(found, if outofline { 5 } else { 5 * 11 });
        }
    }
}

#[test]
fn patch_points_are_sorted_by_address_within_and_across_keys() {
    for &class in SiteClass::ALL {
        for outofline in MODES {
            let p = full(class, outofline);
            let all: Vec<u64> = (0..p.keys())
                .flat_map(|k| p.patch_points(k).iter().copied())
                .collect();
            assert!(all.windows(2).all(|w| w[0] < w[1]), "{class}: {all:x?}");
        }
    }
}

#[test]
fn the_searched_and_the_walked_judgements_of_a_landing_agree() {
    for (class, outofline) in [(SiteClass::CrossPage, true), (SiteClass::CrossLine, false)] {
        landings_agree(&full(class, outofline));
    }
}

/// Every interesting address judged by the binary search and by a walk of
/// every piece of code.
fn landings_agree(p: &ArenaPlan) {
    let walked = |a: u64| {
        if !(GUARD_START..GUARD_END).contains(&a) {
            Landing::Outside
        } else if !crate::layout::in_site_arena(a) && !p.target_pages().any(|t| t == page_of(a)) {
            Landing::Unmapped
        } else {
            p.code()
                .find(|r| r.contains(a))
                .map_or(Landing::Trap, |r| Landing::Code(r.what))
        }
    };
    let mut probes: Vec<u64> = std::vec![
        0,
        GUARD_START - 1,
        GUARD_START,
        GUARD_END - 1,
        GUARD_END,
        u64::MAX
    ];
    for r in p.code() {
        probes.extend([
            r.addr - 1,
            r.addr,
            r.addr + r.len - 1,
            r.addr + r.len,
            page_of(r.addr),
            page_of(r.addr) + PAGE_SIZE,
        ]);
    }
    let _ = for_each_pair(p, |pair| -> ControlFlow<()> {
        probes.extend(pair.tears().map(|t| t.landing));
        ControlFlow::Continue(())
    });
    for a in probes {
        assert_eq!(classify_landing(a, p), walked(a), "at {a:#x}");
    }
}

#[test]
fn every_site_has_a_mark_of_its_own_within_its_key_and_the_paged_ones_over_the_arena() {
    let p = full(SiteClass::Qword, false);
    let mut paged = BTreeSet::new();
    for key in 0..p.keys() {
        let mut seen = BTreeSet::new();
        for (index, &site) in p.sites(key).iter().enumerate() {
            if index < crate::layout::PAGED_SITES_PER_KEY {
                assert!(paged.insert(p.mark_of(site).unwrap().edx()));
            }
            let m = p.mark_of(site).expect("every site has a mark");
            assert!(seen.insert(m.edx()), "mark {m:?} of {site:#x} used twice");
            assert_eq!(
                p.stub_bytes(key, p.sites(key).iter().position(|&s| s == site).unwrap())
                    [encode::STUB_TAIL..encode::STUB_TAIL + 4],
                [encode::MOV_DH_IMM8, m.hi, encode::MOV_DL_IMM8, m.lo]
            );
        }
    }
    assert_eq!(p.mark_of(p.sites(0)[0] + 1), None);
}

#[test]
fn a_return_one_byte_off_either_way_misses_the_mark_for_the_kernels_two_keys() {
    for &class in SiteClass::ALL {
        let p = plan(
            2,
            class.max_sites_per_key(),
            MAX_TARGETS_PER_KEY,
            class,
            false,
        )
        .unwrap();
        for key in 0..2 {
            for (index, &site) in p.sites(key).iter().enumerate() {
                let mark = p.mark_of(site).unwrap();
                for target in 0..p.targets_per_key() {
                    let mut code = [INT3; encode::STUB_LEN + 8];
                    code[..encode::STUB_LEN].copy_from_slice(&p.stub_bytes(key, index));
                    code[..5].copy_from_slice(&p.insn_bytes(key, site, target));
                    assert!(
                        encode::REX.contains(&code[4]),
                        "{class} key {key} target {target}: top operand byte {:#x} is no REX prefix",
                        code[4]
                    );
                    let run = |at| crate::encode::tests::run_tail(&code, at);
                    assert_eq!(run(encode::STUB_TAIL), Some(mark.edx()));
                    for at in [encode::STUB_TAIL - 1, encode::STUB_TAIL + 1] {
                        assert_ne!(
                            run(at),
                            Some(mark.edx()),
                            "{class} key {key} site {index} target {target}: entered at +{at}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn every_state_of_an_int3_pass_between_a_call_and_the_nop_is_covered_by_int3_in_every_class() {
    for &class in SiteClass::ALL {
        let p = full(class, false);
        assert_eq!(verify_shape(&p), Ok(()), "{class}");
        // And the states are the ones the patcher goes through: old, the
        // 16 covered mixes, new.
        let (old, new) = (p.insn_bytes(0, p.patch_points(0)[0], 0), encode::NOP5);
        let mut states = Vec::new();
        int3_pass_states(old, new, &mut |b| states.push(b));
        assert_eq!(states.len(), 18);
        assert_eq!((states[0], states[17]), (old, new));
        assert!(states[1..17].iter().all(|b| b[0] == INT3));
        assert_eq!(
            states[1..17].iter().collect::<BTreeSet<_>>().len(),
            16,
            "all 4 operand bytes differ, so every tear is a state of its own"
        );
    }
}

#[test]
fn the_null_proof_names_the_state_a_pass_without_its_cover_leaves_visible() {
    // Its negative control: `break=operand-first`'s order, the NOP's
    // operand under the call's opcode byte by byte, leaves `E8` with part
    // of the NOP's operand (a call to nowhere planned) visible.
    let p = full(SiteClass::Qword, false);
    let call = p.insn_bytes(0, p.patch_points(0)[0], 0);
    let operand_first = |old: [u8; 5], new: [u8; 5], f: &mut dyn FnMut([u8; 5])| {
        let mut b = old;
        f(b);
        for i in 1..5 {
            b[i] = new[i];
            f(b);
        }
        b[0] = new[0];
        f(b);
    };
    let bad = uncovered_state(call, encode::NOP5, operand_first).expect("an uncovered state");
    assert_eq!(bad[0], encode::CALL_OPCODE);
    assert_eq!(bad[1], encode::NOP5[1], "the first torn state: {bad:02x?}");
    assert_eq!(uncovered_state(call, encode::NOP5, int3_pass_states), None);
}

fn labelled(class: SiteClass) -> ArenaPlan {
    full(class, false)
        .with_jump_labels(false)
        .expect("an in-line plan takes labels")
}

#[test]
fn every_jump_label_lies_apart_and_every_state_between_its_jmp_and_the_nop_is_covered_in_every_class(
) {
    for &class in SiteClass::ALL {
        let p = labelled(class);
        assert_eq!(verify_shape(&p), Ok(()), "{class}");
        assert_eq!((p.targets_per_key(), p.null_target()), (1, 1));
        let sites = p.keys() * p.sites_per_key();
        let labels: BTreeSet<u64> = p.jump_labels().map(|(_, _, at, _)| at).collect();
        assert_eq!(labels.len(), sites, "{class}: one label per site");
        // Each site's own label, and its own id; NOP is the other end.
        let (k, i) = (3, p.sites_per_key() - 1);
        let site = p.sites(k)[i];
        let (dest, jmp) = p.dest(k, site, 0);
        assert!(jmp && dest == crate::layout::label_addr(site));
        assert_eq!(p.insn_bytes(k, site, p.null_target()), encode::NOP5);
        let (_, _, at, body) = p
            .jump_labels()
            .find(|&(kk, ii, ..)| (kk, ii) == (k, i))
            .unwrap();
        assert_eq!(at, dest);
        assert_eq!(
            encode::decode_target_body(&body),
            Some(crate::layout::label_id(k, i))
        );
        assert_eq!(p.stub_bytes(k, i)[..5], p.insn_bytes(k, site, 0));
    }
    assert_eq!(full(SiteClass::Qword, true).with_jump_labels(false), None);
    assert_eq!(full(SiteClass::Qword, false).jump_labels().count(), 0);
}

#[test]
fn a_label_on_other_code_is_named_misplaced() {
    // Its negative control: a target body moved onto the label of site 0
    // of key 2.
    let mut p = labelled(SiteClass::Line);
    let label = crate::layout::label_addr(p.sites[2][0]);
    p.targets[2][0] = label - 4;
    assert_eq!(
        verify_shape(&p),
        Err(ShapeViolation::LabelMisplaced {
            key: 2,
            index: 0,
            label
        })
    );
}

#[test]
fn the_jump_proof_names_the_state_a_pass_without_its_cover_leaves_visible() {
    // As for `null`: the NOP's operand under the `jmp`'s opcode, byte by
    // byte, leaves `E9` with part of the NOP's operand visible.
    let p = labelled(SiteClass::Qword);
    let jmp = p.insn_bytes(0, p.patch_points(0)[0], 0);
    assert_eq!(jmp[0], encode::JMP_OPCODE);
    let operand_first = |old: [u8; 5], new: [u8; 5], f: &mut dyn FnMut([u8; 5])| {
        let mut b = old;
        for i in 1..5 {
            b[i] = new[i];
            f(b);
        }
    };
    let bad = uncovered_state(jmp, encode::NOP5, operand_first).expect("an uncovered state");
    assert_eq!(bad[0], encode::JMP_OPCODE, "{bad:02x?}");
}

#[test]
fn every_state_between_a_call_and_return0_is_covered_and_return0_lies_alone_in_every_class() {
    for &class in SiteClass::ALL {
        let p = full(class, false).with_ret0().expect("in line");
        assert_eq!(verify_shape(&p), Ok(()), "{class}");
        let site = p.sites(5)[2];
        let ret0 = p.null_target();
        // Memory gets `cs cs cs xor eax, eax`; a CPU that traps is sent
        // through a call to the function that returns 0.
        assert_eq!(p.insn_bytes(5, site, ret0), encode::XOR5RAX);
        assert_eq!(p.dest(5, site, ret0), (crate::layout::RET0_ADDR, false));
        assert_eq!(p.id(5, ret0), encode::RET0_ID);
        assert_eq!(
            p.ret0_body(),
            Some((crate::layout::RET0_ADDR, encode::RET0_BODY))
        );
        // All 4 operand bytes of a call differ from `2e 2e 31 c0` here, so
        // the pass has 16 covered states of its own.
        let mut states = BTreeSet::new();
        int3_pass_states(p.insn_bytes(5, site, 0), encode::XOR5RAX, &mut |b| {
            states.insert(b);
        });
        assert_eq!(states.len(), 18, "{class}");
    }
    assert_eq!(full(SiteClass::Qword, true).with_ret0(), None);
    assert_eq!(full(SiteClass::Qword, false).ret0_body(), None);
}

#[test]
fn return0_on_other_code_is_named_misplaced() {
    // Its negative control: a target body moved onto it.
    let mut p = full(SiteClass::Qword, false).with_ret0().unwrap();
    p.targets[1][1] = crate::layout::RET0_ADDR + 1;
    assert_eq!(
        verify_shape(&p),
        Err(ShapeViolation::Ret0Misplaced {
            at: crate::layout::RET0_ADDR
        })
    );
}

#[test]
fn every_2_byte_jump_label_reaches_its_label_with_rel8_and_only_its_first_2_bytes_change() {
    for &class in SiteClass::ALL {
        let p = full(class, false).with_jump_labels(true).unwrap();
        assert_eq!(verify_shape(&p), Ok(()), "{class}");
        for k in 0..p.keys() {
            for &site in p.sites(k) {
                let (on, off) = (p.insn_bytes(k, site, 0), p.insn_bytes(k, site, 1));
                assert_eq!(on[0], encode::JMP8_OPCODE, "{class} {site:#x}");
                assert_eq!(off, encode::NOP2_POINT);
                assert_eq!(on[2..], off[2..], "the 3-byte NOP stays");
                assert_eq!(
                    encode::decode_jmp_dest(&on, site),
                    Some(crate::layout::label_addr(site))
                );
                // A disabled label emulated goes on at the 3-byte NOP.
                assert_eq!(p.dest(k, site, 1), (site + 2, true));
            }
        }
        // A pass has 4 states besides old and new: only byte 1 differs
        // under the cover.
        let site = p.sites(0)[0];
        let mut states = BTreeSet::new();
        int3_pass_states(
            p.insn_bytes(0, site, 1),
            p.insn_bytes(0, site, 0),
            &mut |b| {
                states.insert(b);
            },
        );
        assert_eq!(states.len(), 4, "{class}");
    }
}
