//! Per-phase histograms of patch latency, sent after each experiment as
//! one [`kind::HIST`] record per phase, so that the harness can give
//! percentiles instead of a mean.
//!
//! The buckets are those of the harness's `stats::bucket_of`: 0 and 1 have
//! their own; from 2 up each power of two is split in two halves, bucket
//! `2*o + h` holding `[2^o + h*2^(o-1), 2^o + (h+1)*2^(o-1))`; the last
//! also holds everything from 2^32 cycles up. Only the patcher (the BSP)
//! adds to them, between [`reset`] and [`emit`].

use crate::record;
use core::{
    fmt,
    sync::atomic::{AtomicU64, Ordering},
};
use report::kind;

/// Buckets per histogram.
pub const BUCKETS: usize = 64;

static HIST: [[AtomicU64; BUCKETS]; 3] = [const { [const { AtomicU64::new(0) }; BUCKETS] }; 3];

/// The bucket of `x` (see the module doc).
pub fn bucket_of(x: u64) -> usize {
    if x < 2 {
        return x as usize;
    }
    let o = 63 - x.leading_zeros() as usize;
    let h = ((x >> (o - 1)) & 1) as usize;
    (2 * o + h).min(BUCKETS - 1)
}

/// Empties every histogram.
pub fn reset() {
    for h in &HIST {
        for b in h {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Counts one patch's phase `phase` (0..3) taking `cycles`.
pub fn add(phase: usize, cycles: u64) {
    let b = &HIST[phase][bucket_of(cycles)];
    // Only the patcher writes: a load and a store, no locked instruction.
    b.store(b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// `bucket:count` pairs of the non-empty buckets, `,` between; `-` if none.
struct Sparse<'a>(&'a [AtomicU64; BUCKETS]);

impl fmt::Display for Sparse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (b, n) in self.0.iter().enumerate() {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                write!(f, "{}{b}:{n}", if first { "" } else { "," })?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// Sends one record per phase for experiment `name`.
pub fn emit(name: &dyn fmt::Display) {
    for (i, h) in HIST.iter().enumerate() {
        let n: u64 = h.iter().map(|b| b.load(Ordering::Relaxed)).sum();
        record::emit(kind::HIST, |r| {
            r.display("exp", name)
                .u64("phase", i as u64 + 1)
                .u64("n", n)
                .display("buckets", Sparse(h));
        });
    }
}
