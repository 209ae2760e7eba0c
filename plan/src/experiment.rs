//! The axes of an experiment, its name, and the registry of experiments.
//!
//! An experiment is one point in the space of the axes of docs/design.md: how the
//! patcher writes (strategy), how a CPU that hits the breakpoint is sent on
//! (handler), how the patcher waits for the other CPUs (sync) and with which
//! serializing instruction they answer, where the operand lies (class), and
//! what else runs meanwhile (interference). Plus what the harness expects of
//! it ([`Expectation`]) and whether it needs a boot of its own.
//!
//! # Names
//!
//! Every experiment has one canonical name, the axes joined by `/`:
//!
//! ```text
//! strategy/handler/sync/class[/interference][/serialize][/shape]
//! int3/gap/ipi/cross-line/timer
//! naive/-/none/qword
//! int3/gap/ipi/qword/cpuid
//! int3-batch/gap/ipi/qword/timer/null
//! ```
//!
//! The handler is `-` for strategies without a breakpoint; the interference
//! is left out when `none`, the serializing instruction when `iret`, the
//! shape when `call` (the defaults are never written, so each experiment
//! has exactly one name).
//! [`parse_name`] reads names back and says which part is wrong;
//! [`glob_match`] selects experiments with `*` and `?` patterns, and
//! [`glob_list_match`] with a comma-separated list of them. Names are
//! formatted without allocating ([`Name`], or `Display`).

use crate::layout::SiteClass;
use crate::planner::PlanError;
use core::fmt;

mod glob;
mod suite;

pub use glob::{empty_glob, glob_list_match, glob_match, LIST_SEPARATOR};
pub use suite::DEFAULT_SUITE;

named_enum! {
    /// How the patcher rewrites the patch points of a key.
    pub enum Strategy {
        /// Linux's three phases: `int3` over the opcode, sync, the operand,
        /// sync, the opcode back, sync; one site at a time.
        Int3 = "int3",
        /// The same three phases for every site of the key at once; the
        /// handler finds the site in a sorted table.
        Int3Batch = "int3-batch",
        /// The same three phases for every site of every key at once, each
        /// key to its own target (Linux's queued batch,
        /// `text_poke_queue`): the handler's sorted table holds different
        /// destinations side by side.
        Int3Queue = "int3-queue",
        /// Josh's v3: one 4-byte store of the operand, no breakpoint.
        Atomic = "atomic",
        /// The operand byte by byte, no breakpoint: a negative control.
        Naive = "naive",
        /// Sites call a trampoline `jmp`, patched with the `int3` phases.
        OutoflineInt3 = "outofline-int3",
        /// Sites call a trampoline `jmp`, patched with one 4-byte store.
        OutoflineAtomic = "outofline-atomic",
        /// Linux's `text_poke_early`, for code no other CPU runs (at
        /// boot): the operand byte by byte in place, with interrupts off,
        /// then a serializing instruction on the patching CPU. No
        /// executor runs; the patching CPU's own interrupt (`self`) calls
        /// the sites, and must never find one half written.
        Early = "early",
    }
}

impl Strategy {
    /// Whether the strategy writes `int3` (and so needs a [`Handler`]).
    pub const fn needs_bp(self) -> bool {
        matches!(
            self,
            Strategy::Int3 | Strategy::Int3Batch | Strategy::Int3Queue | Strategy::OutoflineInt3
        )
    }

    /// Whether only a trampoline is patched (see [`crate::layout`]).
    pub const fn outofline(self) -> bool {
        matches!(self, Strategy::OutoflineInt3 | Strategy::OutoflineAtomic)
    }
}

named_enum! {
    /// How the #BP handler sends on a CPU that hit a site being patched.
    pub enum Handler {
        /// The #BP entry leaves a gap under the hardware frame; the handler
        /// pushes the return address on the interrupted stack (Linux).
        Gap = "gap",
        /// Per-CPU slots hold return address and target; the handler returns
        /// into `push ret; jmp target`, with `sti` in the shadow if IF was
        /// set (Linus).
        Trampoline = "trampoline",
        /// Return address in R10, target in R11; return into
        /// `push r10; jmp r11` (Nadav).
        R10r11 = "r10r11",
        /// Return to the site and execute it again until the patch is done.
        Retry = "retry",
        /// Spin in the handler until the patch completes (hpa); deadlocks
        /// when the patching CPU itself hits the site.
        Spin = "spin",
        /// hpa's refinement: spin for a bounded time, and only off the
        /// patching CPU; then cancel the cover (the old opcode back, the
        /// patcher covers again) while it is not yet synced, or finish
        /// the site's patch once it is.
        SpinBounded = "spin-bounded",
    }
}

named_enum! {
    /// How the patcher makes every other CPU serialize after a phase.
    pub enum SyncMode {
        /// IPI every other online CPU; each serializes and acknowledges.
        Ipi = "ipi",
        /// A mask of online CPUs; each clears its bit at a serializing
        /// point, the last one out ends the phase (hpa).
        Cpumask = "cpumask",
        /// No sync: a control.
        None = "none",
    }
}

named_enum! {
    /// The serializing instruction a CPU executes when it syncs.
    pub enum Serializer {
        /// IRET to self (Linux: CPUID exits to the hypervisor).
        Iret = "iret",
        /// CPUID.
        Cpuid = "cpuid",
        /// MOV to CR2.
        MovCr2 = "mov-cr2",
        /// SERIALIZE (where the CPU has it).
        Serialize = "serialize",
    }
}

named_enum! {
    /// What else runs while the key is patched.
    pub enum Interference {
        /// Nothing.
        None = "none",
        /// LAPIC timer interrupts on the executing CPUs.
        Timer = "timer",
        /// NMIs on the executing CPUs.
        Nmi = "nmi",
        /// NMIs whose handler calls a site being patched: a #BP nests in an
        /// NMI, where IF = 0 does not hold the NMI off.
        NmiSite = "nmi-site",
        /// An interrupt on the patching CPU whose handler calls a site being
        /// patched (Linus's counter-example to `spin`).
        SelfSite = "self",
        /// LAPIC timer interrupts on the executing CPUs whose handler calls
        /// a site of the key being patched: a maskable interrupt nested in
        /// an emulated call (what the `trampoline` handler's STI shadow is
        /// for).
        TimerSite = "timer-site",
    }
}

named_enum! {
    /// What a patch point holds between patches: the instructions the key
    /// moves between.
    pub enum Shape {
        /// A `call rel32` to one of the key's targets, retargeted to
        /// another (`static_call_update(key, func)`).
        Call = "call",
        /// Each patch moves a site to a target's `call` or to the 5-byte
        /// NOP (`0F 1F 44 00 00`) and back: `static_call_update(key,
        /// NULL)`. A call through a NOP site runs no target: its stub's
        /// tail returns with EAX untouched ([`crate::encode`]).
        Null = "null",
        /// Linux's jump labels: each site's point moves between a `jmp`
        /// to the site's own label and the 5-byte NOP, so a batch sends
        /// its sites to as many destinations as it has sites (no other
        /// shape does). The label returns its own id
        /// ([`crate::layout::label_id`]) with EDX cleared; through the
        /// NOP the stub's tail runs, as for `null`.
        Jump = "jump",
        /// The 2-byte jump labels Linux uses where the label is in reach:
        /// `jmp rel8` (`EB xx`) <-> `66 90`. Here each is followed by a
        /// 3-byte NOP, so the point is 5 bytes of which 2 change; a CPU
        /// that traps on a disabled label goes on at the NOP after it.
        Jump8 = "jump8",
        /// Each patch moves a site to a target's `call` or to
        /// `__static_call_return0` and back, as Linux writes it: `cs cs
        /// cs xor eax, eax` ([`crate::encode::XOR5RAX`]) in memory, and an
        /// emulated call to a function that returns 0 for a CPU that
        /// traps meanwhile. Either returns 0 into the stub's tail.
        Ret0 = "ret0",
    }
}

impl Shape {
    /// What a call through a site of this shape may return
    /// ([`crate::encode::returned`]).
    pub const fn return_rules(self) -> crate::encode::ReturnRules {
        crate::encode::ReturnRules {
            nop: matches!(self, Shape::Null | Shape::Jump | Shape::Jump8),
            labels: matches!(self, Shape::Jump | Shape::Jump8),
            ret0: matches!(self, Shape::Ret0),
        }
    }

    /// Whether `strategy` can patch this shape with the proof that no
    /// torn instruction runs ([`crate::planner`]): a `call` everywhere;
    /// the others only under the in-line `int3` strategies, whose covered
    /// states all begin with `CC`. A torn `call` (or `jmp`) <-> NOP is
    /// `E8` (`E9`) with part of the NOP's operand, or `0F` with part of
    /// the other's: any two-byte opcode, which no placement of targets
    /// makes trap; a torn `call` <-> `XOR5RAX` likewise.
    pub const fn fits(self, strategy: Strategy) -> bool {
        match self {
            Shape::Call => true,
            Shape::Null | Shape::Jump | Shape::Jump8 | Shape::Ret0 => matches!(
                strategy,
                Strategy::Int3 | Strategy::Int3Batch | Strategy::Int3Queue
            ),
        }
    }
}

named_enum! {
    /// What the harness expects of an experiment (docs/design.md, section 2).
    pub enum Expectation {
        /// No failure may occur.
        MustPass = "must-pass",
        /// A failure must be detected; if none is, the harness is blind.
        NegativeControl = "negative-control",
        /// The run must deadlock, and the watchdog must say so.
        ExpectDeadlock = "expect-deadlock",
        /// The outcome is a finding, reported with counts and a bound.
        Observe = "observe",
    }
}

named_enum! {
    /// One axis of an experiment's name, for error messages.
    pub enum Axis {
        /// [`Strategy`].
        Strategy = "strategy",
        /// [`Handler`].
        Handler = "handler",
        /// [`SyncMode`].
        Sync = "sync",
        /// [`SiteClass`].
        Class = "class",
        /// [`Interference`].
        Interference = "interference",
        /// [`Serializer`].
        Serialize = "serializing instruction",
        /// [`Shape`].
        Shape = "shape",
    }
}

impl Axis {
    /// The canonical names of the axis's values (for the handler, `-` is
    /// also accepted).
    pub const fn names(self) -> &'static [&'static str] {
        match self {
            Axis::Strategy => Strategy::NAMES,
            Axis::Handler => Handler::NAMES,
            Axis::Sync => SyncMode::NAMES,
            Axis::Class => SiteClass::NAMES,
            Axis::Interference => Interference::NAMES,
            Axis::Serialize => Serializer::NAMES,
            Axis::Shape => Shape::NAMES,
        }
    }
}

/// The axes of an experiment: what its name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Axes {
    /// How the patcher writes.
    pub strategy: Strategy,
    /// The #BP handler; `None` (written `-`) for strategies without `int3`.
    pub handler: Option<Handler>,
    /// How the patcher syncs.
    pub sync: SyncMode,
    /// Where the patched operand lies.
    pub class: SiteClass,
    /// What else runs.
    pub interference: Interference,
    /// The serializing instruction of a sync.
    pub serialize: Serializer,
    /// What the patch points move between.
    pub shape: Shape,
}

impl Axes {
    /// The canonical name.
    pub fn name(&self) -> Name {
        let mut n = Name::new();
        // A name never exceeds NAME_CAPACITY (tested over every combination).
        let _ = fmt::write(&mut n, format_args!("{self}"));
        n
    }

    /// Checks that the handler is given iff the strategy uses `int3`, and
    /// that the strategy fits the shape ([`Shape::fits`]; `spin-bounded`
    /// restores and finishes one opcode for every point of a pass, so it
    /// patches calls only).
    pub fn validate(&self) -> Result<(), NameError> {
        if !self.shape.fits(self.strategy)
            || (self.shape != Shape::Call && self.handler == Some(Handler::SpinBounded))
        {
            return Err(NameError::ShapeNotUsed {
                shape: self.shape,
                strategy: self.strategy,
                handler: self.handler,
            });
        }
        match (self.strategy.needs_bp(), self.handler) {
            (true, None) => Err(NameError::HandlerMissing {
                strategy: self.strategy,
            }),
            (false, Some(handler)) => Err(NameError::HandlerNotUsed {
                strategy: self.strategy,
                handler,
            }),
            _ if self.strategy == Strategy::Early
                && (self.sync != SyncMode::None || self.interference != Interference::SelfSite) =>
            {
                Err(NameError::EarlyNotAlone {
                    sync: self.sync,
                    interference: self.interference,
                })
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let handler = self.handler.map_or("-", Handler::name);
        write!(
            f,
            "{}/{}/{}/{}",
            self.strategy, handler, self.sync, self.class
        )?;
        if self.interference != Interference::None {
            write!(f, "/{}", self.interference)?;
        }
        if self.serialize != Serializer::Iret {
            write!(f, "/{}", self.serialize)?;
        }
        if self.shape != Shape::Call {
            write!(f, "/{}", self.shape)?;
        }
        Ok(())
    }
}

/// One experiment of a suite: its axes, what is expected of it, and how it
/// must be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Experiment {
    /// How the patcher writes.
    pub strategy: Strategy,
    /// The #BP handler; `None` for strategies without `int3`.
    pub handler: Option<Handler>,
    /// How the patcher syncs.
    pub sync: SyncMode,
    /// The serializing instruction of a sync.
    pub serialize: Serializer,
    /// Where the patched operand lies.
    pub class: SiteClass,
    /// What else runs.
    pub interference: Interference,
    /// What the patch points move between.
    pub shape: Shape,
    /// What the harness expects.
    pub expectation: Expectation,
    /// Whether it runs in a boot of its own: its expected outcome (a
    /// deadlock) ends the boot and would take later experiments with it.
    pub own_boot: bool,
}

impl Experiment {
    /// An experiment with these axes, interference `none`, serializing with
    /// `iret`, expected to pass, sharing a boot. Adjust with the `with_*`
    /// methods.
    pub const fn new(
        strategy: Strategy,
        handler: Option<Handler>,
        sync: SyncMode,
        class: SiteClass,
    ) -> Self {
        Experiment {
            strategy,
            handler,
            sync,
            serialize: Serializer::Iret,
            class,
            interference: Interference::None,
            shape: Shape::Call,
            expectation: Expectation::MustPass,
            own_boot: false,
        }
    }

    /// The same, with interference `i`.
    pub const fn with_interference(mut self, i: Interference) -> Self {
        self.interference = i;
        self
    }

    /// The same, with shape `s`.
    pub const fn with_shape(mut self, s: Shape) -> Self {
        self.shape = s;
        self
    }

    /// The same, serializing with `s`.
    pub const fn with_serialize(mut self, s: Serializer) -> Self {
        self.serialize = s;
        self
    }

    /// The same, expecting `e`.
    pub const fn with_expectation(mut self, e: Expectation) -> Self {
        self.expectation = e;
        self
    }

    /// The same, in a boot of its own.
    pub const fn with_own_boot(mut self) -> Self {
        self.own_boot = true;
        self
    }

    /// Whether the experiment writes `int3` (and so takes #BP).
    pub const fn needs_bp(&self) -> bool {
        self.strategy.needs_bp()
    }

    /// The axes (what the name says).
    pub const fn axes(&self) -> Axes {
        Axes {
            strategy: self.strategy,
            handler: self.handler,
            sync: self.sync,
            class: self.class,
            interference: self.interference,
            serialize: self.serialize,
            shape: self.shape,
        }
    }

    /// The canonical name.
    pub fn name(&self) -> Name {
        self.axes().name()
    }

    /// Places the object under test for this experiment: its class, in line
    /// or out of line as the strategy says, in its shape (jump labels, or
    /// `__static_call_return0` in the NOP's place), with the shape's
    /// proof ([`crate::planner::verify_shape`]) for every shape but
    /// `call`, whose proof [`crate::planner::plan`] makes.
    pub fn plan(
        &self,
        keys: usize,
        sites_per_key: usize,
        targets_per_key: usize,
    ) -> Result<crate::layout::ArenaPlan, PlanError> {
        let p = crate::planner::plan(
            keys,
            sites_per_key,
            targets_per_key,
            self.class,
            self.strategy.outofline(),
        )?;
        let p = match self.shape {
            Shape::Call => return Ok(p),
            Shape::Null => Some(p),
            Shape::Jump => p.with_jump_labels(false),
            Shape::Jump8 => p.with_jump_labels(true),
            Shape::Ret0 => p.with_ret0(),
        }
        .ok_or(PlanError::OutOfLineShape)?;
        crate::planner::verify_shape(&p).map_err(PlanError::Shape)?;
        Ok(p)
    }
}

impl fmt::Display for Experiment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.axes().fmt(f)
    }
}

/// Room for the longest name
/// (67 bytes: `outofline-int3/spin-bounded/cpumask/cross-page/timer-site/serialize`;
/// a shape adds at most 5, to a strategy at least 4 shorter).
pub const NAME_CAPACITY: usize = 80;

/// A formatted name, on the stack.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Name {
    buf: [u8; NAME_CAPACITY],
    len: usize,
}

impl Name {
    const fn new() -> Name {
        Name {
            buf: [0; NAME_CAPACITY],
            len: 0,
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever appended (`write_str`).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for Name {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > NAME_CAPACITY {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl core::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A copy of (the start of) the offending part of a name, so that
/// [`NameError`] owns what it quotes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Snippet {
    buf: [u8; 32],
    len: usize,
    truncated: bool,
}

impl Snippet {
    fn of(s: &str) -> Snippet {
        let mut len = s.len().min(32);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut buf = [0; 32];
        buf[..len].copy_from_slice(&s.as_bytes()[..len]);
        Snippet {
            buf,
            len,
            truncated: len < s.len(),
        }
    }

    /// The text kept (up to 32 bytes).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl fmt::Display for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Snippet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

/// Why a name is not an experiment's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// Not 4 to 6 parts separated by `/`.
    Parts {
        /// How many parts there were.
        found: usize,
    },
    /// A part is no value of its axis.
    Unknown {
        /// The axis expected at that place.
        axis: Axis,
        /// The part.
        text: Snippet,
    },
    /// The fifth part is neither an interference nor a serializing
    /// instruction (nor, when it is the last, a shape).
    UnknownTail {
        /// The part.
        text: Snippet,
    },
    /// An interference after the serializing instruction.
    Misplaced {
        /// The part.
        text: Snippet,
    },
    /// Something other than an interference after the serializing
    /// instruction.
    Trailing {
        /// The part.
        text: Snippet,
    },
    /// A default (`none` interference, `iret`) written out: names leave
    /// defaults out, so that each experiment has one name.
    DefaultWritten {
        /// The axis.
        axis: Axis,
    },
    /// A strategy with `int3` given `-` for handler.
    HandlerMissing {
        /// The strategy.
        strategy: Strategy,
    },
    /// A shape the strategy or handler cannot patch ([`Shape::fits`]).
    ShapeNotUsed {
        /// The shape.
        shape: Shape,
        /// The strategy.
        strategy: Strategy,
        /// The handler.
        handler: Option<Handler>,
    },
    /// `early` with a sync other than `none` or an interference other
    /// than `self`: it runs on the patching CPU alone.
    EarlyNotAlone {
        /// The sync given.
        sync: SyncMode,
        /// The interference given.
        interference: Interference,
    },
    /// A strategy without `int3` given a handler.
    HandlerNotUsed {
        /// The strategy.
        strategy: Strategy,
        /// The handler given.
        handler: Handler,
    },
}

/// Writes `` `a`, `b`, `c` `` for an axis.
fn one_of(f: &mut fmt::Formatter<'_>, axis: Axis) -> fmt::Result {
    for (n, name) in axis.names().iter().enumerate() {
        if n > 0 {
            f.write_str(", ")?;
        }
        write!(f, "`{name}`")?;
    }
    if axis == Axis::Handler {
        f.write_str(", `-` (no breakpoint)")?;
    }
    Ok(())
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Parts { found } => write!(
                f,
                "an experiment name is \
                 strategy/handler/sync/class[/interference][/serialize][/shape], \
                 4 to 7 parts; found {found}"
            ),
            NameError::Unknown { axis, text } => {
                write!(f, "unknown {axis} `{text}`; one of ")?;
                one_of(f, *axis)
            }
            NameError::UnknownTail { text } => {
                write!(f, "`{text}` is neither an interference (")?;
                one_of(f, Axis::Interference)?;
                f.write_str("), a serializing instruction (")?;
                one_of(f, Axis::Serialize)?;
                f.write_str(") nor, as the last part, a shape (")?;
                one_of(f, Axis::Shape)?;
                f.write_str(")")
            }
            NameError::Misplaced { text } => write!(
                f,
                "interference `{text}` must come before the serializing instruction"
            ),
            NameError::Trailing { text } => write!(
                f,
                "nothing may follow the serializing instruction; found `{text}`"
            ),
            NameError::DefaultWritten { axis } => {
                let default = match axis {
                    Axis::Interference => Interference::None.name(),
                    Axis::Shape => Shape::Call.name(),
                    _ => Serializer::Iret.name(),
                };
                write!(
                    f,
                    "{axis} `{default}` is the default and is left out of names"
                )
            }
            NameError::HandlerMissing { strategy } => {
                write!(
                    f,
                    "`{strategy}` writes int3 and needs a handler, not `-`; one of "
                )?;
                for (n, h) in Handler::NAMES.iter().enumerate() {
                    write!(f, "{}`{h}`", if n > 0 { ", " } else { "" })?;
                }
                Ok(())
            }
            NameError::ShapeNotUsed {
                shape,
                strategy,
                handler,
            } => {
                if shape.fits(*strategy) {
                    write!(
                        f,
                        "shape `{shape}` is not patched with handler `{}` (it restores one \
                         opcode for every point); any other handler",
                        handler.map_or("-", Handler::name)
                    )
                } else {
                    write!(
                        f,
                        "shape `{shape}` is patched only by `int3`, `int3-batch` and \
                         `int3-queue` (a torn call or jmp <-> NOP or xor can decode as anything), \
                         not by `{strategy}`"
                    )
                }
            }
            NameError::HandlerNotUsed { strategy, handler } => write!(
                f,
                "`{strategy}` writes no int3: its handler is written `-`, not `{handler}`"
            ),
            NameError::EarlyNotAlone { sync, interference } => {
                f.write_str("`early` runs on the patching CPU alone: ")?;
                if *sync != SyncMode::None {
                    write!(f, "its sync is `none`, not `{sync}`; ")?;
                }
                if *interference != Interference::SelfSite {
                    write!(f, "its interference is `self`, not `{interference}`; ")?;
                }
                f.write_str("the CPU's own interrupt calls the sites")
            }
        }
    }
}

impl core::error::Error for NameError {}

/// Reads a canonical name back into its axes.
pub fn parse_name(name: &str) -> Result<Axes, NameError> {
    let mut parts = [""; 7];
    let mut found = 0;
    for part in name.split('/') {
        if found < parts.len() {
            parts[found] = part;
        }
        found += 1;
    }
    if !(4..=7).contains(&found) {
        return Err(NameError::Parts { found });
    }
    // The shape, last when written.
    let shape = match Shape::parse(parts[found - 1]).filter(|_| found > 4) {
        Some(Shape::Call) => {
            return Err(NameError::DefaultWritten { axis: Axis::Shape });
        }
        Some(s) => {
            found -= 1;
            s
        }
        None if found == 7 => return Err(NameError::Parts { found }),
        None => Shape::Call,
    };
    let unknown = |axis, text| NameError::Unknown {
        axis,
        text: Snippet::of(text),
    };
    let strategy = Strategy::parse(parts[0]).ok_or_else(|| unknown(Axis::Strategy, parts[0]))?;
    let handler = match parts[1] {
        "-" => None,
        h => Some(Handler::parse(h).ok_or_else(|| unknown(Axis::Handler, h))?),
    };
    let sync = SyncMode::parse(parts[2]).ok_or_else(|| unknown(Axis::Sync, parts[2]))?;
    let class = SiteClass::parse(parts[3]).ok_or_else(|| unknown(Axis::Class, parts[3]))?;
    let mut axes = Axes {
        strategy,
        handler,
        sync,
        class,
        interference: Interference::None,
        serialize: Serializer::Iret,
        shape,
    };
    let mut tail = parts[4..found].iter();
    if let Some(&part) = tail.next() {
        if let Some(i) = Interference::parse(part) {
            axes.interference = i;
            if i == Interference::None {
                return Err(NameError::DefaultWritten {
                    axis: Axis::Interference,
                });
            }
            if let Some(&last) = tail.next() {
                axes.serialize = parse_serializer(last)?;
            }
        } else if let Some(s) = Serializer::parse(part) {
            if s == Serializer::Iret {
                return Err(NameError::DefaultWritten {
                    axis: Axis::Serialize,
                });
            }
            axes.serialize = s;
            if let Some(&last) = tail.next() {
                return Err(if Interference::parse(last).is_some() {
                    NameError::Misplaced {
                        text: Snippet::of(last),
                    }
                } else {
                    NameError::Trailing {
                        text: Snippet::of(last),
                    }
                });
            }
        } else {
            return Err(NameError::UnknownTail {
                text: Snippet::of(part),
            });
        }
    }
    axes.validate()?;
    Ok(axes)
}

/// The serializing instruction in the sixth part of a name.
fn parse_serializer(part: &str) -> Result<Serializer, NameError> {
    match Serializer::parse(part) {
        Some(Serializer::Iret) => Err(NameError::DefaultWritten {
            axis: Axis::Serialize,
        }),
        Some(s) => Ok(s),
        None => Err(NameError::Unknown {
            axis: Axis::Serialize,
            text: Snippet::of(part),
        }),
    }
}

/// The experiment of [`DEFAULT_SUITE`] named `name` (canonical name).
pub fn find(name: &str) -> Option<&'static Experiment> {
    find_in(DEFAULT_SUITE, name)
}

/// The experiment of `suite` named `name`.
pub fn find_in<'s>(suite: &'s [Experiment], name: &str) -> Option<&'s Experiment> {
    let axes = parse_name(name).ok()?;
    suite.iter().find(|e| e.axes() == axes)
}

/// The experiments of [`DEFAULT_SUITE`] whose names match the glob
/// `pattern`, or any glob of a comma-separated list of them
/// ([`glob_list_match`]), in suite order and each once.
pub fn matching(pattern: &str) -> impl Iterator<Item = &'static Experiment> + '_ {
    matching_in(DEFAULT_SUITE, pattern)
}

/// The experiments of `suite` whose names match the glob `pattern` (or any
/// glob of a comma-separated list), in suite order and each once.
pub fn matching_in<'s, 'p>(
    suite: &'s [Experiment],
    pattern: &'p str,
) -> impl Iterator<Item = &'s Experiment> + 'p
where
    's: 'p,
{
    suite
        .iter()
        .filter(move |e| glob_list_match(pattern, &e.name()))
}

#[cfg(test)]
mod tests;
