//! The TSC's frequency, measured against every reference clock the machine
//! has and checked against what it declares; [`crate::arch::tsc`] reckons
//! every deadline in it.
//!
//! The references ([`report::clock`] names them): the HPET main counter,
//! the ACPI PM timer (the FADT's port), PIT channel 2, each over a
//! [`WINDOW_US`] window; then the frequencies CPUID leaves 0x15 and 0x16
//! and the hypervisor's leaf 0x4000_0010 declare. The first measured
//! reference in that order (the PIT first with `tsc=pit`) sets the
//! frequency in use; every other figure goes into the `tsc` record beside
//! it, and [`report::clock::problems`] judges them all.
//!
//! Each end of a window is a *paired read*: TSC, reference, TSC, kept from
//! the attempt whose two TSC reads are closest, so that an interrupt, an
//! SMI or a descheduled vCPU between the reads cannot stretch the window.

use crate::arch::{
    clocks::{self, Hpet, PmTimer},
    cpu::{cpuid, rdtsc},
    tsc,
};

/// How long each reference is measured.
const WINDOW_US: u64 = 20_000;
/// Paired reads per end of a window; the tightest is kept.
const PAIR_TRIES: usize = 5;
/// A reference that reads the same value this many times in a row has
/// stopped (the slowest, the PIT, ticks every 0.84 us; a read takes longer).
const SAME_READS_STUCK: u32 = 100_000;
/// A window that has not closed after this many TSC ticks is abandoned
/// (over 4 s at any plausible frequency; the TSC's rate is not known yet).
const WINDOW_MAX_TSC: u64 = 1 << 34;

/// A clock the TSC can be measured against.
#[derive(Clone, Copy, Debug)]
pub enum Source {
    /// The HPET main counter.
    Hpet(Hpet),
    /// The ACPI PM timer.
    PmTimer(PmTimer),
    /// PIT channel 2.
    Pit,
}

impl Source {
    /// The name in records (one of [`report::clock::MEASURED`]).
    pub fn name(self) -> &'static str {
        match self {
            Source::Hpet(_) => report::clock::MEASURED[0],
            Source::PmTimer(_) => report::clock::MEASURED[1],
            Source::Pit => report::clock::MEASURED[2],
        }
    }
}

/// Why a reference gave no figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// The machine does not describe it (no ACPI table, no CPUID leaf).
    Absent,
    /// It reads as not there (the PIT's counter of a missing chip) or
    /// reports a nonsense rate.
    Bogus,
    /// It did not advance, or not within its window's bound.
    Stuck,
}

impl Missing {
    /// The word in the record.
    pub fn name(self) -> &'static str {
        match self {
            Missing::Absent => "absent",
            Missing::Bogus => "bogus",
            Missing::Stuck => "stuck",
        }
    }
}

/// Every reference's figure (Hz) or why there is none, in the order of
/// [`report::clock::MEASURED`] then [`report::clock::DECLARED`].
pub type Figures = [(&'static str, Result<u64, Missing>); 6];

/// What calibration found.
pub struct Calibration {
    /// The frequency in use.
    pub hz: u64,
    /// The reference it came from.
    pub source: &'static str,
    /// Every figure.
    pub figures: Figures,
    /// The reference whose reading `tsc=skew` scaled, if any.
    pub skewed: Option<&'static str>,
    /// Rounds measured (more than one when a round's figures disagreed).
    pub rounds: u32,
}

/// Why calibration failed.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub enum CalibrationError {
    /// No reference clock could be measured.
    NoClock,
}

/// `tsc=skew`: the first measured reference reads this fraction of its
/// real elapsed ticks, so the TSC looks 5/4 as fast.
const SKEW: (u64, u64) = (4, 5);

/// Rounds of measurement at most: a round whose figures disagree (a vCPU
/// descheduled across a window, an SMI) is measured again; a reference
/// that is really off disagrees every time.
const ROUNDS: u32 = 3;

/// Measures the TSC against every reference of `hpet` (the HPET's base),
/// `pm` (the ACPI PM timer) and the PIT, reads the declared frequencies,
/// and remembers the first measured figure (the PIT's first with
/// `pit_first`). `skew`: scale the first reference's reading (a negative
/// control of the judgement).
pub fn calibrate(
    hpet: Option<Hpet>,
    pm: Option<PmTimer>,
    pit_first: bool,
    skew: bool,
) -> Result<Calibration, CalibrationError> {
    let sources = [
        hpet.map(Source::Hpet),
        pm.map(Source::PmTimer),
        Some(Source::Pit),
    ];
    let mut order = [0usize, 1, 2];
    if pit_first {
        order = [2, 0, 1];
    }
    let names = [
        report::clock::MEASURED[0],
        report::clock::MEASURED[1],
        report::clock::MEASURED[2],
        report::clock::DECLARED[0],
        report::clock::DECLARED[1],
        report::clock::DECLARED[2],
    ];
    let declared = declared();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut figures: Figures = names.map(|n| (n, Err(Missing::Absent)));
        let mut used: Option<(usize, u64)> = None;
        let mut skewed = None;
        for i in order {
            let Some(src) = sources[i] else { continue };
            let scale = if skew && used.is_none() && skewed.is_none() {
                skewed = Some(src.name());
                SKEW
            } else {
                (1, 1)
            };
            figures[i].1 = measure(src, scale);
            if let (None, Ok(hz)) = (used, figures[i].1) {
                used = Some((i, hz));
            }
        }
        figures[3].1 = declared[0];
        figures[4].1 = declared[1];
        figures[5].1 = declared[2];
        let (i, hz) = used.ok_or(CalibrationError::NoClock)?;
        let numbers = figures.iter().filter_map(|&(n, f)| Some((n, f.ok()?)));
        let agree = report::clock::problems(names[i], hz, numbers)
            .next()
            .is_none();
        if agree || rounds == ROUNDS {
            tsc::set_hz(hz);
            return Ok(Calibration {
                hz,
                source: names[i],
                figures,
                skewed,
                rounds,
            });
        }
    }
}

/// One reference: a counter read, the bits it counts, its rate.
struct Counter<R: Fn() -> u64> {
    read: R,
    mask: u64,
    /// Ticks per second as `num / den`.
    hz: (u64, u64),
}

/// TSC then the counter then TSC, `PAIR_TRIES` times; the counter value
/// with the TSC midpoint of the tightest pair.
fn paired(read: &impl Fn() -> u64) -> (u64, u64) {
    let mut best = (u64::MAX, 0, 0);
    for _ in 0..PAIR_TRIES {
        let t1 = rdtsc();
        let v = read();
        let t2 = rdtsc();
        let width = t2.wrapping_sub(t1);
        if width < best.0 {
            best = (width, t1 + width / 2, v);
        }
    }
    (best.1, best.2)
}

/// The TSC's rate against `c` over [`WINDOW_US`], the counter's elapsed
/// ticks scaled by `scale`.
fn window<R: Fn() -> u64>(c: &Counter<R>, scale: (u64, u64)) -> Result<u64, Missing> {
    let want = (c.hz.0 * WINDOW_US / 1_000_000 / c.hz.1).max(1);
    let (t0, v0) = paired(&c.read);
    // Ticks add up read by read, so that a counter shorter than the
    // window's real length (the PIT wraps every 55 ms; a descheduled vCPU
    // can be away longer) is only misread if one gap between two reads
    // exceeds its whole period.
    let mut total = 0u64;
    let mut last = v0;
    let mut same = 0u32;
    while total < want {
        let v = (c.read)();
        if v == last {
            same += 1;
            if same >= SAME_READS_STUCK {
                return Err(Missing::Stuck);
            }
        } else {
            same = 0;
            total += v.wrapping_sub(last) & c.mask;
            last = v;
        }
        if rdtsc().wrapping_sub(t0) > WINDOW_MAX_TSC {
            return Err(Missing::Stuck);
        }
        core::hint::spin_loop();
    }
    let (t1, v1) = paired(&c.read);
    total += v1.wrapping_sub(last) & c.mask;
    let ticks = total * scale.0 / scale.1;
    if ticks == 0 {
        return Err(Missing::Stuck);
    }
    // TSC ticks per counter tick, times counter ticks per second.
    let hz = u128::from(t1.wrapping_sub(t0)) * u128::from(c.hz.0)
        / (u128::from(ticks) * u128::from(c.hz.1));
    u64::try_from(hz).map_err(|_| Missing::Bogus)
}

fn measure(src: Source, scale: (u64, u64)) -> Result<u64, Missing> {
    match src {
        Source::Hpet(h) => hpet(h, scale),
        Source::PmTimer(t) => pm_timer(t, scale),
        Source::Pit => pit(scale),
    }
}

fn hpet(h: Hpet, scale: (u64, u64)) -> Result<u64, Missing> {
    let period_fs = h.enable();
    // The specification allows periods up to 100 ns.
    if period_fs == 0 || period_fs > 100_000_000 {
        return Err(Missing::Bogus);
    }
    let c = Counter {
        // Only its low 32 bits are used (32-bit HPETs).
        read: || h.counter(),
        mask: 0xffff_ffff,
        hz: (1_000_000_000_000_000, period_fs),
    };
    window(&c, scale)
}

/// The ACPI PM timer's rate (ACPI specification, 4.8.2.1).
const PM_TIMER_HZ: u64 = 3_579_545;

fn pm_timer(t: PmTimer, scale: (u64, u64)) -> Result<u64, Missing> {
    let c = Counter {
        read: || u64::from(t.read()),
        mask: if t.bits32() { 0xffff_ffff } else { 0xff_ffff },
        hz: (PM_TIMER_HZ, 1),
    };
    window(&c, scale)
}

/// PIT channel 2's input clock.
const PIT_HZ: u64 = 1_193_182;

fn pit(scale: (u64, u64)) -> Result<u64, Missing> {
    clocks::pit2_start();
    let count = clocks::pit2_count;
    // A missing PIT reads as 0xffff (an open bus), and never moves.
    let first = count();
    if first == 0xffff && (0..1000).all(|_| count() == 0xffff) {
        return Err(Missing::Bogus);
    }
    // The counter counts down: its negation counts up, modulo 2^16.
    let c = Counter {
        read: || u64::from(count().wrapping_neg()),
        mask: 0xffff,
        hz: (PIT_HZ, 1),
    };
    window(&c, scale)
}

/// The frequencies the machine declares: CPUID 0x15, CPUID 0x16, the
/// hypervisor leaf 0x4000_0010.
fn declared() -> [Result<u64, Missing>; 3] {
    let max_leaf = cpuid(0, 0).0;
    let leaf15 = if max_leaf >= 0x15 {
        // EAX denominator, EBX numerator, ECX crystal Hz (0: not given).
        let (den, num, crystal, _) = cpuid(0x15, 0);
        if den != 0 && num != 0 && crystal != 0 {
            Ok(u64::from(crystal) * u64::from(num) / u64::from(den))
        } else {
            Err(Missing::Absent)
        }
    } else {
        Err(Missing::Absent)
    };
    let leaf16 = if max_leaf >= 0x16 {
        match cpuid(0x16, 0).0 & 0xffff {
            0 => Err(Missing::Absent),
            mhz => Ok(u64::from(mhz) * 1_000_000),
        }
    } else {
        Err(Missing::Absent)
    };
    let hypervisor = cpuid(1, 0).2 & (1 << 31) != 0;
    let hv = if hypervisor && cpuid(0x4000_0000, 0).0 >= 0x4000_0010 {
        match cpuid(0x4000_0010, 0).0 {
            0 => Err(Missing::Absent),
            khz => Ok(u64::from(khz) * 1000),
        }
    } else {
        Err(Missing::Absent)
    };
    [leaf15, leaf16, hv]
}
