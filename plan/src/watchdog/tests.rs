extern crate std;

use super::*;
use std::vec::Vec;

/// A CPU asked at progress 100 that made `moved` steps since.
fn asked(cpu: usize, moved: u64) -> Asked {
    Asked {
        cpu,
        asked_at: 100,
        now: 100 + moved,
        answer: Answer::Snapshot,
    }
}

fn stuck(fates: &[(usize, Fate)]) -> Vec<usize> {
    fates
        .iter()
        .filter(|(_, f)| matches!(f, Fate::Stuck(_)))
        .map(|&(c, _)| c)
        .collect()
}

fn starved(fates: &[(usize, Fate)]) -> Vec<usize> {
    fates
        .iter()
        .filter(|(_, f)| *f == Fate::Starved)
        .map(|&(c, _)| c)
        .collect()
}

/// The rule step 5 of the protocol replaced: the asked CPUs judged as one
/// set, all starved as soon as any of them moved.
fn old_whole_set_rule(asked: &[Asked]) -> Vec<(usize, Fate)> {
    let any_moved = asked.iter().any(Asked::moved);
    asked
        .iter()
        .map(|a| {
            (
                a.cpu,
                if any_moved {
                    Fate::Starved
                } else {
                    Fate::Stuck(a.answer)
                },
            )
        })
        .collect()
}

#[test]
fn one_stuck_cpu_among_starved_ones_is_reported_and_named() {
    let set = [asked(1, 7), asked(2, 0), asked(3, 1), asked(5, 40)];
    let fates: Vec<_> = judge(set, true).collect();
    assert_eq!(stuck(&fates), [2], "cpu 2 never moved: {fates:?}");
    assert_eq!(starved(&fates), [1, 3, 5]);
    assert_eq!(fates[1], (2, Fate::Stuck(Answer::Snapshot)));
}

#[test]
fn the_old_whole_set_rule_excuses_the_stuck_cpu_that_the_new_one_names() {
    let set = [asked(1, 7), asked(2, 0), asked(3, 1)];
    let old = old_whole_set_rule(&set);
    assert!(
        stuck(&old).is_empty(),
        "the old rule let cpu 2 off because cpu 1 and 3 moved: {old:?}"
    );
    let new: Vec<_> = judge(set, true).collect();
    assert_eq!(stuck(&new), [2]);
    // Poll after poll the same picture: the old rule never reports.
    for _ in 0..100 {
        assert!(stuck(&old_whole_set_rule(&set)).is_empty());
        assert_eq!(stuck(&judge(set, true).collect::<Vec<_>>()), [2]);
    }
}

#[test]
fn cpus_that_all_moved_were_starved_and_none_is_reported() {
    let set = [asked(1, 1), asked(2, 3), asked(4, 1_000)];
    let fates: Vec<_> = judge(set, true).collect();
    assert!(stuck(&fates).is_empty(), "{fates:?}");
    assert_eq!(starved(&fates), [1, 2, 4]);
    assert!(all_moved(set), "the grace period may end early");
}

#[test]
fn cpus_of_which_none_moved_are_all_reported() {
    let set = [asked(0, 0), asked(1, 0), asked(2, 0)];
    let fates: Vec<_> = judge(set, true).collect();
    assert_eq!(stuck(&fates), [0, 1, 2]);
    assert!(starved(&fates).is_empty());
    assert!(!all_moved(set), "a stuck CPU keeps the grace period going");
}

#[test]
fn the_grace_period_goes_on_while_any_asked_cpu_has_not_moved() {
    assert!(!all_moved([asked(1, 5), asked(2, 0)]));
    assert!(all_moved([asked(1, 5), asked(2, 1)]));
}

#[test]
fn nobody_asked_is_nobody_reported() {
    assert_eq!(judge([], true).count(), 0);
}

#[test]
fn a_cpu_is_judged_by_its_progress_whether_or_not_it_answered() {
    let with = |moved, answer| Asked {
        answer,
        ..asked(3, moved)
    };
    for answer in [Answer::Snapshot, Answer::Silent, Answer::NotSent] {
        assert_eq!(fate(&with(2, answer), true), Fate::Starved, "{answer:?}");
        assert_eq!(
            fate(&with(0, answer), true),
            Fate::Stuck(answer),
            "a CPU that did not move is stuck, and what it answered is kept: {answer:?}"
        );
    }
}

#[test]
fn a_cpu_that_never_acknowledged_a_sync_round_is_stuck_even_if_it_moved() {
    // It runs on but never takes the sync IPI: stuck for the protocol.
    let fates: Vec<_> = judge([asked(2, 50)], false).collect();
    assert_eq!(fates, [(2, Fate::Stuck(Answer::Snapshot))]);
}

#[test]
fn a_counter_that_wrapped_still_counts_as_moved() {
    let a = Asked {
        cpu: 1,
        asked_at: u64::MAX,
        now: 0,
        answer: Answer::Silent,
    };
    assert_eq!(fate(&a, true), Fate::Starved);
}

#[test]
fn a_cpu_is_stuck_only_after_more_than_the_limit_without_progress() {
    assert!(
        !stuck_by_time(1_000, 0, 1_000),
        "exactly the limit is not more"
    );
    assert!(stuck_by_time(1_001, 0, 1_000));
    assert!(
        !stuck_by_time(5, 10, 1),
        "a clock another poller started after `now` is fresh"
    );
}

#[test]
fn a_cpu_waits_in_a_handler_only_until_its_progress_moves() {
    assert!(!waiting(0, 0), "0: not waiting");
    assert!(waiting(8, 7), "began waiting at progress 7, still 7");
    assert!(!waiting(8, 9), "moved since it began waiting");
    assert!(
        !waiting(0, u64::MAX),
        "0 never means waiting, even at the wrap"
    );
}

fn wait(cpu: usize) -> Wait {
    Wait {
        cpu,
        waiting: true,
        patches_since: 0,
        patcher_waiting: false,
    }
}

#[test]
fn an_executor_waiting_for_a_running_patcher_is_excused_for_its_patch_and_the_next() {
    assert!(waits_for_patcher(&wait(1)));
    assert!(waits_for_patcher(&Wait {
        patches_since: 1,
        ..wait(1)
    }));
    assert!(
        !waits_for_patcher(&Wait {
            patches_since: 2,
            ..wait(1)
        }),
        "two patches ended: it waits for nothing"
    );
    assert!(
        !waits_for_patcher(&Wait {
            waiting: false,
            ..wait(1)
        }),
        "not waiting (or moved since): no excuse"
    );
}

#[test]
fn nobody_is_excused_while_the_patcher_itself_waits_in_a_handler() {
    assert!(!waits_for_patcher(&Wait {
        patcher_waiting: true,
        ..wait(1)
    }));
    assert!(
        !waits_for_patcher(&wait(PATCHER)),
        "the patcher never waits for itself"
    );
}

#[test]
fn a_poll_sees_movement_before_an_excuse_and_an_excuse_before_time() {
    assert_eq!(look(5, 4, false, true), Look::Moved);
    assert_eq!(look(5, 4, true, true), Look::Moved);
    assert_eq!(look(5, 5, true, true), Look::Excused);
    assert_eq!(look(5, 5, false, true), Look::Stuck);
    assert_eq!(look(5, 5, false, false), Look::Quiet);
}

#[test]
fn a_firing_poller_asks_the_stuck_cpus_and_the_patcher_waiting_in_a_handler() {
    // An executor (1) fires: the stuck CPUs, not itself.
    assert!(asks(2, 1, true, false));
    assert!(!asks(2, 1, false, false));
    assert!(
        !asks(1, 1, true, true),
        "a running poller never asks itself"
    );
    // The patcher waiting in a handler is asked even before its own clock
    // runs out: every waiter behind it waits for it.
    assert!(asks(PATCHER, 1, false, true));
    assert!(!asks(PATCHER, 1, false, false));
    // The patcher waiting in a handler fires from its wait: it names
    // itself beside the executors it found stuck.
    assert!(asks(PATCHER, PATCHER, false, true));
    assert!(!asks(PATCHER, PATCHER, true, false));
    assert!(asks(1, PATCHER, true, true));
}
