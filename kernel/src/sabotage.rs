//! The run's deliberate defect (`break=`, [`Sabotage`]): a negative
//! control that proves a detector of the torture fires. Set once from the
//! command line, before any experiment; the modules that carry a defect of
//! their own (the #BP handlers, the sync, the executors, the patcher) ask
//! [`sabotaged`] where they would break.

use core::sync::atomic::{AtomicUsize, Ordering};
use report::cmdline::Sabotage;

/// The defect as its index in [`Sabotage::ALL`] + 1; 0 when none.
static SABOTAGE: AtomicUsize = AtomicUsize::new(0);

/// Sets the run's defect (from `break=`).
pub fn set(s: Option<Sabotage>) {
    SABOTAGE.store(s.map_or(0, |s| s as usize + 1), Ordering::Relaxed);
}

/// The run's defect, if any.
pub fn get() -> Option<Sabotage> {
    SABOTAGE
        .load(Ordering::Relaxed)
        .checked_sub(1)
        .map(|i| Sabotage::ALL[i])
}

/// Whether the run was given `break=` `s`.
pub fn sabotaged(s: Sabotage) -> bool {
    get() == Some(s)
}
