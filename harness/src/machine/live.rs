//! Following a live serial line under a hard deadline, and keeping QEMU on
//! a leash.
//!
//! * [`ChildGuard`] owns the QEMU process: dropping it kills QEMU, so no
//!   return path, error or panic leaves a VM behind; and the kernel kills
//!   QEMU too if the harness itself dies (`PR_SET_PDEATHSIG`).
//! * [`interrupted`] turns Ctrl-C and SIGTERM into a flag that the loop
//!   polls, so that the guard gets to run.
//! * [`follow`] reads what the pumps ([`pump_serial`], [`pump_stderr`])
//!   send (serial bytes, stderr lines), writes the raw bytes to the
//!   evidence as they come, hands each complete line to the caller, and
//!   stops at the deadline, at the end of the stream, at a "KVM internal
//!   error", or (when asked) at the end record. No wait in it is longer
//!   than [`TICK`].

use crate::{
    machine::qemu::KVM_INTERNAL_ERROR,
    machine::transcript::{Line, Reader, Transcript},
};
use anyhow::{Context as _, Result};
use std::{
    fs::File,
    io::{BufRead, BufReader, Read, Write},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc::{self, Receiver, RecvTimeoutError, Sender},
        OnceLock,
    },
    thread,
    time::{Duration, Instant},
};

/// The longest the follow loop sleeps before it looks at the clock and the
/// interrupt flag again.
pub const TICK: Duration = Duration::from_millis(100);

/// How long output is still collected after QEMU was killed (the rest of
/// its stderr, say), at most.
pub const DRAIN: Duration = Duration::from_millis(500);

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// Installs the Ctrl-C / SIGTERM / SIGHUP handler (once per process).
pub fn install_signal_handler() -> Result<()> {
    HANDLER
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                // Relaxed: a flag polled every TICK; nothing else is
                // published through it.
                INTERRUPTED.store(true, Ordering::Relaxed);
            })
            .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("installing the Ctrl-C handler: {e}"))
}

/// Whether Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

/// A child process that is killed when the guard is dropped.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    done: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` with stdin closed and stdout/stderr piped. On Linux the
    /// child also gets SIGKILL if the harness dies without running `Drop`.
    pub fn spawn(mut cmd: Command) -> Result<ChildGuard> {
        use std::os::unix::process::CommandExt;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // If prctl failed the child would only lose the kill-on-parent-death
        // net (the guard still kills it on every normal exit path); its
        // error is passed on and spawn fails loudly instead.
        // SAFETY: the closure runs between fork and exec, where only
        // async-signal-safe calls are allowed: one prctl(2), no parent memory.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        Ok(ChildGuard { child, done: None })
    }

    /// The child's stdout, taken once.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    /// The child's stderr, taken once.
    pub fn take_stderr(&mut self) -> Option<std::process::ChildStderr> {
        self.child.stderr.take()
    }

    /// The exit status, if the child has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.done.is_none() {
            self.done = self.child.try_wait().ok().flatten();
        }
        self.done
    }

    /// Waits up to `limit` for the child to exit on its own.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= until {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the child (if still running) and reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_none() {
            let _ = self.child.kill();
            self.done = self.child.wait().ok();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a pump sends.
#[derive(Debug)]
pub enum Event {
    /// Bytes from the serial line.
    Serial(Vec<u8>),
    /// The serial stream ended (or failed: the message says why).
    SerialClosed(Option<String>),
    /// One line of QEMU's stderr.
    Stderr(String),
    /// QEMU's stderr ended.
    StderrClosed,
}

/// Reads serial bytes from `r` on a thread of its own and sends them.
pub fn pump_serial<R: Read + Send + 'static>(mut r: R, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match r.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send(Event::SerialClosed(None));
                    return;
                }
                Ok(n) => {
                    if tx.send(Event::Serial(buf[..n].to_vec())).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Event::SerialClosed(Some(e.to_string())));
                    return;
                }
            }
        }
    });
}

/// Reads stderr lines from `r` on a thread of its own and sends them.
pub fn pump_stderr<R: Read + Send + 'static>(r: R, tx: Sender<Event>) {
    thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut line = Vec::new();
        loop {
            line.clear();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Event::StderrClosed);
                    return;
                }
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    if tx.send(Event::Stderr(text)).is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Why [`follow`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every stream ended (QEMU exited, or the device closed).
    StreamsEnded,
    /// The end record arrived and the caller asked to stop there.
    EndRecord,
    /// The end record arrived, and the streams did not end within the
    /// grace period after it.
    EndGraceExpired,
    /// The deadline fired.
    Deadline,
    /// QEMU's stderr said "KVM internal error".
    KvmInternalError,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// How to follow.
#[derive(Debug, Clone, Copy)]
pub struct FollowOptions {
    /// The hard deadline, from the start of following.
    pub deadline: Duration,
    /// Stop as soon as the end record arrives (a serial port: the machine
    /// halts and the port stays open).
    pub stop_at_end: bool,
    /// How long after the end record the streams may take to end (QEMU
    /// exiting through isa-debug-exit).
    pub end_grace: Duration,
}

/// What [`follow`] saw.
#[derive(Debug)]
pub struct Followed {
    /// Lines and records.
    pub transcript: Transcript,
    /// Why it stopped.
    pub stop: Stop,
    /// QEMU's stderr (empty for a serial port).
    pub stderr: String,
    /// The serial stream's read error, if it failed.
    pub serial_error: Option<String>,
    /// Time from the start of following to the stop.
    pub elapsed: Duration,
}

/// Where the bytes go as they arrive.
pub struct Sinks<'a> {
    /// The raw serial transcript.
    pub serial_log: &'a mut File,
    /// QEMU's stderr, if there is one.
    pub stderr_log: Option<&'a mut File>,
    /// Called with every complete line, in order.
    pub on_line: &'a mut dyn FnMut(&Line),
}

struct State<'s, 'a> {
    reader: Reader,
    sinks: &'s mut Sinks<'a>,
    stderr: String,
    serial_open: bool,
    stderr_open: bool,
    serial_error: Option<String>,
    end_at: Option<Instant>,
    kvm_error: bool,
}

impl State<'_, '_> {
    fn take(&mut self, ev: Event) -> Result<()> {
        match ev {
            Event::Serial(bytes) => {
                self.sinks
                    .serial_log
                    .write_all(&bytes)
                    .context("writing serial.log")?;
                for line in self.reader.push(&bytes) {
                    if self.end_at.is_none()
                        && matches!(&line, Line::Record(r) if r.kind == report::kind::END)
                    {
                        self.end_at = Some(Instant::now());
                    }
                    (self.sinks.on_line)(&line);
                }
            }
            Event::SerialClosed(err) => {
                self.serial_open = false;
                self.serial_error = err;
            }
            Event::Stderr(line) => {
                if let Some(f) = self.sinks.stderr_log.as_deref_mut() {
                    f.write_all(line.as_bytes())
                        .context("writing qemu-stderr.log")?;
                }
                if line.contains(KVM_INTERNAL_ERROR) {
                    self.kvm_error = true;
                }
                self.stderr.push_str(&line);
            }
            Event::StderrClosed => self.stderr_open = false,
        }
        Ok(())
    }
}

/// Follows the events on `rx` until one of the [`Stop`] reasons. `kill` is
/// called once when following must stop while the source may still run
/// (deadline, KVM error, interrupt, grace expired); after it, output is
/// drained for at most [`DRAIN`] so that the evidence is complete.
pub fn follow(
    rx: &Receiver<Event>,
    opts: FollowOptions,
    has_stderr: bool,
    sinks: &mut Sinks<'_>,
    kill: &mut dyn FnMut(),
) -> Result<Followed> {
    let start = Instant::now();
    let deadline = start + opts.deadline;
    let mut st = State {
        reader: Reader::default(),
        sinks,
        stderr: String::new(),
        serial_open: true,
        stderr_open: has_stderr,
        serial_error: None,
        end_at: None,
        kvm_error: false,
    };
    let stop = loop {
        if interrupted() {
            break Stop::Interrupted;
        }
        if st.kvm_error {
            break Stop::KvmInternalError;
        }
        if st.end_at.is_some() && opts.stop_at_end {
            break Stop::EndRecord;
        }
        if !st.serial_open && !st.stderr_open {
            break Stop::StreamsEnded;
        }
        let now = Instant::now();
        let limit = match st.end_at {
            Some(t) => deadline.min(t + opts.end_grace),
            None => deadline,
        };
        if now >= limit {
            break if st.end_at.is_some() && limit < deadline {
                Stop::EndGraceExpired
            } else {
                Stop::Deadline
            };
        }
        match rx.recv_timeout((limit - now).min(TICK)) {
            Ok(ev) => st.take(ev)?,
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break Stop::StreamsEnded,
        }
    };
    let elapsed = start.elapsed();
    if stop != Stop::StreamsEnded {
        kill();
        let until = Instant::now() + DRAIN;
        while st.serial_open || st.stderr_open {
            let now = Instant::now();
            if now >= until || opts.stop_at_end {
                break;
            }
            match rx.recv_timeout(until - now) {
                Ok(ev) => st.take(ev)?,
                Err(_) => break,
            }
        }
    }
    if let Some(line) = st.reader.finish() {
        (st.sinks.on_line)(&line);
    }
    st.sinks.serial_log.flush().context("writing serial.log")?;
    Ok(Followed {
        transcript: st.reader.transcript,
        stop,
        stderr: st.stderr,
        serial_error: st.serial_error,
        elapsed,
    })
}

/// A channel for the pumps.
pub fn channel() -> (Sender<Event>, Receiver<Event>) {
    mpsc::channel()
}
