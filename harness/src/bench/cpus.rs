//! `harness bench --cpus 1,2,4,...`: how the platform scales with the CPU
//! count. A benchmark, not a test: it fails only on a broken run.
//!
//! Per CPU count (and repeat) two boots:
//!
//! * the platform alone (no experiment): its wall time, from QEMU's start
//!   to its exit, is what a bring-up test such as kvm-unit-tests' x86
//!   `smptest` measures too; the `cpus` record gives CPUs up, the CPUs the
//!   MADT lists and the kernel's own bring-up time (`bringup_us`, by the
//!   TSC, from the first INIT to the last AP online);
//! * [`SCALE_EXPERIMENT`] at that count, with the executors a run gets
//!   by default (under TCG at most [`crate::request::EXECUTORS_PER_HOST_CORE`] per host
//!   core; the other APs wait in `hlt` and answer every sync round):
//!   whether it passes, and what one update cost ([`UpdateCost`]), from
//!   its `exp` record;
//! * with `--all-executors`, where the default bounded them, the same
//!   experiment again with every AP an executor.
//!
//! `bench-cpus.json` in the bench directory keeps every sample.

use crate::{
    bench::common::figure,
    cli::BenchArgs,
    judge::experiment::Verdict,
    request::{RunRequest, Setup},
    results::evidence,
    results::table::Print,
    status::Status,
    suite,
};
use anyhow::{bail, Result};
use serde::Serialize;

/// The experiment booted at every CPU count.
pub const SCALE_EXPERIMENT: &str = "int3/gap/ipi/qword/timer";

/// One CPU count in one repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CpuSample {
    /// `-smp`.
    pub smp: u32,
    /// Which repeat (0 for the first).
    pub repeat: u32,
    /// CPUs online, the BSP included (`cpus` record).
    pub up: Option<u64>,
    /// Enabled CPUs the MADT lists.
    pub listed: Option<u64>,
    /// The kernel's bring-up time, microseconds.
    pub bringup_us: Option<u64>,
    /// The platform boot's wall time, QEMU's start to its exit, seconds.
    pub platform_wall_s: f64,
    /// The platform judgement was met.
    pub platform_met: bool,
    /// [`SCALE_EXPERIMENT`]'s verdict (`None`: it never reported).
    pub verdict: Option<Verdict>,
    /// Why it did not pass, when it did not.
    pub reasons: Vec<String>,
    /// The experiment boot's wall time, seconds.
    pub experiment_wall_s: f64,
    /// Executors the experiment ran (`exp` record).
    pub executors: Option<u64>,
    /// Every AP was asked to be an executor (`--all-executors`).
    pub all_executors: bool,
    /// What one update cost, where the experiment made any.
    pub update: Option<UpdateCost>,
}

/// What one update (one patch of a key: every site of it retargeted) of
/// the experiment cost, the means over its patches from its `exp` record
/// (phases 1 to 3 summed: the settle step and the audits between patches
/// are not in it, their rounds are).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UpdateCost {
    /// Phases 1 to 3, milliseconds.
    pub ms: f64,
    /// Sync rounds (the settle step's included).
    pub rounds: f64,
    /// Sync IPIs sent (a broadcast counts one per CPU it reaches).
    pub ipis: f64,
    /// Phases 1 to 3 over the same experiment's floor: one sync round with
    /// the executors running and no patch (`floor_cycles`).
    pub over_floor_round: Option<f64>,
    /// Each phase (cover, operand, uncover and the last sync) over the same
    /// floor round.
    pub phases_over_floor_round: Option<[f64; 3]>,
}

impl UpdateCost {
    /// From an `exp` record's counters and the boot's TSC frequency; None
    /// without patches or the fields.
    pub fn from_counters(
        c: &std::collections::BTreeMap<String, u64>,
        tsc_hz: Option<u64>,
    ) -> Option<UpdateCost> {
        let patches = *c.get("patches").filter(|&&p| p > 0)? as f64;
        // The record's phases are already means per patch; its rounds and
        // IPIs are the experiment's totals.
        let phases = [
            *c.get("p1_cycles")?,
            *c.get("p2_cycles")?,
            *c.get("p3_cycles")?,
        ];
        let per = phases.iter().sum::<u64>() as f64;
        let floor = c.get("floor_cycles").filter(|&&f| f > 0).map(|&f| f as f64);
        Some(UpdateCost {
            ms: per / tsc_hz.filter(|&h| h > 0)? as f64 * 1000.0,
            rounds: *c.get("sync_rounds")? as f64 / patches,
            ipis: *c.get("ipis")? as f64 / patches,
            over_floor_round: floor.map(|f| per / f),
            phases_over_floor_round: floor.map(|f| phases.map(|p| p as f64 / f)),
        })
    }
}

/// The table, one line per CPU count, medians over the repeats with their
/// spread ([`figure`]).
pub fn table(samples: &[CpuSample]) -> Vec<String> {
    let mut v = vec![
        format!("| -smp | CPUs up / listed | kernel bring-up, ms | boot to exit (platform only), s | executors | one update, ms | rounds / update | IPIs / update | update / floor round | {SCALE_EXPERIMENT} |"),
        "|---|---|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut rows: Vec<(u32, bool)> = samples.iter().map(|s| (s.smp, s.all_executors)).collect();
    rows.sort_unstable();
    rows.dedup();
    for (smp, all) in rows {
        let of: Vec<&CpuSample> = samples
            .iter()
            .filter(|s| s.smp == smp && s.all_executors == all)
            .collect();
        let counts = |f: &dyn Fn(&CpuSample) -> Option<u64>| {
            let mut xs: Vec<String> = of
                .iter()
                .map(|s| f(s).map_or("?".into(), |n| n.to_string()))
                .collect();
            xs.dedup();
            xs.join(",")
        };
        let bringup: Vec<Option<f64>> = of
            .iter()
            .map(|s| s.bringup_us.map(|u| u as f64 / 1000.0))
            .collect();
        let wall: Vec<Option<f64>> = of.iter().map(|s| Some(s.platform_wall_s)).collect();
        let passed = of
            .iter()
            .filter(|s| s.verdict == Some(Verdict::Pass))
            .count();
        let skipped = of
            .iter()
            .filter(|s| s.verdict == Some(Verdict::Skip))
            .count();
        let verdicts = if skipped == of.len() {
            "skip (no executor beside the patcher)".to_string()
        } else {
            format!("{passed}/{} pass", of.len())
        };
        let cost = |f: &dyn Fn(&UpdateCost) -> Option<f64>| {
            let xs: Vec<Option<f64>> = of.iter().map(|s| s.update.as_ref().and_then(f)).collect();
            figure(&xs, false)
        };
        v.push(format!(
            "| {smp} | {} / {} | {} | {} | {}{} | {} | {} | {} | {} | {verdicts} |",
            counts(&|s| s.up),
            counts(&|s| s.listed),
            figure(&bringup, false),
            figure(&wall, false),
            counts(&|s| s.executors),
            if all { " (all)" } else { "" },
            cost(&|u| Some(u.ms)),
            counts(&|s| s.update.map(|u| u.rounds.round() as u64)),
            counts(&|s| s.update.map(|u| u.ipis.round() as u64)),
            cost(&|u| u.over_floor_round),
        ));
    }
    v
}

/// The line printed after a count's platform boot.
fn platform_line(p: &crate::run::RunOutcome, smp: u32, rep: u32, repeats: u32) -> String {
    let census = p.facts.cpus_census.as_ref();
    format!(
        "  repeat {}/{repeats}: smp {smp}: {} of {} up, bring-up {}, platform boot {:.2} s ({})",
        rep + 1,
        p.facts.cpus_up.map_or("?".into(), |n| n.to_string()),
        census.map_or("?".into(), |c| c.listed.to_string()),
        census
            .and_then(|c| c.bringup_us)
            .map_or("?".into(), |u| format!("{:.2} ms", u as f64 / 1000.0)),
        p.wall.as_secs_f64(),
        if p.judgement.met { "met" } else { "NOT met" },
    )
}

/// The line printed as an experiment's sample is taken.
fn experiment_line(s: &CpuSample) -> String {
    let update = s.update.map_or("no update".into(), |u| {
        format!(
            "one update {:.1} ms, {:.0} rounds, {:.0} IPIs",
            u.ms, u.rounds, u.ipis
        )
    });
    format!(
        "    {} executor(s){}: {} in {:.1} s; {update}",
        s.executors.map_or("?".into(), |n| n.to_string()),
        if s.all_executors { " (all)" } else { "" },
        s.verdict.map_or("never reported", Verdict::word),
        s.experiment_wall_s,
    )
}

#[derive(Serialize)]
struct CpusJson<'a> {
    experiment: &'a str,
    ms: u64,
    repeat: u32,
    cpus: &'a [u32],
    samples: &'a [CpuSample],
    exit_status: u8,
}

/// Runs the CPU-count benchmark (see the [module docs](self)).
pub fn run(a: &BenchArgs, setup: &Setup, build: bool) -> Result<Status> {
    let crate::bench::common::Prepared { base, dir, sub } =
        crate::bench::common::prepare(a, setup, build, "bench-cpus", None, &a.cpus, a.verbose)?;
    println!(
        "bench --cpus: at -smp {}, the platform alone, then {SCALE_EXPERIMENT} for {} ms; {} repeat(s)",
        crate::bench::common::list(&a.cpus),
        a.ms,
        a.repeat
    );
    let mut samples = Vec::new();
    let mut broken = false;
    let mut seen = None;
    for rep in 0..a.repeat {
        for &smp in &a.cpus {
            if crate::machine::live::interrupted() {
                bail!("interrupted");
            }
            let req = RunRequest {
                smp,
                name: format!("bench-cpus-smp{smp}-r{}", rep + 1),
                ..base.clone()
            };
            let plan = crate::run::resolve(&req, &sub)?;
            let platform = crate::run::execute(&plan, &sub)?;
            broken |= !platform.judgement.met;
            println!("{}", platform_line(&platform, smp, rep, a.repeat));
            for l in platform.failure_lines() {
                println!("      {l}");
            }
            let mut all = false;
            loop {
                let mut append = req.append.clone();
                if all {
                    append.push(format!("executors={}", crate::request::max_executors(smp)));
                }
                let exp = suite::run(
                    &RunRequest {
                        experiment: Some(SCALE_EXPERIMENT.into()),
                        ms: Some(a.ms),
                        append,
                        ..req.clone()
                    },
                    &sub,
                    if a.verbose { Print::Live } else { Print::Quiet },
                )?;
                let j = exp.experiments.iter().find(|j| j.name == SCALE_EXPERIMENT);
                seen = seen.or_else(|| j.map(|j| j.seen.label()));
                broken |= exp.status == Status::BadInput;
                let census = platform.facts.cpus_census.clone();
                let tsc_hz = exp.boots.first().and_then(|b| b.outcome.facts.tsc_hz);
                let s = CpuSample {
                    smp,
                    repeat: rep,
                    up: platform.facts.cpus_up,
                    listed: census.as_ref().map(|c| c.listed),
                    bringup_us: census.as_ref().and_then(|c| c.bringup_us),
                    platform_wall_s: platform.wall.as_secs_f64(),
                    platform_met: platform.judgement.met,
                    verdict: j.map(|j| j.verdict),
                    reasons: j.map(|j| j.reasons.clone()).unwrap_or_default(),
                    experiment_wall_s: exp.wall.as_secs_f64(),
                    executors: j.and_then(|j| j.counters.get("executors").copied()),
                    all_executors: all,
                    update: j.and_then(|j| UpdateCost::from_counters(&j.counters, tsc_hz)),
                };
                println!("{}", experiment_line(&s));
                for l in &s.reasons {
                    println!("      {l}");
                }
                let bounded = s
                    .executors
                    .is_some_and(|e| e < u64::from(crate::request::max_executors(smp)));
                samples.push(s);
                if all || !a.all_executors || !bounded {
                    break;
                }
                all = true;
            }
        }
    }
    println!();
    println!(
        "measured on {} (medians [min..max] over the repeats)",
        seen.unwrap_or_else(|| "?".into())
    );
    for l in table(&samples) {
        println!("{l}");
    }
    let status = if broken {
        Status::BadInput
    } else {
        Status::Pass
    };
    let j = CpusJson {
        experiment: SCALE_EXPERIMENT,
        ms: a.ms,
        repeat: a.repeat,
        cpus: &a.cpus,
        samples: &samples,
        exit_status: status.code(),
    };
    evidence::write(
        &dir,
        "bench-cpus.json",
        &(serde_json::to_string_pretty(&j)? + "\n"),
    )?;
    println!("evidence: {}", dir.display());
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(smp: u32, repeat: u32, verdict: Verdict, bringup_us: u64, wall: f64) -> CpuSample {
        CpuSample {
            smp,
            repeat,
            up: Some(u64::from(smp)),
            listed: Some(u64::from(smp)),
            bringup_us: Some(bringup_us),
            platform_wall_s: wall,
            platform_met: true,
            verdict: Some(verdict),
            reasons: Vec::new(),
            experiment_wall_s: wall + 0.3,
            executors: Some(u64::from(smp.saturating_sub(2).max(1))),
            all_executors: false,
            update: None,
        }
    }

    #[test]
    fn one_line_per_cpu_count_with_medians_and_pass_counts() {
        let t = table(&[
            sample(4, 0, Verdict::Pass, 1000, 0.2),
            sample(4, 1, Verdict::Fail, 3000, 0.4),
            sample(4, 2, Verdict::Pass, 2000, 0.3),
            sample(1, 0, Verdict::Skip, 0, 0.1),
        ]);
        assert_eq!(t.len(), 4, "{t:#?}");
        assert!(t[2].starts_with("| 1 | 1 / 1 |"), "{}", t[2]);
        assert!(t[2].contains("skip"), "{}", t[2]);
        assert!(t[3].starts_with("| 4 | 4 / 4 | 2"), "{}", t[3]);
        assert!(t[3].contains("2/3 pass"), "{}", t[3]);
    }

    #[test]
    fn an_update_s_cost_is_its_phases_per_patch_and_its_rounds_and_ipis_over_the_patches() {
        let c: std::collections::BTreeMap<String, u64> = [
            ("patches", 8),
            ("p1_cycles", 1_000_000),
            ("p2_cycles", 2_000_000),
            ("p3_cycles", 3_000_000),
            ("sync_rounds", 128),
            ("ipis", 32_512),
            ("floor_cycles", 600_000),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let u = UpdateCost::from_counters(&c, Some(3_000_000_000)).unwrap();
        assert_eq!(u.ms, 2.0);
        assert_eq!((u.rounds, u.ipis), (16.0, 4064.0));
        assert_eq!(u.over_floor_round, Some(10.0));
        let each = u.phases_over_floor_round.unwrap();
        assert!(
            (each[0] - 5.0 / 3.0).abs() < 1e-9 && each[2] == 5.0,
            "{each:?}"
        );
        let mut none = c.clone();
        none.insert("patches".into(), 0);
        assert_eq!(UpdateCost::from_counters(&none, Some(3_000_000_000)), None);
        assert_eq!(UpdateCost::from_counters(&c, None), None);
    }

    #[test]
    fn a_count_bounded_by_default_and_run_with_all_executors_has_a_line_of_each() {
        let mut all = sample(16, 0, Verdict::Pass, 1000, 0.2);
        all.all_executors = true;
        all.executors = Some(14);
        let mut bounded = sample(16, 0, Verdict::Pass, 1000, 0.2);
        bounded.executors = Some(8);
        let t = table(&[all, bounded]);
        assert_eq!(t.len(), 4, "{t:#?}");
        assert!(t[2].contains("| 8 |"), "{}", t[2]);
        assert!(t[3].contains("| 14 (all) |"), "{}", t[3]);
    }

    #[test]
    fn cpus_that_did_not_come_up_show() {
        let mut s = sample(8, 0, Verdict::Pass, 5000, 0.5);
        s.up = Some(6);
        let t = table(&[s]);
        assert!(t[2].starts_with("| 8 | 6 / 8 |"), "{}", t[2]);
    }
}
