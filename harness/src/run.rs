//! `harness run` and one row of `harness matrix`: a request is resolved
//! into one validated [`RunPlan`] (every check that can fail before QEMU
//! starts fails here, with status 2), then [`execute`]d: accelerator
//! chosen, QEMU booted and followed, the transcript judged, the evidence
//! written.

use crate::{
    boot,
    boot::accel::{self, AccelChoice, AccelRequest},
    judge::{
        self,
        experiment::{self as xj, ExpJudgement, Tally, Verdict},
        seen::{Via, Where},
        Ending, Expectation, Facts, Judgement,
    },
    machine::qemu::{self, Medium, QemuCommand},
    machine::qemu_info::{QemuInfo, QemuVersion},
    machine::workspace::Workspace,
    request,
    request::{
        expectation, iso_deadline, BootKind, Emulator, ExpectKind, RunRequest, Setup,
        DEFAULT_HANG_TIMEOUT, DEFAULT_TIMEOUT, MAX_SMP, MAX_TIMEOUT,
    },
    results::evidence::{self, Case, CaseOutcome},
    results::figure,
    results::plot,
    results::render,
    results::table::{Live, Table},
    status::Status,
};
use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, SystemTime},
};

/// A validated run.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    /// Name.
    pub name: String,
    /// `-smp`.
    pub smp: u32,
    /// `-cpu`.
    pub cpu: String,
    /// The accelerator asked for.
    pub accel: AccelRequest,
    /// Deadline, seconds.
    pub timeout: f64,
    /// How it boots.
    pub boot: BootKind,
    /// What (accelerator filled in at execution).
    pub medium: Medium,
    /// The expectation.
    pub expectation: Expectation,
    /// The kernel ELF whose symbols judge faults.
    pub elf: PathBuf,
    /// The QEMU that runs it: path, version, machine type.
    pub qemu: QemuInfo,
    /// The request it was resolved from (kept for `replay`).
    #[serde(skip)]
    pub request: RunRequest,
}

fn file_age(p: &Path) -> Option<SystemTime> {
    p.metadata().ok()?.modified().ok()
}

/// What [`validate`] found: the `-cpu`, the expectation, the deadline and
/// the QEMU.
pub type Validated = (String, Expectation, f64, Arc<QemuInfo>);

/// Checks everything about a request that does not need the built kernel
/// or ISO: the `--append` words (as the kernel parses them), ranges, the
/// QEMU (it is QEMU, not too old) and the CPU model against it, the control
/// and the expectation, and whether the boot method takes a command line.
pub fn validate(req: &RunRequest, setup: &Setup) -> Result<Validated> {
    for words in &req.append {
        report::cmdline::Options::parse(words).map_err(|e| {
            anyhow::anyhow!("--append `{words}`: {e} (docs/cmdline.md lists the words)")
        })?;
    }
    if let Emulator::Bochs { .. } = req.emulator {
        bail!("a Bochs run is checked by `validate_bochs`, not as a QEMU run");
    }
    if !(1..=MAX_SMP).contains(&req.smp) {
        bail!(
            "smp {} is out of range: QEMU's `pc` machine, which the harness boots, takes 1 to {MAX_SMP} CPUs",
            req.smp
        );
    }
    request::check_executors(&req.append, req.smp).map_err(anyhow::Error::msg)?;
    let cpu = req.cpu.clone().unwrap_or_else(|| qemu::DEFAULT_CPU.into());
    let qemu = setup.qemu_for(req.qemu.as_deref())?;
    qemu::check_cpu_model(&cpu, &qemu.cpu_models)
        .with_context(|| format!("with {}", qemu.label()))?;
    if qemu::model_name(&cpu) == "host" && req.accel == AccelRequest::Tcg {
        bail!("--cpu host needs KVM; under TCG use a named model or `max`");
    }
    let expectation = expectation(req.expect, req.control.as_deref())?;
    let timeout = req.timeout.unwrap_or(match (&expectation, req.boot) {
        (Expectation::ExpectDeadlock { .. }, _) => DEFAULT_HANG_TIMEOUT,
        (_, BootKind::Kernel) => DEFAULT_TIMEOUT,
        (_, BootKind::IsoBios | BootKind::IsoUefi) => iso_deadline(req.smp),
    });
    if !(timeout > 0.0 && timeout <= MAX_TIMEOUT) {
        bail!("timeout {timeout} s is out of range: give 0 < SECS <= {MAX_TIMEOUT}");
    }
    if req.boot != BootKind::Kernel
        && (req.control.is_some() || !req.append.is_empty() || req.experiment.is_some())
    {
        bail!(
            "--boot {}: the ISO's kernel command line is that of its menu's default entry, fixed \
             in grub.cfg (the default suite, judged from the command line the kernel reports), \
             so --control, --experiment, --executors and --append need --boot kernel (or bake \
             words into the \
             default entry with `make iso CMDLINE=...`)",
            req.boot.name()
        );
    }
    if let Some(pattern) = &req.experiment {
        crate::list::select(pattern).context("--experiment")?;
        if req.control.is_some() {
            bail!("--experiment and --control: run a negative control of the platform on its own");
        }
        if req.expect.is_some_and(|e| e != ExpectKind::Pass) {
            bail!("--experiment: each experiment carries its own expectation; drop --expect");
        }
    } else if req.ms.is_some() {
        bail!("--ms is the time per experiment: it needs --experiment");
    }
    if let Some(ms) = req.ms {
        request::check_ms(ms).map_err(anyhow::Error::msg)?;
    }
    if req.boot == BootKind::IsoUefi {
        qemu::find_ovmf()?;
    }
    Ok((cpu, expectation, timeout, qemu))
}

/// Checks a request before any boot, whichever emulator it names
/// ([`validate`], [`validate_bochs`]).
pub fn check_request(req: &RunRequest, setup: &Setup) -> Result<()> {
    match req.emulator {
        Emulator::Qemu => validate(req, setup).map(|_| ()),
        Emulator::Bochs { .. } => validate_bochs(req).map(|_| ()),
    }
}

/// Checks a Bochs request before any boot: Bochs is installed, the CPU
/// model is one of its own, `ips` is at or above the kernel's clock floor,
/// the kernel would take the command line, and nothing is asked that only
/// a QEMU boot does. Gives the Bochs boot (its ISO still to be made), the
/// kernel command line and the Bochs version.
pub fn validate_bochs(req: &RunRequest) -> Result<(crate::boot::bochs::Config, String, String)> {
    let Emulator::Bochs { ips, quantum } = req.emulator else {
        bail!("not a Bochs run");
    };
    if req.control.is_some() || req.boot != BootKind::Kernel || req.qemu.is_some() {
        bail!(
            "Bochs boots the ISO made for the run through its BIOS and runs experiments only: \
             no control, boot method or QEMU"
        );
    }
    if req.expect.is_some_and(|e| e != ExpectKind::Pass) {
        bail!("--experiment: each experiment carries its own expectation; drop --expect");
    }
    let pattern = req
        .experiment
        .as_deref()
        .context("a Bochs run needs experiments (--experiment, or `experiment =` in a row)")?;
    crate::list::select(pattern).context("--experiment")?;
    let ms = req.ms.unwrap_or(request::DEFAULT_MS);
    request::check_ms(ms).map_err(anyhow::Error::msg)?;
    request::check_executors(&req.append, req.smp).map_err(anyhow::Error::msg)?;
    let mut cmdline = format!("exp={pattern} ms={ms}");
    for w in &req.append {
        cmdline.push(' ');
        cmdline.push_str(w);
    }
    report::cmdline::Options::parse(&cmdline)
        .map_err(|e| anyhow::anyhow!("the kernel would refuse `{cmdline}`: {e}"))?;
    if let Some(t) = req.timeout {
        if !(t > 0.0 && t <= MAX_TIMEOUT) {
            bail!("timeout {t} s is out of range: give 0 < SECS <= {MAX_TIMEOUT}");
        }
    }
    let cfg = crate::boot::bochs::Config {
        model: req
            .cpu
            .clone()
            .unwrap_or_else(|| crate::boot::bochs::DEFAULT_MODEL.into()),
        smp: req.smp,
        ips,
        quantum,
        iso: PathBuf::new(),
    };
    crate::boot::bochs::check(&cfg, &crate::boot::bochs::models()?)?;
    Ok((cfg, cmdline, crate::boot::bochs::version()?))
}

/// Checks a request against the environment and the built artifacts and
/// resolves it into a plan.
pub fn resolve(req: &RunRequest, setup: &Setup) -> Result<RunPlan> {
    let (cpu, expectation, timeout, qemu) = validate(req, setup)?;
    let elf_missing = || {
        format!(
            "the kernel ELF is not at {}: build it with `{}` (or drop --no-build)",
            setup.elf.display(),
            Workspace::build_command_text()
        )
    };
    let medium = match req.boot {
        BootKind::Kernel => {
            if !setup.elf.is_file() {
                bail!(elf_missing());
            }
            let mut words: Vec<String> = Vec::new();
            if let Some(c) = &req.control {
                words.push(format!("control={c}"));
            }
            if let Some(p) = &req.experiment {
                words.push(format!("exp={p}"));
            }
            if let Some(ms) = req.ms {
                words.push(format!("ms={ms}"));
            }
            words.extend(
                req.append
                    .iter()
                    .flat_map(|a| a.split_whitespace())
                    .map(str::to_string),
            );
            Medium::Kernel {
                elf: setup.elf.clone(),
                cmdline: words.join(" "),
                firmware: qemu::pvh_firmware(),
            }
        }
        BootKind::IsoBios | BootKind::IsoUefi => {
            if !setup.iso.is_file() {
                bail!(
                    "no ISO at {}: build it with `make iso`",
                    setup.iso.display()
                );
            }
            if let (Some(iso), Some(elf)) = (file_age(&setup.iso), file_age(&setup.elf)) {
                if iso < elf {
                    bail!(
                        "the ISO {} is older than the kernel ELF {}: it would boot an old kernel; \
                         rebuild it with `make iso`",
                        setup.iso.display(),
                        setup.elf.display()
                    );
                }
            }
            let firmware = match req.boot {
                BootKind::IsoUefi => Some(qemu::find_ovmf()?),
                _ => None,
            };
            Medium::Iso {
                iso: setup.iso.clone(),
                firmware,
            }
        }
    };
    if matches!(expectation, Expectation::NegativeControl(_)) {
        setup.symbols().map_err(|e| {
            anyhow::anyhow!("a negative control is judged against the kernel's symbols: {e}")
        })?;
    }
    Ok(RunPlan {
        name: req.name.clone(),
        smp: req.smp,
        cpu,
        accel: req.accel,
        timeout,
        boot: req.boot,
        medium,
        expectation,
        elf: setup.elf.clone(),
        qemu: (*qemu).clone(),
        request: req.clone(),
    })
}

/// What a run gave.
#[derive(Debug)]
pub struct RunOutcome {
    /// The plan.
    pub plan: RunPlan,
    /// Where its evidence is.
    pub dir: PathBuf,
    /// The accelerator.
    pub accel: AccelChoice,
    /// What the kernel said.
    pub facts: Facts,
    /// How it ended.
    pub ending: Ending,
    /// The judgement.
    pub judgement: Judgement,
    /// Wall time of the boot.
    pub wall: Duration,
    /// The QEMU command, shell-quoted.
    pub command: String,
    /// The experiments the kernel's own command line selected, each
    /// judged (a boot the harness did not give experiments to: an ISO's
    /// menu entry, `--append exp=...`); empty when it selected none.
    pub experiments: Vec<ExpJudgement>,
}

impl RunOutcome {
    /// The platform judgement met and the experiments' too
    /// ([`xj::unplanned_verdict`]: none FAILed, or with `break=` all did).
    pub fn met(&self) -> bool {
        self.judgement.met && xj::unplanned_verdict(&self.facts, &self.experiments).0
    }

    /// Why it was not met: the platform's reasons, then the experiments'.
    pub fn failure_lines(&self) -> Vec<String> {
        let mut v = self.judgement.reasons.clone();
        v.extend(xj::unplanned_verdict(&self.facts, &self.experiments).1);
        v
    }
}

#[derive(Serialize)]
struct SummaryJson<'a> {
    name: &'a str,
    config: &'a RunPlan,
    qemu: &'a QemuInfo,
    qemu_command: &'a str,
    accel: &'a AccelChoice,
    machine: Option<&'a judge::Machine>,
    facts: &'a Facts,
    ending: &'a Ending,
    judgement: &'a Judgement,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    experiments: &'a [ExpJudgement],
    #[serde(skip_serializing_if = "Option::is_none")]
    tally: Option<Tally>,
    exit_status: u8,
    wall_seconds: f64,
    evidence: &'a Path,
    replay: &'a crate::recipe::Recipe,
    harness: evidence::Provenance,
}

/// Runs a plan: accelerator, boot, judgement, evidence. The experiments
/// the kernel runs of its own accord (an ISO's menu entry, `--append
/// exp=...`) are learnt from its command line, shown as they arrive (a
/// line each, when echoing) and each judged ([`xj::judge_unplanned`]).
pub fn execute(plan: &RunPlan, setup: &Setup) -> Result<RunOutcome> {
    let label = format!(
        "{}-{}-smp{}-{}",
        plan.name,
        plan.boot.name(),
        plan.smp,
        qemu::model_name(&plan.cpu)
    );
    let dir = evidence::create_run_dir(&setup.out, &label, SystemTime::now())?;
    let echo = setup.echo;
    let symbols = setup.symbols().ok();
    let mut table = Table::new(0, echo);
    // Where a live line was seen: the accelerator when it was asked for,
    // else the machine record's hypervisor; the final judgement knows it.
    let accel = accel::explicit(plan.accel).ok().flatten().map(|c| c.accel);
    let mut live = Live::new(
        &mut table,
        accel,
        Via::Qemu,
        symbols.as_ref(),
        None,
        false,
        false,
        "shared",
    );
    let out = run_in_dir(plan, setup, &dir, true, &mut |l| {
        if echo && !render::is_experiment_record(l) {
            render::echo(l);
        }
        live.line(l);
    })?;
    live.show_rest(&out.experiments);
    Ok(out)
}

/// The status of a boot whose experiments were judged from its own
/// command line: the platform's, unless it passed and they did not.
pub fn unplanned_status(platform: Status, met: bool) -> Status {
    match platform {
        Status::Pass if !met => Status::Unmet,
        s => s,
    }
}

/// Runs a plan with its evidence in `dir` (which exists), handing every
/// serial line to `on_line` as it arrives; the caller judges the
/// experiments it asked for.
pub fn execute_in_dir(
    plan: &RunPlan,
    setup: &Setup,
    dir: &Path,
    on_line: &mut dyn FnMut(&crate::machine::transcript::Line),
) -> Result<RunOutcome> {
    run_in_dir(plan, setup, dir, false, on_line)
}

fn run_in_dir(
    plan: &RunPlan,
    setup: &Setup,
    dir: &Path,
    unplanned: bool,
    on_line: &mut dyn FnMut(&crate::machine::transcript::Line),
) -> Result<RunOutcome> {
    execute_in(plan, setup, dir, unplanned, on_line).inspect_err(|e| {
        let recipe = recipe(plan, setup, dir, unplanned, None);
        evidence::write_error_summary(
            dir,
            serde_json::json!({ "name": plan.name, "config": plan, "replay": recipe }),
            e,
        );
    })
}

/// What `dir` records to run `plan` again ([`crate::replay`]): a boot of a
/// suite (not `unplanned`) points at the suite's directory.
fn recipe(
    plan: &RunPlan,
    setup: &Setup,
    dir: &Path,
    unplanned: bool,
    command: Option<&str>,
) -> crate::recipe::Recipe {
    let cmdline = match &plan.medium {
        Medium::Kernel { cmdline, .. } => vec![cmdline.clone()],
        Medium::Iso { .. } => Vec::new(),
    };
    let mut r = crate::recipe::Recipe::new(
        &plan.request,
        setup,
        cmdline,
        command.map(str::to_string).into_iter().collect(),
    );
    if !unplanned {
        r.part_of = dir.parent().map(Path::to_path_buf);
    }
    r
}

fn execute_in(
    plan: &RunPlan,
    setup: &Setup,
    dir: &Path,
    unplanned: bool,
    on_line: &mut dyn FnMut(&crate::machine::transcript::Line),
) -> Result<RunOutcome> {
    let dir = dir.to_path_buf();
    let accel = setup.accel(&plan.qemu, plan.accel, &plan.cpu, &dir)?;
    let amended;
    let plan = match with_default_executors(plan, accel.accel) {
        Some(p) => {
            amended = p;
            &amended
        }
        None => plan,
    };
    let cmd = QemuCommand {
        qemu: plan.qemu.path.clone(),
        medium: plan.medium.clone(),
        smp: plan.smp,
        cpu: plan.cpu.clone(),
        accel: accel.accel,
    };
    if setup.echo {
        println!(
            "harness: {}, machine {}",
            plan.qemu.label(),
            plan.qemu.machine
        );
        crate::results::render::println_folded(&format!("harness: accel {}", accel.line()));
        println!("harness: {}", cmd.shell());
    }
    let booted = boot::boot_with(&cmd, Duration::from_secs_f64(plan.timeout), &dir, on_line)?;
    let facts = Facts::from_transcript(&booted.transcript);
    let symbols = setup.symbols().ok();
    let judgement = judge::judge(
        &facts,
        &plan.expectation,
        &judge::Context {
            smp: Some(plan.smp),
            ending: &booted.ending,
            symbols: symbols.as_ref(),
        },
    );
    let experiments = if unplanned {
        let seen = booted_where(&facts, accel.accel, plan.qemu.version);
        xj::judge_unplanned(&facts, &booted.ending, &seen, symbols.as_ref(), None)?
    } else {
        Vec::new()
    };
    let mut out = RunOutcome {
        plan: plan.clone(),
        dir,
        accel,
        facts,
        ending: booted.ending,
        judgement,
        wall: booted.wall,
        command: cmd.shell(),
        experiments,
    };
    out.judgement.status = unplanned_status(out.judgement.status, out.met());
    let recipe = recipe(plan, setup, &out.dir, unplanned, Some(&out.command));
    write_verdict_files(&out, &out.command, &recipe)?;
    Ok(out)
}

/// `plan` with the executors a kernel boot gets under `accel` unless its
/// words say ([`request::default_executors`]); None if it gets none.
fn with_default_executors(plan: &RunPlan, accel: qemu::Accel) -> Option<RunPlan> {
    let Medium::Kernel { cmdline, .. } = &plan.medium else {
        return None;
    };
    let host = request::host_cores();
    let k = request::default_executors(accel, plan.smp, host, cmdline)?;
    let mut p = plan.clone();
    if let Medium::Kernel { cmdline, .. } = &mut p.medium {
        cmdline.push_str(&format!(" executors={k}"));
    }
    Some(p)
}

/// Where a boot of this QEMU was seen: with its version, which the table
/// of known failures needs (without it nothing is excused).
fn booted_where(facts: &Facts, accel: qemu::Accel, version: QemuVersion) -> Where {
    Where::new(facts.machine.as_ref(), Via::Qemu, Some(accel)).with_qemu(Some(version))
}

fn write_verdict_files(
    o: &RunOutcome,
    command: &str,
    recipe: &crate::recipe::Recipe,
) -> Result<()> {
    let summary = SummaryJson {
        name: &o.plan.name,
        config: &o.plan,
        qemu: &o.plan.qemu,
        qemu_command: command,
        accel: &o.accel,
        machine: o.facts.machine.as_ref(),
        facts: &o.facts,
        ending: &o.ending,
        judgement: &o.judgement,
        experiments: &o.experiments,
        tally: (!o.experiments.is_empty()).then(|| Tally::of(&o.experiments)),
        exit_status: o.judgement.status.code(),
        wall_seconds: o.wall.as_secs_f64(),
        evidence: &o.dir,
        replay: recipe,
        harness: evidence::current_provenance(),
    };
    evidence::write(
        &o.dir,
        "summary.json",
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    let mut cases = junit_cases(&o.plan.name, &o.facts, &o.judgement, o.wall);
    cases.extend(o.experiments.iter().map(evidence::experiment_case));
    evidence::write(
        &o.dir,
        "junit.xml",
        &evidence::junit_xml(
            &format!("static-call {}", o.plan.name),
            &[
                ("boot", o.plan.boot.name().to_string()),
                ("smp", o.plan.smp.to_string()),
                ("cpu", o.plan.cpu.clone()),
                ("accel", o.accel.accel.name().to_string()),
                ("qemu", o.plan.qemu.version.to_string()),
                ("cmdline", o.facts.cmdline.clone().unwrap_or_default()),
            ],
            &cases,
        ),
    )?;
    if o.experiments.is_empty() {
        return Ok(());
    }
    let n = o.experiments.len();
    let mut text: Vec<String> = o
        .experiments
        .iter()
        .enumerate()
        .flat_map(|(i, j)| render::experiment_lines(j, Some((i + 1, n))))
        .collect();
    text.push(Tally::of(&o.experiments).line());
    evidence::write(&o.dir, "experiments.txt", &(text.join("\n") + "\n"))?;
    let title = format!(
        "patch latency per phase, boot {} ({}) -smp {} ({})",
        o.plan.boot.name(),
        o.facts.cmdline.as_deref().unwrap_or(""),
        o.plan.smp,
        o.experiments[0].seen.label()
    );
    figure::write(
        &o.dir,
        "latency",
        &plot::Latency {
            exps: &o.experiments,
            baseline: o.facts.baseline.as_ref(),
            tsc_hz: o.facts.tsc_hz,
            title: &title,
        },
    )
}

/// JUnit cases for one run: the expectation, then each kernel check.
pub fn junit_cases(name: &str, facts: &Facts, j: &Judgement, wall: Duration) -> Vec<Case> {
    let mut cases = vec![Case {
        class: format!("harness.{name}"),
        name: j.expectation.clone(),
        time: wall.as_secs_f64(),
        outcome: CaseOutcome::of(j.met, &j.reasons),
    }];
    for c in &facts.checks {
        cases.push(Case {
            class: format!("harness.{name}.check"),
            name: c.name.clone(),
            time: 0.0,
            outcome: match c.result.as_str() {
                "pass" => CaseOutcome::Pass,
                "skip" => CaseOutcome::Skip(c.detail.clone().unwrap_or_default()),
                _ => CaseOutcome::Fail {
                    message: format!("check {} {}", c.name, c.result),
                    detail: c.detail.clone().unwrap_or_default(),
                },
            },
        });
    }
    cases
}

/// The summary of a finished run, for people: the platform's, then, when
/// the kernel ran experiments, those that did not pass, the tally and the
/// verdict.
pub fn print_summary(o: &RunOutcome, setup: &Setup) {
    let symbols = setup.symbols().ok();
    render::Summary {
        facts: &o.facts,
        judgement: &o.judgement,
        place: &format!(
            "QEMU {}, boot {}, -cpu {}, accel {}",
            o.plan.qemu.version,
            o.plan.boot.name(),
            o.plan.cpu,
            o.accel.line()
        ),
        smp: Some(o.plan.smp),
        symbols: symbols.as_ref(),
        wall: Some(o.wall.as_secs_f64()),
        evidence: Some(&o.dir),
    }
    .print_unless_quiet(setup.quiet);
    if !o.experiments.is_empty() {
        for j in o
            .experiments
            .iter()
            .filter(|j| matches!(j.verdict, Verdict::Fail | Verdict::Kfail))
        {
            render::println_folded(&crate::results::table::not_passed_line(j));
        }
        if let Some(l) = xj::sabotage_line(&o.facts, &o.experiments) {
            render::println_folded(&l);
        }
        render::print_tally(&o.experiments, o.judgement.status);
    }
}

/// The exit status of a single `run`.
pub fn status(o: &RunOutcome) -> Status {
    o.judgement.status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_control_implies_expecting_a_fault() {
        let e = expectation(None, Some("ud2-ap")).unwrap();
        assert!(matches!(e, Expectation::NegativeControl(c) if c.vector == 6));
    }

    #[test]
    fn the_hang_control_implies_expecting_a_deadlock() {
        let e = expectation(None, Some("hang")).unwrap();
        assert_eq!(
            e,
            Expectation::ExpectDeadlock {
                control: Some("hang".into())
            }
        );
    }

    #[test]
    fn an_unknown_control_is_rejected_with_the_known_names() {
        let e = expectation(None, Some("ud3")).unwrap_err().to_string();
        assert!(
            e.contains("`ud3`") && e.contains("ud2-ap, write-text, exec-data, hang"),
            "wanted the bad name and the list in {e:?}"
        );
    }

    #[test]
    fn expecting_a_pass_from_a_control_is_a_contradiction() {
        let e = expectation(Some(ExpectKind::Pass), Some("write-text")).unwrap_err();
        assert!(e.to_string().contains("contradicts"), "{e}");
    }

    #[test]
    fn an_iso_boot_waits_for_the_countdown_and_the_whole_default_suite() {
        let suite_s = 118.0 * request::ISO_MS as f64 / 1000.0;
        for smp in [1, 4, 8] {
            let d = iso_deadline(smp);
            assert!(
                d > request::MENU_TIMEOUT_S as f64 + 2.0 * suite_s && d <= MAX_TIMEOUT,
                "-smp {smp}: wanted room for the countdown and twice the suite's {suite_s} s, got {d} s"
            );
        }
        assert!(iso_deadline(8) > iso_deadline(4), "more CPUs, more time");
    }

    #[test]
    fn a_boot_without_a_plan_is_judged_with_its_qemu_version() {
        // An ISO boot runs what its menu entry says: its experiments are
        // judged from the log, and a failure known on this QEMU release
        // is excused as it is in a planned run.
        let log = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/exp-int3-timer-smp2-qemu10.log"),
        )
        .unwrap();
        let facts =
            Facts::from_transcript(&crate::machine::transcript::Transcript::from_bytes(&log));
        let v = QemuVersion::parse("10.0.2").unwrap();
        let seen = booted_where(&facts, qemu::Accel::Tcg, v);
        assert_eq!(seen.qemu, Some(v));
        let js = xj::judge_unplanned(&facts, &Ending::Stopped, &seen, None, None).unwrap();
        assert!(
            js.iter().any(|j| j.verdict == Verdict::Kfail),
            "wanted the stale-only failure excused on 10.0.2: {js:#?}"
        );
    }

    #[test]
    fn expecting_a_fault_without_a_control_is_refused() {
        assert!(expectation(Some(ExpectKind::Fault), None).is_err());
    }
}
