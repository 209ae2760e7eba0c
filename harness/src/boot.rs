//! One QEMU boot, followed live, with its evidence written as it happens.
//!
//! The other ways one boot is started and followed live beside it: the
//! accelerator it runs under ([`accel`]), a Bochs boot ([`bochs`]), and a
//! real machine's serial port ([`watch`]).

pub mod accel;
pub mod bochs;
pub mod watch;

use crate::{
    judge::Ending,
    machine::live::{self, ChildGuard, FollowOptions, Stop},
    machine::qemu::{self, QemuCommand, StderrVerdict},
    machine::transcript::{Line, Transcript},
    results::evidence,
    results::render,
};
use anyhow::{Context as _, Result};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// How long QEMU may take to exit after the kernel's end record (it
/// should exit at once through isa-debug-exit), plus [`END_GRACE_PER_CPU`]
/// for each vCPU: QEMU stops every vCPU thread before it exits, and under
/// TCG on a few host cores 64 spinning vCPUs take seconds to stop.
pub const END_GRACE: Duration = Duration::from_secs(3);

/// What each vCPU adds to [`END_GRACE`].
pub const END_GRACE_PER_CPU: Duration = Duration::from_millis(100);

/// How long QEMU may take to be reaped after its streams closed.
const REAP: Duration = Duration::from_secs(2);

/// What one boot gave.
#[derive(Debug)]
pub struct Booted {
    /// What was read.
    pub transcript: Transcript,
    /// How it ended.
    pub ending: Ending,
    /// QEMU's stderr.
    pub stderr: String,
    /// From spawn to the end of following.
    pub wall: Duration,
}

/// Boots `cmd` with a hard `deadline`, writing `qemu-command.txt`,
/// `serial.log`, `qemu-stderr.log` and `records.jsonl` into `dir` and
/// echoing lines when `echo` is set.
pub fn boot(cmd: &QemuCommand, deadline: Duration, dir: &Path, echo: bool) -> Result<Booted> {
    boot_with(cmd, deadline, dir, &mut |line| {
        if echo {
            render::echo(line);
        }
    })
}

/// [`boot`], handing every line to `watcher` as it arrives (after it is
/// written to the evidence).
pub fn boot_with(
    cmd: &QemuCommand,
    deadline: Duration,
    dir: &Path,
    watcher: &mut dyn FnMut(&Line),
) -> Result<Booted> {
    evidence::write(dir, "qemu-command.txt", &format!("{}\n", cmd.shell()))?;
    let logs = watch::Logs::create(dir, Some("qemu-stderr.log"))?;

    let start = Instant::now();
    let mut guard = ChildGuard::spawn(cmd.command())
        .with_context(|| format!("starting QEMU: {}", cmd.shell()))?;
    let (tx, rx) = live::channel();
    if let Some(out) = guard.take_stdout() {
        live::pump_serial(out, tx.clone());
    }
    if let Some(err) = guard.take_stderr() {
        live::pump_stderr(err, tx);
    }
    let opts = FollowOptions {
        deadline,
        stop_at_end: false,
        end_grace: END_GRACE + END_GRACE_PER_CPU * cmd.smp,
    };
    let followed = logs.follow(&rx, opts, watcher, &mut || guard.kill())?;
    let ending = match followed.stop {
        Stop::Interrupted => Ending::Interrupted,
        Stop::KvmInternalError => Ending::Environment {
            why: qemu::KVM_INT3_MESSAGE.into(),
        },
        Stop::Deadline => Ending::Timeout {
            secs: deadline.as_secs_f64(),
        },
        Stop::EndGraceExpired => Ending::QemuLingered,
        Stop::EndRecord | Stop::StreamsEnded => match guard.wait_for(REAP) {
            Some(s) => match (s.code(), std::os::unix::process::ExitStatusExt::signal(&s)) {
                (None, Some(sig)) => killed(sig, &followed.stderr),
                (code, _) => classify_exit(code, &followed.stderr, &followed.transcript),
            },
            None => {
                guard.kill();
                classify_exit(None, &followed.stderr, &followed.transcript)
            }
        },
    };
    drop(guard);
    Ok(Booted {
        transcript: followed.transcript,
        ending,
        stderr: followed.stderr,
        wall: start.elapsed(),
    })
}

/// QEMU ended by signal `sig` that the harness did not send: it crashed
/// (SIGSEGV, SIGABRT, ...) or something outside killed it (the OOM
/// killer, a user). Not the kernel's doing: a guest's triple fault or
/// reset ends QEMU under `-no-reboot` with status 0, never by a signal.
pub fn killed(sig: i32, stderr: &str) -> Ending {
    let name = nix::sys::signal::Signal::try_from(sig).map_or_else(
        |_| format!("signal {sig}"),
        |s| format!("{s} (signal {sig})"),
    );
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
    Ending::Environment {
        why: format!(
            "QEMU was killed by {name}, which the harness did not send: it crashed or was \
             killed from outside{}",
            last.map_or(String::new(), |l| format!("; its last words: {}", l.trim()))
        ),
    }
}

/// How QEMU's own exit is to be read: the kernel's exit codes are always
/// the kernel's; otherwise QEMU's complaints on stderr before any record
/// mean the environment failed (a bad option, a missing firmware), not the
/// kernel.
pub fn classify_exit(status: Option<i32>, stderr: &str, t: &Transcript) -> Ending {
    use report::exit::{decode, QemuExit};
    if let Some(s) = status {
        if decode(s) != QemuExit::Other(s) {
            return Ending::QemuExited { status };
        }
    }
    match qemu::classify_stderr(stderr) {
        StderrVerdict::KvmInternalError => Ending::Environment {
            why: qemu::KVM_INT3_MESSAGE.into(),
        },
        StderrVerdict::Errors(lines) if t.records.is_empty() => Ending::Environment {
            why: format!(
                "QEMU failed (exit status {}) before the kernel said anything: {}",
                status.map_or("signal".into(), |s| s.to_string()),
                lines.join(" / ")
            ),
        },
        _ => Ending::QemuExited { status },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_refusing_an_option_is_an_environment_failure() {
        let e = classify_exit(
            Some(1),
            "qemu-system-x86_64: -cpu foo: unable to find CPU model 'foo'\n",
            &Transcript::default(),
        );
        assert!(
            matches!(&e, Ending::Environment { why } if why.contains("unable to find CPU model")),
            "wanted an environment failure naming QEMU's complaint, got {e:?}"
        );
    }

    #[test]
    fn the_kernels_exit_code_is_the_kernels_even_with_stderr_noise() {
        let s = report::exit::qemu_status(report::exit::CODE_FAIL);
        let e = classify_exit(Some(s), "qemu: something\n", &Transcript::default());
        assert_eq!(e, Ending::QemuExited { status: Some(s) });
    }

    #[test]
    fn qemu_killed_by_a_signal_is_an_environment_failure_naming_it() {
        let e = killed(11, "qemu: fatal: something\n");
        assert!(
            matches!(&e, Ending::Environment { why } if why.contains("SIGSEGV (signal 11)") && why.contains("qemu: fatal")),
            "{e:?}"
        );
    }

    #[test]
    fn a_silent_reset_is_the_kernels_failure_not_the_environments() {
        let e = classify_exit(Some(0), "", &Transcript::default());
        assert_eq!(e, Ending::QemuExited { status: Some(0) });
    }
}
