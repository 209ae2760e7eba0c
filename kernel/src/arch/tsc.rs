//! The TSC as the kernel's clock: its frequency, set once by the kernel's
//! calibration against the machine's reference clocks, and TSC deadlines
//! for every bounded wait.

use super::cpu::rdtsc;
use core::sync::atomic::{AtomicU64, Ordering};

static HZ: AtomicU64 = AtomicU64::new(0);

/// Sets the frequency that deadlines are reckoned in (the calibration's).
pub fn set_hz(hz: u64) {
    HZ.store(hz, Ordering::Relaxed);
}

/// TSC ticks per second (0 before calibration).
pub fn hz() -> u64 {
    HZ.load(Ordering::Relaxed)
}

/// The TSC value `us` microseconds from now.
pub fn deadline_us(us: u64) -> u64 {
    rdtsc() + hz() / 1000 * us / 1000
}

/// Whether `deadline` has passed.
pub fn passed(deadline: u64) -> bool {
    rdtsc() >= deadline
}

/// Busy-waits `us` microseconds.
pub fn delay_us(us: u64) {
    let d = deadline_us(us);
    while !passed(d) {
        core::hint::spin_loop();
    }
}

/// Converts TSC ticks to nanoseconds.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let hz = hz().max(1);
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}
