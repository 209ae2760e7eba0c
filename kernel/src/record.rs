//! Writing records and human lines to the serial report.

use core::sync::atomic::{AtomicU32, Ordering};
use report::RecordBuf;

/// The next record's sequence number. Taken under the serial lock, so the
/// numbers on the wire are in order.
static SEQ: AtomicU32 = AtomicU32::new(0);
/// Failures recorded so far (faults, panics, failed checks, ...).
static FAILURES: AtomicU32 = AtomicU32::new(0);

/// Writes one record of `kind`, with fields added by `fill`.
pub fn emit(kind: &str, fill: impl FnOnce(&mut RecordBuf)) {
    let mut port = crate::serial::lock();
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut r = RecordBuf::new(seq, kind);
    fill(&mut r);
    if crate::serial::take_broken() {
        r.u64("lock_broken", 1);
    }
    let line = r.finish();
    port.write(line.as_bytes());
    crate::screen::observe(line);
}

/// Counts one failure (the record describing it is written by the caller).
pub fn count_failure() {
    FAILURES.fetch_add(1, Ordering::Relaxed);
}

/// Failures so far.
pub fn failures() -> u32 {
    FAILURES.load(Ordering::Relaxed)
}

/// Records written so far.
pub fn records() -> u32 {
    SEQ.load(Ordering::Relaxed)
}

/// Writes a human-readable line (never a record).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut port = $crate::serial::lock();
        let _ = write!(port, $($arg)*);
        port.write(b"\n");
    }};
}
