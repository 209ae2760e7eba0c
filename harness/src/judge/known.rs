//! Known failures: must-pass experiments that fail for a reason outside
//! the kernel under test, on one platform and the QEMU releases where the
//! failure has been seen, recognised by what the kernel counted. Such a failure is reported as **KFAIL**: counted,
//! printed with its counts and the reason, never a pass, and it does not
//! fail the run.
//!
//! An entry hides nothing (the counts are always shown), but it does stop
//! a failure from failing the run, so the table stays minimal: one row per
//! understood, reproduced cause, each naming the platform and the QEMU
//! releases (`major.minor`) where it was measured, with the measurement in
//! a comment. The same failure on another QEMU release, or on a log whose
//! QEMU release is not known, is FAIL (with a note saying where it is
//! known): a new QEMU that still shows it must be measured and added, and
//! one that no longer shows it must not keep an excuse. Only failures *seen
//! by the kernel's checks* can be known; an error, a deadlock or a missing
//! result stays FAIL everywhere.
//!
//! The one row applies only where the kernel ran without its TCG measures
//! ([`tcg_measures_on`]): with the alias flushed before each write
//! (`poke=flush`) and the settle step, stale code was not seen again (see
//! its table), so a stale failure there is FAIL. No row excuses a wrong
//! target, a fault or a stray `#BP`, by name or otherwise: the by-name row
//! that excused wrong targets of `outofline-int3/*` beside stale calls is
//! gone, its cause (the writer's TLB race, docs/design.md section 6) fixed.

use crate::{
    judge::seen::{Platform, Where},
    machine::qemu_info::QemuVersion,
};

/// The failure counters of an `exp` record (they add up to `failures`).
pub const FAILURE_COUNTERS: [&str; 5] = ["wrong", "faults", "stray_bp", "stale_bp", "stale_call"];

/// The counters of code run after the CPU serialized past its removal
/// (see [`KNOWN_SIGNATURES`]).
const STALE: &[&str] = &["stale_bp", "stale_call"];

/// A known failure recognised by *what the kernel counted*: on `platform` and the QEMU releases `qemu`, a failure
/// made only of the counters `only` (every other failure counter zero, at
/// least one of these non-zero) has this cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSignature {
    /// Where it happens.
    pub platform: Platform,
    /// The QEMU releases (`major.minor`) it was seen on.
    pub qemu: &'static [&'static str],
    /// The failure counters of the `exp` record that may be non-zero (at
    /// least one of them must be).
    pub only: &'static [&'static str],
    /// Why, for people.
    pub reason: &'static str,
}

/// The signatures. `stale_bp` counts `stale-int3` failures: an `int3` the
/// CPU executed after it had acknowledged a sync round that began after
/// memory stopped holding that `int3` (the kernel reads memory and the
/// acknowledgement before consulting its #BP table). `stale_call` counts
/// calls that reached another target than memory held throughout the call,
/// after the CPU acknowledged a round that began after the last write to
/// the window. x86 forbids both whatever the patch protocol does, so on TCG
/// they are the translator's; elsewhere they would be a hardware finding,
/// and stay FAIL. Every sabotage of the protocol (`break=`) shows up as
/// `stray_bp`, `faults` or `wrong`, which this signature never excuses.
///
/// Seen on QEMU 7.2 and 10.0, far less often on 10.0, by kernels that
/// wrote through a long-lived alias (before `poke=flush`). The `int3` /
/// `int3-batch` grid at `-smp 2` (`harness run --accel tcg --qemu Q --smp 2
/// --experiment 'int3*/*/*/*/?i*' --ms 60`, 49 must-pass experiments, 2
/// host cores):
///
/// | QEMU | boots | stale-only failures (KFAIL) per boot | other failures |
/// |---|---|---|---|
/// | 7.2.22 | 5 | 4, 3, 2, 1, 9 (cross-page sites) | none |
/// | 10.0.2 | 11 | 0 in 10 boots; 1 in one (75 stale int3, `int3-batch/gap/ipi/cross-page/timer`, `testdata/exp-int3-timer-smp2-qemu10.log`) | one boot: 153 wrong targets beside 30 stale calls on an in-line cross-line site (FAIL: no row excuses a wrong target on an in-line site) |
///
/// and under NMIs (`n?i`) at `-smp 2`: QEMU 7.2.22 4 KFAIL in 1 boot,
/// 10.0.2 none in 3. A QEMU release not listed has not been measured: a
/// stale-only failure there is FAIL until it is. And it applies only when
/// the `exp` record says the kernel ran without one of its measures
/// ([`tcg_measures_on`]; the judge checks).
pub const KNOWN_SIGNATURES: &[KnownSignature] = &[KnownSignature {
    platform: Platform::Tcg,
    qemu: &["7.2", "10.0"],
    only: STALE,
    reason: "QEMU TCG ran code after the vCPU had serialized past its removal (stale-int3 / \
             stale-call only: a translated block outlived the write), in a run without the \
             kernel's TCG measures (poke=keep or settle=off, or a kernel before them). Seen on \
             QEMU 7.2 and 10.0; a finding about QEMU's translator, not about the protocol",
}];

/// Whether an `exp` record (its numeric fields through `field`) says the
/// kernel ran with both of its TCG measures: every write through a freshly
/// translated alias (`poke_flush=1`) and the settle step (`settle=1`).
/// Then no row applies. A record without the fields comes from a kernel
/// that predates them and had neither.
///
/// Measured with the settle step on, alias flush on and off (`harness run
/// --accel tcg --qemu Q --smp N --experiment 'int3*/*/*/*/?i*' --ms 60
/// --append poke=flush|keep`, 55 must-pass experiments, two boots per cell,
/// 2 host cores):
///
/// | QEMU | -smp | poke=flush: KFAIL (stale only) per boot | poke=keep |
/// |---|---|---|---|
/// | 7.2.22 | 2 | 0, 0 | 8, 9 |
/// | 7.2.22 | 4 | 0, 0 | 3, 0 |
/// | 7.2.22 | 8 | 0, 0 | 2, 0 |
/// | 10.0.2 | 2 | 0, 0 | 0, 0 |
/// | 10.0.2 | 4 | 0, 0 | 0, 2 |
/// | 10.0.2 | 8 | 0, 0 | 0, 0 |
///
/// and `outofline-int3/*` (`--ms 100 --repeat 8`): with `poke=flush` 32 of
/// 32 boots PASS across 7.2.22 and 10.0.2 at `-smp 2` and `4`; with
/// `poke=keep` 14 of 32 KFAIL (7.2.22 `-smp 2`: 8 of 8). Under NMIs at
/// `-smp 2` on 7.2.22 (`'int3*/*/*/*/n?i' --repeat 8`): 0 KFAIL in 8 boots
/// with the flush, 6 to 12 in each of 6 boots without.
pub fn tcg_measures_on(field: impl Fn(&str) -> Option<u64>) -> bool {
    field("poke_flush") == Some(1) && field("settle") == Some(1)
}

/// Whether `qemu` is one of the releases `seen` lists.
fn seen_on(seen: &[&str], qemu: Option<QemuVersion>) -> bool {
    qemu.is_some_and(|v| seen.contains(&v.major_minor().as_str()))
}

/// Whether only the counters `only` are non-zero, and at least one of
/// them is.
fn made_of(only: &[&str], counter: &impl Fn(&str) -> u64) -> bool {
    only.iter().any(|&c| counter(c) > 0)
        && FAILURE_COUNTERS
            .iter()
            .filter(|c| !only.contains(c))
            .all(|&c| counter(c) == 0)
}

/// The signature that explains a failure with these counters where it was
/// seen, if any.
pub fn by_signature(
    counter: impl Fn(&str) -> u64,
    seen: &Where,
) -> Option<&'static KnownSignature> {
    KNOWN_SIGNATURES.iter().find(|s| {
        s.platform == seen.platform && seen_on(s.qemu, seen.qemu) && made_of(s.only, &counter)
    })
}

/// When no signature covers a failure because of the QEMU release alone:
/// the releases where the same failure is known, for a note (`QEMU 7.2`).
pub fn known_elsewhere(counter: impl Fn(&str) -> u64, seen: &Where) -> Option<String> {
    let mut releases: Vec<&str> = KNOWN_SIGNATURES
        .iter()
        .filter(|s| s.platform == seen.platform && made_of(s.only, &counter))
        .flat_map(|s| s.qemu)
        .copied()
        .collect();
    releases.sort_unstable();
    releases.dedup();
    (!releases.is_empty()).then(|| format!("QEMU {}", releases.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::seen::Via;

    fn at(platform: Platform, qemu: Option<&str>) -> Where {
        Where {
            platform,
            qemu: qemu.map(|v| QemuVersion::parse(v).expect("a version")),
            via: Via::Qemu,
            cpu: "QEMU Virtual CPU version 2.5+".into(),
            hypervisor: None,
            firmware: None,
            emulator: None,
            hypervisor_bit: None,
        }
    }

    fn counters(pairs: &'static [(&'static str, u64)]) -> impl Fn(&str) -> u64 {
        move |k| pairs.iter().find(|(n, _)| *n == k).map_or(0, |p| p.1)
    }

    /// A measured QEMU 10.0.2 failure of `outofline-int3` (-smp 2) without
    /// the alias flush: wrong targets beside stale calls.
    const OOL_10: &[(&str, u64)] = &[("wrong", 5197), ("stale_call", 9825)];

    #[test]
    fn wrong_targets_beside_stale_calls_are_known_nowhere() {
        for v in [Some("7.2.22"), Some("10.0.2"), Some("9.2.0"), None] {
            let w = at(Platform::Tcg, v);
            assert_eq!(by_signature(counters(OOL_10), &w), None, "QEMU {v:?}");
            assert_eq!(known_elsewhere(counters(OOL_10), &w), None, "QEMU {v:?}");
        }
    }

    #[test]
    fn stale_int3_alone_is_known_on_the_measured_qemu_releases_and_fails_on_others() {
        let c = counters(&[("stale_bp", 3621)]);
        for v in ["7.2.22", "10.0.2"] {
            let s = by_signature(&c, &at(Platform::Tcg, Some(v)))
                .unwrap_or_else(|| panic!("QEMU {v}: wanted the stale-int3 signature"));
            assert!(s.reason.contains("stale-int3"), "{}", s.reason);
        }
        for v in ["9.2.0", "10.1.0", "8.2.2"] {
            assert_eq!(
                by_signature(&c, &at(Platform::Tcg, Some(v))),
                None,
                "QEMU {v} was never measured: a stale-only failure there is FAIL"
            );
        }
        assert_eq!(
            known_elsewhere(&c, &at(Platform::Tcg, Some("9.2.0"))).as_deref(),
            Some("QEMU 10.0, 7.2"),
            "the note says where it is known"
        );
        assert_eq!(
            by_signature(&c, &at(Platform::Tcg, None)),
            None,
            "no QEMU version known, no excuse"
        );
    }

    #[test]
    fn any_stray_int3_fault_or_wrong_target_beside_stale_ones_is_not_known_by_signature() {
        for other in ["stray_bp", "faults", "wrong"] {
            let c = move |k: &str| match k {
                "stale_bp" => 28752,
                k if k == other => 1,
                _ => 0,
            };
            assert_eq!(
                by_signature(c, &at(Platform::Tcg, Some("7.2.22"))),
                None,
                "stale_bp with {other}=1 must stay FAIL"
            );
        }
    }

    #[test]
    fn stale_calls_alone_or_with_stale_int3_on_qemu_7_2_are_known() {
        let tcg7 = at(Platform::Tcg, Some("7.2.22"));
        assert!(by_signature(counters(&[("stale_call", 5)]), &tcg7).is_some());
        assert!(by_signature(counters(&[("stale_call", 5), ("stale_bp", 9)]), &tcg7).is_some());
    }

    #[test]
    fn stale_int3_off_tcg_is_not_known() {
        for p in [Platform::Kvm, Platform::RealMachine, Platform::Unknown] {
            let w = at(p, Some("7.2.22"));
            assert_eq!(
                by_signature(counters(&[("stale_bp", 1)]), &w),
                None,
                "{p:?}"
            );
        }
    }

    #[test]
    fn no_failure_matches_nothing() {
        let tcg7 = at(Platform::Tcg, Some("7.2.22"));
        assert_eq!(by_signature(counters(&[]), &tcg7), None);
    }

    #[test]
    fn the_measures_are_on_only_when_the_record_says_both() {
        let rec = |pairs: &'static [(&'static str, u64)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|p| p.1)
        };
        assert!(tcg_measures_on(rec(&[("poke_flush", 1), ("settle", 1)])));
        assert!(!tcg_measures_on(rec(&[("poke_flush", 0), ("settle", 1)])));
        assert!(!tcg_measures_on(rec(&[("poke_flush", 1), ("settle", 0)])));
        assert!(
            !tcg_measures_on(rec(&[("settle", 1)])),
            "a kernel before the flush"
        );
    }

    #[test]
    fn the_table_stays_minimal_and_names_measured_qemu_releases() {
        assert_eq!(
            KNOWN_SIGNATURES.len(),
            1,
            "one row (stale code under TCG without the kernel's measures); a new row needs a \
             reproduced, understood cause outside the kernel, measured per QEMU release"
        );
        for s in KNOWN_SIGNATURES {
            assert!(
                s.only.iter().all(|c| STALE.contains(c)),
                "a wrong target, a fault or a stray #BP is never excused: {:?}",
                s.only
            );
            for r in s.qemu {
                let v = QemuVersion::parse(r).unwrap_or_else(|| panic!("`{r}` is not major.minor"));
                assert!(
                    v.major_minor() == *r && v >= crate::machine::qemu_info::OLDEST_SUPPORTED,
                    "`{r}`: wanted a supported major.minor"
                );
            }
        }
    }
}
