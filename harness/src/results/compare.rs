//! `harness compare RUN_A RUN_B`: two runs' experiments side by side.
//!
//! Each run is read from its `summary.json` (a run directory or the file
//! itself). Experiments are paired by name; for each pair the table gives
//! the verdict on both sides, the failures by kind, and patches, calls,
//! `#BP` hits and the mean patch latency (the three phases added up) with
//! the ratio B / A. The latency is compared in time where both summaries
//! give their TSC's frequency (two platforms' TSCs need not tick alike:
//! Bochs' runs at its `ips`), else in TSC cycles. What changed stands out: pairs
//! whose verdict differs come first, worst change first, then experiments
//! that only one run has, then the rest. `--json` writes the same
//! comparison for machines.
//!
//! Comparing is reading: it never fails on what it finds (status 0), only
//! on a run it cannot read (status 2).

use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

/// The failure counters of an `exp` record, in the order they are shown.
pub const FAILURE_KINDS: &[&str] = &["wrong", "faults", "stray_bp", "stale_bp", "stale_call"];

/// The counters compared as figures, with the ratio B / A.
pub const FIGURES: &[&str] = &[
    "patches",
    "calls",
    "bp_hits",
    "latency_ns",
    "latency_cycles",
];

/// One experiment of one run, as far as a comparison needs it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// PASS, FAIL, SKIP or KFAIL.
    pub verdict: String,
    /// `failures` and the failure counters of [`FAILURE_KINDS`].
    pub failures: BTreeMap<String, u64>,
    /// The figures of [`FIGURES`] (absent when the kernel sent no count).
    pub figures: BTreeMap<String, u64>,
}

/// One run: where it was seen and its experiments by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Run {
    /// The summary it was read from.
    pub path: PathBuf,
    /// Where, for people: accelerator, QEMU version when known, CPUs, model.
    pub label: String,
    /// Experiments by name, in the run's order.
    #[serde(skip)]
    pub order: Vec<String>,
    /// Experiments by name.
    pub experiments: BTreeMap<String, Side>,
}

/// How one name fares across the two runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The verdict got worse (PASS or KFAIL or SKIP to FAIL, PASS to KFAIL).
    Worse,
    /// The verdict got better.
    Better,
    /// The verdict changed between two that rank alike (SKIP and KFAIL).
    Other,
    /// Only run A has it.
    OnlyA,
    /// Only run B has it.
    OnlyB,
    /// Same verdict.
    Same,
}

/// One row of the comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The experiment.
    pub name: String,
    /// What changed.
    pub change: Change,
    /// Run A's side.
    pub a: Option<Side>,
    /// Run B's side.
    pub b: Option<Side>,
    /// B / A for each figure both sides have and A's is not zero.
    pub ratios: BTreeMap<String, f64>,
}

/// The whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    /// Run A.
    pub a: Run,
    /// Run B.
    pub b: Run,
    /// The rows, what changed first.
    pub rows: Vec<Row>,
    /// How many rows of each [`Change`].
    pub counts: BTreeMap<String, usize>,
}

/// Finds the summary of a run: `PATH/summary.json`, or `PATH` itself.
pub fn summary_path(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        let s = path.join("summary.json");
        if s.is_file() {
            return Ok(s);
        }
        bail!(
            "{}: no summary.json in this directory (a run directory under out/runs/ has one; \
             a matrix directory does not: compare the row's own run directory)",
            path.display()
        );
    }
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    bail!("{}: no such run directory or file", path.display())
}

/// Reads a run from its directory or summary file.
pub fn load(path: &Path) -> Result<Run> {
    let file = summary_path(path)?;
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let v: Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON (a run's summary.json)", file.display()))?;
    from_summary(&v, file)
}

/// A run from a parsed `summary.json`.
pub fn from_summary(v: &Value, path: PathBuf) -> Result<Run> {
    let Some(list) = v.get("experiments").and_then(Value::as_array) else {
        bail!(
            "{}: no `experiments` list: not the summary of an experiment run \
             (a platform-only or control run has nothing to compare)",
            path.display()
        );
    };
    let mut order = Vec::new();
    // The TSC's frequency: a judged boot's facts, or the first boot of a
    // run of experiments.
    let tsc_hz = v
        .pointer("/facts/tsc_hz")
        .or_else(|| v.pointer("/boots/0/tsc_hz"))
        .and_then(Value::as_u64)
        .filter(|&hz| hz > 0);
    let mut experiments = BTreeMap::new();
    for (i, e) in list.iter().enumerate() {
        let name = e
            .get("name")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: experiment {} has no name", path.display(), i + 1))?;
        let verdict = e
            .get("verdict")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: experiment {name} has no verdict", path.display()))?;
        let counters = e.get("counters");
        let count = |k: &str| counters.and_then(|c| c.get(k)).and_then(Value::as_u64);
        let mut failures = BTreeMap::new();
        for k in std::iter::once("failures").chain(FAILURE_KINDS.iter().copied()) {
            if let Some(n) = count(k) {
                failures.insert(k.to_string(), n);
            }
        }
        let mut figures = BTreeMap::new();
        for k in ["patches", "calls", "bp_hits"] {
            if let Some(n) = count(k) {
                figures.insert(k.to_string(), n);
            }
        }
        let phases: Option<Vec<u64>> = ["p1_cycles", "p2_cycles", "p3_cycles"]
            .iter()
            .map(|k| count(k))
            .collect();
        if let Some(p) = phases {
            let cycles: u64 = p.iter().sum();
            match tsc_hz {
                Some(hz) => figures.insert(
                    "latency_ns".into(),
                    (cycles as f64 * 1e9 / hz as f64).round() as u64,
                ),
                None => figures.insert("latency_cycles".into(), cycles),
            };
        }
        if experiments
            .insert(
                name.to_string(),
                Side {
                    verdict: verdict.to_string(),
                    failures,
                    figures,
                },
            )
            .is_some()
        {
            bail!("{}: experiment {name} appears twice", path.display());
        }
        order.push(name.to_string());
    }
    Ok(Run {
        label: label(v),
        path,
        order,
        experiments,
    })
}

/// Where a run was seen, for people: `tcg 7.2.22, -smp 2, qemu64, 60 ms`.
fn label(v: &Value) -> String {
    let s = |p: &[&str]| {
        let mut cur = v;
        for k in p {
            cur = cur.get(k)?;
        }
        match cur {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let platform = s(&["seen", "emulator"])
        .or_else(|| s(&["seen", "platform"]))
        .or_else(|| s(&["accel", "accel"]))
        .unwrap_or_else(|| "?".into());
    let version = s(&["qemu", "version"])
        .or_else(|| s(&["qemu_version"]))
        .filter(|_| s(&["seen", "emulator"]).is_none());
    let mut out = match version {
        Some(ver) => format!("{platform} {ver}"),
        None => platform,
    };
    if let Some(n) = s(&["smp"]) {
        let _ = write!(out, ", -smp {n}");
    }
    // An emulator's name carries its CPU model already.
    if let Some(c) = s(&["cpu"]).filter(|_| s(&["seen", "emulator"]).is_none()) {
        let _ = write!(out, ", -cpu {c}");
    }
    if let Some(ms) = s(&["ms"]) {
        let _ = write!(out, ", {ms} ms");
    }
    out
}

/// How bad a verdict is: FAIL worst, then KFAIL, then SKIP, then PASS.
fn rank(verdict: &str) -> u8 {
    match verdict {
        "FAIL" => 3,
        "KFAIL" => 2,
        "SKIP" => 1,
        _ => 0,
    }
}

fn change(a: Option<&Side>, b: Option<&Side>) -> Change {
    match (a, b) {
        (Some(a), Some(b)) if a.verdict == b.verdict => Change::Same,
        (Some(a), Some(b)) => {
            let (ra, rb) = (rank(&a.verdict), rank(&b.verdict));
            match rb.cmp(&ra) {
                std::cmp::Ordering::Greater if rb >= 2 => Change::Worse,
                std::cmp::Ordering::Less if ra >= 2 => Change::Better,
                _ => Change::Other,
            }
        }
        (Some(_), None) => Change::OnlyA,
        (None, _) => Change::OnlyB,
    }
}

/// Pairs the experiments of two runs.
pub fn compare(a: Run, b: Run) -> Comparison {
    let mut names: Vec<&String> = a.order.iter().collect();
    names.extend(b.order.iter().filter(|n| !a.experiments.contains_key(*n)));
    let mut rows: Vec<Row> = names
        .into_iter()
        .map(|name| {
            let (sa, sb) = (a.experiments.get(name), b.experiments.get(name));
            let mut ratios = BTreeMap::new();
            if let (Some(sa), Some(sb)) = (sa, sb) {
                for k in FIGURES {
                    if let (Some(&x), Some(&y)) = (sa.figures.get(*k), sb.figures.get(*k)) {
                        if x > 0 {
                            ratios.insert(k.to_string(), y as f64 / x as f64);
                        }
                    }
                }
            }
            Row {
                name: name.clone(),
                change: change(sa, sb),
                a: sa.cloned(),
                b: sb.cloned(),
                ratios,
            }
        })
        .collect();
    // Stable: within a kind of change, the runs' own order.
    rows.sort_by_key(|r| r.change);
    let mut counts = BTreeMap::new();
    for r in &rows {
        *counts.entry(change_word(r.change).to_string()).or_insert(0) += 1;
    }
    Comparison { a, b, rows, counts }
}

/// A word for a change.
pub fn change_word(c: Change) -> &'static str {
    match c {
        Change::Worse => "worse",
        Change::Better => "better",
        Change::Other => "changed",
        Change::OnlyA => "only in A",
        Change::OnlyB => "only in B",
        Change::Same => "same",
    }
}

fn failures_text(s: &Side) -> String {
    let total = s.failures.get("failures").copied().unwrap_or(0);
    let kinds: Vec<String> = FAILURE_KINDS
        .iter()
        .filter_map(|k| {
            s.failures
                .get(*k)
                .filter(|&&n| n > 0)
                .map(|n| format!("{k} {n}"))
        })
        .collect();
    if kinds.is_empty() {
        total.to_string()
    } else {
        format!("{total} ({})", kinds.join(", "))
    }
}

/// The latency ratio: in time where both sides gave it, else in cycles.
fn latency(ratios: &BTreeMap<String, f64>) -> Option<&f64> {
    ratios
        .get("latency_ns")
        .or_else(|| ratios.get("latency_cycles"))
}

fn ratio_text(r: Option<&f64>) -> String {
    match r {
        Some(r) if *r >= 100.0 => format!("{r:.0}x"),
        Some(r) if *r >= 10.0 => format!("{r:.1}x"),
        Some(r) => format!("{r:.2}x"),
        None => "-".into(),
    }
}

/// The comparison as a table for people.
pub fn render(c: &Comparison, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "A  {}  [{}]", c.a.path.display(), c.a.label);
    let _ = writeln!(out, "B  {}  [{}]", c.b.path.display(), c.b.label);
    let width = c
        .rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let _ = writeln!(
        out,
        "{:<9} {:<width$}  {:<5} -> {:<5}  {:>8} {:>8} {:>8} {:>8}  failures A -> B",
        "change", "experiment", "A", "B", "patches", "calls", "#BP", "latency"
    );
    let mut hidden = 0;
    for r in &c.rows {
        if r.change == Change::Same && !all {
            hidden += 1;
            continue;
        }
        let v = |s: &Option<Side>| s.as_ref().map_or("-".to_string(), |s| s.verdict.clone());
        let f = |s: &Option<Side>| s.as_ref().map_or("-".to_string(), failures_text);
        let _ = writeln!(
            out,
            "{:<9} {:<width$}  {:<5} -> {:<5}  {:>8} {:>8} {:>8} {:>8}  {} -> {}",
            change_word(r.change),
            r.name,
            v(&r.a),
            v(&r.b),
            ratio_text(r.ratios.get("patches")),
            ratio_text(r.ratios.get("calls")),
            ratio_text(r.ratios.get("bp_hits")),
            ratio_text(latency(&r.ratios)),
            f(&r.a),
            f(&r.b),
        );
    }
    if hidden > 0 {
        let _ = writeln!(
            out,
            "({hidden} experiment(s) with the same verdict on both sides not shown; --all shows them)"
        );
    }
    let figures = |k: &str| {
        let rs: Vec<f64> = c
            .rows
            .iter()
            .filter_map(|r| r.ratios.get(k).copied())
            .collect();
        crate::judge::stats::median(&rs)
    };
    let _ = writeln!(
        out,
        "median B/A over paired experiments: patches {}, calls {}, #BP {}, latency {}",
        ratio_text(figures("patches").as_ref()),
        ratio_text(figures("calls").as_ref()),
        ratio_text(figures("bp_hits").as_ref()),
        ratio_text(figures("latency_ns").or(figures("latency_cycles")).as_ref()),
    );
    let order = [
        Change::Worse,
        Change::Better,
        Change::Other,
        Change::OnlyA,
        Change::OnlyB,
        Change::Same,
    ];
    let counts: Vec<String> = order
        .iter()
        .map(|&ch| {
            format!(
                "{} {}",
                c.counts.get(change_word(ch)).copied().unwrap_or(0),
                change_word(ch)
            )
        })
        .collect();
    let _ = writeln!(out, "{}", counts.join(", "));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exp(name: &str, verdict: &str, failures: u64, stale: u64, patches: u64) -> Value {
        json!({
            "name": name,
            "verdict": verdict,
            "counters": {
                "failures": failures, "wrong": failures - stale, "faults": 0,
                "stray_bp": 0, "stale_bp": stale, "stale_call": 0,
                "patches": patches, "calls": 1000, "bp_hits": 10,
                "p1_cycles": 100, "p2_cycles": 100, "p3_cycles": 200
            }
        })
    }

    fn run(platform: &str, version: &str, exps: Vec<Value>) -> Run {
        let v = json!({
            "smp": 2, "ms": 60, "cpu": null,
            "seen": {"platform": platform},
            "qemu": {"version": version},
            "experiments": exps,
        });
        from_summary(&v, PathBuf::from(format!("{version}/summary.json"))).unwrap()
    }

    #[test]
    fn a_bochs_run_is_named_by_its_emulator_and_latency_is_compared_in_time() {
        let qemu = from_summary(
            &json!({
                "smp": 2, "ms": 60, "seen": {"platform": "tcg"}, "qemu": {"version": "7.2.22"},
                "boots": [{"tsc_hz": 2_000_000_000u64}],
                "experiments": [exp("x", "PASS", 0, 0, 8)],
            }),
            PathBuf::from("q/summary.json"),
        )
        .unwrap();
        let bochs = from_summary(
            &json!({
                "smp": 2, "ms": 60,
                "seen": {"platform": "emulator", "emulator": "bochs 2.7, corei5_lynnfield_750"},
                "facts": {"tsc_hz": 100_000_000u64},
                "experiments": [exp("x", "PASS", 0, 0, 8)],
            }),
            PathBuf::from("b/summary.json"),
        )
        .unwrap();
        assert_eq!(qemu.label, "tcg 7.2.22, -smp 2, 60 ms");
        assert_eq!(
            bochs.label,
            "bochs 2.7, corei5_lynnfield_750, -smp 2, 60 ms"
        );
        // 400 cycles: 200 ns at 2 GHz, 4000 ns at 100 MHz.
        let c = compare(qemu, bochs);
        assert_eq!(c.rows[0].ratios["latency_ns"], 20.0);
        assert!(!c.rows[0].ratios.contains_key("latency_cycles"));
    }

    #[test]
    fn a_changed_verdict_comes_before_the_unchanged_ones_worst_first() {
        let a = run(
            "tcg",
            "7.2.22",
            vec![
                exp("same", "PASS", 0, 0, 8),
                exp("fixed", "KFAIL", 10, 10, 8),
                exp("broke", "PASS", 0, 0, 8),
            ],
        );
        let b = run(
            "tcg",
            "10.0.2",
            vec![
                exp("same", "PASS", 0, 0, 16),
                exp("fixed", "PASS", 0, 0, 8),
                exp("broke", "FAIL", 3, 0, 8),
            ],
        );
        let c = compare(a, b);
        let names: Vec<(&str, Change)> = c.rows.iter().map(|r| (&*r.name, r.change)).collect();
        assert_eq!(
            names,
            [
                ("broke", Change::Worse),
                ("fixed", Change::Better),
                ("same", Change::Same)
            ]
        );
        assert_eq!(c.rows[2].ratios["patches"], 2.0);
        assert_eq!(c.rows[2].ratios["latency_cycles"], 1.0);
    }

    #[test]
    fn the_table_names_both_platforms_and_the_failure_kinds() {
        let a = run("tcg", "7.2.22", vec![exp("x", "KFAIL", 10, 10, 8)]);
        let b = run("tcg", "10.0.2", vec![exp("x", "FAIL", 7, 2, 8)]);
        let t = render(&compare(a, b), false);
        assert!(t.contains("[tcg 7.2.22, -smp 2, 60 ms]"), "{t}");
        assert!(t.contains("[tcg 10.0.2, -smp 2, 60 ms]"), "{t}");
        assert!(
            t.contains("worse     x           KFAIL -> FAIL"),
            "wanted the changed verdict on one line:\n{t}"
        );
        assert!(
            t.contains("10 (stale_bp 10) -> 7 (wrong 5, stale_bp 2)"),
            "{t}"
        );
        assert!(t.contains("1 worse, 0 better"), "{t}");
    }

    #[test]
    fn experiments_of_one_run_only_are_listed_as_such() {
        let a = run("tcg", "7.2.22", vec![exp("old", "PASS", 0, 0, 8)]);
        let b = run("tcg", "10.0.2", vec![exp("new", "PASS", 0, 0, 8)]);
        let c = compare(a, b);
        assert_eq!(c.rows[0].change, Change::OnlyA);
        assert_eq!(c.rows[1].change, Change::OnlyB);
        assert!(c.rows.iter().all(|r| r.ratios.is_empty()));
    }

    #[test]
    fn unchanged_rows_are_hidden_unless_all_is_asked() {
        let mk = || run("tcg", "7.2.22", vec![exp("x", "PASS", 0, 0, 8)]);
        let quiet = render(&compare(mk(), mk()), false);
        assert!(!quiet.contains("same      x"), "{quiet}");
        assert!(
            quiet.contains("1 experiment(s) with the same verdict"),
            "{quiet}"
        );
        let all = render(&compare(mk(), mk()), true);
        assert!(all.contains("same      x"), "{all}");
    }

    #[test]
    fn a_summary_without_experiments_is_refused_by_name() {
        let e = from_summary(&json!({"name": "control"}), PathBuf::from("s.json")).unwrap_err();
        assert!(e.to_string().contains("no `experiments` list"), "{e}");
    }

    #[test]
    fn a_directory_without_summary_is_refused_with_its_path() {
        let d = std::env::temp_dir().join(format!("compare-empty-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let e = load(&d).unwrap_err();
        assert!(e.to_string().contains("no summary.json"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
