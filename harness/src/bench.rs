//! `harness bench`: the numbers of docs/design.md, as ratios against
//! baselines measured in the same boot, for a fixed benchmark set at each
//! CPU count asked for.
//!
//! The set is [`BENCH_SET`]: Linux's protocol one site at a time and
//! batched, Josh's single store (in line and out of line) and the naive
//! negative control. The kernel takes one `exp=` pattern per boot, and no
//! single glob selects exactly that set, so each CPU count gets one boot
//! per pattern of [`BENCH_BOOTS`] (each with its own baseline, which its
//! experiments are measured against). What is printed, per experiment and
//! CPU count, comes only from records:
//!
//! | number | from |
//! |---|---|
//! | phase latency / floor | `p1_cycles`..`p3_cycles` / `floor_cycles` (one sync round measured inside the same experiment) |
//! | floor / boot floor | `floor_cycles` / the `baseline` record's sync round of the same method, same boot, no executors |
//! | call throughput | `calls_per_s_per_ap` / the `baseline` record's `direct_calls_per_s` (same boot) |
//! | #BP per patch | `bp_hits` / `patches` |
//! | time to catch | `first_fail_ns`, `first_fail_patch` of the negative control |
//! | wall time | the boots of one CPU count, as the harness timed them |
//!
//! `bench.json` in the bench directory holds all of it.

use crate::{
    cli::BenchArgs,
    evidence,
    judge::experiment::{ExpJudgement, Verdict},
    render,
    run::{RunRequest, Setup},
    status::Status,
    suite::{self, Print, SuiteOutcome},
};
use anyhow::{bail, Result};
use serde::Serialize;
use std::time::SystemTime;

/// The boots of one CPU count: one `exp=` pattern each.
pub const BENCH_BOOTS: &[&str] = &["int3*/gap/ipi/qword/timer", "*/-/*/qword"];

/// What [`BENCH_BOOTS`] select together.
pub const BENCH_SET: &[&str] = &[
    "int3/gap/ipi/qword/timer",
    "int3-batch/gap/ipi/qword/timer",
    "naive/-/none/qword",
    "atomic/-/ipi/qword",
    "outofline-atomic/-/ipi/qword",
];

/// One experiment at one CPU count, with its ratios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// The experiment.
    pub experiment: String,
    /// CPUs.
    pub smp: u32,
    /// Its verdict.
    pub verdict: Verdict,
    /// Patches completed.
    pub patches: u64,
    /// One sync round inside the experiment, cycles.
    pub floor_cycles: u64,
    /// One sync round of the same method in the boot's baseline, cycles.
    pub boot_floor_cycles: Option<u64>,
    /// Mean cycles per phase per patch.
    pub phase_cycles: [u64; 3],
    /// Each phase / the experiment's floor.
    pub phase_over_floor: [Option<f64>; 3],
    /// The experiment's floor / the boot's.
    pub floor_over_boot_floor: Option<f64>,
    /// Calls per second per executing AP through the sites.
    pub calls_per_s_per_ap: u64,
    /// The boot's plain direct-call loop, per AP.
    pub direct_calls_per_s: Option<u64>,
    /// The first over the second.
    pub calls_over_direct: Option<f64>,
    /// #BP hits per patch.
    pub bp_per_patch: Option<f64>,
    /// For the negative control: ns until the first failure.
    pub first_fail_ns: Option<u64>,
    /// ... and patches completed before it.
    pub first_fail_patch: Option<u64>,
    /// TSC Hz of the boot.
    pub tsc_hz: Option<u64>,
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0 && a > 0).then(|| a as f64 / b as f64)
}

/// The row of one judged experiment of a boot.
pub fn row(j: &ExpJudgement, smp: u32, boot: &crate::judge::Facts) -> BenchRow {
    let floor = j.n("floor_cycles");
    let sync = j.name.split('/').nth(2).unwrap_or("ipi");
    let boot_floor = boot.baseline.as_ref().and_then(|b| match sync {
        "cpumask" => b.cpumask_sync_cycles,
        // `none` measures its floor with an IPI round (the kernel's rule).
        _ => b.ipi_sync_cycles,
    });
    let p = [j.n("p1_cycles"), j.n("p2_cycles"), j.n("p3_cycles")];
    let direct = boot.baseline.as_ref().and_then(|b| b.direct_calls_per_s);
    BenchRow {
        experiment: j.name.clone(),
        smp,
        verdict: j.verdict,
        patches: j.n("patches"),
        floor_cycles: floor,
        boot_floor_cycles: boot_floor,
        phase_cycles: p,
        phase_over_floor: p.map(|x| ratio(x, floor)),
        floor_over_boot_floor: boot_floor.and_then(|b| ratio(floor, b)),
        calls_per_s_per_ap: j.n("calls_per_s_per_ap"),
        direct_calls_per_s: direct,
        calls_over_direct: direct.and_then(|d| ratio(j.n("calls_per_s_per_ap"), d)),
        bp_per_patch: (j.n("patches") > 0).then(|| j.n("bp_hits") as f64 / j.n("patches") as f64),
        first_fail_ns: (j.n("failures") > 0)
            .then(|| j.counters.get("first_fail_ns").copied())
            .flatten(),
        first_fail_patch: (j.n("failures") > 0)
            .then(|| j.counters.get("first_fail_patch").copied())
            .flatten(),
        tsc_hz: boot.tsc_hz,
    }
}

fn f(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
        None => "-".into(),
    }
}

/// The tables for people.
pub fn tables(rows: &[BenchRow], walls: &[(u32, f64)]) -> Vec<String> {
    let mut v = Vec::new();
    let w = rows
        .iter()
        .map(|r| r.experiment.len())
        .max()
        .unwrap_or(10)
        .max(10);
    v.push("patch latency per phase, as a multiple of one sync round measured inside the same experiment (floor)".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>10} {:>9} {:>9} {:>9}  {:>12}",
        "experiment", "smp", "floor cyc", "p1/floor", "p2/floor", "p3/floor", "floor/boot"
    ));
    for r in rows.iter().filter(|r| r.patches > 0) {
        v.push(format!(
            "  {:<w$} {:>4} {:>10} {:>9} {:>9} {:>9}  {:>12}",
            r.experiment,
            r.smp,
            r.floor_cycles,
            f(r.phase_over_floor[0]),
            f(r.phase_over_floor[1]),
            f(r.phase_over_floor[2]),
            f(r.floor_over_boot_floor)
        ));
    }
    v.push("  (floor/boot: the experiment's floor over the same sync round in the boot's baseline, taken before any executor ran)".into());
    v.push(String::new());
    v.push("calls per second per executing AP through the sites, against a plain direct-call loop of the same boot".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>12} {:>14} {:>8} {:>10}",
        "experiment", "smp", "calls/s/AP", "direct/s/AP", "ratio", "#BP/patch"
    ));
    for r in rows {
        v.push(format!(
            "  {:<w$} {:>4} {:>12} {:>14} {:>8} {:>10}",
            r.experiment,
            r.smp,
            r.calls_per_s_per_ap,
            r.direct_calls_per_s.map_or("-".into(), |d| d.to_string()),
            f(r.calls_over_direct),
            f(r.bp_per_patch)
        ));
    }
    let caught: Vec<&BenchRow> = rows
        .iter()
        .filter(|r| r.experiment.starts_with("naive/"))
        .collect();
    if !caught.is_empty() {
        v.push(String::new());
        v.push("negative control: time and patches until the first failure was caught".into());
        for r in caught {
            v.push(format!(
                "  {:<w$} {:>4}  {}",
                r.experiment,
                r.smp,
                match (r.first_fail_ns, r.first_fail_patch) {
                    (Some(ns), p) => format!(
                        "caught after {}, {} patch(es) completed before it",
                        render::ns(ns),
                        p.map_or("?".into(), |p| p.to_string())
                    ),
                    (None, _) => "NOT caught".into(),
                }
            ));
        }
    }
    v.push(String::new());
    v.push("wall time of the boots of one CPU count (boot, baseline, every experiment)".into());
    let base = walls.first().map(|w| w.1).unwrap_or(0.0);
    for (smp, secs) in walls {
        v.push(format!(
            "  smp {smp:>2}: {secs:>6.1} s{}",
            if base > 0.0 {
                format!("  ({:.2}x smp {})", secs / base, walls[0].0)
            } else {
                String::new()
            }
        ));
    }
    v
}

#[derive(Serialize)]
struct BootJson<'a> {
    smp: u32,
    pattern: &'a str,
    evidence: &'a std::path::Path,
    wall_seconds: f64,
    baseline: Option<&'a crate::judge::Baseline>,
    tsc_hz: Option<u64>,
    tally: &'a crate::judge::experiment::Tally,
}

#[derive(Serialize)]
struct BenchJson<'a> {
    set: &'a [&'a str],
    boots_per_smp: &'a [&'a str],
    ms: u64,
    smp: &'a [u32],
    accel: Option<&'a crate::accel::AccelChoice>,
    seen: Option<&'a crate::judge::experiment::Where>,
    boots: Vec<BootJson<'a>>,
    rows: &'a [BenchRow],
    wall_seconds_by_smp: &'a [(u32, f64)],
    exit_status: u8,
}

/// Runs the benchmark (see the [module docs](self)).
pub fn run(a: &BenchArgs, setup: &Setup, build: bool) -> Result<Status> {
    if a.smp.iter().any(|&n| n < 2) {
        bail!("--smp: every CPU count must be at least 2 (an executor beside the patcher)");
    }
    let base = RunRequest {
        name: "bench".into(),
        smp: a.smp[0],
        accel: a.accel,
        cpu: a.cpu.clone(),
        timeout: a.timeout,
        boot: crate::run::BootKind::Kernel,
        control: None,
        append: Vec::new(),
        expect: None,
        experiment: Some(BENCH_BOOTS[0].into()),
        ms: Some(a.ms),
        qemu: None,
    };
    for &smp in &a.smp {
        crate::run::validate(
            &RunRequest {
                smp,
                ..base.clone()
            },
            setup,
        )?;
    }
    if build {
        setup.workspace.build_kernel()?;
    }
    let dir = evidence::create_run_dir(&setup.out, "bench", SystemTime::now())?;
    let sub = crate::run::Setup::new(
        &setup.qemu.spec,
        Some(dir.clone()),
        Some(setup.elf.clone()),
        Some(setup.iso.clone()),
        setup.echo,
    )?;
    println!(
        "bench: {} at -smp {}, {} ms per experiment; per CPU count one boot per pattern: {}",
        BENCH_SET.join(", "),
        a.smp
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        a.ms,
        BENCH_BOOTS.join(" and ")
    );
    let mut suites: Vec<(u32, SuiteOutcome)> = Vec::new();
    let mut walls: Vec<(u32, f64)> = Vec::new();
    for &smp in &a.smp {
        let mut wall = 0.0;
        for p in BENCH_BOOTS {
            if crate::live::interrupted() {
                bail!("interrupted");
            }
            let req = RunRequest {
                smp,
                experiment: Some(p.to_string()),
                name: format!("bench-smp{smp}"),
                ..base.clone()
            };
            let print = if a.verbose { Print::Live } else { Print::Quiet };
            let o = suite::run(&req, &sub, print)?;
            let secs: f64 = o.boots.iter().map(|b| b.outcome.wall.as_secs_f64()).sum();
            println!(
                "  smp {smp}: exp={p}: {} in {secs:.1} s ({})",
                o.tally.line(),
                o.accel.line()
            );
            for l in o.failure_lines() {
                println!("      {l}");
            }
            wall += secs;
            suites.push((smp, o));
        }
        walls.push((smp, wall));
    }
    let mut rows = Vec::new();
    for (smp, o) in &suites {
        let Some(facts) = o.facts() else { continue };
        for j in &o.experiments {
            if j.verdict != Verdict::Skip && j.outcome != "none" {
                rows.push(row(j, *smp, facts));
            }
        }
    }
    rows.sort_by(|x, y| {
        let pos = |n: &str| BENCH_SET.iter().position(|s| *s == n).unwrap_or(usize::MAX);
        pos(&x.experiment)
            .cmp(&pos(&y.experiment))
            .then(x.smp.cmp(&y.smp))
    });
    let seen = suites
        .first()
        .and_then(|(_, o)| o.experiments.first())
        .map(|j| j.seen.clone());
    println!();
    println!(
        "measured on {} (under TCG these are numbers about QEMU's translator, under KVM about the host CPU through KVM, on a real machine about that CPU)",
        seen.as_ref().map_or("?".into(), |s| s.label())
    );
    for l in tables(&rows, &walls) {
        println!("{l}");
    }
    let met = suites.iter().all(|(_, o)| o.met);
    let status = if suites.iter().any(|(_, o)| o.status == Status::BadInput) {
        Status::BadInput
    } else if met {
        Status::Pass
    } else {
        Status::Unmet
    };
    let boots = suites
        .iter()
        .flat_map(|(smp, o)| {
            o.boots.iter().map(move |b| BootJson {
                smp: *smp,
                pattern: &b.pattern,
                evidence: &b.outcome.dir,
                wall_seconds: b.outcome.wall.as_secs_f64(),
                baseline: b.outcome.facts.baseline.as_ref(),
                tsc_hz: b.outcome.facts.tsc_hz,
                tally: &o.tally,
            })
        })
        .collect();
    let j = BenchJson {
        set: BENCH_SET,
        boots_per_smp: BENCH_BOOTS,
        ms: a.ms,
        smp: &a.smp,
        accel: suites.first().map(|(_, o)| &o.accel),
        seen: seen.as_ref(),
        boots,
        rows: &rows,
        wall_seconds_by_smp: &walls,
        exit_status: status.code(),
    };
    evidence::write(
        &dir,
        "bench.json",
        &(serde_json::to_string_pretty(&j)? + "\n"),
    )?;
    println!("evidence: {}", dir.join("bench.json").display());
    println!(
        "bench: {}",
        if met {
            "every experiment met its expectation"
        } else {
            "some experiment did not meet its expectation (see above)"
        }
    );
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_boots_select_exactly_the_bench_set() {
        let mut got: Vec<String> = BENCH_BOOTS
            .iter()
            .flat_map(|p| crate::list::select(p).unwrap())
            .map(|e| e.name().to_string())
            .collect();
        got.sort();
        let mut want: Vec<String> = BENCH_SET.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn ratios_come_from_the_records_of_the_same_boot() {
        let t = crate::transcript::Transcript::from_bytes(include_bytes!(
            "../testdata/exp-naive-smp4.log"
        ));
        let facts = crate::judge::Facts::from_transcript(&t);
        let seen = crate::judge::experiment::Where::new(
            facts.machine.as_ref(),
            crate::judge::experiment::Via::Log,
            None,
        );
        let ctx = crate::judge::experiment::Context {
            seen: &seen,
            symbols: None,
            nobp_why: None,
        };
        let j = crate::judge::experiment::judge_one(
            plan::experiment::find("naive/-/none/qword"),
            &facts.experiments[0],
            &ctx,
        );
        let r = row(&j, 4, &facts);
        let b = facts.baseline.as_ref().unwrap();
        assert_eq!(r.direct_calls_per_s, b.direct_calls_per_s);
        assert_eq!(
            r.boot_floor_cycles, b.ipi_sync_cycles,
            "naive syncs nothing: IPI floor"
        );
        assert_eq!(
            r.calls_over_direct,
            Some(j.n("calls_per_s_per_ap") as f64 / b.direct_calls_per_s.unwrap() as f64)
        );
        assert!(r.first_fail_ns.is_some() && r.first_fail_patch.is_some());
        let text = tables(&[r], &[(4, 2.0)]).join("\n");
        assert!(text.contains("caught after"), "{text}");
    }
}
