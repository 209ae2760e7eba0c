//! The latency plot of a run (`latency.svg`, `latency.png`): a
//! [`Figure`] drawn with `plotters`. Pure: numbers in, image out.
//!
//! One group of three bars per experiment that completed patches: the
//! mean TSC cycles of each phase per patch (`p1_cycles`..`p3_cycles`; the
//! `int3` phases cover, operand, uncover, each with its sync; for `atomic`
//! and `naive` phase 1 is the write and phase 2 the sync), experiments
//! grouped by strategy (a grey band each), on a logarithmic axis. Two
//! dashed reference lines: the boot's sync floor, one IPI round and one
//! cpumask round with no code modified (the `baseline` record of the same
//! boot); and a black tick per experiment: its own floor, one sync round
//! measured inside the experiment while the executors ran
//! (`floor_cycles`). Names of experiments that failed are red.

use crate::{
    judge::{
        experiment::{ExpJudgement, Verdict},
        Baseline,
    },
    results::figure::{si, Figure, FONT},
};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const PHASES: [(&str, &str, RGBColor); 3] = [
    (
        "p1_cycles",
        "phase 1 (int3: cover + sync; atomic, naive: the write)",
        RGBColor(0x4e, 0x79, 0xa7),
    ),
    (
        "p2_cycles",
        "phase 2 (int3: operand + sync; atomic, naive: the sync)",
        RGBColor(0xf2, 0x8e, 0x2b),
    ),
    (
        "p3_cycles",
        "phase 3 (int3: uncover + sync)",
        RGBColor(0x59, 0xa1, 0x4f),
    ),
];
const FAILED: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const BAND: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
const REFS: [(&str, RGBColor); 2] = [
    ("IPI sync round", RGBColor(0xd6, 0x27, 0x28)),
    ("cpumask sync round", RGBColor(0x94, 0x67, 0xbd)),
];
/// Pixels per experiment (its three bars and some air); a group's gap.
const SLOT: u32 = 18;
/// The header: title, unit line, three legend rows.
const HEADER: u32 = 130;
const LEFT: u32 = 80;
const RIGHT: u32 = 20;
const PLOT_H: u32 = 380;
const MIN_W: u32 = 960;
const NAME_SIZE: f64 = 13.0;
const TEXT_SIZE: f64 = 14.0;
const TITLE_SIZE: f64 = 20.0;

/// The latency plot of one run's experiments.
pub struct Latency<'a> {
    pub exps: &'a [ExpJudgement],
    /// The boot's `baseline` record: its sync rounds are the dashed lines.
    pub baseline: Option<&'a Baseline>,
    pub tsc_hz: Option<u64>,
    pub title: &'a str,
}

/// The experiments of one strategy, in x units of one experiment slot.
struct Group<'a> {
    name: String,
    /// Its band, `[x0, x1)`.
    x0: f64,
    x1: f64,
    /// Per experiment, the judgement and the left edge of its slot.
    exps: Vec<(&'a ExpJudgement, f64)>,
}

/// Where everything goes.
struct Layout<'a> {
    groups: Vec<Group<'a>>,
    /// Slots on the x axis, the gaps included.
    width: f64,
}

fn text_width(s: &str, size: f64) -> u32 {
    FontDesc::new(FontFamily::Name(FONT), size, FontStyle::Normal)
        .box_size(s)
        .map_or(s.len() as u32 * size as u32 * 6 / 10, |(w, _)| w)
}

impl<'a> Latency<'a> {
    fn shown(&self) -> impl Iterator<Item = &'a ExpJudgement> {
        self.exps
            .iter()
            .filter(|j| j.n("patches") > 0 && j.n("p1_cycles") > 0)
    }

    fn layout(&self) -> Layout<'a> {
        // Groups by strategy, in order of first appearance.
        let mut by: Vec<(String, Vec<&'a ExpJudgement>)> = Vec::new();
        for j in self.shown() {
            let s = j.name.split('/').next().unwrap_or("?").to_string();
            match by.iter_mut().find(|(g, _)| *g == s) {
                Some((_, v)) => v.push(j),
                None => by.push((s, vec![j])),
            }
        }
        let mut x = 0.5;
        let mut groups = Vec::new();
        for (g, v) in by {
            // A group is as wide as its bars, or its name.
            let name_slots = f64::from(text_width(&g, TEXT_SIZE) + 8) / f64::from(SLOT);
            let w = (v.len() as f64).max(name_slots.ceil());
            let pad = (w - v.len() as f64) / 2.0;
            let exps = v
                .into_iter()
                .enumerate()
                .map(|(i, j)| (j, x + pad + i as f64))
                .collect();
            groups.push(Group {
                name: g,
                x0: x,
                x1: x + w,
                exps,
            });
            x += w + 1.0;
        }
        Layout {
            groups,
            width: x - 0.5,
        }
    }

    /// The boot's sync rounds that were measured.
    fn refs(&self) -> Vec<(&'static str, u64, RGBColor)> {
        let Some(b) = self.baseline else {
            return vec![];
        };
        [b.ipi_sync_cycles, b.cpumask_sync_cycles]
            .into_iter()
            .zip(REFS)
            .filter_map(|(c, (n, col))| Some((n, c.filter(|&c| c > 0)?, col)))
            .collect()
    }

    /// The decades of the y axis: `(10^lo, 10^hi)`.
    fn y_range(&self) -> (f64, f64) {
        let values: Vec<u64> = self
            .shown()
            .flat_map(|j| {
                PHASES
                    .iter()
                    .map(|(k, _, _)| j.n(k))
                    .chain([j.n("floor_cycles")])
            })
            .chain(self.refs().iter().map(|r| r.1))
            .filter(|&v| v > 0)
            .collect();
        let lo = values.iter().min().copied().unwrap_or(1).max(1) as f64;
        let hi = values.iter().max().copied().unwrap_or(10).max(10) as f64;
        let dlo = lo.log10().floor();
        let dhi = hi.log10().ceil().max(dlo + 1.0);
        (10f64.powf(dlo), 10f64.powf(dhi))
    }

    /// Height of the area under the axis: the longest name, standing.
    fn names_h(&self) -> u32 {
        self.shown()
            .map(|j| text_width(&j.name, NAME_SIZE))
            .max()
            .unwrap_or(0)
            + 24
    }
}

impl Figure for Latency<'_> {
    fn size(&self) -> (u32, u32) {
        let w = LEFT + (self.layout().width * f64::from(SLOT)).ceil() as u32 + RIGHT;
        // As wide as the title too: it names the run.
        let w = w.max(MIN_W).max(text_width(self.title, TITLE_SIZE) + 20);
        (w, HEADER + 30 + PLOT_H + self.names_h())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let text = TextStyle::from((FONT, TEXT_SIZE).into_font());
        let layout = self.layout();
        let refs = self.refs();
        let (header, body) = root.split_vertically(HEADER);

        // Header: title, unit, legend in two columns.
        header
            .draw(&Text::new(self.title, (10, 8), (FONT, TITLE_SIZE)))
            .map_err(e)?;
        let unit = match self.tsc_hz {
            Some(hz) if hz > 0 => format!(
                "mean TSC cycles per patch, log scale; TSC {:.3} GHz: 1 us = {} cycles",
                hz as f64 / 1e9,
                hz / 1_000_000
            ),
            _ => "mean TSC cycles per patch, log scale".into(),
        };
        header
            .draw(&Text::new(unit, (10, 36), text.clone()))
            .map_err(e)?;
        let row = |i: usize| 62 + 20 * i as i32;
        for (i, (_, label, col)) in PHASES.iter().enumerate() {
            let y = row(i);
            header
                .draw(&Rectangle::new([(10, y), (22, y + 12)], col.filled()))
                .map_err(e)?;
            header
                .draw(&Text::new(*label, (30, y - 1), text.clone()))
                .map_err(e)?;
        }
        let x2 = 500;
        header
            .draw(&PathElement::new(
                [(x2, row(0) + 6), (x2 + 22, row(0) + 6)],
                BLACK.stroke_width(2),
            ))
            .map_err(e)?;
        header
            .draw(&Text::new(
                "the experiment's own floor (one sync round inside it)",
                (x2 + 30, row(0) - 1),
                text.clone(),
            ))
            .map_err(e)?;
        for (i, (name, c, col)) in refs.iter().enumerate() {
            let y = row(i + 1) + 6;
            for k in 0..3 {
                header
                    .draw(&PathElement::new(
                        [(x2 + 8 * k, y), (x2 + 8 * k + 5, y)],
                        col.stroke_width(2),
                    ))
                    .map_err(e)?;
            }
            header
                .draw(&Text::new(
                    format!("boot baseline: {name}, {c} cycles"),
                    (x2 + 30, y - 7),
                    text.clone(),
                ))
                .map_err(e)?;
        }

        // The chart: x in slots, y in cycles.
        let (ylo, yhi) = self.y_range();
        let xw = layout.width.max(1.0);
        let mut chart = ChartBuilder::on(&body)
            .margin_top(30)
            .margin_right(RIGHT)
            .x_label_area_size(self.names_h())
            .y_label_area_size(LEFT)
            .build_cartesian_2d(0f64..xw, (ylo..yhi).log_scale())
            .map_err(e)?;
        chart
            .draw_series(layout.groups.iter().map(|&Group { x0, x1, .. }| {
                Rectangle::new([(x0 - 0.2, ylo), (x1 + 0.2, yhi)], BAND.filled())
            }))
            .map_err(e)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(200, 200, 200))
            .y_label_formatter(&|v| si(*v))
            .y_label_style(text.clone())
            .y_desc("TSC cycles (log)")
            .axis_desc_style(text.clone())
            .draw()
            .map_err(e)?;
        let top = Pos::new(HPos::Center, VPos::Bottom);
        chart
            .draw_series(layout.groups.iter().map(|g| {
                EmptyElement::at(((g.x0 + g.x1) / 2.0, yhi))
                    + Text::new(g.name.clone(), (0, -6), text.clone().pos(top))
            }))
            .map_err(e)?;
        if layout.groups.is_empty() {
            chart
                .draw_series([Text::new(
                    "no experiment completed a patch",
                    (0.05 * xw, (ylo * yhi).sqrt()),
                    text.clone(),
                )])
                .map_err(e)?;
        }
        let exps = || layout.groups.iter().flat_map(|g| g.exps.iter());
        for (i, (k, _, col)) in PHASES.iter().enumerate() {
            chart
                .draw_series(exps().filter(|(j, _)| j.n(k) > 0).map(|(j, x)| {
                    let x0 = x + 0.125 + 0.25 * i as f64;
                    Rectangle::new([(x0, ylo), (x0 + 0.25, j.n(k) as f64)], col.filled())
                }))
                .map_err(e)?;
        }
        chart
            .draw_series(
                exps()
                    .filter(|(j, _)| j.n("floor_cycles") > 0)
                    .map(|(j, x)| {
                        let f = j.n("floor_cycles") as f64;
                        PathElement::new([(x + 0.05, f), (x + 0.95, f)], BLACK.stroke_width(2))
                    }),
            )
            .map_err(e)?;
        for (_, c, col) in &refs {
            let c = *c as f64;
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, c), (xw, c)],
                    6,
                    4,
                    col.stroke_width(2),
                ))
                .map_err(e)?;
        }
        // The names stand under the axis, one per slot, red if it failed.
        let base = root.get_base_pixel();
        for (j, x) in exps() {
            let (px, py) = chart.backend_coord(&(x + 0.5, ylo));
            let col = if matches!(j.verdict, Verdict::Fail | Verdict::Kfail) {
                FAILED
            } else {
                BLACK
            };
            let style = (FONT, NAME_SIZE)
                .into_font()
                .transform(FontTransform::Rotate90)
                .color(&col)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(
                j.name.as_str(),
                (px - base.0, py - base.1 + 8),
                style,
            ))
            .map_err(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::seen::{Platform, Via, Where};
    use crate::results::figure;

    fn exp(name: &str, p: [u64; 3], floor: u64, verdict: Verdict) -> ExpJudgement {
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("patches".to_string(), 10);
        for (i, k) in ["p1_cycles", "p2_cycles", "p3_cycles"].iter().enumerate() {
            counters.insert(k.to_string(), p[i]);
        }
        counters.insert("floor_cycles".to_string(), floor);
        ExpJudgement {
            name: name.into(),
            expectation: "must-pass".into(),
            outcome: "pass".into(),
            verdict,
            reasons: vec![],
            known: None,
            notes: vec![],
            kernel_met: Some(true),
            error: None,
            counters,
            observation: None,
            caught: None,
            stuck: vec![],
            failures: vec![],
            seen: Where {
                platform: Platform::Tcg,
                qemu: None,
                via: Via::Qemu,
                cpu: "test".into(),
                hypervisor: None,
                firmware: None,
                emulator: None,
                hypervisor_bit: None,
            },
            boot: "shared".into(),
            line: Some(1),
        }
    }

    /// The text of the SVG element that holds `text`, from its `<`.
    fn element_of<'a>(svg: &'a str, text: &str) -> &'a str {
        let at = svg
            .find(&format!(">\n{text}\n</text>"))
            .unwrap_or_else(|| panic!("no text {text:?} in:\n{svg}"));
        &svg[svg[..at].rfind('<').unwrap()..at]
    }

    fn two() -> Vec<ExpJudgement> {
        vec![
            exp(
                "int3/gap/ipi/qword/timer",
                [1000, 2000, 3000],
                500,
                Verdict::Pass,
            ),
            exp("atomic/-/ipi/qword", [800, 0, 0], 400, Verdict::Fail),
        ]
    }

    const BASELINE: Baseline = Baseline {
        direct_calls_per_s: Some(1),
        checked_calls_per_s: Some(1),
        ipi_sync_cycles: Some(300),
        cpumask_sync_cycles: Some(200),
        ipi_sync_timeouts: None,
        cpumask_sync_timeouts: None,
    };

    #[test]
    fn the_plot_has_a_bar_per_phase_a_floor_tick_and_the_boot_floors() {
        let exps = two();
        let svg = figure::svg(&Latency {
            exps: &exps,
            baseline: Some(&BASELINE),
            tsc_hz: Some(2_600_000_000),
            title: "test <plot>",
        })
        .unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // Filled rectangles per phase colour: one in the legend, one per bar.
        let filled = |c: RGBColor| {
            svg.matches(&format!(
                r##"fill="#{:02X}{:02X}{:02X}" stroke="none""##,
                c.0, c.1, c.2
            ))
            .count()
        };
        let bars: Vec<usize> = PHASES.iter().map(|p| filled(p.2) - 1).collect();
        assert_eq!(
            bars,
            [2, 1, 1],
            "phase 1 of both, 2 and 3 of int3 only:\n{svg}"
        );
        assert_eq!(filled(BAND), 2, "a band per strategy");
        for g in ["int3", "atomic"] {
            element_of(&svg, g);
        }
        // The floor ticks: one in the legend, one per experiment.
        assert_eq!(
            svg.matches(r##"stroke="#000000" stroke-width="2""##)
                .count(),
            3,
            "{svg}"
        );
        for t in [
            "boot baseline: IPI sync round, 300 cycles",
            "boot baseline: cpumask sync round, 200 cycles",
            "mean TSC cycles per patch, log scale; TSC 2.600 GHz: 1 us = 2600 cycles",
            "phase 3 (int3: uncover + sync)",
        ] {
            element_of(&svg, t);
        }
        element_of(&svg, "test &lt;plot&gt;");
        assert!(
            element_of(&svg, "atomic/-/ipi/qword").contains(r##"fill="#D62728""##),
            "a failed experiment is named in red"
        );
        assert!(
            element_of(&svg, "int3/gap/ipi/qword/timer").contains(r##"fill="#000000""##),
            "a passed one in black"
        );
    }

    #[test]
    fn the_png_is_the_same_figure() {
        let exps = two();
        let f = Latency {
            exps: &exps,
            baseline: Some(&BASELINE),
            tsc_hz: None,
            title: "png",
        };
        let png = figure::png(&f).unwrap();
        let (w, h) = f.size();
        assert!(png.starts_with(b"\x89PNG") && w >= MIN_W && h > PLOT_H);
        assert_eq!(&png[16..24], [w.to_be_bytes(), h.to_be_bytes()].concat());
    }

    #[test]
    fn a_run_without_patches_still_gives_a_valid_plot() {
        let svg = figure::svg(&Latency {
            exps: &[],
            baseline: None,
            tsc_hz: None,
            title: "empty",
        })
        .unwrap();
        element_of(&svg, "no experiment completed a patch");
        assert!(figure::png(&Latency {
            exps: &[],
            baseline: None,
            tsc_hz: None,
            title: "empty",
        })
        .is_ok());
    }
}
