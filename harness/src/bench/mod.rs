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
//! | call cost ladder | the `baseline` record's `direct_calls_per_s` -> `checked_calls_per_s` -> the experiment's `calls_per_s_per_ap` (same boot), each as ns per call and a ratio to the step before |
//! | floor check | a floor above the `tsc` record's `hz` (more than one call per cycle) is [`implausible`], and so is a sync floor with a round that timed out: the run is broken |
//! | latency percentiles | the `hist` records of the experiment, merged over repeats ([`crate::judge::stats::percentiles`]) |
//! | #BP per patch | `bp_hits` / `patches` |
//! | time to catch | `first_fail_ns`, `first_fail_patch` of the negative control |
//! | wall time | the boots of one CPU count, as the harness timed them |
//!
//! With `--repeat N` every configuration is booted `N` times and each
//! figure printed as `median [min..max]` ([`figure`]). `bench.json` in the
//! bench directory holds all of it, every sample.

pub mod claim;
pub mod common;
pub mod cpus;
pub mod plot;
pub mod scale;

use crate::{
    cli::BenchArgs,
    judge::experiment::Verdict,
    request::{RunRequest, Setup},
    results::evidence,
    results::figure,
    results::table::Print,
    status::Status,
    suite::{self, SuiteOutcome},
};
use anyhow::{bail, Result};
use serde::Serialize;

use common::*;

#[derive(Serialize)]
struct BootJson<'a> {
    smp: u32,
    repeat: u32,
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
    repeat: u32,
    boots_per_smp: &'a [&'a str],
    ms: u64,
    smp: &'a [u32],
    accel: Option<&'a crate::boot::accel::AccelChoice>,
    seen: Option<&'a crate::judge::seen::Where>,
    boots: Vec<BootJson<'a>>,
    rows: &'a [BenchRow],
    /// Sites per key of the scaling axis (empty: the kernel's default).
    sites: &'a [usize],
    scaling: &'a [crate::bench::scale::ScaleLine],
    wall_seconds_by_smp: &'a [(u32, f64)],
    exit_status: u8,
}

/// Runs the benchmark (see the [module docs](self)).
pub fn run(a: &BenchArgs, setup: &Setup, build: bool) -> Result<Status> {
    if !a.cpus.is_empty() {
        return crate::bench::cpus::run(a, setup, build);
    }
    if !a.claims.is_empty() {
        return crate::bench::claim::run(a, setup, build);
    }
    if a.smp.iter().any(|&n| n < 2) {
        bail!("--smp: every CPU count must be at least 2 (an executor beside the patcher)");
    }
    let Prepared { base, dir, sub } = prepare(
        a,
        setup,
        build,
        "bench",
        Some(BENCH_BOOTS[0]),
        &a.smp,
        setup.echo,
    )?;
    println!(
        "bench: {} at -smp {}, {} ms per experiment, {} repeat(s); per CPU count one boot per pattern: {}",
        BENCH_SET.join(", "),
        list(&a.smp),
        a.ms,
        a.repeat,
        BENCH_BOOTS.join(" and ")
    );
    let mut suites: Vec<(u32, u32, SuiteOutcome)> = Vec::new();
    let mut walls: Vec<(u32, f64)> = Vec::new();
    for rep in 0..a.repeat {
        for &smp in &a.smp {
            let mut wall = 0.0;
            for (p, sites) in boots(&a.sites) {
                if crate::machine::live::interrupted() {
                    bail!("interrupted");
                }
                let req = RunRequest {
                    smp,
                    experiment: Some(p.to_string()),
                    name: match sites {
                        Some(n) => format!("bench-smp{smp}-sites{n}-r{}", rep + 1),
                        None => format!("bench-smp{smp}-r{}", rep + 1),
                    },
                    append: base
                        .append
                        .iter()
                        .cloned()
                        .chain(sites.map(|n| format!("sites={n}")))
                        .collect(),
                    ..base.clone()
                };
                let print = if a.verbose { Print::Live } else { Print::Quiet };
                let o = suite::run(&req, &sub, print)?;
                let secs: f64 = o.boots.iter().map(|b| b.outcome.wall.as_secs_f64()).sum();
                println!(
                    "  repeat {}/{}: smp {smp}: exp={p}{}: {} in {secs:.1} s ({})",
                    rep + 1,
                    a.repeat,
                    sites.map_or(String::new(), |n| format!(" sites={n}")),
                    o.tally.line(),
                    o.accel.line()
                );
                for l in o.failure_lines() {
                    println!("      {l}");
                }
                wall += secs;
                suites.push((smp, rep, o));
            }
            walls.push((smp, wall));
        }
    }
    let mut rows = Vec::new();
    for (smp, rep, o) in &suites {
        let Some(facts) = o.facts() else { continue };
        for j in &o.experiments {
            if j.verdict != Verdict::Skip && j.outcome != "none" {
                rows.push(row(j, *smp, *rep, facts));
            }
        }
    }
    rows.sort_by(|x, y| {
        let pos = |n: &str| BENCH_SET.iter().position(|s| *s == n).unwrap_or(usize::MAX);
        pos(&x.experiment)
            .cmp(&pos(&y.experiment))
            .then(x.smp.cmp(&y.smp))
            .then(x.sites.cmp(&y.sites))
            .then(x.repeat.cmp(&y.repeat))
    });
    let scaling = crate::bench::scale::lines(&rows);
    let seen = suites
        .first()
        .and_then(|(_, _, o)| o.experiments.first())
        .map(|j| j.seen.clone());
    println!();
    println!(
        "measured on {} (under TCG these are numbers about QEMU's translator, under KVM about the host CPU through KVM, on a real machine about that CPU)",
        seen.as_ref().map_or("?".into(), |s| s.label())
    );
    for l in tables(&rows, &walls) {
        println!("{l}");
    }
    let scale_table = crate::bench::scale::table(&scaling);
    if !scale_table.is_empty() {
        println!();
    }
    for l in scale_table {
        println!("{l}");
    }
    let met = suites.iter().all(|(_, _, o)| o.met);
    let broken = rows.iter().any(|r| !r.implausible.is_empty());
    let status = if broken || suites.iter().any(|(_, _, o)| o.status == Status::BadInput) {
        Status::BadInput
    } else if met {
        Status::Pass
    } else {
        Status::Unmet
    };
    let boots = suites
        .iter()
        .flat_map(|(smp, rep, o)| {
            o.boots.iter().map(move |b| BootJson {
                smp: *smp,
                repeat: *rep,
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
        repeat: a.repeat,
        boots_per_smp: BENCH_BOOTS,
        ms: a.ms,
        smp: &a.smp,
        accel: suites.first().map(|(_, _, o)| &o.accel),
        seen: seen.as_ref(),
        boots,
        rows: &rows,
        sites: &a.sites,
        scaling: &scaling,
        wall_seconds_by_smp: &walls,
        exit_status: status.code(),
    };
    evidence::write(
        &dir,
        "bench.json",
        &(serde_json::to_string_pretty(&j)? + "\n"),
    )?;
    let title = format!(
        "{} at -smp {}, {} repeat(s)",
        seen.as_ref().map_or("?".into(), |s| s.label()),
        list(&a.smp),
        a.repeat
    );
    let rows = &rows;
    let title = title.as_str();
    figure::write(&dir, "latency-cdf", &plot::LatencyCdf { rows, title })?;
    figure::write(&dir, "calls", &plot::Calls { rows, title })?;
    println!("evidence: {}", dir.join("bench.json").display());
    println!(
        "bench: {}",
        if broken {
            "BROKEN: a floor of the baseline is not believable (see above)"
        } else if met {
            "every experiment met its expectation"
        } else {
            "some experiment did not meet its expectation (see above)"
        }
    );
    Ok(status)
}
