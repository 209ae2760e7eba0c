//! Known failures: must-pass experiments that fail for a reason outside
//! the kernel under test, on one platform. Such a failure is reported as
//! **KFAIL**: counted, printed with its counts and the reason, never a
//! pass, and it does not fail the run.
//!
//! An entry hides nothing (the counts are always shown), but it does stop
//! a failure from failing the run, so the table stays minimal: one row per
//! understood, reproduced cause, each naming the platform where it was
//! seen. Anything else that fails is FAIL. Only failures *seen by the
//! kernel's checks* (wrong targets, faults, stray `#BP`) can be known;
//! an error, a deadlock or a missing result stays FAIL everywhere.

use crate::judge::experiment::Platform;
use plan::experiment::glob_match;

/// One known failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFailure {
    /// The experiments it covers (a glob over registry names).
    pub experiments: &'static str,
    /// Where it happens.
    pub platform: Platform,
    /// Why, for people.
    pub reason: &'static str,
}

/// The table.
pub const KNOWN_FAILURES: &[KnownFailure] = &[KnownFailure {
    experiments: "outofline-int3/*",
    platform: Platform::Tcg,
    reason: "QEMU TCG (multi-threaded) chains the stub's translated block directly to the \
             trampoline's; a guest rewrite of the trampoline does not reliably drop that chain, \
             so an executor runs a stale trampoline block (stray #BP, wrong target). Seen with \
             -smp 2; a finding about QEMU's translator, not about the protocol",
}];

/// A known failure recognised by *what the kernel counted* rather than by
/// experiment name: on `platform`, a failure made only of the counter
/// `only` (every other failure counter zero) has this cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownSignature {
    /// Where it happens.
    pub platform: Platform,
    /// The failure counters of the `exp` record that may be non-zero (at
    /// least one of them must be).
    pub only: &'static [&'static str],
    /// Why, for people.
    pub reason: &'static str,
}

/// The failure counters of an `exp` record (they add up to `failures`).
pub const FAILURE_COUNTERS: [&str; 5] = ["wrong", "faults", "stray_bp", "stale_bp", "stale_call"];

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
pub const KNOWN_SIGNATURES: &[KnownSignature] = &[KnownSignature {
    platform: Platform::Tcg,
    only: &["stale_bp", "stale_call"],
    reason: "QEMU TCG ran code after the vCPU had serialized past its removal (stale-int3 / \
             stale-call only: a translated block outlived the write). Seen mostly on cross-page \
             sites at -smp 2; a finding about QEMU's translator, not about the protocol",
}];

/// The signature that explains a failure with these counters on
/// `platform`, if any.
pub fn by_signature(
    counter: impl Fn(&str) -> u64,
    platform: Platform,
) -> Option<&'static KnownSignature> {
    KNOWN_SIGNATURES.iter().find(|s| {
        s.platform == platform
            && s.only.iter().any(|&c| counter(c) > 0)
            && FAILURE_COUNTERS
                .iter()
                .filter(|c| !s.only.contains(c))
                .all(|&c| counter(c) == 0)
    })
}

/// The entry that covers experiment `name` on `platform`, if any.
pub fn lookup(name: &str, platform: Platform) -> Option<&'static KnownFailure> {
    KNOWN_FAILURES
        .iter()
        .find(|k| k.platform == platform && glob_match(k.experiments, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_line_int3_under_tcg_is_a_known_failure() {
        let k = lookup("outofline-int3/gap/ipi/qword/timer", Platform::Tcg)
            .expect("wanted the TCG trampoline-chaining entry");
        assert!(k.reason.contains("chain"), "{}", k.reason);
    }

    #[test]
    fn the_same_failure_elsewhere_is_not_known() {
        for p in [Platform::Kvm, Platform::RealMachine, Platform::Unknown] {
            assert_eq!(
                lookup("outofline-int3/gap/ipi/qword/timer", p),
                None,
                "{p:?}: wanted no known failure off TCG"
            );
        }
    }

    fn counters(pairs: &'static [(&'static str, u64)]) -> impl Fn(&str) -> u64 {
        move |k| pairs.iter().find(|(n, _)| *n == k).map_or(0, |p| p.1)
    }

    #[test]
    fn stale_int3_alone_under_tcg_is_a_known_failure() {
        let s = by_signature(counters(&[("stale_bp", 3621)]), Platform::Tcg)
            .expect("wanted the stale-int3 signature to explain a stale-only failure on TCG");
        assert!(s.reason.contains("stale-int3"), "{}", s.reason);
    }

    #[test]
    fn any_stray_int3_fault_or_wrong_target_beside_stale_ones_is_not_known() {
        for other in ["stray_bp", "faults", "wrong"] {
            let c = move |k: &str| match k {
                "stale_bp" => 28752,
                k if k == other => 1,
                _ => 0,
            };
            assert_eq!(
                by_signature(c, Platform::Tcg),
                None,
                "stale_bp with {other}=1 must stay FAIL"
            );
        }
    }

    #[test]
    fn stale_calls_alone_or_with_stale_int3_under_tcg_are_known() {
        assert!(by_signature(counters(&[("stale_call", 5)]), Platform::Tcg).is_some());
        assert!(by_signature(
            counters(&[("stale_call", 5), ("stale_bp", 9)]),
            Platform::Tcg
        )
        .is_some());
        assert_eq!(
            by_signature(counters(&[("stale_call", 5), ("wrong", 1)]), Platform::Tcg),
            None,
            "one plain wrong target beside stale calls must stay FAIL"
        );
    }

    #[test]
    fn stale_int3_off_tcg_is_not_known() {
        for p in [Platform::Kvm, Platform::RealMachine, Platform::Unknown] {
            assert_eq!(by_signature(counters(&[("stale_bp", 1)]), p), None, "{p:?}");
        }
    }

    #[test]
    fn no_failure_matches_no_signature() {
        assert_eq!(by_signature(counters(&[]), Platform::Tcg), None);
    }

    #[test]
    fn in_line_int3_and_out_of_line_atomic_are_not_known_failures() {
        for name in [
            "int3/gap/ipi/qword/timer",
            "int3/gap/ipi/cross-page/timer",
            "outofline-atomic/-/ipi/qword",
        ] {
            assert_eq!(lookup(name, Platform::Tcg), None, "{name}");
        }
    }

    #[test]
    fn the_table_stays_minimal_and_every_row_covers_a_registry_must_pass() {
        assert_eq!(
            KNOWN_FAILURES.len(),
            1,
            "the table is one row (outofline-int3 under TCG); a new row needs a reproduced, \
             understood cause outside the kernel"
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
        }
    }
}
