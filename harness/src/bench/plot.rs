//! The plots of `harness bench` ([`Figure`]s, written as SVG and PNG):
//! the latency distribution of each phase per experiment as a CDF on a log
//! scale of TSC cycles, the sync floor drawn across it
//! ([`LatencyCdf`]); and calls per second per AP on the ladder direct ->
//! checked -> checked under patching ([`Calls`]).

use crate::{
    bench::common::BenchRow,
    judge::stats,
    results::figure::{si, Figure, FONT},
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Room right of each chart for its legend, which never covers a curve.
const LEGEND_W: u32 = 320;
const LABEL_SIZE: f64 = 14.0;

/// The colour of an experiment: by its place among every experiment of
/// the bench, so that it is the same in each panel.
fn color_of(rows: &[BenchRow], name: &str) -> RGBColor {
    let mut names: Vec<&str> = Vec::new();
    for r in rows {
        if !names.contains(&r.experiment.as_str()) {
            names.push(&r.experiment);
        }
    }
    let i = names.iter().position(|n| *n == name).unwrap_or(0);
    COLORS[i % COLORS.len()]
}

/// How a legend row shows its series.
enum Mark {
    Line(RGBColor, u32),
    Dot(RGBColor),
}

/// A legend in its own area (right of a chart): a mark and a name a row,
/// from `top` down.
fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    top: i32,
    rows: &[(String, Mark)],
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let style =
        TextStyle::from((FONT, LABEL_SIZE).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, mark)) in rows.iter().enumerate() {
        let y = top + 22 * i as i32;
        match *mark {
            Mark::Line(c, w) => area
                .draw(&PathElement::new([(10, y), (34, y)], c.stroke_width(w)))
                .map_err(e)?,
            Mark::Dot(c) => area.draw(&Circle::new((22, y), 5, c.filled())).map_err(e)?,
        }
        area.draw(&Text::new(name.as_str(), (42, y), style.clone()))
            .map_err(e)?;
    }
    Ok(())
}

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

/// The latency CDFs (`latency-cdf`), one panel per phase, with the median
/// IPI sync floor of the boots' baselines as a vertical line.
pub struct LatencyCdf<'a> {
    pub rows: &'a [BenchRow],
    pub title: &'a str,
}

impl Figure for LatencyCdf<'_> {
    fn size(&self) -> (u32, u32) {
        (1100 + LEGEND_W, 1200)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let rows = self.rows;
        let root = root
            .titled(self.title, (FONT, 20))
            .map_err(|e| e.to_string())?;
        let floors: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.boot_floor_cycles.map(|c| c as f64))
            .collect();
        let floor = stats::median(&floors);
        for (phase, area) in root.split_evenly((3, 1)).iter().enumerate() {
            let (w, _) = area.dim_in_pixel();
            let (area, key) = area.split_horizontally(w - LEGEND_W);
            let mut keys = Vec::new();
            let s = series(rows, phase);
            let hi = s
                .iter()
                .flat_map(|(_, c)| c.iter().map(|p| p.0))
                .chain(floor)
                .fold(1e4f64, f64::max)
                * 2.0;
            let mut chart = ChartBuilder::on(&area)
                .caption(
                    format!(
                        "phase {} latency, CDF over every patch of every repeat",
                        phase + 1
                    ),
                    (FONT, 16),
                )
                .margin(10)
                .x_label_area_size(45)
                .y_label_area_size(70)
                .build_cartesian_2d((100f64..hi).log_scale(), 0f64..1f64)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(200, 200, 200))
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .x_label_formatter(&|v| si(*v))
                .x_desc("TSC cycles (log)")
                .y_desc("share of patches")
                .draw()
                .map_err(|e| e.to_string())?;
            for (name, c) in &s {
                let color = color_of(rows, name);
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
                    .map_err(|e| e.to_string())?;
                keys.push((name.clone(), Mark::Line(color, 2)));
            }
            if let Some(f) = floor {
                chart
                    .draw_series(LineSeries::new(
                        vec![(f, 0.0), (f, 1.0)],
                        BLACK.stroke_width(1),
                    ))
                    .map_err(|e| e.to_string())?;
                keys.push((
                    "boot's IPI sync round (median)".into(),
                    Mark::Line(BLACK, 1),
                ));
            }
            legend(&key, 40, &keys)?;
        }
        Ok(())
    }
}

/// Calls per second per AP (`calls`): per experiment (x) the direct,
/// checked and patched medians over the repeats, log scale.
pub struct Calls<'a> {
    pub rows: &'a [BenchRow],
    pub title: &'a str,
}

impl Figure for Calls<'_> {
    fn size(&self) -> (u32, u32) {
        (1100 + LEGEND_W, 600)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let rows = self.rows;
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
        {
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
            let (w, _) = root.dim_in_pixel();
            let (area, key) = root.split_horizontally(w - LEGEND_W);
            let mut keys = Vec::new();
            let mut chart = ChartBuilder::on(&area)
                .caption(self.title, (FONT, 18))
                .margin(15)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(-0.5f64..n as f64 - 0.5, (1e4f64..hi).log_scale())
                .map_err(|e| e.to_string())?;
            let labels = names.clone();
            chart
                .configure_mesh()
                .x_labels(n)
                .light_line_style(RGBColor(240, 240, 240))
                .bold_line_style(RGBColor(200, 200, 200))
                .label_style((FONT, LABEL_SIZE))
                .axis_desc_style((FONT, LABEL_SIZE))
                .y_label_formatter(&|v| si(*v))
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
                    .map_err(|e| e.to_string())?;
                keys.push((label.to_string(), Mark::Dot(color)));
            }
            legend(&key, 50, &keys)?;
        }
        Ok(())
    }
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
