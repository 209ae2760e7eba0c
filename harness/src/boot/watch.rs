//! `harness watch DEVICE`: a real machine's serial port, read live.
//!
//! The port is put in raw mode at the given speed, 8N1, no flow control,
//! ignoring modem lines (termios: `cfmakeraw`, `CLOCAL | CREAD`). The
//! transcript is kept as it arrives; reading stops at the kernel's end
//! record (the machine then halts and the line stays open) or at the
//! deadline.

use crate::{
    judge::Ending,
    machine::live::{self, FollowOptions, Sinks, Stop},
    machine::transcript::{Line, Transcript},
    results::evidence::{self, RecordsLog},
    results::render,
};
use anyhow::{bail, Context as _, Result};
use nix::sys::termios::{self, BaudRate, ControlFlags, SetArg};
use std::{
    fs::{File, OpenOptions},
    os::unix::fs::OpenOptionsExt,
    path::Path,
    time::Duration,
};

/// The speed the kernel's COM1 runs at.
pub const DEFAULT_BAUD: u32 = 115_200;

/// `watch`'s deadline unless told: a real machine's firmware, GRUB and the
/// whole suite.
pub const DEFAULT_WATCH_TIMEOUT: f64 = 600.0;

const RATES: &[(u32, BaudRate)] = &[
    (1200, BaudRate::B1200),
    (2400, BaudRate::B2400),
    (4800, BaudRate::B4800),
    (9600, BaudRate::B9600),
    (19_200, BaudRate::B19200),
    (38_400, BaudRate::B38400),
    (57_600, BaudRate::B57600),
    (115_200, BaudRate::B115200),
    (230_400, BaudRate::B230400),
    (460_800, BaudRate::B460800),
    (921_600, BaudRate::B921600),
];

/// The termios speed for `baud`.
pub fn baud_rate(baud: u32) -> Result<BaudRate> {
    RATES
        .iter()
        .find(|(n, _)| *n == baud)
        .map(|(_, b)| *b)
        .with_context(|| {
            let list: Vec<String> = RATES.iter().map(|(n, _)| n.to_string()).collect();
            format!("--baud {baud}: not a standard speed ({})", list.join(", "))
        })
}

/// Opens `dev` and sets it raw at `baud`, 8N1, no flow control.
pub fn open_serial(dev: &Path, baud: u32) -> Result<File> {
    let speed = baud_rate(baud)?;
    if !dev.exists() {
        bail!("no serial device at {}", dev.display());
    }
    // O_NONBLOCK so that the open does not wait for carrier; cleared below.
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY | nix::libc::O_NONBLOCK)
        .open(dev)
        .with_context(|| {
            format!(
                "opening {} (is it in use, or do you need to be in group dialout?)",
                dev.display()
            )
        })?;
    let mut t = termios::tcgetattr(&f)
        .with_context(|| format!("{} is not a terminal (tcgetattr)", dev.display()))?;
    termios::cfmakeraw(&mut t);
    termios::cfsetspeed(&mut t, speed).context("setting the serial speed")?;
    t.control_flags |= ControlFlags::CLOCAL | ControlFlags::CREAD | ControlFlags::CS8;
    t.control_flags &= !(ControlFlags::CSTOPB | ControlFlags::PARENB | ControlFlags::CRTSCTS);
    // Blocking reads that return as soon as one byte is there.
    t.control_chars[termios::SpecialCharacterIndices::VMIN as usize] = 1;
    t.control_chars[termios::SpecialCharacterIndices::VTIME as usize] = 0;
    termios::tcsetattr(&f, SetArg::TCSANOW, &t)
        .with_context(|| format!("configuring {} (tcsetattr)", dev.display()))?;
    let flags = nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_GETFL).context("fcntl F_GETFL")?;
    let mut flags = nix::fcntl::OFlag::from_bits_truncate(flags);
    flags.remove(nix::fcntl::OFlag::O_NONBLOCK);
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETFL(flags)).context("fcntl F_SETFL")?;
    Ok(f)
}

/// What a watch gave.
#[derive(Debug)]
pub struct Watched {
    /// What was read.
    pub transcript: Transcript,
    /// How it ended.
    pub ending: Ending,
    /// Time spent.
    pub wall: Duration,
    /// A read error, if the port failed.
    pub serial_error: Option<String>,
}

/// Reads `port` into `dir/serial.log` and `dir/records.jsonl` until the
/// end record or `deadline`.
pub fn watch(port: File, deadline: Duration, dir: &Path, echo: bool) -> Result<Watched> {
    watch_with(port, deadline, dir, &mut |line| {
        if echo {
            render::echo(line);
        }
    })
}

/// [`watch`], handing every line to `watcher` as it arrives.
pub fn watch_with(
    port: File,
    deadline: Duration,
    dir: &Path,
    watcher: &mut dyn FnMut(&Line),
) -> Result<Watched> {
    let (tx, rx) = live::channel();
    live::pump_serial(port, tx);
    // The reading thread stays blocked in read(2) on the port; it ends
    // with the process.
    let followed = follow_to_end(&rx, deadline, dir, watcher, &mut || {})?;
    let ending = ending(&followed, deadline, "the serial port");
    Ok(Watched {
        transcript: followed.transcript,
        ending,
        wall: followed.elapsed,
        serial_error: followed.serial_error,
    })
}

/// Follows the serial line whose events arrive on `rx` (a port, an
/// emulator's COM1: nothing beside it) into `dir/serial.log` and
/// `dir/records.jsonl`, handing every line to `watcher`, until the end
/// record, the end of the stream or `deadline`; `kill` stops the source
/// when following stops first.
pub fn follow_to_end(
    rx: &std::sync::mpsc::Receiver<live::Event>,
    deadline: Duration,
    dir: &Path,
    watcher: &mut dyn FnMut(&Line),
    kill: &mut dyn FnMut(),
) -> Result<live::Followed> {
    let opts = FollowOptions {
        deadline,
        stop_at_end: true,
        end_grace: Duration::ZERO,
    };
    Logs::create(dir, None)?.follow(rx, opts, watcher, kill)
}

/// Where a followed line goes in a run's evidence: `serial.log`,
/// `records.jsonl`, and the emulator's standard error where it has one.
pub struct Logs {
    serial: File,
    stderr: Option<File>,
    records: RecordsLog,
}

impl Logs {
    /// Creates the files in `dir` (`stderr`: the name of the emulator's
    /// standard error log, if it has one).
    pub fn create(dir: &Path, stderr: Option<&str>) -> Result<Logs> {
        Ok(Logs {
            serial: evidence::create(dir, "serial.log")?,
            stderr: stderr.map(|name| evidence::create(dir, name)).transpose()?,
            records: RecordsLog::create(dir)?,
        })
    }

    /// Follows the events on `rx` into the files under `opts`, handing
    /// every line to `watcher` after it is written; `kill` stops the
    /// source when following stops first. A record that could not be
    /// written is the error.
    pub fn follow(
        mut self,
        rx: &std::sync::mpsc::Receiver<live::Event>,
        opts: FollowOptions,
        watcher: &mut dyn FnMut(&Line),
        kill: &mut dyn FnMut(),
    ) -> Result<live::Followed> {
        let records = &mut self.records;
        let mut write_error: Option<anyhow::Error> = None;
        let mut on_line = |line: &Line| {
            if let Err(e) = records.add(line) {
                write_error.get_or_insert(e);
            }
            watcher(line);
        };
        let has_stderr = self.stderr.is_some();
        let followed = {
            let mut sinks = Sinks {
                serial_log: &mut self.serial,
                stderr_log: self.stderr.as_mut(),
                on_line: &mut on_line,
            };
            live::follow(rx, opts, has_stderr, &mut sinks, kill)?
        };
        match write_error {
            Some(e) => Err(e),
            None => Ok(followed),
        }
    }
}

/// How a followed serial line ended, where nothing says more than the
/// line itself (a port, an emulator's COM1): `what` names the line in an
/// environment failure.
pub fn ending(followed: &live::Followed, deadline: Duration, what: &str) -> Ending {
    match followed.stop {
        Stop::Interrupted => Ending::Interrupted,
        Stop::Deadline => Ending::Timeout {
            secs: deadline.as_secs_f64(),
        },
        Stop::StreamsEnded if followed.serial_error.is_some() => Ending::Environment {
            why: format!(
                "reading {what} failed: {}",
                followed.serial_error.clone().unwrap_or_default()
            ),
        },
        Stop::EndRecord | Stop::StreamsEnded | Stop::EndGraceExpired | Stop::KvmInternalError => {
            Ending::Stopped
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_speeds_are_accepted_and_others_refused() {
        assert!(baud_rate(115_200).is_ok());
        let e = baud_rate(115_201).unwrap_err().to_string();
        assert!(e.contains("115201") && e.contains("9600"), "{e}");
    }
}
