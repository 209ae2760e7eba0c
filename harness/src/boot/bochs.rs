//! One Bochs boot of the GRUB ISO, followed live: the second, independent
//! x86 implementation, booted the way a lab machine boots (its BIOS, the ISO
//! from a CD-ROM, no PVH).
//!
//! 1. The request is checked before anything runs: Bochs installed, the CPU
//!    model one Bochs knows (`bochs --help cpu`), `ips` at or above the
//!    kernel's clock floor (every TSC and timer of Bochs runs at `ips`, and
//!    the kernel refuses a TSC below [`report::clock::MIN_HZ`]).
//! 2. The ISO of the run is made with the run's kernel command line as its
//!    default entry (`scripts/mkiso.sh --cmdline`).
//! 3. The bochsrc is written into the evidence directory, COM1 into a FIFO
//!    the harness reads; the display is RFB with no wait for a client
//!    (Debian's Bochs has no `nogui`), and the debugger's first prompt is
//!    answered with `c` (`-rc`).
//!    The emulated clock starts at the same instant in every run (`time0`
//!    fixed, `sync=none`): GRUB's countdown and everything after it take
//!    the same instructions each time, which makes a run deterministic.
//!    Sound goes to Bochs' dummy driver: its ALSA driver aborts Bochs 2.7
//!    (`buffer overflow detected`) on a host without a sound card.
//! 4. The serial line is followed under the hard deadline and stops at the
//!    end record; the kernel then leaves through Bochs' shutdown port, and
//!    the guard kills Bochs whatever happens. Bochs' own output goes to
//!    `bochs-output.log`; when Bochs exits before the end record, the run
//!    ends at once as a failure of the environment that quotes it (the
//!    kernel leaves Bochs only after its end record).

use crate::{
    judge::Ending,
    machine::live::{self, ChildGuard},
    machine::transcript::{Line, Transcript},
    results::evidence,
};
use anyhow::{bail, Context as _, Result};
use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// The CPU model unless told: Nehalem, the lab machines' generation.
pub const DEFAULT_MODEL: &str = "corei5_lynnfield_750";
/// Instructions per second of each emulated CPU unless told: also the
/// frequency of its TSC and timers.
pub const DEFAULT_IPS: u64 = 110_000_000;
/// Instructions a CPU runs before Bochs switches to the next unless told.
pub const DEFAULT_QUANTUM: u32 = 16;
/// The most instructions Bochs 2.7 lets a CPU run before it switches to
/// the next (its `quantum` parameter's range).
pub const MAX_QUANTUM: u32 = 32;
/// How long Bochs may take to answer `--help cpu`.
const ASK_DEADLINE: Duration = Duration::from_secs(10);

/// What one Bochs boot is.
#[derive(Debug, Clone)]
pub struct Config {
    /// The CPU model (`bochs --help cpu`).
    pub model: String,
    /// CPUs.
    pub smp: u32,
    /// Instructions per second per CPU.
    pub ips: u64,
    /// Instructions between CPU switches.
    pub quantum: u32,
    /// The ISO to boot.
    pub iso: PathBuf,
}

impl Config {
    /// The bochsrc, with COM1 into `serial` and Bochs' log into `log`.
    pub fn bochsrc(&self, serial: &Path, log: &Path) -> String {
        format!(
            "# Written by `harness run --emulator bochs`.\n\
             megs: 512\n\
             romimage: file=/usr/share/bochs/BIOS-bochs-latest\n\
             vgaromimage: file=/usr/share/vgabios/vgabios.bin\n\
             cpu: model={}, count={}, ips={}, quantum={}\n\
             pci: enabled=1, chipset=i440fx\n\
             clock: sync=none, time0=946684800\n\
             ata0-master: type=cdrom, path={}, status=inserted\n\
             boot: cdrom\n\
             com1: enabled=1, mode=file, dev={}\n\
             display_library: rfb, options=\"timeout=0\"\n\
             sound: driver=dummy\n\
             log: {}\n\
             panic: action=fatal\n\
             error: action=report\n\
             info: action=ignore\n\
             debug: action=ignore\n",
            self.model,
            self.smp,
            self.ips,
            self.quantum,
            self.iso.display(),
            serial.display(),
            log.display()
        )
    }

    /// `bochs 2.7, corei5_lynnfield_750`: what every result line says.
    pub fn label(&self, version: &str) -> String {
        format!("bochs {version}, {}", self.model)
    }
}

/// Bochs' version (`2.7`), from its banner.
pub fn version() -> Result<String> {
    static KNOWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if let Some(v) = KNOWN.get() {
        return Ok(v.clone());
    }
    let v = version_asked()?;
    Ok(KNOWN.get_or_init(|| v).clone())
}

fn version_asked() -> Result<String> {
    let text = ask(&["--help"])?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Bochs x86 Emulator "))
        .map(|v| v.trim().to_string())
        .context("`bochs --help` printed no version banner")
}

/// The CPU models Bochs knows (`bochs --help cpu`).
pub fn models() -> Result<Vec<String>> {
    static KNOWN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    if let Some(m) = KNOWN.get() {
        return Ok(m.clone());
    }
    let m = parse_models(&ask(&["--help", "cpu"])?);
    if m.is_empty() {
        bail!("`bochs --help cpu` listed no CPU model");
    }
    Ok(KNOWN.get_or_init(|| m).clone())
}

/// The model names from `bochs --help cpu`: the lines after `Supported CPU
/// models:` that are one word each.
pub fn parse_models(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.contains("Supported CPU models"))
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .map(str::to_string)
        .collect()
}

fn ask(args: &[&str]) -> Result<String> {
    let mut cmd = Command::new("bochs");
    cmd.args(args);
    let (out, _) = crate::machine::command::output_within(cmd, ASK_DEADLINE).context(
        "asking Bochs (is it installed? apt-get install bochs bochsbios vgabios, or scripts/setup.sh --bochs)",
    )?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Checks a request against what Bochs and the kernel accept (step 1).
pub fn check(cfg: &Config, known: &[String]) -> Result<()> {
    if !known.contains(&cfg.model) {
        bail!(
            "unknown Bochs CPU model `{}`: one of {}",
            cfg.model,
            known.join(", ")
        );
    }
    if cfg.ips < report::clock::MIN_HZ {
        bail!(
            "--ips {} is below {}: Bochs runs every TSC and timer at `ips`, and the kernel refuses a clock below {} Hz",
            cfg.ips,
            report::clock::MIN_HZ,
            report::clock::MIN_HZ
        );
    }
    if !(1..=64).contains(&cfg.smp) {
        bail!("--smp {} for Bochs: give 1 to 64", cfg.smp);
    }
    if !(1..=MAX_QUANTUM).contains(&cfg.quantum) {
        bail!(
            "--quantum {}: Bochs takes 1 to {MAX_QUANTUM} instructions between CPU switches",
            cfg.quantum
        );
    }
    Ok(())
}

/// Makes the run's ISO, its default entry `cmdline` (step 2).
pub fn make_iso(root: &Path, kernel: &Path, out: &Path, cmdline: &str) -> Result<()> {
    let harness = std::env::current_exe().context("the harness's own path")?;
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts/mkiso.sh"))
        .arg("--kernel")
        .arg(kernel)
        .arg("--out")
        .arg(out)
        .arg("--cmdline")
        .arg(cmdline)
        .env("HARNESS", harness)
        .current_dir(root);
    let (o, shown) = crate::machine::command::output_within(cmd, Duration::from_secs(300))?;
    if !o.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        );
    }
    Ok(())
}

/// What one boot gave.
#[derive(Debug)]
pub struct Booted {
    /// What was read.
    pub transcript: Transcript,
    /// How it ended.
    pub ending: Ending,
    /// From spawn to the end of following.
    pub wall: Duration,
}

/// Reads COM1's FIFO, opening it on the first read (the open waits for
/// Bochs to open its end, so it happens in the reading thread).
struct Fifo {
    path: PathBuf,
    file: Option<File>,
}

impl Read for Fifo {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.file.is_none() {
            self.file = Some(File::open(&self.path)?);
        }
        self.file.as_mut().map_or(Ok(0), |f| f.read(buf))
    }
}

/// Boots `cfg` under a hard `deadline`, writing `bochsrc`, `serial.log`,
/// `bochs.log`, `bochs-output.log` and `records.jsonl` into `dir`, handing
/// every line to `watcher` (steps 3 and 4).
pub fn boot(
    cfg: &Config,
    deadline: Duration,
    dir: &Path,
    watcher: &mut dyn FnMut(&Line),
) -> Result<Booted> {
    boot_program(Path::new("bochs"), cfg, deadline, dir, watcher)
}

/// [`boot`] with the Bochs program named.
fn boot_program(
    program: &Path,
    cfg: &Config,
    deadline: Duration,
    dir: &Path,
    watcher: &mut dyn FnMut(&Line),
) -> Result<Booted> {
    let fifo = dir.join("com1.fifo");
    nix::unistd::mkfifo(
        &fifo,
        nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR,
    )
    .with_context(|| format!("making the FIFO {}", fifo.display()))?;
    let rc = dir.join("bochsrc");
    evidence::write(dir, "bochsrc", &cfg.bochsrc(&fifo, &dir.join("bochs.log")))?;
    evidence::write(dir, "bochs-debugger.rc", "c\n")?;
    let output = File::create(dir.join("bochs-output.log")).context("creating bochs-output.log")?;
    let mut cmd = Command::new(program);
    cmd.arg("-q")
        .arg("-f")
        .arg(&rc)
        .arg("-rc")
        .arg(dir.join("bochs-debugger.rc"))
        .current_dir(dir);
    evidence::write(
        dir,
        "bochs-command.txt",
        &format!(
            "bochs -q -f {} -rc {}\n",
            rc.display(),
            dir.join("bochs-debugger.rc").display()
        ),
    )?;
    let start = std::time::Instant::now();
    let mut guard = ChildGuard::spawn(cmd).context("starting Bochs")?;
    let (tx, rx) = live::channel();
    keep_output(&mut guard, output, fifo.clone());
    live::pump_serial(
        Fifo {
            path: fifo,
            file: None,
        },
        tx,
    );
    let followed =
        crate::boot::watch::follow_to_end(&rx, deadline, dir, watcher, &mut || guard.kill());
    // At the end record the kernel has asked Bochs to shut down; whatever
    // it does, it goes now, and so does the FIFO (a reader of the evidence
    // would block on it).
    guard.kill();
    let _ = std::fs::remove_file(dir.join("com1.fifo"));
    let followed = followed?;
    let ending = if followed.stop == live::Stop::StreamsEnded {
        Ending::Environment {
            why: format!(
                "Bochs exited ({}) before the kernel's end record: {}",
                guard
                    .try_wait()
                    .map_or("status unknown".into(), |s| s.to_string()),
                last_words(&dir.join("bochs-output.log"))
            ),
        }
    } else {
        crate::boot::watch::ending(&followed, deadline, "Bochs' COM1")
    };
    Ok(Booted {
        transcript: followed.transcript,
        ending,
        wall: start.elapsed(),
    })
}

/// Copies Bochs' stdout and stderr (piped by the guard) into `output`; when
/// both have ended, Bochs is gone, and a reader still waiting to open COM1's
/// FIFO is let go (an open for writing, closed at once), so that it reads
/// the end of the stream instead of waiting for the deadline.
fn keep_output(guard: &mut ChildGuard, output: File, fifo: PathBuf) {
    use std::sync::{Arc, Mutex};
    let output = Arc::new(Mutex::new(output));
    let copy = |r: Option<Box<dyn Read + Send>>, out: Arc<Mutex<File>>| {
        std::thread::spawn(move || {
            let Some(mut r) = r else { return };
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut f) = out.lock() {
                    let _ = std::io::Write::write_all(&mut *f, &buf[..n]);
                }
            }
        })
    };
    let a = copy(
        guard
            .take_stdout()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        output.clone(),
    );
    let b = copy(
        guard
            .take_stderr()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        output,
    );
    std::thread::spawn(move || {
        let _ = a.join();
        let _ = b.join();
        use std::os::unix::fs::OpenOptionsExt as _;
        // The open fails (ENXIO) while no reader has the FIFO open: the
        // reader may not have reached its open yet, or may be done.
        for _ in 0..100 {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
                .open(&fifo);
            if opened.is_ok() || !fifo.exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    });
}

/// The last lines Bochs printed that say something (not its `i` info lines
/// nor ALSA's complaints), joined; or where to look.
fn last_words(output: &Path) -> String {
    let text = std::fs::read_to_string(output).unwrap_or_default();
    let said: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("ALSA lib") && !is_info(l))
        .collect();
    match said.len() {
        0 => format!("it printed nothing more (see {})", output.display()),
        n => said[n.saturating_sub(3)..].join(" | "),
    }
}

/// Whether a line of Bochs' output is one of its info lines
/// (`00000000000i[PLUGIN] ...`).
fn is_info(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && line.as_bytes().get(digits) == Some(&b'i')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bochs_that_dies_before_the_end_record_ends_the_run_at_once_as_the_environment_s_failure() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("bochs-dies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join("bochs");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho 00000000000i[      ] reading configuration\necho '*** buffer overflow detected ***: terminated' >&2\nexit 134\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = Config {
            model: DEFAULT_MODEL.into(),
            smp: 2,
            ips: DEFAULT_IPS,
            quantum: DEFAULT_QUANTUM,
            iso: dir.join("none.iso"),
        };
        let start = std::time::Instant::now();
        let b = boot_program(&fake, &cfg, Duration::from_secs(60), &dir, &mut |_| {}).unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        match &b.ending {
            Ending::Environment { why } => assert!(
                why.starts_with("Bochs exited (exit status: 134) before the kernel's end record")
                    && why.ends_with("*** buffer overflow detected ***: terminated"),
                "{why}"
            ),
            e => panic!("{e:?}"),
        }
        assert!(!dir.join("com1.fifo").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_bochs_said_last_skips_its_info_lines_and_alsa() {
        let dir = std::env::temp_dir().join(format!("bochs-words-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("out.log");
        std::fs::write(
            &f,
            "00000000000i[PLUGIN] loaded plugin libbx_serial.so\nALSA lib pcm.c:2666: Unknown PCM default\n*** buffer overflow detected ***: terminated\n",
        )
        .unwrap();
        assert_eq!(
            last_words(&f),
            "*** buffer overflow detected ***: terminated"
        );
        std::fs::write(&f, "00000000000i[      ] reading configuration\n").unwrap();
        assert!(last_words(&f).starts_with("it printed nothing more"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_models_are_the_one_word_lines_after_the_heading() {
        let text = "00000000000i[      ] LTDL_LIBRARY_PATH not set\nSupported CPU models:\n\nbx_generic\ncorei5_lynnfield_750\n\n00000000000i[SIM   ] quit_sim called with exit code 0\n";
        assert_eq!(parse_models(text), ["bx_generic", "corei5_lynnfield_750"]);
    }

    #[test]
    fn a_request_below_the_clock_floor_or_with_an_unknown_model_is_refused() {
        let known = vec![DEFAULT_MODEL.to_string()];
        let ok = Config {
            model: DEFAULT_MODEL.into(),
            smp: 2,
            ips: DEFAULT_IPS,
            quantum: DEFAULT_QUANTUM,
            iso: "x.iso".into(),
        };
        assert!(check(&ok, &known).is_ok());
        let slow = Config {
            ips: 50_000_000,
            ..ok.clone()
        };
        let e = check(&slow, &known).unwrap_err().to_string();
        assert!(e.contains("--ips 50000000 is below 100000000"), "{e}");
        let odd = Config {
            model: "pentium9".into(),
            ..ok.clone()
        };
        let coarse = Config {
            quantum: 256,
            ..ok.clone()
        };
        let e = check(&coarse, &known).unwrap_err().to_string();
        assert!(e.contains("--quantum 256: Bochs takes 1 to 32"), "{e}");
        let e = check(&odd, &known).unwrap_err().to_string();
        assert!(
            e.contains("unknown Bochs CPU model `pentium9`: one of corei5_lynnfield_750"),
            "{e}"
        );
    }

    #[test]
    fn the_bochsrc_boots_the_iso_from_cdrom_with_com1_into_the_fifo() {
        let c = Config {
            model: DEFAULT_MODEL.into(),
            smp: 4,
            ips: DEFAULT_IPS,
            quantum: 8,
            iso: "/r/boot.iso".into(),
        };
        let rc = c.bochsrc(Path::new("/r/com1.fifo"), Path::new("/r/bochs.log"));
        for want in [
            "cpu: model=corei5_lynnfield_750, count=4, ips=110000000, quantum=8",
            "ata0-master: type=cdrom, path=/r/boot.iso, status=inserted",
            "boot: cdrom",
            "com1: enabled=1, mode=file, dev=/r/com1.fifo",
            "sound: driver=dummy",
        ] {
            assert!(rc.contains(want), "{want}\n{rc}");
        }
        assert_eq!(c.label("2.7"), "bochs 2.7, corei5_lynnfield_750");
    }
}
