//! Finding CPUs that stopped making progress, from a CPU that is not stuck
//! with them.
//!
//! Every patcher and executor bumps its own progress counter. [`poll`]
//! compares each watched CPU's counter with what it saw last; a CPU whose
//! counter has not moved for the armed limit is stuck. Who polls: the
//! dedicated watchdog CPU (the last one, when there are at least 3), every
//! executor between calls, and every bounded wait (sync rounds, the `spin`
//! #BP handler): with 2 CPUs no CPU is spare, and a deadlocked patcher can
//! leave the only executor spinning in #BP too, so the wait itself watches.
//!
//! A CPU never reports itself. The first poller to find a stuck CPU sends
//! an NMI to each stuck CPU, which records its interrupted RIP and the
//! bytes there ([`on_nmi`]). If one of them has made progress since (it
//! answered, and went on), it was starved, not stuck: under an emulator a
//! guest's CPUs share a few host cores, and with 100 vCPUs on 2 cores one
//! can wait seconds for its turn. The watchdog then counts a starvation
//! ([`starved`]) and watches on. Otherwise the poller writes a `deadlock`
//! record per stuck CPU (breaking the serial lock if a stuck CPU holds it:
//! the record says so) and hands over to the runner to end the run.

use crate::{
    arch::{
        cpu::rdtsc,
        idt::TrapFrame,
        lapic::{self, Delivery, Dest},
        paging,
    },
    percpu::{self, MAX_CPUS},
    smp, time,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use plan::cpus::CpuSet;

#[repr(align(64))]
struct Padded(AtomicU64);

static PROGRESS: [Padded; MAX_CPUS] = [const { Padded(AtomicU64::new(0)) }; MAX_CPUS];
static SEEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static SEEN_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static WATCHED: CpuSet = CpuSet::new();
/// Whether [`WATCHED`] is being watched (one load for every poll).
static ARMED: AtomicBool = AtomicBool::new(false);
static LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);
/// The CPU polling now, as its index + 1 (0: none).
static POLLING: AtomicU32 = AtomicU32::new(0);
/// Times stuck-looking CPUs turned out starved since [`arm`].
static STARVED: AtomicU64 = AtomicU64::new(0);
static FIRED: AtomicBool = AtomicBool::new(false);

/// The stuck CPU's snapshot, filled by its NMI handler.
static SNAP_WANTED: CpuSet = CpuSet::new();
static SNAP_RIP: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static SNAP_BYTES: [[AtomicU64; 2]; MAX_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0)] }; MAX_CPUS];
static SNAP_DONE: CpuSet = CpuSet::new();
/// NMIs the watchdog sent each CPU, and those it took: an NMI that comes
/// after its question was dropped (the CPU was only starved) is still the
/// watchdog's, not an unexpected one.
static NMI_SENT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static NMI_TAKEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Per CPU: 1 + its progress count when it began waiting in a #BP
/// handler for the patch to end (0: it is not waiting), and how many
/// patches had ended then.
static WAITING_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static WAITING_SINCE_PATCH: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The CPU that runs the patcher (the BSP).
const PATCHER: usize = 0;

/// Where a stuck CPU was: its RIP and the 16 bytes there.
pub type Snapshot = (u64, [u8; 16]);

/// Marks progress on the calling CPU.
#[inline(always)]
pub fn progress(cpu: usize) {
    PROGRESS[cpu].0.fetch_add(1, Ordering::Relaxed);
}

/// `cpu` waits in a #BP handler (`spin`, `retry`) for the patch of the
/// site it hit to end. Until it makes progress again (or
/// [`done_waiting`]), and for at most the patch in flight and the next
/// one, it is not watched on its own account: it waits for the patcher,
/// which is watched. When the patcher waits in turn for a CPU that is slow
/// to answer a sync round (starved of host time under an emulator), the
/// watchdog asks the patcher, whose wait ends once that CPU runs, instead
/// of blaming the CPUs waiting behind it, which cannot move before the
/// patcher does. The patcher itself waiting in the handler (Linus's
/// counter-example) is stuck for good and reported, and so is a CPU still
/// waiting after two patches ended (its patch is over: it waits for
/// nothing).
pub fn waiting_for_patch(cpu: usize) {
    let p = PROGRESS[cpu].0.load(Ordering::Relaxed);
    // A retry that traps again goes on with the same wait.
    if WAITING_AT[cpu].load(Ordering::Relaxed) != p + 1 {
        WAITING_SINCE_PATCH[cpu].store(crate::bp::withdrawals(), Ordering::Relaxed);
        WAITING_AT[cpu].store(p + 1, Ordering::Relaxed);
    }
}

/// `cpu` no longer waits for the patch (see [`waiting_for_patch`]).
pub fn done_waiting(cpu: usize) {
    WAITING_AT[cpu].store(0, Ordering::Relaxed);
}

/// Whether `c` waits in a #BP handler and has made no progress since.
fn waiting(c: usize, progress: u64) -> bool {
    WAITING_AT[c].load(Ordering::Relaxed) == progress + 1
}

/// Whether `cpu` waits in a #BP handler (`spin`, `retry`) for a patch and
/// has made no progress since: a stuck CPU sampled in a function that wait
/// calls (`sync::duty`, `poll`) is still waiting in the handler.
pub fn waits_in_bp_handler(cpu: usize) -> bool {
    waiting(cpu, PROGRESS[cpu].0.load(Ordering::Relaxed))
}

/// Whether `c` waits for the patcher, has made no progress since, and the
/// patch it waits for has not long ended, while the patcher itself is not
/// waiting in a handler (then nobody's wait can end: every waiter is as
/// stuck as the patcher, and whoever polls, the patcher among them when
/// an interrupt took it inside `poll`, must be able to say so).
fn waits_for_patcher(c: usize, progress: u64) -> bool {
    c != PATCHER
        && waiting(c, progress)
        && crate::bp::withdrawals() <= WAITING_SINCE_PATCH[c].load(Ordering::Relaxed) + 1
        && !waiting(PATCHER, PROGRESS[PATCHER].0.load(Ordering::Relaxed))
}

/// Starts watching `cpus`; a CPU is stuck after `limit_us` without
/// progress.
pub fn arm(cpus: impl Iterator<Item = usize>, limit_us: u64) {
    let now = rdtsc();
    for c in 0..MAX_CPUS {
        SEEN[c].store(PROGRESS[c].0.load(Ordering::Relaxed), Ordering::Relaxed);
        SEEN_AT[c].store(now, Ordering::Relaxed);
        WAITING_AT[c].store(0, Ordering::Relaxed);
    }
    LIMIT.store(time::deadline_us(limit_us) - now, Ordering::Relaxed);
    STARVED.store(0, Ordering::Relaxed);
    WATCHED.clear(Ordering::Relaxed);
    for c in cpus {
        WATCHED.insert(c, Ordering::Relaxed);
    }
    // Release pairs with the Acquire in `poll`: the set and the limit
    // above are in place for whoever sees ARMED.
    ARMED.store(true, Ordering::Release);
}

/// How many times since [`arm`] CPUs that looked stuck were only starved.
pub fn starved() -> u64 {
    STARVED.load(Ordering::Relaxed)
}

/// Stops watching.
pub fn disarm() {
    ARMED.store(false, Ordering::Release);
}

/// One look at every watched CPU but the caller. Cheap when another CPU is
/// already looking.
pub fn poll() {
    // Acquire pairs with the Release store in `arm`.
    if !ARMED.load(Ordering::Acquire) {
        return;
    }
    let me = percpu::index() as usize;
    let tag = me as u32 + 1;
    // One poller at a time; but a CPU interrupted inside `poll` whose
    // handler waits (the `spin` #BP handler under `self` or `nmi-site`)
    // polls on, nested: were it shut out, its never-released POLLING would
    // shut every CPU out, and a deadlock would go unreported.
    let nested = match POLLING.compare_exchange(0, tag, Ordering::Acquire, Ordering::Relaxed) {
        Ok(_) => false,
        Err(owner) if owner == tag => true,
        Err(_) => return,
    };
    let now = rdtsc();
    let limit = LIMIT.load(Ordering::Relaxed);
    let is_stuck = |c: usize| now.saturating_sub(SEEN_AT[c].load(Ordering::Relaxed)) > limit;
    let mut stuck = false;
    for c in WATCHED
        .iter(Ordering::Relaxed)
        .filter(|&c| c != me && c < smp::count())
    {
        let p = PROGRESS[c].0.load(Ordering::Relaxed);
        // A CPU waiting for the patcher is as fresh as its wait.
        if p != SEEN[c].load(Ordering::Relaxed) || waits_for_patcher(c, p) {
            SEEN[c].store(p, Ordering::Relaxed);
            SEEN_AT[c].store(now, Ordering::Relaxed);
        } else if is_stuck(c) {
            stuck = true;
        }
    }
    let mut first = stuck && !FIRED.swap(true, Ordering::AcqRel);
    if first {
        // Still the only poller, but a poll nested in this one (a handler
        // that waits and polls, on this CPU) may have seen a CPU move since
        // the loop above: only the CPUs still stuck now are asked.
        for c in WATCHED
            .iter(Ordering::Relaxed)
            .filter(|&c| c != me && c < smp::count() && is_stuck(c))
        {
            SNAP_WANTED.insert(c, Ordering::Relaxed);
        }
        if SNAP_WANTED.count(Ordering::Relaxed) == 0 {
            // Nobody left to blame: not a deadlock (seen at 128 vCPUs on
            // 2 host cores, reported as one with no stuck CPU named).
            FIRED.store(false, Ordering::Release);
            first = false;
        }
    }
    // Release pairs with the Acquire exchange above (the next poller sees
    // SEEN). A nested poll leaves the lock to the poll it interrupted.
    if !nested {
        POLLING.store(0, Ordering::Release);
    }
    if first {
        fire(false);
    }
}

/// `cpu` did not acknowledge a sync round in time: ask it where it is, as
/// [`poll`] would for a stuck CPU. Reports the deadlock and ends the run,
/// or returns when the CPU turns out only starved of host time.
pub fn unacknowledged(cpu: usize) {
    if FIRED.swap(true, Ordering::AcqRel) {
        // Another CPU is reporting already, and ends the run.
        loop {
            core::hint::spin_loop();
        }
    }
    SNAP_WANTED.clear(Ordering::Relaxed);
    SNAP_WANTED.insert(cpu, Ordering::Relaxed);
    // A CPU that runs on but never takes the sync IPI (interrupts left
    // off) is as stuck for the protocol as one that stopped: no grace.
    fire(true);
}

/// Asks every CPU of [`SNAP_WANTED`] where it is (an NMI each), waits a
/// bounded time for the answers, and reports them. Only the first poller
/// to find a stuck CPU gets here (`FIRED`); it returns only when a CPU
/// turned out starved (then watching goes on).
fn fire(unacknowledged: bool) {
    // Release pairs with the Acquire in `on_nmi`: SNAP_WANTED is in place
    // before any NMI arrives (the IPI is no memory operation to order by).
    core::sync::atomic::fence(Ordering::Release);
    for c in SNAP_WANTED.iter(Ordering::Relaxed) {
        // Release pairs with the Acquire in `on_nmi`.
        NMI_SENT[c].fetch_add(1, Ordering::Release);
        let _ = lapic::send(Dest::Apic(smp::apic_id(c)), Delivery::Nmi);
    }
    let deadline = time::deadline_us(smp::patient_us(200_000));
    // Acquire pairs with the Release insert in `on_nmi`.
    while SNAP_WANTED
        .iter(Ordering::Relaxed)
        .any(|c| !SNAP_DONE.contains(c, Ordering::Acquire))
        && !time::passed(deadline)
    {
        core::hint::spin_loop();
    }
    // A CPU that answered may go on: give it a moment to show progress.
    let moved = || {
        SNAP_WANTED
            .iter(Ordering::Relaxed)
            .any(|c| PROGRESS[c].0.load(Ordering::Relaxed) != SEEN[c].load(Ordering::Relaxed))
    };
    let grace = time::deadline_us(smp::patient_us(100_000));
    while !moved() && !time::passed(grace) {
        core::hint::spin_loop();
    }
    if !unacknowledged && moved() {
        // Starved, not stuck: start every clock afresh and watch on.
        STARVED.fetch_add(1, Ordering::Relaxed);
        let now = rdtsc();
        for c in 0..MAX_CPUS {
            SEEN[c].store(PROGRESS[c].0.load(Ordering::Relaxed), Ordering::Relaxed);
            SEEN_AT[c].store(now, Ordering::Relaxed);
        }
        SNAP_WANTED.clear(Ordering::Relaxed);
        SNAP_DONE.clear(Ordering::Relaxed);
        // Release pairs with the AcqRel swap in `poll`: the next poller to
        // fire sees the sets cleared.
        FIRED.store(false, Ordering::Release);
        return;
    }
    crate::torture::deadlock(SNAP_WANTED.iter(Ordering::Relaxed).map(|c| {
        let snap = SNAP_DONE.contains(c, Ordering::Acquire).then(|| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&SNAP_BYTES[c][0].load(Ordering::Relaxed).to_le_bytes());
            b[8..].copy_from_slice(&SNAP_BYTES[c][1].load(Ordering::Relaxed).to_le_bytes());
            (SNAP_RIP[c].load(Ordering::Relaxed), b)
        });
        (c, snap)
    }))
}

/// The NMI on a CPU the watchdog asked: note where it was (if the question
/// still stands). Returns whether the NMI was the watchdog's, late or not.
pub fn on_nmi(frame: &TrapFrame) -> bool {
    let me = percpu::index() as usize;
    // Acquire pairs with the Release in `fire`.
    let sent = NMI_SENT[me].load(Ordering::Acquire);
    if NMI_TAKEN[me].load(Ordering::Relaxed) >= sent {
        return false;
    }
    // NMIs sent while one was pending arrive as one: take them all.
    NMI_TAKEN[me].store(sent, Ordering::Relaxed);
    if !SNAP_WANTED.contains(me, Ordering::Acquire) || SNAP_DONE.contains(me, Ordering::Relaxed) {
        return true;
    }
    SNAP_RIP[me].store(frame.rip, Ordering::Relaxed);
    if paging::readable(frame.rip, 16) {
        let mut b = [0u8; 16];
        // SAFETY: the 16 bytes at RIP are mapped (checked just above).
        unsafe { core::ptr::copy_nonoverlapping(frame.rip as *const u8, b.as_mut_ptr(), 16) };
        SNAP_BYTES[me][0].store(
            u64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8])),
            Ordering::Relaxed,
        );
        SNAP_BYTES[me][1].store(
            u64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8])),
            Ordering::Relaxed,
        );
    }
    // Release pairs with the Acquire in `fire`.
    SNAP_DONE.insert(me, Ordering::Release);
    true
}
