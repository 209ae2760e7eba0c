extern crate std;

use super::*;
use std::{collections::HashSet, vec::Vec};
use Step::*;

/// A trap the kernel must call stale: at the patch point, memory holds the
/// opcode again, the write back was recorded before round 6, which this
/// CPU acknowledged.
const STALE: Reading = Reading {
    addr: POINT,
    point: Some(POINT),
    byte: CALL_OPCODE,
    restored_before: Some(5),
    acked: 6,
};

/// The kernel's protocol with the change `f` makes.
fn sound_but(f: impl FnOnce(&mut Protocol)) -> Protocol {
    let mut p = Protocol::SOUND;
    f(&mut p);
    p
}

/// The kernel's protocol, with every choice of syncs to skip.
fn every_sync_choice() -> impl Iterator<Item = Protocol> {
    (0..8).map(|m| sound_but(|p| p.syncs = [m & 1 != 0, m & 2 != 0, m & 4 != 0]))
}

fn binomial(n: u64, k: u64) -> u64 {
    (1..=k).fold(1, |c, i| c * (n + 1 - i) / i)
}

/// Where `step` is in `trace` (the handler's steps occur once each).
fn at(trace: &[Step], step: Step) -> usize {
    trace
        .iter()
        .position(|&s| s == step)
        .unwrap_or_else(|| panic!("no {step:?} in {trace:?}"))
}

#[test]
fn a_trap_at_the_patch_point_without_int3_after_a_later_acknowledged_round_is_stale() {
    assert_eq!(
        classify(&STALE),
        Some(Stale {
            restored_before: 5,
            acked: 6
        })
    );
}

#[test]
fn a_trap_is_not_stale_when_any_one_condition_fails() {
    for (why, r) in [
        (
            "memory still holds int3",
            Reading {
                byte: INT3,
                ..STALE
            },
        ),
        (
            "no write back was recorded in this experiment",
            Reading {
                restored_before: None,
                ..STALE
            },
        ),
        (
            "the acknowledged round is the one the write back happened in",
            Reading { acked: 5, ..STALE },
        ),
        (
            "the acknowledged round began before the write back",
            Reading { acked: 4, ..STALE },
        ),
        (
            "the address is not the line's patch point",
            Reading {
                addr: OTHER,
                byte: OTHER_BYTE,
                ..STALE
            },
        ),
        (
            "the line has no patch point",
            Reading {
                point: None,
                ..STALE
            },
        ),
    ] {
        assert_eq!(classify(&r), None, "{why}: {r:?}");
    }
}

#[test]
fn the_patcher_syncs_after_the_install_then_patches_twice_recording_before_each_write_back() {
    let patch = [Cover, Begin, Begin, Record, Uncover, Begin];
    let want: Vec<Step> = [Begin]
        .iter()
        .chain(&patch)
        .chain(&patch)
        .copied()
        .collect();
    assert_eq!(patcher_program(&Protocol::SOUND).as_slice(), want);
    let old = patcher_program(&sound_but(|p| p.record_first = false));
    let want: Vec<Step> = want
        .iter()
        .map(|&s| match s {
            Record => Uncover,
            Uncover => Record,
            s => s,
        })
        .collect();
    assert_eq!(old.as_slice(), want);
    let none = patcher_program(&sound_but(|p| p.syncs = [false; 3]));
    assert_eq!(
        none.as_slice(),
        [Begin, Cover, Record, Uncover, Cover, Record, Uncover]
    );
}

#[test]
fn every_interleaving_of_the_two_programs_is_run_exactly_once() {
    for p in every_sync_choice() {
        let patcher = patcher_program(&p);
        let n = patcher.as_slice().len() as u64;
        let mut seen = HashSet::new();
        let mut sites = HashSet::new();
        explore(&p, |run| {
            let t = run.trace.as_slice();
            // The patcher's steps are its program's first ones, in order;
            // the handler's are a whole handler program.
            let mine: Vec<Step> = t
                .iter()
                .copied()
                .filter(|s| matches!(s, Cover | Record | Uncover | Begin))
                .collect();
            assert_eq!(mine, patcher.as_slice()[..mine.len()], "{t:?}");
            let site = match run.reading.addr {
                POINT => Site::Point,
                _ => Site::Other,
            };
            let theirs: Vec<Step> = t
                .iter()
                .copied()
                .filter(|s| !matches!(s, Cover | Record | Uncover | Begin))
                .collect();
            let ack = theirs.first() == Some(&Ack);
            // The NMI's place: how many reads came before it.
            let nmi = theirs.iter().position(|&s| s == NmiAck).map(|at| {
                theirs[..at]
                    .iter()
                    .filter(|s| matches!(s, ReadByte | ReadSlot | ReadAcked))
                    .count()
            });
            assert_eq!(
                theirs,
                handler_program(&p, site, ack, nmi).as_slice(),
                "{t:?}"
            );
            assert_eq!(t.last(), Some(&ReadAcked));
            sites.insert(site);
            assert!(seen.insert(t.to_vec()), "{t:?} twice");
        });
        // Each run stands for one interleaving of the whole programs: the
        // patcher's remaining steps follow in one order only. Handlers of
        // 4 steps (no acknowledgement), 5 (one) and 6 (both), at two sites,
        // with an NMI in one of three places or none.
        let without = binomial(n + 4, 4) + binomial(n + 5, 5);
        let with = binomial(n + 5, 5) + binomial(n + 6, 6);
        let want: u64 = 2 * (without + 3 * with);
        assert_eq!(seen.len() as u64, want, "{p:?}");
        assert_eq!(sites.len(), 2);
    }
}

#[test]
fn with_the_round_recorded_before_the_write_no_interleaving_calls_a_trap_stale_falsely() {
    for p in every_sync_choice() {
        let v = check(&p);
        assert!(v.interleavings > 2000, "{v:?}");
        assert_eq!(v.false_stale, 0, "{p:?}: {:#?}", v.first_false);
    }
}

#[test]
fn the_kernels_protocol_still_calls_truly_stale_traps_stale() {
    let v = check(&Protocol::SOUND);
    assert!(v.classified_stale > 0, "{v:?}");
    assert!(v.truly_stale >= v.classified_stale, "{v:?}");
    // Acknowledged the round after the first write back, then trapped at
    // the point: stale.
    let trace = [
        Begin,
        Cover,
        Begin,
        Begin,
        Record,
        Uncover,
        Begin,
        Ack,
        Trap(Site::Point),
        ReadByte,
        ReadSlot,
        ReadAcked,
    ];
    let mut found = None;
    explore(&Protocol::SOUND, |run| {
        if run.trace.as_slice() == trace {
            found = Some(*run);
        }
    });
    let run = found.expect("the interleaving is run");
    assert!(run.truly_stale);
    assert_eq!(
        run.stale,
        Some(Stale {
            restored_before: 5,
            acked: 6
        })
    );
}

#[test]
fn a_cpu_that_has_not_acknowledged_the_install_sync_is_never_stale() {
    // Before this CPU acknowledged the install's sync, nothing at the point
    // is stale: it serialized before the stub replaced the `CC` fill.
    explore(&Protocol::SOUND, |run| {
        if run.reading.acked <= INSTALL_ROUND {
            assert!(!run.truly_stale && run.stale.is_none(), "{run:#?}");
        }
    });
}

#[test]
fn recording_the_round_after_the_write_is_caught() {
    // The negative control: the order the issue found in the patcher.
    let v = check(&sound_but(|p| p.record_first = false));
    let run = v.first_false.expect("the old order must be caught");
    let t = run.trace.as_slice();
    // The handler read the opcode written back, then the slot, before the
    // patcher recorded the round of that write back: new bytes, old round.
    let read = at(t, ReadByte);
    let uncover = t[..read]
        .iter()
        .rposition(|&s| s == Uncover)
        .unwrap_or_else(|| panic!("{t:?}"));
    assert!(!t[uncover..at(t, ReadSlot)].contains(&Record), "{run:#?}");
    assert_eq!(run.reading.addr, POINT);
    assert!(v.false_stale > 0);
}

#[test]
fn reading_the_slot_before_memory_is_caught() {
    let v = check(&sound_but(|p| p.byte_first = false));
    let run = v.first_false.expect("the slot read first must be caught");
    let t = run.trace.as_slice();
    // A record and its write back fell between the two reads.
    let between = &t[at(t, ReadSlot)..at(t, ReadByte)];
    assert!(
        between.contains(&Record) && between.contains(&Uncover),
        "{run:#?}"
    );
}

#[test]
fn a_trap_off_the_lines_patch_point_is_caught_without_the_point_check() {
    let p = sound_but(|p| p.point_check = false);
    let v = check(&p);
    let run = v.first_false.expect("a trap off the point must be caught");
    assert_eq!(run.reading.addr, OTHER, "{run:#?}");
    // Off the point only: at the point the protocol is sound.
    explore(&p, |run| {
        if run.reading.addr == POINT {
            assert!(run.stale.is_none() || run.truly_stale, "{run:#?}");
        }
    });
}

#[test]
fn a_round_kept_from_the_previous_experiment_is_caught_without_the_reset() {
    let v = check(&sound_but(|p| p.reset = false));
    let run = v
        .first_false
        .expect("a round kept across experiments must be caught");
    assert_eq!(
        run.reading.restored_before,
        Some(PREVIOUS_ROUND),
        "{run:#?}"
    );
    // No record of this experiment had been made when the slot was read.
    let t = run.trace.as_slice();
    assert!(!t[..at(t, ReadSlot)].contains(&Record), "{run:#?}");
}

#[test]
fn an_nmis_acknowledgement_taken_as_evidence_is_caught() {
    // The negative control of the kernel's `ack_before_trap`: a `spin`
    // handler nested in an NMI that came after the trap acknowledged the
    // round that followed the write back.
    let v = check(&sound_but(|p| p.plain_evidence = false));
    let run = v
        .first_false
        .expect("an NMI's acknowledgement taken as evidence must be caught");
    let t = run.trace.as_slice();
    let nmi = at(t, NmiAck);
    assert!(
        at(t, Trap(Site::Point)) < nmi && nmi < at(t, ReadAcked),
        "{run:#?}"
    );
    // The round it acknowledged began after the write back the handler saw.
    assert!(t[..nmi].contains(&Uncover), "{run:#?}");
    assert!(
        run.reading.acked > run.reading.restored_before.unwrap(),
        "{run:#?}"
    );
}

#[test]
fn an_nmis_acknowledgement_after_the_trap_never_makes_the_kernel_call_a_trap_stale() {
    explore(&Protocol::SOUND, |run| {
        let t = run.trace.as_slice();
        if t.contains(&NmiAck) && !t.contains(&Ack) {
            assert!(!run.truly_stale && run.stale.is_none(), "{run:#?}");
        }
    });
}

#[test]
fn every_protocol_with_one_mistake_or_more_is_caught_and_only_the_kernels_passes() {
    for m in 0..32u32 {
        let p = Protocol {
            record_first: m & 1 != 0,
            byte_first: m & 2 != 0,
            point_check: m & 4 != 0,
            reset: m & 8 != 0,
            plain_evidence: m & 16 != 0,
            syncs: [true; 3],
        };
        let v = check(&p);
        assert_eq!(v.false_stale == 0, p == Protocol::SOUND, "{p:?}: {v:#?}");
    }
}
