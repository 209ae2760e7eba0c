//! How sure a count can make us: the bound on a rate that an `observe`
//! experiment reports beside its litmus7-style observation line. Pure.
//!
//! An experiment that saw `hits` bad outcomes in `n` trials has a rate
//! somewhere near `hits / n`; [`upper_bound`] says how high that rate
//! could still be at 95% confidence. It is the upper end of the *exact*
//! (Clopper–Pearson) interval: the rate `p` at which seeing `hits` or fewer
//! would be as unlikely as the interval's tail, found by bisection on the
//! binomial tail `P(X <= hits)` for `X ~ Binomial(n, p)` ([`binomial_cdf`]).
//!
//! The interval is two-sided (2.5% in each tail) except at an edge: with no
//! hit the lower end is 0 whatever happens, so the whole 5% goes to the
//! upper tail, and the bound is `1 - 0.05^(1/n)` (about `3/n`, the "rule
//! of three"). So 0 hits in 3000 calls bound the rate by 0.000998, and 5 in
//! 100 by 0.1128.

/// The confidence of every bound the harness prints.
pub const CONFIDENCE: f64 = 0.95;

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms: about 15 significant
/// digits, enough for the bound's 3 or 4).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln P(X = i)` for `X ~ Binomial(n, p)`, `0 < p < 1`.
fn ln_pmf(i: u64, n: u64, p: f64) -> f64 {
    let (i, n) = (i as f64, n as f64);
    ln_gamma(n + 1.0) - ln_gamma(i + 1.0) - ln_gamma(n - i + 1.0)
        + i * p.ln()
        + (n - i) * (-p).ln_1p()
}

/// Terms smaller than this share of the sum so far end a summation.
const NEGLIGIBLE: f64 = 1e-17;

/// `P(X <= k)` for `X ~ Binomial(n, p)`.
///
/// Summed in the tail that does not hold the mode, starting from the term
/// next to it (the largest of that tail) and walking away from the mode
/// with the ratio of neighbouring terms until the terms stop mattering: a
/// few times the standard deviation of terms, whatever `n` is.
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    if k >= n || p <= 0.0 {
        return 1.0;
    }
    if p >= 1.0 {
        return 0.0;
    }
    let mode = (((n + 1) as f64) * p).floor().min(n as f64) as u64;
    let odds = p / (1.0 - p);
    if k < mode {
        // Lower tail: terms grow towards k; walk down from it.
        let mut term = ln_pmf(k, n, p).exp();
        let mut sum = term;
        let mut i = k;
        while i > 0 && term > sum * NEGLIGIBLE {
            // P(i-1) = P(i) * i / (n - i + 1) / odds.
            term *= i as f64 / ((n - i + 1) as f64) / odds;
            sum += term;
            i -= 1;
        }
        sum.min(1.0)
    } else {
        // Upper tail from k + 1 (terms shrink away from the mode).
        let mut i = k + 1;
        let mut term = ln_pmf(i, n, p).exp();
        let mut sum = term;
        while i < n && term > sum * NEGLIGIBLE {
            // P(i+1) = P(i) * (n - i) / (i + 1) * odds.
            term *= ((n - i) as f64) / ((i + 1) as f64) * odds;
            sum += term;
            i += 1;
        }
        (1.0 - sum).max(0.0)
    }
}

/// The upper end of the exact (Clopper–Pearson) interval at `confidence`
/// for a rate seen `hits` times in `n` trials; `None` without trials. See
/// the [module docs](self) for the one-sided edge at 0 hits.
pub fn upper_bound(hits: u64, n: u64, confidence: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    if hits >= n {
        return Some(1.0);
    }
    let alpha = 1.0 - confidence;
    let tail = if hits == 0 { alpha } else { alpha / 2.0 };
    // P(X <= hits) falls from about 1/2 at p = hits/n to 0 at p = 1.
    let (mut lo, mut hi) = (hits as f64 / n as f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if binomial_cdf(hits, n, mid) > tail {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Some(hi)
}

/// The lower end of the same interval: `1 -` the upper end for the
/// misses (the interval is symmetric), 0 without hits; `None` without
/// trials.
pub fn lower_bound(hits: u64, n: u64, confidence: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    if hits == 0 {
        return Some(0.0);
    }
    upper_bound(n - hits.min(n), n, confidence).map(|u| 1.0 - u)
}

/// litmus7's word for how often an outcome was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Frequency {
    /// In none of the trials.
    Never,
    /// In some of them.
    Sometimes,
    /// In every one.
    Always,
}

impl Frequency {
    /// From a count.
    pub fn of(hits: u64, total: u64) -> Frequency {
        match hits {
            0 => Frequency::Never,
            h if h >= total => Frequency::Always,
            _ => Frequency::Sometimes,
        }
    }

    /// `Never`, `Sometimes`, `Always`.
    pub fn word(self) -> &'static str {
        match self {
            Frequency::Never => "Never",
            Frequency::Sometimes => "Sometimes",
            Frequency::Always => "Always",
        }
    }
}

/// A rate for people: `0.000998`, `1.2e-7`.
pub fn rate(x: f64) -> String {
    if x == 0.0 || (1e-3..=1.0).contains(&x) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

/// The median of `xs` (the mean of the middle two for an even count);
/// `None` for no values. NaNs are not expected and sort last.
pub fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The median, least and greatest of the samples of one figure over
/// repeated boots.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Spread {
    /// The median ([`median`]).
    pub median: f64,
    /// The least sample.
    pub min: f64,
    /// The greatest sample.
    pub max: f64,
}

impl Spread {
    /// Of `xs`; `None` for no samples.
    pub fn of(xs: &[f64]) -> Option<Spread> {
        let median = median(xs)?;
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { median, min, max })
    }

    /// `max / min - 1`: how far apart the samples lie, as a share of the
    /// least (0 for one sample; infinite when the least is not positive).
    pub fn relative(&self) -> f64 {
        if self.max == self.min {
            0.0
        } else if self.min <= 0.0 {
            f64::INFINITY
        } else {
            self.max / self.min - 1.0
        }
    }

    /// For a ratio: whether its samples are too spread to tell its effect
    /// from no effect. True when `min..=max` holds 1, or when the relative
    /// spread is wider than the median's distance from 1 on the same scale
    /// (a ratio `r` below 1 is the effect `1/r`: 0.5 and 2 are as far).
    pub fn ratio_unclear(&self) -> bool {
        if self.min <= 1.0 && 1.0 <= self.max {
            return true;
        }
        let m = self.median;
        if m <= 0.0 {
            return true;
        }
        self.relative() > m.max(1.0 / m) - 1.0
    }
}

/// Buckets of a latency histogram ([`bucket_of`]).
pub const HIST_BUCKETS: usize = 64;

/// The bucket of `x` in a latency histogram: 0 and 1 have their own;
/// from 2 up, each power of two is split in two halves, so bucket
/// `2*o + h` holds `[2^o + h*2^(o-1), 2^o + (h+1)*2^(o-1))`; the last
/// bucket (63) also holds everything from 2^32 up. The kernel's
/// `torture::hist` computes the same.
pub fn bucket_of(x: u64) -> usize {
    if x < 2 {
        return x as usize;
    }
    let o = 63 - x.leading_zeros() as usize;
    let h = ((x >> (o - 1)) & 1) as usize;
    (2 * o + h).min(HIST_BUCKETS - 1)
}

/// The half-open range `[lo, hi)` of bucket `b` ([`bucket_of`]).
pub fn bucket_range(b: usize) -> (u64, u64) {
    match b {
        0 => (0, 1),
        1 => (1, 2),
        _ => {
            let (o, h) = (b / 2, (b % 2) as u64);
            let lo = (1u64 << o) + h * (1u64 << (o - 1));
            (lo, lo + (1u64 << (o - 1)))
        }
    }
}

/// Decodes a histogram as the kernel sends it: `bucket:count` pairs
/// separated by `,` (empty buckets left out), or `-` for none. `None` if
/// it is malformed or names a bucket out of range.
pub fn decode_hist(s: &str) -> Option<[u64; HIST_BUCKETS]> {
    let mut h = [0u64; HIST_BUCKETS];
    if s == "-" || s.is_empty() {
        return Some(h);
    }
    for pair in s.split(',') {
        let (b, n) = pair.split_once(':')?;
        let b: usize = b.parse().ok()?;
        *h.get_mut(b)? += n.parse::<u64>().ok()?;
    }
    Some(h)
}

/// The `q`-quantile (0..=1) of a histogram: the upper end of the bucket
/// that holds the sample of rank `ceil(q * n)` (rank 1 at least), capped
/// by `max` when the greatest sample is known. An upper estimate, never
/// off by more than the width of one bucket (half the value at most).
/// `None` for an empty histogram.
pub fn hist_quantile(h: &[u64], q: f64, max: Option<u64>) -> Option<u64> {
    let n: u64 = h.iter().sum();
    if n == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (b, &c) in h.iter().enumerate() {
        seen += c;
        if seen >= rank {
            let hi = bucket_range(b).1 - 1;
            return Some(max.map_or(hi, |m| hi.min(m)));
        }
    }
    None
}

/// p50, p90, p99 and the greatest of a histogram ([`hist_quantile`]);
/// the greatest is `max` when known, else the top of the last bucket.
pub fn percentiles(h: &[u64], max: Option<u64>) -> Option<[u64; 4]> {
    Some([
        hist_quantile(h, 0.50, max)?,
        hist_quantile(h, 0.90, max)?,
        hist_quantile(h, 0.99, max)?,
        max.unwrap_or(hist_quantile(h, 1.0, None)?),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[9.0, 1.0, 4.0]), Some(4.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[track_caller]
    fn close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol,
            "wanted {want} within {tol}, got {got}"
        );
    }

    fn exact_cdf(k: u64, n: u64, p: f64) -> f64 {
        let mut c = 1.0f64; // C(n, 0)
        let mut sum = 0.0;
        for i in 0..=k.min(n) {
            if i > 0 {
                c *= (n - i + 1) as f64 / i as f64;
            }
            sum += c * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32);
        }
        sum
    }

    #[test]
    fn ln_gamma_knows_factorials_and_half() {
        close(ln_gamma(1.0), 0.0, 1e-13);
        close(ln_gamma(5.0), 24f64.ln(), 1e-12);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-12);
        // Stirling agrees far out, where the bound needs it.
        let x: f64 = 1e9;
        let stirling = (x - 0.5) * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI).ln();
        close(ln_gamma(x), stirling, 1e-4);
    }

    #[test]
    fn the_binomial_tail_matches_the_textbook_sum() {
        for &(k, n, p) in &[
            (0, 10, 0.1),
            (3, 10, 0.1),
            (5, 20, 0.5),
            (19, 20, 0.5),
            (2, 40, 0.3),
            (30, 40, 0.3),
        ] {
            close(binomial_cdf(k, n, p), exact_cdf(k, n, p), 1e-12);
        }
    }

    #[test]
    fn no_hit_in_3000_calls_bounds_the_rate_by_0_000998() {
        let b = upper_bound(0, 3000, CONFIDENCE).unwrap();
        close(b, 1.0 - 0.05f64.powf(1.0 / 3000.0), 1e-12);
        close(b, 0.000998, 1e-6);
    }

    #[test]
    fn five_hits_in_100_bound_the_rate_by_0_1128() {
        let b = upper_bound(5, 100, CONFIDENCE).unwrap();
        // The exact two-sided 95% interval for 5/100 is (0.0164, 0.1128).
        close(b, 0.112_835, 1e-5);
        // ... which is the "about 0.1124" the brief names, to 3 digits.
        close(b, 0.1124, 1e-3);
    }

    #[test]
    fn the_bound_holds_for_a_billion_calls_without_a_hit() {
        let b = upper_bound(0, 1_000_000_000, CONFIDENCE).unwrap();
        // -ln(0.05) / n, the rule of three.
        close(b / 2.995_732e-9, 1.0, 1e-4);
    }

    #[test]
    fn the_bound_lies_above_the_rate_and_grows_with_hits() {
        let n = 1_000_000;
        let mut last = 0.0;
        for hits in [0u64, 1, 10, 1000, 500_000, 999_999] {
            let b = upper_bound(hits, n, CONFIDENCE).unwrap();
            assert!(
                b > hits as f64 / n as f64 && b > last && b <= 1.0,
                "hits {hits}: bound {b} must exceed the rate and the bound for fewer hits ({last})"
            );
            last = b;
        }
    }

    #[test]
    fn every_trial_a_hit_bounds_by_one_and_no_trial_has_no_bound() {
        assert_eq!(upper_bound(7, 7, CONFIDENCE), Some(1.0));
        assert_eq!(upper_bound(0, 0, CONFIDENCE), None);
    }

    #[test]
    fn the_words_follow_litmus7() {
        assert_eq!(Frequency::of(0, 10).word(), "Never");
        assert_eq!(Frequency::of(3, 10).word(), "Sometimes");
        assert_eq!(Frequency::of(10, 10).word(), "Always");
    }

    #[test]
    fn a_spread_is_the_median_the_least_and_the_greatest() {
        let s = Spread::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        close(s.relative(), 2.0, 1e-12);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(Spread::of(&[4.0]).unwrap().relative(), 0.0);
    }

    #[test]
    fn a_ratio_whose_range_holds_one_is_unclear() {
        let s = Spread::of(&[0.9, 1.05, 1.2]).unwrap();
        assert!(s.ratio_unclear(), "{s:?} holds 1");
    }

    #[test]
    fn a_ratio_spread_wider_than_its_effect_is_unclear() {
        // 1.1 .. 1.5: spread 0.36, effect of the median 1.2 only 0.2.
        assert!(Spread::of(&[1.1, 1.2, 1.5]).unwrap().ratio_unclear());
        // 0.4 .. 0.6 (median 0.5, an effect of 2x): spread 0.5 < 1.
        assert!(!Spread::of(&[0.4, 0.5, 0.6]).unwrap().ratio_unclear());
        // A tight ratio far from 1 is clear.
        assert!(!Spread::of(&[0.019, 0.020, 0.021]).unwrap().ratio_unclear());
        // One sample has no spread: clear unless it is 1.
        assert!(!Spread::of(&[3.0]).unwrap().ratio_unclear());
        assert!(Spread::of(&[1.0]).unwrap().ratio_unclear());
    }

    #[test]
    fn buckets_split_each_power_of_two_in_halves() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1), 1);
        assert_eq!(bucket_of(2), 2);
        assert_eq!(bucket_of(3), 3);
        assert_eq!(bucket_of(4), 4);
        assert_eq!(bucket_of(5), 4);
        assert_eq!(bucket_of(6), 5);
        assert_eq!(bucket_of(1000), 19); // 512 + 256 <= 1000 < 1024
        assert_eq!(bucket_of(u64::MAX), 63);
        for x in [0u64, 1, 2, 3, 7, 8, 100, 1000, 123_456, (1 << 32) - 1] {
            let (lo, hi) = bucket_range(bucket_of(x));
            assert!(lo <= x && x < hi, "{x} not in [{lo}, {hi})");
        }
        for b in 2..HIST_BUCKETS - 1 {
            assert_eq!(bucket_range(b).1, bucket_range(b + 1).0, "bucket {b}");
        }
    }

    #[test]
    fn a_histogram_decodes_from_sparse_pairs() {
        let h = decode_hist("19:3,20:1").unwrap();
        assert_eq!((h[19], h[20], h.iter().sum::<u64>()), (3, 1, 4));
        assert_eq!(decode_hist("-").unwrap().iter().sum::<u64>(), 0);
        assert_eq!(decode_hist("64:1"), None, "bucket out of range");
        assert_eq!(decode_hist("19-3"), None, "malformed");
    }

    #[test]
    fn percentiles_of_a_known_histogram() {
        // 100 samples: 50 in [1024, 1536), 40 in [1536, 2048), 9 in
        // [4096, 6144), 1 in [65536, 98304).
        let mut h = [0u64; HIST_BUCKETS];
        h[bucket_of(1024)] = 50;
        h[bucket_of(1536)] = 40;
        h[bucket_of(4096)] = 9;
        h[bucket_of(65536)] = 1;
        assert_eq!(percentiles(&h, None), Some([1535, 2047, 6143, 98303]));
        // The greatest sample caps the top: p99 (rank 99) lies in the
        // 4096 bucket, the max is the one sample seen.
        assert_eq!(
            percentiles(&h, Some(70_000)),
            Some([1535, 2047, 6143, 70_000])
        );
        assert_eq!(percentiles(&[0u64; HIST_BUCKETS], None), None);
        // One sample: every percentile is its bucket (or its value).
        let mut one = [0u64; HIST_BUCKETS];
        one[bucket_of(3000)] = 1;
        assert_eq!(percentiles(&one, Some(3000)), Some([3000; 4]));
    }

    #[test]
    fn the_lower_bound_mirrors_the_upper_one_and_is_zero_without_hits() {
        assert_eq!(lower_bound(0, 100, CONFIDENCE), Some(0.0));
        assert_eq!(lower_bound(3, 0, CONFIDENCE), None);
        let (lo, hi) = (
            lower_bound(5, 100, CONFIDENCE).unwrap(),
            upper_bound(95, 100, CONFIDENCE).unwrap(),
        );
        assert!((lo - (1.0 - hi)).abs() < 1e-12);
        // 5 in 100: the exact interval is about [0.0164, 0.1128].
        assert!((lo - 0.0164).abs() < 5e-4, "{lo}");
        // All of them: at least 0.05^(1/n), the rule of three mirrored.
        let all = lower_bound(10, 10, CONFIDENCE).unwrap();
        assert!((all - 0.05f64.powf(0.1)).abs() < 1e-6, "{all}");
    }
}
