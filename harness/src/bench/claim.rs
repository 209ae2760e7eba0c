//! `harness bench --claims none,shared,percpu`: the #BP handler's claim on
//! the patch table as an axis of `int3-batch` (kernel word `claim=`).
//! A benchmark, not a test: it fails only on a broken run.
//!
//! Per CPU count and claim, one boot of [`CLAIM_EXPERIMENT`] (every site
//! of a key covered at once, so executors trap together). From its `exp`
//! record: the wall time of a key update (the three phases), #BP hits per
//! update, and the handler's own time per hit (`bp_cycles / bp_hits`,
//! from its first instruction to its last, the claim included). Each
//! claim's figures are printed as ratios to `none` (no claim) at the same
//! CPU count; `shared` against `percpu` is the comparison Linux made in
//! 2025. `bench-claims.json` keeps every sample.

use crate::{
    bench::{self, common::figure},
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

/// The experiment booted for each claim.
pub const CLAIM_EXPERIMENT: &str = "int3-batch/gap/ipi/qword/timer";

/// One claim at one CPU count in one repeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimSample {
    /// `claim=`.
    pub claim: String,
    /// `-smp`.
    pub smp: u32,
    /// Which repeat (0 for the first).
    pub repeat: u32,
    /// The experiment's verdict (`None`: it never reported).
    pub verdict: Option<Verdict>,
    /// Key updates completed.
    pub patches: u64,
    /// Wall time of one update, the three phases, microseconds.
    pub update_us: Option<f64>,
    /// #BP hits per update.
    pub bp_per_update: Option<f64>,
    /// TSC cycles in the #BP handler per hit.
    pub handler_cycles_per_hit: Option<f64>,
}

fn of<'a>(s: &'a [ClaimSample], claim: &str, smp: u32) -> Vec<&'a ClaimSample> {
    s.iter()
        .filter(|x| x.claim == claim && x.smp == smp)
        .collect()
}

/// The table: per CPU count and claim, medians [min..max] over repeats,
/// and each figure's ratio to `none` at the same count (medians).
pub fn table(samples: &[ClaimSample], claims: &[String]) -> Vec<String> {
    let mut v = vec![
        "| -smp | claim | update, us | / none | #BP per update | handler cycles per hit | / none | passed |".to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ];
    let mut smps: Vec<u32> = samples.iter().map(|s| s.smp).collect();
    smps.sort_unstable();
    smps.dedup();
    let med = |xs: &[&ClaimSample], f: &dyn Fn(&ClaimSample) -> Option<f64>| {
        crate::judge::stats::median(&xs.iter().filter_map(|s| f(s)).collect::<Vec<_>>())
    };
    for smp in smps {
        let none = of(samples, "none", smp);
        let base_update = med(&none, &|s| s.update_us);
        let base_handler = med(&none, &|s| s.handler_cycles_per_hit);
        for c in claims {
            let xs = of(samples, c, smp);
            if xs.is_empty() {
                continue;
            }
            let ratio = |m: Option<f64>, b: Option<f64>| match (m, b) {
                (Some(m), Some(b)) if b > 0.0 && c != "none" => format!("{:.2}", m / b),
                _ => "-".into(),
            };
            let col = |f: &dyn Fn(&ClaimSample) -> Option<f64>| {
                figure(&xs.iter().map(|s| f(s)).collect::<Vec<_>>(), false)
            };
            let passed = xs
                .iter()
                .filter(|s| s.verdict == Some(Verdict::Pass))
                .count();
            v.push(format!(
                "| {smp} | {c} | {} | {} | {} | {} | {} | {passed}/{} |",
                col(&|s| s.update_us),
                ratio(med(&xs, &|s| s.update_us), base_update),
                col(&|s| s.bp_per_update),
                col(&|s| s.handler_cycles_per_hit),
                ratio(med(&xs, &|s| s.handler_cycles_per_hit), base_handler),
                xs.len()
            ));
        }
    }
    v
}

#[derive(Serialize)]
struct ClaimsJson<'a> {
    experiment: &'a str,
    ms: u64,
    repeat: u32,
    smp: &'a [u32],
    claims: &'a [String],
    sites: Option<usize>,
    samples: &'a [ClaimSample],
    exit_status: u8,
}

/// Runs the claim benchmark (see the [module docs](self)).
pub fn run(a: &BenchArgs, setup: &Setup, build: bool) -> Result<Status> {
    if a.smp.iter().any(|&n| n < 2) {
        bail!("--smp: every CPU count must be at least 2 (an executor beside the patcher)");
    }
    if a.sites.len() > 1 {
        bail!("--claims takes one --sites size (the claim is the axis)");
    }
    let sites = a.sites.first().copied();
    let crate::bench::common::Prepared { base, dir, sub } = crate::bench::common::prepare(
        a,
        setup,
        build,
        "bench-claims",
        Some(CLAIM_EXPERIMENT),
        &a.smp,
        a.verbose,
    )?;
    println!(
        "bench --claims {}: {CLAIM_EXPERIMENT}{} at -smp {}, {} ms each, {} repeat(s)",
        a.claims.join(","),
        sites.map_or(String::new(), |n| format!(" with sites={n}")),
        crate::bench::common::list(&a.smp),
        a.ms,
        a.repeat
    );
    let mut samples = Vec::new();
    let mut broken = false;
    let mut seen = None;
    for rep in 0..a.repeat {
        for &smp in &a.smp {
            for claim in &a.claims {
                if crate::machine::live::interrupted() {
                    bail!("interrupted");
                }
                let mut append = base.append.clone();
                append.push(format!("claim={claim}"));
                append.extend(sites.map(|n| format!("sites={n}")));
                let req = RunRequest {
                    smp,
                    name: format!("bench-claim-{claim}-smp{smp}-r{}", rep + 1),
                    append,
                    ..base.clone()
                };
                let print = if a.verbose { Print::Live } else { Print::Quiet };
                let o = suite::run(&req, &sub, print)?;
                broken |= o.status == Status::BadInput;
                let j = o.experiments.iter().find(|j| j.name == CLAIM_EXPERIMENT);
                seen = seen.or_else(|| j.map(|j| j.seen.label()));
                let s = match (j, o.facts()) {
                    (Some(j), Some(facts)) => {
                        let row = bench::row(j, smp, rep, facts);
                        let hits = j.n("bp_hits");
                        ClaimSample {
                            claim: claim.clone(),
                            smp,
                            repeat: rep,
                            verdict: Some(j.verdict),
                            patches: row.patches,
                            update_us: row.patch_ns.map(|ns| ns / 1000.0),
                            bp_per_update: row.bp_per_patch,
                            handler_cycles_per_hit: (hits > 0
                                && j.counters.contains_key("bp_cycles"))
                            .then(|| j.n("bp_cycles") as f64 / hits as f64),
                        }
                    }
                    _ => ClaimSample {
                        claim: claim.clone(),
                        smp,
                        repeat: rep,
                        verdict: j.map(|j| j.verdict),
                        patches: 0,
                        update_us: None,
                        bp_per_update: None,
                        handler_cycles_per_hit: None,
                    },
                };
                println!(
                    "  repeat {}/{}: smp {smp}: claim={claim}: {} ({} updates; {})",
                    rep + 1,
                    a.repeat,
                    s.verdict.map_or("never reported", Verdict::word),
                    s.patches,
                    o.tally.line()
                );
                for l in o.failure_lines() {
                    println!("      {l}");
                }
                samples.push(s);
            }
        }
    }
    println!();
    println!(
        "measured on {} (medians [min..max] over the repeats; ratios of medians)",
        seen.unwrap_or_else(|| "?".into())
    );
    for l in table(&samples, &a.claims) {
        println!("{l}");
    }
    let status = if broken {
        Status::BadInput
    } else {
        Status::Pass
    };
    let j = ClaimsJson {
        experiment: CLAIM_EXPERIMENT,
        ms: a.ms,
        repeat: a.repeat,
        smp: &a.smp,
        claims: &a.claims,
        sites,
        samples: &samples,
        exit_status: status.code(),
    };
    evidence::write(
        &dir,
        "bench-claims.json",
        &(serde_json::to_string_pretty(&j)? + "\n"),
    )?;
    println!("evidence: {}", dir.display());
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(claim: &str, smp: u32, update: f64, handler: f64) -> ClaimSample {
        ClaimSample {
            claim: claim.into(),
            smp,
            repeat: 0,
            verdict: Some(Verdict::Pass),
            patches: 10,
            update_us: Some(update),
            bp_per_update: Some(5.0),
            handler_cycles_per_hit: Some(handler),
        }
    }

    #[test]
    fn each_claim_is_a_ratio_to_none_at_the_same_cpu_count() {
        let claims: Vec<String> = ["none", "shared", "percpu"].map(String::from).to_vec();
        let t = table(
            &[
                s("none", 2, 100.0, 1000.0),
                s("shared", 2, 150.0, 3000.0),
                s("percpu", 2, 110.0, 1100.0),
                s("none", 4, 200.0, 500.0),
                s("shared", 4, 100.0, 1000.0),
            ],
            &claims,
        );
        assert_eq!(t.len(), 2 + 5, "{t:#?}");
        assert!(t[2].starts_with("| 2 | none | 100 | - |"), "{}", t[2]);
        assert!(t[3].starts_with("| 2 | shared | 150 | 1.50 |"), "{}", t[3]);
        assert!(t[3].contains("| 3000 | 3.00 |"), "{}", t[3]);
        assert!(t[4].contains("| 1.10 |"), "{}", t[4]);
        assert!(t[6].starts_with("| 4 | shared | 100 | 0.50 |"), "{}", t[6]);
    }
}
