//! Per-key state shared by the patcher and the executors: the history ring
//! and counters of `plan::window`, and which target is installed.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use plan::{
    layout::{MAX_KEYS, MAX_SITES_PER_KEY},
    window::{self, History, RING},
};

/// One key.
pub struct Key {
    history: [AtomicU32; RING],
    /// Generation whose code writes have begun (P2).
    pub started: AtomicU64,
    /// Generation whose last sync is done (P4).
    pub completed: AtomicU64,
    /// Index of the installed (or being installed) target.
    pub current: AtomicUsize,
    /// Per patch point of the key (its sites in line; out of line only
    /// the trampoline, index 0): the generation whose writes to that point
    /// have begun, and the one whose writes to it are synced. A call
    /// through a site is judged against its own point's window, so that a
    /// site whose update is over is held to its new target while the rest
    /// of the key is still being patched.
    point_started: [AtomicU64; MAX_SITES_PER_KEY],
    point_completed: [AtomicU64; MAX_SITES_PER_KEY],
}

/// Every key.
pub static KEYS: [Key; MAX_KEYS] = [const {
    Key {
        history: [const { AtomicU32::new(0) }; RING],
        started: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        current: AtomicUsize::new(0),
        point_started: [const { AtomicU64::new(0) }; MAX_SITES_PER_KEY],
        point_completed: [const { AtomicU64::new(0) }; MAX_SITES_PER_KEY],
    }
}; MAX_KEYS];

impl Key {
    /// Generation 0: target 0 with `id`, before any executor runs.
    pub fn reset(&self, id: u32) {
        self.history[0].store(id, Ordering::Relaxed);
        self.started.store(0, Ordering::Relaxed);
        self.completed.store(0, Ordering::Relaxed);
        self.current.store(0, Ordering::Relaxed);
        for p in self.point_started.iter().chain(&self.point_completed) {
            p.store(0, Ordering::Relaxed);
        }
    }

    /// P1 and P2 of patch `g`: record its id, then publish that it began.
    pub fn begin(&self, g: u64, id: u32, target: usize) {
        self.history[window::slot(g)].store(id, Ordering::Relaxed);
        self.current.store(target, Ordering::Relaxed);
        // Release pairs with the executor's Acquire load of `started` (E3,
        // E5): the history entry is visible before the generation is.
        self.started.store(g, Ordering::Release);
    }

    /// P2 of patch `g` for patch point `i` (after [`Key::begin`], before
    /// the first write to the point).
    pub fn point_begin(&self, i: usize, g: u64) {
        // Release pairs with the executor's Acquire load after its call
        // (E3): the history entry (written in `begin`) is visible first.
        self.point_started[i].store(g, Ordering::Release);
    }

    /// P4 of patch `g` for patch point `i`: its last sync is done.
    pub fn point_complete(&self, i: usize, g: u64) {
        // Release pairs with the executor's Acquire load before its call
        // (E1).
        self.point_completed[i].store(g, Ordering::Release);
    }

    /// E1 for a call through patch point `i`.
    #[inline(always)]
    pub fn point_completed(&self, i: usize) -> u64 {
        self.point_completed[i].load(Ordering::Acquire)
    }

    /// E3 for a call through patch point `i`.
    #[inline(always)]
    pub fn point_started(&self, i: usize) -> u64 {
        self.point_started[i].load(Ordering::Acquire)
    }

    /// P4 of patch `g`.
    pub fn complete(&self, g: u64) {
        // Release pairs with the executor's Acquire load of `completed` (E1).
        self.completed.store(g, Ordering::Release);
    }

    /// Checks one call's result against the window (E1..E5 around it).
    #[inline(always)]
    pub fn check(&self, c0: u64, s1: u64, got: u32) -> window::WindowResult {
        window::check(c0, s1, got, self)
    }
}

impl History for Key {
    fn id(&self, g: u64) -> u32 {
        self.history[window::slot(g)].load(Ordering::Relaxed)
    }
    fn started(&self) -> u64 {
        // E5: after the ids (Acquire fence, then the load).
        core::sync::atomic::fence(Ordering::Acquire);
        self.started.load(Ordering::Relaxed)
    }
}
