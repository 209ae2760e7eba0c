extern crate std;

use super::*;
use std::vec::Vec;

const A: u32 = 0x5C00_0000;
const B: u32 = 0x5C00_0001;
const C: u32 = 0x5C00_0002;

/// The patcher's state of one key, as an executor could observe it.
#[derive(Clone)]
struct State {
    ring: [u32; RING],
    started: u64,
    completed: u64,
    /// Ids a call through the site may return right now.
    site_may_return: Vec<u32>,
}

impl History for State {
    fn id(&self, g: u64) -> u32 {
        self.ring[slot(g)]
    }
    fn started(&self) -> u64 {
        self.started
    }
}

/// A check against one state but with `started` re-read from another: the
/// patcher moved on while the executor was reading the ring.
struct Moving<'a> {
    ring: &'a State,
    started_later: u64,
}

impl History for Moving<'_> {
    fn id(&self, g: u64) -> u32 {
        self.ring.id(g)
    }
    fn started(&self) -> u64 {
        self.started_later
    }
}

/// Every state a correct patcher passes through while installing `ids[1..]`
/// (ids[0] is generation 0), step by step: P1, P2, P3 (the site may return
/// old or new), the end of P3 (only new), P4.
fn timeline(ids: &[u32]) -> Vec<State> {
    let mut s = State {
        ring: [0; RING],
        started: 0,
        completed: 0,
        site_may_return: std::vec![ids[0]],
    };
    s.ring[0] = ids[0];
    let mut t = std::vec![s.clone()];
    for (g, &id) in ids.iter().enumerate().skip(1) {
        let g = g as u64;
        s.ring[slot(g)] = id; // P1
        t.push(s.clone());
        s.started = g; // P2
        t.push(s.clone());
        s.site_may_return = std::vec![ids[g as usize - 1], id]; // P3 in progress
        t.push(s.clone());
        s.site_may_return = std::vec![id]; // P3's last sync done
        t.push(s.clone());
        s.completed = g; // P4
        t.push(s.clone());
    }
    t
}

/// Runs every executor interleaving (E1 at t0, E2 at t1, E3..E5 at t2, for
/// t0 <= t1 <= t2) and every id the site may return at t1, reading the lower
/// bound with `lower` and the upper with `upper`; returns the results.
fn interleavings(
    ids: &[u32],
    lower: impl Fn(&State) -> u64,
    upper: impl Fn(&State) -> u64,
) -> Vec<(usize, usize, usize, u32, WindowResult)> {
    let t = timeline(ids);
    let mut out = Vec::new();
    for t0 in 0..t.len() {
        for t1 in t0..t.len() {
            for t2 in t1..t.len() {
                for &got in &t[t1].site_may_return {
                    let r = check(lower(&t[t0]), upper(&t[t2]), got, &t[t2]);
                    out.push((t0, t1, t2, got, r));
                }
            }
        }
    }
    out
}

const SEQUENCE: [u32; 6] = [A, B, C, A, C, B];

#[test]
fn every_interleaving_of_a_correct_patcher_and_an_executor_is_valid() {
    let results = interleavings(&SEQUENCE, |s| s.completed, |s| s.started);
    assert!(
        results.len() > 1000,
        "the replay should be exhaustive, got {} cases",
        results.len()
    );
    for (t0, t1, t2, got, r) in results {
        assert!(
            matches!(r, WindowResult::Valid { .. }),
            "E1 at {t0}, call at {t1} returning {got:#x}, E3 at {t2}: wanted valid, got {r}"
        );
    }
}

#[test]
fn reading_started_instead_of_completed_before_the_call_reports_right_calls_as_wrong() {
    let results = interleavings(&SEQUENCE, |s| s.started, |s| s.started);
    let false_failure = results
        .iter()
        .find(|r| matches!(r.4, WindowResult::Wrong { .. }));
    // E.g. E1 right after P2 of patch 1 reads started = 1, and the call still
    // runs generation 0's target, as it may while P3 is in progress.
    let (t0, t1, t2, got, r) = false_failure.expect("a false failure from reading started first");
    std::println!("E1 at {t0}, call at {t1} got {got:#x}, E3 at {t2}: {r}");
    let t = timeline(&SEQUENCE);
    assert!(
        t[*t1].site_may_return.contains(got),
        "the call's result was one a correct patcher allows"
    );
}

#[test]
fn reading_completed_instead_of_started_after_the_call_reports_right_calls_as_wrong() {
    let results = interleavings(&SEQUENCE, |s| s.completed, |s| s.completed);
    assert!(
        results.iter().any(|r| matches!(r.4, WindowResult::Wrong { got, .. } if got == B)),
        "a call in P3 of patch 1 returning the new target B should be misjudged with completed as the upper bound"
    );
}

#[test]
fn a_stale_target_after_its_replacement_completed_is_wrong() {
    // Patch 1 (A -> B) completed before the call; the CPU still ran A: the
    // failure a missing sync or serialization produces.
    let t = timeline(&[A, B]);
    let done = t.last().unwrap();
    assert_eq!((done.started, done.completed), (1, 1));
    let r = check(done.completed, done.started, A, done);
    let mut want = IdSet::new();
    want.insert(B);
    assert_eq!(
        r,
        WindowResult::Wrong {
            got: A,
            c0: 1,
            s1: 1,
            expected: want
        }
    );
    assert!(r.is_failure());
}

#[test]
fn an_id_no_target_has_is_wrong_and_lists_the_whole_window() {
    let t = timeline(&SEQUENCE);
    let mid = t
        .iter()
        .find(|s| s.started == 3 && s.completed == 2)
        .unwrap();
    // Window 1..=3 holds B, C, A (newest first: A, C, B).
    match check(1, 3, 0xDEAD_BEEF, mid) {
        WindowResult::Wrong { expected, .. } => {
            assert_eq!(
                expected.as_slice(),
                &[A, C, B],
                "wanted the window's ids newest first"
            );
            assert!(!expected.truncated());
        }
        other => panic!("wanted wrong, got {other}"),
    }
}

#[test]
fn the_latest_matching_generation_is_reported() {
    let t = timeline(&SEQUENCE);
    let end = t.last().unwrap(); // generations 0..=5: A B C A C B
    assert_eq!(check(0, 5, A, end), WindowResult::Valid { generation: 3 });
    assert_eq!(check(0, 5, B, end), WindowResult::Valid { generation: 5 });
}

#[test]
fn a_window_wider_than_the_ring_allows_is_an_overrun_not_a_failure() {
    let mut s = State {
        ring: [A; RING],
        started: 0,
        completed: 0,
        site_may_return: Vec::new(),
    };
    let last_fitting = RING as u64 - 2;
    s.started = 1000 + last_fitting;
    assert_eq!(
        check(1000, 1000 + last_fitting, A, &s),
        WindowResult::Valid {
            generation: 1000 + last_fitting
        }
    );
    s.started += 1;
    let r = check(1000, 1000 + last_fitting + 1, A, &s);
    assert_eq!(
        r,
        WindowResult::Overrun {
            c0: 1000,
            s: 1000 + last_fitting + 1
        }
    );
    assert!(!r.is_failure(), "an overrun is inconclusive");
}

#[test]
fn a_slot_reused_while_the_ring_is_read_cannot_make_a_wrong_id_look_right() {
    // Window 0..=1 (A, B). While the executor reads the ring, the patcher
    // runs RING - 1 more patches; P1 of generation RING overwrites slot 0
    // with C before P2 publishes RING. The executor's call returned C,
    // which no generation of its window had.
    let mut s = State {
        ring: [B; RING],
        started: 1,
        completed: 0,
        site_may_return: Vec::new(),
    };
    s.ring[0] = C; // what E4 reads for generation 0
    let later = Moving {
        ring: &s,
        started_later: RING as u64 - 1,
    };
    let r = check(0, 1, C, &later);
    assert_eq!(
        r,
        WindowResult::Overrun {
            c0: 0,
            s: RING as u64 - 1
        },
        "wanted overrun, not a false valid"
    );
    // One patch fewer and slot 0 is still generation 0's: the check holds.
    s.ring[0] = A;
    let earlier = Moving {
        ring: &s,
        started_later: RING as u64 - 2,
    };
    assert!(check(0, 1, C, &earlier).is_failure());
}

#[test]
fn a_long_run_through_the_real_ring_is_never_wrong_only_valid_or_overrun() {
    // 3 * RING patches cycling A B C; executors that start at every patch
    // and take from 0 to 2 * RING patches per call.
    let ids: Vec<u32> = (0..3 * RING as u64 + 1)
        .map(|g| [A, B, C][(g % 3) as usize])
        .collect();
    let mut ring = [0u32; RING];
    let mut snapshots = Vec::new(); // (ring after P2 of g, started = completed = g)
    for (g, &id) in ids.iter().enumerate() {
        ring[slot(g as u64)] = id;
        snapshots.push(ring);
    }
    let (mut valid, mut overrun) = (0, 0);
    for c0 in (0..ids.len()).step_by(7) {
        for len in (0..2 * RING).step_by(5) {
            let s1 = (c0 + len).min(ids.len() - 1);
            let st = State {
                ring: snapshots[s1],
                started: s1 as u64,
                completed: s1 as u64,
                site_may_return: Vec::new(),
            };
            // The call ran the target of some generation in the window.
            let got = ids[c0 + (s1 - c0) / 2];
            match check(c0 as u64, s1 as u64, got, &st) {
                WindowResult::Valid { .. } => valid += 1,
                WindowResult::Overrun { .. } => overrun += 1,
                other => panic!("c0 {c0} s1 {s1}: wanted valid or overrun, got {other}"),
            }
        }
    }
    assert!(
        valid > 0 && overrun > 0,
        "both outcomes should occur: {valid} valid, {overrun} overrun"
    );
}

#[test]
fn counters_that_go_backwards_are_a_failure_of_the_kernel() {
    let t = timeline(&[A, B]);
    let s = t.last().unwrap();
    let r = check(1, 0, A, s);
    assert_eq!(r, WindowResult::CountersOutOfOrder { c0: 1, s: 0 });
    assert!(r.is_failure());
    let going_back = Moving {
        ring: s,
        started_later: 0,
    };
    assert_eq!(
        check(0, 1, B, &going_back),
        WindowResult::CountersOutOfOrder { c0: 0, s: 0 }
    );
}

#[test]
fn an_id_set_keeps_distinct_ids_and_notes_what_it_left_out() {
    let mut s = IdSet::new();
    for id in [1, 2, 1, 3, 4, 2, 5] {
        s.insert(id);
    }
    assert_eq!(s.as_slice(), &[1, 2, 3, 4]);
    assert!(s.truncated());
    assert_eq!(std::format!("{s}"), "0x1,0x2,0x3,0x4,...");
}

#[test]
fn results_read_as_sentences() {
    let mut e = IdSet::new();
    e.insert(B);
    let wrong = WindowResult::Wrong {
        got: A,
        c0: 4,
        s1: 5,
        expected: e,
    };
    assert_eq!(
        std::format!("{wrong}"),
        "wrong target: got id 0x5c000000, generations 4..=5 had 0x5c000001"
    );
    assert_eq!(
        std::format!("{}", WindowResult::Valid { generation: 9 }),
        "valid (generation 9)"
    );
}
