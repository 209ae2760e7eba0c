//! When a stray `int3` is *stale*: the CPU executed an `int3` that memory
//! no longer held after the CPU had serialized past its removal. x86
//! forbids that, so a stale `int3` is the (virtual) CPU's failure, not the
//! patch protocol's, and the harness may excuse it where that failure is
//! known (docs/design.md, section 5). A real protocol failure (the #BP
//! table withdrawn too early, a CPU sent into the middle of an
//! instruction) must never be called stale. [`classify`] decides;
//! [`check`] runs it in every interleaving of a model of the patcher and
//! the handler, so that `cargo test` shows it never calls a trap stale
//! falsely, and that each of the mistakes it guards against would.
//!
//! # The claim and its evidence
//!
//! A trap at `addr` is stale when memory no longer held `CC` at `addr`,
//! and this CPU had acknowledged a sync round that began after the `CC`
//! was removed. What the kernel (`kernel/src/bp.rs`) reads to show it:
//!
//! ```text
//!   patcher (the BSP), phase 3               handler (the trapping CPU)
//!   --------------------------               --------------------------
//!   W1 slot[line] = current round R          H1 byte = memory at addr
//!      fence(Release) ---------------.          fence(Acquire)
//!   W2 write the opcode over the `CC`  '---> H2 r = slot[line]   (pairs with W1)
//!   W3 begin round R + 1 (sync)              H3 a = the last round this CPU
//!                                               acknowledged having serialized in,
//!                                               outside an NMI
//!
//!   stale iff addr is the running experiment's patch point of its line,
//!             byte != CC, r was recorded in this experiment, and a > r
//! ```
//!
//! Why it is sound: say H1 read a byte other than `CC`. If the last write
//! that took a `CC` away from `addr` before H1 is a W2 of this experiment,
//! its W1 came first, so H2 reads `R` or a later record (the patcher's
//! stores are seen in order, H's loads are made in order, and both
//! fences keep the compiler from undoing either), and `a > R`: round `a`
//! began after W2 (no round begins between W1 and W2), memory held no `CC`
//! at `addr` from then until H1, and this CPU serialized in round `a`
//! before it trapped. If that last write was not a W2 of this experiment
//! (the arena's install), the slot holds nothing, or a record made after
//! a `CC` that H1 did not see yet, hence no earlier than round `a` (had
//! round `a` begun after that `CC`, this CPU would have seen it at H1), and
//! `a > r` fails. Each condition is needed:
//!
//! * **Record, then write.** Recorded after W2, the slot can still hold the
//!   previous patch's round when H reads the new bytes: a CPU that
//!   rightly trapped on this patch's `CC` looks stale.
//! * **Memory, then the slot.** Read the other way round, the slot can be
//!   the previous patch's and the byte this patch's, with the same effect.
//! * **The line's patch point.** The slot speaks of the writes at one
//!   address. A #BP reported elsewhere on the line (an `int 3` encoded
//!   `CD 03`, a CPU sent into the middle of an instruction) says nothing
//!   about it.
//! * **A slot per experiment.** A round kept from the previous experiment
//!   stands for a write older than the install that laid the arena out
//!   again.
//! * **An acknowledgement made outside an NMI.** H3 must read a round the
//!   CPU acknowledged *before it trapped*. With interrupts off in the
//!   handler, only an NMI can acknowledge in between: one may arrive after
//!   the trap, even before the handler's first instruction, and a `spin`
//!   or `spin-bounded` handler nested in it (its site hit by the NMI's
//!   call) acknowledges rounds for the CPU, the round after the write back
//!   included. Taken as evidence, that round makes a trap on a `CC` that
//!   was still in memory look stale: the patch ended, and the table was
//!   withdrawn, while the outer handler had not yet looked.
//!
//! # The model
//!
//! One patch point, and one other address on its line. The patcher
//! ([`patcher_program`]) runs the install's sync and two patches of the
//! point, each: cover (`CC`), sync, sync (the operand's write leaves the
//! opcode byte alone), record and write back in the order under test,
//! sync. The trapping CPU ([`handler_program`]) may acknowledge the
//! current round once, then takes a #BP at either address, then makes the
//! handler's three reads; an NMI may acknowledge the current round
//! anywhere between the trap and the last read. [`explore`] runs every interleaving of the two
//! programs, exhaustively (they are a few thousand), and compares
//! [`classify`] with the model's ground truth: the trap is at the point,
//! the byte read was not `CC`, and the round the CPU had acknowledged when
//! it trapped began after the last write that took a `CC` away from the
//! point.
//!
//! What the model assumes, and why each is fair:
//!
//! * **Whole steps, interleaved** (sequential consistency). On x86-TSO
//!   each CPU's stores are seen in program order and its loads are made in
//!   program order; the kernel's fences keep the compiler from reordering
//!   W1 after W2 or H2 before H1. TSO's one relaxation, a load passing the
//!   same CPU's earlier store, touches only the trapping CPU's
//!   acknowledgement: a store it reads back itself, and that only makes
//!   the patcher see it later (the model's patcher waits for none).
//! * **The patcher never waits for an acknowledgement**, and a CPU may
//!   acknowledge any round once it has begun, or never: a timed-out sync,
//!   sync `none` and the sabotages that skip a sync are all in it
//!   ([`Protocol::syncs`] takes syncs out).
//! * **Only the patcher begins rounds and records**, and it begins none
//!   between a record and the write it stands for.
//! * **Inside the handler, only an NMI acknowledges** (interrupts are
//!   off; `spin` does its duty only after the classification): one such
//!   acknowledgement, at any point from the trap to the last read, reaches
//!   every value that more could, as one acknowledgement before the trap
//!   does.
//! * **A trap may come at any moment**, at either address: a CPU fetching
//!   a `CC` that is there, a stale translation, a CPU sent astray. The
//!   ground truth judges by memory's history, not by the trap's cause.
//!   Memory never held `CC` at the other address in the model, so no trap
//!   there is truly stale.
//! * **The arena was installed in round [`INSTALL_ROUND`]**: its `CC`
//!   fill gave way to the stub then. The previous experiment recorded
//!   round [`PREVIOUS_ROUND`] for the line; without a reset the slot still
//!   holds it.
//! * Every patch point has a line and a slot of its own, so one point is
//!   enough; the settle step writes the bytes memory already holds, which
//!   removes no `CC`.

use crate::encode::{CALL_OPCODE, INT3};
use core::fmt;

/// What a #BP handler read to judge a stray `int3` (see the module doc
/// for the order of the reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// The trapping address (RIP - 1).
    pub addr: u64,
    /// The running experiment's patch point on `addr`'s line, if the line
    /// has one.
    pub point: Option<u64>,
    /// What memory held at `addr` (H1).
    pub byte: u8,
    /// The line's slot (H2): the round current just before the opcode of
    /// its patch point was last written back in the running experiment, if
    /// it was.
    pub restored_before: Option<u64>,
    /// The last round this CPU acknowledged having serialized in (H3).
    pub acked: u64,
}

/// The evidence that a trap is stale: the rounds that make it so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    /// The round current just before the `CC` was removed.
    pub restored_before: u64,
    /// The later round this CPU had acknowledged.
    pub acked: u64,
}

/// Whether the trap that `r` describes is stale (see the module doc).
pub fn classify(r: &Reading) -> Option<Stale> {
    let restored_before = r.restored_before?;
    (r.point == Some(r.addr) && r.byte != INT3 && r.acked > restored_before).then_some(Stale {
        restored_before,
        acked: r.acked,
    })
}

/// The patch point of the model.
pub const POINT: u64 = crate::layout::SITE_BASE + 7;
/// Another address on the point's line: memory never holds `CC` there.
pub const OTHER: u64 = POINT + 2;
/// What memory holds at [`OTHER`] (as the `03` of a `CD 03` would).
pub const OTHER_BYTE: u8 = 0x03;
/// The round the previous experiment recorded for the point's line.
pub const PREVIOUS_ROUND: u64 = 1;
/// The round during which the arena was installed (the stub replaced the
/// `CC` fill); the model starts in it, this CPU having acknowledged it.
pub const INSTALL_ROUND: u64 = 2;
/// Patches of the point in the patcher's program.
pub const PATCHES: usize = 2;

/// Where the model's #BP is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Site {
    /// At [`POINT`].
    Point,
    /// At [`OTHER`].
    Other,
}

/// One step of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Patcher: writes `CC` over the point's opcode (phase 1).
    Cover,
    /// Patcher: records the current round in the line's slot (W1).
    Record,
    /// Patcher: writes the opcode back over the `CC` (phase 3, W2).
    Uncover,
    /// Patcher: begins the next sync round.
    Begin,
    /// The trapping CPU, before its trap: serializes and acknowledges the
    /// current round.
    Ack,
    /// An NMI on the trapping CPU after its trap: a `spin` handler nested
    /// in it serializes and acknowledges the current round.
    NmiAck,
    /// The trapping CPU takes a #BP reported at the site.
    Trap(Site),
    /// Its handler reads memory at the site (H1).
    ReadByte,
    /// Its handler reads the line's slot (H2).
    ReadSlot,
    /// Its handler reads its own acknowledged round (H3).
    ReadAcked,
}

/// The longest program of either side, and of an interleaving.
pub const MAX_STEPS: usize = PATCHER_MAX + HANDLER_MAX;
const PATCHER_MAX: usize = 1 + PATCHES * 6;
const HANDLER_MAX: usize = 6;

/// A sequence of steps: a program, or an interleaving of two.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Steps {
    buf: [Step; MAX_STEPS],
    len: usize,
}

impl Steps {
    const fn new() -> Steps {
        Steps {
            buf: [Step::Begin; MAX_STEPS],
            len: 0,
        }
    }

    fn then(mut self, s: Step) -> Steps {
        self.buf[self.len] = s;
        self.len += 1;
        self
    }

    /// The steps, in order.
    pub fn as_slice(&self) -> &[Step] {
        &self.buf[..self.len]
    }
}

impl fmt::Debug for Steps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// The choices a protocol makes; [`Protocol::SOUND`] is the kernel's, each
/// other value of a flag one of the mistakes of the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    /// The patcher records the round before it writes the opcode back
    /// (else after).
    pub record_first: bool,
    /// The handler reads memory before the slot (else after).
    pub byte_first: bool,
    /// A trap is stale only at its line's patch point (else the
    /// classification takes every address for one).
    pub point_check: bool,
    /// Every slot is emptied when the experiment begins (else it keeps the
    /// previous experiment's round).
    pub reset: bool,
    /// The handler takes as evidence only acknowledgements made outside an
    /// NMI (else any, an NMI's after the trap included).
    pub plain_evidence: bool,
    /// Which of each patch's syncs the patcher makes: after the cover,
    /// after the operand, after the write back.
    pub syncs: [bool; 3],
}

impl Protocol {
    /// The kernel's protocol.
    pub const SOUND: Protocol = Protocol {
        record_first: true,
        byte_first: true,
        point_check: true,
        reset: true,
        plain_evidence: true,
        syncs: [true; 3],
    };
}

/// The patcher's program under `p` (see the module doc).
pub fn patcher_program(p: &Protocol) -> Steps {
    let sync = |s: Steps, on: bool| if on { s.then(Step::Begin) } else { s };
    // The sync that follows the install.
    let mut s = Steps::new().then(Step::Begin);
    for _ in 0..PATCHES {
        s = s.then(Step::Cover);
        s = sync(s, p.syncs[0]);
        s = sync(s, p.syncs[1]);
        s = if p.record_first {
            s.then(Step::Record).then(Step::Uncover)
        } else {
            s.then(Step::Uncover).then(Step::Record)
        };
        s = sync(s, p.syncs[2]);
    }
    s
}

/// The trapping CPU's program under `p`: an acknowledgement if `ack`, the
/// trap at `site`, the handler's reads, with an NMI's acknowledgement
/// before read `nmi` (0, 1 or 2) if there is one.
pub fn handler_program(p: &Protocol, site: Site, ack: bool, nmi: Option<usize>) -> Steps {
    let mut s = Steps::new();
    if ack {
        s = s.then(Step::Ack);
    }
    s = s.then(Step::Trap(site));
    let reads = if p.byte_first {
        [Step::ReadByte, Step::ReadSlot, Step::ReadAcked]
    } else {
        [Step::ReadSlot, Step::ReadByte, Step::ReadAcked]
    };
    for (i, read) in reads.into_iter().enumerate() {
        if nmi == Some(i) {
            s = s.then(Step::NmiAck);
        }
        s = s.then(read);
    }
    s
}

/// Where an NMI's acknowledgement may come in a handler program: nowhere,
/// or before one of its three reads.
pub const NMI_PLACES: [Option<usize>; 4] = [None, Some(0), Some(1), Some(2)];

/// The state of the model: memory, the patcher's and the CPU's words, the
/// ground truth's history and what the handler has read so far.
#[derive(Clone, Copy)]
struct World {
    /// Memory at [`POINT`].
    byte: u8,
    slot: Option<u64>,
    round: u64,
    /// The last round this CPU acknowledged, inside an NMI or not.
    acked: u64,
    /// The last round it acknowledged outside an NMI.
    plain_acked: u64,
    /// `plain_acked` when it trapped (the ground truth's).
    acked_at_trap: u64,
    /// The round current when a `CC` was last taken away from the point.
    removed_at: Option<u64>,
    site: Site,
    seen_byte: u8,
    /// `removed_at` when the handler read memory.
    seen_removed_at: Option<u64>,
    seen_slot: Option<u64>,
    seen_acked: u64,
}

impl World {
    fn start(p: &Protocol) -> World {
        World {
            byte: CALL_OPCODE,
            slot: (!p.reset).then_some(PREVIOUS_ROUND),
            round: INSTALL_ROUND,
            acked: INSTALL_ROUND,
            plain_acked: INSTALL_ROUND,
            acked_at_trap: 0,
            removed_at: Some(INSTALL_ROUND),
            site: Site::Point,
            seen_byte: INT3,
            seen_removed_at: None,
            seen_slot: None,
            seen_acked: 0,
        }
    }

    fn after(mut self, step: Step, p: &Protocol) -> World {
        match step {
            Step::Cover => self.byte = INT3,
            Step::Record => self.slot = Some(self.round),
            Step::Uncover => {
                if self.byte == INT3 {
                    self.removed_at = Some(self.round);
                }
                self.byte = CALL_OPCODE;
            }
            Step::Begin => self.round += 1,
            Step::Ack => (self.acked, self.plain_acked) = (self.round, self.round),
            Step::NmiAck => self.acked = self.round,
            Step::Trap(site) => (self.site, self.acked_at_trap) = (site, self.plain_acked),
            Step::ReadByte => {
                (self.seen_byte, self.seen_removed_at) = match self.site {
                    Site::Point => (self.byte, self.removed_at),
                    Site::Other => (OTHER_BYTE, None),
                }
            }
            Step::ReadSlot => self.seen_slot = self.slot,
            Step::ReadAcked => {
                self.seen_acked = if p.plain_evidence {
                    self.plain_acked
                } else {
                    self.acked
                }
            }
        }
        self
    }

    /// The handler's reading, once it has made all three reads.
    fn reading(&self, p: &Protocol) -> Reading {
        let addr = match self.site {
            Site::Point => POINT,
            Site::Other => OTHER,
        };
        Reading {
            addr,
            point: Some(if p.point_check { POINT } else { addr }),
            byte: self.seen_byte,
            restored_before: self.seen_slot,
            acked: self.seen_acked,
        }
    }

    /// The ground truth: memory held no `CC` at the site from the
    /// beginning of the round the CPU had acknowledged when it trapped to
    /// the handler's read, and had held one before.
    fn truly_stale(&self) -> bool {
        self.seen_byte != INT3 && self.seen_removed_at.is_some_and(|r| self.acked_at_trap > r)
    }
}

/// One interleaving, run to the handler's last read.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    /// The steps of both sides, in the order they ran.
    pub trace: Steps,
    /// What the handler read.
    pub reading: Reading,
    /// What [`classify`] made of it.
    pub stale: Option<Stale>,
    /// Whether the trap was stale in truth.
    pub truly_stale: bool,
}

struct Explorer<'a, F> {
    protocol: &'a Protocol,
    patcher: &'a [Step],
    handler: Steps,
    visit: F,
}

impl<F: FnMut(&Run)> Explorer<'_, F> {
    /// Every interleaving of the patcher's steps from `i` and the
    /// handler's from `j`. The patcher's steps after the handler's last
    /// one cannot change what it read, so each run ends there: one run per
    /// interleaving of the two whole programs.
    fn go(&mut self, i: usize, j: usize, w: World, trace: Steps) {
        if j == self.handler.len {
            let reading = w.reading(self.protocol);
            (self.visit)(&Run {
                trace,
                reading,
                stale: classify(&reading),
                truly_stale: w.truly_stale(),
            });
            return;
        }
        if let Some(&s) = self.patcher.get(i) {
            self.go(i + 1, j, w.after(s, self.protocol), trace.then(s));
        }
        let s = self.handler.buf[j];
        self.go(i, j + 1, w.after(s, self.protocol), trace.then(s));
    }
}

/// Calls `visit` with every interleaving of [`patcher_program`] with each
/// [`handler_program`] (trap at either site, with and without an
/// acknowledgement first, with an NMI's at each of [`NMI_PLACES`]).
pub fn explore(p: &Protocol, visit: impl FnMut(&Run)) {
    let patcher = patcher_program(p);
    let mut e = Explorer {
        protocol: p,
        patcher: patcher.as_slice(),
        handler: Steps::new(),
        visit,
    };
    for site in [Site::Point, Site::Other] {
        for ack in [false, true] {
            for nmi in NMI_PLACES {
                e.handler = handler_program(p, site, ack, nmi);
                e.go(0, 0, World::start(p), Steps::new());
            }
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// Interleavings run.
    pub interleavings: u64,
    /// Traps [`classify`] called stale.
    pub classified_stale: u64,
    /// Traps stale in truth.
    pub truly_stale: u64,
    /// Traps called stale that were not: each one a soundness failure.
    pub false_stale: u64,
    /// The first of those.
    pub first_false: Option<Run>,
}

/// Runs [`classify`] in every interleaving of the model under `p` and
/// compares it with the ground truth.
pub fn check(p: &Protocol) -> Verdict {
    let mut v = Verdict {
        interleavings: 0,
        classified_stale: 0,
        truly_stale: 0,
        false_stale: 0,
        first_false: None,
    };
    explore(p, |run| {
        v.interleavings += 1;
        v.classified_stale += run.stale.is_some() as u64;
        v.truly_stale += run.truly_stale as u64;
        if run.stale.is_some() && !run.truly_stale {
            v.false_stale += 1;
            v.first_false.get_or_insert(*run);
        }
    });
    v
}

#[cfg(test)]
mod tests;
