//! The commands: each turns its arguments into a plan, runs it, prints a
//! summary and returns the exit [`Status`]. Errors returned from here are
//! bad input or a broken environment (status 2) and are printed once, by
//! `main`, with their chain of causes.

use crate::{
    bench,
    boot::watch,
    cli::{
        BenchArgs, Cli, Command, CompareArgs, CompletionsArgs, IsoMenuArgs, ListArgs, MatrixArgs,
        ParseArgs, RunArgs, Sources, WatchArgs,
    },
    judge::build_id::{self, GivenElf},
    judge::symbols::Symbols,
    judge::{
        self,
        experiment::{self as xj, ExpJudgement, Tally},
        seen::{Via, Where},
        Ending, Facts, Judgement,
    },
    list,
    machine::live,
    machine::qemu_info::QemuVersion,
    machine::transcript::{Line, Transcript},
    machine::workspace::Workspace,
    matrix, menu,
    request::{self, RunRequest, Setup},
    results::compare,
    results::evidence,
    results::render,
    results::table::{self, Print, Table},
    results::tap,
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

/// Runs the parsed command line.
pub fn main(cli: Cli) -> Result<Status> {
    live::install_signal_handler()?;
    // --quiet and --verbose are global: each command takes the one that
    // changes its default (run and watch echo, the others do not).
    let (quiet, verbose) = (cli.quiet, cli.verbose);
    match cli.command {
        Command::Run(a) => cmd_run(RunArgs {
            quiet,
            // `harness run PATTERN` is `harness run --experiment PATTERN`
            // (clap refuses both).
            experiment: a.experiment.or(a.pattern),
            pattern: None,
            ..a
        }),
        Command::Parse(a) => cmd_parse(ParseArgs { verbose, ..a }),
        Command::Watch(a) => cmd_watch(WatchArgs { quiet, ..a }),
        Command::Matrix(a) => cmd_matrix(MatrixArgs { verbose, ..a }),
        Command::Bench(a) => cmd_bench(BenchArgs { verbose, ..a }),
        Command::List(a) => cmd_list(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Replay(a) => {
            crate::replay::replay(&a.dir, a.repeat, a.out, a.kernel, a.qemu, verbose)
        }
        Command::Repro(a) => cmd_repro(a),
        Command::Linux(a) => crate::linux::run(&crate::linux::LinuxRequest {
            qemu: a.qemu,
            smp: a.smp,
            flips: a.flips,
            key: a.key,
            workers: a.workers,
            timeout: Duration::from_secs(a.timeout),
            silence: Duration::from_secs(a.silence),
            release: !a.no_release,
            control: a.control,
            out: a.out,
            verbose,
        }),
        Command::Completions(a) => cmd_completions(a),
        Command::IsoMenu(a) => cmd_iso_menu(a),
    }
}

fn cmd_completions(a: CompletionsArgs) -> Result<Status> {
    use clap::CommandFactory as _;
    clap_complete::generate(
        a.shell,
        &mut Cli::command(),
        "harness",
        &mut std::io::stdout(),
    );
    Ok(Status::Pass)
}

fn cmd_compare(a: CompareArgs) -> Result<Status> {
    let c = compare::compare(compare::load(&a.a)?, compare::load(&a.b)?);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&c)?);
    } else {
        print!("{}", compare::render(&c, a.all));
    }
    Ok(Status::Pass)
}

fn cmd_iso_menu(a: IsoMenuArgs) -> Result<Status> {
    let table = match &a.table {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the torture table {}", f.display()))?,
        None => menu::TORTURE_TABLE.to_string(),
    };
    print!("{}", menu::render(a.loader, &a.cmdline, &table)?);
    Ok(Status::Pass)
}

fn cmd_list(a: ListArgs) -> Result<Status> {
    for l in list::lines(a.pattern.as_deref())? {
        println!("{l}");
    }
    Ok(Status::Pass)
}

/// The setup a booting command needs, and whether to build the kernel.
fn setup(b: &Sources, iso: Option<PathBuf>, echo: bool) -> Result<(Setup, bool)> {
    let setup = Setup::new(&b.qemu, b.out.clone(), b.kernel.clone(), iso, echo)?;
    Ok((setup, b.build()))
}

fn cmd_repro(a: crate::cli::ReproArgs) -> Result<Status> {
    let Some(name) = &a.name else {
        crate::repro::list();
        return Ok(Status::Pass);
    };
    let r = crate::repro::find(name)?;
    let (setup, build) = setup(&a.src, None, false)?;
    let req = crate::repro::request(r, a.smp, a.ms);
    // Refuse bad input before spending time on a build.
    run::validate(&req, &setup)?;
    if build {
        setup.workspace.build_kernel()?;
    }
    crate::repro::run(r, &req, &setup, a.repeat)
}

fn cmd_bench(a: BenchArgs) -> Result<Status> {
    let (setup, build) = setup(&a.src, None, a.verbose)?;
    bench::run(&a, &setup, build)
}

fn cmd_run(a: RunArgs) -> Result<Status> {
    if a.emulator == crate::cli::EmulatorKind::Bochs {
        return cmd_run_bochs(a);
    }
    let (mut setup, build) = setup(&a.src, a.iso.clone(), !a.quiet && !a.tap)?;
    setup.quiet = a.quiet;
    let name = match (&a.control, &a.experiment) {
        (Some(c), _) => format!("control-{c}"),
        (None, Some(_)) => "exp".into(),
        (None, None) => "run".into(),
    };
    let req = run_request(&a, name, request::Emulator::Qemu);
    // Refuse bad input before spending time on a build.
    run::validate(&req, &setup)?;
    if build {
        setup.workspace.build_kernel()?;
    }
    if a.repeat > 1 {
        return run_repeated(&req, &setup, a.repeat);
    }
    if req.experiment.is_some() {
        // `--quiet` leaves the summary, the count and the verdict.
        let print = if a.tap || a.quiet {
            Print::Quiet
        } else {
            Print::Live
        };
        let o = suite::run(&req, &setup, print)?;
        if a.tap {
            print!("{}", tap::render(&suite::tap_cases(&o)));
        } else {
            suite::print_summary(&o, &setup);
        }
        return Ok(o.status);
    }
    let plan = run::resolve(&req, &setup)?;
    let out = run::execute(&plan, &setup)?;
    if a.tap {
        let cases = run::junit_cases(&out.plan.name, &out.facts, &out.judgement, out.wall);
        print!("{}", tap::render(&cases));
    } else {
        run::print_summary(&out, &setup);
    }
    Ok(run::status(&out))
}

/// `harness run --repeat N`: the request N times, a line per run, then
/// the tally. Passes only when every run passed.
fn run_repeated(req: &RunRequest, setup: &Setup, n: u32) -> Result<Status> {
    let mut tally = crate::results::repeat::Tally::default();
    let mut worst = Status::Pass;
    for i in 1..=n {
        let (status, line, dir) = if req.experiment.is_some() {
            let o = suite::run(req, setup, Print::Quiet)?;
            tally.add_run(&o.experiments);
            (o.status, o.tally.line(), o.dir)
        } else {
            let out = run::execute(&run::resolve(req, setup)?, setup)?;
            let status = run::status(&out);
            tally.runs += 1;
            let word = if status == Status::Pass {
                "PASS"
            } else {
                "FAIL"
            };
            tally.add("platform", "pass", word, None);
            (status, out.judgement.status.word().to_string(), out.dir)
        };
        println!(
            "run {i}/{n}: {line}; status {} ({})",
            status.code(),
            dir.display()
        );
        if status != Status::Pass && worst == Status::Pass {
            worst = status;
        }
        if crate::machine::live::interrupted() {
            anyhow::bail!("interrupted after {i} of {n} runs");
        }
    }
    print!("{}", tally.render(n));
    Ok(worst)
}

fn default_out(out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| {
        Workspace::locate()
            .map(|w| w.runs_dir())
            .unwrap_or_else(|_| PathBuf::from("out/runs"))
    })
}

/// The ELF of `--elf`, read before the log (an unreadable one is bad
/// input).
fn given_elf(elf: Option<&Path>) -> Result<Option<GivenElf>> {
    elf.map(GivenElf::load).transpose()
}

/// The symbols that name a log's addresses: `--elf`, else the ELF whose
/// build id the log's `hello` names ([`build_id::choose`]); the line that
/// says which goes to stderr.
fn log_symbols(
    given: Option<GivenElf>,
    build_id: Option<&str>,
    log: Option<&Path>,
) -> Option<Symbols> {
    let names = build_id::choose(given, build_id, || build_id::candidates(log));
    eprintln!("{}", names.line);
    names.symbols
}

#[derive(Serialize)]
struct JudgedSummary<'a> {
    name: &'a str,
    source: &'a str,
    smp: Option<u32>,
    machine: Option<&'a judge::Machine>,
    facts: &'a Facts,
    ending: &'a Ending,
    judgement: &'a Judgement,
    experiments: &'a [ExpJudgement],
    tally: Option<Tally>,
    exit_status: u8,
    wall_seconds: Option<f64>,
    harness: evidence::Provenance,
}

fn write_judged(dir: &Path, s: &JudgedSummary<'_>, wall: Duration) -> Result<()> {
    evidence::write(
        dir,
        "summary.json",
        &(serde_json::to_string_pretty(s)? + "\n"),
    )?;
    suite::write_results(
        dir,
        &suite::Results {
            name: s.name,
            source: s.source,
            smp: s.smp,
            facts: s.facts,
            judgement: s.judgement,
            experiments: s.experiments,
        },
        wall,
    )
}

/// The experiments of one saved or watched boot
/// ([`xj::judge_unplanned`]).
fn log_experiments(
    facts: &Facts,
    ending: &Ending,
    via: Via,
    symbols: Option<&Symbols>,
    pattern: Option<&str>,
    qemu: Option<QemuVersion>,
    platform: Option<&str>,
) -> Result<Vec<ExpJudgement>> {
    let seen = log_where(facts, via, platform).with_qemu(qemu);
    xj::judge_unplanned(facts, ending, &seen, symbols, pattern)
}

/// Where a saved or watched boot ran: from its `machine` record, or what
/// the user said (`--platform`).
fn log_where(facts: &Facts, via: Via, platform: Option<&str>) -> Where {
    let seen = Where::new(facts.machine.as_ref(), via, None);
    match platform {
        Some(p) => seen.with_platform(p),
        None => seen,
    }
}

/// The QEMU version of a saved log, and where it came from for people:
/// `--qemu-version`, else the `qemu.version` of the run's `summary.json`
/// beside the log (a boot's evidence directory), else none.
fn log_qemu_version(given: Option<QemuVersion>, log: &Path) -> (Option<QemuVersion>, String) {
    if let Some(v) = given {
        return (Some(v), format!(", QEMU {v} (--qemu-version)"));
    }
    let summary = log.parent().map(|d| d.join("summary.json"));
    let found = summary.as_deref().and_then(|p| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        QemuVersion::parse(v.get("qemu")?.get("version")?.as_str()?)
    });
    match (found, summary) {
        (Some(v), Some(p)) => (Some(v), format!(", QEMU {v} (from {})", p.display())),
        _ => (
            None,
            ", QEMU version unknown (--qemu-version X.Y.Z: known failures are scoped by it)".into(),
        ),
    }
}

/// Holds a log's experiments to `--experiment` and `--ms`: a different
/// pattern or duration in the log is a reason the run is not met.
fn check_log_request(facts: &Facts, pattern: Option<&str>, ms: Option<u64>, j: &mut Judgement) {
    if let (Some(want), Some((got, _))) = (pattern, facts.exp_pattern()) {
        if want != got {
            j.notes.push(format!(
                "the log's kernel ran exp={got}; judged against --experiment {want}"
            ));
        }
    }
    if let Some(want) = ms {
        let off: Vec<&str> = facts
            .experiments
            .iter()
            .filter(|e| e.begin.as_ref().is_some_and(|b| b.ms != Some(want)))
            .map(|e| e.name.as_str())
            .collect();
        if !off.is_empty() {
            j.reasons.push(format!(
                "{} experiment(s) ran for another time than --ms {want} (first: {})",
                off.len(),
                off[0]
            ));
            j.met = false;
            if j.status == Status::Pass {
                j.status = Status::Unmet;
            }
        }
    }
}

/// The status of a judged log with its experiments (with `break=` on its
/// command line, every experiment must FAIL).
fn log_status(j: &Judgement, facts: &Facts, exps: &[ExpJudgement]) -> Status {
    run::unplanned_status(j.status, xj::unplanned_verdict(facts, exps).0)
}

/// The closing lines of a judged log: whether a sabotage was seen, the
/// tally, the verdict.
fn print_closing(facts: &Facts, exps: &[ExpJudgement], status: Status) {
    if let Some(l) = xj::sabotage_line(facts, exps) {
        render::println_folded(&l);
    }
    render::print_tally(exps, status);
}

fn all_lines(bytes: &[u8]) -> Vec<crate::machine::transcript::Line> {
    let mut r = crate::machine::transcript::Reader::default();
    let mut v = r.push(bytes);
    v.extend(r.finish());
    v
}

fn cmd_parse(a: ParseArgs) -> Result<Status> {
    let bytes = std::fs::read(&a.file)
        .with_context(|| format!("reading serial log {}", a.file.display()))?;
    let exp = request::expectation(a.expect.expect, a.expect.control.as_deref())?;
    let given = given_elf(a.elf.as_deref())?;
    evidence::check_out(a.out.as_deref())?;
    let t = Transcript::from_bytes(&bytes);
    if a.verbose && !a.tap {
        all_lines(&bytes).iter().for_each(render::echo);
    }
    let facts = Facts::from_transcript(&t);
    let symbols = log_symbols(given, facts.build_id.as_deref(), Some(&a.file));
    let ending = Ending::Stopped;
    let mut j = judge::judge(
        &facts,
        &exp,
        &judge::Context {
            smp: a.smp,
            ending: &ending,
            symbols: symbols.as_ref(),
        },
    );
    if let Some(p) = &a.experiment {
        list::select(p).context("--experiment")?;
    }
    let (qemu, qemu_from) = log_qemu_version(a.qemu_version, &a.file);
    let exps = log_experiments(
        &facts,
        &ending,
        Via::Log,
        symbols.as_ref(),
        a.experiment.as_deref(),
        qemu,
        a.platform.as_deref(),
    )?;
    check_log_request(&facts, a.experiment.as_deref(), a.ms, &mut j);
    let status = log_status(&j, &facts, &exps);
    j.status = status;
    if !exps.is_empty() && !a.tap {
        let mut table = Table::new(exps.len(), true);
        exps.iter().for_each(|x| table.show(x));
    }
    // A QEMU version is asked for only where QEMU may have run the kernel.
    let seen = log_where(&facts, Via::Log, a.platform.as_deref());
    let qemu_from = match seen.platform {
        judge::seen::Platform::Emulator | judge::seen::Platform::RealMachine => {
            format!(", {}", seen.platform_label())
        }
        _ => qemu_from,
    };
    let source = format!("serial log {}{qemu_from}", a.file.display());
    let dir = match a.out {
        Some(out) => {
            let stem = a
                .file
                .file_stem()
                .map_or("log".into(), |s| s.to_string_lossy().into_owned());
            let dir = evidence::create_run_dir(&out, &format!("parse-{stem}"), SystemTime::now())?;
            evidence::write(&dir, "source.txt", &format!("{}\n", a.file.display()))?;
            std::fs::write(dir.join("serial.log"), &bytes).context("writing serial.log")?;
            let mut rec = evidence::RecordsLog::create(&dir)?;
            for line in &all_lines(&bytes) {
                rec.add(line)?;
            }
            write_judged(
                &dir,
                &JudgedSummary {
                    name: "parse",
                    source: &source,
                    smp: a.smp,
                    machine: facts.machine.as_ref(),
                    facts: &facts,
                    ending: &ending,
                    judgement: &j,
                    experiments: &exps,
                    tally: (!exps.is_empty()).then(|| Tally::of(&exps)),
                    exit_status: status.code(),
                    wall_seconds: None,
                    harness: evidence::current_provenance(),
                },
                Duration::ZERO,
            )?;
            Some(dir)
        }
        None => None,
    };
    if a.tap {
        let mut cases = run::junit_cases("parse", &facts, &j, Duration::ZERO);
        cases.extend(exps.iter().map(evidence::experiment_case));
        print!("{}", tap::render(&cases));
        return Ok(status);
    }
    render::Summary {
        facts: &facts,
        judgement: &j,
        place: &source,
        smp: a.smp,
        symbols: symbols.as_ref(),
        wall: None,
        evidence: dir.as_deref(),
    }
    .print();
    print_closing(&facts, &exps, status);
    Ok(status)
}

/// The request of `harness run` (a run of the command line names no
/// QEMU of its own: `--qemu` is the whole invocation's).
fn run_request(a: &RunArgs, name: String, emulator: request::Emulator) -> RunRequest {
    RunRequest {
        name,
        smp: a.smp.unwrap_or(request::default_smp(emulator)),
        accel: a.accel,
        cpu: a.cpu.clone(),
        timeout: a.timeout,
        boot: a.boot,
        control: a.control.clone(),
        append: a
            .append
            .iter()
            .cloned()
            .chain(a.executors.map(|n| format!("executors={n}")))
            .collect(),
        expect: a.expect,
        experiment: a.experiment.clone(),
        ms: a
            .ms
            .or((emulator != request::Emulator::Qemu).then(|| request::default_ms(emulator))),
        qemu: None,
        emulator,
    }
}

/// `harness run --emulator bochs`: the run's ISO booted by Bochs
/// ([`crate::boot::bochs`]), followed live, each experiment judged as its
/// record arrives, the boot judged at the end.
fn cmd_run_bochs(a: RunArgs) -> Result<Status> {
    if a.repeat > 1 || a.iso.is_some() || a.tap {
        anyhow::bail!(
            "--emulator bochs makes its own ISO and runs once: no --repeat, --iso or --tap"
        );
    }
    let mut req = run_request(
        &a,
        "bochs".into(),
        request::Emulator::Bochs {
            ips: a.ips,
            quantum: a.quantum,
        },
    );
    req.experiment.get_or_insert_with(|| "*".into());
    // Refuse bad input before spending time on a build.
    run::validate_bochs(&req)?;
    let (setup, build) = setup(&a.src, None, !a.quiet)?;
    if build {
        setup.workspace.build_kernel()?;
    }
    let o = crate::bochs_suite::run(&req, &setup, Print::Live)?;
    crate::bochs_suite::print_summary(&o, &setup);
    Ok(o.status)
}

fn cmd_watch(a: WatchArgs) -> Result<Status> {
    let exp = request::expectation(a.expect.expect, a.expect.control.as_deref())?;
    let mut given = given_elf(a.elf.as_deref())?;
    evidence::check_out(a.out.as_deref())?;
    let port = watch::open_serial(&a.device, a.baud)?;
    let out = default_out(a.out);
    let dev_label = a
        .device
        .file_name()
        .map_or("serial".into(), |s| s.to_string_lossy().into_owned());
    let dir = evidence::create_run_dir(&out, &format!("watch-{dev_label}"), SystemTime::now())?;
    let source = format!("serial {} at {} baud", a.device.display(), a.baud);
    evidence::write(&dir, "source.txt", &format!("{source}\n"))?;
    let timeout = a.timeout.unwrap_or(watch::DEFAULT_WATCH_TIMEOUT);
    if !a.quiet {
        println!(
            "harness: watching {source} for up to {timeout} s (stops at the end record); evidence in {}",
            dir.display()
        );
    }
    let mut table = Table::new(0, true);
    // The symbols are chosen when the `hello` record names the kernel's
    // build id (or, when none arrives, at the end), before any deadlock.
    let mut symbols: Option<Option<Symbols>> = None;
    let w = {
        let mut live = table::Live::new(
            &mut table,
            None,
            Via::Serial,
            None,
            None,
            !a.quiet,
            false,
            "shared",
        );
        let w = watch::watch_with(port, Duration::from_secs_f64(timeout), &dir, &mut |l| {
            if let (None, Line::Record(r)) = (&symbols, l) {
                if r.kind == report::kind::HELLO {
                    let s = log_symbols(given.take(), r.get("build_id"), None);
                    if let Some(s) = &s {
                        live.use_symbols(s.clone());
                    }
                    symbols = Some(s);
                }
            }
            live.line(l)
        })?;
        let facts = Facts::from_transcript(&w.transcript);
        let symbols = symbols.get_or_insert_with(|| log_symbols(given.take(), None, None));
        let exps = log_experiments(
            &facts,
            &w.ending,
            Via::Serial,
            symbols.as_ref(),
            None,
            None,
            a.platform.as_deref(),
        )?;
        live.show_rest(&exps);
        (w, exps)
    };
    let (w, exps) = w;
    let symbols = symbols.flatten();
    let facts = Facts::from_transcript(&w.transcript);
    let mut j = judge::judge(
        &facts,
        &exp,
        &judge::Context {
            smp: a.smp,
            ending: &w.ending,
            symbols: symbols.as_ref(),
        },
    );
    j.status = log_status(&j, &facts, &exps);
    write_judged(
        &dir,
        &JudgedSummary {
            name: "watch",
            source: &source,
            smp: a.smp,
            machine: facts.machine.as_ref(),
            facts: &facts,
            ending: &w.ending,
            judgement: &j,
            experiments: &exps,
            tally: (!exps.is_empty()).then(|| Tally::of(&exps)),
            exit_status: j.status.code(),
            wall_seconds: Some(w.wall.as_secs_f64()),
            harness: evidence::current_provenance(),
        },
        w.wall,
    )?;
    render::Summary {
        facts: &facts,
        judgement: &j,
        place: &source,
        smp: a.smp,
        symbols: symbols.as_ref(),
        wall: Some(w.wall.as_secs_f64()),
        evidence: Some(&dir),
    }
    .print();
    print_closing(&facts, &exps, j.status);
    Ok(j.status)
}

fn cmd_matrix(a: MatrixArgs) -> Result<Status> {
    if a.cpu.is_some() && a.emulator != Some(crate::cli::EmulatorKind::Bochs) {
        anyhow::bail!("--cpu names the Bochs model of every row: it needs --emulator bochs");
    }
    let opts = matrix::Options {
        jobs: a.jobs.map_or_else(matrix::Jobs::auto, matrix::Jobs::Rows),
        filter: a.filter.clone(),
        group: a.group.clone(),
        repeat: a.repeat,
        bochs: (a.emulator == Some(crate::cli::EmulatorKind::Bochs)).then(|| {
            (
                a.cpu
                    .clone()
                    .unwrap_or_else(|| crate::boot::bochs::DEFAULT_MODEL.into()),
                a.ips,
                a.quantum,
            )
        }),
        human_to_stderr: a.tap,
    };
    if a.tap && a.verbose {
        anyhow::bail!(
            "--tap writes TAP on standard output: no --verbose (its serial echo would mix in)"
        );
    }
    if a.list {
        let text = std::fs::read_to_string(&a.file)
            .with_context(|| format!("reading {}", a.file.display()))?;
        let rows = matrix::parse_table(&text)
            .and_then(|r| matrix::select(r, &opts))
            .with_context(|| format!("in {}", a.file.display()))?;
        let rows = match &opts.bochs {
            Some((model, ips, quantum)) => matrix::on_bochs(rows, model, *ips, *quantum),
            None => rows,
        };
        print!("{}", matrix::list_rows(&rows));
        return Ok(Status::Pass);
    }
    let (setup, build) = setup(&a.src, a.iso.clone(), a.verbose)?;
    if a.tap {
        println!("TAP version 13");
    }
    let (all_passed, cases) = matrix::run_table_cases(&a.file, &setup, build, &opts)?;
    if a.tap {
        let tap = tap::render(&cases);
        print!("{}", tap.strip_prefix("TAP version 13\n").unwrap_or(&tap));
    }
    Ok(if crate::machine::live::interrupted() {
        Status::Interrupted
    } else if all_passed {
        Status::Pass
    } else {
        Status::Unmet
    })
}
