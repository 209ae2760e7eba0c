//! The experiments of a request, on Bochs: `harness run --emulator bochs`
//! and a matrix row with `emulator = bochs`.
//!
//! 1. The request is checked before anything runs ([`run::validate_bochs`]).
//! 2. Each boot's ISO is made in its evidence directory, with the boot's
//!    kernel command line as its default entry.
//! 3. One boot runs the selected experiments, and each experiment whose
//!    expected end takes the boot with it (a deadlock) runs in a boot of
//!    its own after it, as under QEMU; each boot is followed live
//!    ([`bochs::boot`]).
//! 4. Each experiment is judged from its records, the platform from the
//!    boot, and the evidence written with a `replay` record, so that
//!    `harness replay` runs it again and compares it record by record.

use crate::{
    boot::bochs,
    judge::{
        self,
        experiment::{self as xj, ExpJudgement, Tally},
        seen::{Via, Where},
        Ending, Facts, Judgement,
    },
    list,
    request::{self, RunRequest, Setup},
    results::evidence::{self, Provenance},
    results::render,
    results::table::{self, Print, Table},
    run,
    status::Status,
    suite,
};
use anyhow::{Context as _, Result};
use serde::Serialize;
use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// What one Bochs run gave.
#[derive(Debug)]
pub struct BochsOutcome {
    /// Its evidence directory.
    pub dir: PathBuf,
    /// `bochs 2.7, corei5_lynnfield_750, 2 CPU(s), ips 110000000, quantum 16`.
    pub source: String,
    /// Its boots, the shared one first.
    pub boots: Vec<Boot>,
    /// Each experiment's judgement.
    pub experiments: Vec<ExpJudgement>,
    /// Their tally.
    pub tally: Tally,
    /// The run's exit status.
    pub status: Status,
    /// CPUs asked for.
    pub smp: u32,
    /// The boots' walls added up.
    pub wall: Duration,
}

impl BochsOutcome {
    /// Whether every expectation was met.
    pub fn met(&self) -> bool {
        self.status == Status::Pass
    }

    /// The shared boot.
    pub fn first(&self) -> &Boot {
        &self.boots[0]
    }

    /// Whether the harness was interrupted.
    pub fn interrupted(&self) -> bool {
        self.boots.iter().any(|b| b.ending == Ending::Interrupted)
    }

    /// The platform's reasons, one line each, by boot.
    pub fn platform_lines(&self) -> Vec<String> {
        self.boots
            .iter()
            .flat_map(|b| {
                b.judgement
                    .reasons
                    .iter()
                    .map(move |r| format!("boot {} (exp={}): {r}", b.role, b.pattern))
            })
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
    boots: Vec<BootJson<'a>>,
    experiments: &'a [ExpJudgement],
    tally: &'a Tally,
    exit_status: u8,
    wall_seconds: f64,
    replay: crate::recipe::Recipe,
    harness: Provenance,
}

/// One Bochs boot of a run.
#[derive(Debug)]
pub struct Boot {
    /// `shared`, or `own` for an experiment whose expected end takes the
    /// boot with it.
    pub role: String,
    /// Its `exp=` pattern.
    pub pattern: String,
    /// Its kernel command line (its ISO's default entry).
    pub cmdline: String,
    /// Its evidence: the run's directory for the shared boot, `own-N/`
    /// under it for the others.
    pub dir: PathBuf,
    /// What its records say.
    pub facts: Facts,
    /// How it ended.
    pub ending: Ending,
    /// The platform's judgement of it.
    pub judgement: Judgement,
    /// Spawn to end of following.
    pub wall: Duration,
}

/// What every boot of a run shares.
struct Plan<'a> {
    req: &'a RunRequest,
    setup: &'a Setup,
    cfg: bochs::Config,
    label: String,
    ms: u64,
    symbols: Option<crate::judge::symbols::Symbols>,
    echo: bool,
}

impl Plan<'_> {
    /// The kernel command line of a boot of `pattern`.
    fn cmdline(&self, pattern: &str) -> String {
        let mut c = format!("exp={pattern} ms={}", self.ms);
        for w in &self.req.append {
            c.push(' ');
            c.push_str(w);
        }
        c
    }

    /// Boots `pattern` (`n` experiments) with its evidence in `dir`,
    /// showing each result in `table` as it arrives (step 3), and judges
    /// it (step 4). With `defer_own`, the experiments that get a boot of
    /// their own are left out of the judgements.
    fn boot(
        &self,
        table: &mut Table,
        role: &str,
        pattern: &str,
        n: usize,
        dir: &Path,
        defer_own: bool,
    ) -> Result<(Boot, Vec<ExpJudgement>)> {
        let cmdline = self.cmdline(pattern);
        let iso = dir.join("boot.iso");
        bochs::make_iso(&self.setup.workspace.root, &self.setup.elf, &iso, &cmdline)?;
        let cfg = bochs::Config {
            iso,
            ..self.cfg.clone()
        };
        // Bochs runs several times slower than QEMU's TCG here, and its
        // BIOS and GRUB's countdown come first.
        let timeout = self.req.timeout.unwrap_or_else(|| {
            (60.0 + 4.0 * request::boot_deadline(n, self.ms, self.req.smp))
                .min(request::MAX_TIMEOUT)
        });
        if self.echo {
            println!("harness: boot {role}: {cmdline}");
        }
        let mut live = table::Live::new(
            table,
            None,
            Via::Bochs,
            self.symbols.as_ref(),
            None,
            self.echo,
            defer_own,
            role,
        )
        .on_emulator(self.label.clone());
        let b = bochs::boot(&cfg, Duration::from_secs_f64(timeout), dir, &mut |l| {
            live.line(l)
        })?;
        let facts = Facts::from_transcript(&b.transcript);
        let seen =
            Where::new(facts.machine.as_ref(), Via::Bochs, None).with_emulator(Some(&self.label));
        let mut exps = xj::judge_unplanned(
            &facts,
            &b.ending,
            &seen,
            self.symbols.as_ref(),
            Some(pattern),
        )?;
        if defer_own {
            exps.retain(|j| !plan::experiment::find(&j.name).is_some_and(|e| e.own_boot));
        }
        for j in &mut exps {
            j.boot = role.to_string();
        }
        live.show_rest(&exps);
        let mut judgement = judge::judge(
            &facts,
            &request::expectation(self.req.expect, None)?,
            &judge::Context {
                smp: Some(self.req.smp),
                ending: &b.ending,
                symbols: self.symbols.as_ref(),
            },
        );
        check_cmdline(&facts, &cmdline, &mut judgement);
        judgement.status =
            run::unplanned_status(judgement.status, xj::unplanned_verdict(&facts, &exps).0);
        Ok((
            Boot {
                role: role.to_string(),
                pattern: pattern.to_string(),
                cmdline,
                dir: dir.to_path_buf(),
                facts,
                ending: b.ending,
                judgement,
                wall: b.wall,
            },
            exps,
        ))
    }
}

/// Runs `req` (an [`request::Emulator::Bochs`] request) on a built kernel.
pub fn run(req: &RunRequest, setup: &Setup, print: Print) -> Result<BochsOutcome> {
    // 1. Checked.
    let (cfg, _, version) = run::validate_bochs(req)?;
    let pattern = req.experiment.clone().unwrap_or_default();
    let selected = list::select(&pattern)?;
    let ms = req.ms.unwrap_or(request::DEFAULT_MS);
    let dir = evidence::create_run_dir(
        &setup.out,
        &format!("{}-smp{}-{}", req.name, cfg.smp, cfg.model),
        SystemTime::now(),
    )?;
    let label = cfg.label(&version);
    let source = format!(
        "{label}, {} CPU(s), ips {}, quantum {}",
        cfg.smp, cfg.ips, cfg.quantum
    );
    let live_print = print == Print::Live;
    let plan = Plan {
        req,
        setup,
        cfg,
        label,
        ms,
        symbols: setup.symbols().ok(),
        echo: live_print && setup.echo,
    };
    evidence::write(
        &dir,
        "source.txt",
        &format!("{source}\n{}\n", plan.cmdline(&pattern)),
    )?;
    // The experiments whose expected end takes the boot with it get a
    // boot of their own after the shared one (as under QEMU).
    let own: Vec<String> = if selected.len() > 1 {
        selected
            .iter()
            .filter(|e| e.own_boot)
            .map(|e| e.name().to_string())
            .collect()
    } else {
        Vec::new()
    };
    if live_print {
        println!(
            "harness: {} experiment(s) match `{pattern}`, {ms} ms each, on {source}, in {} boot(s); evidence in {}",
            selected.len(),
            1 + own.len(),
            dir.display()
        );
    }
    // 2 to 4, for each boot: its ISO, the boot followed, judged. The
    // first boot's evidence is the run's directory, the others' `own-N/`.
    let shared_n = selected.len() - own.len();
    let mut plan_boots: Vec<(&str, &str, usize, bool)> = Vec::new();
    if shared_n > 0 {
        plan_boots.push(("shared", &pattern, shared_n, !own.is_empty()));
    }
    plan_boots.extend(own.iter().map(|name| ("own", name.as_str(), 1, false)));
    let mut table = Table::new(selected.len(), live_print);
    let mut boots = Vec::new();
    let mut experiments = Vec::new();
    for (k, (role, pat, n, defer)) in plan_boots.into_iter().enumerate() {
        if k > 0 && crate::machine::live::interrupted() {
            break;
        }
        let at = if k == 0 {
            dir.clone()
        } else {
            let sub = dir.join(format!("own-{k}"));
            std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
            sub
        };
        let (b, js) = plan.boot(&mut table, role, pat, n, &at, defer)?;
        boots.push(b);
        experiments.extend(js);
    }
    // Selected experiments that no boot reported at all (interrupted).
    if let Some(first) = boots.first() {
        let seen = Where::new(first.facts.machine.as_ref(), Via::Bochs, None)
            .with_emulator(Some(&plan.label));
        let ctx = xj::Context {
            seen: &seen,
            symbols: None,
            nobp_why: None,
        };
        for e in &selected {
            if !experiments
                .iter()
                .any(|j: &ExpJudgement| j.name == *e.name())
            {
                experiments.push({
                    // Only an interrupt stops a run before a boot.
                    let mut j = xj::never_ran(e, "the run stopped before its boot", &ctx);
                    j.verdict = xj::Verdict::Skip;
                    j
                });
            }
        }
    }
    let order = |j: &ExpJudgement| selected.iter().position(|e| *e.name() == j.name);
    experiments.sort_by_key(|j| order(j).unwrap_or(usize::MAX));
    let tally = Tally::of(&experiments);
    let status = worst(boots.iter().map(|b| b.judgement.status));
    let out = BochsOutcome {
        dir,
        source,
        status,
        experiments,
        tally,
        smp: req.smp,
        wall: boots.iter().map(|b| b.wall).sum(),
        boots,
    };
    write_evidence(&out, req, setup)?;
    Ok(out)
}

/// The status of a run of boots: an interrupt first, then bad input or a
/// broken environment, then a deadline, then any expectation not met.
fn worst(statuses: impl Iterator<Item = Status>) -> Status {
    statuses
        .max_by_key(|s| match s {
            Status::Pass => 0,
            Status::Unmet => 1,
            Status::Timeout => 2,
            Status::BadInput => 3,
            Status::Interrupted => 4,
        })
        .unwrap_or(Status::Pass)
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

/// One boot in a Bochs run's `summary.json`.
#[derive(Serialize)]
struct BootJson<'a> {
    role: &'a str,
    pattern: &'a str,
    cmdline: &'a str,
    evidence: &'a Path,
    ending: &'a Ending,
    platform: &'a Judgement,
    wall_seconds: f64,
}

fn write_evidence(o: &BochsOutcome, req: &RunRequest, setup: &Setup) -> Result<()> {
    let first = o.first();
    let commands = o
        .boots
        .iter()
        .map(|b| {
            std::fs::read_to_string(b.dir.join("bochs-command.txt"))
                .unwrap_or_default()
                .trim()
                .to_string()
        })
        .collect();
    let s = Summary {
        name: &req.name,
        source: &o.source,
        cmdline: &first.cmdline,
        smp: req.smp,
        ms: req.ms.unwrap_or(request::DEFAULT_MS),
        cpu: req.cpu.as_deref().unwrap_or(bochs::DEFAULT_MODEL),
        seen: o.experiments.first().map(|j| &j.seen),
        machine: first.facts.machine.as_ref(),
        facts: &first.facts,
        ending: &first.ending,
        judgement: &first.judgement,
        boots: o
            .boots
            .iter()
            .map(|b| BootJson {
                role: &b.role,
                pattern: &b.pattern,
                cmdline: &b.cmdline,
                evidence: &b.dir,
                ending: &b.ending,
                platform: &b.judgement,
                wall_seconds: b.wall.as_secs_f64(),
            })
            .collect(),
        experiments: &o.experiments,
        tally: &o.tally,
        exit_status: o.status.code(),
        wall_seconds: o.wall.as_secs_f64(),
        replay: crate::recipe::Recipe::new(
            req,
            setup,
            o.boots.iter().map(|b| b.cmdline.clone()).collect(),
            commands,
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
            facts: &first.facts,
            judgement: &first.judgement,
            experiments: &o.experiments,
        },
        o.wall,
    )
}

/// The summary under the table (the shared boot's platform, then a line
/// per other boot), and the closing lines.
pub fn print_summary(o: &BochsOutcome, setup: &Setup) {
    let symbols = setup.symbols().ok();
    let first = o.first();
    render::Summary {
        facts: &first.facts,
        judgement: &first.judgement,
        place: &o.source,
        smp: Some(o.smp),
        symbols: symbols.as_ref(),
        wall: Some(o.wall.as_secs_f64()),
        evidence: Some(&o.dir),
    }
    .print_unless_quiet(setup.quiet);
    for b in o
        .boots
        .iter()
        .skip(1)
        .filter(|b| !setup.quiet || !b.judgement.met)
    {
        render::println_folded(&format!(
            "boot      {} exp={}: platform {}, {:.1} s",
            b.role,
            b.pattern,
            if b.judgement.met { "MET" } else { "NOT MET" },
            b.wall.as_secs_f64()
        ));
    }
    if let Some(l) = xj::sabotage_line(&first.facts, &o.experiments) {
        render::println_folded(&l);
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
