//! What the patcher, the executors and the interrupt handlers share during
//! one experiment: the stop flag, the sites, counters, and failure records.

use super::key::KEYS;
use crate::{
    arch::{
        cpu::{self, rdtsc},
        idt::TrapFrame,
        lapic, paging,
        percpu::{self, MAX_CPUS},
        tsc,
    },
    record,
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use plan::{
    experiment::{Experiment, Interference},
    layout::{MAX_KEYS, MAX_SITES_PER_KEY},
    window::WindowResult,
    ArenaPlan,
};
use report::kind;

/// Set when the experiment's time is up (or a control was caught).
pub static STOP: AtomicBool = AtomicBool::new(false);
/// Whether an experiment is running (faults are its failures).
pub static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Counters of the running experiment.
#[allow(missing_docs)]
pub struct Stats {
    pub overruns: AtomicU64,
    pub wrong: AtomicU64,
    pub faults: AtomicU64,
    pub stray_bp: AtomicU64,
    pub stale_bp: AtomicU64,
    pub stale_call: AtomicU64,
    pub bad_return: AtomicU64,
    pub unsynced: AtomicU64,
    pub blind: AtomicU64,
    pub timer: AtomicU64,
    pub nmi: AtomicU64,
    pub nmi_site: AtomicU64,
    pub self_irq: AtomicU64,
    pub failures: AtomicU64,
    pub first_fail_patch: AtomicU64,
    pub first_fail_tsc: AtomicU64,
    pub patches: AtomicU64,
}

impl Stats {
    /// The failure counters, in `plan::verdict::Kind::COUNTERS` order.
    pub fn failure_counters(&self) -> [&AtomicU64; 8] {
        [
            &self.wrong,
            &self.faults,
            &self.stray_bp,
            &self.stale_bp,
            &self.stale_call,
            &self.bad_return,
            &self.unsynced,
            &self.blind,
        ]
    }
}

/// The running experiment's counters.
pub static STATS: Stats = Stats {
    overruns: AtomicU64::new(0),
    wrong: AtomicU64::new(0),
    faults: AtomicU64::new(0),
    stray_bp: AtomicU64::new(0),
    stale_bp: AtomicU64::new(0),
    stale_call: AtomicU64::new(0),
    bad_return: AtomicU64::new(0),
    unsynced: AtomicU64::new(0),
    blind: AtomicU64::new(0),
    timer: AtomicU64::new(0),
    nmi: AtomicU64::new(0),
    nmi_site: AtomicU64::new(0),
    self_irq: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    first_fail_patch: AtomicU64::new(0),
    first_fail_tsc: AtomicU64::new(0),
    patches: AtomicU64::new(0),
};

#[repr(align(64))]
struct Padded(AtomicU64);
static CALLS: [Padded; MAX_CPUS] = [const { Padded(AtomicU64::new(0)) }; MAX_CPUS];
/// Passes of each executor through all its sites.
static PASSES: [Padded; MAX_CPUS] = [const { Padded(AtomicU64::new(0)) }; MAX_CPUS];
/// Of [`CALLS`], those that passed the shape's other instruction: a NOP
/// (shapes `null`, `jump`) or `__static_call_return0` (shape `ret0`).
static NULL_CALLS: [Padded; MAX_CPUS] = [const { Padded(AtomicU64::new(0)) }; MAX_CPUS];
static EXECUTOR: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];
static SITES: [[AtomicU64; MAX_SITES_PER_KEY]; MAX_KEYS] =
    [const { [const { AtomicU64::new(0) }; MAX_SITES_PER_KEY] }; MAX_KEYS];
static NKEYS: AtomicUsize = AtomicUsize::new(0);
static NSITES: AtomicUsize = AtomicUsize::new(0);
/// Out of line: each key's trampoline (0 in line).
static TRAMPOLINES: [AtomicU64; MAX_KEYS] = [const { AtomicU64::new(0) }; MAX_KEYS];
/// The key the patcher is working on (for the NMI and self handlers).
pub static CURRENT_KEY: AtomicUsize = AtomicUsize::new(0);
static START_TSC: AtomicU64 = AtomicU64::new(0);
/// The running experiment's name: written only by [`begin`], before it sets
/// ACTIVE, and read without a lock, so that a failure recorded in an
/// interrupt that came in the middle of another record (`timer-site`) does
/// not wait for a lock its own CPU holds.
static NAME: [AtomicU8; plan::experiment::NAME_CAPACITY] =
    [const { AtomicU8::new(0) }; plan::experiment::NAME_CAPACITY];
static NAME_LEN: AtomicUsize = AtomicUsize::new(0);
static INTERFERENCE: AtomicUsize = AtomicUsize::new(0);

/// Records written per experiment and failure kind before further failures
/// of that kind are only counted.
const MAX_FAILURE_RECORDS: u64 = 8;
/// Executors' LAPIC timer vector (`timer` interference).
pub const VEC_TIMER: u8 = 0xf1;
/// The patcher's own timer vector (`self` interference).
pub const VEC_SELF: u8 = 0xf3;
/// The executors' timer period (and the patcher's own), in APIC timer
/// ticks (bus clock / 16).
pub const TIMER_COUNT: u32 = 20_000;

/// Resets everything for `e` with `plan` installed.
pub fn begin(e: &Experiment, plan: &ArenaPlan) {
    for s in STATS.failure_counters().into_iter().chain([
        &STATS.overruns,
        &STATS.timer,
        &STATS.nmi,
        &STATS.nmi_site,
        &STATS.self_irq,
        &STATS.failures,
        &STATS.first_fail_patch,
        &STATS.first_fail_tsc,
        &STATS.patches,
    ]) {
        s.store(0, Ordering::Relaxed);
    }
    for c in CALLS.iter().chain(PASSES.iter()).chain(NULL_CALLS.iter()) {
        c.0.store(0, Ordering::Relaxed);
    }
    for h in crate::bp::HITS
        .iter()
        .chain(crate::bp::SITE_HITS.iter())
        .chain(crate::bp::CYCLES.iter())
        .chain([
            &crate::bp::CANCELS,
            &crate::bp::COMPLETIONS,
            &crate::bp::RECOVERS,
            &crate::bp::GHOSTS,
            &crate::bp::GHOST_RETRIES,
            &crate::bp::GHOST_GIVE_UPS,
        ])
    {
        h.store(0, Ordering::Relaxed);
    }
    // A pass that an error ended stays in its state until here.
    crate::bp::pass_set(crate::bp::PassState::Idle);
    for (k, key) in KEYS.iter().enumerate().take(plan.keys()) {
        key.reset(plan.ids(k)[0]);
        for (i, s) in SITES[k].iter().enumerate() {
            s.store(
                plan.sites(k).get(i).copied().unwrap_or(0),
                Ordering::Relaxed,
            );
        }
    }
    crate::bp::reset_stale(plan);
    NKEYS.store(plan.keys(), Ordering::Relaxed);
    NSITES.store(plan.sites_per_key(), Ordering::Relaxed);
    for (k, t) in TRAMPOLINES.iter().enumerate() {
        t.store(
            if k < plan.keys() {
                plan.trampoline(k).unwrap_or(0)
            } else {
                0
            },
            Ordering::Relaxed,
        );
    }
    CURRENT_KEY.store(0, Ordering::Relaxed);
    INTERFERENCE.store(e.interference as usize, Ordering::Relaxed);
    SHAPE.store(e.shape as u8, Ordering::Relaxed);
    ALONE.store(
        e.strategy == plan::experiment::Strategy::Early,
        Ordering::Relaxed,
    );
    let name = e.name();
    let b = name.as_str().as_bytes();
    for (slot, &byte) in NAME.iter().zip(b) {
        slot.store(byte, Ordering::Relaxed);
    }
    NAME_LEN.store(b.len(), Ordering::Relaxed);
    START_TSC.store(rdtsc(), Ordering::Relaxed);
    STOP.store(false, Ordering::Relaxed);
    // Release: all of the above before any handler sees ACTIVE.
    ACTIVE.store(true, Ordering::Release);
}

/// The experiment is over.
pub fn end() {
    ACTIVE.store(false, Ordering::Release);
}

/// The running experiment's name (for records).
pub fn with_name<R>(f: impl FnOnce(&str) -> R) -> R {
    let mut n = [0u8; plan::experiment::NAME_CAPACITY];
    let len = NAME_LEN.load(Ordering::Relaxed).min(n.len());
    for (byte, slot) in n.iter_mut().zip(&NAME).take(len) {
        *byte = slot.load(Ordering::Relaxed);
    }
    f(core::str::from_utf8(&n[..len]).unwrap_or("?"))
}

/// Site `index` of `key` (0 = none), as the executors call it.
pub fn site(key: usize, index: usize) -> u64 {
    if key < NKEYS.load(Ordering::Relaxed) && index < MAX_SITES_PER_KEY {
        SITES[key][index].load(Ordering::Relaxed)
    } else {
        0
    }
}

/// Keys and sites per key of the running experiment.
pub fn shape() -> (usize, usize) {
    (
        NKEYS.load(Ordering::Relaxed),
        NSITES.load(Ordering::Relaxed),
    )
}

/// The running experiment's shape (`Shape as u8`).
static SHAPE: AtomicU8 = AtomicU8::new(0);

/// What a call through a site of the running experiment may return
/// (`plan::experiment::Shape::return_rules`).
pub fn return_rules() -> plan::encode::ReturnRules {
    let n = SHAPE.load(Ordering::Relaxed) as usize;
    plan::experiment::Shape::ALL
        .get(n)
        .copied()
        .unwrap_or(plan::experiment::Shape::Call)
        .return_rules()
}

/// Whether the running experiment's sites are jump labels (shapes `jump`,
/// `jump8`): a site's `jmp` goes to its own label, which returns the
/// label's id (`plan::layout::label_id`) with EDX cleared.
fn labels() -> bool {
    return_rules().labels
}

/// Whether the running experiment runs on the patching CPU alone, no
/// executor calling the sites (strategy `early`).
static ALONE: AtomicBool = AtomicBool::new(false);

/// See [`ALONE`].
pub fn alone() -> bool {
    ALONE.load(Ordering::Relaxed)
}

/// Set on the patching CPU while its `self` interrupt calls a site
/// ([`crate::torture::executor::self_call`]): a fault there sends it back
/// to that call's recovery point, as an executor's.
pub static IN_SELF_CALL: AtomicBool = AtomicBool::new(false);

/// Whether the running experiment patches trampolines (out of line).
pub fn outofline() -> bool {
    TRAMPOLINES[0].load(Ordering::Relaxed) != 0
}

/// Whether the current interference is `i`.
pub fn interference_is(i: Interference) -> bool {
    INTERFERENCE.load(Ordering::Relaxed) == i as usize
}

/// One valid call on `cpu`.
#[inline(always)]
pub fn count_call(cpu: usize) {
    CALLS[cpu].0.fetch_add(1, Ordering::Relaxed);
}

/// One more call by `cpu` judged right that passed the NOP or returned 0.
pub fn count_null_call(cpu: usize) {
    NULL_CALLS[cpu].0.fetch_add(1, Ordering::Relaxed);
}

/// Calls made by `cpu` in this experiment that ran no target.
pub fn null_calls(cpu: usize) -> u64 {
    NULL_CALLS[cpu].0.load(Ordering::Relaxed)
}

/// Calls made by `cpu` in this experiment.
pub fn calls(cpu: usize) -> u64 {
    CALLS[cpu].0.load(Ordering::Relaxed)
}

/// One pass of `cpu`'s executor loop through all its sites.
#[inline(always)]
pub fn pass(cpu: usize) {
    PASSES[cpu].0.fetch_add(1, Ordering::Relaxed);
}

/// Waits until every executor has made `n` more passes through its sites,
/// or `max_us` have gone by.
pub fn wait_passes(n: u64, max_us: u64) {
    let mut from = [0u64; MAX_CPUS];
    let cpus = crate::smp::count();
    for (c, f) in from.iter_mut().enumerate().take(cpus) {
        *f = PASSES[c].0.load(Ordering::Relaxed);
    }
    let deadline = tsc::deadline_us(max_us);
    while !tsc::passed(deadline)
        && (0..cpus).any(|c| is_executor(c) && PASSES[c].0.load(Ordering::Relaxed) < from[c] + n)
    {
        crate::watchdog::poll();
        core::hint::spin_loop();
    }
}

/// Marks `cpu` as running (or no longer running) an executor loop.
pub fn set_executor(cpu: usize, on: bool) {
    EXECUTOR[cpu].store(on, Ordering::Relaxed);
}

/// Whether `cpu` runs an executor loop.
pub fn is_executor(cpu: usize) -> bool {
    EXECUTOR[cpu].load(Ordering::Relaxed)
}

/// Counts a failure of the experiment; `seen` is how many of its kind
/// came before it. Returns whether it gets a record of its own: the first
/// [`MAX_FAILURE_RECORDS`] of each kind do, so that a rare kind is not
/// lost behind a frequent one (a few `fault`s among thousands of
/// `unsynced`).
fn note_failure(seen: u64) -> bool {
    let n = STATS.failures.fetch_add(1, Ordering::Relaxed);
    if n == 0 {
        STATS
            .first_fail_patch
            .store(STATS.patches.load(Ordering::Relaxed), Ordering::Relaxed);
        STATS.first_fail_tsc.store(
            rdtsc() - START_TSC.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }
    seen < MAX_FAILURE_RECORDS
}

/// The id of the target that memory says the stub at `site` of `key`
/// reaches now (through its trampoline out of line), if it decodes to one.
fn installed_id(key: usize, site: u64) -> Option<u32> {
    let insn = crate::arena::peek::<5>(site);
    if insn == plan::encode::NOP5 || labels() && insn == plan::encode::NOP2_POINT {
        // A NULL site or a disabled label (shapes `null`, `jump`,
        // `jump8`): no target runs.
        return Some(plan::encode::POISON_EAX);
    }
    if insn == plan::encode::XOR5RAX {
        // `__static_call_return0` (shape `ret0`).
        return Some(plan::encode::RET0_ID);
    }
    if labels() {
        // An enabled label stands for the key's target 0
        // (`ArenaPlan::with_jump_labels`).
        let label = plan::layout::label_addr(site);
        return (plan::encode::decode_jmp_dest(&insn, site) == Some(label))
            .then(|| plan::planner::target_id(key, 0));
    }
    let follow = |at: u64, opcode: u8| {
        plan::encode::decode_rel32_dest(&crate::arena::peek::<5>(at), at)
            .and_then(|(op, dest)| (op == opcode).then_some(dest))
    };
    let mut dest = follow(site, plan::encode::CALL_OPCODE)?;
    let tramp = TRAMPOLINES[key].load(Ordering::Relaxed);
    if tramp != 0 {
        if dest != tramp {
            return None;
        }
        dest = follow(tramp, plan::encode::JMP_OPCODE)?;
    }
    (0..plan::layout::MAX_TARGETS_PER_KEY)
        .find(|&t| plan::planner::target_addr(key, t) == dest)
        .map(|t| plan::planner::target_id(key, t))
}

/// Whether a wrong target is a *stale call*: during the whole call nothing
/// in the window was written (`mark` still holds), memory sent the call to
/// another target than the one it reached, and this CPU had acknowledged a
/// sync round that began after the last write, having serialized in it
/// (`acked`, read before the call). The CPU then ran code that memory had not held since before it
/// serialized: x86 forbids it, whatever the patch protocol did. Returns
/// `(round at the last write, acked round, id memory holds)`.
pub fn stale_call(
    key: usize,
    site: u64,
    got: u32,
    mark: (u64, u64),
    acked: u64,
) -> Option<(u64, u64, u32)> {
    let id = installed_id(key, site)?;
    (crate::arena::unchanged_since(mark) && acked > mark.1 && id != got)
        .then_some((mark.1, acked, id))
}

/// A stale call (see [`stale_call`]).
pub fn stale_target(cpu: usize, site: u64, got: u32, (written, acked, id): (u64, u64, u32)) {
    let seen = STATS.stale_call.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str("what", "stale-call")
                    .hex("site", site)
                    .hex("got", got as u64)
                    .hex("mem_id", id as u64)
                    .u64("written_before_round", written)
                    .u64("acked_round", acked)
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// A call that reached a target not installed during it.
pub fn wrong_target(cpu: usize, key: usize, site: u64, got: u32, r: &WindowResult) {
    let seen = STATS.wrong.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        let g = KEYS[key].started.load(Ordering::Relaxed);
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str("what", "wrong-target")
                    .hex("site", site)
                    .hex("got", got as u64)
                    .display("window", r)
                    .u64("generation", g)
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// A call that came back the wrong way (`plan::encode`'s checked return
/// path): EAX still held the poison (no target ran), or EDX was not the
/// site's mark (the stub's tail was skipped, entered at the wrong byte, or
/// ran before the target).
pub fn bad_return(cpu: usize, key: usize, site: u64, got: u32, edx: u32, want: u32) {
    let seen = STATS.bad_return.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        let g = KEYS[key].started.load(Ordering::Relaxed);
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str("what", "bad-return")
                    .hex("site", site)
                    .hex("got", got as u64)
                    .hex("edx", edx as u64)
                    .hex("want_edx", want as u64)
                    .u64("generation", g)
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// The sync audit found `cpu` not synced at the checkpoint named `at` (see
/// the patcher's module doc): its last acknowledged round did not begin
/// after the last write (`acked <= written`), or it had not serialized in
/// it (`serialized < acked`).
pub fn unsynced(cpu: usize, at: &str, written: u64, acked: u64, serialized: u64) {
    let seen = STATS.unsynced.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        let key = CURRENT_KEY.load(Ordering::Relaxed);
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str("what", "unsynced")
                    .str("at", at)
                    .u64("written_round", written)
                    .u64("acked_round", acked)
                    .u64("serialized_round", serialized)
                    .u64("generation", KEYS[key].started.load(Ordering::Relaxed))
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// The executor's judge accepted a planted wrong call: the id of a target
/// of another key, judged against `key`'s window.
pub fn blind(cpu: usize, key: usize, planted: u32) {
    let seen = STATS.blind.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str("what", "blind")
                    .u64("key", key as u64)
                    .hex("got", planted as u64)
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// Whether `addr` is the first byte past a stub or a trampoline: nothing
/// falls through to it (a stub ends in `ret`, a trampoline in `jmp`), so a
/// CPU got there by a return address that pointed past the code: a call
/// emulated for a `jmp`, or a return address too far.
fn past_code(addr: u64) -> bool {
    let stub = plan::encode::STUB_LEN as u64;
    let tramp = plan::encode::JMP_LEN as u64;
    SITES
        .iter()
        .flatten()
        .any(|s| s.load(Ordering::Relaxed) + stub == addr)
        || TRAMPOLINES.iter().any(|t| {
            let t = t.load(Ordering::Relaxed);
            t != 0 && t + tramp == addr
        })
}

/// What kind of failure [`fault`] reports.
pub enum FaultKind {
    /// An exception other than a handled #BP.
    Exception,
    /// A #BP at an address no patch covers (`stale`: see
    /// [`crate::bp::BpOutcome::Stray`]).
    StrayBp {
        /// The rounds that make it stale, if it is.
        stale: Option<(u64, u64)>,
    },
}

/// An exception during the experiment (or a #BP nobody published): counted
/// as its failure, and recorded.
pub fn fault(frame: &TrapFrame, kind: FaultKind) {
    let cpu = percpu::index() as usize;
    let (stray_bp, stale) = match kind {
        FaultKind::Exception => (false, None),
        FaultKind::StrayBp { stale } => (true, stale),
    };
    let returned_past = stray_bp && stale.is_none() && past_code(frame.rip.wrapping_sub(1));
    let counter = if stale.is_some() {
        &STATS.stale_bp
    } else if returned_past {
        &STATS.bad_return
    } else if stray_bp {
        &STATS.stray_bp
    } else {
        &STATS.faults
    };
    let seen = counter.fetch_add(1, Ordering::Relaxed);
    if note_failure(seen) {
        let cr2 = cpu::cr2();
        let bytes = paging::read_mapped::<16>(frame.rip);
        let key = CURRENT_KEY.load(Ordering::Relaxed);
        with_name(|name| {
            record::emit(kind::FAILURE, |rec| {
                rec.str("exp", name)
                    .u64("cpu", cpu as u64)
                    .str(
                        "what",
                        if stale.is_some() {
                            "stale-int3"
                        } else if returned_past {
                            "bad-return"
                        } else if stray_bp {
                            "stray-bp"
                        } else {
                            "fault"
                        },
                    )
                    .u64("vector", frame.vector)
                    .hex("rip", frame.rip)
                    .hex("cr2", cr2);
                match &bytes {
                    Some(b) => rec.hexbytes("bytes", b),
                    None => rec.str("bytes", "unreadable"),
                };
                if let Some((restored, acked)) = stale {
                    rec.u64("restored_before_round", restored)
                        .u64("acked_round", acked);
                }
                if stray_bp {
                    // What memory holds at the trapping address now (through
                    // the alias): `cc` means a patch is still in progress
                    // there; anything else, that the patch was over before
                    // the handler looked (a stale `int3`, or a handler that
                    // looked late: see `nmi_acked_round`).
                    rec.hexbytes("mem", &crate::arena::peek::<5>(frame.rip.wrapping_sub(1)));
                    // A round this CPU acknowledged inside an NMI, later
                    // than any it acknowledged outside one: an NMI that
                    // arrived after the trap and acknowledged rounds for
                    // the CPU (a nested `spin` handler) let the patch end
                    // before the handler looked.
                    if let Some(round) = crate::sync::nmi_acked_late() {
                        rec.u64("nmi_acked_round", round);
                    }
                }
                rec.u64("generation", KEYS[key].started.load(Ordering::Relaxed))
                    .u64("tsc", rdtsc());
            });
        });
    }
}

/// Interference on an executor: the LAPIC timer, when asked for.
pub fn interference_start_executor() {
    if interference_is(Interference::Timer) || interference_is(Interference::TimerSite) {
        lapic::timer_periodic(VEC_TIMER, TIMER_COUNT);
    }
}

/// Stops what [`interference_start_executor`] started.
pub fn interference_stop_executor() {
    lapic::timer_stop();
}

/// The experiment's elapsed time in nanoseconds.
pub fn elapsed_ns() -> u64 {
    tsc::ticks_to_ns(rdtsc() - START_TSC.load(Ordering::Relaxed))
}
