//! Running a recorded run again: `harness replay RUN_DIR [--repeat N]`.
//!
//! # What a replay compares
//!
//! The verdicts ([`Verdicts`]): the run's exit status, and each
//! experiment's PASS, FAIL, SKIP or KFAIL by name. Each repeat is a new
//! run with its own evidence directory. `harness replay` exits 0 when every
//! repeat gave every recorded verdict, 1 when any differed, 2 on bad input
//! (no such directory, no `summary.json`, one without a `replay` record,
//! a kernel whose bytes are not those recorded).
//!
//! [`read_recorded`], [`verdicts`], [`compare`] and [`run_command`](crate::recipe::run_command) do no
//! I/O; [`replay`] does.

use crate::{
    recipe::{Recipe, FORMAT},
    request::{self, RunRequest, Setup},
    results::evidence::file_id,
    results::table::Print,
    run,
    status::Status,
    suite,
};
use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// The verdicts of one run, as its `summary.json` gives them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdicts {
    /// The exit status ([`Status`]'s code).
    pub status: Option<u8>,
    /// Each experiment's verdict (`PASS`, `FAIL`, `SKIP`, `KFAIL`), by name;
    /// a name seen twice keeps both, in order.
    pub experiments: BTreeMap<String, Vec<String>>,
}

/// The verdicts in a `summary.json`.
pub fn verdicts(summary: &Value) -> Verdicts {
    let mut experiments: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in summary["experiments"].as_array().into_iter().flatten() {
        if let (Some(n), Some(v)) = (e["name"].as_str(), e["verdict"].as_str()) {
            experiments
                .entry(n.to_string())
                .or_default()
                .push(v.to_string());
        }
    }
    Verdicts {
        status: summary["exit_status"]
            .as_u64()
            .and_then(|s| u8::try_from(s).ok()),
        experiments,
    }
}

/// What a run directory's `summary.json` recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// How to run it again.
    pub recipe: Recipe,
    /// What it gave.
    pub verdicts: Verdicts,
}

/// Reads the recipe and verdicts of a `summary.json` (`source` names it in
/// errors). An error says why it cannot be replayed.
pub fn read_recorded(summary: &Value, source: &str) -> Result<Recorded> {
    let Some(r) = summary.get("replay") else {
        if let Some(n) = summary["name"]
            .as_str()
            .filter(|n| matches!(*n, "parse" | "watch"))
        {
            bail!(
                "{source} is the result of `harness {n}`, which judged a log it did not run: \
                 there is no run to make again"
            );
        }
        bail!(
            "{source} has no `replay` record: it was written by an older harness, before run \
             directories recorded their request; its qemu-command.txt has the QEMU command, \
             run it again by hand with `harness run`"
        );
    };
    let format = r["format"].as_u64().unwrap_or(0);
    if format != u64::from(FORMAT) {
        bail!(
            "{source} has a `replay` record of format {format}; this harness reads format \
             {FORMAT}{}",
            if format > u64::from(FORMAT) {
                ": it was written by a newer harness"
            } else {
                ""
            }
        );
    }
    let recipe: Recipe = serde_json::from_value(r.clone())
        .with_context(|| format!("reading the `replay` record of {source}"))?;
    if let Some(parent) = &recipe.part_of {
        bail!(
            "{source} is one boot of the run of experiments in {}: replay that directory",
            parent.display()
        );
    }
    Ok(Recorded {
        recipe,
        verdicts: verdicts(summary),
    })
}

/// How one verdict compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// `run` (the exit status) or the experiment's name.
    pub what: String,
    /// As recorded (`None`: not there).
    pub was: Option<String>,
    /// As seen now (`None`: not there).
    pub now: Option<String>,
}

impl Line {
    /// Whether it is the same.
    pub fn same(&self) -> bool {
        self.was == self.now
    }

    /// For people: `same     run: status 0 (pass)` or `DIFFERS  x: recorded
    /// PASS, now FAIL`.
    pub fn text(&self) -> String {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "absent".into());
        if self.same() {
            format!("same     {}: {}", self.what, or_none(&self.now))
        } else {
            format!(
                "DIFFERS  {}: recorded {}, now {}",
                self.what,
                or_none(&self.was),
                or_none(&self.now)
            )
        }
    }
}

fn status_word(s: Option<u8>) -> Option<String> {
    let s = s?;
    let word = [
        Status::Pass,
        Status::Unmet,
        Status::BadInput,
        Status::Timeout,
        Status::Interrupted,
    ]
    .into_iter()
    .find(|x| x.code() == s)
    .map_or("unknown", |x| x.word());
    Some(format!("status {s} ({word})"))
}

/// Every verdict of `was` and `now` side by side: the run's status first,
/// then the experiments by name (those only one side has included).
pub fn compare(was: &Verdicts, now: &Verdicts) -> Vec<Line> {
    let mut v = vec![Line {
        what: "run".into(),
        was: status_word(was.status),
        now: status_word(now.status),
    }];
    let names: std::collections::BTreeSet<&String> = was
        .experiments
        .keys()
        .chain(now.experiments.keys())
        .collect();
    for name in names {
        let a = was.experiments.get(name).map(|x| x.join(", "));
        let b = now.experiments.get(name).map(|x| x.join(", "));
        v.push(Line {
            what: name.clone(),
            was: a,
            now: b,
        });
    }
    v
}

fn read_summary(path: &Path) -> Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// The recorded run of a directory (or of its `summary.json`).
pub fn load(dir: &Path) -> Result<Recorded> {
    if !dir.exists() {
        bail!("no run directory at {}", dir.display());
    }
    let summary = if dir.is_dir() {
        dir.join("summary.json")
    } else {
        dir.to_path_buf()
    };
    if !summary.is_file() {
        let parent = summary.parent().unwrap_or(dir);
        if parent.join("matrix.log").is_file() {
            bail!(
                "{} is the directory of a matrix: it has no summary.json of its own; replay the \
                 run directory of a row (matrix.log lists them)",
                parent.display()
            );
        }
        bail!(
            "no summary.json in {}: not a run directory of this harness",
            parent.display()
        );
    }
    read_recorded(&read_summary(&summary)?, &summary.display().to_string())
}

/// Record fields that differ between two runs of one Bochs configuration
/// and seed, and why: everything else must be the same.
pub const RECORD_FIELDS_THAT_VARY: &[(&str, &str)] = &[(
    "boot_id",
    "mixed from RDRAND (random on Bochs too), the RTC and the TSC at each boot, to tell boots apart",
)];

/// How the records of a replay compare with those recorded: the first
/// record that differs (by its place and kind), or `None` when every
/// record is the same but for [`RECORD_FIELDS_THAT_VARY`]. The text is a
/// `records.jsonl`, one record or damage note per line.
pub fn first_record_difference(was: &str, now: &str) -> Option<String> {
    let strip = |line: &str| -> Value {
        let mut v: Value = serde_json::from_str(line).unwrap_or(Value::String(line.into()));
        if let Some(r) = v.get_mut("record").and_then(Value::as_object_mut) {
            // The serial line number moves with any human line before it.
            r.remove("line");
            if let Some(f) = r.get_mut("fields").and_then(Value::as_object_mut) {
                for (name, _) in RECORD_FIELDS_THAT_VARY {
                    f.remove(*name);
                }
            }
        }
        v
    };
    let kind = |v: &Value| {
        v["record"]["kind"]
            .as_str()
            .unwrap_or("damaged")
            .to_string()
    };
    let a: Vec<Value> = was.lines().map(strip).collect();
    let b: Vec<Value> = now.lines().map(strip).collect();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if x == y {
            continue;
        }
        let (fx, fy) = (&x["record"]["fields"], &y["record"]["fields"]);
        let field = fx.as_object().and_then(|o| {
            o.iter()
                .find(|(k, v)| fy.get(k.as_str()) != Some(v))
                .map(|(k, v)| {
                    format!(
                        ": `{k}` recorded {v}, now {}",
                        fy.get(k.as_str()).unwrap_or(&Value::Null)
                    )
                })
        });
        return Some(format!(
            "record {} ({}, now {}) differs{}",
            i + 1,
            kind(x),
            kind(y),
            field.unwrap_or_default()
        ));
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Equal => None,
        _ => Some(format!("{} record(s) recorded, now {}", a.len(), b.len())),
    }
}

/// The `records.jsonl` of each boot of a Bochs run: the shared boot's in
/// its directory, then `own-1/`, `own-2/`, ...
fn boot_records(dir: &Path) -> Result<Vec<String>> {
    let mut v = Vec::new();
    let mut at = dir.to_path_buf();
    loop {
        let p = at.join("records.jsonl");
        if !p.is_file() {
            if v.is_empty() {
                bail!("no {} (a Bochs replay compares records)", p.display());
            }
            return Ok(v);
        }
        v.push(std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?);
        at = dir.join(format!("own-{}", v.len()));
    }
}

/// Runs a request once (as `harness run` would, without building) and
/// returns its evidence directory.
fn run_once(req: &RunRequest, setup: &Setup) -> Result<PathBuf> {
    if let request::Emulator::Bochs { .. } = req.emulator {
        return Ok(crate::bochs_suite::run(req, setup, Print::Quiet)?.dir);
    }
    run::validate(req, setup)?;
    if req.experiment.is_some() {
        Ok(suite::run(req, setup, Print::Quiet)?.dir)
    } else {
        let plan = run::resolve(req, setup)?;
        Ok(run::execute(&plan, setup)?.dir)
    }
}

/// `harness replay`: see the [module docs](self). The run recorded in
/// `dir` (a run directory or its `summary.json`) is made `repeat` times,
/// its new directories under `out` (default: `out/runs` in the workspace),
/// with `other_kernel` and `other_qemu` in place of the recorded ones when
/// given; `verbose` echoes the serial lines and prints every verdict, not
/// only those that differ.
pub fn replay(
    dir: &Path,
    repeat: u32,
    out: Option<PathBuf>,
    other_kernel: Option<PathBuf>,
    other_qemu: Option<String>,
    verbose: bool,
) -> Result<Status> {
    let rec = load(dir)?;
    let r = &rec.recipe;
    let kernel_path = other_kernel
        .clone()
        .unwrap_or_else(|| r.kernel.path.clone());
    let now = file_id(&kernel_path);
    if now.sha256.is_none() {
        bail!(
            "the recorded kernel {} cannot be read: give the one that ran with --kernel ELF",
            kernel_path.display()
        );
    }
    let kernel_note = if now.sha256 == r.kernel.sha256 {
        format!("{} (sha256 as recorded)", kernel_path.display())
    } else if other_kernel.is_some() {
        format!(
            "{} (sha256 {}, NOT the recorded {}: --kernel)",
            kernel_path.display(),
            now.sha256.as_deref().unwrap_or("?"),
            r.kernel.sha256.as_deref().unwrap_or("?")
        )
    } else {
        bail!(
            "the kernel at {} is not the one that ran: its sha256 is {}, the run recorded {}; \
             rebuild it from the recorded commit, or give a kernel with --kernel ELF",
            kernel_path.display(),
            now.sha256.as_deref().unwrap_or("?"),
            r.kernel.sha256.as_deref().unwrap_or("?")
        );
    };
    let qemu = other_qemu.clone().unwrap_or_else(|| r.qemu.clone());
    let setup = Setup::new(
        &qemu,
        out,
        Some(kernel_path),
        r.iso.as_ref().map(|i| i.path.clone()),
        verbose,
    )?;
    let mut req = r.request.clone();
    if other_qemu.is_some() {
        req.qemu = None;
    }
    let n_exp = rec.verdicts.experiments.len();
    // Bochs runs the same instructions in every run of one configuration:
    // its replay is held to the records themselves.
    let recorded_records = match req.emulator {
        request::Emulator::Bochs { .. } => Some(boot_records(dir)?),
        request::Emulator::Qemu => None,
    };
    let varying: Vec<&str> = RECORD_FIELDS_THAT_VARY.iter().map(|(n, _)| *n).collect();
    let varying = varying.join(", ");
    println!("harness: replaying {}", dir.display());
    println!("harness: as recorded: {}", r.command);
    println!("harness: kernel {kernel_note}");
    let mut differed = 0;
    for i in 1..=repeat {
        if crate::machine::live::interrupted() {
            bail!("interrupted");
        }
        let dir = run_once(&req, &setup)?;
        let got = verdicts(&read_summary(&dir.join("summary.json"))?);
        let lines = compare(&rec.verdicts, &got);
        let mut diff = lines.iter().filter(|l| !l.same()).count();
        println!("repeat {i}/{}: evidence {}", repeat, dir.display());
        for l in lines
            .iter()
            .filter(|l| verbose || !l.same() || l.what == "run")
        {
            println!("  {}", l.text());
        }
        if let Some(was) = &recorded_records {
            let now = boot_records(&dir)?;
            let mut same = 0;
            for k in 0..was.len().max(now.len()) {
                let (a, b) = (was.get(k), now.get(k));
                let what = if k == 0 {
                    "records".to_string()
                } else {
                    format!("records of boot {}", k + 1)
                };
                match (a, b) {
                    (Some(a), Some(b)) => match first_record_difference(a, b) {
                        None => same += b.lines().count(),
                        Some(d) => {
                            diff += 1;
                            println!("  DIFFERS  {what}: {d}");
                        }
                    },
                    _ => {
                        diff += 1;
                        println!(
                            "  DIFFERS  boots: {} recorded, now {}",
                            was.len(),
                            now.len()
                        );
                        break;
                    }
                }
            }
            if same > 0 && was.len() == now.len() {
                println!(
                    "  same     records: {same} in {} boot(s) the same but for {varying}",
                    now.len()
                );
            }
        }
        if diff == 0 {
            println!(
                "repeat {i}/{}: reproduced: {} verdict(s) the same",
                repeat,
                lines.len()
            );
        } else {
            differed += 1;
            println!(
                "repeat {i}/{}: DIFFERS: {diff} of {} verdict(s) not as recorded",
                repeat,
                lines.len()
            );
        }
    }
    let what = format!(
        "the run's status and {n_exp} experiment verdict(s){}",
        if recorded_records.is_some() {
            ", and every record"
        } else {
            ""
        }
    );
    if differed == 0 {
        println!(
            "replay: reproduced: {} of {} repeat(s) gave every recorded verdict ({what})",
            repeat, repeat
        );
        Ok(Status::Pass)
    } else {
        println!(
            "replay: NOT reproduced: {differed} of {} repeat(s) differed from the recorded \
             verdicts ({what})",
            repeat
        );
        Ok(Status::Unmet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        boot::accel::AccelRequest, recipe::run_command, request::BootKind,
        results::evidence::FileId,
    };
    use serde_json::json;

    const RECORDS: &str = r#"{"record":{"line":9,"seq":0,"kind":"hello","fields":{"boot_id":"7f25bd56","cmdline":"exp=x"}}}
{"record":{"line":11,"seq":1,"kind":"exp","fields":{"boot_id":"7f25bd56","patches":8,"calls":1000}}}
"#;

    #[test]
    fn records_that_differ_only_in_their_boot_id_and_line_are_the_same() {
        let other = RECORDS
            .replace("7f25bd56", "d212bf56")
            .replace("\"line\":11", "\"line\":12");
        assert_eq!(first_record_difference(RECORDS, &other), None);
    }

    #[test]
    fn a_record_whose_field_changed_is_named_with_both_values() {
        let other = RECORDS.replace("\"patches\":8", "\"patches\":9");
        assert_eq!(
            first_record_difference(RECORDS, &other).as_deref(),
            Some("record 2 (exp, now exp) differs: `patches` recorded 8, now 9")
        );
    }

    #[test]
    fn a_record_missing_from_the_replay_is_a_difference() {
        let first = RECORDS.lines().next().unwrap();
        assert_eq!(
            first_record_difference(RECORDS, first).as_deref(),
            Some("2 record(s) recorded, now 1")
        );
    }

    fn request() -> RunRequest {
        RunRequest {
            name: "exp".into(),
            smp: 2,
            accel: AccelRequest::Tcg,
            cpu: Some("Nehalem,+x2apic".into()),
            timeout: None,
            boot: BootKind::Kernel,
            control: None,
            append: vec!["nobp".into()],
            expect: None,
            experiment: Some("naive/*".into()),
            ms: Some(50),
            qemu: None,
            emulator: crate::request::Emulator::Qemu,
        }
    }

    fn recipe() -> Recipe {
        Recipe {
            format: FORMAT,
            request: request(),
            qemu: "qemu-system-x86_64".into(),
            kernel: FileId {
                path: "/k.elf".into(),
                bytes: Some(3),
                sha256: Some("ab".into()),
            },
            iso: None,
            kernel_cmdlines: vec!["exp=naive/* ms=50 nobp".into()],
            qemu_commands: vec!["qemu-system-x86_64 -smp 2".into()],
            command: "harness run".into(),
            part_of: None,
        }
    }

    fn summary(status: u8, exps: &[(&str, &str)]) -> Value {
        json!({
            "name": "exp",
            "exit_status": status,
            "experiments": exps.iter().map(|(n, v)| json!({"name": n, "verdict": v})).collect::<Vec<_>>(),
            "replay": serde_json::to_value(recipe()).unwrap(),
        })
    }

    #[test]
    fn the_recorded_request_reads_back_as_it_was_written() {
        let s = summary(0, &[("naive/a", "PASS"), ("naive/b", "KFAIL")]);
        let r = read_recorded(&s, "summary.json").unwrap();
        assert_eq!(r.recipe, recipe(), "wanted the recipe unchanged");
        assert_eq!(r.verdicts.status, Some(0));
        assert_eq!(r.verdicts.experiments["naive/b"], ["KFAIL"]);
    }

    #[test]
    fn a_summary_from_an_older_harness_says_it_has_no_request() {
        let e = read_recorded(&json!({"name": "exp", "exit_status": 0}), "x/summary.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("x/summary.json") && e.contains("older harness"),
            "wanted the file and `older harness`, got {e:?}"
        );
    }

    #[test]
    fn a_parsed_log_is_not_a_run_to_make_again() {
        let e = read_recorded(&json!({"name": "parse"}), "s").unwrap_err();
        assert!(e.to_string().contains("harness parse"), "{e}");
    }

    #[test]
    fn a_newer_format_is_refused_naming_both() {
        let mut s = summary(0, &[]);
        s["replay"]["format"] = json!(FORMAT + 1);
        let e = read_recorded(&s, "s").unwrap_err().to_string();
        assert!(e.contains("newer harness"), "{e}");
    }

    #[test]
    fn one_boot_of_a_suite_points_at_the_suite() {
        let mut s = summary(0, &[]);
        s["replay"]["part_of"] = json!("/runs/suite");
        let e = read_recorded(&s, "s").unwrap_err().to_string();
        assert!(
            e.contains("replay that directory") && e.contains("/runs/suite"),
            "{e}"
        );
    }

    #[test]
    fn the_same_verdicts_compare_the_same() {
        let a = verdicts(&summary(1, &[("naive/a", "PASS"), ("naive/b", "FAIL")]));
        let lines = compare(&a, &a.clone());
        assert_eq!(lines.len(), 3, "the run and two experiments: {lines:?}");
        assert!(lines.iter().all(Line::same), "{lines:?}");
        assert_eq!(
            lines[0].text(),
            "same     run: status 1 (expectation not met)"
        );
    }

    #[test]
    fn a_changed_missing_or_new_verdict_differs() {
        let a = verdicts(&summary(0, &[("naive/a", "PASS"), ("naive/b", "PASS")]));
        let b = verdicts(&summary(1, &[("naive/a", "FAIL"), ("naive/c", "SKIP")]));
        let lines = compare(&a, &b);
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        assert_eq!(
            texts,
            [
                "DIFFERS  run: recorded status 0 (pass), now status 1 (expectation not met)",
                "DIFFERS  naive/a: recorded PASS, now FAIL",
                "DIFFERS  naive/b: recorded PASS, now absent",
                "DIFFERS  naive/c: recorded absent, now SKIP",
            ]
        );
    }

    #[test]
    fn the_run_command_gives_every_option_of_the_request() {
        let a = run_command(&request(), "10", Path::new("/k.elf"), None);
        assert_eq!(
            shell_words::join(&a),
            "harness run --smp 2 --accel tcg --cpu Nehalem,+x2apic --append nobp \
             --experiment 'naive/*' --ms 50 --qemu 10 --kernel /k.elf"
        );
        let mut r = request();
        r.experiment = None;
        r.ms = None;
        r.control = Some("hang".into());
        r.expect = Some(crate::request::ExpectKind::ClockFail);
        r.timeout = Some(5.0);
        let a = run_command(&r, "q", Path::new("/k"), None);
        assert!(
            a.windows(2).any(|w| w == ["--expect", "clock-fail"])
                && a.windows(2).any(|w| w == ["--timeout", "5"])
                && a.windows(2).any(|w| w == ["--control", "hang"]),
            "{a:?}"
        );
    }

    #[test]
    fn a_file_is_identified_by_its_sha256() {
        let p = std::env::temp_dir().join(format!("harness-fileid-{}", std::process::id()));
        std::fs::write(&p, b"abc").unwrap();
        let id = file_id(&p);
        std::fs::remove_file(&p).unwrap();
        assert_eq!(id.bytes, Some(3));
        assert_eq!(
            id.sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            "the SHA-256 of `abc`"
        );
        assert_eq!(file_id(Path::new("/nonexistent/k")).sha256, None);
    }
}
