extern crate std;

use super::*;
use crate::experiment::{find, Expectation, DEFAULT_SUITE};
use std::{format, string::ToString, vec::Vec};

fn exp(name: &str) -> Experiment {
    *find(name).unwrap_or_else(|| panic!("{name} is not in the suite"))
}

/// Counts of an experiment that went well: calls, enough patches, its
/// interference.
fn healthy() -> Counts {
    Counts {
        calls: 1_000_000,
        patches: 100,
        interference: 5_000,
        ..Counts::default()
    }
}

fn with(kind: Kind, n: u64) -> Counts {
    let mut c = healthy();
    let i = Kind::COUNTERS.iter().position(|&k| k == kind).unwrap();
    c.failures[i] = n;
    c
}

fn reasons(e: &Experiment, c: &Counts) -> Vec<Unmet> {
    judge(e, c).reasons().collect()
}

#[test]
fn a_must_pass_with_calls_and_enough_patches_and_nothing_wrong_is_met() {
    assert!(judge(&exp("int3/gap/ipi/qword/timer"), &healthy()).met());
}

#[test]
fn every_failure_kind_fails_a_must_pass_and_is_named() {
    let e = exp("int3/gap/ipi/qword/timer");
    for k in Kind::COUNTERS {
        let r = reasons(&e, &with(k, 3));
        assert_eq!(
            r,
            [Unmet::Failed {
                kind: k,
                n: 3,
                observes: Kinds::NONE
            }],
            "{k}"
        );
        assert_eq!(r[0].to_string(), format!("{k}=3"));
    }
}

#[test]
fn an_observe_experiment_fails_on_every_kind_it_does_not_observe() {
    let observers: Vec<&Experiment> = DEFAULT_SUITE
        .iter()
        .filter(|e| e.expectation == Expectation::Observe)
        .collect();
    assert!(!observers.is_empty());
    for e in observers {
        let seen = observes(e);
        assert!(
            !seen.is_empty(),
            "{e}: an observe row must say what it observes"
        );
        for k in Kind::COUNTERS {
            let j = judge(e, &with(k, 2));
            assert_eq!(j.met(), seen.contains(k), "{e} with {k}=2");
        }
    }
}

#[test]
fn blind_is_observed_nowhere_unsynced_only_by_spin_bounded_and_bad_return_only_by_the_trampoline_under_nmis(
) {
    for e in DEFAULT_SUITE {
        let seen = observes(e);
        assert!(!seen.contains(Kind::Blind), "{e}");
        // hpa's refinement writes code itself, unsynced by design; every
        // other protocol must sync every write.
        assert_eq!(
            seen.contains(Kind::Unsynced),
            e.handler == Some(Handler::SpinBounded),
            "{e}"
        );
        assert_eq!(
            seen.contains(Kind::BadReturn),
            e.handler == Some(Handler::Trampoline) && e.interference == Interference::NmiSite,
            "{e}"
        );
    }
}

#[test]
fn an_observe_experiment_carrying_unsynced_bad_return_and_blind_is_not_met() {
    let e = exp("atomic/-/ipi/qword");
    let mut c = healthy();
    c.failures = [0, 0, 0, 0, 0, 2, 2, 2];
    let r = reasons(&e, &c);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r[0].to_string().contains("bad_return=2"), "{}", r[0]);
    assert!(
        r[0].to_string()
            .contains("it observes faults,stray_bp,stale_call"),
        "{}",
        r[0]
    );
}

#[test]
fn spin_under_nmi_site_observes_a_stray_int3_and_nothing_else() {
    let e = exp("int3/spin/ipi/qword/nmi-site");
    let mut c = healthy();
    // The patch that the nested handler let end under an interrupted #BP.
    c.failures = [0, 0, 1, 0, 0, 0, 0, 0];
    assert!(judge(&e, &c).met());
    // A stale `int3` is not among what it observes: with the NMI's
    // acknowledgements left out of the evidence, this one cannot be
    // excused as the machine's.
    c.failures = [0, 0, 0, 1, 0, 0, 0, 0];
    let r = reasons(&e, &c);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].to_string().contains("stale_bp=1"), "{}", r[0]);
    assert!(
        r[0].to_string().contains("it observes stray_bp"),
        "{}",
        r[0]
    );
}

#[test]
fn a_deadlock_is_met_only_where_it_is_expected_or_observed() {
    let mut c = healthy();
    c.deadlock = true;
    assert!(!judge(&exp("int3/gap/ipi/qword/timer"), &c).met());
    assert!(!judge(&exp("atomic/-/ipi/qword"), &c).met());
    assert!(!judge(&exp("naive/-/none/qword"), &c).met());
    assert!(judge(&exp("int3/spin/ipi/qword/self"), &c).met());
    assert!(judge(&exp("int3/retry/ipi/qword/nmi-site"), &c).met());
    // `spin` answers the syncs from inside the NMI: it holds no patch up.
    assert!(!judge(&exp("int3/spin/ipi/qword/nmi-site"), &c).met());
    c.deadlock = false;
    assert_eq!(
        reasons(&exp("int3/spin/ipi/qword/self"), &c),
        [Unmet::NoDeadlock]
    );
}

#[test]
fn a_pass_needs_the_minimum_of_patches_and_a_call() {
    let e = exp("int3/gap/ipi/qword/timer");
    let mut c = healthy();
    c.patches = MIN_PATCHES - 1;
    assert_eq!(
        reasons(&e, &c),
        [Unmet::TooFewPatches {
            patches: MIN_PATCHES - 1
        }]
    );
    c.patches = MIN_PATCHES;
    assert!(judge(&e, &c).met());
    c.calls = 0;
    assert_eq!(reasons(&e, &c), [Unmet::NoCalls]);
    // The same holds for an observation: it must rest on patches and calls.
    let o = exp("atomic/-/ipi/qword");
    assert_eq!(reasons(&o, &c), [Unmet::NoCalls]);
}

#[test]
fn a_null_shape_run_in_which_no_call_passed_a_nop_is_not_met() {
    let e = exp("int3/gap/ipi/qword/timer/null");
    let mut c = healthy();
    c.null_calls = Some(0);
    assert_eq!(reasons(&e, &c), [Unmet::NoNullCalls]);
    assert!(reasons(&e, &c)[0].to_string().contains("null_calls=0"));
    c.null_calls = Some(1);
    assert!(judge(&e, &c).met());
    // A call-shape record has no such count, and needs none.
    c.null_calls = None;
    assert!(judge(&exp("int3/gap/ipi/qword/timer"), &c).met());
}

#[test]
fn overruns_fail_a_synced_experiment_and_are_bounded_without_sync() {
    let e = exp("int3/gap/ipi/qword/timer");
    let mut c = healthy();
    c.overruns = 1;
    assert_eq!(
        reasons(&e, &c),
        [Unmet::Overruns {
            overruns: 1,
            calls: c.calls,
            bound: 0
        }]
    );
    // Every call overran: FAIL, with the counter named.
    c.overruns = c.calls;
    assert!(reasons(&e, &c)[0].to_string().starts_with("overruns="));
    let none = exp("int3/gap/none/cross-line");
    c.overruns = c.calls / OVERRUNS_PER_CALLS_NONE;
    assert!(judge(&none, &c).met());
    c.overruns += 1;
    assert!(!judge(&none, &c).met());
}

#[test]
fn a_floor_that_lost_more_than_half_its_rounds_fails_what_it_measures_and_fewer_do_not() {
    let mut c = healthy();
    c.floor_timeouts = FLOOR_ROUNDS / 2 + 1;
    for name in ["int3/gap/ipi/qword/timer", "atomic/-/ipi/qword"] {
        assert_eq!(
            reasons(&exp(name), &c),
            [Unmet::FloorTimeouts {
                n: FLOOR_ROUNDS / 2 + 1
            }],
            "{name}"
        );
    }
    // A starved vCPU's one slow round leaves the floor the mean of the
    // others: the experiment is judged on what it did.
    for n in [1, FLOOR_ROUNDS / 2] {
        c.floor_timeouts = n;
        assert!(judge(&exp("int3/gap/ipi/qword/timer"), &c).met(), "{n}");
    }
}

#[test]
fn a_negative_control_is_met_by_any_failure_and_never_by_none_or_a_deadlock() {
    let e = exp("naive/-/none/qword");
    assert_eq!(reasons(&e, &healthy()), [Unmet::Missed]);
    for k in Kind::COUNTERS {
        assert!(judge(&e, &with(k, 1)).met(), "{k}");
    }
    let mut c = with(Kind::Faults, 1);
    c.deadlock = true;
    assert_eq!(reasons(&e, &c), [Unmet::Deadlock]);
}

#[test]
fn a_broken_experiment_is_never_met() {
    for e in DEFAULT_SUITE {
        let mut c = healthy();
        c.broken = true;
        if e.expectation == Expectation::NegativeControl {
            c.failures[0] = 1;
        }
        if e.expectation == Expectation::ExpectDeadlock {
            c.deadlock = true;
        }
        assert!(!judge(e, &c).met(), "{e}");
    }
}

#[test]
fn only_observe_experiments_observe_anything() {
    for e in DEFAULT_SUITE {
        assert_eq!(
            observes(e).is_empty(),
            e.expectation != Expectation::Observe,
            "{e}"
        );
    }
}

#[test]
fn kinds_read_as_their_record_names() {
    assert_eq!(Kinds::NONE.to_string(), "nothing");
    assert_eq!(
        Kinds::NONE
            .with(Kind::Faults)
            .with(Kind::StrayBp)
            .to_string(),
        "faults,stray_bp"
    );
    assert_eq!(Kind::COUNTERS.len() + 1, Kind::ALL.len());
}

#[test]
fn an_experiment_whose_interference_never_came_is_not_met() {
    let mut c = healthy();
    c.interference = 0;
    for (name, counter) in [
        ("int3/gap/ipi/qword/timer", "timer"),
        ("int3/gap/ipi/qword/nmi", "nmi"),
        ("int3/gap/ipi/qword/timer-site", "timer"),
        ("int3/gap/ipi/qword/self", "self_irq"),
        ("int3/trampoline/ipi/qword/nmi-site", "nmi_site"),
    ] {
        assert_eq!(
            reasons(&exp(name), &c),
            [Unmet::NoInterference { counter }],
            "{name}"
        );
    }
    // Without interference there is nothing to count.
    assert!(judge(&exp("int3/spin/cpumask/qword"), &c).met());
}

#[test]
fn a_stray_int3_is_observed_only_without_sync_in_a_torn_store_or_where_a_handler_does_sync_duty_in_an_nmi(
) {
    for e in DEFAULT_SUITE {
        let duty_in_nmi = matches!(e.handler, Some(Handler::Spin | Handler::SpinBounded))
            && e.interference == Interference::NmiSite;
        let torn = matches!(e.strategy, Strategy::Atomic | Strategy::OutoflineAtomic);
        let unsynced = e.sync == SyncMode::None;
        assert_eq!(
            observes(e).contains(Kind::StrayBp),
            e.expectation == Expectation::Observe && (duty_in_nmi || torn || unsynced),
            "{e}"
        );
    }
}

#[test]
fn a_retried_ghost_fails_every_expectation_but_a_negative_control_which_it_does_not_catch() {
    let mut c = healthy();
    c.ghost_retries = 3;
    for e in DEFAULT_SUITE {
        let j = judge(e, &c);
        match e.expectation {
            Expectation::NegativeControl => assert!(!j.met(), "{e}: nothing caught it"),
            _ => {
                assert!(!j.met(), "{e}");
                assert!(
                    j.reasons()
                        .any(|u| matches!(u, Unmet::GhostsRetried { n: 3 })),
                    "{e}"
                );
            }
        }
    }
}
