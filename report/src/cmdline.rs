//! The kernel command line: the contract between harness and kernel
//! (`docs/cmdline.md` describes it for people).
//!
//! Words are separated by spaces: bare flags or `key=value`. The kernel
//! parses with [`Options::parse`]; the harness builds lines with the same
//! names, so a name cannot drift between the two.

/// A platform negative control or hang, chosen with `control=NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// CPU 1 (the BSP when alone) executes `ud2` at symbol `control_ud2`.
    Ud2Ap,
    /// The BSP writes to kernel text through its read-only executable
    /// mapping; the store is at symbol `control_write_text`.
    WriteText,
    /// The BSP jumps into a data page at symbol `control_exec_data`.
    ExecData,
    /// The BSP spins forever after bring-up.
    Hang,
}

impl Control {
    /// Every control.
    pub const ALL: [Control; 4] = [
        Control::Ud2Ap,
        Control::WriteText,
        Control::ExecData,
        Control::Hang,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Control::Ud2Ap => "ud2-ap",
            Control::WriteText => "write-text",
            Control::ExecData => "exec-data",
            Control::Hang => "hang",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Control> {
        Control::ALL.into_iter().find(|c| c.name() == s)
    }

    /// The kernel symbol where the fault must be reported, the exception
    /// vector expected there, and whether it happens on CPU 1 (else the
    /// BSP). `None` for [`Control::Hang`].
    pub fn expected_fault(self) -> Option<(&'static str, u8, bool)> {
        match self {
            Control::Ud2Ap => Some(("control_ud2", 6, true)),
            Control::WriteText => Some(("control_write_text", 14, false)),
            Control::ExecData => Some(("control_exec_data", 14, false)),
            Control::Hang => None,
        }
    }
}

/// A deliberate defect in the patch protocol, chosen with `break=NAME`:
/// experiments that must pass must then fail, or a detector is blind. The
/// catalogue, with the detector that catches each and how often, is in
/// `docs/cmdline.md` and `docs/sabotage.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// The int3 protocol skips the sync after phase 3 and withdraws the #BP
    /// table at once: a CPU still on its way into the `int3` finds nothing.
    NoFinalSync,
    /// The int3 protocol writes the new operand before covering the opcode
    /// with `int3`, byte by byte, each intermediate operand left in memory
    /// until every executor has gone through its sites twice: a CPU runs
    /// the old opcode with a torn operand.
    OperandFirst,
    /// The `gap` handler pushes `site + 6` instead of `site + 5`: the
    /// emulated call returns into the stub's tail, one byte late.
    GapReturn,
    /// The `gap` handler pushes `site + 4`: the emulated call returns onto
    /// the operand's top byte (a REX prefix), one byte early.
    GapReturnShort,
    /// The #BP table flags every patch point as a `jmp` (the out-of-line
    /// case): a trapped call is emulated without a return address.
    CallAsJmp,
    /// The #BP table flags an out-of-line trampoline's `jmp` as a call: the
    /// handler pushes a return address past the trampoline.
    JmpAsCall,
    /// The emulating handlers return to `site + 5` without running the
    /// callee.
    SkipCallee,
    /// The `r10r11` handler swaps R10 and R11: the trampoline jumps to the
    /// return address and returns into the target.
    R10r11Swap,
    /// The `gap` handler runs behind the plain #BP entry, with no gap
    /// under the hardware frame.
    GapNoGap,
    /// The `trampoline` handler clears IF and never sets it again (no
    /// `sti`).
    TrampolineNoSti,
    /// The `trampoline` handler returns with IF set into the plain
    /// trampoline: an interrupt can come before it reads its per-CPU slots
    /// (no STI shadow).
    TrampolineIf,
    /// The int3 protocol publishes the #BP table only with the new
    /// instruction, in step 3, long after the `int3` was written.
    BpTableLate,
    /// The #BP table gives the destination of the target after the new
    /// one (an off-by-one).
    BpWrongDest,
    /// `int3-batch` publishes its table unsorted (the handler's binary
    /// search misses sites).
    BatchUnsorted,
    /// `int3-batch` publishes its table without its last site.
    BatchMissing,
    /// The int3 protocol skips the sync after phase 1 (cover).
    NoCoverSync,
    /// The int3 protocol skips the sync after phase 2 (operand).
    NoOperandSync,
    /// The `ipi` sync neither interrupts nor waits for the last CPU.
    IpiSkipLast,
    /// The `cpumask` sync ends its round when the first CPU clears its bit
    /// instead of the last.
    CpumaskFirstOut,
    /// A CPU acknowledges a sync round before it serializes.
    AckBeforeSerialize,
    /// The executors' window check accepts every call.
    LaxWindow,
    /// The `spin` handler never leaves, though it keeps doing its sync
    /// duty (the patcher goes on without it).
    SpinStays,
    /// With `claim=shared` or `percpu`, the #BP handler never drops the
    /// reference it took: the patcher's drain waits forever.
    ClaimLeak,
    /// Before the third patch, a patch point is rewritten behind the
    /// patcher's back (to the instruction of another target): the patch
    /// must refuse to start (its precondition check).
    CorruptSite,
    /// The patcher's write of `CC` over an opcode lands one byte further,
    /// on the operand: the read-back after the write must see it.
    PokeElsewhere,
    /// `int3`, one site at a time: once the first site's three phases are
    /// done, its old operand is stored back (one 4-byte store) and stays
    /// until the rest of the key is patched: a finished site runs its old
    /// target, which only a per-site window calls wrong.
    UndoSite,
    /// The #BP handler's lookup answers a hit with the next entry of the
    /// sorted table (an off-by-one): harmless where every entry has one
    /// destination, a wrong target where a batch holds several keys
    /// (`int3-queue`).
    BatchNeighbour,
    /// The #BP handler is instrumented: on entry, before it looks its trap
    /// up, it calls through a site of the key being patched. When that
    /// site is covered with `int3`, the call traps inside the handler,
    /// whose entry calls it again, until the stack runs out.
    TracedHandler,
    /// `ipi` sync: the last CPU is isolated and gets no sync IPI. The
    /// patcher counts its acknowledgement for it and leaves it a
    /// serialization owed, which it pays at its next interrupt (its next
    /// kernel entry), after that interrupt's handler: a CPU counted as
    /// synced runs patched code before it serializes.
    DeferSync,
    /// With `claim=shared` or `percpu`, the patcher drops its own
    /// reference when it withdraws the table but does not wait for the
    /// handlers' references to drain: the next patch resets the count
    /// under a handler that still holds one, whose release then takes the
    /// new patch's count to zero while its `int3`s are live.
    ClaimNoDrain,
    /// Shape `null`: the emulating handlers send a CPU that trapped on a
    /// NOP site to the NOP's length past the RIP the #BP left, which is
    /// already one past the `int3`: `site + 6`, inside the stub's tail.
    NopPastInt3,
    /// Shape `null`: the patcher never chooses NULL, so the experiment
    /// runs as a `call` one and no call passes a NOP.
    NullNever,
    /// Shape `jump`: the #BP table gives every site of a batch the first
    /// site's label, one destination per key as every call shape has,
    /// so an emulated `jmp` at any other site reaches a label not its own.
    OneLabel,
    /// Shape `ret0`: the #BP table sends a CPU that trapped on a point
    /// moving to `__static_call_return0` on past it, as a NOP, instead of
    /// through the emulated call that returns 0: EAX keeps the caller's
    /// value.
    Ret0AsNop,
    /// Strategy `early`: the rewrite runs with interrupts on and no
    /// serializing instruction after it, as Linux's in-place NOP
    /// optimization did before 2dc4196138055: the patching CPU's own
    /// interrupt can run a half-written operand.
    EarlyIrqsOn,
}

impl Sabotage {
    /// Every sabotage.
    pub const ALL: [Sabotage; 35] = [
        Sabotage::NoFinalSync,
        Sabotage::OperandFirst,
        Sabotage::GapReturn,
        Sabotage::GapReturnShort,
        Sabotage::CallAsJmp,
        Sabotage::JmpAsCall,
        Sabotage::SkipCallee,
        Sabotage::R10r11Swap,
        Sabotage::GapNoGap,
        Sabotage::TrampolineNoSti,
        Sabotage::TrampolineIf,
        Sabotage::BpTableLate,
        Sabotage::BpWrongDest,
        Sabotage::BatchUnsorted,
        Sabotage::BatchMissing,
        Sabotage::NoCoverSync,
        Sabotage::NoOperandSync,
        Sabotage::IpiSkipLast,
        Sabotage::CpumaskFirstOut,
        Sabotage::AckBeforeSerialize,
        Sabotage::LaxWindow,
        Sabotage::SpinStays,
        Sabotage::ClaimLeak,
        Sabotage::CorruptSite,
        Sabotage::PokeElsewhere,
        Sabotage::UndoSite,
        Sabotage::BatchNeighbour,
        Sabotage::TracedHandler,
        Sabotage::DeferSync,
        Sabotage::ClaimNoDrain,
        Sabotage::NopPastInt3,
        Sabotage::NullNever,
        Sabotage::OneLabel,
        Sabotage::Ret0AsNop,
        Sabotage::EarlyIrqsOn,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Sabotage::NoFinalSync => "no-final-sync",
            Sabotage::OperandFirst => "operand-first",
            Sabotage::GapReturn => "gap-return",
            Sabotage::GapReturnShort => "gap-return-short",
            Sabotage::CallAsJmp => "call-as-jmp",
            Sabotage::JmpAsCall => "jmp-as-call",
            Sabotage::SkipCallee => "skip-callee",
            Sabotage::R10r11Swap => "r10r11-swap",
            Sabotage::GapNoGap => "gap-no-gap",
            Sabotage::TrampolineNoSti => "trampoline-no-sti",
            Sabotage::TrampolineIf => "trampoline-if",
            Sabotage::BpTableLate => "bp-table-late",
            Sabotage::BpWrongDest => "bp-wrong-dest",
            Sabotage::BatchUnsorted => "batch-unsorted",
            Sabotage::BatchMissing => "batch-missing",
            Sabotage::NoCoverSync => "no-cover-sync",
            Sabotage::NoOperandSync => "no-operand-sync",
            Sabotage::IpiSkipLast => "ipi-skip-last",
            Sabotage::CpumaskFirstOut => "cpumask-first-out",
            Sabotage::AckBeforeSerialize => "ack-before-serialize",
            Sabotage::LaxWindow => "lax-window",
            Sabotage::SpinStays => "spin-stays",
            Sabotage::ClaimLeak => "claim-leak",
            Sabotage::CorruptSite => "corrupt-site",
            Sabotage::PokeElsewhere => "poke-elsewhere",
            Sabotage::UndoSite => "undo-site",
            Sabotage::BatchNeighbour => "batch-neighbour",
            Sabotage::TracedHandler => "traced-handler",
            Sabotage::DeferSync => "defer-sync",
            Sabotage::ClaimNoDrain => "claim-no-drain",
            Sabotage::NopPastInt3 => "nop-past-int3",
            Sabotage::NullNever => "null-never",
            Sabotage::OneLabel => "one-label",
            Sabotage::Ret0AsNop => "ret0-as-nop",
            Sabotage::EarlyIrqsOn => "early-irqs-on",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Sabotage> {
        Sabotage::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Whether each patch ends with the settle step (rewrite the final bytes,
/// sync again), chosen with `settle=on|off|auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Settle {
    /// Settle where the hypervisor is QEMU's TCG (the kernel's default).
    #[default]
    Auto,
    /// Always settle.
    On,
    /// Never settle.
    Off,
}

impl Settle {
    /// Every choice.
    pub const ALL: [Settle; 3] = [Settle::Auto, Settle::On, Settle::Off];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Settle::Auto => "auto",
            Settle::On => "on",
            Settle::Off => "off",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Settle> {
        Settle::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether to settle, given whether the hypervisor is TCG.
    pub fn applies(self, under_tcg: bool) -> bool {
        match self {
            Settle::Auto => under_tcg,
            Settle::On => true,
            Settle::Off => false,
        }
    }
}

/// How the #BP handler claims the patch table while it reads it, chosen
/// with `claim=none|shared|percpu` (the `int3` strategies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Claim {
    /// No claim: the sync after the last phase is what keeps the table
    /// alive for a handler (a CPU in the handler, interrupts off, cannot
    /// acknowledge the round before it leaves).
    #[default]
    None,
    /// One reference count for every CPU: the handler takes a reference
    /// (increment unless zero) and drops it; the patcher, withdrawing the
    /// table, drops its own and waits for zero. Linux's `bp_desc.refs`
    /// (2019 to 2025): every trapping CPU writes the same cache line.
    Shared,
    /// A reference count per CPU, each on its own cache line: the handler
    /// touches only its CPU's, the patcher sets and drains each one (Linux
    /// since 2025, `text_poke_array_refs`).
    Percpu,
}

impl Claim {
    /// Every choice.
    pub const ALL: [Claim; 3] = [Claim::None, Claim::Shared, Claim::Percpu];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Claim::None => "none",
            Claim::Shared => "shared",
            Claim::Percpu => "percpu",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Claim> {
        Claim::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// How the patcher reaches the bytes it writes, chosen with
/// `poke=flush|keep`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Poke {
    /// Drop the writable alias's TLB entry (`invlpg`) before each byte is
    /// written, as Linux's `text_poke` does by mapping a fresh alias for
    /// every write and flushing it after (the kernel's default).
    #[default]
    Flush,
    /// Write through the long-lived alias and its TLB entry as they are.
    /// Under QEMU's multi-threaded TCG a writer's entry can be left
    /// marking the page free of code while it holds translated code, and
    /// every later write through it then misses the translator's check.
    Keep,
}

impl Poke {
    /// Every choice.
    pub const ALL: [Poke; 2] = [Poke::Flush, Poke::Keep];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Poke::Flush => "flush",
            Poke::Keep => "keep",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Poke> {
        Poke::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What the #BP handler does with a *ghost*: an `int3` at an address the
/// patch table does not cover (or no longer does) whose memory no longer
/// holds `CC`. Chosen with `ghost=fail|retry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ghost {
    /// A failure, as Linux's handler takes it (a stray `int3`, or a stale
    /// one where the evidence says so): the kernel's default.
    #[default]
    Fail,
    /// Re-check the byte and, when it is no longer `CC`, return to the
    /// address to run what memory holds now (the policy proposed upstream
    /// against ghost breakpoints under TCG, and rejected), up to a bound
    /// of consecutive retries at one address, after which it fails.
    Retry,
}

impl Ghost {
    /// Every choice.
    pub const ALL: [Ghost; 2] = [Ghost::Fail, Ghost::Retry];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Ghost::Fail => "fail",
            Ghost::Retry => "retry",
        }
    }

    /// Parses a name.
    pub fn from_name(s: &str) -> Option<Ghost> {
        Ghost::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// What separates the globs of `exp=` (the same character as
/// `plan::experiment::LIST_SEPARATOR`; no experiment name holds one).
pub const EXP_LIST_SEPARATOR: char = ',';

/// What `keys=` accepts: keys retargeted in turn by every experiment
/// (`plan::layout::MAX_KEYS`; the kernel checks the two agree).
pub const KEYS_RANGE: (usize, usize) = (1, 8);
/// What `ms=` accepts: milliseconds each experiment runs (the harness
/// checks a request against it before any boot; the kernel refuses more).
pub const MS_RANGE: (usize, usize) = (1, 600_000);
/// How long each experiment runs when `ms=` does not say, in milliseconds.
pub const DEFAULT_MS: u64 = 200;
/// What `sites=` accepts: call sites per key (`plan::layout::MAX_SITES_PER_KEY`;
/// a class may hold fewer, which the kernel reports per experiment).
pub const SITES_RANGE: (usize, usize) = (1, 256);
/// What `executors=` accepts: APs that run the call loops (one fewer than
/// the kernel's most CPUs: the BSP patches).
pub const EXECUTORS_RANGE: (usize, usize) = (1, 1023);
/// What `targets=` accepts: targets per key, the key cycling through them
/// (`plan::layout::MAX_TARGETS_PER_KEY`; one cannot be retargeted).
pub const TARGETS_RANGE: (usize, usize) = (2, 4);

/// Keys, sites per key and targets per key when the line does not say.
pub const DEFAULT_SIZES: Sizes = Sizes {
    keys: 2,
    sites: 4,
    targets: 4,
};

/// The size of the object under test, for every experiment of the boot
/// (`keys=`, `sites=`, `targets=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Keys.
    pub keys: usize,
    /// Call sites per key.
    pub sites: usize,
    /// Targets per key.
    pub targets: usize,
}

impl Default for Sizes {
    fn default() -> Sizes {
        DEFAULT_SIZES
    }
}

/// A `key=N` word whose N is a number in `range` (inclusive).
fn in_range<'a>(word: &'a str, n: &str, range: (usize, usize)) -> Result<usize, CmdlineError<'a>> {
    let n: usize = n.parse().map_err(|_| CmdlineError::BadNumber(word))?;
    if (range.0..=range.1).contains(&n) {
        Ok(n)
    } else {
        Err(CmdlineError::OutOfRange { word, range })
    }
}

/// Why a command line was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmdlineError<'a> {
    /// A word no one knows.
    UnknownWord(&'a str),
    /// `control=` with an unknown name.
    UnknownControl(&'a str),
    /// `break=` with an unknown name.
    UnknownSabotage(&'a str),
    /// A number that does not parse, or is out of range (`cpus=0`). The
    /// word is kept.
    BadNumber(&'a str),
    /// `tsc=` with something other than `pit` or `skew`.
    BadTsc(&'a str),
    /// `settle=` with something other than `on`, `off` or `auto`.
    BadSettle(&'a str),
    /// `claim=` with something other than `none`, `shared` or `percpu`.
    BadClaim(&'a str),
    /// `poke=` with something other than `flush` or `keep`.
    BadPoke(&'a str),
    /// `ghost=` with something other than `fail` or `retry`.
    BadGhost(&'a str),
    /// `exp=` with an empty glob: nothing after `=`, or a leading,
    /// trailing or doubled comma. The word is kept.
    EmptyGlob(&'a str),
    /// A number outside what the word allows (inclusive bounds).
    OutOfRange {
        word: &'a str,
        range: (usize, usize),
    },
}

impl core::fmt::Display for CmdlineError<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CmdlineError::UnknownWord(w) => write!(f, "unknown word {w:?}"),
            CmdlineError::UnknownControl(w) => {
                write!(f, "control={w:?}: unknown control, wanted ")?;
                names(f, Control::ALL.iter().map(|c| c.name()))
            }
            CmdlineError::UnknownSabotage(w) => {
                write!(f, "break={w:?}: unknown sabotage, wanted ")?;
                names(f, Sabotage::ALL.iter().map(|s| s.name()))
            }
            CmdlineError::BadNumber(w) => match w.split_once('=') {
                Some(("cpus", _)) => write!(f, "{w:?}: wanted a number of CPUs, at least 1"),
                Some(("ms", _)) => write!(f, "{w:?}: wanted a number of milliseconds"),
                _ => write!(f, "{w:?}: not a number"),
            },
            CmdlineError::BadTsc(w) => write!(f, "tsc={w:?}: wanted pit or skew"),
            CmdlineError::BadSettle(w) => {
                write!(f, "settle={w:?}: wanted on, off or auto")
            }
            CmdlineError::BadClaim(w) => {
                write!(f, "claim={w:?}: wanted none, shared or percpu")
            }
            CmdlineError::BadPoke(w) => write!(f, "poke={w:?}: wanted flush or keep"),
            CmdlineError::BadGhost(w) => write!(f, "ghost={w:?}: wanted fail or retry"),
            CmdlineError::OutOfRange { word, range } => {
                write!(
                    f,
                    "{word:?}: out of range, {}..={} allowed",
                    range.0, range.1
                )
            }
            CmdlineError::EmptyGlob(w) => write!(
                f,
                "{w:?} has an empty pattern (exp= takes globs separated by single commas)"
            ),
        }
    }
}

/// `a, b or c`.
fn names<'n>(
    f: &mut core::fmt::Formatter<'_>,
    names: impl ExactSizeIterator<Item = &'n str>,
) -> core::fmt::Result {
    let n = names.len();
    for (i, name) in names.enumerate() {
        let sep = match i {
            0 => "",
            _ if i + 1 == n => " or ",
            _ => ", ",
        };
        write!(f, "{sep}{name}")?;
    }
    Ok(())
}

/// Everything the command line can say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options<'a> {
    /// `control=NAME`.
    pub control: Option<Control>,
    /// `nobp`: run nothing that executes `int3` (hosts whose KVM dies on it).
    pub nobp: bool,
    /// `tsc=pit`: calibrate against the PIT even where an HPET exists.
    pub tsc_pit: bool,
    /// `xapic`: stay in xAPIC mode even where x2APIC exists.
    pub xapic: bool,
    /// `exp=GLOB[,GLOB...]`: run the experiments whose names match any of
    /// the comma-separated globs (`plan::experiment::glob_list_match`). Kept
    /// as written; never empty, and no glob in it is empty.
    pub experiments: Option<&'a str>,
    /// `ms=N`: how long each experiment runs, in milliseconds.
    pub exp_ms: Option<u64>,
    /// `break=NAME`: a deliberate defect in the protocol.
    pub sabotage: Option<Sabotage>,
    /// `cpus=N`: use at most N CPUs, the BSP included (fewer than the MADT
    /// lists is then no failure). `cpus=0` is refused.
    pub cpus: Option<u32>,
    /// `tsc=skew`: a negative control of the clock: the TSC's first
    /// reference is read 5/4 fast, so its figure disagrees with the others
    /// and the platform judgement must fail.
    pub tsc_skew: bool,
    /// `settle=on|off|auto`: the TCG settle step after each patch.
    pub settle: Settle,
    /// `claim=none|shared|percpu`: the #BP handler's claim on the table.
    pub claim: Claim,
    /// `poke=flush|keep`: whether the alias's TLB entry is dropped before
    /// each write.
    pub poke: Poke,
    /// `ghost=fail|retry`: what the #BP handler does with an `int3` no
    /// patch covers at an address whose memory no longer holds `CC`.
    pub ghost: Ghost,
    /// `hold`: halt at the end instead of closing QEMU through its debug-exit
    /// device, so that the verdict screen stays for a screendump.
    pub hold: bool,
    /// `seed=N` (decimal, or hex with `0x`): the patcher's choices drawn
    /// from N (`plan::schedule`); none: the fixed schedule.
    pub seed: Option<u64>,
    /// `sites=`, `keys=`, `targets=`: the sizes of every experiment.
    pub sizes: Sizes,
    /// `executors=N`: at most N APs run the call loops and take the
    /// interference; every other AP waits in `hlt` and answers, and is
    /// audited in, every sync round. None: every AP that can (all but
    /// the watcher).
    pub executors: Option<usize>,
}

impl<'a> Options<'a> {
    /// Parses a whole command line. The first bad word is the error.
    pub fn parse(line: &'a str) -> Result<Options<'a>, CmdlineError<'a>> {
        let mut o = Options::default();
        for w in line.split_ascii_whitespace() {
            match w.split_once('=') {
                None if w == "nobp" => o.nobp = true,
                None if w == "xapic" => o.xapic = true,
                None if w == "hold" => o.hold = true,
                Some(("tsc", "pit")) => o.tsc_pit = true,
                Some(("tsc", "skew")) => o.tsc_skew = true,
                Some(("tsc", v)) => return Err(CmdlineError::BadTsc(v)),
                Some(("cpus", n)) => {
                    o.cpus = Some(
                        n.parse()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or(CmdlineError::BadNumber(w))?,
                    )
                }
                Some(("control", name)) => {
                    o.control =
                        Some(Control::from_name(name).ok_or(CmdlineError::UnknownControl(name))?)
                }
                Some(("exp", list)) => {
                    if list.split(EXP_LIST_SEPARATOR).any(str::is_empty) {
                        return Err(CmdlineError::EmptyGlob(w));
                    }
                    o.experiments = Some(list)
                }
                Some(("break", name)) => {
                    o.sabotage =
                        Some(Sabotage::from_name(name).ok_or(CmdlineError::UnknownSabotage(name))?)
                }
                Some(("settle", v)) => {
                    o.settle = Settle::from_name(v).ok_or(CmdlineError::BadSettle(v))?
                }
                Some(("claim", v)) => {
                    o.claim = Claim::from_name(v).ok_or(CmdlineError::BadClaim(v))?
                }
                Some(("poke", v)) => o.poke = Poke::from_name(v).ok_or(CmdlineError::BadPoke(v))?,
                Some(("ghost", v)) => {
                    o.ghost = Ghost::from_name(v).ok_or(CmdlineError::BadGhost(v))?
                }
                Some(("keys", n)) => o.sizes.keys = in_range(w, n, KEYS_RANGE)?,
                Some(("sites", n)) => o.sizes.sites = in_range(w, n, SITES_RANGE)?,
                Some(("targets", n)) => o.sizes.targets = in_range(w, n, TARGETS_RANGE)?,
                Some(("executors", n)) => o.executors = Some(in_range(w, n, EXECUTORS_RANGE)?),
                Some(("ms", n)) => o.exp_ms = Some(in_range(w, n, MS_RANGE)? as u64),
                Some(("seed", n)) => {
                    let v = match n.strip_prefix("0x") {
                        Some(hex) => u64::from_str_radix(hex, 16),
                        None => n.parse(),
                    };
                    o.seed = Some(v.map_err(|_| CmdlineError::BadNumber(w))?)
                }
                _ => return Err(CmdlineError::UnknownWord(w)),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_line_means_the_defaults() {
        assert_eq!(Options::parse(""), Ok(Options::default()));
    }

    #[test]
    fn every_control_name_round_trips() {
        for c in Control::ALL {
            let line = match c {
                Control::Ud2Ap => "control=ud2-ap",
                Control::WriteText => "control=write-text",
                Control::ExecData => "control=exec-data",
                Control::Hang => "control=hang",
            };
            assert_eq!(Options::parse(line).unwrap().control, Some(c), "{line}");
        }
    }

    #[test]
    fn executors_is_a_count_from_one_and_a_bad_one_is_named() {
        extern crate std;
        assert_eq!(Options::parse("executors=4").unwrap().executors, Some(4));
        assert_eq!(Options::parse("").unwrap().executors, None);
        for bad in [
            "executors=0",
            "executors=1024",
            "executors=",
            "executors=all",
        ] {
            assert!(Options::parse(bad).is_err(), "{bad}");
        }
        let msg = std::format!("{}", Options::parse("executors=0").unwrap_err());
        assert_eq!(msg, "\"executors=0\": out of range, 1..=1023 allowed");
    }

    #[test]
    fn a_seed_is_decimal_or_hex_and_a_bad_one_is_named() {
        assert_eq!(Options::parse("seed=42").unwrap().seed, Some(42));
        assert_eq!(Options::parse("seed=0x2a").unwrap().seed, Some(42));
        assert_eq!(Options::parse("").unwrap().seed, None);
        for bad in ["seed=", "seed=-1", "seed=0xzz", "seed=18446744073709551616"] {
            assert_eq!(
                Options::parse(bad),
                Err(CmdlineError::BadNumber(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn flags_and_values_combine() {
        let o = Options::parse("  nobp tsc=pit xapic hold exp=int3/* ms=250 ").unwrap();
        assert!(o.nobp && o.tsc_pit && o.xapic && o.hold);
        assert_eq!(o.experiments, Some("int3/*"));
        assert_eq!(o.exp_ms, Some(250));
    }

    #[test]
    fn unknown_words_and_controls_are_named_in_the_error() {
        assert_eq!(
            Options::parse("nobp frobnicate"),
            Err(CmdlineError::UnknownWord("frobnicate"))
        );
        assert_eq!(
            Options::parse("control=explode"),
            Err(CmdlineError::UnknownControl("explode"))
        );
        assert_eq!(
            Options::parse("ms=soon"),
            Err(CmdlineError::BadNumber("ms=soon"))
        );
    }

    #[test]
    fn cpus_limits_the_cpu_count_and_refuses_zero_and_words() {
        assert_eq!(Options::parse("cpus=255").unwrap().cpus, Some(255));
        assert_eq!(Options::parse("").unwrap().cpus, None);
        for bad in ["cpus=0", "cpus=many", "cpus=", "cpus=-1"] {
            assert_eq!(
                Options::parse(bad),
                Err(CmdlineError::BadNumber(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn tsc_skew_and_tsc_pit_are_separate_words() {
        let o = Options::parse("tsc=skew").unwrap();
        assert!(o.tsc_skew && !o.tsc_pit);
        let o = Options::parse("tsc=pit tsc=skew").unwrap();
        assert!(o.tsc_skew && o.tsc_pit);
        assert_eq!(
            Options::parse("tsc=fast"),
            Err(CmdlineError::BadTsc("fast"))
        );
    }

    #[test]
    fn poke_takes_flush_and_keep_and_flushes_by_default() {
        extern crate std;
        assert_eq!(Options::parse("").unwrap().poke, Poke::Flush);
        for c in Poke::ALL {
            let line = std::format!("poke={}", c.name());
            assert_eq!(Options::parse(&line).unwrap().poke, c);
        }
        assert_eq!(
            Options::parse("poke=Flush"),
            Err(CmdlineError::BadPoke("Flush"))
        );
    }

    #[test]
    fn ghost_takes_fail_and_retry_and_fails_by_default() {
        extern crate std;
        assert_eq!(Options::parse("").unwrap().ghost, Ghost::Fail);
        for c in Ghost::ALL {
            let line = std::format!("ghost={}", c.name());
            assert_eq!(Options::parse(&line).unwrap().ghost, c);
        }
        assert_eq!(
            Options::parse("ghost=ignore"),
            Err(CmdlineError::BadGhost("ignore"))
        );
        let msg = std::format!("{}", Options::parse("ghost=").unwrap_err());
        assert_eq!(msg, "ghost=\"\": wanted fail or retry");
    }

    #[test]
    fn claim_takes_none_shared_and_percpu_and_names_anything_else() {
        extern crate std;
        assert_eq!(Options::parse("").unwrap().claim, Claim::None);
        for c in Claim::ALL {
            let line = std::format!("claim={}", c.name());
            assert_eq!(Options::parse(&line).unwrap().claim, c);
        }
        for w in ["claim=", "claim=global", "claim=PERCPU"] {
            let e = Options::parse(w).unwrap_err();
            assert!(matches!(e, CmdlineError::BadClaim(_)), "{w}: {e:?}");
            assert!(std::format!("{e}").contains("none, shared or percpu"));
        }
    }

    #[test]
    fn settle_takes_on_off_and_auto_and_names_anything_else() {
        assert_eq!(Options::parse("").unwrap().settle, Settle::Auto);
        for (line, s) in [
            ("settle=auto", Settle::Auto),
            ("settle=on", Settle::On),
            ("settle=off", Settle::Off),
        ] {
            assert_eq!(Options::parse(line).unwrap().settle, s, "{line}");
        }
        assert_eq!(
            Options::parse("settle=maybe"),
            Err(CmdlineError::BadSettle("maybe"))
        );
        assert!(Settle::Auto.applies(true) && !Settle::Auto.applies(false));
        assert!(Settle::On.applies(false) && !Settle::Off.applies(true));
    }

    #[test]
    fn every_sabotage_name_round_trips_and_unknown_ones_are_named() {
        for (i, s) in Sabotage::ALL.into_iter().enumerate() {
            assert_eq!(Sabotage::ALL[s as usize], s, "ALL is in declaration order");
            let mut buf = [0u8; 64];
            let line = {
                let w = b"break=";
                buf[..w.len()].copy_from_slice(w);
                let n = s.name().as_bytes();
                buf[w.len()..w.len() + n.len()].copy_from_slice(n);
                core::str::from_utf8(&buf[..w.len() + n.len()]).unwrap()
            };
            assert_eq!(Options::parse(line).unwrap().sabotage, Some(s), "{line}");
            for other in &Sabotage::ALL[i + 1..] {
                assert_ne!(s.name(), other.name(), "two sabotages share a name");
            }
        }
        assert_eq!(Sabotage::from_name("gap-return"), Some(Sabotage::GapReturn));
        assert_eq!(
            Options::parse("break=nothing"),
            Err(CmdlineError::UnknownSabotage("nothing"))
        );
    }

    #[test]
    fn exp_keeps_a_comma_list_of_globs_as_one_word() {
        let o = Options::parse("exp=naive/*,int3/spin/ipi/qword/self,*/cpuid ms=100").unwrap();
        assert_eq!(
            o.experiments,
            Some("naive/*,int3/spin/ipi/qword/self,*/cpuid"),
            "wanted the whole list, commas included"
        );
        assert_eq!(o.exp_ms, Some(100));
        assert_eq!(Options::parse("exp=*").unwrap().experiments, Some("*"));
    }

    #[test]
    fn every_word_with_a_bad_value_is_refused_naming_the_word_and_the_value() {
        extern crate std;
        use std::string::ToString;
        // (line, what the message must hold, and what else)
        for (line, word, more) in [
            (
                "control=explode",
                "control=\"explode\"",
                "ud2-ap, write-text, exec-data or hang",
            ),
            ("control=", "control=\"\"", "unknown control"),
            ("break=nothing", "break=\"nothing\"", "gap-return-short"),
            ("break=", "break=\"\"", "unknown sabotage"),
            ("settle=maybe", "settle=\"maybe\"", "on, off or auto"),
            ("settle=", "settle=\"\"", "on, off or auto"),
            ("poke=never", "poke=\"never\"", "flush or keep"),
            ("poke=", "poke=\"\"", "flush or keep"),
            ("cpus=0", "\"cpus=0\"", "at least 1"),
            ("cpus=many", "\"cpus=many\"", "number of CPUs"),
            ("cpus=4294967296", "\"cpus=4294967296\"", "number of CPUs"),
            ("ms=soon", "\"ms=soon\"", "milliseconds"),
            ("ms=-1", "\"ms=-1\"", "milliseconds"),
            ("ms=", "\"ms=\"", "milliseconds"),
            ("tsc=fast", "tsc=\"fast\"", "pit or skew"),
            ("tsc=", "tsc=\"\"", "pit or skew"),
            ("exp=", "\"exp=\"", "empty pattern"),
            ("exp=a,,b", "\"exp=a,,b\"", "empty pattern"),
            ("nobp=1", "\"nobp=1\"", "unknown word"),
            ("xapic=on", "\"xapic=on\"", "unknown word"),
            ("hold=yes", "\"hold=yes\"", "unknown word"),
            ("frobnicate", "\"frobnicate\"", "unknown word"),
            ("nobp ms=60 settle=on cpus=0", "\"cpus=0\"", "at least 1"),
        ] {
            let msg = Options::parse(line)
                .map(|o| std::format!("{o:?}"))
                .expect_err(line)
                .to_string();
            assert!(
                msg.contains(word) && msg.contains(more),
                "{line}: wanted {word} and {more:?} in the error, got {msg:?}"
            );
        }
    }

    #[test]
    fn exp_with_an_empty_glob_is_refused_naming_the_word() {
        for w in [
            "exp=",
            "exp=,naive/*",
            "exp=naive/*,",
            "exp=naive/*,,*/cpuid",
        ] {
            assert_eq!(
                Options::parse(w),
                Err(CmdlineError::EmptyGlob(w)),
                "wanted {w:?} refused as an empty glob"
            );
        }
        extern crate std;
        let msg = std::format!("{}", CmdlineError::EmptyGlob("exp=a,"));
        assert!(
            msg.contains("\"exp=a,\"") && msg.contains("empty pattern"),
            "{msg}"
        );
    }

    #[test]
    fn sizes_default_to_two_keys_of_four_sites_and_four_targets() {
        let o = Options::parse("exp=*").unwrap();
        assert_eq!(
            o.sizes,
            Sizes {
                keys: 2,
                sites: 4,
                targets: 4
            }
        );
    }

    #[test]
    fn sites_keys_and_targets_set_the_sizes_within_their_ranges() {
        let o = Options::parse("sites=256 keys=1 targets=2").unwrap();
        assert_eq!(
            o.sizes,
            Sizes {
                keys: 1,
                sites: 256,
                targets: 2
            }
        );
        assert_eq!(Options::parse("sites=1").unwrap().sizes.sites, 1);
        assert_eq!(Options::parse("keys=8").unwrap().sizes.keys, 8);
        assert_eq!(Options::parse("targets=4").unwrap().sizes.targets, 4);
    }

    #[test]
    fn a_size_out_of_range_is_refused_naming_the_word_and_the_range() {
        for (w, range) in [
            ("ms=0", MS_RANGE),
            ("ms=600001", MS_RANGE),
            ("sites=0", SITES_RANGE),
            ("sites=257", SITES_RANGE),
            ("keys=0", KEYS_RANGE),
            ("keys=9", KEYS_RANGE),
            ("targets=1", TARGETS_RANGE),
            ("targets=5", TARGETS_RANGE),
        ] {
            assert_eq!(
                Options::parse(w),
                Err(CmdlineError::OutOfRange { word: w, range }),
                "{w}"
            );
        }
        for w in ["sites=", "sites=many", "keys=-1"] {
            assert_eq!(Options::parse(w), Err(CmdlineError::BadNumber(w)), "{w}");
        }
        extern crate std;
        let msg = std::format!("{}", Options::parse("sites=300").unwrap_err());
        assert_eq!(msg, "\"sites=300\": out of range, 1..=256 allowed");
    }
}
