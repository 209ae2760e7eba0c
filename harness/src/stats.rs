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
}
