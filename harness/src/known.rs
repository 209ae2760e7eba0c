//! Known failures: must-pass experiments that fail for a reason outside
//! the kernel under test, on one platform and the QEMU releases where the
//! failure has been seen. Such a failure is reported as **KFAIL**: counted,
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
//! Both rows apply only where the kernel ran without its TCG measures
//! ([`tcg_measures_on`]): with the alias flushed before each write
//! (`poke=flush`) and the settle step, stale code was not seen again (see
//! its table), so a stale failure there is FAIL.

use crate::{
    judge::experiment::{Platform, Where},
    qemu_info::QemuVersion,
};
use plan::experiment::glob_match;

/// One known failure, by experiment name: on `platform` and the QEMU
/// releases `qemu`, a failure of those experiments made only of the
/// counters `only`, with at least one of `needs` non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFailure {
    /// The experiments it covers (a glob over registry names).
    pub experiments: &'static str,
    /// Where it happens.
    pub platform: Platform,
    /// The QEMU releases (`major.minor`) it was seen on.
    pub qemu: &'static [&'static str],
    /// The failure counters of the `exp` record that may be non-zero.
    pub only: &'static [&'static str],
    /// Of those, the ones at least one of which must be non-zero: the
    /// symptom that says the cause is this one.
    pub needs: &'static [&'static str],
    /// Why, for people.
    pub reason: &'static str,
}

/// The failure counters of an `exp` record (they add up to `failures`).
pub const FAILURE_COUNTERS: [&str; 5] = ["wrong", "faults", "stray_bp", "stale_bp", "stale_call"];

/// The counters of code run after the CPU serialized past its removal
/// (see [`KNOWN_SIGNATURES`]).
const STALE: &[&str] = &["stale_bp", "stale_call"];

/// The table of known failures by name: one row, kept because measuring
/// demands it, and narrowed to what was measured.
///
/// `outofline-int3/*` under TCG: the call site calls a trampoline that the
/// patcher rewrites with the int3 protocol. QEMU chains the stub's
/// translated block to the trampoline's, and a guest rewrite of the
/// trampoline does not reliably drop the chain: executors keep reaching an
/// older target. The kernel proves most of those calls stale (`stale_call`,
/// `stale_bp`); the rest it counts as plain wrong targets (every one of
/// their failure records reached a target the site held before the call's
/// window), always beside proven stale ones. 15 boots
/// per line, `harness run --accel tcg --qemu Q --smp N --experiment
/// 'outofline-int3/*' --ms 300`, 2 host cores:
///
/// | QEMU | -smp | PASS | stale only (the signature) | wrong targets beside stale calls | faults or stray #BP |
/// |---|---|---|---|---|---|
/// | 7.2.22 | 2 | 12 | 1 | 2 (1387 wrong / 5559 stale; 1925 / 96999) | 0 |
/// | 7.2.22 | 4 | 12 | 2 | 1 (7657 / 46415) | 0 |
/// | 10.0.2 | 2 | 12 | 0 | 3 (1 / 4050; 12286 / 40678; 5197 / 9825) | 0 |
/// | 10.0.2 | 4 | 14 | 0 | 1 (24722 / 50525) | 0 |
///
/// So the row excuses wrong targets only beside stale failures, and never
/// a fault or a stray `#BP`: a failure of these experiments with no proven
/// stale call, or with a fault or a stray `#BP`, is FAIL, as on any QEMU
/// release it was not measured on.
pub const KNOWN_FAILURES: &[KnownFailure] = &[KnownFailure {
    experiments: "outofline-int3/*",
    platform: Platform::Tcg,
    qemu: &["7.2", "10.0"],
    only: &["wrong", "stale_bp", "stale_call"],
    needs: STALE,
    reason: "QEMU TCG (multi-threaded) chains the stub's translated block to the trampoline's, \
             and a guest rewrite of the trampoline does not reliably drop that chain: executors \
             reach an older target (stale calls, and wrong targets beside them). Seen on QEMU 7.2 \
             and 10.0 at -smp 2 and 4; a finding about QEMU's translator, not about the protocol",
}];

/// A known failure recognised by *what the kernel counted* rather than by
/// experiment name: on `platform` and the QEMU releases `qemu`, a failure
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
/// Seen on QEMU 7.2 and 10.0, far less often on 10.0. The `int3` /
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
/// stale-only failure there is FAIL until it is.
pub const KNOWN_SIGNATURES: &[KnownSignature] = &[KnownSignature {
    platform: Platform::Tcg,
    qemu: &["7.2", "10.0"],
    only: STALE,
    reason: "QEMU TCG ran code after the vCPU had serialized past its removal (stale-int3 / \
             stale-call only: a translated block outlived the write). Seen on QEMU 7.2 (most \
             boots, cross-page sites at -smp 2) and 10.0 (rarely); a finding about QEMU's \
             translator, not about the protocol",
}];

/// Whether an `exp` record (its numeric fields through `field`) says the
/// kernel ran with both of its TCG measures: every write through a freshly
/// translated alias (`poke_flush=1`) and the settle step (`settle=1`).
/// Then no row applies. A record without the fields comes from a kernel
/// that predates them and had neither.
///
/// Measured with the measures on (`harness run --accel tcg --qemu Q --smp N
/// --experiment 'int3*/*/*/*/?i*' --ms 60 --append poke=flush|keep`, 55
/// must-pass experiments, two boots per cell, 2 host cores):
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
/// `poke=keep` 14 of 32 KFAIL (7.2.22 `-smp 2`: 8 of 8).
pub fn tcg_measures_on(field: impl Fn(&str) -> Option<u64>) -> bool {
    field("poke_flush") == Some(1) && field("settle") == Some(1)
}

/// Whether `qemu` is one of the releases `seen` lists.
fn seen_on(seen: &[&str], qemu: Option<QemuVersion>) -> bool {
    qemu.is_some_and(|v| seen.contains(&v.major_minor().as_str()))
}

/// Whether only the counters `only` are non-zero, and at least one of
/// `needs`.
fn made_of(only: &[&str], needs: &[&str], counter: &impl Fn(&str) -> u64) -> bool {
    needs.iter().any(|&c| counter(c) > 0)
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
        s.platform == seen.platform
            && seen_on(s.qemu, seen.qemu)
            && made_of(s.only, s.only, &counter)
    })
}

/// The entry that covers a failure of experiment `name` with these
/// counters where it was seen, if any.
pub fn lookup(
    name: &str,
    counter: impl Fn(&str) -> u64,
    seen: &Where,
) -> Option<&'static KnownFailure> {
    KNOWN_FAILURES.iter().find(|k| {
        k.platform == seen.platform
            && seen_on(k.qemu, seen.qemu)
            && glob_match(k.experiments, name)
            && made_of(k.only, k.needs, &counter)
    })
}

/// When no entry covers a failure because of the QEMU release alone: the
/// releases where the same failure is known, for a note (`QEMU 7.2`).
pub fn known_elsewhere(name: &str, counter: impl Fn(&str) -> u64, seen: &Where) -> Option<String> {
    let by_name = KNOWN_FAILURES
        .iter()
        .filter(|k| {
            k.platform == seen.platform
                && glob_match(k.experiments, name)
                && made_of(k.only, k.needs, &counter)
        })
        .map(|k| k.qemu);
    let by_counts = KNOWN_SIGNATURES
        .iter()
        .filter(|s| s.platform == seen.platform && made_of(s.only, s.only, &counter))
        .map(|s| s.qemu);
    let mut releases: Vec<&str> = by_name.chain(by_counts).flatten().copied().collect();
    releases.sort_unstable();
    releases.dedup();
    (!releases.is_empty()).then(|| format!("QEMU {}", releases.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::experiment::Via;

    fn at(platform: Platform, qemu: Option<&str>) -> Where {
        Where {
            platform,
            qemu: qemu.map(|v| QemuVersion::parse(v).expect("a version")),
            via: Via::Qemu,
            cpu: "QEMU Virtual CPU version 2.5+".into(),
            hypervisor: None,
        }
    }

    fn counters(pairs: &'static [(&'static str, u64)]) -> impl Fn(&str) -> u64 {
        move |k| pairs.iter().find(|(n, _)| *n == k).map_or(0, |p| p.1)
    }

    const OOL: &str = "outofline-int3/gap/ipi/qword/timer";
    /// A measured QEMU 10.0.2 failure (-smp 2).
    const OOL_10: &[(&str, u64)] = &[("wrong", 5197), ("stale_call", 9825)];

    #[test]
    fn out_of_line_int3_with_wrong_targets_beside_stale_calls_is_known_on_qemu_7_2_and_10_0() {
        for v in ["7.2.22", "10.0.2", "10.0.0"] {
            let k = lookup(OOL, counters(OOL_10), &at(Platform::Tcg, Some(v)))
                .unwrap_or_else(|| panic!("QEMU {v}: wanted the trampoline-chaining row"));
            assert!(k.reason.contains("chain"), "{}", k.reason);
        }
    }

    #[test]
    fn out_of_line_int3_on_a_qemu_release_nobody_measured_is_not_known() {
        for v in [Some("9.2.0"), Some("10.1.0"), Some("8.2.2"), None] {
            assert_eq!(
                lookup(OOL, counters(OOL_10), &at(Platform::Tcg, v)),
                None,
                "QEMU {v:?}: wanted no known failure where it was not measured"
            );
        }
        assert_eq!(
            known_elsewhere(OOL, counters(OOL_10), &at(Platform::Tcg, Some("9.2.0"))).as_deref(),
            Some("QEMU 10.0, 7.2"),
            "the note says where it is known"
        );
    }

    #[test]
    fn out_of_line_int3_wrong_targets_without_a_stale_call_fault_or_stray_int3_are_never_known() {
        let tcg10 = at(Platform::Tcg, Some("10.0.2"));
        assert_eq!(
            lookup(OOL, counters(&[("wrong", 12)]), &tcg10),
            None,
            "plain wrong targets (a protocol bug's signature) must stay FAIL"
        );
        for other in ["faults", "stray_bp"] {
            let c = move |k: &str| match k {
                "wrong" => 3,
                "stale_call" => 40,
                k if k == other => 1,
                _ => 0,
            };
            assert_eq!(lookup(OOL, c, &tcg10), None, "{other}=1 must stay FAIL");
        }
    }

    #[test]
    fn the_same_failure_off_tcg_is_not_known() {
        for p in [Platform::Kvm, Platform::RealMachine, Platform::Unknown] {
            assert_eq!(
                lookup(OOL, counters(OOL_10), &at(p, Some("7.2.22"))),
                None,
                "{p:?}: wanted no known failure off TCG"
            );
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
        assert_eq!(
            by_signature(counters(&[("stale_call", 5), ("wrong", 1)]), &tcg7),
            None,
            "one plain wrong target beside stale calls must stay FAIL"
        );
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
        assert_eq!(lookup(OOL, counters(&[]), &tcg7), None);
    }

    #[test]
    fn in_line_int3_and_out_of_line_atomic_are_not_known_by_name() {
        for name in [
            "int3/gap/ipi/qword/timer",
            "int3/gap/ipi/cross-page/timer",
            "outofline-atomic/-/ipi/qword",
        ] {
            let w = at(Platform::Tcg, Some("10.0.2"));
            assert_eq!(lookup(name, counters(OOL_10), &w), None, "{name}");
        }
    }

    #[test]
    fn the_table_stays_minimal_and_every_row_names_measured_qemu_releases() {
        assert_eq!(
            KNOWN_FAILURES.len(),
            1,
            "the table is one row (outofline-int3 under TCG); a new row needs a reproduced, \
             understood cause outside the kernel, measured per QEMU release"
        );
        for k in KNOWN_FAILURES {
            let covered: Vec<_> = plan::experiment::matching(k.experiments).collect();
            assert!(
                !covered.is_empty()
                    && covered
                        .iter()
                        .all(|e| e.expectation == plan::experiment::Expectation::MustPass),
                "row {}: wanted it to cover must-pass registry experiments only, covers {:?}",
                k.experiments,
                covered.iter().map(|e| e.name()).collect::<Vec<_>>()
            );
            assert!(
                !k.only.contains(&"faults") && !k.only.contains(&"stray_bp"),
                "row {}: a fault or a stray #BP is never excused by name",
                k.experiments
            );
        }
        let releases = KNOWN_FAILURES
            .iter()
            .flat_map(|k| k.qemu)
            .chain(KNOWN_SIGNATURES.iter().flat_map(|s| s.qemu));
        for r in releases {
            let v = QemuVersion::parse(r).unwrap_or_else(|| panic!("`{r}` is not major.minor"));
            assert!(
                v.major_minor() == *r && v >= crate::qemu_info::OLDEST_SUPPORTED,
                "`{r}`: wanted a supported major.minor"
            );
        }
    }
}
