//! A run as asked for, and what every run of one invocation shares.
//!
//! [`RunRequest`] is one run as the command line, a matrix row or a
//! recorded run asks for it, with its kinds ([`BootKind`], [`ExpectKind`],
//! [`Emulator`]), the limits every way of asking is held to, and the
//! deadlines and experiment durations a run gets unless told. [`Setup`] is
//! what every run of one harness invocation shares (the workspace, QEMU,
//! the kernel and what is learned about it once).

use crate::{
    boot::accel::{self, AccelChoice, AccelRequest},
    judge::controls,
    judge::symbols::Symbols,
    judge::Expectation,
    machine::qemu,
    machine::qemu_info::{self, QemuInfo},
    machine::workspace::Workspace,
};
use anyhow::{bail, Context as _, Result};
use serde::{Deserialize, Serialize};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard},
};

/// The most CPUs a run asks for: QEMU's `pc` machine, the one the harness
/// boots, takes 255 (QEMU refuses more, after the harness has started it;
/// so the harness refuses first, status 2). Bochs takes fewer
/// ([`crate::boot::bochs::check`]).
pub const MAX_SMP: u32 = 255;

/// `run`'s deadline for a kernel boot unless `--timeout` says otherwise
/// (an ISO boot's is [`iso_deadline`]).
pub const DEFAULT_TIMEOUT: f64 = 60.0;

/// The deadline of an ISO boot on `smp` CPUs unless `--timeout` says
/// otherwise: the menu's countdown, then the default entry's experiments
/// ([`ISO_MS`] each) as [`boot_deadline`] allows for them,
/// firmware and GRUB included in its 30 s.
pub fn iso_deadline(smp: u32) -> f64 {
    let shared = plan::experiment::DEFAULT_SUITE
        .iter()
        .filter(|e| !e.own_boot)
        .count();
    MENU_TIMEOUT_S as f64 + boot_deadline(shared, ISO_MS, smp)
}

/// The deadline of a run that must hang (control `hang`) unless told.
pub const DEFAULT_HANG_TIMEOUT: f64 = 10.0;

/// The longest deadline accepted.
pub const MAX_TIMEOUT: f64 = 24.0 * 3600.0;

/// The longest an experiment may be asked to run (`--ms`): the kernel's
/// own bound ([`report::cmdline::MS_RANGE`]).
pub const MAX_EXP_MS: u64 = report::cmdline::MS_RANGE.1 as u64;

/// Checks `ms`, milliseconds per experiment, against what the kernel takes
/// (`--ms`, a matrix row's `ms`, a request): the one range check.
pub fn check_ms(ms: u64) -> Result<u64, String> {
    let (lo, hi) = report::cmdline::MS_RANGE;
    if (lo as u64..=hi as u64).contains(&ms) {
        Ok(ms)
    } else {
        Err(format!(
            "ms {ms} is out of range: wanted {lo} to {hi} ms per experiment"
        ))
    }
}

/// How the kernel is booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BootKind {
    /// The kernel ELF by PVH (`-kernel`), with a command line.
    Kernel,
    /// `out/static-call.iso` through SeaBIOS and GRUB (multiboot2).
    IsoBios,
    /// `out/static-call.iso` through OVMF (UEFI) and GRUB (multiboot2).
    IsoUefi,
}

impl BootKind {
    /// `kernel`, `iso-bios`, `iso-uefi`.
    pub fn name(self) -> &'static str {
        match self {
            BootKind::Kernel => "kernel",
            BootKind::IsoBios => "iso-bios",
            BootKind::IsoUefi => "iso-uefi",
        }
    }
}

/// What a run is expected to do, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExpectKind {
    /// The kernel passes with every CPU up.
    Pass,
    /// The kernel faults as its negative control says (needs a control).
    Fault,
    /// The run hangs until the deadline.
    Timeout,
    /// Every experiment the row selects FAILs: a sabotaged protocol
    /// (`break=` in `append`) that the detectors must see. Matrix rows with
    /// `experiment` only.
    Fail,
    /// The clock cross-check fails (and nothing else does): the negative
    /// control of the TSC's calibration, with `tsc=skew` among the kernel
    /// command line words.
    ClockFail,
}

/// The expectation that `expect` and `control` give together.
pub fn expectation(expect: Option<ExpectKind>, control: Option<&str>) -> Result<Expectation> {
    let Some(name) = control else {
        return match expect.unwrap_or(ExpectKind::Pass) {
            ExpectKind::Pass => Ok(Expectation::MustPass),
            ExpectKind::Timeout => Ok(Expectation::ExpectDeadlock { control: None }),
            ExpectKind::Fault => {
                bail!("expecting a fault needs a negative control to say which (--control NAME)")
            }
            ExpectKind::Fail => {
                bail!("`expect = fail` is for matrix rows with `experiment =` (a sabotage row)")
            }
            ExpectKind::ClockFail => Ok(Expectation::ClockFail),
        };
    };
    let exp = Expectation::for_control(name).with_context(|| {
        format!(
            "unknown control `{name}`: the kernel knows {} (docs/cmdline.md)",
            controls::names()
        )
    })?;
    let implied = match exp {
        Expectation::NegativeControl(_) => ExpectKind::Fault,
        _ => ExpectKind::Timeout,
    };
    if let Some(e) = expect.filter(|&e| e != implied) {
        bail!(
            "control `{name}` makes the kernel {}, so expecting `{}` contradicts it",
            if implied == ExpectKind::Fault {
                "fault"
            } else {
                "hang"
            },
            format!("{e:?}").to_lowercase()
        );
    }
    Ok(exp)
}

/// Milliseconds per experiment unless told: the kernel's default
/// ([`report::cmdline::DEFAULT_MS`]), written on the command line all the
/// same.
pub const DEFAULT_MS: u64 = report::cmdline::DEFAULT_MS;

/// CPUs of a `harness run` (and `make run`) unless `--smp` says: 4 on
/// QEMU; 2 on Bochs, which runs each CPU in turn and several times slower.
pub const fn default_smp(emulator: Emulator) -> u32 {
    match emulator {
        Emulator::Qemu => 4,
        Emulator::Bochs { .. } => 2,
    }
}

/// Milliseconds per experiment of a `harness run` (and `make run`) unless
/// `--ms` says: the kernel's default on QEMU ([`DEFAULT_MS`]); 60 on Bochs,
/// where the suite at 2 CPUs then takes a few minutes.
pub const fn default_ms(emulator: Emulator) -> u64 {
    match emulator {
        Emulator::Qemu => DEFAULT_MS,
        Emulator::Bochs { .. } => 60,
    }
}

/// The deadline of a boot that runs `n` experiments of `ms` each on `smp`
/// CPUs, unless `--timeout` says otherwise: generous (under TCG on 2 host
/// cores an experiment at `-smp 8` takes about `ms + 0.45 s`), because the
/// watchdog, not the deadline, is what catches a deadlocked experiment.
pub fn boot_deadline(n: usize, ms: u64, smp: u32) -> f64 {
    let per = 2.0 * (ms as f64 / 1000.0 + 0.25 * f64::from(smp));
    (30.0 + n as f64 * per).min(MAX_TIMEOUT)
}

/// The host's cores (as the scheduler lets this process use them).
pub fn host_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Executors an experiment under TCG gets per host core unless told
/// (`--executors N`, or `executors=N` among the words). Every TCG vCPU is
/// a host thread: past a few per core, a sync round waits for hundreds of
/// busy loops to be scheduled, and the timers of as many executors alone
/// fill the host (at 255 CPUs one update never ended in 40 minutes). A few
/// per core still oversubscribe the host, so its scheduler still preempts
/// executors between any two instructions. Every other AP waits in `hlt`
/// and answers every sync round. KVM and a real machine keep every AP an
/// executor unless told.
pub const EXECUTORS_PER_HOST_CORE: u32 = 4;

/// The `executors=` a kernel boot of `words` on `smp` CPUs gets under
/// `accel` on a host of `host_cores`: None where the words say, where they
/// run no experiment, under KVM, or where every AP the kernel would make
/// an executor (all but the BSP and, from 3 CPUs, the watcher) fits the
/// bound ([`EXECUTORS_PER_HOST_CORE`]).
pub fn default_executors(
    accel: qemu::Accel,
    smp: u32,
    host_cores: usize,
    words: &str,
) -> Option<u32> {
    let has = |key: &str| words.split_whitespace().any(|w| w.starts_with(key));
    if accel != qemu::Accel::Tcg || has("executors=") || !has("exp=") {
        return None;
    }
    let bound = EXECUTORS_PER_HOST_CORE * (host_cores.max(1) as u32);
    (max_executors(smp) > bound).then_some(bound)
}

/// The most executors `smp` CPUs have: every AP, but from 3 CPUs on the
/// last one watches.
pub fn max_executors(smp: u32) -> u32 {
    smp.saturating_sub(if smp >= 3 { 2 } else { 1 })
}

/// Checks an `executors=N` among `words` against `smp`: N executors need
/// that many APs to spare.
pub fn check_executors(words: &[String], smp: u32) -> Result<(), String> {
    let asked = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .filter_map(|w| w.strip_prefix("executors="))
        .filter_map(|n| n.parse::<u32>().ok())
        .next_back();
    match asked {
        Some(n) if n > max_executors(smp) => Err(format!(
            "executors {n} with smp {smp}: at most {} (every AP but, from 3 CPUs on, the \
             watcher; the BSP patches)",
            max_executors(smp)
        )),
        _ => Ok(()),
    }
}

/// Milliseconds per experiment in every menu entry. On a real machine
/// this is thousands of patches and millions of calls per experiment;
/// under TCG (`-smp 4`, 2 host cores) the default suite boots to its end
/// record in about a minute (docs/real-machine.md). The kernel's default.
pub const ISO_MS: u64 = report::cmdline::DEFAULT_MS;

/// Seconds the menu waits before it boots the default entry (`set
/// timeout` in `scripts/grub.cfg`, `timeout:` in `limine.cfg`; a test
/// holds both to this).
pub const MENU_TIMEOUT_S: u64 = 5;

/// One run as asked for (by the command line or a matrix row). Every run
/// directory keeps it in its `summary.json` (`replay.request`,
/// [`crate::recipe::Recipe`]), so that `harness replay` can run it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// A name for the evidence directory and reports.
    pub name: String,
    /// `-smp`.
    pub smp: u32,
    /// The accelerator.
    pub accel: AccelRequest,
    /// `-cpu`.
    pub cpu: Option<String>,
    /// Deadline in seconds.
    pub timeout: Option<f64>,
    /// How to boot.
    pub boot: BootKind,
    /// A negative control.
    pub control: Option<String>,
    /// More kernel command line words.
    pub append: Vec<String>,
    /// What to expect (default: from the control, else pass).
    pub expect: Option<ExpectKind>,
    /// `exp=PATTERN`: the registry experiments to run.
    pub experiment: Option<String>,
    /// `ms=N`: milliseconds per experiment.
    pub ms: Option<u64>,
    /// The QEMU (a [`crate::machine::qemu_info::QemuSpec`]: a path, a program, or
    /// `10`), when not the one the whole invocation uses (`--qemu`).
    pub qemu: Option<String>,
    /// The emulator that boots it (QEMU unless told; `cpu` then names one
    /// of its models).
    #[serde(default)]
    pub emulator: Emulator,
}

/// The emulator a run boots on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emulator {
    /// QEMU, under TCG or KVM.
    #[default]
    Qemu,
    /// Bochs, booting the ISO made for the run through its BIOS
    /// ([`crate::boot::bochs`]).
    Bochs {
        /// Instructions per second of each CPU (also its TSC's and timers'
        /// frequency).
        ips: u64,
        /// Instructions a CPU runs before Bochs switches to the next.
        quantum: u32,
    },
}

/// What every run of one harness invocation shares.
pub struct Setup {
    /// The workspace.
    pub workspace: Workspace,
    /// The QEMU of every run that names none (`--qemu`).
    pub qemu: Arc<QemuInfo>,
    /// The kernel ELF.
    pub elf: PathBuf,
    /// The ISO.
    pub iso: PathBuf,
    /// Where run directories go.
    pub out: PathBuf,
    /// Echo the serial line live.
    pub echo: bool,
    /// Keep the KVM probe's progress off standard error (`run --quiet`).
    pub quiet: bool,
    /// Other QEMUs that runs named (matrix rows with `qemu =`), by spec.
    others: Mutex<HashMap<String, Arc<QemuInfo>>>,
    symbols: Mutex<Option<std::result::Result<Symbols, String>>>,
    auto_choice: Mutex<HashMap<PathBuf, AccelChoice>>,
    kvm_probe: Mutex<HashMap<PathBuf, accel::KvmProbe>>,
    kernel_id: Mutex<Option<crate::results::evidence::FileId>>,
}

impl Setup {
    /// Finds the workspace and QEMU, and asks QEMU what it is
    /// ([`qemu_info::resolve`]: a binary that is not QEMU, or one too old,
    /// is refused here). A kernel ELF or ISO given (`--kernel`, `--iso`)
    /// must be a file, and an `--out` given is created.
    pub fn new(
        qemu: &str,
        out: Option<PathBuf>,
        elf: Option<PathBuf>,
        iso: Option<PathBuf>,
        echo: bool,
    ) -> Result<Setup> {
        for (option, path) in [("--kernel", &elf), ("--iso", &iso)] {
            if let Some(p) = path.as_deref().filter(|p| !p.is_file()) {
                bail!("{option} {}: no such file", p.display());
            }
        }
        crate::results::evidence::check_out(out.as_deref())?;
        let workspace = Workspace::locate()?;
        let qemu = Arc::new(qemu_info::resolve(qemu, Some(&workspace.root))?);
        if !qemu.tested() {
            eprintln!(
                "harness: warning: {} is newer than any QEMU tested here ({}); its help \
                 formats are assumed unchanged",
                qemu.label(),
                qemu_info::TESTED.join(", ")
            );
        }
        Ok(Setup {
            elf: elf.unwrap_or_else(|| workspace.kernel_elf()),
            iso: iso.unwrap_or_else(|| workspace.iso()),
            out: out.unwrap_or_else(|| workspace.runs_dir()),
            workspace,
            qemu,
            echo,
            quiet: false,
            others: Mutex::new(HashMap::new()),
            symbols: Mutex::new(None),
            auto_choice: Mutex::new(HashMap::new()),
            kvm_probe: Mutex::new(HashMap::new()),
            kernel_id: Mutex::new(None),
        })
    }

    /// The QEMU a run names (`None`: the invocation's), asked once what it
    /// is.
    pub fn qemu_for(&self, spec: Option<&str>) -> Result<Arc<QemuInfo>> {
        let Some(spec) = spec.filter(|s| *s != self.qemu.spec) else {
            return Ok(self.qemu.clone());
        };
        if let Some(q) = locked(&self.others).get(spec) {
            return Ok(q.clone());
        }
        let q = Arc::new(qemu_info::resolve(spec, Some(&self.workspace.root))?);
        locked(&self.others).insert(spec.to_string(), q.clone());
        Ok(q)
    }

    /// The kernel ELF's path, size and SHA-256 (hashed once, at the first
    /// run: after any build).
    pub fn kernel_id(&self) -> crate::results::evidence::FileId {
        locked(&self.kernel_id)
            .get_or_insert_with(|| crate::results::evidence::file_id(&self.elf))
            .clone()
    }

    /// The kernel's symbols (read once).
    pub fn symbols(&self) -> std::result::Result<Symbols, String> {
        locked(&self.symbols)
            .get_or_insert_with(|| Symbols::from_elf(&self.elf).map_err(|e| format!("{e:#}")))
            .clone()
    }

    /// Whether experiments under KVM must run with `nobp`: `Some(why)` when
    /// this host's KVM ends the guest at its first `int3` but boots it
    /// without (the probe of [`accel::probe_kvm`], run once, evidence under
    /// `dir`); an error when KVM cannot boot the kernel even so.
    pub fn kvm_nobp(
        &self,
        qemu: &QemuInfo,
        choice: &AccelChoice,
        cpu: &str,
        dir: &Path,
    ) -> Result<Option<String>> {
        if choice.accel != qemu::Accel::Kvm {
            return Ok(None);
        }
        let cached = locked(&self.kvm_probe).get(&qemu.path).cloned();
        let probe = match (choice.probe.clone(), cached) {
            (Some(p), _) | (None, Some(p)) => p,
            (None, None) => {
                let p = accel::probe_kvm(&qemu.path, Some(&self.elf), cpu, dir, self.quiet)?;
                locked(&self.kvm_probe).insert(qemu.path.clone(), p.clone());
                p
            }
        };
        match (&probe.boot, probe.works_without_int3()) {
            (Some(accel::ProbeBoot::KvmInternalError { .. }), Some(true)) => Ok(Some(
                "the KVM probe boot ended in a KVM internal error at int3, and booted with `nobp`"
                    .into(),
            )),
            (Some(accel::ProbeBoot::KvmInternalError { .. }), _) => bail!(
                "{} (the probe with `nobp` failed too: KVM cannot run this kernel here)",
                qemu::KVM_INT3_MESSAGE
            ),
            _ => Ok(None),
        }
    }

    /// The accelerator for a request: explicit, or `auto` decided once per
    /// QEMU by a probe (evidence under `dir`).
    pub fn accel(
        &self,
        qemu: &QemuInfo,
        req: AccelRequest,
        cpu: &str,
        dir: &Path,
    ) -> Result<AccelChoice> {
        if let Some(c) = accel::explicit(req)? {
            return Ok(c);
        }
        if let Some(c) = locked(&self.auto_choice).get(&qemu.path) {
            return Ok(c.clone());
        }
        let have_elf = self.elf.is_file();
        let probe = accel::probe_kvm(
            &qemu.path,
            have_elf.then_some(&*self.elf),
            cpu,
            dir,
            self.quiet,
        )?;
        let c = accel::decide(probe, have_elf);
        locked(&self.auto_choice).insert(qemu.path.clone(), c.clone());
        Ok(c)
    }
}

// `harness matrix -j` runs rows on threads that share one `Setup`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Setup>();
};

/// The value behind `m`, also after a thread panicked holding it (the
/// caches it guards stay valid: each is written whole).
fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcg_bounds_the_executors_by_the_host_s_cores_only_where_there_are_more_aps() {
        let tcg = qemu::Accel::Tcg;
        assert_eq!(default_executors(tcg, 255, 2, "exp=int3/* ms=100"), Some(8));
        assert_eq!(default_executors(tcg, 11, 2, "exp=int3/*"), Some(8));
        assert_eq!(default_executors(tcg, 10, 2, "exp=int3/*"), None);
        assert_eq!(default_executors(tcg, 8, 2, "exp=int3/*"), None);
        assert_eq!(default_executors(tcg, 64, 16, "exp=int3/*"), None);
    }

    #[test]
    fn kvm_words_that_say_and_boots_without_experiments_keep_every_ap_an_executor() {
        let words = "exp=int3/* ms=100";
        assert_eq!(default_executors(qemu::Accel::Kvm, 255, 2, words), None);
        let told = "exp=int3/* executors=100";
        assert_eq!(default_executors(qemu::Accel::Tcg, 255, 2, told), None);
        assert_eq!(default_executors(qemu::Accel::Tcg, 255, 2, "nobp"), None);
    }

    #[test]
    fn executors_are_checked_against_the_aps_the_guest_spares() {
        let w = |s: &str| vec![s.to_string()];
        assert_eq!(max_executors(1), 0);
        assert_eq!(max_executors(2), 1);
        assert_eq!(max_executors(4), 2);
        assert!(check_executors(&w("executors=2"), 4).is_ok());
        assert!(check_executors(&w("exp=a/* executors=1"), 2).is_ok());
        let e = check_executors(&w("ms=5 executors=3"), 4).unwrap_err();
        assert!(e.starts_with("executors 3 with smp 4: at most 2"), "{e}");
        assert!(check_executors(&w("executors=1"), 1).is_err());
        assert!(check_executors(&w("ms=5"), 1).is_ok());
    }
}
