//! Writing records to the serial report (human lines: `arch::serial::say!`).

use crate::arch::{clocks, cpu::rdtsc};
use core::sync::atomic::{AtomicU32, Ordering};
use report::RecordBuf;

/// The next record's sequence number. Taken under the serial lock, so the
/// numbers on the wire are in order.
static SEQ: AtomicU32 = AtomicU32::new(0);
/// Failures recorded so far (faults, panics, failed checks, ...).
static FAILURES: AtomicU32 = AtomicU32::new(0);

/// This boot's id ([`report::boot_id`]), drawn when the first record is
/// written; 0 until then.
static BOOT_ID: AtomicU32 = AtomicU32::new(0);

/// Writes one record of `kind`, with fields added by `fill`. Its first
/// field is this boot's id.
pub fn emit(kind: &str, fill: impl FnOnce(&mut RecordBuf)) {
    // With interrupts off: a record that an interrupt's handler writes
    // (a failure under `timer-site`) would otherwise land in the middle of
    // this one's line, and the harness would lose both.
    x86_64::instructions::interrupts::without_interrupts(|| {
        let mut port = crate::arch::serial::lock();
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mut r = RecordBuf::new(seq, kind);
        r.boot_id(boot_id());
        fill(&mut r);
        if crate::arch::serial::take_broken() {
            r.u64("lock_broken", 1);
        }
        let line = r.finish();
        port.write(line.as_bytes());
        crate::screen::observe(line);
    })
}

/// This boot's id, drawn on first use (under the serial lock, so once):
/// from the TSC before and after reading the CMOS real-time clock, the
/// clock itself (a boot in another second gets another id whatever the
/// TSC says) and RDRAND where the CPU has it.
fn boot_id() -> u32 {
    let id = BOOT_ID.load(Ordering::Relaxed);
    if id != 0 {
        return id;
    }
    let before = rdtsc();
    let rtc = rtc_sample();
    let after = rdtsc();
    let random = x86_64::instructions::random::RdRand::new()
        .and_then(|r| r.get_u64())
        .unwrap_or(0);
    let id = report::boot_id::mix(&[before, rtc, after, random]);
    BOOT_ID.store(id, Ordering::Relaxed);
    id
}

/// Seconds, minutes, hours, day, month and year of the CMOS real-time
/// clock, as the chip holds them (BCD or binary alike: only their
/// difference from boot to boot matters here), in one number.
fn rtc_sample() -> u64 {
    let mut v = 0u64;
    for reg in [0x00u8, 0x02, 0x04, 0x07, 0x08, 0x09] {
        v = (v << 8) | u64::from(clocks::cmos(reg));
    }
    v
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
