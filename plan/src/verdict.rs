//! How an experiment is judged from its counts: one rule, applied by the
//! kernel (the `met` of its `exp` record) and again by the harness from the
//! record, so the two cannot drift apart.
//!
//! | expectation | met when |
//! |---|---|
//! | `must-pass` | no failure of any kind, no deadlock, `calls > 0`, at least [`MIN_PATCHES`] patches, overruns within [`overrun_bound`], its interference seen ([`interference_counter`] > 0), no floor round timed out |
//! | `observe` | every failure is of a kind the experiment observes ([`observes`]), a deadlock only where it is observed; otherwise as `must-pass`: calls, patches, overruns, floor |
//! | `negative-control` | some failure (the defect was caught), and no deadlock |
//! | `expect-deadlock` | a deadlock |
//!
//! and for every expectation: the experiment ran (no error, no CPU left
//! stuck after it). An `observe` experiment is a finding, not a licence:
//! it counts what the protocol may do on the machine, and every other kind
//! of failure (a bad return, an unsynced CPU, a blind judge) is as much a
//! failure there as anywhere.
//!
//! # Overruns
//!
//! An executor's call is *inconclusive* when its key's history ring no
//! longer holds the whole window of the call ([`crate::window`]): the call
//! spanned [`crate::window::RING`] - 1 generations of its key. In an
//! experiment that syncs, each generation needs at least one sync round
//! that this CPU answers, so such a call means the CPU answered hundreds of
//! rounds from interrupt handlers without its own call moving on: nothing
//! a working executor does. A pass counts only judged calls, so the
//! inconclusive ones are bounded: in an experiment that syncs, none; with
//! sync `none` (patches then come back to back, and one vCPU descheduled
//! for a millisecond by the host can miss hundreds), at most one in
//! [`OVERRUNS_PER_CALLS_NONE`] judged calls.

use crate::experiment::{Expectation, Experiment, Handler, Interference, Strategy, SyncMode};
use core::fmt;

named_enum! {
    /// What can go wrong in an experiment: each failure counter of the
    /// `exp` record (they add up to its `failures`), and a deadlock.
    pub enum Kind {
        /// A call reached a target never installed during it.
        Wrong = "wrong",
        /// An exception other than a handled #BP.
        Faults = "faults",
        /// An `int3` at an address no patch covered.
        StrayBp = "stray_bp",
        /// An `int3` run after the CPU serialized past its removal.
        StaleBp = "stale_bp",
        /// A call that reached code memory had not held since before the
        /// CPU serialized.
        StaleCall = "stale_call",
        /// A call that came back the wrong way.
        BadReturn = "bad_return",
        /// The sync audit found a CPU that had not synced.
        Unsynced = "unsynced",
        /// An executor's judge accepted the planted wrong call.
        Blind = "blind",
        /// A CPU the watchdog found stuck.
        Deadlock = "deadlock",
    }
}

impl Kind {
    /// The failure counters of the `exp` record, in record order (every
    /// kind but [`Kind::Deadlock`]).
    pub const COUNTERS: [Kind; 8] = [
        Kind::Wrong,
        Kind::Faults,
        Kind::StrayBp,
        Kind::StaleBp,
        Kind::StaleCall,
        Kind::BadReturn,
        Kind::Unsynced,
        Kind::Blind,
    ];

    const fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// A set of [`Kind`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kinds(u16);

impl Kinds {
    /// No kind.
    pub const NONE: Kinds = Kinds(0);

    /// The same set with `k`.
    pub const fn with(self, k: Kind) -> Kinds {
        Kinds(self.0 | k.bit())
    }

    /// Whether `k` is in the set.
    pub const fn contains(self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kinds of the set, in declaration order.
    pub fn iter(self) -> impl Iterator<Item = Kind> {
        Kind::ALL.iter().copied().filter(move |&k| self.contains(k))
    }
}

impl fmt::Display for Kinds {
    /// `stray_bp,faults`, or `nothing`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing");
        }
        for (i, k) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(k.name())?;
        }
        Ok(())
    }
}

const fn kinds(list: &[Kind]) -> Kinds {
    let mut s = Kinds::NONE;
    let mut i = 0;
    while i < list.len() {
        s = s.with(list[i]);
        i += 1;
    }
    s
}

/// What an experiment without sync may show: a CPU runs code the patcher
/// has since replaced (a wrong target; an `int3` already gone, stray or
/// stale), or a mix of old and new bytes (a trap or a fault).
const UNSYNCED_CODE: Kinds = kinds(&[
    Kind::Wrong,
    Kind::Faults,
    Kind::StrayBp,
    Kind::StaleBp,
    Kind::StaleCall,
]);

/// What one 4-byte store of an operand may show: a torn operand, which the
/// planner placed so that every mix lands on a trap (`stray_bp`) or an
/// unmapped page (`faults`), or code memory no longer held after the CPU
/// serialized (`stale_call`, the machine's, which x86 forbids).
const TORN_STORE: Kinds = kinds(&[Kind::Faults, Kind::StrayBp, Kind::StaleCall]);

/// What Linus's trampoline handler may show under a #BP nested in an NMI:
/// the NMI's own emulated call overwrites the per-CPU slots (return
/// address, destination) between the outer handler's return and the
/// trampoline's read of them, and the outer call returns to the wrong
/// site's tail (`bad_return`). Every site of a key goes to one destination
/// within one patch, so the destination read is still right.
const CLOBBERED_SLOTS: Kinds = kinds(&[Kind::BadReturn]);

/// What `retry` may show under a #BP nested in an NMI: the NMI holds off
/// the sync IPI the patch waits for, and `retry` (which does no sync duty)
/// waits for a patch that waits for it.
const RETRY_IN_NMI: Kinds = kinds(&[Kind::Deadlock]);

/// What hpa's `spin` may show under a #BP nested in an NMI. It does its
/// CPU's sync duty while it waits, so it never holds a patch up; but an
/// NMI may arrive between an `int3` and its handler's lookup (even before
/// the handler's first instruction), and when the NMI's own call traps on
/// the same patch, the `spin` handler nested in it answers every round of
/// that patch for the CPU: the patcher ends the patch and withdraws the
/// table, and the outer handler, looking only now, finds nothing
/// (`stray_bp`; its record carries `nmi_acked_round`). Linux's handlers do
/// no sync duty, so there the sync waits for the outer handler.
const SPIN_IN_NMI: Kinds = kinds(&[Kind::StrayBp]);

/// What hpa's `spin-bounded` may show under a #BP nested in an NMI: both
/// [`FINISHES_UNSYNCED`], as everywhere, and [`SPIN_IN_NMI`]'s stray
/// `int3`, by the same duty done for the CPU. Its recheck acknowledges the
/// current round before it reads the pass's state, so a handler nested in
/// an NMI that rechecks once the pass is installed acknowledges the final
/// round for the #BP the NMI interrupted: the patcher withdraws the table
/// before that handler looks.
const SPIN_BOUNDED_IN_NMI: Kinds = kinds(&[Kind::Unsynced, Kind::StrayBp]);

/// What hpa's `spin-bounded` shows wherever it runs: a CPU that traps
/// while the pass is writing finishes its own site (the new operand, then
/// the opcode) and returns to it, and no sync covers that write: the
/// patcher's next audit finds CPUs that have not acknowledged a round
/// begun after it (`unsynced`). (Its cancels are not failures: the cover
/// is written again.)
const FINISHES_UNSYNCED: Kinds = kinds(&[Kind::Unsynced]);

/// The failure kinds an `observe` experiment observes (none for every
/// other expectation): each observe row of the suite says what it counts
/// and why, and any other kind is a failure.
pub const fn observes(e: &Experiment) -> Kinds {
    if !matches!(e.expectation, Expectation::Observe) {
        return Kinds::NONE;
    }
    if matches!(e.sync, SyncMode::None) {
        return UNSYNCED_CODE;
    }
    match (e.strategy, e.handler, e.interference) {
        (Strategy::Atomic | Strategy::OutoflineAtomic, _, _) => TORN_STORE,
        (_, Some(Handler::Trampoline), Interference::NmiSite) => CLOBBERED_SLOTS,
        (_, Some(Handler::Retry), Interference::NmiSite) => RETRY_IN_NMI,
        (_, Some(Handler::Spin), Interference::NmiSite) => SPIN_IN_NMI,
        (_, Some(Handler::SpinBounded), Interference::NmiSite) => SPIN_BOUNDED_IN_NMI,
        (_, Some(Handler::SpinBounded), _) => FINISHES_UNSYNCED,
        _ => Kinds::NONE,
    }
}

/// Patches every must-pass and observe experiment must make, however short
/// its time: a pass must mean that keys were really retargeted under the
/// executors. The kernel stretches an experiment's time to reach it (up to
/// a limit); one that still falls short fails.
pub const MIN_PATCHES: u64 = 8;

/// With sync `none`: at most one inconclusive call per this many judged
/// ones (see the module doc).
pub const OVERRUNS_PER_CALLS_NONE: u64 = 1000;

/// The most overruns `e` may have with `calls` judged calls (module doc).
pub const fn overrun_bound(e: &Experiment, calls: u64) -> u64 {
    match e.sync {
        SyncMode::None => calls / OVERRUNS_PER_CALLS_NONE,
        _ => 0,
    }
}

/// The `exp` record's counter of `e`'s interference: the timer's ticks,
/// the NMIs, the NMIs that called a site, the patcher's own interrupts.
/// A must-pass or an observation whose interference never came did not
/// test what its name says.
pub const fn interference_counter(e: &Experiment) -> Option<&'static str> {
    match e.interference {
        Interference::None => None,
        Interference::Timer | Interference::TimerSite => Some("timer"),
        Interference::Nmi => Some("nmi"),
        Interference::NmiSite => Some("nmi_site"),
        Interference::SelfSite => Some("self_irq"),
    }
}

/// Sync rounds an experiment times before it starts patching: its floor,
/// the mean of the rounds that completed. A round can time out where the
/// host starves a vCPU (TCG with more vCPUs than host cores); the floor
/// still measures while at least half its rounds completed, and the
/// record counts those that did not (`floor_timeouts`).
pub const FLOOR_ROUNDS: u64 = 8;

/// What the judge reads of one experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls judged right (`calls`).
    pub calls: u64,
    /// Patches completed (`patches`).
    pub patches: u64,
    /// Calls the window could not judge (`overruns`).
    pub overruns: u64,
    /// Floor sync rounds that timed out (`floor_timeouts`), of
    /// [`FLOOR_ROUNDS`].
    pub floor_timeouts: u64,
    /// The count of the experiment's own interference
    /// ([`interference_counter`]; 0 when it has none).
    pub interference: u64,
    /// Each failure counter, in [`Kind::COUNTERS`] order.
    pub failures: [u64; 8],
    /// A CPU was found stuck (a `deadlock` record).
    pub deadlock: bool,
    /// The experiment stopped: the patcher's error, or a CPU that never
    /// left its loop.
    pub broken: bool,
    /// Ghosts `ghost=retry` sent back to their address instead of judging
    /// them (`ghost_retries`).
    pub ghost_retries: u64,
    /// Of `calls`, those that passed the shape's other instruction
    /// (`null_calls`): a NOP (`null`, `jump`) or `__static_call_return0`
    /// (`ret0`); None for `call` experiments.
    pub null_calls: Option<u64>,
}

impl Counts {
    /// The count of failure kind `k` (a deadlock counts 1).
    pub fn of(&self, k: Kind) -> u64 {
        match Kind::COUNTERS.iter().position(|&c| c == k) {
            Some(i) => self.failures[i],
            None => self.deadlock as u64,
        }
    }

    /// Every failure (`failures`).
    pub fn total(&self) -> u64 {
        self.failures.iter().sum()
    }
}

/// One reason an experiment's expectation was not met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unmet {
    /// Failures of a kind the experiment may not have (for `observe`: one
    /// it does not observe).
    Failed {
        /// The kind.
        kind: Kind,
        /// How many.
        n: u64,
        /// Whether the experiment observes other kinds (`observe`).
        observes: Kinds,
    },
    /// A deadlock where none may be.
    Deadlock,
    /// The experiment stopped (error, a CPU left stuck).
    Broken,
    /// No call was judged right (an observation: no call was counted).
    NoCalls,
    /// Fewer patches than [`MIN_PATCHES`].
    TooFewPatches {
        /// Patches made.
        patches: u64,
    },
    /// More inconclusive calls than [`overrun_bound`] allows.
    Overruns {
        /// Inconclusive calls.
        overruns: u64,
        /// Calls judged.
        calls: u64,
        /// The bound.
        bound: u64,
    },
    /// The experiment's interference never happened: it did not test what
    /// its name says.
    NoInterference {
        /// The counter that stayed 0.
        counter: &'static str,
    },
    /// A shape `null` experiment none of whose calls judged right ran
    /// NULL: it did not test what its name says.
    NoNullCalls,
    /// More than half the floor's rounds timed out: the floor is not a
    /// measurement.
    FloorTimeouts {
        /// How many rounds.
        n: u64,
    },
    /// Ghosts were run again instead of judged (`ghost=retry`): each an
    /// `int3` no patch covered, the platform's or the protocol's.
    GhostsRetried {
        /// How many.
        n: u64,
    },
    /// A negative control saw no failure: the detectors are blind to it.
    Missed,
    /// An expected deadlock did not come.
    NoDeadlock,
}

impl Unmet {
    /// Whether it is a failure the kernel's checks counted (the only kind
    /// of reason a known failure of the platform may excuse).
    pub const fn counted_failure(&self) -> bool {
        matches!(self, Unmet::Failed { .. })
    }
}

impl fmt::Display for Unmet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Unmet::Failed { kind, n, observes } if observes.is_empty() => {
                write!(f, "{kind}={n}")
            }
            Unmet::Failed { kind, n, observes } => write!(
                f,
                "{kind}={n}, a kind this experiment does not observe (it observes {observes})"
            ),
            Unmet::Deadlock => f.write_str("a deadlock, which this experiment may not have"),
            Unmet::Broken => f.write_str("the experiment stopped (an error, or a CPU left stuck)"),
            Unmet::NoCalls => f.write_str("no call went through a site (calls=0)"),
            Unmet::TooFewPatches { patches } => write!(
                f,
                "patches={patches}, fewer than the {MIN_PATCHES} an experiment must make"
            ),
            Unmet::Overruns {
                overruns,
                calls,
                bound,
            } => write!(
                f,
                "overruns={overruns} beside calls={calls}: more inconclusive calls than the {bound} allowed"
            ),
            Unmet::NoInterference { counter } => write!(
                f,
                "{counter}=0: the interference its name promises never happened"
            ),
            Unmet::NoNullCalls => write!(
                f,
                "null_calls=0: no call passed a NOP or returned 0 through the site, so the shape was not tested"
            ),
            Unmet::FloorTimeouts { n } => write!(
                f,
                "floor_timeouts={n} of {FLOOR_ROUNDS}: the floor's sync rounds timed out, so it measures nothing"
            ),
            Unmet::GhostsRetried { n } => write!(
                f,
                "ghost_retries={n}: int3s no patch covered, run again instead of judged (ghost=retry), so a protocol failure may hide among them"
            ),
            Unmet::Missed => f.write_str("no failure: the detectors were blind to the defect"),
            Unmet::NoDeadlock => f.write_str("no deadlock came"),
        }
    }
}

/// The reasons an expectation was not met: none when it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    reasons: [Option<Unmet>; 16],
    len: usize,
}

impl Judgement {
    fn push(&mut self, u: Unmet) {
        // 16 holds every reason the rule can give at once (8 kinds and 8
        // others, each at most once).
        if self.len < self.reasons.len() {
            self.reasons[self.len] = Some(u);
            self.len += 1;
        }
    }

    /// Whether the expectation was met.
    pub fn met(&self) -> bool {
        self.len == 0
    }

    /// Why not.
    pub fn reasons(&self) -> impl Iterator<Item = Unmet> + '_ {
        self.reasons[..self.len].iter().flatten().copied()
    }
}

/// Judges `e` from its counts (the module doc's table).
pub fn judge(e: &Experiment, c: &Counts) -> Judgement {
    let mut j = Judgement {
        reasons: [None; 16],
        len: 0,
    };
    if c.broken {
        j.push(Unmet::Broken);
    }
    let observes = observes(e);
    let failed = |j: &mut Judgement, allowed: Kinds| {
        for k in Kind::COUNTERS {
            let n = c.of(k);
            if n > 0 && !allowed.contains(k) {
                j.push(Unmet::Failed {
                    kind: k,
                    n,
                    observes,
                });
            }
        }
    };
    // A call judged right, or for an observation one counted at all (an
    // observation may be that every call failed).
    let trials = match e.expectation {
        Expectation::Observe => c.calls + c.total(),
        _ => c.calls,
    };
    let worked = |j: &mut Judgement| {
        if trials == 0 {
            j.push(Unmet::NoCalls);
        }
        if c.patches < MIN_PATCHES {
            j.push(Unmet::TooFewPatches { patches: c.patches });
        }
        let bound = overrun_bound(e, c.calls);
        if c.overruns > bound {
            j.push(Unmet::Overruns {
                overruns: c.overruns,
                calls: c.calls,
                bound,
            });
        }
        if let Some(counter) = interference_counter(e) {
            if c.interference == 0 {
                j.push(Unmet::NoInterference { counter });
            }
        }
        if c.null_calls == Some(0) {
            j.push(Unmet::NoNullCalls);
        }
        if c.floor_timeouts > FLOOR_ROUNDS / 2 {
            j.push(Unmet::FloorTimeouts {
                n: c.floor_timeouts,
            });
        }
    };
    // A negative control is judged by what it was caught by; a ghost it
    // retried caught nothing.
    if c.ghost_retries > 0 && e.expectation != Expectation::NegativeControl {
        j.push(Unmet::GhostsRetried { n: c.ghost_retries });
    }
    match e.expectation {
        Expectation::MustPass => {
            failed(&mut j, Kinds::NONE);
            if c.deadlock {
                j.push(Unmet::Deadlock);
            }
            if !c.broken && !c.deadlock {
                worked(&mut j);
            }
        }
        Expectation::Observe => {
            failed(&mut j, observes);
            match (c.deadlock, observes.contains(Kind::Deadlock)) {
                (true, false) => j.push(Unmet::Deadlock),
                (true, true) => {}
                (false, _) if !c.broken => worked(&mut j),
                (false, _) => {}
            }
        }
        Expectation::NegativeControl => {
            if c.deadlock {
                j.push(Unmet::Deadlock);
            }
            if c.total() == 0 && !c.broken && !c.deadlock {
                j.push(Unmet::Missed);
            }
        }
        Expectation::ExpectDeadlock => {
            if !c.deadlock {
                j.push(Unmet::NoDeadlock);
            }
        }
    }
    j
}

#[cfg(test)]
mod tests;
