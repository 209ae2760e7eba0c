//! The commands: each turns its arguments into a plan, runs it, prints a
//! summary and returns the exit [`Status`]. Errors returned from here are
//! bad input or a broken environment (status 2) and are printed once, by
//! `main`, with their chain of causes.

use crate::{
    cli::{Cli, Command, MatrixArgs, ParseArgs, RunArgs, WatchArgs},
    evidence,
    judge::{self, Ending, Facts, Judgement},
    live, matrix, render,
    run::{self, RunRequest, Setup},
    status::Status,
    symbols::Symbols,
    transcript::Transcript,
    watch,
    workspace::Workspace,
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
    match cli.command {
        Command::Run(a) => cmd_run(a),
        Command::Parse(a) => cmd_parse(a),
        Command::Watch(a) => cmd_watch(a),
        Command::Matrix(a) => cmd_matrix(a),
    }
}

fn cmd_run(a: RunArgs) -> Result<Status> {
    let build = !a.no_build && a.kernel.is_none();
    let setup = Setup::new(&a.qemu, a.out, a.kernel, a.iso, !a.quiet)?;
    let req = RunRequest {
        name: a
            .control
            .as_deref()
            .map_or("run".into(), |c| format!("control-{c}")),
        smp: a.smp,
        accel: a.accel,
        cpu: a.cpu,
        timeout: a.timeout,
        boot: a.boot,
        control: a.control,
        append: a.append,
        expect: a.expect,
    };
    // Refuse bad input before spending time on a build.
    run::validate(&req, &setup)?;
    if build {
        setup.workspace.build_kernel()?;
    }
    let plan = run::resolve(&req, &setup)?;
    let out = run::execute(&plan, &setup)?;
    run::print_summary(&out, &setup);
    Ok(run::status(&out))
}

fn default_out(out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| {
        Workspace::locate()
            .map(|w| w.runs_dir())
            .unwrap_or_else(|_| PathBuf::from("out/runs"))
    })
}

fn load_symbols(elf: Option<&Path>) -> Result<Option<Symbols>> {
    elf.map(|p| Symbols::from_elf(p).context("--elf"))
        .transpose()
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
    exit_status: u8,
    wall_seconds: Option<f64>,
}

fn write_judged(dir: &Path, s: &JudgedSummary<'_>, wall: Duration) -> Result<()> {
    evidence::write(
        dir,
        "summary.json",
        &(serde_json::to_string_pretty(s)? + "\n"),
    )?;
    evidence::write(
        dir,
        "junit.xml",
        &evidence::junit_xml(
            "static-call",
            &run::junit_cases(s.name, s.facts, s.judgement, wall),
        ),
    )
}

fn all_lines(bytes: &[u8]) -> Vec<crate::transcript::Line> {
    let mut r = crate::transcript::Reader::default();
    let mut v = r.push(bytes);
    v.extend(r.finish());
    v
}

fn cmd_parse(a: ParseArgs) -> Result<Status> {
    let bytes = std::fs::read(&a.file)
        .with_context(|| format!("reading serial log {}", a.file.display()))?;
    let exp = run::expectation(a.expect.expect, a.expect.control.as_deref())?;
    let symbols = load_symbols(a.elf.as_deref())?;
    let t = Transcript::from_bytes(&bytes);
    if a.verbose {
        all_lines(&bytes).iter().for_each(render::echo);
    }
    let facts = Facts::from_transcript(&t);
    let ending = Ending::Stopped;
    let j = judge::judge(
        &facts,
        &exp,
        &judge::Context {
            smp: a.smp,
            ending: &ending,
            symbols: symbols.as_ref(),
        },
    );
    let source = format!("serial log {}", a.file.display());
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
                    exit_status: j.status.code(),
                    wall_seconds: None,
                },
                Duration::ZERO,
            )?;
            Some(dir)
        }
        None => None,
    };
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
    Ok(j.status)
}

fn cmd_watch(a: WatchArgs) -> Result<Status> {
    let exp = run::expectation(a.expect.expect, a.expect.control.as_deref())?;
    let symbols = load_symbols(a.elf.as_deref())?;
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
    let w = watch::watch(port, Duration::from_secs_f64(timeout), &dir, !a.quiet)?;
    let facts = Facts::from_transcript(&w.transcript);
    let j = judge::judge(
        &facts,
        &exp,
        &judge::Context {
            smp: a.smp,
            ending: &w.ending,
            symbols: symbols.as_ref(),
        },
    );
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
            exit_status: j.status.code(),
            wall_seconds: Some(w.wall.as_secs_f64()),
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
    Ok(j.status)
}

fn cmd_matrix(a: MatrixArgs) -> Result<Status> {
    let build = !a.no_build && a.kernel.is_none();
    let setup = Setup::new(&a.qemu, a.out, a.kernel, a.iso, a.verbose)?;
    let all_passed = matrix::run_table(&a.file, &setup, build)?;
    Ok(if all_passed {
        Status::Pass
    } else {
        Status::Unmet
    })
}
