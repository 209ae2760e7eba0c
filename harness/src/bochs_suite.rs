//! The experiments of a request, on Bochs: `harness run --emulator bochs`
//! and a matrix row with `emulator = bochs`.
//!
//! 1. The request is checked before anything runs ([`run::validate_bochs`]).
//! 2. The run's ISO is made in its evidence directory, with the run's
//!    kernel command line as its default entry.
//! 3. One boot runs every selected experiment (Bochs boots through GRUB,
//!    and a boot costs it about 20 s, so experiments that QEMU gives a boot
//!    of their own share this one), followed live ([`bochs::boot`]).
//! 4. Each experiment is judged from its records, the platform from the
//!    boot, and the evidence written with a `replay` record, so that
//!    `harness replay` runs it again and compares it record by record.

use crate::{
    bochs,
    evidence::{self, Provenance},
    judge::{
        self,
        experiment::{self as xj, ExpJudgement, Tally, Via, Where},
        Ending, Facts, Judgement,
    },
    list, render,
    run::{self, RunRequest, Setup},
    status::Status,
    suite::{self, Print, Table},
};
use anyhow::Result;
use serde::Serialize;
use std::{
    path::PathBuf,
    time::{Duration, SystemTime},
};

/// What one Bochs run gave.
#[derive(Debug)]
pub struct BochsOutcome {
    /// Its evidence directory.
    pub dir: PathBuf,
    /// `bochs 2.7, corei5_lynnfield_750, 2 CPU(s), ips 110000000, quantum 16`.
    pub source: String,
    /// The boot's facts.
    pub facts: Facts,
    /// How the boot ended.
    pub ending: Ending,
    /// The platform's judgement.
    pub judgement: Judgement,
    /// Each experiment's.
    pub experiments: Vec<ExpJudgement>,
    /// Their tally.
    pub tally: Tally,
    /// The run's exit status.
    pub status: Status,
    /// CPUs asked for.
    pub smp: u32,
    /// Spawn to end of following.
    pub wall: Duration,
}

impl BochsOutcome {
    /// Whether every expectation was met.
    pub fn met(&self) -> bool {
        self.status == Status::Pass
    }

    /// The platform's reasons, one line each.
    pub fn platform_lines(&self) -> Vec<String> {
        self.judgement
            .reasons
            .iter()
            .map(|r| format!("boot: {r}"))
            .collect()
    }
}

/// What a Bochs run's `summary.json` holds.
#[derive(Serialize)]
struct Summary<'a> {
    name: &'a str,
    source: &'a str,
    cmdline: &'a str,
    smp: u32,
    ms: u64,
    cpu: &'a str,
    seen: Option<&'a Where>,
    machine: Option<&'a judge::Machine>,
    facts: &'a Facts,
    ending: &'a Ending,
    judgement: &'a Judgement,
    experiments: &'a [ExpJudgement],
    tally: &'a Tally,
    exit_status: u8,
    wall_seconds: f64,
    replay: crate::replay::Recipe,
    harness: Provenance,
}

/// Runs `req` (an [`run::Emulator::Bochs`] request) on a built kernel.
pub fn run(req: &RunRequest, setup: &Setup, print: Print) -> Result<BochsOutcome> {
    // 1. Checked.
    let (cfg, cmdline, version) = run::validate_bochs(req)?;
    let pattern = req.experiment.clone().unwrap_or_default();
    let selected = list::select(&pattern)?;
    let ms = req.ms.unwrap_or(suite::DEFAULT_MS);
    // 2. The ISO, in the run's directory.
    let dir = evidence::create_run_dir(
        &setup.out,
        &format!("{}-smp{}-{}", req.name, cfg.smp, cfg.model),
        SystemTime::now(),
    )?;
    let iso = dir.join("boot.iso");
    bochs::make_iso(&setup.workspace.root, &setup.elf, &iso, &cmdline)?;
    let cfg = bochs::Config { iso, ..cfg };
    let label = cfg.label(&version);
    // Bochs runs several times slower than QEMU's TCG here, and GRUB's
    // countdown comes first.
    let timeout = req.timeout.unwrap_or_else(|| {
        (60.0 + 4.0 * suite::boot_deadline(selected.len(), ms, req.smp)).min(run::MAX_TIMEOUT)
    });
    let source = format!(
        "{label}, {} CPU(s), ips {}, quantum {}",
        cfg.smp, cfg.ips, cfg.quantum
    );
    evidence::write(&dir, "source.txt", &format!("{source}\n{cmdline}\n"))?;
    let live_print = print == Print::Live;
    if live_print {
        println!(
            "harness: {} experiment(s) match `{pattern}`, {ms} ms each, on {source}, for up to {timeout:.0} s; evidence in {}",
            selected.len(),
            dir.display()
        );
    }
    // 3. Booted and followed.
    let symbols = setup.symbols().ok();
    let mut table = Table::new(selected.len(), live_print);
    let (b, experiments) = {
        let mut live = suite::Live::new(
            &mut table,
            None,
            Via::Bochs,
            symbols.as_ref(),
            None,
            live_print && setup.echo,
            false,
            "shared",
        )
        .on_emulator(label.clone());
        let b = bochs::boot(&cfg, Duration::from_secs_f64(timeout), &dir, &mut |l| {
            live.line(l)
        })?;
        // 4. Judged.
        let facts = Facts::from_transcript(&b.transcript);
        let seen = Where::new(facts.machine.as_ref(), Via::Bochs, None).with_emulator(Some(&label));
        let exps = xj::judge_unplanned(&facts, &b.ending, &seen, symbols.as_ref(), Some(&pattern))?;
        live.show_rest(&exps);
        (b, exps)
    };
    let facts = Facts::from_transcript(&b.transcript);
    let expectation = run::expectation(req.expect, None)?;
    let mut judgement = judge::judge(
        &facts,
        &expectation,
        &judge::Context {
            smp: Some(req.smp),
            ending: &b.ending,
            symbols: symbols.as_ref(),
        },
    );
    check_cmdline(&facts, &cmdline, &mut judgement);
    judgement.status = run::unplanned_status(
        judgement.status,
        xj::unplanned_verdict(&facts, &experiments).0,
    );
    let tally = Tally::of(&experiments);
    let out = BochsOutcome {
        dir,
        source,
        status: judgement.status,
        facts,
        ending: b.ending,
        judgement,
        experiments,
        tally,
        smp: req.smp,
        wall: b.wall,
    };
    write_evidence(&out, req, setup, &cmdline)?;
    Ok(out)
}

/// The ISO's default entry is the run's command line: a kernel that
/// reports another booted something else (an entry chosen by hand, an ISO
/// that is not the run's), and the run fails saying so.
fn check_cmdline(facts: &Facts, cmdline: &str, judgement: &mut Judgement) {
    if let Some(got) = facts.cmdline.as_deref().filter(|got| *got != cmdline) {
        judgement.reasons.push(format!(
            "the kernel reports the command line `{got}`, the run's ISO boots `{cmdline}`"
        ));
        judgement.met = false;
        if judgement.status == Status::Pass {
            judgement.status = Status::Unmet;
        }
    }
}

fn write_evidence(o: &BochsOutcome, req: &RunRequest, setup: &Setup, cmdline: &str) -> Result<()> {
    let command = std::fs::read_to_string(o.dir.join("bochs-command.txt")).unwrap_or_default();
    let s = Summary {
        name: &req.name,
        source: &o.source,
        cmdline,
        smp: req.smp,
        ms: req.ms.unwrap_or(suite::DEFAULT_MS),
        cpu: req.cpu.as_deref().unwrap_or(bochs::DEFAULT_MODEL),
        seen: o.experiments.first().map(|j| &j.seen),
        machine: o.facts.machine.as_ref(),
        facts: &o.facts,
        ending: &o.ending,
        judgement: &o.judgement,
        experiments: &o.experiments,
        tally: &o.tally,
        exit_status: o.status.code(),
        wall_seconds: o.wall.as_secs_f64(),
        replay: crate::replay::Recipe::new(
            req,
            setup,
            vec![cmdline.to_string()],
            vec![command.trim().to_string()],
        ),
        harness: evidence::current_provenance(),
    };
    evidence::write(
        &o.dir,
        "summary.json",
        &(serde_json::to_string_pretty(&s)? + "\n"),
    )?;
    suite::write_results(
        &o.dir,
        &suite::Results {
            name: "bochs",
            source: &o.source,
            smp: Some(req.smp),
            facts: &o.facts,
            judgement: &o.judgement,
            experiments: &o.experiments,
        },
        o.wall,
    )
}

/// The summary under the table, and the closing lines.
pub fn print_summary(o: &BochsOutcome, setup: &Setup) {
    let symbols = setup.symbols().ok();
    render::Summary {
        facts: &o.facts,
        judgement: &o.judgement,
        place: &o.source,
        smp: Some(o.smp),
        symbols: symbols.as_ref(),
        wall: Some(o.wall.as_secs_f64()),
        evidence: Some(&o.dir),
    }
    .print();
    if let Some(l) = xj::sabotage_line(&o.facts, &o.experiments) {
        println!("{l}");
    }
    render::print_tally(&o.experiments, o.status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(facts: &Facts) -> Judgement {
        let mut j = judge::judge(
            facts,
            &judge::Expectation::MustPass,
            &judge::Context {
                smp: None,
                ending: &Ending::Stopped,
                symbols: None,
            },
        );
        j.met = true;
        j.status = Status::Pass;
        j.reasons.clear();
        j
    }

    #[test]
    fn a_kernel_that_reports_another_command_line_than_the_iso_s_fails_the_run() {
        let facts = Facts {
            cmdline: Some("exp=naive/* ms=60".into()),
            ..Facts::default()
        };
        let mut j = judged(&facts);
        check_cmdline(&facts, "exp=naive/* ms=60", &mut j);
        assert!(j.met && j.reasons.is_empty(), "{:?}", j.reasons);
        check_cmdline(&facts, "exp=int3/* ms=60 break=batch-neighbour", &mut j);
        assert!(!j.met);
        assert_eq!(j.status, Status::Unmet);
        assert_eq!(
            j.reasons,
            ["the kernel reports the command line `exp=naive/* ms=60`, the run's ISO boots `exp=int3/* ms=60 break=batch-neighbour`"]
        );
    }
}
