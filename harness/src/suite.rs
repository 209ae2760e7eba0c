//! `harness run --experiment PATTERN` (and a matrix row with
//! `experiment =`): the registry experiments a pattern selects, booted,
//! followed live and each judged on its own ([`crate::judge::experiment`]).
//!
//! # Boots
//!
//! 1. **Shared**: `exp=PATTERN ms=N`. The kernel runs every selected
//!    experiment that can share a boot, in registry order, and reports each
//!    own-boot one as `skip reason=own-boot`.
//! 2. **Own**: each own-boot experiment the pattern selects, in a boot of its
//!    own (`exp=<its name>`): its expected end (a deadlock) ends the boot.
//! 3. **Resumed**: when the shared boot ends before it reached every
//!    experiment (a must-pass that deadlocked, a deadline), each experiment
//!    it never reached runs in a boot of its own, and says so. Resuming
//!    stops at the first resumed boot that fails on the platform's side.
//!
//! A pattern that selects one experiment is one boot. Under KVM where the
//! probe shows that `int3` ends the VM ([`Setup::kvm_nobp`]), every boot gets
//! `nobp`: experiments without `int3` still run, the others are SKIP with
//! that reason.
//!
//! # Evidence
//!
//! One directory per invocation, holding `summary.json` (every boot and
//! every experiment: counters, verdict, reasons, bound), `junit.xml` (one
//! test case per experiment, one per boot's platform judgement),
//! `latency.svg` and `.png` ([`plot`]), `experiments.txt` (the table as printed), and
//! one subdirectory per boot with that boot's usual evidence
//! ([`crate::results::evidence`]).

use crate::{
    boot::accel::AccelChoice,
    judge::symbols::Symbols,
    judge::{
        experiment::{self as xj, ExpJudgement, OwnBoot, Tally, Verdict},
        seen::{Via, Where},
        Baseline, Ending, Facts, Machine,
    },
    list,
    machine::qemu,
    machine::qemu_info::QemuInfo,
    request::{boot_deadline, RunRequest, Setup, DEFAULT_MS},
    results::evidence::{self, Case, CaseOutcome},
    results::figure,
    results::plot,
    results::render,
    results::table::{not_passed_line, Live, Print, Table},
    run::{self, RunOutcome},
    status::Status,
};
use anyhow::{Context as _, Result};
use plan::experiment::Experiment;
use serde::Serialize;
use std::{
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

/// One boot of a suite.
#[derive(Debug)]
pub struct BootResult {
    /// `shared`, `own`, `resumed`.
    pub role: String,
    /// Its `exp=` pattern.
    pub pattern: String,
    /// What it gave.
    pub outcome: RunOutcome,
}

/// What a suite gave.
#[derive(Debug)]
pub struct SuiteOutcome {
    /// Its evidence.
    pub dir: PathBuf,
    /// The QEMU that ran it.
    pub qemu: QemuInfo,
    /// The pattern.
    pub pattern: String,
    /// Milliseconds per experiment.
    pub ms: u64,
    /// The accelerator.
    pub accel: AccelChoice,
    /// Why `nobp` was on the command line, if it was.
    pub nobp_why: Option<String>,
    /// The boots, in order.
    pub boots: Vec<BootResult>,
    /// Every experiment's judgement, in registry order (then any the
    /// pattern did not select).
    pub experiments: Vec<ExpJudgement>,
    /// Counts by verdict.
    pub tally: Tally,
    /// Every boot's platform judgement met and no experiment FAIL.
    pub met: bool,
    /// The exit status.
    pub status: Status,
    /// Wall time of the whole suite.
    pub wall: Duration,
    /// The table as shown.
    pub table: Vec<String>,
}

impl SuiteOutcome {
    /// The first boot's facts (machine, baseline, ...).
    pub fn facts(&self) -> Option<&Facts> {
        self.boots.first().map(|b| &b.outcome.facts)
    }

    /// Why boots failed the platform judgement, one line each.
    pub fn platform_lines(&self) -> Vec<String> {
        let mut v = Vec::new();
        for b in &self.boots {
            for r in &b.outcome.judgement.reasons {
                v.push(format!("boot {} (exp={}): {r}", b.role, b.pattern));
            }
        }
        v
    }

    /// The reasons it failed, one line each: failed experiments first, then
    /// the platform's.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .experiments
            .iter()
            .filter(|j| j.verdict == Verdict::Fail)
            .map(|j| {
                format!(
                    "FAIL {}: {}",
                    j.name,
                    j.reasons.first().map_or("", String::as_str)
                )
            })
            .collect();
        v.extend(self.platform_lines());
        v
    }
}

/// The status of a suite: an interruption, then an environment failure,
/// then a deadline, then any expectation not met.
pub fn combine(boots: &[BootResult], tally: &Tally) -> (bool, Status) {
    let met = boots.iter().all(|b| b.outcome.judgement.met) && tally.failed == 0;
    let has = |s: Status| boots.iter().any(|b| b.outcome.judgement.status == s);
    let status = if has(Status::Interrupted) {
        Status::Interrupted
    } else if has(Status::BadInput) {
        Status::BadInput
    } else if has(Status::Timeout) {
        Status::Timeout
    } else if met {
        Status::Pass
    } else {
        Status::Unmet
    };
    (met, status)
}

struct Suite<'a> {
    req: &'a RunRequest,
    setup: &'a Setup,
    qemu: &'a QemuInfo,
    dir: PathBuf,
    ms: u64,
    accel: AccelChoice,
    nobp_why: Option<String>,
    symbols: Option<Symbols>,
    echo: bool,
}

impl Suite<'_> {
    /// One boot of the suite; its results are shown as they arrive, and
    /// after it those that never arrived (unless `show_never_ran` is false:
    /// the caller may resume them instead).
    fn boot(
        &self,
        table: &mut Table,
        role: &str,
        pattern: &str,
        n_running: usize,
        show_never_ran: bool,
    ) -> Result<(BootResult, Vec<ExpJudgement>)> {
        let sub = self.dir.join(evidence::sanitize(&if role == "shared" {
            "shared".to_string()
        } else {
            format!("{role}-{pattern}")
        }));
        std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
        let mut r = self.req.clone();
        r.name = format!("{}-{role}", self.req.name);
        r.experiment = Some(pattern.to_string());
        r.ms = Some(self.ms);
        if self.nobp_why.is_some() {
            r.append.push("nobp".into());
        }
        r.timeout = Some(
            self.req
                .timeout
                .unwrap_or_else(|| boot_deadline(n_running, self.ms, self.req.smp)),
        );
        let plan = run::resolve(&r, self.setup)?;
        let selected = list::select(pattern)?;
        let defer = selected.len() > 1;
        let mut live = Live::new(
            table,
            Some(self.accel.accel),
            Via::Qemu,
            self.symbols.as_ref(),
            self.nobp_why.as_deref(),
            self.echo,
            defer,
            role,
        )
        .with_qemu(Some(self.qemu.version));
        if self.echo {
            println!("harness: boot {role}: exp={pattern} ms={}", self.ms);
        }
        let outcome = run::execute_in_dir(&plan, self.setup, &sub, &mut |l| live.line(l))?;
        let seen = Where::new(
            outcome.facts.machine.as_ref(),
            Via::Qemu,
            Some(self.accel.accel),
        )
        .with_qemu(Some(outcome.plan.qemu.version));
        let ctx = xj::Context {
            seen: &seen,
            symbols: self.symbols.as_ref(),
            nobp_why: self.nobp_why.as_deref(),
        };
        let mut js = xj::judge_boot(
            &selected,
            &outcome.facts,
            &outcome.ending,
            &ctx,
            OwnBoot::Elsewhere,
        );
        for j in &mut js {
            j.boot = role.to_string();
        }
        let rest: Vec<ExpJudgement> = js
            .iter()
            .filter(|j| show_never_ran || !never_ran(j))
            .cloned()
            .collect();
        live.show_rest(&rest);
        Ok((
            BootResult {
                role: role.to_string(),
                pattern: pattern.to_string(),
                outcome,
            },
            js,
        ))
    }
}

/// Whether a judgement is of an experiment its boot never reached.
fn never_ran(j: &ExpJudgement) -> bool {
    j.outcome == "none" && j.reasons.iter().any(|r| r.starts_with("never ran"))
}

/// Runs the experiments of `req.experiment` (see the [module docs](self)).
pub fn run(req: &RunRequest, setup: &Setup, print: Print) -> Result<SuiteOutcome> {
    let pattern = req
        .experiment
        .clone()
        .context("a suite needs an experiment pattern")?;
    let selected = list::select(&pattern)?;
    let cpu = req.cpu.clone().unwrap_or_else(|| qemu::DEFAULT_CPU.into());
    let label = format!("{}-smp{}-{}", req.name, req.smp, qemu::model_name(&cpu));
    let dir = evidence::create_run_dir(&setup.out, &label, SystemTime::now())?;
    let start = Instant::now();
    let result = run_in(req, setup, print, &pattern, &selected, &dir, start);
    if let Err(e) = &result {
        let recipe = crate::recipe::Recipe::new(req, setup, Vec::new(), Vec::new());
        evidence::write_error_summary(
            &dir,
            serde_json::json!({ "name": req.name, "pattern": pattern, "replay": recipe }),
            e,
        );
    }
    result
}

fn run_in(
    req: &RunRequest,
    setup: &Setup,
    print: Print,
    pattern: &str,
    selected: &[&'static Experiment],
    dir: &Path,
    start: Instant,
) -> Result<SuiteOutcome> {
    let cpu = req.cpu.clone().unwrap_or_else(|| qemu::DEFAULT_CPU.into());
    let qemu = setup.qemu_for(req.qemu.as_deref())?;
    let mut accel = setup.accel(&qemu, req.accel, &cpu, dir)?;
    let nobp_why = setup.kvm_nobp(&qemu, &accel, &cpu, dir)?;
    if let Some(w) = &nobp_why {
        accel.why = format!("{}; probed for experiments: {w}, so `nobp`", accel.why);
    }
    let live = print == Print::Live;
    let suite = Suite {
        req,
        setup,
        qemu: &qemu,
        dir: dir.to_path_buf(),
        ms: req.ms.unwrap_or(DEFAULT_MS),
        accel: accel.clone(),
        nobp_why: nobp_why.clone(),
        symbols: setup.symbols().ok(),
        echo: live && setup.echo,
    };
    if live {
        println!(
            "harness: {} experiment(s) match `{pattern}`, {} ms each, {}",
            selected.len(),
            suite.ms,
            qemu.label()
        );
        if let Some(w) = &nobp_why {
            println!("harness: with `nobp`: {w}; experiments that need int3 are skipped");
        }
    }
    let mut table = Table::new(selected.len(), live);
    let mut boots = Vec::new();
    let mut results: Vec<ExpJudgement> = Vec::new();
    let own: Vec<&Experiment> = if selected.len() > 1 {
        selected.iter().copied().filter(|e| e.own_boot).collect()
    } else {
        Vec::new()
    };
    let shared_n = selected.len() - own.len();
    if shared_n > 0 {
        let role = if selected.len() == 1 && selected[0].own_boot {
            "own"
        } else {
            "shared"
        };
        let (b, js) = suite.boot(&mut table, role, pattern, shared_n, false)?;
        let ended = b.outcome.ending.clone();
        let why = xj::why_missing(&b.outcome.facts, &ended);
        boots.push(b);
        // Resume what the shared boot never reached.
        let mut resume_ok = !matches!(ended, Ending::Interrupted | Ending::Environment { .. });
        for j in js {
            let never = never_ran(&j);
            let e = plan::experiment::find(&j.name);
            match (never && resume_ok, e) {
                (true, Some(e)) => {
                    let (rb, mut rjs) = suite.boot(&mut table, "resumed", &e.name(), 1, true)?;
                    for rj in &mut rjs {
                        rj.notes.push(format!(
                            "resumed in a boot of its own: the shared boot ended early ({why})"
                        ));
                    }
                    if !rb.outcome.judgement.met {
                        resume_ok = false;
                    }
                    boots.push(rb);
                    results.extend(rjs);
                }
                _ => {
                    if never {
                        table.show(&j);
                    }
                    results.push(j);
                }
            }
            if crate::machine::live::interrupted() {
                resume_ok = false;
            }
        }
    }
    for e in own {
        if crate::machine::live::interrupted() {
            break;
        }
        let (b, js) = suite.boot(&mut table, "own", &e.name(), 1, true)?;
        boots.push(b);
        results.extend(js);
    }
    // Registry order, then anything the pattern did not select.
    let order = |j: &ExpJudgement| {
        selected
            .iter()
            .position(|e| *e.name() == j.name)
            .unwrap_or(usize::MAX)
    };
    results.sort_by_key(order);
    // Selected experiments that no boot reported at all (interrupted).
    for e in selected {
        if !results.iter().any(|j| j.name == *e.name()) {
            let seen = Where::new(None, Via::Qemu, Some(accel.accel)).with_qemu(Some(qemu.version));
            let ctx = xj::Context {
                seen: &seen,
                symbols: None,
                nobp_why: None,
            };
            results.push({
                // Only an interrupt stops a run before a boot.
                let mut j = xj::never_ran(e, "the run stopped before its boot", &ctx);
                j.verdict = xj::Verdict::Skip;
                j
            });
        }
    }
    let tally = Tally::of(&results);
    let (met, status) = combine(&boots, &tally);
    let out = SuiteOutcome {
        dir: dir.to_path_buf(),
        qemu: (*qemu).clone(),
        pattern: pattern.to_string(),
        ms: suite.ms,
        accel,
        nobp_why,
        boots,
        experiments: results,
        tally,
        met,
        status,
        wall: start.elapsed(),
        table: table.text,
    };
    write_evidence(&out, req, setup)?;
    Ok(out)
}

#[derive(Serialize)]
struct BootJson<'a> {
    role: &'a str,
    pattern: &'a str,
    cmdline: Option<&'a str>,
    evidence: &'a Path,
    qemu_command: &'a str,
    ending: &'a Ending,
    platform: &'a crate::judge::Judgement,
    baseline: Option<&'a Baseline>,
    tsc_hz: Option<u64>,
    wall_seconds: f64,
}

#[derive(Serialize)]
struct SuiteJson<'a> {
    name: &'a str,
    qemu: &'a QemuInfo,
    pattern: &'a str,
    ms: u64,
    smp: u32,
    cpu: Option<&'a str>,
    accel: &'a AccelChoice,
    nobp: Option<&'a str>,
    seen: Option<&'a Where>,
    machine: Option<&'a Machine>,
    boots: Vec<BootJson<'a>>,
    experiments: &'a [ExpJudgement],
    tally: &'a Tally,
    met: bool,
    exit_status: u8,
    wall_seconds: f64,
    evidence: &'a Path,
    replay: crate::recipe::Recipe,
    harness: evidence::Provenance,
}

/// What the `junit.xml` and the latency figure of one judged boot are
/// made of.
pub struct Results<'a> {
    /// The JUnit name of the boot's own cases.
    pub name: &'a str,
    /// Where it ran, for people.
    pub source: &'a str,
    /// CPUs asked for, if known.
    pub smp: Option<u32>,
    /// The boot's facts.
    pub facts: &'a crate::judge::Facts,
    /// The platform's judgement.
    pub judgement: &'a crate::judge::Judgement,
    /// The experiments'.
    pub experiments: &'a [ExpJudgement],
}

/// Writes `junit.xml` (the platform's cases, then each experiment's) and,
/// when experiments ran, the latency figure.
pub fn write_results(dir: &Path, s: &Results<'_>, wall: std::time::Duration) -> Result<()> {
    let mut cases = run::junit_cases(s.name, s.facts, s.judgement, wall);
    cases.extend(s.experiments.iter().map(evidence::experiment_case));
    evidence::write(
        dir,
        "junit.xml",
        &evidence::junit_xml(
            "static-call",
            &[
                ("source", s.source.to_string()),
                ("smp", s.smp.map_or("?".into(), |n| n.to_string())),
            ],
            &cases,
        ),
    )?;
    if !s.experiments.is_empty() {
        crate::results::figure::write(
            dir,
            "latency",
            &crate::results::plot::Latency {
                exps: s.experiments,
                baseline: s.facts.baseline.as_ref(),
                tsc_hz: s.facts.tsc_hz,
                title: &format!("patch latency per phase, {}", s.source),
            },
        )?;
    }
    Ok(())
}

fn write_evidence(o: &SuiteOutcome, req: &RunRequest, setup: &Setup) -> Result<()> {
    let cmdlines = o
        .boots
        .iter()
        .filter_map(|b| match &b.outcome.plan.medium {
            qemu::Medium::Kernel { cmdline, .. } => Some(cmdline.clone()),
            qemu::Medium::Iso { .. } => None,
        })
        .collect();
    let commands = o.boots.iter().map(|b| b.outcome.command.clone()).collect();
    let boots = o
        .boots
        .iter()
        .map(|b| BootJson {
            role: &b.role,
            pattern: &b.pattern,
            cmdline: b.outcome.facts.cmdline.as_deref(),
            evidence: &b.outcome.dir,
            qemu_command: &b.outcome.command,
            ending: &b.outcome.ending,
            platform: &b.outcome.judgement,
            baseline: b.outcome.facts.baseline.as_ref(),
            tsc_hz: b.outcome.facts.tsc_hz,
            wall_seconds: b.outcome.wall.as_secs_f64(),
        })
        .collect();
    let s = SuiteJson {
        name: &req.name,
        qemu: &o.qemu,
        pattern: &o.pattern,
        ms: o.ms,
        smp: req.smp,
        cpu: req.cpu.as_deref(),
        accel: &o.accel,
        nobp: o.nobp_why.as_deref(),
        seen: o.experiments.first().map(|j| &j.seen),
        machine: o.facts().and_then(|f| f.machine.as_ref()),
        boots,
        experiments: &o.experiments,
        tally: &o.tally,
        met: o.met,
        exit_status: o.status.code(),
        wall_seconds: o.wall.as_secs_f64(),
        evidence: &o.dir,
        replay: crate::recipe::Recipe::new(req, setup, cmdlines, commands),
        harness: evidence::current_provenance(),
    };
    evidence::write(
        &o.dir,
        "summary.json",
        &(serde_json::to_string_pretty(&s)? + "\n"),
    )?;
    let mut cases: Vec<Case> = o
        .experiments
        .iter()
        .map(evidence::experiment_case)
        .collect();
    for b in &o.boots {
        cases.push(platform_case(b));
    }
    evidence::write(
        &o.dir,
        "junit.xml",
        &evidence::junit_xml(
            &format!(
                "static-call experiments {} -smp {} {} {}",
                o.pattern,
                req.smp,
                qemu::model_name(req.cpu.as_deref().unwrap_or(qemu::DEFAULT_CPU)),
                o.accel.accel.name()
            ),
            &[
                ("pattern", o.pattern.clone()),
                ("ms", o.ms.to_string()),
                ("smp", req.smp.to_string()),
                (
                    "cpu",
                    req.cpu.clone().unwrap_or_else(|| qemu::DEFAULT_CPU.into()),
                ),
                ("accel", o.accel.accel.name().to_string()),
                ("qemu", o.qemu.version.to_string()),
            ],
            &cases,
        ),
    )?;
    let facts = o.facts();
    let title = format!(
        "patch latency per phase, exp={} ms={} -smp {} ({})",
        o.pattern,
        o.ms,
        req.smp,
        o.experiments
            .first()
            .map_or("?".to_string(), |j| j.seen.label())
    );
    figure::write(
        &o.dir,
        "latency",
        &plot::Latency {
            exps: &o.experiments,
            baseline: facts.and_then(|f| f.baseline.as_ref()),
            tsc_hz: facts.and_then(|f| f.tsc_hz),
            title: &title,
        },
    )?;
    let mut text = o.table.join("\n");
    text.push('\n');
    text.push_str(&o.tally.line());
    text.push('\n');
    evidence::write(&o.dir, "experiments.txt", &text)
}

/// The test points of `run --tap`: each boot's platform judgement and
/// checks (what `parse --tap` of its serial log gives for them), then each
/// experiment.
pub fn tap_cases(o: &SuiteOutcome) -> Vec<Case> {
    let mut cases: Vec<Case> = o
        .boots
        .iter()
        .flat_map(|b| {
            run::junit_cases(
                &b.outcome.plan.name,
                &b.outcome.facts,
                &b.outcome.judgement,
                b.outcome.wall,
            )
        })
        .collect();
    cases.extend(o.experiments.iter().map(evidence::experiment_case));
    cases
}

fn platform_case(b: &BootResult) -> Case {
    let j = &b.outcome.judgement;
    Case {
        class: "platform".into(),
        name: format!("{} boot (exp={})", b.role, b.pattern),
        time: b.outcome.wall.as_secs_f64(),
        outcome: CaseOutcome::of(j.met, &j.reasons),
    }
}

/// Prints the end of a suite: the first boot's summary, a line per other
/// boot, the experiments that did not pass, the tally, the verdict. With
/// `--quiet`, only the boots whose platform was not met are shown, then
/// the experiments that did not pass, the evidence, the tally, the verdict.
pub fn print_summary(o: &SuiteOutcome, setup: &Setup) {
    let symbols = setup.symbols().ok();
    let mut out = std::io::stdout().lock();
    let quiet = setup.quiet;
    if let Some(first) = o
        .boots
        .first()
        .filter(|b| !quiet || !b.outcome.judgement.met)
    {
        let s = render::Summary {
            facts: &first.outcome.facts,
            judgement: &first.outcome.judgement,
            place: &format!(
                "QEMU {}, boot {}, -cpu {}, accel {}",
                o.qemu.version,
                first.outcome.plan.boot.name(),
                first.outcome.plan.cpu,
                o.accel.line()
            ),
            smp: Some(first.outcome.plan.smp),
            symbols: symbols.as_ref(),
            wall: Some(first.outcome.wall.as_secs_f64()),
            evidence: None,
        };
        let _ = writeln!(
            out,
            "--- summary (boot {}: exp={}) ---",
            first.role, first.pattern
        );
        let width = render::line_width();
        for l in s.lines().iter().filter(|l| !l.starts_with("status")) {
            for l in render::fold(l, width) {
                let _ = writeln!(out, "{l}");
            }
        }
    }
    for b in o
        .boots
        .iter()
        .skip(1)
        .filter(|b| !quiet || !b.outcome.judgement.met)
    {
        let j = &b.outcome.judgement;
        let line = format!(
            "{:<9} {} exp={}: platform {}, kernel says {}, {:.1} s{}",
            "boot",
            b.role,
            b.pattern,
            if j.met { "MET" } else { "NOT MET" },
            j.kernel_verdict.as_deref().unwrap_or("nothing"),
            b.outcome.wall.as_secs_f64(),
            j.reasons
                .first()
                .map_or(String::new(), |r| format!(" ({r})"))
        );
        for l in render::fold(&line, render::line_width()) {
            let _ = writeln!(out, "{l}");
        }
    }
    let not_passed: Vec<&ExpJudgement> = o
        .experiments
        .iter()
        .filter(|j| matches!(j.verdict, Verdict::Fail | Verdict::Kfail))
        .collect();
    for j in &not_passed {
        for l in render::fold(&not_passed_line(j), render::line_width()) {
            let _ = writeln!(out, "{l}");
        }
    }
    if !quiet {
        let _ = writeln!(
            out,
            "{:<9} {:.1} s for {} boot(s)",
            "total",
            o.wall.as_secs_f64(),
            o.boots.len()
        );
    }
    let _ = writeln!(out, "{:<9} {}", "evidence", o.dir.display());
    let _ = writeln!(out, "{}", o.tally.line());
    let verdict = if let Some(own) = o.status.own_verdict() {
        own.to_string()
    } else if o.met {
        if o.tally.kfail > 0 {
            format!(
                "PASS: every expectation met; {} known failure(s) reported (KFAIL)",
                o.tally.kfail
            )
        } else {
            "PASS: every expectation met".into()
        }
    } else {
        let platform = o.boots.iter().filter(|b| !b.outcome.judgement.met).count();
        format!(
            "FAIL: {} experiment(s) failed{}",
            o.tally.failed,
            if platform > 0 {
                format!(", {platform} boot(s) failed the platform judgement")
            } else {
                String::new()
            }
        )
    };
    let _ = writeln!(
        out,
        "verdict: {verdict} (status {}: {})",
        o.status.code(),
        o.status.word()
    );
    let _ = out.flush();
}
