//! The plots of `harness bench` (SVG, with `plotters`): the latency
//! distribution of each phase per experiment as a CDF on a log scale of
//! TSC cycles, the sync floor drawn across it; and calls per second per
//! AP on the ladder direct -> checked -> checked under patching.
//!
//! Text is left to the SVG viewer (`plotters` without a font library), so
//! the images build and render anywhere.

use crate::{bench::BenchRow, stats};
use plotters::prelude::*;

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The CDF points of a histogram: at the top of each non-empty bucket,
/// the share of samples at or below it.
pub fn cdf(h: &[u64]) -> Vec<(f64, f64)> {
    let n: u64 = h.iter().sum();
    let mut seen = 0;
    let mut v = Vec::new();
    for (b, &c) in h.iter().enumerate() {
        if c > 0 {
            seen += c;
            v.push((stats::bucket_range(b).1 as f64, seen as f64 / n as f64));
        }
    }
    v
}

/// Per experiment (at the first CPU count), each phase's histogram merged
/// over the repeats, and the median floor.
fn series(rows: &[BenchRow], phase: usize) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<u64>)> = Vec::new();
    for r in rows {
        let Some(h) = &r.hists[phase] else { continue };
        match out.iter_mut().find(|(n, _)| *n == r.experiment) {
            Some((_, acc)) => acc.iter_mut().zip(h).for_each(|(a, b)| *a += b),
            None => out.push((r.experiment.clone(), h.clone())),
        }
    }
    out.into_iter()
        .map(|(n, h)| (n, cdf(&h)))
        .filter(|(_, c)| c.first().is_some_and(|p| p.0 > 1.0))
        .collect()
}

/// The latency CDFs, one panel per phase, with the median IPI sync floor
/// of the boots' baselines as a vertical line.
pub fn latency_cdf_svg(rows: &[BenchRow], title: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 1200)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let root = root
            .titled(title, ("sans-serif", 20))
            .map_err(|e| e.to_string())?;
        let floors: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.boot_floor_cycles.map(|c| c as f64))
            .collect();
        let floor = stats::median(&floors);
        for (phase, area) in root.split_evenly((3, 1)).iter().enumerate() {
            let s = series(rows, phase);
            let hi = s
                .iter()
                .flat_map(|(_, c)| c.iter().map(|p| p.0))
                .chain(floor)
                .fold(1e4f64, f64::max)
                * 2.0;
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!(
                        "phase {} latency, CDF over every patch of every repeat",
                        phase + 1
                    ),
                    ("sans-serif", 16),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(50)
                .build_cartesian_2d((100f64..hi).log_scale(), 0f64..1f64)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(200, 200, 200))
                .x_desc("TSC cycles (log)")
                .y_desc("share of patches")
                .draw()
                .map_err(|e| e.to_string())?;
            for (i, (name, c)) in s.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                // A step function: flat up to each bucket's top.
                let mut pts = vec![(c[0].0 / 1.5, 0.0)];
                let mut last = 0.0;
                for &(x, y) in c {
                    pts.push((x, last));
                    pts.push((x, y));
                    last = y;
                }
                chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(|e| e.to_string())?
                    .label(name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
            }
            if let Some(f) = floor {
                chart
                    .draw_series(LineSeries::new(
                        vec![(f, 0.0), (f, 1.0)],
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?
                    .label("boot's IPI sync round (median)")
                    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Calls per second per AP: per experiment (x) the direct, checked and
/// patched medians over the repeats, log scale.
pub fn calls_svg(rows: &[BenchRow], title: &str) -> Result<String, String> {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.experiment.as_str()) {
            names.push(&r.experiment);
        }
    }
    let med = |name: &str, pick: &dyn Fn(&BenchRow) -> Option<u64>| {
        let xs: Vec<f64> = rows
            .iter()
            .filter(|r| r.experiment == name)
            .filter_map(|r| pick(r).map(|x| x as f64))
            .collect();
        stats::median(&xs)
    };
    type Pick = fn(&BenchRow) -> Option<u64>;
    let ladder: [(&str, Pick); 3] = [
        ("direct call", |r| r.direct_calls_per_s),
        ("checked call, never patched", |r| r.checked_calls_per_s),
        ("checked call under patching", |r| {
            Some(r.calls_per_s_per_ap)
        }),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1200, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let hi = rows
            .iter()
            .flat_map(|r| {
                [
                    r.direct_calls_per_s,
                    r.checked_calls_per_s,
                    Some(r.calls_per_s_per_ap),
                ]
            })
            .flatten()
            .max()
            .unwrap_or(1) as f64
            * 3.0;
        let n = names.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (1e4f64..hi).log_scale())
            .map_err(|e| e.to_string())?;
        let labels = names.clone();
        chart
            .configure_mesh()
            .x_labels(n)
            .light_line_style(RGBColor(240, 240, 240))
            .bold_line_style(RGBColor(200, 200, 200))
            .x_label_formatter(&|x| {
                let i = x.round() as usize;
                if (x - x.round()).abs() < 0.01 {
                    labels.get(i).map_or(String::new(), |s| s.to_string())
                } else {
                    String::new()
                }
            })
            .y_desc("calls per second per AP (log)")
            .draw()
            .map_err(|e| e.to_string())?;
        for (k, (label, pick)) in ladder.iter().enumerate() {
            let color = COLORS[k];
            let pts: Vec<(f64, f64)> = names
                .iter()
                .enumerate()
                .filter_map(|(i, nm)| {
                    med(nm, pick).map(|y| (i as f64 + (k as f64 - 1.0) * 0.15, y))
                })
                .collect();
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 6, color.filled())))
                .map_err(|e| e.to_string())?
                .label(*label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdf_rises_to_one_at_the_top_of_the_last_bucket() {
        let mut h = [0u64; stats::HIST_BUCKETS];
        h[stats::bucket_of(1000)] = 3;
        h[stats::bucket_of(5000)] = 1;
        assert_eq!(cdf(&h), vec![(1024.0, 0.75), (6144.0, 1.0)]);
        assert!(cdf(&[0u64; stats::HIST_BUCKETS]).is_empty());
    }
}
