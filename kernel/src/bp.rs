//! The breakpoint side of live patching: the table of patch points under
//! an `int3`, and the five ways a #BP handler sends the interrupted CPU on.
//!
//! The patcher publishes every patch point it is about to cover with
//! `int3` (address, destination, call or jmp) *before* writing the `CC`
//! byte ([`publish`], Release), and withdraws them only after the last sync
//! of the patch ([`withdraw`]). A CPU that fetched the `CC` traps here and
//! looks the address up (Acquire). An `int3` at an address that is not in
//! the table is a failure: no patch point, or a patch already finished
//! without a sync that would have waited for this handler.
//!
//! What each handler does with a trapped `call` at `site` (RIP = site+1):
//!
//! | handler | how the call is completed |
//! | --- | --- |
//! | `gap` | the #BP entry copies the hardware frame lower, leaving a gap; the handler writes `site+5` at the interrupted RSP-8 and returns to the destination with RSP-8 (Linux) |
//! | `trampoline` | per-CPU slots get `site+5` and the destination; return into `push gs:[ret]; jmp gs:[tgt]`, or, if IF was set, with IF clear into `push; sti; jmp` so the STI shadow covers the jump (Linus) |
//! | `r10r11` | R10 = `site+5`, R11 = destination; return into `push r10; jmp r11` (Nadav) |
//! | `retry` | return to `site` and execute it again until the patch is done |
//! | `spin` | spin in the handler (doing this CPU's sync duty) until the patch is done, then return to `site` (hpa) |
//! | `spin-bounded` | hpa's refinement (below): spin a bounded time, then cancel the cover or finish the site's patch; return to `site` |
//!
//! `spin-bounded` follows the states hpa gave a pass of the protocol
//! (LKML, 2019-01-14 and 15; [`PassState`]): `Covering` from the first
//! `CC` until the sync after it, `Writing` from then until the opcodes are
//! back, `Installed` during the last sync, `Canceled` when a handler undid
//! a cover that was not yet synced. Its handler, after its sync duty
//! ("clear bit in mask"): while `Covering` or `Canceled`, spins off the
//! patching CPU for at most [`set_spin_bound`]'s time, waiting for the
//! state or the byte to change; then cancels: `Covering` to `Canceled`,
//! and the old opcode back over its `CC` (the patcher, finding the pass
//! canceled when its sync ends, covers again). While `Writing`, it finishes
//! its own site's patch (the new operand, then the opcode). `Installed` or
//! idle: the `int3` goes away by itself. Each way it returns to `site`.
//!
//! A trapped `jmp` (an out-of-line trampoline) needs no return address:
//! every emulating handler just returns to the destination.
//!
//! The return address matters: the stub's tail at `site + 5` writes the
//! site's mark, which the executor checks (`plan::encode`'s checked return
//! path), so a handler that returns anywhere else, skips the callee or runs
//! the tail before it is caught as a `bad-return` failure.
//!
//! A stray `int3` may be *stale* (`plan::stale`): memory no longer holds
//! `CC` at the running experiment's patch point where it trapped, and this
//! CPU acknowledged a round that began after the `CC` was removed. To show
//! it, the patcher records the current round for the point's line just
//! before writing the opcode back ([`restoring`]), and every line forgets
//! its round when an experiment begins ([`reset_stale`]).
//!
//! A stray `int3` at a site of the arena whose memory no longer holds `CC`
//! is a *ghost*, stale or not: Linux's handler dies on one, and under
//! QEMU's TCG Linux guests have. `ghost=retry` ([`set_ghost`]) re-checks the
//! byte and sends the CPU back to the address instead, as a rejected
//! upstream proposal would have; [`GHOSTS`] counts them under either
//! policy, so that what each policy costs and hides is measured. A CPU
//! that keeps meeting a ghost at one address (TCG running a stale
//! translation: the livelock Linux guests showed) gives up after
//! [`GHOST_RETRY_BOUND`] retries in a row, and the ghost is a failure.

use crate::{
    arch::{
        idt::TrapFrame,
        int3,
        percpu::{self, MAX_CPUS},
    },
    sabotage::sabotaged,
    sync,
};
use core::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use plan::{
    encode::STUB_TAIL,
    experiment::Handler,
    layout::{self, LINE_SIZE, MAX_SITES, PAGE_SIZE, SITE_ARENA_SIZE, SITE_BASE},
    ArenaPlan,
};
use report::cmdline::{Claim, Ghost, Sabotage};

/// Entries of the table: up to one per site, plus the trampolines.
const TABLE: usize = MAX_SITES + plan::layout::MAX_KEYS;

static SITES: [AtomicU64; TABLE] = [const { AtomicU64::new(0) }; TABLE];
/// Destination, with bit 63 set when the patch point is a `jmp`.
static DESTS: [AtomicU64; TABLE] = [const { AtomicU64::new(0) }; TABLE];
static COUNT: AtomicUsize = AtomicUsize::new(0);
static HANDLER: AtomicU8 = AtomicU8::new(0);

const JMP_FLAG: u64 = 1 << 63;

/// The state of a pass of the int3 protocol, as hpa numbered it; only
/// `spin-bounded` acts on it (the other handlers ignore it, and the
/// patcher never finds a pass of theirs canceled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PassState {
    /// No pass (hpa's 0).
    Idle = 0,
    /// `CC` written, its sync not yet over (1).
    Covering = 1,
    /// The cover synced: operands and opcodes being written (2).
    Writing = 2,
    /// The opcodes back, the last sync running (3).
    Installed = 3,
    /// A handler undid a cover that was not yet synced (4).
    Canceled = 4,
}

static PASS: AtomicU8 = AtomicU8::new(PassState::Idle as u8);
/// The opcode of the pass's points (the same before and after a patch).
static PASS_OPCODE: AtomicU8 = AtomicU8::new(0);
/// How long `spin-bounded` spins before it acts, in TSC ticks.
static SPIN_BOUND: AtomicU64 = AtomicU64::new(0);
/// Covers `spin-bounded` canceled, and sites it finished, during the
/// current experiment.
pub static CANCELS: AtomicU64 = AtomicU64::new(0);
/// See [`CANCELS`].
pub static COMPLETIONS: AtomicU64 = AtomicU64::new(0);
/// Covers the patcher wrote again because a handler had canceled them,
/// during the current experiment.
pub static RECOVERS: AtomicU64 = AtomicU64::new(0);

fn pass() -> u8 {
    PASS.load(Ordering::SeqCst)
}

/// The patcher: a pass whose points hold `opcode` is (again) about to
/// write its `CC`s.
pub fn pass_covering(opcode: u8) {
    PASS_OPCODE.store(opcode, Ordering::Relaxed);
    PASS.store(PassState::Covering as u8, Ordering::SeqCst);
}

/// The patcher, once the cover's sync is over: the pass goes on to write
/// (true), or a handler canceled the cover and it must be written again.
pub fn pass_cover_synced() -> bool {
    let ok = PASS
        .compare_exchange(
            PassState::Covering as u8,
            PassState::Writing as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .is_ok();
    if !ok {
        RECOVERS.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// Whether a handler canceled the pass's cover.
pub fn pass_canceled() -> bool {
    pass() == PassState::Canceled as u8
}

/// The patcher: the opcodes are back (before the last sync), or the pass
/// is over (after the table is withdrawn).
pub fn pass_set(s: PassState) {
    PASS.store(s as u8, Ordering::SeqCst);
}

/// Sets how long `spin-bounded` spins before it acts (from the running
/// experiment's idle sync round).
pub fn set_spin_bound(ticks: u64) {
    SPIN_BOUND.store(ticks, Ordering::Relaxed);
}

/// How handlers claim the table (`claim=`, [`Claim`] as `u8`).
static CLAIM: AtomicU8 = AtomicU8::new(Claim::None as u8);

/// A reference count on a cache line of its own.
#[repr(align(64))]
struct Refs(AtomicU64);

/// `claim=shared`: one count for every CPU.
static SHARED_REFS: Refs = Refs(AtomicU64::new(0));
/// `claim=percpu`: a count per CPU.
static CPU_REFS: [Refs; MAX_CPUS] = [const { Refs(AtomicU64::new(0)) }; MAX_CPUS];

/// TSC cycles spent in [`handle`] per CPU during the current experiment
/// (from its first instruction to its last, the claim included).
pub static CYCLES: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Selects how handlers claim the table (from `claim=`). Only before any
/// experiment (no table is published).
pub fn set_claim(c: Claim) {
    CLAIM.store(c as u8, Ordering::Relaxed);
}

/// The claim's name, for the `exp` record.
pub fn claim_name() -> &'static str {
    claim().name()
}

fn claim() -> Claim {
    Claim::ALL[CLAIM.load(Ordering::Relaxed) as usize]
}

/// The reference count `cpu` claims the table with, if any.
fn refs(cpu: usize) -> Option<&'static AtomicU64> {
    match claim() {
        Claim::None => None,
        Claim::Shared => Some(&SHARED_REFS.0),
        Claim::Percpu => Some(&CPU_REFS[cpu].0),
    }
}

/// Takes a reference unless the count is zero (the table is withdrawn).
/// Acquire pairs with the patcher's Release in [`publish`].
fn get(r: &AtomicU64) -> bool {
    let mut v = r.load(Ordering::Relaxed);
    while v != 0 {
        match r.compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => v = now,
        }
    }
    false
}

/// #BP hits per CPU during the current experiment.
pub static HITS: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// #BP hits per site-arena page (a site's or trampoline's page).
pub static SITE_HITS: [AtomicU64; (SITE_ARENA_SIZE / PAGE_SIZE) as usize] =
    [const { AtomicU64::new(0) }; (SITE_ARENA_SIZE / PAGE_SIZE) as usize];

/// Lines of the site arena.
const LINES: usize = (SITE_ARENA_SIZE / LINE_SIZE) as usize;
/// [`POINT_OFFSET`] of a line without a patch point in the running
/// experiment.
const NO_POINT: u8 = u8::MAX;
/// [`POINT_OFFSET`] of a line with two (`plan::layout` gives every patch
/// point's opcode a line of its own; were that broken, one slot could not
/// stand for both, and neither is judged).
const SHARED_LINE: u8 = u8::MAX - 1;
/// [`RESTORED_BEFORE_ROUND`] of a line whose opcode was not written back
/// in the running experiment.
const NOT_RESTORED: u64 = u64::MAX;

/// Per site-arena line: where on it the running experiment's patch point
/// is (its offset in the line), or [`NO_POINT`], [`SHARED_LINE`]. Written
/// only by [`reset_stale`], between experiments.
static POINT_OFFSET: [AtomicU8; LINES] = [const { AtomicU8::new(NO_POINT) }; LINES];

/// Per site-arena line: the round current just *before* the opcode of its
/// patch point was last written back (phase 3) in the running experiment,
/// or [`NOT_RESTORED`]. Every round after it began after that write, so a
/// CPU that has acknowledged one has serialized since.
static RESTORED_BEFORE_ROUND: [AtomicU64; LINES] = [const { AtomicU64::new(NOT_RESTORED) }; LINES];

/// The site-arena line of `addr`, if it is in the arena.
fn line_of(addr: u64) -> Option<usize> {
    layout::in_site_arena(addr).then(|| ((addr - SITE_BASE) / LINE_SIZE) as usize)
}

/// `addr`'s offset in its line (`SITE_BASE` is line-aligned).
fn offset_in_line(addr: u64) -> u8 {
    ((addr - SITE_BASE) % LINE_SIZE) as u8
}

/// The running experiment's patch point on `line`, if it has one.
fn point_of(line: usize) -> Option<u64> {
    // Relaxed: written only between experiments, before `state::begin`
    // sets ACTIVE (Release), which every handler has read (Acquire).
    let off = POINT_OFFSET[line].load(Ordering::Relaxed);
    (u64::from(off) < LINE_SIZE).then(|| SITE_BASE + line as u64 * LINE_SIZE + u64::from(off))
}

/// Readies the stale classification for the experiment about to run with
/// `plan` installed: registers its patch points, one per line, and makes
/// every line forget its round, so that no round stands for a write made
/// before this experiment's install. Call from `state::begin`, before it
/// sets ACTIVE (whose Release publishes these stores to the handlers), on
/// the BSP while no CPU executes the window or patches it.
pub fn reset_stale(plan: &ArenaPlan) {
    for (off, round) in POINT_OFFSET.iter().zip(&RESTORED_BEFORE_ROUND) {
        off.store(NO_POINT, Ordering::Relaxed);
        round.store(NOT_RESTORED, Ordering::Relaxed);
    }
    for &pt in (0..plan.keys()).flat_map(|k| plan.patch_points(k)) {
        let Some(line) = line_of(pt) else { continue };
        let (slot, off) = (&POINT_OFFSET[line], offset_in_line(pt));
        let was = slot.load(Ordering::Relaxed);
        slot.store(
            if was == NO_POINT || was == off {
                off
            } else {
                SHARED_LINE
            },
            Ordering::Relaxed,
        );
    }
}

/// Records the round current now for the patch point `point`, which the
/// caller is about to write the opcode back over (phase 3): call it right
/// *before* that write, with no sync in between, on the CPU that begins
/// the sync rounds (the patcher). Recorded after the write, a handler could
/// read the new bytes with the previous patch's round and call a rightful
/// trap stale (`plan::stale`'s negative control). A point that is not the
/// running experiment's records nothing.
pub fn restoring(point: u64) {
    let Some(line) = line_of(point) else { return };
    if point_of(line) != Some(point) {
        return;
    }
    // This CPU alone begins rounds: the load sees its own latest.
    RESTORED_BEFORE_ROUND[line].store(sync::current_round(), Ordering::Relaxed);
    // Release: the store above before the caller's write of the opcode.
    // Pairs with the fence(Acquire) in `stale` between its read of that
    // byte and its load of this slot: a handler that sees the new opcode
    // sees this round or a later one. (The byte is written and read
    // through volatile pointers, each a plain `mov`, as an `AtomicU8`
    // would be; on x86 stores are seen in program order, so the fences
    // only keep the compiler from reordering.)
    fence(Ordering::Release);
}

/// Whether a stray `int3` at `site` is stale (`plan::stale::classify`):
/// `site` is the running experiment's patch point of its line, memory no
/// longer holds `CC` there, and this CPU (the caller's) had acknowledged,
/// before it trapped, a sync round that began after the opcode was
/// written back. The CPU then executed an
/// instruction that was gone before it serialized: impossible on x86 as
/// specified, so not the patch protocol's fault but the (virtual) CPU's.
/// Returns the two rounds.
/// `byte` is memory at `site` as the handler read it ([`first_read`]).
pub fn stale(site: u64, byte: Option<u8>) -> Option<(u64, u64)> {
    let line = line_of(site)?;
    let byte = byte?;
    // Acquire: the read of the byte (before the call) before the slot's
    // load below.
    // Pairs with the fence(Release) in `restoring`, between its store of
    // the slot and the patcher's write of the byte.
    fence(Ordering::Acquire);
    let restored = RESTORED_BEFORE_ROUND[line].load(Ordering::Relaxed);
    // The round this CPU acknowledged *having serialized in* before it
    // trapped: its last acknowledgement made outside an NMI (one made in
    // an NMI that arrived after the trap, by a `spin` handler nested in it,
    // is no evidence of what the CPU had done before), and of that the
    // lesser of its acknowledged round and the round it had serialized in
    // when it acknowledged (the latter is older only under
    // `break=ack-before-serialize`, where an interrupt between the two
    // finds a CPU that acknowledged a round without serializing in it).
    let (acked, serialized) = sync::ack_before_trap();
    let s = plan::stale::classify(&plan::stale::Reading {
        addr: site,
        point: point_of(line),
        byte,
        restored_before: (restored != NOT_RESTORED).then_some(restored),
        acked: acked.min(serialized),
    })?;
    Some((s.restored_before, s.acked))
}

/// Memory at `site` as a #BP handler reads it first, once, for both
/// judgements of a stray `int3` (stale, ghost), so that they speak of the
/// same byte: None outside the site arena.
fn first_read(site: u64) -> Option<u8> {
    line_of(site).map(|_| crate::arena::peek::<1>(site)[0])
}

/// Selects the handler for the next experiment, and the #BP entry it needs.
/// Only between experiments (no CPU executes a site).
pub fn set_handler(h: Handler) {
    HANDLER.store(h as u8, Ordering::Relaxed);
    int3::set_gap_entry(h == Handler::Gap && !sabotaged(Sabotage::GapNoGap));
}

fn handler() -> Handler {
    Handler::ALL[HANDLER.load(Ordering::Relaxed) as usize]
}

/// Publishes patch points (sorted by address) before their `CC` is
/// written. `points[i] = (addr, destination, is_jmp)`.
pub fn publish(points: &[(u64, u64, bool)]) {
    for (i, &(a, d, j)) in points.iter().enumerate() {
        SITES[i].store(a, Ordering::Relaxed);
        DESTS[i].store(d | if j { JMP_FLAG } else { 0 }, Ordering::Relaxed);
    }
    // The patcher's own reference: handlers may claim the table from now.
    match claim() {
        Claim::None => {}
        Claim::Shared => SHARED_REFS.0.store(1, Ordering::Relaxed),
        Claim::Percpu => {
            for r in CPU_REFS.iter().take(crate::smp::count()) {
                r.0.store(1, Ordering::Relaxed);
            }
        }
    }
    // Release pairs with the Acquire in `lookup`: a handler that sees the
    // count sees the entries.
    COUNT.store(points.len(), Ordering::Release);
}

/// Withdraws every patch point (after the patch's last sync). With a
/// claim, drops the patcher's reference(s) and waits until no handler
/// holds one, so that the next [`publish`] cannot change entries under a
/// handler that still reads them (a `spin` handler leaves only once the
/// lookup fails, which the count of 0 makes it do).
pub fn withdraw() {
    COUNT.store(0, Ordering::Release);
    let drain = |r: &AtomicU64| {
        // Release: this CPU's reads of the table come before; Acquire on
        // the wait pairs with each handler's Release when it drops its own.
        // `break=claim-no-drain`: the patcher's reference only.
        if r.fetch_sub(1, Ordering::AcqRel) != 1 && !sabotaged(Sabotage::ClaimNoDrain) {
            while r.load(Ordering::Acquire) != 0 {
                core::hint::spin_loop();
            }
        }
    };
    match claim() {
        Claim::None => {}
        Claim::Shared => drain(&SHARED_REFS.0),
        Claim::Percpu => CPU_REFS
            .iter()
            .take(crate::smp::count())
            .for_each(|r| drain(&r.0)),
    }
    crate::watchdog::patch_ended();
}

/// The destination published for `addr`, if it is being patched.
fn lookup(addr: u64) -> Option<(u64, bool)> {
    let n = COUNT.load(Ordering::Acquire);
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let a = SITES[mid].load(Ordering::Relaxed);
        if a == addr {
            // `break=batch-neighbour`: the next entry's destination.
            let at = if sabotaged(Sabotage::BatchNeighbour) && mid + 1 < n {
                mid + 1
            } else {
                mid
            };
            let d = DESTS[at].load(Ordering::Relaxed);
            return Some((d & !JMP_FLAG, d & JMP_FLAG != 0));
        }
        if a < addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    None
}

/// `ghost=retry`: ghosts are sent back to their address (module doc).
static GHOST_RETRY: AtomicBool = AtomicBool::new(false);
/// Ghosts during the current experiment, under either policy.
pub static GHOSTS: AtomicU64 = AtomicU64::new(0);
/// Ghosts `ghost=retry` sent back to their address.
pub static GHOST_RETRIES: AtomicU64 = AtomicU64::new(0);
/// Ghosts `ghost=retry` gave up on: the bound of retries in a row.
pub static GHOST_GIVE_UPS: AtomicU64 = AtomicU64::new(0);
/// Retries in a row at one address after which a ghost is a failure all
/// the same: a stale translation that outlives them is a livelock.
pub const GHOST_RETRY_BOUND: u64 = 10_000;
/// A ghost more than this many microseconds after the CPU's last one at
/// the same address begins a new run of retries.
const GHOST_RUN_GAP_US: u64 = 1_000;
/// Per CPU: the address of its last retried ghost, the TSC then, and the
/// retries in a row at that address.
static GHOST_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static GHOST_TSC: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static GHOST_RUN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Selects the policy for ghosts (`ghost=`).
pub fn set_ghost(g: Ghost) {
    GHOST_RETRY.store(g == Ghost::Retry, Ordering::Relaxed);
}

/// Whether a stray `int3` is a ghost: at a site of the arena whose memory,
/// as the handler first read it, no longer held `CC`.
fn is_ghost(byte: Option<u8>) -> bool {
    byte.is_some_and(|b| b != plan::encode::INT3)
}

/// What a ghost at `site` becomes under the policy: `stray` as it was
/// (`ghost=fail`, or the bound of retries in a row reached), or handled,
/// the CPU sent back to `site`.
fn ghost(frame: &mut TrapFrame, site: u64, me: usize, stray: BpOutcome) -> BpOutcome {
    GHOSTS.fetch_add(1, Ordering::Relaxed);
    if !GHOST_RETRY.load(Ordering::Relaxed) {
        return stray;
    }
    let now = crate::arch::cpu::rdtsc();
    let gap = crate::arch::tsc::hz() / 1_000_000 * GHOST_RUN_GAP_US;
    let same = GHOST_AT[me].load(Ordering::Relaxed) == site
        && now.wrapping_sub(GHOST_TSC[me].load(Ordering::Relaxed)) < gap;
    let run = if same {
        GHOST_RUN[me].load(Ordering::Relaxed) + 1
    } else {
        1
    };
    GHOST_AT[me].store(site, Ordering::Relaxed);
    GHOST_TSC[me].store(now, Ordering::Relaxed);
    GHOST_RUN[me].store(run, Ordering::Relaxed);
    if run > GHOST_RETRY_BOUND {
        GHOST_GIVE_UPS.fetch_add(1, Ordering::Relaxed);
        GHOST_RUN[me].store(0, Ordering::Relaxed);
        return stray;
    }
    GHOST_RETRIES.fetch_add(1, Ordering::Relaxed);
    frame.rip = site;
    BpOutcome::Handled
}

/// What happened to a #BP.
pub enum BpOutcome {
    /// Handled: the frame now sends the CPU on.
    Handled,
    /// An `int3` at an address no patch covers: a failure. `stale` holds
    /// the rounds that make it a stale `int3` (see [`stale`]), judged from
    /// what memory and this CPU's acknowledgement were *before* the table
    /// was consulted: read after, a patch that re-covered the site in
    /// between would make a stale `int3` look like a protocol failure.
    Stray {
        /// `(restored_before_round, acked_round)` when stale.
        stale: Option<(u64, u64)>,
    },
}

/// Handles a #BP from the window. `frame.rip` is the address after the
/// `int3`.
pub fn handle(frame: &mut TrapFrame) -> BpOutcome {
    let start = crate::arch::cpu::rdtsc();
    let site = frame.rip.wrapping_sub(1);
    let byte = first_read(site);
    let me = percpu::index() as usize;
    let refs = refs(me);
    let out = match refs {
        // Withdrawn: no patch covers any address now.
        Some(r) if !get(r) => BpOutcome::Stray {
            stale: stale(site, byte),
        },
        _ => {
            let out = handle_claimed(frame, me, byte);
            if let Some(r) = refs.filter(|_| !sabotaged(Sabotage::ClaimLeak)) {
                r.fetch_sub(1, Ordering::Release);
            }
            out
        }
    };
    let out = match out {
        BpOutcome::Stray { .. } if is_ghost(byte) => ghost(frame, site, me, out),
        other => other,
    };
    CYCLES[me].fetch_add(crate::arch::cpu::rdtsc() - start, Ordering::Relaxed);
    out
}

/// [`handle`] once the table is claimed.
fn handle_claimed(frame: &mut TrapFrame, me: usize, byte: Option<u8>) -> BpOutcome {
    let site = frame.rip.wrapping_sub(1);
    let before = stale(site, byte);
    let Some((dest, is_jmp)) = lookup(site) else {
        return BpOutcome::Stray { stale: before };
    };
    HITS[me].fetch_add(1, Ordering::Relaxed);
    if (SITE_BASE..SITE_BASE + SITE_ARENA_SIZE).contains(&site) {
        SITE_HITS[((site - SITE_BASE) / PAGE_SIZE) as usize].fetch_add(1, Ordering::Relaxed);
    }
    // Where the emulated call returns: the stub's tail.
    let ret = site + STUB_TAIL as u64;
    match handler() {
        Handler::Retry => {
            // Each retry is one turn of a wait for the patch: with 2 CPUs
            // the only executor may loop here while the patcher is stuck,
            // so it watches (see `crate::watchdog`). Until its call gets
            // through, it waits for the patcher.
            crate::watchdog::waiting_for_patch(me);
            crate::watchdog::poll();
            frame.rip = site;
        }
        Handler::SpinBounded => {
            crate::watchdog::waiting_for_patch(me);
            let done = spin_bounded(site, dest, me);
            crate::watchdog::done_waiting(me);
            if !done {
                return BpOutcome::Stray { stale: before };
            }
            frame.rip = site;
        }
        Handler::Spin => {
            // hpa: wait here until the patch is done. The patcher's syncs
            // need this CPU's acknowledgement, which it cannot give from
            // the IPI handler with interrupts off: do the duty here. A
            // patcher that itself took this path in an interrupt (Linus's
            // counter-example) never finishes; the watchdog, polled here
            // and elsewhere, reports that; an executor waiting here waits
            // for the patcher, which is watched in its place.
            crate::watchdog::waiting_for_patch(me);
            let stays = sabotaged(Sabotage::SpinStays);
            while stays || lookup(site).is_some() {
                sync::duty();
                crate::watchdog::poll();
                core::hint::spin_loop();
            }
            crate::watchdog::done_waiting(me);
            frame.rip = site;
        }
        // A NOP site (shape `null`): the emulated NOP goes on at the next
        // instruction.
        _ if is_jmp && dest == ret && sabotaged(Sabotage::NopPastInt3) => frame.rip += 5,
        _ if is_jmp => frame.rip = dest,
        _ if sabotaged(Sabotage::SkipCallee) => frame.rip = ret,
        Handler::Gap => {
            // The gap entry moved the hardware frame below the gap, so the
            // slot under the interrupted RSP is free to take the return
            // address, as a real `call` would have pushed it.
            let rsp = frame.rsp - 8;
            let pushed = if sabotaged(Sabotage::GapReturn) {
                ret + 1
            } else if sabotaged(Sabotage::GapReturnShort) {
                ret - 1
            } else {
                ret
            };
            // The gap entry copied our frame lower, and the kernel has no
            // red zone, so nothing live is at `rsp`.
            // SAFETY: `rsp` is the slot just below the interrupted stack
            // pointer on the interrupted kernel stack, free as argued above.
            unsafe { (rsp as *mut u64).write(pushed) };
            frame.rsp = rsp;
            frame.rip = dest;
        }
        Handler::Trampoline => {
            let pc = percpu::this();
            pc.bp_ret.store(ret, Ordering::Relaxed);
            pc.bp_target.store(dest, Ordering::Relaxed);
            if sabotaged(Sabotage::TrampolineNoSti) {
                frame.rflags &= !(1 << 9);
                frame.rip = int3::trampoline(false);
            } else if frame.rflags & (1 << 9) != 0 && !sabotaged(Sabotage::TrampolineIf) {
                frame.rflags &= !(1 << 9);
                frame.rip = int3::trampoline(true);
            } else {
                frame.rip = int3::trampoline(false);
            }
        }
        Handler::R10r11 => {
            (frame.r10, frame.r11) = if sabotaged(Sabotage::R10r11Swap) {
                (dest, ret)
            } else {
                (ret, dest)
            };
            frame.rip = int3::r10r11();
        }
    }
    BpOutcome::Handled
}

/// `spin-bounded` at `site`, a point of the pass whose new destination is
/// `dest` (module doc; hpa's #BP handler of 2019-01-15, step for step).
/// False if a write of its own could not be made (never, for a point in
/// the arena).
fn spin_bounded(site: u64, dest: u64, me: usize) -> bool {
    // The BSP patches.
    let patching = me == 0;
    loop {
        // Recheck: hpa's "clear bit in mask", this CPU's sync duty.
        sync::duty();
        let s = pass();
        if s == PassState::Covering as u8 || s == PassState::Canceled as u8 {
            if !patching && changed_within_bound(site) {
                continue;
            }
            if let Err(now) = PASS.compare_exchange(
                PassState::Covering as u8,
                PassState::Canceled as u8,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                if now != PassState::Canceled as u8 {
                    continue;
                }
            }
            // Cancel: the old opcode back over this point's `CC`.
            let opcode = PASS_OPCODE.load(Ordering::Relaxed);
            if crate::arena::store(site, &[opcode]).is_err() {
                return false;
            }
            CANCELS.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        if s == PassState::Writing as u8 {
            if !patching && pass() != PassState::Writing as u8 {
                continue;
            }
            // Complete this point's patch: the new operand, then the
            // opcode over the `CC`.
            let rel = (dest.wrapping_sub(site.wrapping_add(5)) as u32).to_le_bytes();
            let opcode = PASS_OPCODE.load(Ordering::Relaxed);
            if crate::arena::store(site + 1, &rel).is_err()
                || crate::arena::store(site, &[opcode]).is_err()
            {
                return false;
            }
            COMPLETIONS.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        // Installed, or no pass: the `int3` goes away by itself.
        return true;
    }
}

/// Spins for at most the bound while memory holds `CC` at `site` and the
/// pass is covering or canceled; whether either changed first.
fn changed_within_bound(site: u64) -> bool {
    let start = crate::arch::cpu::rdtsc();
    let bound = SPIN_BOUND.load(Ordering::Relaxed);
    while crate::arch::cpu::rdtsc().wrapping_sub(start) < bound {
        let s = pass();
        if crate::arena::peek::<1>(site)[0] != plan::encode::INT3
            || (s != PassState::Covering as u8 && s != PassState::Canceled as u8)
        {
            return true;
        }
        crate::watchdog::poll();
        core::hint::spin_loop();
    }
    false
}
