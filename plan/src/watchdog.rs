//! The watchdog's decisions: which CPU is stuck, which was only starved of
//! host time, and which is excused because it waits for the patcher. The
//! kernel (`kernel/src/watchdog.rs`) keeps the counters, sends the NMIs and
//! writes the records; what it concludes from them is decided here, so
//! that the host can test every case.
//!
//! # The protocol
//!
//! 1. Every watched CPU bumps its own progress counter as it works.
//! 2. A poller looks at every other watched CPU ([`look`]): a counter that
//!    moved, or a CPU that waits in a #BP handler for the patcher
//!    ([`waits_for_patcher`]), starts that CPU's clock afresh; a counter
//!    that has not moved for the limit ([`stuck_by_time`]) is a CPU that
//!    looks stuck.
//! 3. The first poller to find one fires: it asks every CPU of [`asks`]
//!    where it is (an NMI each, whose handler notes the interrupted RIP),
//!    and waits, bounded, for the answers.
//! 4. Then it gives the asked CPUs a grace period to move: under an
//!    emulator a guest's CPUs share a few host cores, and a CPU can wait
//!    seconds for its turn. The grace ends early once every asked CPU has
//!    moved ([`all_moved`]).
//! 5. Each asked CPU is judged on its own ([`fate`], [`judge`]): one that
//!    moved was starved, and that excuses it and no other; one that did not
//!    is stuck and is named. Any stuck CPU is a deadlock. When none is, the
//!    starved ones' clocks start afresh and watching goes on.
//!
//! Step 5 once judged the asked CPUs as one: if any of them moved, all of
//! them were taken as starved. A CPU really stuck beside CPUs that were
//! only slow was then excused at every poll, and the deadlock never
//! reported (the tests replay that rule and show it).

/// The CPU that runs the patcher (the BSP).
pub const PATCHER: usize = 0;

/// Patches that may end while a CPU waits in a #BP handler before its wait
/// stops excusing it: the patch it hit, and the next one (its site may be
/// covered again at once). After that it waits for nothing.
pub const PATCHES_WAITED_FOR: u64 = 1;

/// Whether a CPU that began waiting in a #BP handler at `waiting_at` (1 +
/// its progress count then; 0: it is not waiting) still waits: it has made
/// no progress since.
pub fn waiting(waiting_at: u64, progress: u64) -> bool {
    waiting_at != 0 && waiting_at == progress.wrapping_add(1)
}

/// One CPU's wait in a #BP handler (`spin`, `retry`), as far as the
/// watchdog's excuse needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// The CPU.
    pub cpu: usize,
    /// It waits in a #BP handler and has made no progress since
    /// ([`waiting`]).
    pub waiting: bool,
    /// Patches that ended since it began waiting.
    pub patches_since: u64,
    /// The patcher itself waits in a #BP handler ([`waiting`] for
    /// [`PATCHER`]).
    pub patcher_waiting: bool,
}

/// Whether the CPU of `w` is excused because it waits for the patcher: it
/// waits in a #BP handler, has made no progress since, the patch it waits
/// for has not long ended ([`PATCHES_WAITED_FOR`]), and the patcher itself
/// is not waiting in a handler. The patcher is then watched in its place:
/// when it waits in turn for a CPU slow to answer a sync round, asking the
/// patcher (whose wait ends once that CPU runs) is right, and blaming the
/// CPUs behind it, which cannot move before it does, is not. The patcher
/// waiting in a handler (Linus's counter-example) excuses nobody: every
/// waiter is then as stuck as the patcher.
pub fn waits_for_patcher(w: &Wait) -> bool {
    w.cpu != PATCHER && w.waiting && w.patches_since <= PATCHES_WAITED_FOR && !w.patcher_waiting
}

/// Whether a CPU whose clock started at `seen_at` (the TSC when its
/// progress was last seen to change) is stuck at `now`, `limit` ticks
/// being allowed. A clock that starts after `now` (another poller started
/// it meanwhile) is not stuck.
pub fn stuck_by_time(now: u64, seen_at: u64, limit: u64) -> bool {
    now.saturating_sub(seen_at) > limit
}

/// What one poll makes of one other CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Its progress moved: its clock starts afresh.
    Moved,
    /// It waits for the patcher ([`waits_for_patcher`]): its clock starts
    /// afresh, as fresh as its wait.
    Excused,
    /// No progress for longer than the limit: it looks stuck.
    Stuck,
    /// No progress yet, but within the limit.
    Quiet,
}

/// One poll's look at a CPU whose progress count is `progress`, last seen
/// as `seen`; `excused` and `stuck_by_time` as [`waits_for_patcher`] and
/// [`stuck_by_time`] say.
pub fn look(progress: u64, seen: u64, excused: bool, stuck_by_time: bool) -> Look {
    if progress != seen {
        Look::Moved
    } else if excused {
        Look::Excused
    } else if stuck_by_time {
        Look::Stuck
    } else {
        Look::Quiet
    }
}

/// Whether a poller `me` that fires asks `cpu` where it is: every other
/// CPU that looks stuck ([`stuck_by_time`]), and the patcher whenever it
/// waits in a #BP handler (`patcher_waiting`), even the poller itself
/// when it is that patcher. A CPU that polls is running and never reports
/// itself, except the patcher waiting in a handler: its wait can never
/// end (only it could finish the patch it waits for), and left out it
/// would not be named in the deadlock it caused (seen: a deadlock that
/// named only an executor, waiting behind it).
pub fn asks(cpu: usize, me: usize, stuck_by_time: bool, patcher_waiting: bool) -> bool {
    let patcher_in_handler = cpu == PATCHER && patcher_waiting;
    if cpu == me {
        patcher_in_handler
    } else {
        stuck_by_time || patcher_in_handler
    }
}

/// How an asked CPU answered the watchdog's question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Its NMI handler noted where it was (or, the firing CPU itself,
    /// noted it directly).
    Snapshot,
    /// The NMI went out but no answer came in time.
    Silent,
    /// The NMI did not go out: the local APIC did not accept it.
    NotSent,
}

/// One CPU the watchdog asked where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asked {
    /// The CPU.
    pub cpu: usize,
    /// Its progress count when it was found stuck and asked.
    pub asked_at: u64,
    /// Its progress count now, after the grace period.
    pub now: u64,
    /// How it answered.
    pub answer: Answer,
}

impl Asked {
    /// Whether it made progress since it was asked.
    pub fn moved(&self) -> bool {
        self.now != self.asked_at
    }
}

/// What the watchdog concludes about one asked CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It moved: it was waiting for host time, not stuck.
    Starved,
    /// It did not move: stuck, to be named, with its answer (a snapshot,
    /// or why there is none).
    Stuck(Answer),
}

/// The fate of one asked CPU. With `grace` (a CPU the watchdog found
/// without progress), one that moved since it was asked was starved; that
/// excuses it alone. Without (a CPU that did not acknowledge a sync round:
/// one that runs on but never takes the sync IPI is as stuck for the
/// protocol as one that stopped), it is stuck whatever it did. Whether it
/// answered the NMI decides only what is reported of it: a CPU that moved
/// is not stuck, answer or none, and one that did not move is stuck even
/// when its NMI could not be sent.
pub fn fate(a: &Asked, grace: bool) -> Fate {
    if grace && a.moved() {
        Fate::Starved
    } else {
        Fate::Stuck(a.answer)
    }
}

/// Every asked CPU with its [`fate`], each judged on its own.
pub fn judge<I: IntoIterator<Item = Asked>>(
    asked: I,
    grace: bool,
) -> impl Iterator<Item = (usize, Fate)> {
    asked.into_iter().map(move |a| (a.cpu, fate(&a, grace)))
}

/// Whether the grace period may end early: every asked CPU moved (none
/// can be found stuck any more). A stuck CPU never moves, so a deadlock
/// always waits out the whole grace period, and is reported no later for
/// it than the period's length.
pub fn all_moved<I: IntoIterator<Item = Asked>>(asked: I) -> bool {
    asked.into_iter().all(|a| a.moved())
}

#[cfg(test)]
mod tests;
