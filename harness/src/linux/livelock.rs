//! The judgement: is a silent guest stuck in the stale-`int3` livelock?
//!
//! The livelock. Linux patches a jump label through `int3`
//! (`text_poke_bp`): `cc` over the first byte, then the rest, then the
//! first byte. If the emulator keeps running a translation of the site
//! made while `cc` was there, a CPU traps at the site although memory no
//! longer holds `cc`; Linux's handler (`kprobe_int3_handler`) takes that
//! for a breakpoint removed just after it was hit, points the CPU back at
//! the site, and returns; the CPU runs the stale translation again, and so
//! on for ever, with interrupts off: no oops, no console line.
//!
//! What is sampled ([`Round`]): several times, a short stop of the whole
//! VM, each vCPU's RIP, RSP and EFLAGS, and for a vCPU stopped exactly at
//! the `int3` entry (`asm_exc_int3`) the return address on its stack (the
//! byte after the `int3`: the site is one before); then the bytes at each
//! such site.
//!
//! The judgement ([`judge`]) says "livelock" only when at least one vCPU
//! is *caught*: in every round at the `int3` entry, at a site, or inside
//! the entry and `int3` handling code between them, and at least once at
//! the entry or at a site; and no site's memory holds `cc` in any round (a
//! `cc` there is a breakpoint really present: a patch in progress or a
//! debugger's, not a stale one). The other vCPUs are *waiting*: a caught
//! vCPU loops with interrupts off and may hold a lock (a runqueue's) that
//! the others spin on, as seen at `-smp 2` with the other vCPU in
//! `native_queued_spin_lock_slowpath`; they are recorded, not required.
//! Anything else is not a livelock, with the reason.

use crate::linux::{map::SymbolMap, rsp::Regs};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The `int3` opcode.
pub const INT3: u8 = 0xcc;

/// The symbol of the `int3` entry.
pub const INT3_ENTRY: &str = "asm_exc_int3";

/// Functions on the `int3` path outside the entry and `noinstr` text
/// (Linux 6.1: `exc_int3` -> `do_int3` -> `kprobe_int3_handler` ->
/// `get_kprobe`, then `notify_die` if the kprobe code declines).
const HANDLER_FUNCTIONS: &[&str] = &[
    "do_int3",
    "kprobe_int3_handler",
    "get_kprobe",
    "notify_die",
    "atomic_notifier_call_chain",
    "kprobe_exceptions_notify",
    "kgdb_ll_trap",
    "__rcu_read_lock",
    "__rcu_read_unlock",
];

/// One vCPU in one round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VcpuSample {
    /// Its gdbstub thread id.
    pub thread: String,
    /// Its registers.
    pub regs: Regs,
    /// At the `int3` entry: the return address on its stack.
    #[serde(serialize_with = "crate::linux::rsp::ser_opt_hex")]
    pub frame_ip: Option<u64>,
}

/// One stop of the VM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Round {
    /// Every vCPU.
    pub vcpus: Vec<VcpuSample>,
    /// The bytes at each site, read in this round.
    #[serde(serialize_with = "ser_memory")]
    pub memory: BTreeMap<u64, Vec<u8>>,
}

fn ser_memory<S: serde::Serializer>(m: &BTreeMap<u64, Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        m.iter()
            .map(|(a, b)| (format!("{a:#x}"), crate::linux::rsp::encode_hex(b))),
    )
}

impl Round {
    /// The sites this round names: one before each return address found
    /// at the `int3` entry.
    pub fn sites(&self, entry: u64) -> BTreeSet<u64> {
        self.vcpus
            .iter()
            .filter(|v| v.regs.rip == entry)
            .filter_map(|v| v.frame_ip.map(|ip| ip.wrapping_sub(1)))
            .collect()
    }
}

/// A site of the livelock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Site {
    /// Its address.
    #[serde(serialize_with = "crate::linux::rsp::ser_hex")]
    pub addr: u64,
    /// `symbol+offset` from the guest's symbols.
    pub symbol: String,
    /// The bytes in memory there (the last round's), hex.
    pub bytes: String,
    /// Its first byte in memory: what a release writes back.
    pub first: u8,
}

/// A vCPU of the livelock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stuck {
    /// Its gdbstub thread id.
    pub thread: String,
    /// Where it was in each round (`symbol+offset`).
    pub rips: Vec<String>,
    /// Whether interrupts were off in every round.
    pub interrupts_off: bool,
    /// Whether it is caught in the livelock (else it is waiting: see the
    /// [module docs](self)).
    pub caught: bool,
}

/// A livelock, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Livelock {
    /// Its sites (usually one).
    pub sites: Vec<Site>,
    /// Every vCPU.
    pub vcpus: Vec<Stuck>,
}

/// What [`judge`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    /// The stale-`int3` livelock.
    Livelock(Livelock),
    /// Not that livelock: why not.
    NotLivelock {
        /// The reason, for people.
        reason: String,
    },
}

fn not(reason: String) -> Verdict {
    Verdict::NotLivelock { reason }
}

/// Where one vCPU was in one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Entry,
    Site,
    Handler,
    Elsewhere,
}

/// Whether `rip` is in the entry code, the `noinstr` code or one of the
/// `int3` handler's functions.
fn in_handler(map: &SymbolMap, rip: u64) -> bool {
    map.between(rip, "__entry_text_start", "__entry_text_end")
        || map.between(rip, "__noinstr_text_start", "__noinstr_text_end")
        || map
            .locate(rip)
            .is_some_and(|(name, _)| HANDLER_FUNCTIONS.contains(&name))
}

/// Judges `rounds` of samples against `map` (which must hold
/// [`INT3_ENTRY`]). See the [module docs](self) for the rule.
pub fn judge(rounds: &[Round], map: &SymbolMap) -> Verdict {
    let Some(entry) = map.address(INT3_ENTRY) else {
        return not(format!("the guest's symbols have no {INT3_ENTRY}"));
    };
    if rounds.is_empty() || rounds.iter().any(|r| r.vcpus.is_empty()) {
        return not("no samples".into());
    }
    let sites: BTreeSet<u64> = rounds.iter().flat_map(|r| r.sites(entry)).collect();
    if sites.is_empty() {
        return not(format!(
            "no vCPU stopped at the int3 entry ({INT3_ENTRY}) in {} round(s): no breakpoint site \
             to name",
            rounds.len()
        ));
    }
    for &s in &sites {
        for (i, r) in rounds.iter().enumerate() {
            match r.memory.get(&s).and_then(|b| b.first()) {
                Some(&INT3) => {
                    return not(format!(
                        "{} holds cc in round {}: a breakpoint really is there (a patch in \
                         progress), not a stale one",
                        map.describe(s),
                        i + 1
                    ))
                }
                Some(_) => {}
                None if r.sites(entry).contains(&s) => {
                    return not(format!(
                        "the bytes at {} were not read in round {}",
                        map.describe(s),
                        i + 1
                    ))
                }
                None => {}
            }
        }
    }
    let threads: Vec<&str> = rounds[0].vcpus.iter().map(|v| v.thread.as_str()).collect();
    let mut vcpus = Vec::new();
    // Why the first vCPU that is not caught is not: the reason when none is.
    let mut free = String::new();
    for t in &threads {
        let mut rips = Vec::new();
        let mut tied = false;
        let mut away = None;
        let mut interrupts_off = true;
        for (i, r) in rounds.iter().enumerate() {
            let Some(v) = r.vcpus.iter().find(|v| v.thread == *t) else {
                return not(format!("vCPU thread {t} missing from round {}", i + 1));
            };
            let rip = v.regs.rip;
            let place = if rip == entry && v.frame_ip.is_some() {
                Place::Entry
            } else if sites.contains(&rip) {
                Place::Site
            } else if in_handler(map, rip) {
                Place::Handler
            } else {
                Place::Elsewhere
            };
            if place == Place::Elsewhere && away.is_none() {
                away = Some(format!(
                    "vCPU thread {t} at {} in round {}: away from the int3 entry, the site and \
                     the handler",
                    map.describe(rip),
                    i + 1
                ));
            }
            tied |= matches!(place, Place::Entry | Place::Site);
            interrupts_off &= v.regs.eflags & (1 << 9) == 0;
            rips.push(map.describe(rip));
        }
        let caught = away.is_none() && tied;
        if !caught && free.is_empty() {
            free = away.unwrap_or_else(|| {
                format!(
                    "vCPU thread {t} never at the int3 entry or a site in {} round(s) (only in \
                     the handler)",
                    rounds.len()
                )
            });
        }
        vcpus.push(Stuck {
            thread: t.to_string(),
            rips,
            interrupts_off,
            caught,
        });
    }
    if !vcpus.iter().any(|v| v.caught) {
        return not(free);
    }
    let sites = sites
        .iter()
        .map(|&s| {
            let bytes = rounds
                .iter()
                .rev()
                .find_map(|r| r.memory.get(&s))
                .cloned()
                .unwrap_or_default();
            Site {
                addr: s,
                symbol: map.describe(s),
                bytes: crate::linux::rsp::encode_hex(&bytes),
                first: bytes.first().copied().unwrap_or(INT3),
            }
        })
        .collect();
    Verdict::Livelock(Livelock { sites, vcpus })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "\
ffffffff81000000 T _stext
ffffffff81032940 t do_int3
ffffffff81079c50 T kprobe_int3_handler
ffffffff810ee620 t dequeue_entity
ffffffff810eeb00 t enqueue_entity
ffffffff8116fd00 T do_idle
ffffffff81a38a08 T __noinstr_text_start
ffffffff81a39d70 T exc_int3
ffffffff81a3dd53 T __noinstr_text_end
ffffffff81c00010 T __entry_text_start
ffffffff81c00ba0 T asm_exc_int3
ffffffff81c01ad7 T __entry_text_end
ffffffff81e00000 T _etext
";
    const ENTRY: u64 = 0xffff_ffff_81c0_0ba0;
    const SITE: u64 = 0xffff_ffff_810e_e67c; // dequeue_entity+0x5c
    const JMP: [u8; 5] = [0xe9, 0xe3, 0x00, 0x00, 0x00];

    fn map() -> SymbolMap {
        SymbolMap::parse(MAP).unwrap()
    }

    fn at(thread: &str, rip: u64) -> VcpuSample {
        VcpuSample {
            thread: thread.into(),
            regs: Regs {
                rip,
                rsp: 0xffff_c900_0000_0000,
                eflags: 0x46,
            },
            frame_ip: (rip == ENTRY).then_some(SITE + 1),
        }
    }

    fn round(rips: &[u64], site_bytes: &[u8]) -> Round {
        Round {
            vcpus: rips
                .iter()
                .enumerate()
                .map(|(i, &r)| at(&format!("{:02x}", i + 1), r))
                .collect(),
            memory: [(SITE, site_bytes.to_vec())].into(),
        }
    }

    #[test]
    fn every_vcpu_between_the_int3_entry_and_a_site_that_holds_no_cc_is_a_livelock() {
        let rounds = [
            round(&[ENTRY, SITE], &JMP),
            round(&[SITE, ENTRY], &JMP),
            round(&[0xffff_ffff_8107_9c60, ENTRY], &JMP),
        ];
        let Verdict::Livelock(l) = judge(&rounds, &map()) else {
            panic!("not judged a livelock: {:?}", judge(&rounds, &map()));
        };
        assert_eq!(l.sites.len(), 1);
        assert_eq!(l.sites[0].addr, SITE);
        assert_eq!(l.sites[0].symbol, "dequeue_entity+0x5c");
        assert_eq!(l.sites[0].bytes, "e9e3000000");
        assert_eq!(l.sites[0].first, 0xe9);
        assert_eq!(
            l.vcpus[0].rips,
            [
                "asm_exc_int3",
                "dequeue_entity+0x5c",
                "kprobe_int3_handler+0x10"
            ]
        );
        assert!(l.vcpus.iter().all(|v| v.interrupts_off && v.caught));
    }

    #[test]
    fn a_site_that_holds_cc_is_a_breakpoint_really_there_not_a_livelock() {
        let cc = [0xcc, 0xe3, 0x00, 0x00, 0x00];
        let rounds = [round(&[ENTRY, SITE], &cc), round(&[SITE, ENTRY], &cc)];
        assert!(
            matches!(judge(&rounds, &map()), Verdict::NotLivelock { reason } if reason.contains("holds cc"))
        );
    }

    #[test]
    fn a_site_that_held_cc_in_any_one_round_is_not_a_livelock() {
        let rounds = [
            round(&[ENTRY, SITE], &JMP),
            round(&[SITE, ENTRY], &[0xcc, 0xe3, 0, 0, 0]),
        ];
        assert!(matches!(
            judge(&rounds, &map()),
            Verdict::NotLivelock { .. }
        ));
    }

    #[test]
    fn a_vcpu_elsewhere_beside_a_caught_one_is_waiting_and_the_livelock_stands() {
        let spin = 0xffff_ffff_8116_fdc1; // a lock's spin loop, say
        let rounds = [
            round(&[ENTRY, spin], &JMP),
            round(&[SITE, spin], &JMP),
            round(&[ENTRY, spin], &JMP),
        ];
        let Verdict::Livelock(l) = judge(&rounds, &map()) else {
            panic!("judged {:?}", judge(&rounds, &map()));
        };
        assert_eq!(
            l.vcpus.iter().map(|v| v.caught).collect::<Vec<_>>(),
            [true, false]
        );
        assert_eq!(l.vcpus[1].rips[0], "do_idle+0xc1");
    }

    #[test]
    fn a_vcpu_that_leaves_the_int3_path_in_any_round_is_not_caught_so_no_livelock() {
        let idle = 0xffff_ffff_8116_fdc1; // do_idle+0xc1
        let rounds = [round(&[ENTRY, idle], &JMP), round(&[idle, ENTRY], &JMP)];
        match judge(&rounds, &map()) {
            Verdict::NotLivelock { reason } => assert!(reason.contains("do_idle+0xc1"), "{reason}"),
            v => panic!("judged {v:?}"),
        }
    }

    #[test]
    fn a_running_guest_with_no_vcpu_at_the_int3_entry_is_not_a_livelock() {
        let rounds = [round(&[0xffff_ffff_8116_fdc1, 0xffff_ffff_810e_eb10], &JMP)];
        assert!(
            matches!(judge(&rounds, &map()), Verdict::NotLivelock { reason } if reason.contains("no vCPU stopped"))
        );
    }

    #[test]
    fn a_vcpu_only_ever_seen_inside_the_handler_is_not_tied_to_the_site() {
        let exc = 0xffff_ffff_81a3_9d80; // exc_int3+0x10
        let idle = 0xffff_ffff_8116_fdc1; // do_idle+0xc1
        let rounds = [round(&[exc, ENTRY], &JMP), round(&[exc, idle], &JMP)];
        assert!(
            matches!(judge(&rounds, &map()), Verdict::NotLivelock { reason } if reason.contains("never at the int3 entry"))
        );
    }

    #[test]
    fn a_site_whose_bytes_were_not_read_is_not_judged() {
        let mut r = round(&[ENTRY, SITE], &JMP);
        r.memory.clear();
        assert!(matches!(judge(&[r], &map()), Verdict::NotLivelock { .. }));
    }

    #[test]
    fn interrupts_on_in_any_round_is_recorded() {
        let mut rounds = [round(&[ENTRY, SITE], &JMP), round(&[SITE, ENTRY], &JMP)];
        rounds[1].vcpus[0].regs.eflags |= 1 << 9;
        let Verdict::Livelock(l) = judge(&rounds, &map()) else {
            panic!("not a livelock");
        };
        assert!(!l.vcpus[0].interrupts_off);
        assert!(l.vcpus[1].interrupts_off);
    }
}
