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
//! * [`SCALE_EXPERIMENT`] at that count: whether the default protocol
//!   still passes with every CPU an executor.
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
}

/// The table, one line per CPU count, medians over the repeats with their
/// spread ([`figure`]).
pub fn table(samples: &[CpuSample]) -> Vec<String> {
    let mut v = vec![
        format!("| -smp | CPUs up / listed | kernel bring-up, ms | boot to exit (platform only), s | {SCALE_EXPERIMENT} |"),
        "|---|---|---|---|---|".to_string(),
    ];
    let mut smps: Vec<u32> = samples.iter().map(|s| s.smp).collect();
    smps.sort_unstable();
    smps.dedup();
    for smp in smps {
        let of: Vec<&CpuSample> = samples.iter().filter(|s| s.smp == smp).collect();
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
        v.push(format!(
            "| {smp} | {} / {} | {} | {} | {verdicts} |",
            counts(&|s| s.up),
            counts(&|s| s.listed),
            figure(&bringup, false),
            figure(&wall, false),
        ));
    }
    v
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
            let census = platform.facts.cpus_census.clone();
            let exp = suite::run(
                &RunRequest {
                    experiment: Some(SCALE_EXPERIMENT.into()),
                    ms: Some(a.ms),
                    ..req.clone()
                },
                &sub,
                if a.verbose { Print::Live } else { Print::Quiet },
            )?;
            let j = exp.experiments.iter().find(|j| j.name == SCALE_EXPERIMENT);
            seen = seen.or_else(|| j.map(|j| j.seen.label()));
            broken |= exp.status == Status::BadInput || !platform.judgement.met;
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
            };
            println!(
                "  repeat {}/{}: smp {smp}: {} of {} up, bring-up {}, platform boot {:.2} s ({}); {SCALE_EXPERIMENT}: {} in {:.1} s",
                rep + 1,
                a.repeat,
                s.up.map_or("?".into(), |n| n.to_string()),
                s.listed.map_or("?".into(), |n| n.to_string()),
                s.bringup_us
                    .map_or("?".into(), |u| format!("{:.2} ms", u as f64 / 1000.0)),
                s.platform_wall_s,
                if s.platform_met { "met" } else { "NOT met" },
                s.verdict.map_or("never reported", Verdict::word),
                s.experiment_wall_s,
            );
            for l in platform.failure_lines().iter().chain(&s.reasons) {
                println!("      {l}");
            }
            samples.push(s);
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
    fn cpus_that_did_not_come_up_show() {
        let mut s = sample(8, 0, Verdict::Pass, 5000, 0.5);
        s.up = Some(6);
        let t = table(&[s]);
        assert!(t[2].starts_with("| 8 | 6 / 8 |"), "{}", t[2]);
    }
}
