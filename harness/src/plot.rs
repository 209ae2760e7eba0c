//! The latency plot of a run (`latency.svg`), written by hand as SVG.
//! Pure: numbers in, text out.
//!
//! One group of three bars per experiment that completed patches: the
//! mean TSC cycles of each phase per patch (`p1_cycles`..`p3_cycles`; the
//! `int3` phases cover, operand, uncover, each with its sync; for `atomic`
//! and `naive` phase 1 is the write and phase 2 the sync), experiments
//! grouped by strategy, on a logarithmic axis. Two
//! dashed reference lines: the boot's sync floor, one IPI round and one
//! cpumask round with no code modified (the `baseline` record of the same
//! boot); and a black tick per experiment: its own floor, one sync round
//! measured inside the experiment while the executors ran
//! (`floor_cycles`). Names of experiments that failed are red.

use crate::judge::{
    experiment::{ExpJudgement, Verdict},
    Baseline,
};
use std::fmt::Write as _;

const PHASES: [(&str, &str, &str); 3] = [
    (
        "p1_cycles",
        "phase 1 (int3: cover + sync; atomic, naive: the write)",
        "#4e79a7",
    ),
    (
        "p2_cycles",
        "phase 2 (int3: operand + sync; atomic, naive: the sync)",
        "#f28e2b",
    ),
    ("p3_cycles", "phase 3 (int3: uncover + sync)", "#59a14f"),
];
const BAR: f64 = 4.0;
const SLOT: f64 = 3.0 * BAR + 5.0;
const GROUP_GAP: f64 = 18.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 92.0;
const PLOT_H: f64 = 360.0;
const BOTTOM: f64 = 290.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG document.
pub fn latency_svg(
    exps: &[ExpJudgement],
    baseline: Option<&Baseline>,
    tsc_hz: Option<u64>,
    title: &str,
) -> String {
    let shown: Vec<&ExpJudgement> = exps
        .iter()
        .filter(|j| j.n("patches") > 0 && j.n("p1_cycles") > 0)
        .collect();
    // Groups by strategy, in order of first appearance.
    let mut groups: Vec<(String, Vec<&ExpJudgement>)> = Vec::new();
    for j in &shown {
        let s = j.name.split('/').next().unwrap_or("?").to_string();
        match groups.iter_mut().find(|(g, _)| *g == s) {
            Some((_, v)) => v.push(j),
            None => groups.push((s, vec![j])),
        }
    }
    let refs: Vec<(String, u64, &str)> = baseline
        .map(|b| {
            [
                ("IPI sync round", b.ipi_sync_cycles, "#d62728"),
                ("cpumask sync round", b.cpumask_sync_cycles, "#9467bd"),
            ]
            .into_iter()
            .filter_map(|(n, c, col)| Some((n.to_string(), c.filter(|&c| c > 0)?, col)))
            .collect()
        })
        .unwrap_or_default();
    let mut values: Vec<u64> = shown
        .iter()
        .flat_map(|j| {
            PHASES
                .iter()
                .map(|(k, _, _)| j.n(k))
                .chain([j.n("floor_cycles")])
        })
        .chain(refs.iter().map(|r| r.1))
        .filter(|&v| v > 0)
        .collect();
    values.sort_unstable();
    let lo = values.first().copied().unwrap_or(1).max(1) as f64;
    let hi = values.last().copied().unwrap_or(10).max(10) as f64;
    let (dlo, dhi) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let y = |v: f64| TOP + PLOT_H - (v.max(1.0).log10() - dlo) / (dhi - dlo) * PLOT_H;

    // A group is as wide as its bars, or its name.
    let group_w = |g: &str, n: usize| (n as f64 * SLOT).max(g.len() as f64 * 7.5 + 6.0);
    let plot_w: f64 = groups
        .iter()
        .map(|(g, v)| group_w(g, v.len()) + GROUP_GAP)
        .sum::<f64>()
        .max(320.0);
    let width = LEFT + plot_w + 30.0;
    let height = TOP + PLOT_H + BOTTOM;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{}</text>"#,
        esc(title)
    );
    let unit = match tsc_hz {
        Some(hz) if hz > 0 => format!(
            "mean TSC cycles per patch, log scale; TSC {:.3} GHz: 1 us = {} cycles",
            hz as f64 / 1e9,
            hz / 1_000_000
        ),
        _ => "mean TSC cycles per patch, log scale".into(),
    };
    let _ = writeln!(s, r#"<text x="{LEFT}" y="38">{}</text>"#, esc(&unit));
    // Legend.
    let mut lx = LEFT;
    for (_, label, col) in PHASES {
        let _ = writeln!(
            s,
            r#"<rect x="{lx}" y="50" width="10" height="10" fill="{col}"/><text x="{}" y="59">{}</text>"#,
            lx + 14.0,
            esc(label)
        );
        lx += 14.0 + label.len() as f64 * 6.2 + 16.0;
    }
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="74" x2="{}" y2="74" stroke="black" stroke-width="2"/><text x="{}" y="78">the experiment's own floor (one sync round inside it)</text>"#,
        LEFT + 14.0,
        LEFT + 18.0
    );
    let mut rx = LEFT + 330.0;
    for (name, c, col) in &refs {
        let text = format!("boot baseline: {name}, {c} cycles");
        let _ = writeln!(
            s,
            r#"<line x1="{rx}" y1="74" x2="{}" y2="74" stroke="{col}" stroke-dasharray="5,3" stroke-width="1.5"/><text x="{}" y="78">{}</text>"#,
            rx + 20.0,
            rx + 24.0,
            esc(&text)
        );
        rx += 24.0 + text.len() as f64 * 6.2 + 16.0;
    }
    // Axis and decades.
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="black"/>"#,
        TOP + PLOT_H
    );
    let _ = writeln!(
        s,
        r#"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="black"/>"#,
        TOP + PLOT_H,
        LEFT + plot_w
    );
    let mut d = dlo;
    while d <= dhi + 0.5 {
        let yy = y(10f64.powf(d));
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">1e{d:.0}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            yy + 4.0
        );
        d += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text transform="translate(18,{:.1}) rotate(-90)" text-anchor="middle">TSC cycles</text>"#,
        TOP + PLOT_H / 2.0
    );
    if shown.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}">no experiment completed a patch</text>"#,
            LEFT + 20.0,
            TOP + PLOT_H / 2.0
        );
    }
    // Bars.
    let mut x = LEFT + GROUP_GAP / 2.0;
    for (g, v) in &groups {
        let gw = group_w(g, v.len());
        let _ = writeln!(
            s,
            r##"<rect x="{:.1}" y="{TOP}" width="{:.1}" height="{PLOT_H}" fill="#f4f4f4"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"##,
            x - 3.0,
            gw + 6.0 - 5.0,
            x + gw / 2.0,
            TOP - 4.0,
            esc(g)
        );
        let end = x + gw;
        x += (gw - v.len() as f64 * SLOT) / 2.0;
        for j in v {
            for (i, (k, label, col)) in PHASES.iter().enumerate() {
                let val = j.n(k);
                if val == 0 {
                    continue;
                }
                let top = y(val as f64);
                let _ = writeln!(
                    s,
                    r#"<rect x="{:.1}" y="{top:.1}" width="{BAR}" height="{:.1}" fill="{col}"><title>{}: {} {val} cycles</title></rect>"#,
                    x + i as f64 * BAR,
                    (TOP + PLOT_H - top).max(0.5),
                    esc(&j.name),
                    esc(label)
                );
            }
            let floor = j.n("floor_cycles");
            if floor > 0 {
                let fy = y(floor as f64);
                let _ = writeln!(
                    s,
                    r#"<line x1="{:.1}" y1="{fy:.1}" x2="{:.1}" y2="{fy:.1}" stroke="black" stroke-width="2"><title>{}: floor {floor} cycles</title></line>"#,
                    x - 1.0,
                    x + 3.0 * BAR + 1.0,
                    esc(&j.name)
                );
            }
            let col = if matches!(j.verdict, Verdict::Fail | Verdict::Kfail) {
                "#d62728"
            } else {
                "black"
            };
            let lx = x + 1.5 * BAR + 3.0;
            let ly = TOP + PLOT_H + 8.0;
            let _ = writeln!(
                s,
                r#"<text transform="translate({lx:.1},{ly:.1}) rotate(90)" font-size="10" fill="{col}">{}</text>"#,
                esc(&j.name)
            );
            x += SLOT;
        }
        x = end + GROUP_GAP;
    }
    for (name, c, col) in &refs {
        let ry = y(*c as f64);
        let _ = writeln!(
            s,
            r#"<line x1="{LEFT}" y1="{ry:.1}" x2="{:.1}" y2="{ry:.1}" stroke="{col}" stroke-dasharray="5,3" stroke-width="1.5"><title>{}: {c} cycles</title></line>"#,
            LEFT + plot_w,
            esc(name)
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::experiment::{Platform, Via, Where};

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
            },
            boot: "shared".into(),
            line: Some(1),
        }
    }

    #[test]
    fn the_plot_has_a_bar_per_phase_a_floor_tick_and_the_boot_floors() {
        let svg = latency_svg(
            &[
                exp(
                    "int3/gap/ipi/qword/timer",
                    [1000, 2000, 3000],
                    500,
                    Verdict::Pass,
                ),
                exp("atomic/-/ipi/qword", [800, 0, 0], 400, Verdict::Fail),
            ],
            Some(&Baseline {
                direct_calls_per_s: Some(1),
                checked_calls_per_s: Some(1),
                ipi_sync_cycles: Some(300),
                cpumask_sync_cycles: Some(200),
            }),
            Some(2_600_000_000),
            "test <plot>",
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert_eq!(
            svg.matches("<rect x=").count() - 3 - 2,
            4,
            "4 bars (3 + 1), 3 legend boxes, 2 group bands:\n{svg}"
        );
        assert_eq!(svg.matches("floor 500 cycles").count(), 1);
        assert!(
            svg.contains("IPI sync round: 300 cycles")
                && svg.contains("cpumask sync round: 200 cycles")
        );
        assert!(svg.contains("test &lt;plot&gt;"), "the title is escaped");
        assert!(
            svg.contains(r##"fill="#d62728">atomic/-/ipi/qword"##),
            "a failed experiment is named in red"
        );
    }

    #[test]
    fn a_run_without_patches_still_gives_a_valid_plot() {
        let svg = latency_svg(&[], None, None, "empty");
        assert!(svg.contains("no experiment completed a patch") && svg.ends_with("</svg>\n"));
    }
}
