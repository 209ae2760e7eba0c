//! `harness linux`: a real Linux guest (Debian bookworm's 6.1 kernel and a
//! busybox initramfs, unpacked by `scripts/setup-linux-guest.sh`) flipping
//! a static key while busy workers run the code it patches, under QEMU's
//! TCG; checked against what this project found about QEMU
//! (docs/emulators/, docs/linux-guest.md).
//!
//! The harness boots it with a gdbstub on a Unix socket and follows the
//! console live. When the console goes silent before the init's end line,
//! it stops the VM a few times through the gdbstub and samples every vCPU
//! ([`livelock`]): if the guest is stuck in the stale-`int3` livelock it
//! names it (site, `symbol+offset`, bytes, RIPs), counts it, and (unless
//! `--no-release`) writes the site's own first byte back, which makes QEMU
//! drop its translations of the page: the guest goes on and the count
//! with it. A measurement: livelocks are counted, not failures.
//!
//! Pure parts: [`rsp`] (framing, checksums, reply parsers), [`map`]
//! (the guest's `/proc/kallsyms`), [`console`] (the console's lines), [`livelock`] (the
//! judgement), [`Tally::summary_line`]. The rest here does the I/O.

pub mod console;
pub mod livelock;
pub mod map;
pub mod rsp;

use crate::{
    judge::stats,
    machine::{
        live::{self, ChildGuard, Event},
        qemu_info::{self, QemuInfo},
        workspace::Workspace,
    },
    results::evidence,
    status::Status,
};
use anyhow::{bail, Context as _, Result};
use console::ConsoleLine;
use livelock::{Livelock, Round, VcpuSample, Verdict};
use map::SymbolMap;
use serde::Serialize;
use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc::RecvTimeoutError,
    time::{Duration, Instant, SystemTime},
};

/// Where `scripts/setup-linux-guest.sh` puts the guest, in the workspace.
pub const GUEST_DIR: &str = "build/linux-guest";

/// The setup command, for messages.
pub const SETUP: &str = "bash scripts/setup-linux-guest.sh";

/// Guest memory.
pub const MEMORY: &str = "512M";

/// The CPU counts allowed.
pub const SMP_RANGE: (u32, u32) = (2, 8);

/// Flips allowed.
pub const FLIPS_RANGE: (u64, u64) = (1, 1_000_000);

/// Stops of the VM per diagnosis.
pub const ROUNDS: usize = 5;

/// The guest runs this long between two stops of a diagnosis.
pub const ROUND_GAP: Duration = Duration::from_millis(150);

/// How long QEMU may take to power off after the end line.
pub const END_GRACE: Duration = Duration::from_secs(15);

/// The kernel command line, without the init's words.
pub const BASE_APPEND: &str = "console=ttyS0 nokaslr panic=-1";

/// What the command was asked.
#[derive(Debug, Clone, Serialize)]
pub struct LinuxRequest {
    /// The QEMU's name (`qemu-system-x86_64`, `10`, a path).
    pub qemu: String,
    /// CPUs.
    pub smp: u32,
    /// Flips of the key.
    pub flips: u64,
    /// The key: a name under /proc/sys/kernel/ or a path under /proc/sys/.
    pub key: String,
    /// Busy workers (default: CPUs - 1).
    pub workers: Option<u32>,
    /// The hard deadline.
    pub timeout: Duration,
    /// Console silence before the VM is sampled.
    pub silence: Duration,
    /// Whether a livelock is released.
    pub release: bool,
    /// Whether to sample the running guest on purpose (a live negative
    /// control: every such sample must be judged no livelock).
    pub control: bool,
    /// Where run directories go.
    pub out: Option<PathBuf>,
    /// Echo the console.
    pub verbose: bool,
}

/// Checks the arguments clap cannot: the key's form.
pub fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'/' | b'.' | b'-'))
        && !key.split('/').any(|p| p == "..")
        && (!key.contains('/') || key.starts_with("/proc/sys/") || !key.starts_with('/'));
    if !ok {
        bail!(
            "--key {key:?}: give a name under /proc/sys/kernel/ (sched_schedstats) or a path \
             under /proc/sys/ (letters, digits, _ . - /; no `..`)"
        );
    }
    Ok(())
}

/// The guest's files.
#[derive(Debug, Clone)]
pub struct Guest {
    /// vmlinuz.
    pub kernel: PathBuf,
    /// initramfs.cpio.
    pub initrd: PathBuf,
    /// The first line of `version`.
    pub version: String,
}

/// Finds the guest's files under `dir`, or says to run the setup script.
pub fn locate_guest(dir: &Path) -> Result<Guest> {
    let need = |name: &str| -> Result<PathBuf> {
        let p = dir.join(name);
        if !p.is_file() {
            bail!(
                "the Linux guest is not set up ({} is missing): run `{SETUP}`",
                p.display()
            );
        }
        Ok(p)
    };
    let kernel = need("vmlinuz")?;
    let initrd = need("initramfs.cpio")?;
    let version = std::fs::read_to_string(dir.join("version"))
        .ok()
        .and_then(|v| v.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown version".into());
    Ok(Guest {
        kernel,
        initrd,
        version,
    })
}

/// The file of a run that the guest's second serial port writes: its
/// kernel's text symbols (`/proc/kallsyms`).
pub const SYMBOLS_FILE: &str = "kallsyms.txt";

/// How long the symbols may take to reach their file after the console
/// said they were written (the UART drains after the write returns).
const SYMBOLS_WAIT: Duration = Duration::from_secs(10);

/// Reads the guest's symbols from `path` once it holds `count` lines (the
/// count the init printed), waiting at most `wait` ([`SYMBOLS_WAIT`]); the map must
/// name the `int3` entry at a real address (a kernel that hides its
/// addresses from /proc/kallsyms shows zeros).
pub fn read_symbols(path: &Path, count: u64, wait: Duration) -> Result<SymbolMap> {
    let until = Instant::now() + wait;
    let text = loop {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let lines = text.lines().count() as u64;
        if lines >= count {
            break text;
        }
        if Instant::now() >= until {
            bail!(
                "{} holds {lines} of the {count} symbols the guest wrote",
                path.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let map = SymbolMap::parse(&text)
        .with_context(|| format!("{}: not the guest's symbols", path.display()))?;
    match map.address(livelock::INT3_ENTRY) {
        Some(a) if a != 0 => Ok(map),
        Some(_) => bail!(
            "{}: every address is 0: the guest hid its kernel addresses",
            path.display()
        ),
        None => bail!(
            "{} has no {}: not a kernel this check knows",
            path.display(),
            livelock::INT3_ENTRY
        ),
    }
}

/// The kernel command line.
pub fn append(req: &LinuxRequest) -> String {
    let mut s = format!("{BASE_APPEND} lg.key={} lg.flips={}", req.key, req.flips);
    if let Some(w) = req.workers {
        s.push_str(&format!(" lg.workers={w}"));
    }
    s
}

/// QEMU's arguments: the console on the first serial port (standard
/// output), the guest's symbols from the second into `symbols`.
pub fn qemu_args(
    req: &LinuxRequest,
    guest: &Guest,
    gdb_socket: &Path,
    symbols: &Path,
) -> Vec<String> {
    vec![
        "-nographic".into(),
        "-serial".into(),
        "mon:stdio".into(),
        "-serial".into(),
        format!("file:{}", symbols.display()),
        "-no-reboot".into(),
        "-m".into(),
        MEMORY.into(),
        "-smp".into(),
        req.smp.to_string(),
        "-accel".into(),
        "tcg,thread=multi".into(),
        "-kernel".into(),
        guest.kernel.display().to_string(),
        "-initrd".into(),
        guest.initrd.display().to_string(),
        "-append".into(),
        append(req),
        "-gdb".into(),
        format!("unix:{},server,nowait", gdb_socket.display()),
    ]
}

/// One release: a livelock named and let go.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// The last flip the console showed before it.
    pub flip: u64,
    /// Seconds from the start.
    pub at_s: f64,
    /// The livelock.
    #[serde(flatten)]
    pub livelock: Livelock,
    /// Whether its first bytes were written back (not with `--no-release`).
    pub released: bool,
    /// Whether the console had not moved since the previous release at the
    /// same site (then it is not counted again).
    pub repeat: bool,
}

/// What a run counted.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Flips the console showed.
    pub flips: u64,
    /// Whether the end line came.
    pub ended: bool,
    /// Livelocks counted (repeats not).
    pub livelocks: u64,
    /// Oops, BUG and warning reports (their first lines).
    pub oopses: u64,
    /// Whether the kernel panicked.
    pub panicked: bool,
    /// Diagnoses that were not a livelock.
    pub not_livelock: u64,
    /// Control samples judged a livelock (must be 0).
    pub control_false: u64,
    /// Control samples taken.
    pub control_samples: u64,
}

impl Tally {
    /// Livelocks per 1,000 flips and its exact 95% interval.
    pub fn per_1000(&self) -> Option<(f64, f64, f64)> {
        let n = self.flips;
        if n == 0 {
            return None;
        }
        let k = self.livelocks;
        Some((
            1000.0 * k as f64 / n as f64,
            1000.0 * stats::lower_bound(k, n, stats::CONFIDENCE)?,
            1000.0 * stats::upper_bound(k, n, stats::CONFIDENCE)?,
        ))
    }

    /// The one summary line.
    pub fn summary_line(&self, qemu: &str, smp: u32, key: &str, wall: Duration) -> String {
        let rate = match self.per_1000() {
            Some((r, lo, hi)) => format!("{r:.2} per 1,000 flips (95%: {lo:.2} to {hi:.2})"),
            None => "no flips to count against".into(),
        };
        format!(
            "linux: {qemu}, -smp {smp}, {key}: {} flips{} in {:.0} s; {} livelock(s), {rate}; \
             {} oops(es){}",
            self.flips,
            if self.ended { "" } else { " (no end line)" },
            wall.as_secs_f64(),
            self.livelocks,
            self.oopses,
            if self.panicked { ", then a panic" } else { "" }
        )
    }
}

/// The status of a run, a measurement: 0 when the guest reached its end
/// line, or stopped after a panic its console showed (Linux's answer,
/// counted); 1 when QEMU exited with neither (unexplained) or a control
/// sample was judged a livelock; 3 at the deadline (a hang not diagnosed
/// or not released); 130 when interrupted.
pub fn status_of(t: &Tally, stop: Stop) -> Status {
    match stop {
        Stop::Interrupted => Status::Interrupted,
        Stop::Deadline => Status::Timeout,
        _ if t.control_false > 0 => Status::Unmet,
        _ if t.ended || t.panicked => Status::Pass,
        _ => Status::Unmet,
    }
}

/// Why following stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stop {
    /// The end line came (and QEMU exited or was killed after the grace).
    End,
    /// QEMU exited without the end line.
    Exited,
    /// The deadline fired.
    Deadline,
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// A control sample judged a livelock, until the guest shows which it was.
#[derive(Debug, Clone)]
struct Suspect {
    /// The flip it was taken at.
    flip: u64,
    /// Releases made before it.
    releases: usize,
    /// Its site.
    site: String,
    /// From when a flip line shows the guest ran on past it: lines read
    /// earlier may have been printed before the sample (they wait in the
    /// channel while the VM is sampled), and a real livelock is diagnosed
    /// by the silence that follows it before then.
    settles_at: Instant,
}

/// Settles a control sample that was judged a livelock once the guest
/// shows which it was: a release since means the silence that followed was
/// diagnosed as that livelock (it began as the sample was taken, and is
/// counted there); a flip line read after `settles_at` with no release
/// means the running guest was judged a livelock: the detector's false
/// positive.
fn judge_control(suspect: &mut Option<Suspect>, releases: usize, now: Instant, tally: &mut Tally) {
    let Some(s) = suspect.as_ref() else {
        return;
    };
    if releases > s.releases {
        println!(
            "linux: control: the sample at flip {} caught a livelock as it began ({}; released \
             after the silence that followed)",
            s.flip, s.site
        );
    } else if now >= s.settles_at {
        tally.control_false += 1;
        println!(
            "linux: control: the sample at flip {} was judged a livelock at {}, and the guest ran \
             on: a false livelock",
            s.flip, s.site
        );
    } else {
        return;
    }
    *suspect = None;
}

/// Beyond the silence that would diagnose it, how long a control sample's
/// livelock has to show itself before a flip line proves it false.
const SETTLE_MARGIN: Duration = Duration::from_secs(2);

/// Stops the VM `ROUNDS` times and judges.
fn diagnose(sock: &Path, map: &SymbolMap, log: &mut File) -> Result<(Vec<Round>, Verdict)> {
    let entry = map
        .address(livelock::INT3_ENTRY)
        .context("the guest's symbols have no asm_exc_int3")?;
    let mut rounds: Vec<Round> = Vec::new();
    for i in 0..ROUNDS {
        if i > 0 {
            std::thread::sleep(ROUND_GAP);
        }
        let mut c = rsp::Client::connect(sock, Duration::from_secs(2))?;
        let reason = c.stop_reason()?;
        let mut round = Round::default();
        for t in c.threads()? {
            let regs = c.regs(&t)?;
            let frame_ip = if regs.rip == entry {
                let b = c.read(regs.rsp, 8)?;
                Some(u64::from_le_bytes(b.try_into().unwrap_or_default()))
            } else {
                None
            };
            round.vcpus.push(VcpuSample {
                thread: t,
                regs,
                frame_ip,
            });
        }
        let mut sites: std::collections::BTreeSet<u64> =
            rounds.iter().flat_map(|r| r.sites(entry)).collect();
        sites.extend(round.sites(entry));
        for s in sites {
            // A bad address reads as an error: leave it out, the judgement
            // then refuses to call it a livelock.
            if let Ok(b) = c.read(s, 8) {
                round.memory.insert(s, b);
            }
        }
        let packets = c.detach()?;
        writeln!(
            log,
            "{}",
            serde_json::json!({ "round": i + 1, "stop": reason, "sample": &round, "packets": packets })
        )
        .context("writing gdb-samples.jsonl")?;
        rounds.push(round);
    }
    let verdict = livelock::judge(&rounds, map);
    Ok((rounds, verdict))
}

/// Writes each site's own first byte back: QEMU drops its translations of
/// the page, and the guest runs what memory holds.
fn release(sock: &Path, l: &Livelock, log: &mut File) -> Result<()> {
    let mut c = rsp::Client::connect(sock, Duration::from_secs(2))?;
    c.stop_reason()?;
    for s in &l.sites {
        let now = c.read(s.addr, 1)?;
        if now[0] == livelock::INT3 {
            bail!("{} holds cc now: not writing it back", s.symbol);
        }
        c.write(s.addr, &now)?;
    }
    let packets = c.detach()?;
    writeln!(
        log,
        "{}",
        serde_json::json!({ "release": &l.sites, "packets": packets })
    )
    .context("writing gdb-samples.jsonl")?;
    Ok(())
}

/// The whole command.
pub fn run(req: &LinuxRequest) -> Result<Status> {
    check_key(&req.key)?;
    let ws = Workspace::locate()?;
    let guest = locate_guest(&ws.root.join(GUEST_DIR))?;
    let qemu: QemuInfo = qemu_info::resolve(&req.qemu, Some(&ws.root))?;
    let base = req.out.clone().unwrap_or_else(|| ws.runs_dir());
    let label = format!(
        "linux-{}-smp{}-qemu{}",
        req.key.replace('/', "_"),
        req.smp,
        qemu.version
    );
    let dir = evidence::create_run_dir(&base, &label, SystemTime::now())?;
    // A Unix socket's path must be short (108 bytes): not under --out.
    let sock = std::env::temp_dir().join(format!("harness-linux-{}.gdb", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let symbols_path = dir.join(SYMBOLS_FILE);
    let args = qemu_args(req, &guest, &sock, &symbols_path);
    // The guest's symbols, once its init has written them.
    let mut map: Option<SymbolMap> = None;
    let shown = std::iter::once(qemu.path.display().to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>();
    evidence::write(
        &dir,
        "qemu-command.txt",
        &(shell_words::join(&shown) + "\n"),
    )?;
    println!(
        "linux: {} under {}, -smp {}, {} flips of {}; evidence {}",
        guest.version,
        qemu.label(),
        req.smp,
        req.flips,
        req.key,
        dir.display()
    );

    let mut console_log = evidence::create(&dir, "console.log")?;
    let mut stderr_log = evidence::create(&dir, "qemu-stderr.log")?;
    let mut gdb_log = evidence::create(&dir, "gdb-samples.jsonl")?;
    let mut releases_log = evidence::create(&dir, "releases.jsonl")?;

    let mut cmd = Command::new(&qemu.path);
    cmd.args(&args);
    let mut child = ChildGuard::spawn(cmd)?;
    let (tx, rx) = live::channel();
    live::pump_serial(child.take_stdout().context("QEMU's stdout")?, tx.clone());
    live::pump_stderr(child.take_stderr().context("QEMU's stderr")?, tx);

    let start = Instant::now();
    let deadline = start + req.timeout;
    let mut tally = Tally::default();
    let mut releases: Vec<Release> = Vec::new();
    let mut last_output = Instant::now();
    let mut progressed_since_release = true;
    let mut end_at: Option<Instant> = None;
    let mut line = Vec::<u8>::new();
    let mut serial_open = true;
    let mut last_reason = String::new();
    // The flip after which a silence was last reported: one line a silence.
    let mut reported_at = None;
    let mut next_control = if req.control { Some(1) } else { None };
    // A control sample judged a livelock: its flip, the releases before it
    // and its site, until the guest shows which it was.
    let mut control_suspect: Option<Suspect> = None;
    let stop = loop {
        if live::interrupted() {
            break Stop::Interrupted;
        }
        let now = Instant::now();
        if let Some(t) = end_at {
            if !serial_open || child.try_wait().is_some() || now >= t + END_GRACE {
                break Stop::End;
            }
        } else if !serial_open {
            break Stop::Exited;
        }
        if now >= deadline {
            break Stop::Deadline;
        }
        let mut lines = Vec::new();
        match rx.recv_timeout((deadline - now).min(live::TICK)) {
            Ok(Event::Serial(bytes)) => {
                console_log
                    .write_all(&bytes)
                    .context("writing console.log")?;
                last_output = Instant::now();
                for &b in &bytes {
                    if b == b'\n' {
                        lines.push(String::from_utf8_lossy(&line).into_owned());
                        line.clear();
                    } else {
                        line.push(b);
                    }
                }
            }
            Ok(Event::SerialClosed(_)) => serial_open = false,
            Ok(Event::Stderr(s)) => stderr_log
                .write_all(s.as_bytes())
                .context("writing qemu-stderr.log")?,
            Ok(Event::StderrClosed) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => serial_open = false,
        }
        for l in &lines {
            if req.verbose {
                println!("{}", l.trim_end_matches('\r'));
            }
            match console::parse_line(l) {
                ConsoleLine::Flip(n) => {
                    tally.flips = tally.flips.max(n);
                    progressed_since_release = true;
                    judge_control(
                        &mut control_suspect,
                        releases.len(),
                        Instant::now(),
                        &mut tally,
                    );
                    if next_control.is_some_and(|c| n >= c) {
                        next_control = Some(n + CONTROL_EVERY);
                        let Some(m) = &map else {
                            bail!("the guest flipped before it wrote its symbols");
                        };
                        // The guest runs on between the sample's stops: it
                        // may finish and power off meanwhile (its last
                        // lines wait in the channel). A sample cut short by
                        // QEMU's exit is no sample; the lines still to
                        // read say how the guest ended.
                        let v = match diagnose(&sock, m, &mut gdb_log) {
                            Ok((_, v)) => v,
                            Err(_) if child.wait_for(Duration::from_secs(1)).is_some() => {
                                next_control = None;
                                continue;
                            }
                            Err(e) => return Err(e),
                        };
                        tally.control_samples += 1;
                        if let Verdict::Livelock(l) = v {
                            // A livelock may also begin just as the sample
                            // is taken: judged by what the guest does next.
                            control_suspect = Some(Suspect {
                                flip: n,
                                releases: releases.len(),
                                site: l.sites.first().map_or("?".into(), |s| s.symbol.clone()),
                                settles_at: Instant::now() + req.silence + SETTLE_MARGIN,
                            });
                        }
                        last_output = Instant::now();
                    }
                }
                ConsoleLine::End(n) => {
                    judge_control(
                        &mut control_suspect,
                        releases.len(),
                        Instant::now(),
                        &mut tally,
                    );
                    tally.flips = tally.flips.max(n);
                    tally.ended = true;
                    end_at.get_or_insert_with(Instant::now);
                }
                ConsoleLine::Error(e) => {
                    println!("linux: the guest's init says: {e}");
                }
                ConsoleLine::Oops(o) => {
                    tally.oopses += 1;
                    println!("linux: after flip {}: {o}", tally.flips);
                }
                ConsoleLine::Panic(p) => {
                    tally.panicked = true;
                    println!("linux: after flip {}: {p}", tally.flips);
                }
                ConsoleLine::Start { cpus, .. } if u64::from(req.smp) != cpus => {
                    println!("linux: the guest sees {cpus} CPUs, not {}", req.smp);
                }
                ConsoleLine::Symbols(n) => {
                    map = Some(read_symbols(&symbols_path, n, SYMBOLS_WAIT)?)
                }
                ConsoleLine::Start { .. } | ConsoleLine::Other => {}
            }
        }
        if let (None, true, true, Some(m)) = (
            end_at,
            serial_open,
            last_output.elapsed() >= req.silence,
            &map,
        ) {
            let silent = last_output.elapsed();
            match diagnose(&sock, m, &mut gdb_log) {
                Ok((_, Verdict::Livelock(l))) => {
                    let repeat = !progressed_since_release;
                    let first = &l.sites[0];
                    let caught = l.vcpus.iter().filter(|v| v.caught).count();
                    println!(
                        "linux: livelock after flip {}{}: {} ({:#x}) holds {} in memory; {} vCPU(s) \
                         caught, {} waiting (their places: releases.jsonl)",
                        tally.flips,
                        if repeat { " (again, no progress since the last release)" } else { "" },
                        first.symbol,
                        first.addr,
                        first.bytes,
                        caught,
                        l.vcpus.len() - caught
                    );
                    if !repeat {
                        tally.livelocks += 1;
                    }
                    let mut released = false;
                    if req.release {
                        match release(&sock, &l, &mut gdb_log) {
                            Ok(()) => {
                                released = true;
                                println!(
                                    "linux: released: wrote {:02x} back at {}",
                                    first.first, first.symbol
                                );
                            }
                            Err(e) => println!("linux: release failed: {e:#}"),
                        }
                    }
                    let r = Release {
                        flip: tally.flips,
                        at_s: start.elapsed().as_secs_f64(),
                        livelock: l,
                        released,
                        repeat,
                    };
                    writeln!(releases_log, "{}", serde_json::to_string(&r)?)
                        .context("writing releases.jsonl")?;
                    releases.push(r);
                    progressed_since_release = false;
                }
                Ok((_, Verdict::NotLivelock { reason })) => {
                    tally.not_livelock += 1;
                    if reported_at != Some(tally.flips) {
                        reported_at = Some(tally.flips);
                        println!(
                            "linux: console silent {:.0} s after flip {}, not the livelock: {reason}",
                            silent.as_secs_f64(),
                            tally.flips
                        );
                    }
                    last_reason = reason;
                }
                Err(e) => {
                    tally.not_livelock += 1;
                    let reason = format!("sampling through the gdbstub failed: {e:#}");
                    if reported_at != Some(tally.flips) {
                        reported_at = Some(tally.flips);
                        println!("linux: {reason}");
                    }
                    last_reason = reason;
                }
            }
            last_output = Instant::now();
        }
    };
    let wall = start.elapsed();
    if let Some(s) = &control_suspect {
        println!(
            "linux: control: the sample at flip {} was judged a livelock at {}; the run ended \
             before the guest showed whether it was one (not counted either way)",
            s.flip, s.site
        );
    }
    // How QEMU ended, when it ended by itself (before it is killed).
    let qemu_exit = child.wait_for(Duration::ZERO).map(|s| s.to_string());
    child.kill();
    // What is left of the console.
    while let Ok(ev) = rx.recv_timeout(live::DRAIN) {
        if let Event::Serial(bytes) = ev {
            console_log.write_all(&bytes).ok();
        }
    }
    let status = status_of(&tally, stop);
    let line = tally.summary_line(&qemu.label(), req.smp, &req.key, wall);
    println!("{line}");
    match stop {
        Stop::Deadline => println!(
            "linux: the deadline ({} s) fired before the end line{}",
            req.timeout.as_secs(),
            if last_reason.is_empty() {
                String::new()
            } else {
                format!("; the last hang was not diagnosed: {last_reason}")
            }
        ),
        Stop::Exited if tally.panicked => {
            println!("linux: the guest panicked before its end line (see console.log)")
        }
        Stop::Exited => println!(
            "linux: QEMU exited ({}) without the guest's end line (see console.log)",
            qemu_exit.as_deref().unwrap_or("status unknown")
        ),
        _ => {}
    }
    let (rate, lo, hi) = tally
        .per_1000()
        .map_or((None, None, None), |(r, l, h)| (Some(r), Some(l), Some(h)));
    let summary = serde_json::json!({
        "command": "linux",
        "request": req,
        "guest": guest.version,
        "qemu": &qemu,
        "stop": stop,
        "qemu_exit": qemu_exit,
        "status": status.code(),
        "wall_s": wall.as_secs_f64(),
        "tally": &tally,
        "livelocks_per_1000": rate,
        "per_1000_lower_95": lo,
        "per_1000_upper_95": hi,
        "releases": releases.len(),
        "summary": line,
    });
    evidence::write(
        &dir,
        "summary.json",
        &(serde_json::to_string_pretty(&summary)? + "\n"),
    )?;
    let _ = std::fs::remove_file(&sock);
    Ok(status)
}

/// With `--control`: flips between two samples of the running guest.
pub const CONTROL_EVERY: u64 = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> LinuxRequest {
        LinuxRequest {
            qemu: "qemu-system-x86_64".into(),
            smp: 4,
            flips: 300,
            key: "sched_schedstats".into(),
            workers: None,
            timeout: Duration::from_secs(60),
            silence: Duration::from_secs(3),
            release: true,
            control: false,
            out: None,
            verbose: false,
        }
    }

    #[test]
    fn the_kernel_command_line_carries_nokaslr_the_console_and_the_inits_words() {
        let a = append(&LinuxRequest {
            workers: Some(2),
            ..req()
        });
        assert!(a.contains("console=ttyS0"));
        assert!(a.contains("nokaslr"));
        assert!(
            a.ends_with("lg.key=sched_schedstats lg.flips=300 lg.workers=2"),
            "{a}"
        );
    }

    #[test]
    fn keys_are_names_or_paths_under_proc_sys_only() {
        assert!(check_key("sched_schedstats").is_ok());
        assert!(check_key("/proc/sys/kernel/sched_schedstats").is_ok());
        assert!(check_key("vm/stat_refresh").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("/etc/passwd").is_err());
        assert!(check_key("../x").is_err());
        assert!(check_key("a b").is_err());
    }

    #[test]
    fn the_rate_per_1000_flips_has_exact_bounds() {
        let t = Tally {
            flips: 4000,
            livelocks: 7,
            ended: true,
            ..Tally::default()
        };
        let (r, lo, hi) = t.per_1000().unwrap();
        assert!((r - 1.75).abs() < 1e-9);
        assert!(lo > 0.6 && lo < 0.8, "{lo}");
        assert!(hi > 3.5 && hi < 3.7, "{hi}");
        let none = Tally {
            flips: 1000,
            ..Tally::default()
        };
        let (_, lo, hi) = none.per_1000().unwrap();
        assert_eq!(lo, 0.0);
        assert!(hi > 2.9 && hi < 3.1, "{hi}");
        assert_eq!(Tally::default().per_1000(), None);
    }

    #[test]
    fn reaching_the_end_line_passes_whatever_was_counted() {
        let t = Tally {
            flips: 300,
            ended: true,
            livelocks: 2,
            oopses: 1,
            ..Tally::default()
        };
        assert_eq!(status_of(&t, Stop::End), Status::Pass);
        assert_eq!(status_of(&t, Stop::Deadline), Status::Timeout);
        assert_eq!(status_of(&t, Stop::Interrupted), Status::Interrupted);
        let exited = Tally {
            ended: false,
            ..t.clone()
        };
        assert_eq!(status_of(&exited, Stop::Exited), Status::Unmet);
        let panicked = Tally {
            ended: false,
            panicked: true,
            ..t.clone()
        };
        assert_eq!(status_of(&panicked, Stop::Exited), Status::Pass);
        let control = Tally {
            control_false: 1,
            ..t
        };
        assert_eq!(status_of(&control, Stop::End), Status::Unmet);
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("harness-linux-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(SYMBOLS_FILE)
    }

    #[test]
    fn the_guests_symbols_are_read_once_all_have_come_and_name_the_int3_entry() {
        let p = scratch("syms");
        let text = "ffffffff81000000 T _stext\r\nffffffff81c00ba0 T asm_exc_int3\r\n";
        std::fs::write(&p, text).unwrap();
        let m = read_symbols(&p, 2, Duration::ZERO).unwrap();
        assert_eq!(m.address(livelock::INT3_ENTRY), Some(0xffff_ffff_81c0_0ba0));
        // Fewer lines than the guest said: refused after the wait, by count.
        let e = read_symbols(&p, 3, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 of the 3 symbols"), "{e}");
    }

    #[test]
    fn symbols_without_the_int3_entry_or_with_hidden_addresses_are_refused() {
        let p = scratch("bad");
        std::fs::write(&p, "ffffffff81000000 T _stext\n").unwrap();
        let e = format!("{:#}", read_symbols(&p, 1, Duration::ZERO).unwrap_err());
        assert!(e.contains("no asm_exc_int3"), "{e}");
        std::fs::write(
            &p,
            "0000000000000000 T _stext\n0000000000000000 T asm_exc_int3\n",
        )
        .unwrap();
        let e = format!("{:#}", read_symbols(&p, 2, Duration::ZERO).unwrap_err());
        assert!(e.contains("hid its kernel addresses"), "{e}");
    }

    #[test]
    fn a_control_sample_judged_a_livelock_is_false_only_when_the_guest_runs_on_unreleased() {
        let t0 = Instant::now();
        let suspect = || {
            Some(Suspect {
                flip: 500,
                releases: 2,
                site: "dequeue_entity+0x5c".into(),
                settles_at: t0 + Duration::from_secs(5),
            })
        };
        // Lines read before it settles may predate the sample: no verdict.
        let (mut s, mut t) = (suspect(), Tally::default());
        judge_control(&mut s, 2, t0 + Duration::from_secs(1), &mut t);
        assert!(s.is_some() && t.control_false == 0);
        // The guest ran on past it, no release: a false livelock.
        judge_control(&mut s, 2, t0 + Duration::from_secs(6), &mut t);
        assert!(s.is_none() && t.control_false == 1);
        // A release came first: the livelock was real, caught as it began.
        let (mut s, mut t) = (suspect(), Tally::default());
        judge_control(&mut s, 3, t0 + Duration::from_secs(1), &mut t);
        assert!(s.is_none() && t.control_false == 0);
    }

    #[test]
    fn a_missing_guest_says_to_run_the_setup_script() {
        let e = locate_guest(Path::new("/nonexistent/linux-guest")).unwrap_err();
        assert!(e.to_string().contains(SETUP), "{e}");
    }

    #[test]
    fn the_qemu_command_has_tcg_multi_threaded_a_gdbstub_no_reboot_and_the_symbols_port() {
        let g = Guest {
            kernel: "/g/vmlinuz".into(),
            initrd: "/g/initramfs.cpio".into(),
            version: String::new(),
        };
        let a = qemu_args(
            &req(),
            &g,
            Path::new("/r/gdb.sock"),
            Path::new("/r/kallsyms.txt"),
        )
        .join(" ");
        assert!(
            a.contains("-serial mon:stdio -serial file:/r/kallsyms.txt"),
            "the console first, the symbols second: {a}"
        );
        assert!(a.contains("-accel tcg,thread=multi"));
        assert!(a.contains("-gdb unix:/r/gdb.sock,server,nowait"));
        assert!(a.contains("-no-reboot"));
        assert!(a.contains("-smp 4"));
    }
}
