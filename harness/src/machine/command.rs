//! External commands the harness waits for, each under a deadline: a
//! command that hangs is killed and named, never waited for forever.

use crate::machine::live::ChildGuard;
use anyhow::{bail, Context as _, Result};
use std::{
    io::Read,
    process::{Command, Output},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

/// `5 s`, `200 ms`.
fn duration_text(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Runs `cmd` (stdin closed) to its end, as `Command::output` does, but
/// for at most `deadline`: a command still running then is killed, and the
/// error names it and the deadline. Returns its output and the command as
/// shown in messages (`` `qemu-system-x86_64 --version` ``).
///
/// 1. Spawn it in a [`ChildGuard`] (killed however this returns).
/// 2. Read stdout and stderr on threads of their own, so that a child that
///    fills a pipe is not blocked by a parent that waits for its exit.
/// 3. Wait for its exit until the deadline; kill it when it passes.
/// 4. Collect both pipes, bounded too: a process the child left behind
///    may hold them open after the child exited.
pub fn output_within(cmd: Command, deadline: Duration) -> Result<(Output, String)> {
    let shown = format!(
        "`{}`",
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let until = Instant::now() + deadline;
    let mut child = ChildGuard::spawn(cmd).with_context(|| format!("running {shown}"))?;
    let (tx, rx) = mpsc::channel();
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        child.take_stdout().map(|p| Box::new(p) as _),
        child.take_stderr().map(|p| Box::new(p) as _),
    ];
    for (i, pipe) in pipes.into_iter().enumerate() {
        let tx = tx.clone();
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let read = match pipe {
                Some(mut p) => p.read_to_end(&mut bytes).map(|_| bytes),
                None => Ok(bytes),
            };
            // The receiver may have given up (deadline): nothing to tell.
            let _ = tx.send((i, read));
        });
    }
    let Some(status) = child.wait_for(deadline) else {
        child.kill();
        bail!(
            "{shown} did not finish within {} (the deadline for it): killed",
            duration_text(deadline)
        );
    };
    // Once the child has exited, the rest of its output is already in the
    // pipes: a moment more than the deadline is enough to read it.
    let read_by = until.max(Instant::now()) + Duration::from_secs(1);
    let mut got: [Option<Vec<u8>>; 2] = [None, None];
    while got.iter().any(Option::is_none) {
        let left = read_by.saturating_duration_since(Instant::now());
        let Ok((i, read)) = rx.recv_timeout(left) else {
            bail!(
                "{shown} exited ({status}), but its output did not end within {} (the deadline \
                 for it): something it started still holds it open",
                duration_text(deadline)
            );
        };
        got[i] = Some(read.with_context(|| format!("reading the output of {shown}"))?);
    }
    let [stdout, stderr] = got.map(Option::unwrap_or_default);
    Ok((
        Output {
            status,
            stdout,
            stderr,
        },
        shown,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.args(["-c", script]);
        c
    }

    #[test]
    fn a_command_that_answers_in_time_gives_its_status_and_both_outputs() {
        let (out, shown) =
            output_within(sh("echo out; echo err >&2; exit 3"), Duration::from_secs(5)).unwrap();
        assert_eq!(shown, "`sh -c echo out; echo err >&2; exit 3`");
        assert_eq!(out.status.code(), Some(3));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    }

    #[test]
    fn a_command_that_hangs_is_killed_at_its_deadline_and_named() {
        let t = Instant::now();
        let e = output_within(sh("exec sleep 30"), Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "waited {:?}",
            t.elapsed()
        );
        assert!(
            e.contains("`sh -c exec sleep 30` did not finish within 300 ms"),
            "{e}"
        );
        assert!(e.contains("killed"), "{e}");
    }

    #[test]
    fn a_command_whose_leftover_holds_its_output_open_is_not_waited_for() {
        // `sh` exits at once; the `sleep` it leaves behind keeps stdout.
        let t = Instant::now();
        let e = output_within(sh("sleep 30 & echo started"), Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "waited {:?}",
            t.elapsed()
        );
        assert!(e.contains("its output did not end within 300 ms"), "{e}");
    }

    #[test]
    fn deadlines_read_in_seconds_or_milliseconds() {
        assert_eq!(duration_text(Duration::from_secs(5)), "5 s");
        assert_eq!(duration_text(Duration::from_millis(300)), "300 ms");
    }
}
