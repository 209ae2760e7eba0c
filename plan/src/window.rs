//! The generation window: did a call reach a target that was installed at
//! some moment during the call?
//!
//! # The protocol
//!
//! Each key has a ring `history` of [`RING`] ids and two counters. Patch `g`
//! (1, 2, ..) retargets the key; generation 0 is the initial target, with
//! `history[0]` set and `started = completed = 0` before any executor runs.
//!
//! ```text
//!   patcher, patch g                      executor, one call
//!   ----------------                      ------------------
//!   P1 history[g % RING] = id(g)
//!   P2 started = g        (Release) --.   E1 c0 = completed  (Acquire) <-.
//!   P3 write the code: the strategy's  |   E2 got = call the site          |
//!      phases and syncs                |   E3 s1 = started   (Acquire) <---'-- pairs with P2
//!   P4 completed = g      (Release) ---'-- pairs with E1
//!                                         E4 ids = history[c0..=s1]
//!                                         E5 s2 = started, after E4's loads
//!                                            (fence(Acquire) then load)
//! ```
//!
//! The call is right iff `got = history[g]` for some `g` in `c0..=s1`:
//!
//! * **Lower bound `c0`.** When E1 reads `completed = c0`, patch `c0` has
//!   finished its last sync: every CPU has serialized after its code was
//!   written, so no call that starts after E1 may run a target older than
//!   `history[c0]`. A CPU that still does (stale code, a missing sync, a
//!   serializing step that is not one) is the failure the torture hunts.
//! * **Upper bound `s1`.** Patch `s1 + 1` had not passed P2 when E3 ran,
//!   hence had not begun P3: no code of it can have been executed in E2.
//!   This assumes a call that executes bytes of patch `g` is followed by a
//!   load of `started` that sees `g` or later. x86's ordering of the
//!   patcher's stores, and the sync each patch makes, provide that.
//!
//! Why `completed` before the call and not `started`: if E1 read `started`
//! while patch `g` was in P3, the call could still run the old target
//! `history[g - 1]`, rightly, and would be judged wrong. Why `started` after
//! the call and not `completed`: a call during P3 may already run the new
//! target `history[g]` while `completed` is still `g - 1`. The tests
//! replay both mistakes and show the false failures they produce.
//!
//! # Overrun
//!
//! The ring holds the last [`RING`] generations, but P1 writes
//! `history[g % RING]` *before* P2 publishes `g`, so the executor must allow
//! for the slot of `started + 1` being overwritten at any time. The window
//! `c0..=s` can be read only while `s - c0 + 2 <= RING`. An executor that
//! fell that far behind (a long interrupt, a slow vCPU) gets
//! [`WindowResult::Overrun`]: inconclusive, counted, never a failure. Because
//! the patcher keeps going while E4 reads the ring, [`check`] re-reads
//! `started` (E5) after the ids and applies the same bound to it, so that a
//! slot overwritten during the check cannot make a wrong id look right.
//!
//! [`check`] takes no lock and allocates nothing; it reads `s1 - c0 + 1`
//! ids, usually one or two, and is cheap enough to run after every call.

use crate::layout::MAX_TARGETS_PER_KEY;
use core::fmt;

/// Number of generations the history ring of a key holds. A power of two,
/// so that `g % RING` is a mask.
pub const RING: usize = 256;

const _: () = assert!(RING.is_power_of_two() && RING >= 2);

/// The slot of generation `g` in a history ring.
pub const fn slot(g: u64) -> usize {
    (g % RING as u64) as usize
}

/// What [`check`] reads from the patcher's state of one key.
///
/// The kernel implements it over its atomics: `id` loads `history[slot(g)]`
/// (Acquire, pairing with a Release store in P1, or Relaxed followed by the
/// fence in `started`); `started` is E5 (fence(Acquire), then load).
pub trait History {
    /// The id recorded for generation `g`: `history[slot(g)]`.
    fn id(&self, g: u64) -> u32;
    /// `started`, read after the ids (E5).
    fn started(&self) -> u64;
}

/// A small set of ids, kept in the order first seen: the ids a wrong call
/// could have got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSet {
    ids: [u32; MAX_TARGETS_PER_KEY],
    len: usize,
    truncated: bool,
}

impl IdSet {
    /// The empty set.
    pub const fn new() -> IdSet {
        IdSet {
            ids: [0; MAX_TARGETS_PER_KEY],
            len: 0,
            truncated: false,
        }
    }

    /// Adds `id` if absent; past capacity, only notes that some were left out.
    pub fn insert(&mut self, id: u32) {
        if self.as_slice().contains(&id) {
            return;
        }
        if self.len < self.ids.len() {
            self.ids[self.len] = id;
            self.len += 1;
        } else {
            self.truncated = true;
        }
    }

    /// The ids kept.
    pub fn as_slice(&self) -> &[u32] {
        &self.ids[..self.len]
    }

    /// Whether more distinct ids were seen than could be kept (a key has at
    /// most [`MAX_TARGETS_PER_KEY`], so only a corrupt history does this).
    pub const fn truncated(&self) -> bool {
        self.truncated
    }
}

impl Default for IdSet {
    fn default() -> IdSet {
        IdSet::new()
    }
}

impl fmt::Display for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, id) in self.as_slice().iter().enumerate() {
            if n > 0 {
                f.write_str(",")?;
            }
            write!(f, "{id:#x}")?;
        }
        if self.truncated {
            f.write_str(",...")?;
        }
        Ok(())
    }
}

/// The verdict on one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowResult {
    /// `got` is the id of `generation`, which is in the window.
    Valid {
        /// The latest generation in the window with that id.
        generation: u64,
    },
    /// No generation in `c0..=s1` had the id the call returned: a failure.
    Wrong {
        /// The id the call returned.
        got: u32,
        /// `completed` before the call.
        c0: u64,
        /// `started` after the call.
        s1: u64,
        /// The ids of the window (what would have been right).
        expected: IdSet,
    },
    /// The ring no longer holds the whole window: inconclusive, not a
    /// failure; counted.
    Overrun {
        /// `completed` before the call.
        c0: u64,
        /// `started` after the call, or re-read after the ids when that is
        /// what overran.
        s: u64,
    },
    /// `started` read after `completed` was smaller than it, or decreased:
    /// the counters or their ordering are broken (a failure of the kernel,
    /// not of the strategy).
    CountersOutOfOrder {
        /// `completed` before the call.
        c0: u64,
        /// The `started` value that was smaller.
        s: u64,
    },
}

impl WindowResult {
    /// Whether the result is a failure of the run (wrong target or broken
    /// counters). `Overrun` is not.
    pub const fn is_failure(&self) -> bool {
        matches!(
            self,
            WindowResult::Wrong { .. } | WindowResult::CountersOutOfOrder { .. }
        )
    }
}

impl fmt::Display for WindowResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowResult::Valid { generation } => write!(f, "valid (generation {generation})"),
            WindowResult::Wrong {
                got,
                c0,
                s1,
                expected,
            } => write!(
                f,
                "wrong target: got id {got:#x}, generations {c0}..={s1} had {expected}"
            ),
            WindowResult::Overrun { c0, s } => {
                write!(
                    f,
                    "overrun: generations {c0}..={s} exceed the ring of {RING}"
                )
            }
            WindowResult::CountersOutOfOrder { c0, s } => {
                write!(f, "counters out of order: started {s} < completed {c0}")
            }
        }
    }
}

/// Whether generations `c0..=s`, and `s + 1` whose slot may be being
/// written, all have slots of their own.
const fn fits(c0: u64, s: u64) -> bool {
    s - c0 <= RING as u64 - 2
}

/// Judges one call: `c0` is `completed` read before it (E1), `got` the id
/// it returned (E2), `s1` `started` read after it (E3). Reads the window's
/// ids and then `started` again from `history` (E4, E5).
pub fn check(c0: u64, s1: u64, got: u32, history: &impl History) -> WindowResult {
    if s1 < c0 {
        return WindowResult::CountersOutOfOrder { c0, s: s1 };
    }
    if !fits(c0, s1) {
        return WindowResult::Overrun { c0, s: s1 };
    }
    let mut expected = IdSet::new();
    let mut hit = None;
    // Newest first: a call usually returns the current target.
    for g in (c0..=s1).rev() {
        let id = history.id(g);
        if id == got {
            hit = Some(g);
            break;
        }
        expected.insert(id);
    }
    // E5: if the patcher has begun to reuse the slot of c0 meanwhile, the
    // ids just read may be newer than the window, in either direction.
    let s2 = history.started();
    if s2 < s1 {
        return WindowResult::CountersOutOfOrder { c0, s: s2 };
    }
    if !fits(c0, s2) {
        return WindowResult::Overrun { c0, s: s2 };
    }
    match hit {
        Some(generation) => WindowResult::Valid { generation },
        None => WindowResult::Wrong {
            got,
            c0,
            s1,
            expected,
        },
    }
}

#[cfg(test)]
mod tests;
