//! The evidence of a run, kept whatever its outcome.
//!
//! Each run gets a new directory under `out/runs/` (never reused: the name
//! is the UTC time to the millisecond and the configuration, and a suffix
//! if that still exists), holding:
//!
//! | file | what |
//! |---|---|
//! | `qemu-command.txt` | the exact QEMU command, shell-quoted, runnable |
//! | `serial.log` | the raw serial bytes, written as they arrive |
//! | `qemu-stderr.log` | QEMU's stderr |
//! | `records.jsonl` | every believed record and every damaged line, one JSON object a line |
//! | `summary.json` | configuration, accelerator and why, machine, outcome, exit status, wall time, and `replay`: the request, QEMU and kernel (path, SHA-256) to run it again ([`crate::recipe::Recipe`]) |
//! | `junit.xml` | the outcome for CI ([`junit_xml`], written by `quick-junit`; also for a run that errored) |
//!
//! Probe boots of `--accel auto` keep theirs in subdirectories. A run of
//! experiments ([`crate::suite`]) keeps one such directory per boot
//! (`shared/`, `own-<name>/`, `resumed-<name>/`) under its own, which holds
//! the run's `summary.json` (every experiment: counters, verdict, reasons,
//! bound), `junit.xml` (a test case per experiment and per boot),
//! `experiments.txt` (the table as printed) and `latency.svg` and
//! `latency.png` ([`crate::results::plot`]); `harness bench` keeps `bench.json` beside its runs.

use crate::{
    judge::experiment::{ExpJudgement, Verdict},
    machine::transcript::Line,
};
use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};
use std::{
    fs::{self, File},
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// `YYYYMMDD-HHMMSS.mmm` in UTC.
pub fn utc_stamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}{m:02}{dd:02}-{:02}{:02}{:02}.{:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Keeps `[A-Za-z0-9._-]` and turns the rest into `_`.
pub fn sanitize(label: &str) -> String {
    label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Creates the `--out` directory given, so that a path that cannot be one
/// is refused, naming the option, before anything runs.
pub fn check_out(out: Option<&Path>) -> Result<()> {
    if let Some(dir) = out {
        fs::create_dir_all(dir)
            .with_context(|| format!("--out {}: cannot create the directory", dir.display()))?;
    }
    Ok(())
}

/// Creates a new, unique run directory `base/<stamp>-<label>`.
pub fn create_run_dir(base: &Path, label: &str, now: SystemTime) -> Result<PathBuf> {
    fs::create_dir_all(base).with_context(|| format!("creating {}", base.display()))?;
    let stem = format!("{}-{}", utc_stamp(now), sanitize(label));
    for n in 0..1000 {
        let name = if n == 0 {
            stem.clone()
        } else {
            format!("{stem}-{n}")
        };
        let path = base.join(name);
        match fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("creating {}", path.display()));
            }
        }
    }
    anyhow::bail!(
        "no free run directory name under {} for {stem}",
        base.display()
    )
}

/// Creates (truncating) `dir/name`.
pub fn create(dir: &Path, name: &str) -> Result<File> {
    let p = dir.join(name);
    File::create(&p).with_context(|| format!("creating {}", p.display()))
}

/// Writes `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<()> {
    let p = dir.join(name);
    fs::write(&p, text).with_context(|| format!("writing {}", p.display()))
}

/// One line of `records.jsonl` for a line, or `None` for human text.
pub fn record_json(line: &Line) -> Option<String> {
    let v = match line {
        Line::Human(_) => return None,
        Line::Record(r) => serde_json::json!({ "record": r }),
        Line::Damaged(d) => serde_json::json!({ "damaged": d }),
    };
    Some(v.to_string())
}

/// A `records.jsonl` writer.
pub struct RecordsLog(File);

impl RecordsLog {
    /// Creates `dir/records.jsonl`.
    pub fn create(dir: &Path) -> Result<RecordsLog> {
        Ok(RecordsLog(create(dir, "records.jsonl")?))
    }

    /// Appends a line's record or damage note.
    pub fn add(&mut self, line: &Line) -> Result<()> {
        if let Some(j) = record_json(line) {
            writeln!(self.0, "{j}").context("writing records.jsonl")?;
        }
        Ok(())
    }
}

/// How one JUnit test case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// Passed.
    Pass,
    /// Failed, with a one-line message and detail.
    Fail {
        /// One line.
        message: String,
        /// More.
        detail: String,
    },
    /// Skipped, with why.
    Skip(String),
}

impl CaseOutcome {
    /// Failed for `reasons`: the first is the message, all are the detail.
    pub fn failed(reasons: &[String]) -> CaseOutcome {
        CaseOutcome::Fail {
            message: reasons.first().cloned().unwrap_or_default(),
            detail: reasons.join("\n"),
        }
    }

    /// Passed if `met`, else failed for `reasons`.
    pub fn of(met: bool, reasons: &[String]) -> CaseOutcome {
        if met {
            CaseOutcome::Pass
        } else {
            CaseOutcome::failed(reasons)
        }
    }
}

/// One JUnit test case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// `classname`.
    pub class: String,
    /// `name`.
    pub name: String,
    /// Seconds.
    pub time: f64,
    /// Outcome.
    pub outcome: CaseOutcome,
}

/// A JUnit XML document written by [`quick_junit`] (which escapes, and
/// drops the characters XML 1.0 cannot hold): the experiments' cases
/// (class `experiment.*`) in a test suite named `suite`, so that its count
/// is the printed tally, and every other case (each boot's platform
/// judgement and checks) in a second one, `suite` and ` platform`. A
/// [`CaseOutcome::Fail`] is a `<failure>` whose `message` is its first
/// line and whose text is its detail (the failure records); a
/// [`CaseOutcome::Skip`] is a `<skipped>` with why (a KFAIL says `KFAIL:`
/// first). `properties` describe the configuration the suite ran under
/// (`smp`, `cpu`, `accel`, ...), so that cases of the same experiment under
/// different configurations stay apart.
pub fn junit_xml(suite: &str, properties: &[(&str, String)], cases: &[Case]) -> String {
    use quick_junit::Report;
    let seconds = |t: f64| Duration::from_secs_f64(if t.is_finite() { t.max(0.0) } else { 0.0 });
    let (experiments, platform): (Vec<&Case>, Vec<&Case>) = cases
        .iter()
        .partition(|c| c.class.starts_with("experiment."));
    // A run without experiments (the platform alone, a matrix) has one
    // suite, under the name it was given.
    let platform_name = if experiments.is_empty() {
        suite.to_string()
    } else {
        format!("{suite} platform")
    };
    let mut report = Report::new("static-call");
    let mut all = 0.0;
    for (name, cases) in [(suite.to_string(), experiments), (platform_name, platform)] {
        if cases.is_empty() {
            continue;
        }
        let (ts, total) = junit_suite(&name, properties, &cases, seconds);
        all += total;
        report.add_test_suite(ts);
    }
    report.set_time(seconds(all));
    // Serializing to memory fails only on a bug in the crate: say so in
    // the file rather than lose the rest of the evidence.
    report.to_string().unwrap_or_else(|e| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- quick-junit could not write this report: {} -->\n<testsuites/>\n",
            e.to_string().replace("--", "- -")
        )
    })
}

/// One JUnit test suite of `cases`, and their total time.
fn junit_suite(
    suite: &str,
    properties: &[(&str, String)],
    cases: &[&Case],
    seconds: impl Fn(f64) -> Duration,
) -> (quick_junit::TestSuite, f64) {
    use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};
    let mut ts = TestSuite::new(suite);
    for (k, v) in properties {
        ts.add_property((*k, v.as_str()));
    }
    let mut total = 0.0;
    for c in cases {
        total += c.time;
        let status = match &c.outcome {
            CaseOutcome::Pass => TestCaseStatus::success(),
            CaseOutcome::Fail { message, detail } => {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(message.as_str());
                if !detail.is_empty() {
                    s.set_description(detail.as_str());
                }
                s
            }
            CaseOutcome::Skip(why) => {
                let mut s = TestCaseStatus::skipped();
                s.set_message(why.as_str());
                s
            }
        };
        let mut tc = TestCase::new(c.name.as_str(), status);
        tc.set_classname(c.class.as_str());
        tc.set_time(seconds(c.time));
        ts.add_test_case(tc);
    }
    ts.set_time(seconds(total));
    (ts, total)
}

/// A file a run used: where it was and which bytes it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileId {
    /// Its path when the run was made.
    pub path: PathBuf,
    /// Its size in bytes, if it could be read.
    pub bytes: Option<u64>,
    /// The SHA-256 of its bytes (lowercase hex), if it could be read.
    pub sha256: Option<String>,
}

/// The [`FileId`] of the file at `path` now (size and hash `None` when it
/// cannot be read).
pub fn file_id(path: &Path) -> FileId {
    use sha2::{Digest as _, Sha256};
    use std::io::Read as _;
    let hashed = (|| -> std::io::Result<(u64, String)> {
        let mut f = std::fs::File::open(path)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = f.read(&mut buf)?;
            if k == 0 {
                break;
            }
            n += k as u64;
            h.update(&buf[..k]);
        }
        let hex = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok((n, hex))
    })();
    let (bytes, sha256) = match hashed {
        Ok((n, s)) => (Some(n), Some(s)),
        Err(_) => (None, None),
    };
    FileId {
        path: std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()),
        bytes,
        sha256,
    }
}

/// The JUnit case of one experiment: SKIP and KFAIL as skipped (with the
/// reason and, for KFAIL, the counts), FAIL with its reasons and failure
/// records.
pub fn experiment_case(j: &ExpJudgement) -> Case {
    let class = format!(
        "experiment.{}",
        j.name.split('/').next().unwrap_or("unknown")
    );
    let counts = format!(
        "patches={} calls={} bp_hits={} failures={} (wrong={} faults={} stray_bp={} stale_bp={} stale_call={} bad_return={} unsynced={} blind={}) on {}",
        j.n("patches"),
        j.n("calls"),
        j.n("bp_hits"),
        j.n("failures"),
        j.n("wrong"),
        j.n("faults"),
        j.n("stray_bp"),
        j.n("stale_bp"),
        j.n("stale_call"),
        j.n("bad_return"),
        j.n("unsynced"),
        j.n("blind"),
        j.seen.label()
    );
    let outcome = match j.verdict {
        Verdict::Pass => CaseOutcome::Pass,
        Verdict::Skip => CaseOutcome::Skip(j.reasons.join("; ")),
        Verdict::Kfail => CaseOutcome::Skip(format!(
            "KFAIL: {}; {}; {counts}",
            j.reasons.join("; "),
            j.known.as_deref().unwrap_or("known failure")
        )),
        Verdict::Fail => {
            let mut detail: Vec<String> = j.reasons.clone();
            detail.push(counts);
            detail.extend(j.failures.iter().map(|f| format!("failure: {f}")));
            detail.extend(
                j.stuck
                    .iter()
                    .map(|s| format!("deadlock: cpu {:?} at {}", s.cpu, s.at)),
            );
            CaseOutcome::Fail {
                message: j.reasons.first().cloned().unwrap_or_default(),
                detail: detail.join("\n"),
            }
        }
    };
    Case {
        class,
        name: j.name.clone(),
        time: j.n("ns") as f64 / 1e9,
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_stamp_is_utc_calendar_time_to_the_millisecond() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_100_212_345);
        assert_eq!(utc_stamp(t), "20251125-195012.345");
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101-000000.000");
        // A leap day.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc_stamp(leap), "20000229-000000.000");
    }

    #[test]
    fn a_second_run_dir_with_the_same_name_gets_a_suffix() {
        let base = std::env::temp_dir().join(format!("harness-evidence-{}", std::process::id()));
        let now = SystemTime::now();
        let a = create_run_dir(&base, "smp4 tcg", now).unwrap();
        let b = create_run_dir(&base, "smp4 tcg", now).unwrap();
        assert_ne!(a, b, "wanted two directories");
        assert!(
            b.to_string_lossy().ends_with("-smp4_tcg-1"),
            "wanted a -1 suffix, got {b:?}"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    fn sample_cases() -> Vec<Case> {
        vec![
            Case {
                class: "harness".into(),
                name: "smp<4>".into(),
                time: 1.5,
                outcome: CaseOutcome::Pass,
            },
            Case {
                class: "experiment.naive".into(),
                name: "naive/-/none/qword".into(),
                time: 0.5,
                outcome: CaseOutcome::Fail {
                    message: "NOT caught \"x\"".into(),
                    detail: "a & b\u{1}\nfailure: wrong cpu=1 site=0x10".into(),
                },
            },
            Case {
                class: "experiment.int3".into(),
                name: "int3/gap/x".into(),
                time: 0.0,
                outcome: CaseOutcome::Skip("needs -smp 2".into()),
            },
            Case {
                class: "experiment.int3".into(),
                name: "int3/stale".into(),
                time: 0.25,
                outcome: CaseOutcome::Skip("KFAIL: stale-int3; QEMU 7.2 TCG".into()),
            },
        ]
    }

    #[test]
    fn junit_escapes_and_counts() {
        let x = junit_xml("boot", &[], &sample_cases());
        assert!(
            x.contains("tests=\"4\"")
                && x.contains("failures=\"1\"")
                && x.contains("skipped=\"2\""),
            "wanted 4 tests, 1 failure, 2 skipped: {x}"
        );
        assert!(x.contains("name=\"smp&lt;4&gt;\""), "{x}");
        assert!(x.contains("NOT caught &quot;x&quot;"), "{x}");
        assert!(
            x.contains("a &amp; b\n"),
            "wanted the control character dropped: {x}"
        );
    }

    #[test]
    fn experiments_have_a_suite_of_their_own_whose_count_is_the_tally() {
        let x = junit_xml("s", &[], &sample_cases());
        let r = quick_junit::Report::deserialize_from_str(&x).expect("quick-junit reads it");
        let suites: Vec<(&str, usize)> = r
            .test_suites
            .iter()
            .map(|t| (t.name.as_str(), t.test_cases.len()))
            .collect();
        // 3 experiments (1 failed, 2 skipped: the tally), and the run's
        // own judgement apart.
        assert_eq!(suites, [("s", 3), ("s platform", 1)]);
        // Without experiments, one suite under the name given.
        let x = junit_xml("m", &[], &sample_cases()[..1]);
        let r = quick_junit::Report::deserialize_from_str(&x).unwrap();
        assert_eq!(r.test_suites.len(), 1);
        assert_eq!(r.test_suites[0].name.as_str(), "m");
    }

    #[test]
    fn a_junit_parser_reads_back_every_case_failure_and_skip() {
        let x = junit_xml(
            "static-call experiments naive/*",
            &[("smp", "2".into()), ("accel", "tcg".into())],
            &sample_cases(),
        );
        let doc = roxmltree::Document::parse(&x).expect("wanted well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        let suite = root
            .children()
            .find(|n| n.has_tag_name("testsuite"))
            .expect("wanted a testsuite");
        assert_eq!(
            suite.attribute("name"),
            Some("static-call experiments naive/*")
        );
        let props: Vec<(&str, &str)> = suite
            .descendants()
            .filter(|n| n.has_tag_name("property"))
            .map(|n| (n.attribute("name").unwrap(), n.attribute("value").unwrap()))
            .collect();
        assert_eq!(props, [("smp", "2"), ("accel", "tcg")]);
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        let names: Vec<&str> = cases.iter().map(|c| c.attribute("name").unwrap()).collect();
        assert_eq!(names, ["naive/-/none/qword", "int3/gap/x", "int3/stale"]);
        assert_eq!(cases[0].attribute("classname"), Some("experiment.naive"));
        let failure = cases[0]
            .children()
            .find(|n| n.has_tag_name("failure"))
            .expect("wanted a <failure> in the failed case");
        assert_eq!(failure.attribute("message"), Some("NOT caught \"x\""));
        assert_eq!(
            failure.text(),
            Some("a & b\nfailure: wrong cpu=1 site=0x10"),
            "wanted the failure records as the failure's text"
        );
        let skipped: Vec<&str> = cases
            .iter()
            .filter_map(|c| c.children().find(|n| n.has_tag_name("skipped")))
            .map(|n| n.attribute("message").unwrap())
            .collect();
        assert_eq!(skipped, ["needs -smp 2", "KFAIL: stale-int3; QEMU 7.2 TCG"]);
        let platform = root
            .children()
            .filter(|n| n.has_tag_name("testsuite"))
            .nth(1)
            .expect("wanted the platform's suite");
        let pass = platform
            .children()
            .find(|n| n.has_tag_name("testcase"))
            .expect("wanted the run's own case");
        assert_eq!(pass.attribute("name"), Some("smp<4>"));
        assert!(
            pass.children().all(|n| !n.is_element()),
            "a pass has no child element"
        );

        // quick-junit's own reader agrees.
        let r = quick_junit::Report::deserialize_from_str(&x).expect("quick-junit reads it");
        assert_eq!((r.tests, r.failures, r.skipped, r.errors), (4, 1, 2, 0));
        assert_eq!(r.test_suites[0].test_cases.len(), 3);
    }
}

/// What produced a run: this harness, the record protocol it reads, the
/// commit of the workspace it ran from, and the host. Every `summary.json`
/// carries it as `harness`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The harness's version (`harness --version`).
    pub version: &'static str,
    /// The record protocol version it reads ([`report::PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// `git describe --always --dirty` of the workspace the harness was
    /// built from, when it is a git checkout.
    pub commit: Option<String>,
    /// The host CPU's model name (`/proc/cpuinfo`).
    pub host_cpu: Option<String>,
    /// The host's CPUs available to this process.
    pub host_cpus: Option<usize>,
}

/// The [`Provenance`] of runs made from the workspace at `root`.
pub fn provenance(root: Option<&Path>) -> Provenance {
    let commit = root.and_then(|r| {
        let mut cmd = std::process::Command::new("git");
        cmd.arg("-C")
            .arg(r)
            .args(["describe", "--always", "--dirty", "--abbrev=12"]);
        // A commit name is worth a few seconds, never a hung run.
        let (out, _) =
            crate::machine::command::output_within(cmd, std::time::Duration::from_secs(10)).ok()?;
        let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !s.is_empty()).then_some(s)
    });
    let host_cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| cpuinfo_model(&t));
    Provenance {
        version: env!("CARGO_PKG_VERSION"),
        protocol: report::PROTOCOL_VERSION,
        commit,
        host_cpu,
        host_cpus: std::thread::available_parallelism().ok().map(|n| n.get()),
    }
}

/// The [`Provenance`] of this process: the commit of the workspace this
/// harness was built from (if it is still a git checkout), and this host.
pub fn current_provenance() -> Provenance {
    provenance(Path::new(env!("CARGO_MANIFEST_DIR")).parent())
}

/// The first `model name` of a `/proc/cpuinfo`.
pub fn cpuinfo_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == "model name").then(|| v.trim().to_string())
    })
}

/// A run that errored after its directory existed: `summary.json` says why
/// it has no verdict. `what` names the run (an object); the error, the exit
/// status (bad input or environment) and the directory are added. A
/// `junit.xml` with one failed case says the same to CI. Writing them is
/// best effort: the error itself is what the caller reports.
pub fn write_error_summary(dir: &Path, what: serde_json::Value, e: &anyhow::Error) {
    let name = what
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("run")
        .to_string();
    let _ = write(
        dir,
        "junit.xml",
        &junit_xml(
            &format!("static-call {name}"),
            &[],
            &[Case {
                class: format!("harness.{name}"),
                name: "no verdict".into(),
                time: 0.0,
                outcome: CaseOutcome::Fail {
                    message: format!("the run ended without a verdict: {e:#}"),
                    detail: e
                        .chain()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join("\n"),
                },
            }],
        ),
    );
    let mut note = what;
    if let Some(o) = note.as_object_mut() {
        o.insert("error".into(), format!("{e:#}").into());
        o.insert(
            "exit_status".into(),
            crate::status::Status::BadInput.code().into(),
        );
        o.insert("evidence".into(), dir.display().to_string().into());
    }
    let _ = write(
        dir,
        "summary.json",
        &(serde_json::to_string_pretty(&note).unwrap_or_default() + "\n"),
    );
}

#[cfg(test)]
mod error_summary_tests {
    use super::*;

    #[test]
    fn the_host_cpu_is_the_first_model_name_of_cpuinfo() {
        let t = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\n\nprocessor\t: 1\nmodel name\t: other\n";
        assert_eq!(
            cpuinfo_model(t).as_deref(),
            Some("Intel(R) Xeon(R) CPU @ 2.20GHz")
        );
        assert_eq!(cpuinfo_model("processor : 0\n"), None);
    }

    #[test]
    fn provenance_names_this_harness_and_its_protocol() {
        let p = provenance(None);
        assert_eq!(p.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(p.protocol, report::PROTOCOL_VERSION);
        assert_eq!(p.commit, None);
    }

    #[test]
    fn a_run_without_a_verdict_leaves_a_summary_saying_why() {
        let dir =
            std::env::temp_dir().join(format!("harness-error-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = anyhow::anyhow!("qemu vanished").context("booting");
        write_error_summary(
            &dir,
            serde_json::json!({ "name": "row", "pattern": "naive/*" }),
            &e,
        );
        let got: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let r = quick_junit::Report::deserialize_from_str(&junit).expect("a junit.xml CI reads");
        assert_eq!(
            (r.tests, r.failures),
            (1, 1),
            "wanted one failed case: {junit}"
        );
        assert!(junit.contains("booting: qemu vanished"), "{junit}");
        assert_eq!(got["name"], "row", "{got}");
        assert_eq!(got["pattern"], "naive/*", "{got}");
        assert_eq!(
            got["error"], "booting: qemu vanished",
            "wanted the whole chain: {got}"
        );
        assert_eq!(
            got["exit_status"],
            crate::status::Status::BadInput.code(),
            "{got}"
        );
        assert!(
            got["evidence"]
                .as_str()
                .unwrap()
                .contains("harness-error-summary"),
            "{got}"
        );
    }
}
