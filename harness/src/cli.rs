//! The command line, as clap parses it. Only syntax and simple ranges are
//! checked here; [`crate::run::resolve`] checks the rest against the
//! environment.

use crate::{
    boot::accel::AccelRequest,
    boot::watch,
    judge::controls,
    machine::qemu_info::QemuVersion,
    request::{self, BootKind, ExpectKind},
    status,
};
use clap::{builder::PossibleValuesParser, ArgGroup, Args, Parser, Subcommand};
use std::path::PathBuf;

const ABOUT: &str = "Boot the static-call torture kernel under QEMU (or read a real \
machine's serial line or a saved log), follow its serial report live, and judge it.";

/// `harness --version`: the harness, the record protocol it reads and the
/// kernel it builds (one workspace version for both). The protocol digit
/// is [`report::PROTOCOL_VERSION`]; a test keeps the two equal.
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (kernel ",
    env!("CARGO_PKG_VERSION"),
    ", record protocol @SC",
    "1",
    ")"
);

/// The harness's command line.
#[derive(Debug, Parser)]
#[command(
    name = "harness",
    version,
    long_version = LONG_VERSION,
    about = ABOUT,
    after_help = status::HELP_TABLE
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Print less: no serial echo (the default of parse, bench, matrix).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more: echo the serial lines (the default of run and watch).
    #[arg(long, short, global = true)]
    pub verbose: bool,
}

/// `after_help` of a command: its examples, then the exit status table.
fn examples(text: &str) -> String {
    format!("Examples:\n{text}\n\n{}", status::HELP_TABLE)
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the kernel, boot it in QEMU, follow the serial line live under a
    /// hard deadline, judge, and keep the evidence under out/runs/.
    #[command(after_help = examples("  harness run --smp 4\n  harness run 'int3/*' --smp 2 --ms 100 --quiet\n  harness run --boot iso-uefi --tap"))]
    Run(RunArgs),
    /// Judge a saved serial log (from QEMU, CI, or a real machine's cable).
    #[command(after_help = examples("  harness parse out/runs/RUN/serial.log\n  harness parse --tap --smp 4 serial.log | tee parse.tap"))]
    Parse(ParseArgs),
    /// Follow a real machine's serial port live, stop at the end record or
    /// the deadline, keep the transcript, judge.
    #[command(after_help = examples("  harness watch /dev/ttyUSB0 --smp 8\n  harness watch /dev/ttyS0 --baud 115200 --timeout 900 --quiet"))]
    Watch(WatchArgs),
    /// Run a table of configurations (e.g. harness/platform.cfg), as many
    /// rows at once as fit in the host's cores (`-j` to say), with a line
    /// per row and `N passed, N failed` at the end.
    #[command(after_help = examples("  harness matrix harness/platform.cfg\n  harness matrix harness/torture.cfg --no-build --verbose\n  harness matrix harness/torture.cfg --group sabotage -j 2\n  harness matrix harness/platform.cfg --list --filter 'smp*'\n  harness matrix harness/platform.cfg --tap | tee matrix.tap"))]
    Matrix(MatrixArgs),
    /// List the registry's experiments (all, or those PATTERN selects) with
    /// their expectation and whether each needs a boot of its own.
    #[command(after_help = examples("  harness list\n  harness list 'int3/gap/*'"))]
    List(ListArgs),
    /// Print the ISO's boot menu, generated from the registry: the default
    /// suite, each own-boot experiment, the platform only, each sabotage
    /// (scripts/mkiso.sh and scripts/mkiso-limine.sh call it).
    #[command(
        name = "iso-menu",
        after_help = examples("  harness iso-menu > grub.cfg\n  harness iso-menu --loader limine --cmdline 'exp=int3/* ms=100'")
    )]
    IsoMenu(IsoMenuArgs),
    /// Measure: a fixed benchmark set per CPU count, as ratios against the
    /// baselines of the same boot; writes bench.json.
    #[command(after_help = examples("  harness bench --smp 2,4 --ms 300\n  harness bench --accel kvm --verbose"))]
    Bench(BenchArgs),
    /// Two runs' experiments side by side: verdicts, failures by kind,
    /// patches, calls, #BP hits and patch latency with the ratio B / A;
    /// what changed first.
    #[command(after_help = COMPARE_HELP)]
    Compare(CompareArgs),
    /// Run a recorded run again from its directory (its summary.json's
    /// `replay` record: the request, QEMU and kernel), with new evidence,
    /// and say whether each verdict (the run's status, every experiment's)
    /// is the one recorded.
    #[command(after_help = REPLAY_HELP)]
    Replay(ReplayArgs),
    /// Boot an emulator finding's reproducer (the smallest selection of the
    /// kernel that shows it, with this project's measure off) and print how
    /// often it showed, with its bound; without NAME, list them.
    #[command(after_help = examples("  harness repro\n  harness repro tcg-stale-block --repeat 5\n  harness repro tcg-notdirty --qemu 10 --smp 4"))]
    Repro(ReproArgs),
    /// Boot a real Linux guest (Debian bookworm's 6.1 kernel, a busybox
    /// initramfs: scripts/setup-linux-guest.sh) that flips a static key
    /// while busy workers run the code it patches; detect, name, count and
    /// release the stale-int3 livelock through QEMU's gdbstub; print the
    /// rate per 1,000 flips with its bounds. A measurement: exits 0 when
    /// the guest reached its end line, however many livelocks it met.
    #[command(after_help = examples("  harness linux --smp 2 --flips 300\n  harness linux --qemu 10 --smp 4 --flips 4000 --timeout 1800\n  harness linux --control --flips 300"))]
    Linux(LinuxArgs),
    /// Print a completion script for SHELL (bash, zsh, fish, elvish,
    /// powershell) on standard output.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
}

const COMPLETIONS_HELP: &str = "Example:
  harness completions bash > ~/.local/share/bash-completion/completions/harness
  harness completions zsh > ~/.zfunc/_harness";

/// `harness completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const REPLAY_HELP: &str = "Examples:
  harness replay out/runs/RUN
  harness replay out/runs/RUN --repeat 5 --out /tmp/replays

Exit status: 0 when every repeat gave every recorded verdict, 1 when any
differed, 2 on bad input (no such directory, no summary.json, a summary.json
written by an older harness without a `replay` record, a kernel whose SHA-256
is not the recorded one without --kernel) or a broken environment, as for run.";

/// `harness replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The run directory (out/runs/...) or its summary.json.
    pub dir: PathBuf,
    /// Run it this many times; each must give the recorded verdicts.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Where the new run directories go (default: out/runs in the workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Boot this kernel ELF instead of the recorded one (its SHA-256 may
    /// then differ from the recorded; the replay says so).
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// Use this QEMU instead of the recorded one.
    #[arg(long, value_name = "BIN|N")]
    pub qemu: Option<String>,
}

const COMPARE_HELP: &str = "Example:
  harness run --experiment 'int3*/*/*/*/?i*' --smp 2 --ms 60
  harness run --experiment 'int3*/*/*/*/?i*' --smp 2 --ms 60 --qemu build/qemu-10/qemu-system-x86_64
  harness compare out/runs/RUN_A out/runs/RUN_B

Exit status: 0 when both runs were read (whatever changed), 2 when one cannot be.";

/// `harness compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// Run A: a run directory (out/runs/...) or its summary.json.
    pub a: PathBuf,
    /// Run B, compared against A (ratios are B / A).
    pub b: PathBuf,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also list the experiments whose verdict did not change.
    #[arg(long)]
    pub all: bool,
}

/// A whole number in `1..=max`; `what` names it ("wanted {what} from 1 to
/// max"), `out` and `unit` say why the range is what it is ("{out} 1 to
/// {max}{unit}").
fn parse_count<T>(s: &str, max: T, what: &str, out: &str, unit: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
{
    let n: T = s
        .parse()
        .map_err(|_| format!("wanted {what} from 1 to {max}"))?;
    if n >= T::from(1) && n <= max {
        Ok(n)
    } else {
        Err(format!("{n} is out of range: {out} 1 to {max}{unit}"))
    }
}

fn parse_ms(s: &str) -> Result<u64, String> {
    parse_count(
        s,
        request::MAX_EXP_MS,
        "milliseconds",
        "an experiment runs",
        " ms",
    )
}

/// `s` as a count within a kernel word's `range`: `"{s}" is not a number
/// of NOUN`, or `N LABEL: lo..=hi allowed`.
fn parse_in(s: &str, (lo, hi): (usize, usize), noun: &str, label: &str) -> Result<usize, String> {
    let n: usize = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of {noun}"))?;
    if (lo..=hi).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} {label}: {lo}..={hi} allowed"))
    }
}

fn parse_executors(s: &str) -> Result<u32, String> {
    let range = report::cmdline::EXECUTORS_RANGE;
    parse_in(s, range, "executors", "executors").map(|n| n as u32)
}

fn parse_sites(s: &str) -> Result<usize, String> {
    parse_in(s, report::cmdline::SITES_RANGE, "sites", "sites per key")
}

fn parse_claim(s: &str) -> Result<String, String> {
    report::cmdline::Claim::from_name(s)
        .map(|c| c.name().to_string())
        .ok_or_else(|| format!("{s:?} is not a claim: wanted none, shared or percpu"))
}

fn parse_smp(s: &str) -> Result<u32, String> {
    parse_count(
        s,
        request::MAX_SMP,
        "a number of CPUs",
        "QEMU's `pc` machine, which the harness boots, takes",
        " CPUs",
    )
}

/// CPUs of a machine the harness did not boot (a log, a serial port): as
/// many as the kernel holds.
fn parse_machine_cpus(s: &str) -> Result<u32, String> {
    parse_count(
        s,
        plan::cpus::MAX_CPUS as u32,
        "a number of CPUs",
        "the kernel holds",
        " CPUs",
    )
}

fn parse_timeout(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .parse()
        .map_err(|_| "wanted a number of seconds".to_string())?;
    if t > 0.0 && t <= request::MAX_TIMEOUT {
        Ok(t)
    } else {
        Err(format!(
            "{s} is out of range: wanted 0 < SECS <= {}",
            request::MAX_TIMEOUT
        ))
    }
}

fn control_names() -> PossibleValuesParser {
    PossibleValuesParser::new(controls::CONTROLS.iter().map(|c| c.name))
}

/// What the kernel is expected to do, for commands that judge.
#[derive(Debug, Clone, Args)]
pub struct ExpectArgs {
    /// What to expect: `pass`, `fault` (needs --control), `timeout`, or
    /// `clock-fail` (the TSC's references must disagree: with `tsc=skew`).
    /// Default: what the control implies, else pass.
    #[arg(long, value_enum)]
    pub expect: Option<ExpectKind>,
    /// The negative control that was run (docs/cmdline.md); its fault must
    /// be seen at its ELF symbol on its CPU.
    #[arg(long, value_name = "NAME", value_parser = control_names())]
    pub control: Option<String>,
}

/// `harness run`.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("experiments").args(["experiment", "pattern"])))]
pub struct RunArgs {
    /// The registry experiments to run, as `--experiment PATTERN` (as in
    /// `harness list PATTERN`); give one or the other.
    #[arg(value_name = "PATTERN")]
    pub pattern: Option<String>,
    /// CPUs of the guest: 1 to 255 on QEMU's `pc` machine (QEMU refuses
    /// more; the kernel holds 1024), 1 to 64 on Bochs. Default: 4 (Bochs:
    /// 2).
    #[arg(long, value_name = "N", value_parser = parse_smp)]
    pub smp: Option<u32>,
    /// Accelerator: tcg, kvm, or auto (KVM only if /dev/kvm opens read-write
    /// and a short probe boot passes).
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelRequest,
    /// QEMU -cpu model, optionally with `,flags` (checked against
    /// `qemu-system-x86_64 -cpu help`). Default: qemu64.
    #[arg(long, value_name = "MODEL")]
    pub cpu: Option<String>,
    /// Hard deadline for the boot, in seconds (default 60; 10 for the hang
    /// control; for an ISO boot, room for the menu's countdown and its
    /// default suite). QEMU is killed when it passes: status 3.
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// How to boot: the kernel ELF by PVH, or out/static-call.iso by
    /// SeaBIOS or OVMF and GRUB, which boots its menu's default entry (the
    /// suite): each experiment the kernel's command line selected is judged.
    #[arg(long, value_enum, default_value = "kernel")]
    pub boot: BootKind,
    /// Run a negative control (docs/cmdline.md); kernel boots only. The run
    /// then fails (status 1) by design; the summary says whether the harness
    /// caught it.
    #[arg(long, value_name = "NAME", value_parser = control_names())]
    pub control: Option<String>,
    /// More kernel command line words (repeatable); kernel boots only.
    #[arg(long, value_name = "WORDS")]
    pub append: Vec<String>,
    /// At most N APs run the call loops and take the interference; every
    /// other AP waits in `hlt` and answers every sync round (kernel word
    /// `executors=N`; kernel and Bochs boots). Default: every AP, but
    /// under TCG at most 4 per host core.
    #[arg(long, value_name = "N", value_parser = parse_executors)]
    pub executors: Option<u32>,
    /// Run the registry experiments whose names match PATTERN (`*` any
    /// run of characters including `/`, `?` one character; several globs
    /// separated by commas select what any of them selects; see `harness
    /// list`): the shared ones in one boot, each own-boot one in a boot of
    /// its own. Kernel boots only.
    #[arg(long, value_name = "PATTERN")]
    pub experiment: Option<String>,
    /// Milliseconds per experiment (with --experiment or PATTERN). Default:
    /// the kernel's, 200 (Bochs: 60).
    #[arg(long, value_name = "N", value_parser = parse_ms, requires = "experiments")]
    pub ms: Option<u64>,
    /// What to expect (default: what the control implies, else pass).
    #[arg(long, value_enum)]
    pub expect: Option<ExpectKind>,
    /// Where the kernel, QEMU and the evidence come from.
    #[command(flatten)]
    pub src: Sources,
    /// Boot this ISO instead of out/static-call.iso.
    #[arg(long, value_name = "ISO")]
    pub iso: Option<PathBuf>,
    /// Do not echo the serial line; print only the summary (the global
    /// `--quiet`).
    #[arg(skip)]
    pub quiet: bool,
    /// Print the verdicts as TAP version 13 instead of the human summary:
    /// a test point for each boot's platform judgement and for each of its
    /// checks, then one per experiment.
    #[arg(long)]
    pub tap: bool,
    /// Run it N times (a boot, or boots, each), one line per run, then a
    /// table: per experiment, the runs of each verdict and the median time
    /// to its first failure (how reliably a control is caught).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::results::repeat::parse_repeat)]
    pub repeat: u32,
    /// The machine: `qemu`, or `bochs` (Bochs boots an ISO made for the
    /// run, with the run's command line as its default entry, through its
    /// BIOS from a CD-ROM; `--cpu` then names a Bochs CPU model, default
    /// corei5_lynnfield_750).
    #[arg(long, value_enum, default_value = "qemu")]
    pub emulator: EmulatorKind,
    /// Bochs: instructions per second of each CPU, also the frequency of
    /// its TSC and timers (at least 100000000, the kernel's clock floor).
    #[arg(long, value_name = "N", default_value_t = crate::boot::bochs::DEFAULT_IPS)]
    pub ips: u64,
    /// Bochs: instructions a CPU runs before Bochs switches to the next (1 to 32).
    #[arg(long, value_name = "N", default_value_t = crate::boot::bochs::DEFAULT_QUANTUM)]
    pub quantum: u32,
}

/// What `harness run` boots the kernel on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EmulatorKind {
    /// QEMU (TCG or KVM).
    Qemu,
    /// Bochs.
    Bochs,
}

/// `harness parse`.
#[derive(Debug, Clone, Args)]
pub struct ParseArgs {
    /// The serial log.
    pub file: PathBuf,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// CPUs the machine has (checked against the kernel's count).
    #[arg(long, value_name = "N", value_parser = parse_machine_cpus)]
    pub smp: Option<u32>,
    /// The kernel ELF that ran, to name fault addresses and check controls.
    /// Default: the ELF whose build id the log's `hello` record names,
    /// looked for beside the log, in the workspace's kernel build and in
    /// out/*.elf (given, it is checked against that id).
    #[arg(long, value_name = "ELF")]
    pub elf: Option<PathBuf>,
    /// Also write the evidence (records.jsonl, summary.json, junit.xml,
    /// latency.svg and .png) to a new run directory under DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The experiments the log must hold (default: the `exp=` of the
    /// kernel command line in its `hello` record). Each is judged; one
    /// that is missing fails.
    #[arg(long, value_name = "PATTERN")]
    pub experiment: Option<String>,
    /// The milliseconds per experiment the log must show (checked against
    /// its `exp-begin` records).
    #[arg(long, value_name = "N", value_parser = parse_ms)]
    pub ms: Option<u64>,
    /// The QEMU version that ran the log's kernel (MAJOR.MINOR.MICRO, as
    /// `qemu-system-x86_64 --version` says). Default: the `qemu.version`
    /// of the `summary.json` beside the log (a run's evidence), else
    /// unknown. Known failures are scoped by QEMU release: with no version
    /// none applies.
    #[arg(long, value_name = "X.Y.Z", value_parser = parse_qemu_version)]
    pub qemu_version: Option<QemuVersion>,
    /// What ran the log's kernel, when its records cannot tell (a CPU
    /// without a hypervisor bit under an emulator, or a kernel that did not
    /// report its firmware's ids): `real-machine`, `bochs`, `tcg`, `kvm`.
    /// Default: read from the `machine` record (the hypervisor leaf, the
    /// ACPI OEM and table ids); a log whose firmware is an emulator's is
    /// never a real machine.
    #[arg(long, value_name = "NAME", value_parser = parse_platform)]
    pub platform: Option<String>,
    /// Echo the log's lines as they are read (the global `--verbose`).
    #[arg(skip)]
    pub verbose: bool,
    /// Print the verdicts as TAP version 13 instead of the human summary:
    /// a test point for each boot's platform judgement and for each of its
    /// checks, then one per experiment.
    #[arg(long)]
    pub tap: bool,
}

fn parse_platform(s: &str) -> Result<String, String> {
    if crate::judge::seen::PLATFORM_NAMES.contains(&s) {
        Ok(s.to_string())
    } else {
        Err(format!(
            "unknown platform `{s}`: one of {}",
            crate::judge::seen::PLATFORM_NAMES.join(", ")
        ))
    }
}

fn parse_qemu_version(s: &str) -> Result<QemuVersion, String> {
    QemuVersion::parse(s).ok_or_else(|| {
        format!("unknown QEMU version format `{s}`: wanted MAJOR.MINOR.MICRO, such as 7.2.22")
    })
}

/// `harness watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// The serial device, e.g. /dev/ttyUSB0.
    pub device: PathBuf,
    /// Line speed (8N1, no flow control).
    #[arg(long, value_name = "N", default_value_t = watch::DEFAULT_BAUD)]
    pub baud: u32,
    /// Hard deadline in seconds (default 600).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// CPUs the machine has (checked against the kernel's count).
    #[arg(long, value_name = "N", value_parser = parse_machine_cpus)]
    pub smp: Option<u32>,
    /// The kernel ELF that runs, to name fault addresses and check controls.
    /// Default: the ELF whose build id the machine's `hello` record names,
    /// in the workspace's kernel build or out/*.elf (given, it is checked
    /// against that id).
    #[arg(long, value_name = "ELF")]
    pub elf: Option<PathBuf>,
    /// Where run directories go (default: out/runs in the workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// What runs the kernel on the other end of the line, when its records
    /// cannot tell (`harness parse --platform`).
    #[arg(long, value_name = "NAME", value_parser = parse_platform)]
    pub platform: Option<String>,
    /// Do not echo the serial line (the global `--quiet`).
    #[arg(skip)]
    pub quiet: bool,
}

/// `harness list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Only the experiments whose names match (`*`, `?`; globs separated
    /// by commas).
    pub pattern: Option<String>,
}

/// `harness iso-menu`.
#[derive(Debug, Clone, Args)]
pub struct IsoMenuArgs {
    /// Whose configuration syntax: GRUB's `menuentry` blocks or Limine's
    /// entries.
    #[arg(long, value_enum, default_value = "grub")]
    pub loader: crate::menu::Loader,
    /// More kernel command line words for the default entry (`make iso
    /// CMDLINE=...`); an `exp=` or `ms=` among them replaces the default.
    #[arg(long, value_name = "WORDS", default_value = "")]
    pub cmdline: String,
    /// The torture table whose `expect = fail` rows give each sabotage
    /// entry its experiments (default: the harness/torture.cfg this harness
    /// was built with).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
}

/// Where the kernel, QEMU and the evidence come from: the options `run`,
/// `bench` and `matrix` share.
#[derive(Debug, Clone, Args)]
pub struct Sources {
    /// Where run directories go (default: out/runs in the workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Do not build the kernel first.
    #[arg(long)]
    pub no_build: bool,
    /// Boot this kernel ELF instead of the workspace's (implies --no-build).
    #[arg(long, value_name = "ELF")]
    pub kernel: Option<PathBuf>,
    /// The QEMU: a path, a program in PATH, or a major version alone
    /// (`10`: the QEMU that `scripts/setup.sh --qemu 10` unpacks under
    /// build/qemu-10/). It must say it is QEMU 7.2 or later.
    #[arg(long, value_name = "BIN|N", default_value = crate::machine::qemu::DEFAULT_QEMU)]
    pub qemu: String,
}

impl Sources {
    /// Whether the workspace's kernel is built first.
    pub fn build(&self) -> bool {
        !self.no_build && self.kernel.is_none()
    }
}

/// `harness repro`.
#[derive(Debug, Clone, Args)]
pub struct ReproArgs {
    /// The reproducer (none: list them).
    pub name: Option<String>,
    /// CPUs of the guest (default: the reproducer's).
    #[arg(long, value_name = "N", value_parser = parse_smp)]
    pub smp: Option<u32>,
    /// Milliseconds per experiment.
    #[arg(long, value_name = "N", default_value = "60", value_parser = parse_ms)]
    pub ms: u64,
    /// Boots.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = crate::results::repeat::parse_repeat)]
    pub repeat: u32,
    /// Where the kernel, QEMU and the evidence come from.
    #[command(flatten)]
    pub src: Sources,
}

/// `harness linux`.
#[derive(Debug, Clone, Args)]
pub struct LinuxArgs {
    /// The QEMU: a path, a program in PATH, or a major version alone
    /// (`10`: build/qemu-10/, unpacked by scripts/setup-qemu.sh 10).
    #[arg(long, value_name = "BIN|N", default_value = crate::machine::qemu::DEFAULT_QEMU)]
    pub qemu: String,
    /// CPUs of the guest, 2 to 8: CPU 0 flips, the others run the workers.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = parse_linux_smp)]
    pub smp: u32,
    /// Flips of the key (each one write: 1, 0, 1, ...).
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = parse_flips)]
    pub flips: u64,
    /// The static key's file: a name under /proc/sys/kernel/ or a path under
    /// /proc/sys/.
    #[arg(long, value_name = "NAME", default_value = "sched_schedstats")]
    pub key: String,
    /// Busy workers on CPUs 1..N-1 (default: one per CPU but CPU 0).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=64))]
    pub workers: Option<u32>,
    /// Hard deadline in seconds; QEMU is killed then.
    #[arg(long, value_name = "SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub timeout: u64,
    /// Seconds of console silence before the vCPUs are sampled.
    #[arg(long, value_name = "SECS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub silence: u64,
    /// Name and count a livelock but do not release it (the guest then
    /// stays stuck until the deadline).
    #[arg(long)]
    pub no_release: bool,
    /// A live negative control: also sample the running guest every 100
    /// flips; each such sample must be judged no livelock (else status 1).
    #[arg(long)]
    pub control: bool,
    /// Where run directories go (default: out/runs in the workspace).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn parse_linux_smp(s: &str) -> Result<u32, String> {
    let (lo, hi) = crate::linux::SMP_RANGE;
    let n: u32 = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number of CPUs"))?;
    if !(lo..=hi).contains(&n) {
        return Err(format!(
            "{n} CPUs: {lo} to {hi} allowed (CPU 0 flips, the others run workers)"
        ));
    }
    Ok(n)
}

fn parse_flips(s: &str) -> Result<u64, String> {
    let (lo, hi) = crate::linux::FLIPS_RANGE;
    let n: u64 = s
        .parse()
        .map_err(|_| format!("\"{s}\" is not a number of flips"))?;
    if !(lo..=hi).contains(&n) {
        return Err(format!("{n} flips: {lo} to {hi} allowed"));
    }
    Ok(n)
}

/// `harness bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// CPU counts to measure at, one boot set each.
    #[arg(long, value_name = "N,N,...", default_value = "2,4,8", value_delimiter = ',', value_parser = parse_smp)]
    pub smp: Vec<u32>,
    /// Milliseconds per experiment.
    #[arg(long, value_name = "N", default_value = "500", value_parser = parse_ms)]
    pub ms: u64,
    /// Sites per key of the batch-scaling axis: the `int3` and
    /// `int3-batch` boot runs once per size (kernel word `sites=N`, 1 to
    /// 256) and a table compares them; the other boot runs at the default
    /// size. Without it, one size: the kernel's default (4).
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', value_parser = parse_sites)]
    pub sites: Vec<usize>,
    /// Instead of the set above: how the platform scales with the CPU
    /// count. At each count, a boot of the platform alone (CPUs up, the
    /// kernel's bring-up time, boot-to-exit wall time) and one of
    /// `int3/gap/ipi/qword/timer` (does it pass); `--smp` and `--sites`
    /// do not apply.
    #[arg(long, value_name = "N,N,...", value_delimiter = ',', value_parser = parse_smp, conflicts_with_all = ["smp", "sites"])]
    pub cpus: Vec<u32>,
    /// With `--cpus`: where the default bounded the executors (under TCG,
    /// 4 per host core), boot the experiment a second time with every AP
    /// an executor (at 255 CPUs on 2 host cores it may not end before its
    /// deadline: that is the measurement).
    #[arg(long, requires = "cpus")]
    pub all_executors: bool,
    /// Instead of the set above: the #BP handler's claim on the patch
    /// table as an axis of `int3-batch/gap/ipi/qword/timer` (kernel word
    /// `claim=`), one boot per claim at each `--smp`, with at most one
    /// `--sites` size; each claim's update time and handler time per hit
    /// as a ratio to `none`.
    #[arg(long, value_name = "CLAIM,...", value_delimiter = ',', value_parser = parse_claim, conflicts_with = "cpus")]
    pub claims: Vec<String>,
    /// Boot each configuration this many times; the tables give the
    /// median, least and greatest of every figure.
    #[arg(long, value_name = "N", default_value = "1", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: u32,
    /// Accelerator: tcg, kvm, or auto.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: AccelRequest,
    /// QEMU -cpu model. Default: qemu64.
    #[arg(long, value_name = "MODEL")]
    pub cpu: Option<String>,
    /// Hard deadline per boot, in seconds (default: from the experiments).
    #[arg(long, value_name = "SECS", value_parser = parse_timeout)]
    pub timeout: Option<f64>,
    /// More kernel command line words for every boot (repeatable), e.g.
    /// `poke=keep` to measure the patcher without its alias flush.
    #[arg(long, value_name = "WORDS")]
    pub append: Vec<String>,
    /// Where the kernel, QEMU and the evidence come from.
    #[command(flatten)]
    pub src: Sources,
    /// Echo the serial lines (the global `--verbose`).
    #[arg(skip)]
    pub verbose: bool,
}

/// `harness matrix`.
#[derive(Debug, Clone, Args)]
pub struct MatrixArgs {
    /// The table (see harness/platform.cfg).
    pub file: PathBuf,
    /// Where the kernel, QEMU and the evidence come from.
    #[command(flatten)]
    pub src: Sources,
    /// Boot this ISO instead of out/static-call.iso.
    #[arg(long, value_name = "ISO")]
    pub iso: Option<PathBuf>,
    /// Echo every row's serial line (the global `--verbose`).
    #[arg(skip)]
    pub verbose: bool,
    /// Print the rows as TAP version 13 on standard output, one test
    /// point per row; the lines for people go to standard error.
    #[arg(long)]
    pub tap: bool,
    /// Run up to N rows at once. Default: as many as fit in the host's
    /// cores by their vCPUs (a row bigger than the host runs alone); under
    /// TCG each vCPU is a host thread, and rows that crowd each other run
    /// slower than alone.
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = crate::matrix::jobs::parse_jobs)]
    pub jobs: Option<usize>,
    /// Only the rows whose name matches GLOB (`*`, `?`; a comma-separated
    /// list of globs selects what any of them selects).
    #[arg(long, value_name = "GLOB")]
    pub filter: Option<String>,
    /// Only the rows of GROUP (a row's `group = ...`).
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// List the rows (those selected) and what each runs; run nothing.
    #[arg(long)]
    pub list: bool,
    /// Run every selected row N times (`NAME-rK`), then a table: per row,
    /// the runs that passed and the median time to the first failure of
    /// its experiments (how fast a sabotage is caught).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = crate::results::repeat::parse_repeat)]
    pub repeat: u32,
    /// Run the table's rows of experiments on Bochs (`bochs`), each on the
    /// Bochs model of `--cpu`; rows of the platform alone, ISO boots and
    /// rows for one QEMU release are skipped. Default: each row's own.
    #[arg(long, value_enum)]
    pub emulator: Option<EmulatorKind>,
    /// With `--emulator bochs`: the Bochs CPU model of every row.
    #[arg(long, value_name = "MODEL", requires = "emulator")]
    pub cpu: Option<String>,
    /// With `--emulator bochs`: instructions per second of each CPU.
    #[arg(long, value_name = "N", default_value_t = crate::boot::bochs::DEFAULT_IPS)]
    pub ips: u64,
    /// With `--emulator bochs`: instructions a CPU runs before Bochs
    /// switches to the next.
    #[arg(long, value_name = "N", default_value_t = crate::boot::bochs::DEFAULT_QUANTUM)]
    pub quantum: u32,
}
