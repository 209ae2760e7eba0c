//! The TSC's frequency, calibrated against the HPET (or the PIT where there
//! is none), and TSC deadlines for every bounded wait.

use crate::arch::cpu::{inb, outb, rdtsc};
use core::sync::atomic::{AtomicU64, Ordering};

static TSC_HZ: AtomicU64 = AtomicU64::new(0);

/// Which clock the TSC was measured against.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// The HPET main counter.
    Hpet,
    /// PIT channel 2 (the fallback).
    Pit,
}

impl Source {
    /// The name in records.
    pub fn name(self) -> &'static str {
        match self {
            Source::Hpet => "hpet",
            Source::Pit => "pit",
        }
    }
}

/// Why calibration failed.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub enum CalibrationError {
    /// The reference clock did not advance within its bound.
    ClockStuck(Source),
}

/// Calibrates over about 20 ms and remembers the result. `hpet` is the
/// HPET's MMIO base (None: use the PIT).
pub fn calibrate(hpet: Option<u64>) -> Result<(u64, Source), CalibrationError> {
    let (hz, src) = match hpet {
        Some(base) => (hpet_calibrate(base)?, Source::Hpet),
        None => (pit_calibrate()?, Source::Pit),
    };
    TSC_HZ.store(hz, Ordering::Relaxed);
    Ok((hz, src))
}

fn hpet_calibrate(base: u64) -> Result<u64, CalibrationError> {
    let reg = |off: u64| (base + off) as *mut u64;
    // SAFETY: `base` is the HPET's register block from the ACPI HPET table,
    // identity-mapped uncached; 0x00 is capabilities, 0x10 configuration,
    // 0xf0 the main counter. Enabling the counter changes nothing else.
    let (period_fs, start_h, start_t) = unsafe {
        let period = reg(0).read_volatile() >> 32;
        let cfg = reg(0x10).read_volatile();
        reg(0x10).write_volatile(cfg | 1);
        (period, reg(0xf0).read_volatile(), rdtsc())
    };
    if period_fs == 0 || period_fs > 100_000_000 {
        return Err(CalibrationError::ClockStuck(Source::Hpet));
    }
    let ticks = 20_000_000_000_000u64 / period_fs; // 20 ms in fs / period.
    let mut spins = 0u64;
    loop {
        // SAFETY: as above.
        let (h, t) = unsafe { (reg(0xf0).read_volatile(), rdtsc()) };
        let dh = h.wrapping_sub(start_h) & 0xffff_ffff;
        if dh >= ticks {
            let fs = dh as u128 * period_fs as u128;
            return Ok(((t - start_t) as u128 * 1_000_000_000_000_000 / fs) as u64);
        }
        spins += 1;
        if spins > 200_000_000 {
            return Err(CalibrationError::ClockStuck(Source::Hpet));
        }
    }
}

fn pit_calibrate() -> Result<u64, CalibrationError> {
    const PIT_HZ: u64 = 1_193_182;
    const LATCH: u64 = PIT_HZ / 50; // 20 ms.
                                    // SAFETY: ports 0x42/0x43 are PIT channel 2 and its mode register,
                                    // 0x61 the speaker gate; channel 2 drives nothing but the speaker,
                                    // which stays off (bit 1 clear).
    let start = unsafe {
        outb(0x61, (inb(0x61) & !0x02) | 0x01);
        outb(0x43, 0xb0); // channel 2, lobyte/hibyte, mode 0, binary
        outb(0x42, (LATCH & 0xff) as u8);
        outb(0x42, (LATCH >> 8) as u8);
        rdtsc()
    };
    let mut spins = 0u64;
    // SAFETY: as above; bit 5 of 0x61 is channel 2's output.
    while unsafe { inb(0x61) } & 0x20 == 0 {
        spins += 1;
        if spins > 100_000_000 {
            return Err(CalibrationError::ClockStuck(Source::Pit));
        }
    }
    Ok((rdtsc() - start) * PIT_HZ / LATCH)
}

/// TSC ticks per second (0 before calibration).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// The TSC value `us` microseconds from now.
pub fn deadline_us(us: u64) -> u64 {
    rdtsc() + tsc_hz() / 1000 * us / 1000
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
    let hz = tsc_hz().max(1);
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}
