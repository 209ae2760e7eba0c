//! The harness's exit statuses: one table, used by every command.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the expectation was met (a `matrix`: no row failed; experiments: none FAILed, SKIP and KFAIL do not count) |
//! | 1 | an expectation was not met: an experiment FAILed (a must-pass failed, a negative control was not caught, an expected deadlock did not happen or not where it must, the kernel's own judgement disagreed), the platform failed (a CPU did not come up, a fault, a failed check), a platform control was run (the kernel fails on purpose), records were lost, ... |
//! | 2 | bad input or a broken environment: a bad argument or table, a missing file or program, a kernel that does not build, QEMU refusing its options, nested KVM that cannot run `int3` guests |
//! | 3 | the run hit its deadline (QEMU was killed; the transcript is kept) |
//! | 130 | the run was interrupted (Ctrl-C, SIGTERM): the evidence so far is kept, and the experiments it never finished are SKIP, not FAIL |

use std::process::ExitCode;

/// How the harness exits. See the [module docs](self) for the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// 0: the expectation was met.
    Pass,
    /// 1: an expectation was not met.
    Unmet,
    /// 2: bad input or a broken environment.
    BadInput,
    /// 3: the deadline fired.
    Timeout,
    /// 130 (128 + SIGINT, as shells report it): interrupted by a signal.
    Interrupted,
}

impl Status {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Status::Pass => 0,
            Status::Unmet => 1,
            Status::BadInput => 2,
            Status::Timeout => 3,
            Status::Interrupted => 130,
        }
    }

    /// A word for people.
    pub const fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Unmet => "expectation not met",
            Status::BadInput => "bad input or broken environment",
            Status::Timeout => "timeout",
            Status::Interrupted => "interrupted",
        }
    }
}

impl Status {
    /// The verdict of a run that ended this way whatever its experiments
    /// did: an interrupt or a broken environment is not a failed
    /// experiment, so its last line says what it is instead of counting
    /// failures. `None` for the statuses the experiments decide.
    pub const fn own_verdict(self) -> Option<&'static str> {
        match self {
            Status::Interrupted => Some(
                "INTERRUPTED: stopped before its end; what ran is judged above, the rest never ran",
            ),
            Status::BadInput => Some(
                "ERROR: bad input or a broken environment (above); no experiment is judged by it",
            ),
            Status::Pass | Status::Unmet | Status::Timeout => None,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> ExitCode {
        ExitCode::from(s.code())
    }
}

/// The exit-status table as `--help` shows it.
pub const HELP_TABLE: &str = "\
Exit status:
  0  the expectation was met (matrix: no row failed; skipped rows do not fail;
     experiments: none FAILed, SKIP and KFAIL do not fail a run)
  1  an expectation was not met: an experiment FAILed (a must-pass failed, a
     negative control was not caught, an expected deadlock did not happen),
     the platform failed, or a platform control was run (`run --control X`
     always fails: the kernel fails on purpose; the summary says whether it
     was caught)
  2  bad input or broken environment: bad argument or table, missing file or
     program, kernel build failure, QEMU refusing its options, nested KVM that
     cannot run int3 guests
  3  the deadline fired: QEMU was killed, the transcript is kept
130  interrupted by Ctrl-C/SIGTERM: the evidence so far is kept; experiments
     not finished are SKIP
A closed standard output (`harness list | head -1`) ends a command quietly
with status 0, after its QEMU, if any, is killed.";

/// Whether a panic's payload is the standard library's "failed printing to
/// stdout: Broken pipe": the reader of our output went away (`| head`).
/// `main` ends such a command quietly instead of printing a panic.
pub fn is_broken_pipe(payload: &(dyn std::any::Any + Send)) -> bool {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied());
    text.is_some_and(|t| t.starts_with("failed printing to stdout") && t.contains("Broken pipe"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_stdout_pipe_counts_as_one() {
        let pipe: Box<dyn std::any::Any + Send> =
            Box::new("failed printing to stdout: Broken pipe (os error 32)".to_string());
        assert!(is_broken_pipe(&*pipe));
        let other: Box<dyn std::any::Any + Send> = Box::new("index out of bounds");
        assert!(!is_broken_pipe(&*other));
        let full: Box<dyn std::any::Any + Send> =
            Box::new("failed printing to stdout: No space left on device".to_string());
        assert!(!is_broken_pipe(&*full));
    }

    #[test]
    fn an_interrupt_and_a_broken_environment_have_verdicts_of_their_own_and_the_rest_none() {
        for s in [Status::Interrupted, Status::BadInput] {
            let v = s.own_verdict().unwrap();
            assert!(!v.contains("FAIL") && !v.contains("failed"), "{v}");
        }
        assert!(Status::Interrupted
            .own_verdict()
            .unwrap()
            .starts_with("INTERRUPTED"));
        for s in [Status::Pass, Status::Unmet, Status::Timeout] {
            assert_eq!(s.own_verdict(), None);
        }
    }
}
