//! Retargeting a key, with each strategy. The BSP runs this.
//!
//! # The int3 protocol (`int3`, `int3-batch`, `outofline-int3`)
//!
//! For the patch points of one key (one at a time for `int3`, all at once
//! for `int3-batch`; a key's trampoline out of line):
//!
//! 1. **Cover.** Publish (point, new destination) in the #BP table, then
//!    write `CC` over each opcode; sync.
//!    An executing CPU sees: the old instruction, or `CC` (#BP: the
//!    handler sends it to the new destination, or retries/spins).
//! 2. **Operand.** Write the 4 new operand bytes behind each `CC`; sync.
//!    An executing CPU sees: `CC` (the operand is never decoded while the
//!    opcode is `CC`).
//! 3. **Uncover.** Write the opcode back over each `CC`; sync; withdraw
//!    the #BP table entries.
//!    An executing CPU sees: `CC`, or the new instruction.
//!
//! The last sync is what makes withdrawing safe: a CPU that fetched `CC`
//! is in its #BP handler with interrupts off until it returns, so it
//! acknowledges the sync only after leaving the handler (or, `spin`, from
//! inside it after the patch is done).
//!
//! # The sync audit
//!
//! Before the writes of steps 2 and 3, before the #BP table is withdrawn,
//! and (other strategies) before a patch counts as complete, the patcher
//! checks what the syncs were for: every other online CPU has acknowledged
//! a round that began after the last write to the window, and had
//! serialized in that round before acknowledging ([`sync::ack_of`]). A CPU
//! that has not is an `unsynced` failure. This sees a missing or partial
//! sync, or an acknowledgement given before serializing, whether or not
//! the machine then runs stale code (under TCG it mostly does not: every
//! store drops the translated code it hits). Experiments with sync `none`
//! skip it.
//!
//! # The others
//!
//! * `atomic` (Josh's v3), `outofline-atomic`: one 4-byte store of each
//!   operand; sync. An executing CPU sees the old or the new operand if the
//!   store is atomic for instruction fetch; anything else is the finding.
//! * `naive` (negative control): the operand byte by byte with a pause
//!   between bytes and no breakpoint. An executing CPU can see any mix;
//!   the planner placed the targets so that every mix traps or faults.
//!
//! # Settling under QEMU's TCG
//!
//! QEMU's multi-threaded translator can keep running a block it translated
//! from bytes that another vCPU was rewriting at that moment, even after
//! the executing vCPU has serialized (seen here: an executor taking #BP at
//! a site whose memory holds `E8` again, hundreds of thousands of times).
//! No guest instruction makes TCG drop a translated block; a store to the
//! bytes does. So where the hypervisor is TCG, every patch ends with a
//! *settle* step: write the final bytes of each point again (the same
//! values; out of line also the stubs that jump there), sync. Hardware and
//! KVM never need it and by default never get it (`settle=auto`);
//! `settle=on` and `settle=off` force it either way, so that its need can be
//! measured on each QEMU. Every `exp` record says whether it ran
//! (`settle=1`).
//!
//! Settling alone is not enough: a write can miss the translator for good
//! when the writer's TLB entry for the page lost QEMU's "code here" flag
//! in a race, and every write through that entry is then unseen (stale
//! code in every later experiment, out-of-line trampolines and cross-page
//! sites first). [`arena::poke`] therefore drops the alias's TLB entry
//! before each byte (`poke=flush`). With both, the `int3` grid and
//! `outofline-int3` ran without stale code on QEMU 7.2 and 10.0; the
//! harness excuses stale code only in runs with one of them off.
//!
//! Every patch checks its precondition (each point holds the instruction
//! to the key's current target) and, through [`arena::poke`], reads every
//! write back (`break=corrupt-site` and `break=poke-elsewhere` show that
//! each check fires).
//!
//! # The per-point window
//!
//! Besides the key's generation (`started`, `completed`), each patch point
//! carries its own: begun before its first write, completed after its last
//! sync. A call through a site is judged against its point's window, so a
//! point whose update is over is held to the new target while the key's
//! other points are still being patched (`int3`, one point at a time);
//! `break=undo-site` is the stale site only that window sees.

use super::{key::KEYS, state};
use crate::{
    arch::{cpu::rdtsc, percpu, tsc},
    arena, bp, smp, sync,
};
use plan::{
    experiment::{Strategy, SyncMode},
    layout::MAX_SITES,
    ArenaPlan,
};
use report::cmdline::Sabotage;

/// Why a patch stopped.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub enum PatchError {
    /// A point did not hold the expected instruction before the patch.
    Precondition {
        /// The point.
        va: u64,
        /// What it held.
        seen: [u8; 5],
    },
    /// A write did not read back.
    Readback(arena::PokeError),
    /// A sync round failed (a CPU did not answer, or its IPI did not go
    /// out).
    Sync(sync::SyncError),
    /// Handlers canceled the cover (`spin-bounded`) every time it was
    /// written, until the experiment's hard deadline: a livelock.
    Canceled {
        /// How many times the cover was written.
        covers: u64,
    },
}

/// TSC ticks spent in each phase of one patch.
#[derive(Default, Clone, Copy)]
pub struct PhaseTicks(pub [u64; 3]);

/// The pause between the bytes of a `naive` write.
const NAIVE_BYTE_GAP_US: u64 = 20;

/// `early`: how long the first new operand byte stands alone.
const EARLY_HOLD_US: u64 = 60;

/// `break=operand-first`: how long each intermediate operand stays in
/// memory at most while the executors go through their sites.
const OPERAND_FIRST_HOLD_US: u64 = 5_000;

/// Where the sync audit runs (see the module doc).
#[derive(Debug, Clone, Copy)]
pub enum Checkpoint {
    /// Before the operand is written (after step 1's sync).
    Operand,
    /// Before the opcode is written back (after step 2's sync).
    Uncover,
    /// Before the #BP table is withdrawn (after step 3's sync).
    Withdraw,
    /// Before a patch without `int3` counts as complete.
    Complete,
}

impl Checkpoint {
    /// Its name in a `failure` record.
    pub fn name(self) -> &'static str {
        match self {
            Checkpoint::Operand => "operand",
            Checkpoint::Uncover => "uncover",
            Checkpoint::Withdraw => "withdraw",
            Checkpoint::Complete => "complete",
        }
    }
}

/// What the patcher needs besides the plan.
pub struct Patcher<'a> {
    /// The object under test.
    pub plan: &'a ArenaPlan,
    /// How.
    pub strategy: Strategy,
    /// Sync after each phase.
    pub sync: SyncMode,
    /// Called after the first phase's write, before its sync (NMI
    /// interference).
    pub after_cover: &'a dyn Fn(),
    /// Rewrite and sync once more at the end of each patch (TCG only).
    pub settle: bool,
    /// A deliberate defect (`break=`), to prove the detectors fire.
    pub sabotage: Option<Sabotage>,
    /// The TSC deadline after which a cover that handlers keep canceling
    /// (`spin-bounded`) is given up: the experiment's hard deadline.
    pub give_up: u64,
}

/// One point of a pass of the int3 protocol: its key, its address, its
/// new target.
type Entry = (usize, u64, usize);

/// The points of one pass (every key's, for `int3-queue`), and its #BP
/// table: too large for the BSP's stack with the largest plan, and only
/// the BSP patches.
static ENTRIES: spin::Mutex<[Entry; MAX_SITES]> = spin::Mutex::new([(0, 0, 0); MAX_SITES]);
static TABLE: spin::Mutex<[(u64, u64, bool); MAX_SITES]> =
    spin::Mutex::new([(0, 0, false); MAX_SITES]);

/// Sync rounds of settle steps so far (the `exp` record counts them apart
/// from the protocol's own rounds).
pub static SETTLE_ROUNDS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

impl Patcher<'_> {
    /// Retargets `key` to target `to`, as generation `g`.
    pub fn patch(&self, key: usize, to: usize, g: u64) -> Result<PhaseTicks, PatchError> {
        let k = &KEYS[key];
        let from = k.current.load(core::sync::atomic::Ordering::Relaxed);
        let points = self.plan.patch_points(key);
        if self.sabotage == Some(Sabotage::CorruptSite) && g == 3 {
            // Behind the patcher's back: the first point now calls another
            // target than the key's current one.
            let other =
                self.plan
                    .insn_bytes(key, points[0], (from + 1) % self.plan.targets(key).len());
            arena::poke_u32(points[0] + 1, [other[1], other[2], other[3], other[4]])
                .map_err(PatchError::Readback)?;
        }
        // Every point holds the instruction to the key's current target,
        // or the patch does not start.
        for &pt in points {
            let seen = arena::peek::<5>(pt);
            if seen != self.plan.insn_bytes(key, pt, from) {
                return Err(PatchError::Precondition { va: pt, seen });
            }
        }
        k.begin(g, self.plan.id(key, to), to);
        let all = 0..points.len();
        let ticks = match self.strategy {
            Strategy::Int3 | Strategy::OutoflineInt3 => {
                let mut sum = PhaseTicks::default();
                for (i, &pt) in points.iter().enumerate() {
                    k.point_begin(i, g);
                    let t = self.int3(&[(key, pt, to)])?;
                    k.point_complete(i, g);
                    for p in 0..3 {
                        sum.0[p] += t.0[p];
                    }
                    if i == 0 && self.sabotage == Some(Sabotage::UndoSite) {
                        self.undo(key, pt, from)?;
                    }
                }
                if self.sabotage == Some(Sabotage::UndoSite) {
                    self.redo(key, points[0], to)?;
                }
                sum
            }
            Strategy::Int3Batch => {
                all.clone().for_each(|i| k.point_begin(i, g));
                let mut batch = ENTRIES.lock();
                let n = self.entries(key, to, &mut batch[..]);
                let t = self.int3(&batch[..n])?;
                all.for_each(|i| k.point_complete(i, g));
                t
            }
            Strategy::Int3Queue => {
                unreachable!("int3-queue patches every key at once: patch_queue")
            }
            Strategy::Atomic | Strategy::OutoflineAtomic => {
                all.clone().for_each(|i| k.point_begin(i, g));
                let t0 = rdtsc();
                for &pt in points {
                    let new = self.plan.insn_bytes(key, pt, to);
                    arena::poke_u32(pt + 1, [new[1], new[2], new[3], new[4]])
                        .map_err(PatchError::Readback)?;
                }
                (self.after_cover)();
                let t1 = rdtsc();
                sync::sync(self.sync).map_err(PatchError::Sync)?;
                self.settle_key(key, to)?;
                self.audit(Checkpoint::Complete);
                all.for_each(|i| k.point_complete(i, g));
                PhaseTicks([t1 - t0, rdtsc() - t1, 0])
            }
            Strategy::Naive => {
                all.clone().for_each(|i| k.point_begin(i, g));
                let t0 = rdtsc();
                for &pt in points {
                    let new = self.plan.insn_bytes(key, pt, to);
                    for i in 1..5 {
                        arena::poke(pt + i as u64, &new[i..i + 1]).map_err(PatchError::Readback)?;
                        tsc::delay_us(NAIVE_BYTE_GAP_US);
                    }
                }
                (self.after_cover)();
                let t1 = rdtsc();
                sync::sync(self.sync).map_err(PatchError::Sync)?;
                self.settle_key(key, to)?;
                self.audit(Checkpoint::Complete);
                all.for_each(|i| k.point_complete(i, g));
                PhaseTicks([t1 - t0, rdtsc() - t1, 0])
            }
            Strategy::Early => {
                // Linux's `text_poke_early`, one point at a time:
                // 1. interrupts off (not under `break=early-irqs-on`);
                // 2. the operand byte by byte in place, the first byte
                //    held EARLY_HOLD_US so that an interrupt the rewrite
                //    lets in lands in the middle: on a call whose low
                //    operand byte alone is new, which goes at most 255
                //    bytes from the old target, to `int3` padding or an
                //    unmapped page (the planner's proof);
                // 3. a serializing instruction on this CPU (not under the
                //    word either: the fix added both);
                // 4. interrupts back: a pending `self` interrupt now finds
                //    the whole new instruction.
                let fixed = self.sabotage != Some(Sabotage::EarlyIrqsOn);
                let t0 = rdtsc();
                for (i, &pt) in points.iter().enumerate() {
                    k.point_begin(i, g);
                    let new = self.plan.insn_bytes(key, pt, to);
                    let rewrite = || -> Result<(), PatchError> {
                        for b in 1..5 {
                            arena::poke(pt + b as u64, &new[b..b + 1])
                                .map_err(PatchError::Readback)?;
                            if b == 1 {
                                tsc::delay_us(EARLY_HOLD_US);
                            }
                        }
                        if fixed {
                            sync::serialize_now();
                        }
                        Ok(())
                    };
                    if fixed {
                        x86_64::instructions::interrupts::without_interrupts(rewrite)?;
                    } else {
                        rewrite()?;
                    }
                    k.point_complete(i, g);
                }
                PhaseTicks([rdtsc() - t0, 0, 0])
            }
        };
        k.complete(g);
        Ok(ticks)
    }

    /// Retargets every key `k` of the plan to `tos[k]`, as generation
    /// `gs[k]`, in one pass of the int3 protocol over all their points
    /// (`int3-queue`: Linux's queued batch, several keys sorted by
    /// address, each point with its own key's destination).
    pub fn patch_queue(&self, tos: &[usize], gs: &[u64]) -> Result<PhaseTicks, PatchError> {
        let keys = self.plan.keys();
        for (key, k) in KEYS.iter().enumerate().take(keys) {
            let from = k.current.load(core::sync::atomic::Ordering::Relaxed);
            for &pt in self.plan.patch_points(key) {
                let seen = arena::peek::<5>(pt);
                if seen != self.plan.insn_bytes(key, pt, from) {
                    return Err(PatchError::Precondition { va: pt, seen });
                }
            }
        }
        let mut batch = ENTRIES.lock();
        let mut n = 0;
        for (key, k) in KEYS.iter().enumerate().take(keys) {
            k.begin(gs[key], self.plan.id(key, tos[key]), tos[key]);
            for i in 0..self.plan.patch_points(key).len() {
                k.point_begin(i, gs[key]);
            }
            n += self.entries(key, tos[key], &mut batch[n..]);
        }
        // The keys' points are in address order, and so are the keys
        // (`ArenaPlan::patch_points`): the batch is sorted as it stands.
        let t = self.int3(&batch[..n])?;
        for (key, k) in KEYS.iter().enumerate().take(keys) {
            for i in 0..self.plan.patch_points(key).len() {
                k.point_complete(i, gs[key]);
            }
            k.complete(gs[key]);
        }
        Ok(t)
    }

    /// The entries of `key`'s points, each to target `to`, into `out`;
    /// returns how many.
    fn entries(&self, key: usize, to: usize, out: &mut [Entry]) -> usize {
        let points = self.plan.patch_points(key);
        for (slot, &pt) in out.iter_mut().zip(points) {
            *slot = (key, pt, to);
        }
        points.len()
    }

    /// The settle step of `key`'s points, all at target `to`.
    fn settle_key(&self, key: usize, to: usize) -> Result<(), PatchError> {
        let mut batch = ENTRIES.lock();
        let n = self.entries(key, to, &mut batch[..]);
        self.settle(&batch[..n])
    }

    /// `break=undo-site`: the old operand of `pt` back, in one 4-byte
    /// store, after its own update ended (a site class whose operand lies
    /// in one aligned qword makes that store one atomic change of the
    /// instruction), and a sync, so that every CPU runs it.
    fn undo(&self, key: usize, pt: u64, from: usize) -> Result<(), PatchError> {
        let old = self.plan.insn_bytes(key, pt, from);
        arena::poke_u32(pt + 1, [old[1], old[2], old[3], old[4]]).map_err(PatchError::Readback)?;
        sync::sync(self.sync).map_err(PatchError::Sync).map(|_| ())
    }

    /// `break=undo-site`: the new operand back before the key's update
    /// ends, so that the next patch's precondition holds.
    fn redo(&self, key: usize, pt: u64, to: usize) -> Result<(), PatchError> {
        let new = self.plan.insn_bytes(key, pt, to);
        arena::poke_u32(pt + 1, [new[1], new[2], new[3], new[4]]).map_err(PatchError::Readback)?;
        sync::sync(self.sync).map_err(PatchError::Sync).map(|_| ())
    }

    /// The three phases over `batch`: each entry a patch point, its key
    /// and its new target, sorted by address.
    fn int3(&self, batch: &[Entry]) -> Result<PhaseTicks, PatchError> {
        // What `spin-bounded` restores over a cover it cancels (it patches
        // calls only: `plan::experiment::Shape::fits`).
        let opcode = self.plan.patch_opcode();
        let mut table = TABLE.lock();
        let n = self.table(batch, &mut table[..]);
        let table = &table[..n];
        let t0 = rdtsc();
        if self.sabotage == Some(Sabotage::OperandFirst) {
            self.operand_first(batch)?;
        }
        // Step 1: cover. Under `spin-bounded` a handler may cancel it
        // before its sync is over (hpa's states, `bp::PassState`): then it
        // is written again.
        let late = self.sabotage == Some(Sabotage::BpTableLate);
        if !late {
            bp::publish(table);
        }
        let mut covers = 0;
        loop {
            if covers > 0 && tsc::passed(self.give_up) {
                return Err(PatchError::Canceled { covers });
            }
            covers += 1;
            bp::pass_covering(opcode);
            for &(_, pt, _) in batch {
                if self.sabotage == Some(Sabotage::PokeElsewhere) {
                    // The store lands on the operand's first byte; the
                    // read-back of the opcode must see that.
                    arena::poke_landing_at(pt, &[plan::encode::INT3], pt + 1)
                        .map_err(PatchError::Readback)?;
                }
                match arena::poke(pt, &[plan::encode::INT3]) {
                    Ok(()) => {}
                    // A `spin-bounded` handler may cancel the cover even
                    // between this write and its read-back (an interrupt
                    // on this CPU, under `self`): the pass says so, and
                    // the cover is written again below.
                    Err(_) if bp::pass_canceled() => {}
                    Err(e) => return Err(PatchError::Readback(e)),
                }
            }
            (self.after_cover)();
            if self.sabotage != Some(Sabotage::NoCoverSync) {
                sync::sync(self.sync).map_err(PatchError::Sync)?;
            }
            if bp::pass_cover_synced() {
                break;
            }
        }
        let t1 = rdtsc();
        // Step 2: operand.
        self.audit(Checkpoint::Operand);
        for &(key, pt, to) in batch {
            let new = self.plan.insn_bytes(key, pt, to);
            arena::poke(pt + 1, &new[1..5]).map_err(PatchError::Readback)?;
        }
        if self.sabotage != Some(Sabotage::NoOperandSync) {
            sync::sync(self.sync).map_err(PatchError::Sync)?;
        }
        let t2 = rdtsc();
        // Step 3: uncover.
        self.audit(Checkpoint::Uncover);
        if late {
            bp::publish(table);
        }
        for &(key, pt, to) in batch {
            // The round first, then the write it stands for (`plan::stale`).
            // The new opcode: the old one, but `0F` <-> `E8` where a site
            // moves to or from NULL (shape `null`).
            bp::restoring(pt);
            let new = self.plan.insn_bytes(key, pt, to);
            arena::poke(pt, &new[..1]).map_err(PatchError::Readback)?;
        }
        bp::pass_set(bp::PassState::Installed);
        if self.sabotage != Some(Sabotage::NoFinalSync) {
            sync::sync(self.sync).map_err(PatchError::Sync)?;
            self.settle(batch)?;
        }
        self.audit(Checkpoint::Withdraw);
        bp::withdraw();
        bp::pass_set(bp::PassState::Idle);
        Ok(PhaseTicks([t1 - t0, t2 - t1, rdtsc() - t2]))
    }

    /// The #BP table for `batch` into `out`: each point, its new
    /// destination, and whether it is a `jmp`; returns how many entries.
    /// Where a sabotage breaks the table, it breaks it here.
    fn table(&self, batch: &[Entry], out: &mut [(u64, u64, bool)]) -> usize {
        for (slot, &(key, pt, to)) in out.iter_mut().zip(batch) {
            // A call's target; out of line a jmp's; for NULL (shape
            // `null`) the next instruction, as a jmp: the NOP emulated;
            // for `__static_call_return0` (shape `ret0`) a call to it,
            // though memory gets `XOR5RAX`; a label's, as a jmp.
            let (dest, jmp) = self.plan.dest(key, pt, to);
            let moves_to_ret0 = self.plan.ret0() && to == self.plan.null_target();
            let enables_label = self.plan.labels() && to != self.plan.null_target();
            let (dest, is_jmp) = match self.sabotage {
                Some(Sabotage::CallAsJmp) => (dest, true),
                Some(Sabotage::JmpAsCall) => (dest, false),
                Some(Sabotage::BpWrongDest) => {
                    let targets = self.plan.targets(key);
                    (targets[(to + 1) % targets.len()], jmp)
                }
                // As if it were the NOP: on to the next instruction.
                Some(Sabotage::Ret0AsNop) if moves_to_ret0 => {
                    (pt + plan::encode::REL32_INSN_LEN as u64, true)
                }
                // The label of the batch's first point, for every point.
                Some(Sabotage::OneLabel) if enables_label => {
                    (plan::layout::label_addr(batch[0].1), jmp)
                }
                _ => (dest, jmp),
            };
            *slot = (pt, dest, is_jmp);
        }
        let mut n = batch.len();
        match self.sabotage {
            Some(Sabotage::BatchUnsorted) => out[..n].reverse(),
            Some(Sabotage::BatchMissing) if n > 1 => n -= 1,
            _ => {}
        }
        n
    }

    /// `break=operand-first`: the new operand under the old opcode, one
    /// byte at a time, each intermediate operand held until every executor
    /// has gone through its sites twice (at most [`OPERAND_FIRST_HOLD_US`]).
    /// Without the hold a tear lasted the few nanoseconds between two byte
    /// stores and was seen in some runs only.
    fn operand_first(&self, batch: &[Entry]) -> Result<(), PatchError> {
        for &(key, pt, to) in batch {
            let new = self.plan.insn_bytes(key, pt, to);
            for i in 1..5 {
                arena::poke(pt + i as u64, &new[i..i + 1]).map_err(PatchError::Readback)?;
                if i < 4 {
                    state::wait_passes(2, OPERAND_FIRST_HOLD_US);
                }
            }
        }
        Ok(())
    }

    /// The sync audit at `at` (see the module doc).
    fn audit(&self, at: Checkpoint) {
        if self.sync == SyncMode::None {
            return;
        }
        let written = arena::write_mark().1;
        let me = percpu::index() as usize;
        for c in (0..smp::count()).filter(|&c| c != me) {
            let (acked, serialized) = sync::ack_of(c);
            if acked <= written || serialized < acked {
                state::unsynced(c, at.name(), written, acked, serialized);
            }
        }
    }

    /// Under TCG only: the final bytes of `batch` once more, then a sync
    /// (see the module doc). Before the #BP table is withdrawn, so a stale
    /// `int3` that runs meanwhile is still handled.
    fn settle(&self, batch: &[Entry]) -> Result<(), PatchError> {
        if !self.settle {
            return Ok(());
        }
        for &(key, pt, to) in batch {
            arena::poke(pt, &self.plan.insn_bytes(key, pt, to)).map_err(PatchError::Readback)?;
        }
        SETTLE_ROUNDS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        // Out of line, the (unchanged) stubs are rewritten too. This dates
        // from when stale trampolines were blamed on TCG chaining a stub's
        // block to the trampoline's; QEMU unlinks the jumps into a block it
        // drops, and the cause was the writer's TLB race that `poke=flush`
        // removes (docs/design.md, section 6). Not measured without it
        // since: it stays, as one more store that drops stale blocks.
        if self.plan.outofline() {
            for &(key, _, _) in batch {
                for (i, &site) in self.plan.sites(key).iter().enumerate() {
                    arena::poke(site, &self.plan.stub_bytes(key, i))
                        .map_err(PatchError::Readback)?;
                }
            }
        }
        sync::sync(self.sync).map_err(PatchError::Sync).map(|_| ())
    }
}
