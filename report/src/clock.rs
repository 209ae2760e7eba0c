//! Whether the TSC's frequency can be believed: the judgement the kernel
//! writes as its `clock` check and the harness makes again from the
//! figures of the [`crate::kind::TSC`] record.
//!
//! Every bounded wait of a run is a TSC deadline, so a wrong frequency
//! makes every timeout, rate and latency wrong with it, silently. The
//! kernel therefore measures the TSC against every reference clock the
//! machine has ([`MEASURED`]), reads the frequencies the CPU and the
//! hypervisor declare ([`DECLARED`]), and the figure it uses must be
//! plausible ([`MIN_HZ`]..=[`MAX_HZ`]) and agree with each other figure
//! within [`MAX_APART_PPM`].

/// Reference clocks the TSC is measured against, by their field names in
/// the `tsc` record: the HPET main counter, the ACPI PM timer (FADT), PIT
/// channel 2.
pub const MEASURED: [&str; 3] = ["hpet", "pmtimer", "pit"];

/// Frequencies the machine declares, by their field names: CPUID leaf
/// 0x15 (crystal times ratio), CPUID leaf 0x16 (base frequency, MHz), the
/// hypervisor's TSC leaf 0x40000010 (kHz).
pub const DECLARED: [&str; 3] = ["cpuid15", "cpuid16", "hv"];

/// The lowest TSC frequency believed: no x86_64 CPU runs its TSC slower.
pub const MIN_HZ: u64 = 100_000_000;

/// The highest TSC frequency believed.
pub const MAX_HZ: u64 = 10_000_000_000;

/// How far two figures may be apart, in parts per million of the smaller:
/// 3%. Calibration windows of a few ms with paired reads agree within a
/// fraction of that, a declared base frequency within about 1%.
pub const MAX_APART_PPM: u64 = 30_000;

/// Why the frequency cannot be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem<'a> {
    /// The frequency in use is outside [`MIN_HZ`]..=[`MAX_HZ`].
    Implausible {
        /// The reference it came from.
        source: &'a str,
        /// The figure.
        hz: u64,
    },
    /// Another reference disagrees with the one in use.
    Apart {
        /// The reference in use.
        source: &'a str,
        /// Its figure.
        hz: u64,
        /// The other reference.
        other: &'a str,
        /// Its figure.
        other_hz: u64,
        /// How far apart, ppm of the smaller figure.
        ppm: u64,
    },
}

/// `2600.000 MHz`.
struct Mhz(u64);

impl core::fmt::Display for Mhz {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:03} MHz", self.0 / 1_000_000, self.0 / 1000 % 1000)
    }
}

impl core::fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Problem::Implausible { source, hz } => write!(
                f,
                "TSC at {} from {source} is implausible (wanted {} to {})",
                Mhz(hz),
                Mhz(MIN_HZ),
                Mhz(MAX_HZ)
            ),
            Problem::Apart {
                source,
                hz,
                other,
                other_hz,
                ppm,
            } => write!(
                f,
                "TSC at {} from {source} but {} from {other}: {}.{}% apart (at most {}% allowed)",
                Mhz(hz),
                Mhz(other_hz),
                ppm / 10_000,
                ppm / 1000 % 10,
                MAX_APART_PPM / 10_000
            ),
        }
    }
}

/// How far apart `a` and `b` are, in ppm of the smaller (saturating; a
/// zero figure is infinitely far from any other).
pub fn apart_ppm(a: u64, b: u64) -> u64 {
    let (lo, hi) = (a.min(b), a.max(b));
    if lo == 0 {
        return if hi == 0 { 0 } else { u64::MAX };
    }
    let ppm = u128::from(hi - lo) * 1_000_000 / u128::from(lo);
    u64::try_from(ppm).unwrap_or(u64::MAX)
}

/// The problems with using `hz`, measured against `source`, given the
/// other figures `(name, hz)` (the source's own figure among them is
/// skipped): first whether `hz` is plausible, then each figure that
/// disagrees with it. None means the clock is believed.
pub fn problems<'a>(
    source: &'a str,
    hz: u64,
    figures: impl IntoIterator<Item = (&'a str, u64)>,
) -> impl Iterator<Item = Problem<'a>> {
    let implausible =
        (!(MIN_HZ..=MAX_HZ).contains(&hz)).then_some(Problem::Implausible { source, hz });
    let apart = figures
        .into_iter()
        .filter(move |&(name, _)| name != source)
        .filter_map(move |(other, other_hz)| {
            let ppm = apart_ppm(hz, other_hz);
            (ppm > MAX_APART_PPM).then_some(Problem::Apart {
                source,
                hz,
                other,
                other_hz,
                ppm,
            })
        });
    implausible.into_iter().chain(apart)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::{string::ToString, vec::Vec};

    fn all<'a>(source: &'a str, hz: u64, f: &[(&'a str, u64)]) -> Vec<Problem<'a>> {
        problems(source, hz, f.iter().copied()).collect()
    }

    #[test]
    fn three_references_within_a_fraction_of_a_percent_are_believed() {
        let f = [
            ("hpet", 2_600_000_000),
            ("pmtimer", 2_601_000_000),
            ("pit", 2_598_000_000),
        ];
        assert_eq!(all("hpet", 2_600_000_000, &f), []);
    }

    #[test]
    fn a_tsc_at_2_457_mhz_is_implausible_whatever_else_says() {
        let p = all("pit", 2_457_000, &[("pit", 2_457_000)]);
        assert_eq!(
            p,
            [Problem::Implausible {
                source: "pit",
                hz: 2_457_000
            }]
        );
        assert_eq!(
            p[0].to_string(),
            "TSC at 2.457 MHz from pit is implausible (wanted 100.000 MHz to 10000.000 MHz)"
        );
        assert_eq!(all("hpet", 10_000_000_001, &[]).len(), 1);
        assert_eq!(all("hpet", MAX_HZ, &[]), []);
        assert_eq!(all("hpet", MIN_HZ, &[]), []);
    }

    #[test]
    fn a_reference_25_percent_fast_disagrees_and_the_message_has_both_figures() {
        let p = all(
            "hpet",
            3_250_000_000,
            &[("hpet", 3_250_000_000), ("pmtimer", 2_600_000_000)],
        );
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].to_string(),
            "TSC at 3250.000 MHz from hpet but 2600.000 MHz from pmtimer: 25.0% apart (at most 3% allowed)"
        );
    }

    #[test]
    fn three_percent_apart_is_allowed_and_a_little_more_is_not() {
        assert_eq!(all("hpet", 1_030_000_000, &[("pit", 1_000_000_000)]), []);
        assert_eq!(
            all("hpet", 1_030_001_000, &[("pit", 1_000_000_000)]).len(),
            1
        );
        assert_eq!(all("hpet", 1_000_000_000, &[("pit", 1_030_000_000)]), []);
    }

    #[test]
    fn a_zero_figure_is_as_far_apart_as_can_be() {
        assert_eq!(apart_ppm(0, 5), u64::MAX);
        assert_eq!(apart_ppm(0, 0), 0);
        assert_eq!(all("hpet", 2_600_000_000, &[("cpuid16", 0)]).len(), 1);
    }
}
