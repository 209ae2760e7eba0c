//! TAP version 13 output (`--tap`), as kvm-unit-tests' `run_tests.sh -t`
//! prints it, for CI systems and `prove`.
//!
//! ```text
//! TAP version 13
//! 1..3
//! ok 1 - platform
//! not ok 2 - int3/gap/ipi/qword/timer
//!   ---
//!   message: "2 wrong-target failures"
//!   severity: fail
//!   detail:
//!     - "..."
//!   ...
//! ok 3 - naive/-/none/qword # SKIP needs -smp 2
//! not ok 4 - int3/gap/nmi/qword/timer # TODO known failure: ...
//! ```
//!
//! The cases are the JUnit cases of `junit.xml` ([`Case`]); an experiment's
//! KFAIL becomes `not ok ... # TODO known failure` (TAP's "expected to
//! fail, does not count"). Names and directives stay on one line; `#` in a
//! name is escaped as TAP asks.

use crate::results::evidence::{Case, CaseOutcome};
use std::fmt::Write as _;

/// One TAP test point.
#[derive(Debug, Clone, PartialEq)]
pub enum Point {
    /// `ok N - name`.
    Ok,
    /// `not ok N - name` with a YAML block.
    NotOk {
        /// The first reason.
        message: String,
        /// The rest, one entry each.
        detail: Vec<String>,
    },
    /// `ok N - name # SKIP why`.
    Skip(String),
    /// `not ok N - name # TODO known failure: why`.
    Todo(String),
}

impl From<&CaseOutcome> for Point {
    fn from(o: &CaseOutcome) -> Point {
        match o {
            CaseOutcome::Pass => Point::Ok,
            CaseOutcome::Fail { message, detail } => Point::NotOk {
                message: message.clone(),
                detail: detail
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect(),
            },
            // The experiments' JUnit cases carry KFAIL as a skip whose
            // reason begins with "KFAIL: ".
            CaseOutcome::Skip(why) => match why.strip_prefix("KFAIL: ") {
                Some(rest) => Point::Todo(rest.to_string()),
                None => Point::Skip(why.clone()),
            },
        }
    }
}

/// Renders the whole TAP stream of `cases`.
pub fn render(cases: &[Case]) -> String {
    let points: Vec<(String, Point)> = cases
        .iter()
        .map(|c| (c.name.clone(), Point::from(&c.outcome)))
        .collect();
    render_points(&points)
}

/// Renders named points.
pub fn render_points(points: &[(String, Point)]) -> String {
    let mut o = String::from("TAP version 13\n");
    let _ = writeln!(o, "1..{}", points.len());
    for (i, (name, p)) in points.iter().enumerate() {
        let n = i + 1;
        let name = one_line(name).replace('#', "\\#");
        match p {
            Point::Ok => {
                let _ = writeln!(o, "ok {n} - {name}");
            }
            Point::Skip(why) => {
                let _ = writeln!(o, "ok {n} - {name} # SKIP {}", one_line(why));
            }
            Point::Todo(why) => {
                let _ = writeln!(
                    o,
                    "not ok {n} - {name} # TODO known failure: {}",
                    one_line(why)
                );
            }
            Point::NotOk { message, detail } => {
                let _ = writeln!(o, "not ok {n} - {name}");
                o.push_str("  ---\n");
                let _ = writeln!(o, "  message: {}", yaml_str(message));
                o.push_str("  severity: fail\n");
                if !detail.is_empty() {
                    o.push_str("  detail:\n");
                    for d in detail {
                        let _ = writeln!(o, "    - {}", yaml_str(d));
                    }
                }
                o.push_str("  ...\n");
            }
        }
    }
    o
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
fn yaml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(name: &str, outcome: CaseOutcome) -> Case {
        Case {
            class: "t".into(),
            name: name.into(),
            time: 0.0,
            outcome,
        }
    }

    fn sample() -> Vec<Case> {
        vec![
            case("platform", CaseOutcome::Pass),
            case(
                "int3/gap/ipi/qword/timer",
                CaseOutcome::Fail {
                    message: "2 wrong-target failures".into(),
                    detail: "2 wrong-target failures\nfailure: cpu=1 \"site\"=0x10\n".into(),
                },
            ),
            case("naive/#1", CaseOutcome::Skip("needs -smp 2".into())),
            case(
                "int3/gap/nmi/qword/timer",
                CaseOutcome::Skip("KFAIL: stale-int3; QEMU 7.2 TCG".into()),
            ),
        ]
    }

    #[test]
    fn points_are_numbered_with_a_plan_and_directives() {
        let t = render(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "TAP version 13");
        assert_eq!(lines[1], "1..4");
        assert_eq!(lines[2], "ok 1 - platform");
        assert_eq!(lines[3], "not ok 2 - int3/gap/ipi/qword/timer");
        assert!(
            t.contains("ok 3 - naive/\\#1 # SKIP needs -smp 2\n"),
            "wanted an escaped # and a SKIP directive, got:\n{t}"
        );
        assert!(
            t.contains("not ok 4 - int3/gap/nmi/qword/timer # TODO known failure: stale-int3; QEMU 7.2 TCG\n"),
            "wanted KFAIL as TODO, got:\n{t}"
        );
    }

    #[test]
    fn a_failure_carries_a_yaml_block_with_quoted_strings() {
        let t = render(&sample());
        assert!(
            t.contains(
                "  ---\n  message: \"2 wrong-target failures\"\n  severity: fail\n  detail:\n    - \"2 wrong-target failures\"\n    - \"failure: cpu=1 \\\"site\\\"=0x10\"\n  ...\n"
            ),
            "got:\n{t}"
        );
    }

    #[test]
    fn an_empty_run_is_a_valid_plan_of_zero() {
        assert_eq!(render(&[]), "TAP version 13\n1..0\n");
    }

    /// Feeds the stream to `prove` (Perl's TAP harness), when it is there:
    /// failures fail it, SKIP and TODO do not.
    #[test]
    fn prove_accepts_the_stream_and_counts_only_real_failures() {
        let Ok(out) = std::process::Command::new("prove")
            .arg("--version")
            .output()
        else {
            eprintln!("prove not found: skipped");
            return;
        };
        assert!(out.status.success());
        let dir = std::env::temp_dir().join(format!("harness-tap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |name: &str, cases: &[Case]| {
            let tap = dir.join(format!("{name}.tap"));
            std::fs::write(&tap, render(cases)).unwrap();
            let t = dir.join(format!("{name}.t"));
            std::fs::write(&t, format!("#!/bin/sh\ncat '{}'\n", tap.display())).unwrap();
            std::process::Command::new("prove")
                .arg("-e")
                .arg("sh")
                .arg(&t)
                .output()
                .unwrap()
        };
        let all = run("all", &sample());
        assert!(
            !all.status.success(),
            "a real failure must fail prove: {}",
            String::from_utf8_lossy(&all.stdout)
        );
        let out = String::from_utf8_lossy(&all.stdout);
        assert!(
            out.contains("Failed test:  2"),
            "wanted only test 2 failed, got:\n{out}"
        );
        let mut good = sample();
        good.remove(1);
        let ok = run("good", &good);
        assert!(
            ok.status.success(),
            "SKIP and TODO must not fail prove: {}",
            String::from_utf8_lossy(&ok.stdout)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
