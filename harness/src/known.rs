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
