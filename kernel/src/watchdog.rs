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
//! A CPU never reports itself, but for the patcher waiting in a #BP
//! handler, whose wait never ends. The first poller to find a stuck CPU
//! sends an NMI to each stuck CPU, which records its interrupted RIP and
//! the bytes there ([`on_nmi`]). Each of them is then judged on its own
//! (`plan::watchdog`, which holds the rules and their tests): one that has
//! made progress since (it answered, and went on) was starved, not stuck:
//! under an emulator a guest's CPUs share a few host cores, and with 100
//! vCPUs on 2 cores one can wait seconds for its turn. It excuses itself,
//! and no other. When every asked CPU was starved, the watchdog counts a
//! starvation ([`starved`]) and watches on. Otherwise the poller breaks
//! the serial lock if a CPU that did not move holds it (the next record
//! says so) and hands those CPUs to the reporter set by [`on_deadlock`]
//! (the torture's), which writes a `deadlock` record for each and ends
//! the run.
//!
//! Every wait here is bounded: the answers to the NMIs, the grace period,
//! and a CPU that finds another one judging ([`unacknowledged`]) waits for
//! that judgement with a deadline. Only the end of the run does not return.

use crate::{
    arch::{
        cpu::{self, rdtsc},
        idt::TrapFrame,
        lapic::{self, Delivery, Dest},
        paging,
        percpu::{self, MAX_CPUS},
        serial::{self, say},
        tsc,
    },
    smp,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use plan::{
    cpus::CpuSet,
    watchdog::{self as rules, Answer, Asked, Fate, Look, PATCHER},
};
use x86_64::instructions::interrupts;

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

/// Who may fire: nobody judges ([`IDLE`]), one CPU judges the CPUs it
/// asked ([`JUDGING`]), or it found a deadlock and ends the run
/// ([`ENDING`]).
static FIRE: AtomicU8 = AtomicU8::new(IDLE);
const IDLE: u8 = 0;
const JUDGING: u8 = 1;
const ENDING: u8 = 2;

/// How long the firing CPU waits for the NMIs' answers (per
/// [`smp::patient_us`]).
const ANSWER_US: u64 = 200_000;
/// How long an asked CPU that answered has to show progress (per
/// [`smp::patient_us`]).
const GRACE_US: u64 = 100_000;

/// The CPUs asked where they are, and what each was asked at.
static SNAP_WANTED: CpuSet = CpuSet::new();
/// Per asked CPU: its progress count when it was found stuck and asked.
static ASKED_AT: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// The asked CPUs whose NMI the local APIC did not accept.
static NMI_UNSENT: CpuSet = CpuSet::new();
/// The asked CPUs judged stuck.
static STUCK: CpuSet = CpuSet::new();
/// The stuck CPU's snapshot, filled by its NMI handler.
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

/// Patches ended so far (their #BP tables withdrawn).
static PATCHES_ENDED: AtomicU64 = AtomicU64::new(0);

/// Where a stuck CPU was: its RIP and the 16 bytes there.
pub type Snapshot = (u64, [u8; 16]);

/// Who reports a deadlock: given each stuck CPU with its snapshot (none
/// when it did not answer), it writes the records and ends the run.
pub type OnDeadlock = fn(&mut dyn Iterator<Item = (usize, Option<Snapshot>)>) -> !;

static ON_DEADLOCK: spin::Once<OnDeadlock> = spin::Once::new();

/// Sets who reports a deadlock (the torture, which knows the experiment
/// that ran into it). Without one, a deadlock ends the run at once.
pub fn on_deadlock(report: OnDeadlock) {
    ON_DEADLOCK.call_once(|| report);
}

/// Marks progress on the calling CPU.
#[inline(always)]
pub fn progress(cpu: usize) {
    PROGRESS[cpu].0.fetch_add(1, Ordering::Relaxed);
}

/// `cpu` waits in a #BP handler (`spin`, `retry`) for the patch of the
/// site it hit to end. Until it makes progress again (or
/// [`done_waiting`]), and for at most the patch in flight and the next
/// one, it is not watched on its own account: it waits for the patcher,
/// which is watched (`plan::watchdog::waits_for_patcher`). The patcher
/// itself waiting in the handler (Linus's counter-example) is stuck for
/// good and reported, and so is a CPU still waiting after two patches
/// ended (its patch is over: it waits for nothing).
pub fn waiting_for_patch(cpu: usize) {
    let p = PROGRESS[cpu].0.load(Ordering::Relaxed);
    // A retry that traps again goes on with the same wait.
    if WAITING_AT[cpu].load(Ordering::Relaxed) != p + 1 {
        WAITING_SINCE_PATCH[cpu].store(PATCHES_ENDED.load(Ordering::Relaxed), Ordering::Relaxed);
        WAITING_AT[cpu].store(p + 1, Ordering::Relaxed);
    }
}

/// A patch ended: its #BP table was withdrawn (see [`waiting_for_patch`]).
pub fn patch_ended() {
    PATCHES_ENDED.fetch_add(1, Ordering::Relaxed);
}

/// `cpu` no longer waits for the patch (see [`waiting_for_patch`]).
pub fn done_waiting(cpu: usize) {
    WAITING_AT[cpu].store(0, Ordering::Relaxed);
}

/// Whether `c` waits in a #BP handler and has made no progress since.
fn waiting(c: usize, progress: u64) -> bool {
    rules::waiting(WAITING_AT[c].load(Ordering::Relaxed), progress)
}

/// Whether `cpu` waits in a #BP handler (`spin`, `retry`) for a patch and
/// has made no progress since: a stuck CPU sampled in a function that wait
/// calls (`sync::duty`, `poll`) is still waiting in the handler.
pub fn waits_in_bp_handler(cpu: usize) -> bool {
    waiting(cpu, PROGRESS[cpu].0.load(Ordering::Relaxed))
}

/// The wait of `c` (progress count `progress`) as the excuse rule needs
/// it.
fn wait_of(c: usize, progress: u64, patcher_waiting: bool) -> rules::Wait {
    rules::Wait {
        cpu: c,
        waiting: waiting(c, progress),
        patches_since: PATCHES_ENDED
            .load(Ordering::Relaxed)
            .saturating_sub(WAITING_SINCE_PATCH[c].load(Ordering::Relaxed)),
        patcher_waiting,
    }
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
    LIMIT.store(tsc::deadline_us(limit_us) - now, Ordering::Relaxed);
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
    let is_stuck = |c: usize| rules::stuck_by_time(now, SEEN_AT[c].load(Ordering::Relaxed), limit);
    let patcher_waiting = waits_in_bp_handler(PATCHER);
    let mut stuck = false;
    for c in WATCHED
        .iter(Ordering::Relaxed)
        .filter(|&c| c != me && c < smp::count())
    {
        let p = PROGRESS[c].0.load(Ordering::Relaxed);
        let excused = rules::waits_for_patcher(&wait_of(c, p, patcher_waiting));
        match rules::look(p, SEEN[c].load(Ordering::Relaxed), excused, is_stuck(c)) {
            // A CPU waiting for the patcher is as fresh as its wait.
            Look::Moved | Look::Excused => {
                SEEN[c].store(p, Ordering::Relaxed);
                SEEN_AT[c].store(now, Ordering::Relaxed);
            }
            Look::Stuck => stuck = true,
            Look::Quiet => {}
        }
    }
    let mut first = stuck
        && FIRE
            .compare_exchange(IDLE, JUDGING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
    if first {
        // Still the only poller, but a poll nested in this one (a handler
        // that waits and polls, on this CPU) may have seen a CPU move since
        // the loop above: only the CPUs still stuck now are asked, and the
        // patcher if it waits in a handler (every waiter waits for it).
        forget_the_last_question();
        for c in WATCHED
            .iter(Ordering::Relaxed)
            .filter(|&c| c < smp::count() && rules::asks(c, me, is_stuck(c), patcher_waiting))
        {
            // The count it was found stuck at (the loop above saw every
            // other CPU's count); this CPU's own, now.
            let at = if c == me { &PROGRESS[me].0 } else { &SEEN[c] };
            ASKED_AT[c].store(at.load(Ordering::Relaxed), Ordering::Relaxed);
            SNAP_WANTED.insert(c, Ordering::Relaxed);
        }
        if SNAP_WANTED.count(Ordering::Relaxed) == 0 {
            // Nobody left to blame: not a deadlock (seen at 128 vCPUs on
            // 2 host cores, reported as one with no stuck CPU named).
            FIRE.store(IDLE, Ordering::Release);
            first = false;
        }
    }
    // Release pairs with the Acquire exchange above (the next poller sees
    // SEEN). A nested poll leaves the lock to the poll it interrupted.
    if !nested {
        POLLING.store(0, Ordering::Release);
    }
    if first {
        fire(me, true);
    }
}

/// `cpu` did not acknowledge a sync round in time: ask it where it is, as
/// [`poll`] would for a stuck CPU, and report the deadlock (no grace: a
/// CPU that runs on but never takes the sync IPI, interrupts left off, is
/// as stuck for the protocol as one that stopped). Ends the run.
///
/// Returns only when another CPU was already judging and did not finish
/// within twice its own bounds (it was taken away from its judgement): the
/// caller's error, which names `cpu`, then ends the experiment instead.
pub fn unacknowledged(cpu: usize) {
    let me = percpu::index() as usize;
    // No interrupt takes this CPU away while it reports: the patcher's own
    // (`self`) could hit a site the failed patch left covered, and wait
    // in a #BP handler for ever.
    let ints = interrupts::are_enabled();
    interrupts::disable();
    // 1. Take the firing, or wait (bounded) for the CPU that judges.
    let deadline = tsc::deadline_us(smp::patient_us(2 * (ANSWER_US + GRACE_US)));
    loop {
        match FIRE.compare_exchange(IDLE, JUDGING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            // It found a deadlock and ends the run: so does this CPU.
            Err(ENDING) => cpu::halt_forever(),
            Err(_) if tsc::passed(deadline) => {
                say!(
                    "watchdog: cpu {cpu} did not acknowledge a sync round, and another CPU's \
                     judgement did not end within {} us: not asked",
                    smp::patient_us(2 * (ANSWER_US + GRACE_US))
                );
                if ints {
                    interrupts::enable();
                }
                return;
            }
            // It judges; it may have asked this CPU too, which waits here,
            // bounded, and is not stuck. If every CPU it asked turns out
            // starved it lets go, and this CPU asks its own.
            Err(_) => {
                progress(me);
                core::hint::spin_loop();
            }
        }
    }
    // 2. Ask `cpu`, and judge it without grace.
    forget_the_last_question();
    ASKED_AT[cpu].store(PROGRESS[cpu].0.load(Ordering::Relaxed), Ordering::Relaxed);
    SNAP_WANTED.insert(cpu, Ordering::Relaxed);
    fire(me, false);
    // Without grace an asked CPU is stuck: `fire` ended the run.
    if ints {
        interrupts::enable();
    }
}

/// Clears the sets of the last question (only the CPU that holds
/// [`FIRE`]).
fn forget_the_last_question() {
    SNAP_WANTED.clear(Ordering::Relaxed);
    SNAP_DONE.clear(Ordering::Relaxed);
    NMI_UNSENT.clear(Ordering::Relaxed);
    STUCK.clear(Ordering::Relaxed);
}

/// Asks every CPU of [`SNAP_WANTED`] where it is and judges each on its
/// own (`plan::watchdog`, steps 3 to 5). Only the CPU that holds [`FIRE`]
/// gets here. Returns only when every asked CPU turned out starved (then
/// watching goes on); otherwise reports the stuck ones and ends the run.
/// `grace`: whether a CPU that moved is excused (not for a CPU that did not
/// acknowledge a sync round).
fn fire(me: usize, grace: bool) {
    // 1. No interrupt takes this CPU away while it judges (NMIs still
    //    come): a handler that waits for the patch would suspend the
    //    judgement, with FIRE held, for as long as it waits, which for the
    //    patcher's own interrupt (`self`) is for ever.
    let ints = interrupts::are_enabled();
    interrupts::disable();
    // 2. Ask: an NMI to every other CPU; the patcher waiting in a #BP
    //    handler, firing from its wait, notes where it is itself. Release
    //    pairs with the Acquire in `on_nmi`: SNAP_WANTED is in place
    //    before any NMI arrives (the IPI is no memory operation to order
    //    by).
    core::sync::atomic::fence(Ordering::Release);
    for c in SNAP_WANTED.iter(Ordering::Relaxed) {
        if c == me {
            snapshot_here(me);
            continue;
        }
        // Release pairs with the Acquire in `on_nmi`.
        NMI_SENT[c].fetch_add(1, Ordering::Release);
        if lapic::send(Dest::Apic(smp::apic_id(c)), Delivery::Nmi).is_err() {
            // Noted, and said below: the CPU is judged by its progress
            // alone, and reported without a snapshot if stuck.
            NMI_UNSENT.insert(c, Ordering::Relaxed);
        }
    }
    // 3. Wait (bounded) for the answers. Acquire pairs with the Release
    //    insert in `on_nmi`.
    let answered = |c: usize| SNAP_DONE.contains(c, Ordering::Acquire);
    let deadline = tsc::deadline_us(smp::patient_us(ANSWER_US));
    while SNAP_WANTED
        .iter(Ordering::Relaxed)
        .any(|c| !answered(c) && !NMI_UNSENT.contains(c, Ordering::Relaxed))
        && !tsc::passed(deadline)
    {
        core::hint::spin_loop();
    }
    let asked = || {
        SNAP_WANTED.iter(Ordering::Relaxed).map(|c| Asked {
            cpu: c,
            asked_at: ASKED_AT[c].load(Ordering::Relaxed),
            now: PROGRESS[c].0.load(Ordering::Relaxed),
            answer: if answered(c) {
                Answer::Snapshot
            } else if NMI_UNSENT.contains(c, Ordering::Relaxed) {
                Answer::NotSent
            } else {
                Answer::Silent
            },
        })
    };
    // 4. A CPU that answered may go on: give every asked CPU a moment to
    //    show progress.
    if grace {
        let until = tsc::deadline_us(smp::patient_us(GRACE_US));
        while !rules::all_moved(asked()) && !tsc::passed(until) {
            core::hint::spin_loop();
        }
    }
    // 5. Each on its own: a CPU that moved was starved, and its clock
    //    starts afresh; one that did not is stuck.
    let now = rdtsc();
    for (c, fate) in rules::judge(asked(), grace) {
        match fate {
            Fate::Starved => {
                SEEN[c].store(PROGRESS[c].0.load(Ordering::Relaxed), Ordering::Relaxed);
                SEEN_AT[c].store(now, Ordering::Relaxed);
            }
            Fate::Stuck(_) => {
                STUCK.insert(c, Ordering::Relaxed);
            }
        }
    }
    if STUCK.count(Ordering::Relaxed) == 0 {
        // 6. Starved, not stuck: watch on.
        STARVED.fetch_add(1, Ordering::Relaxed);
        say_unsent();
        forget_the_last_question();
        // Release pairs with the AcqRel exchange in `poll`: the next
        // poller to fire sees the sets cleared.
        FIRE.store(IDLE, Ordering::Release);
        if ints {
            interrupts::enable();
        }
        return;
    }
    // 6. A deadlock: a CPU waiting in `unacknowledged` halts, and the run
    //    ends here.
    FIRE.store(ENDING, Ordering::Release);
    if serial::owner().is_some_and(|o| STUCK.contains(o as usize, Ordering::Relaxed)) {
        serial::break_lock();
    }
    say_unsent();
    let mut stuck = STUCK.iter(Ordering::Relaxed).map(|c| {
        let snap = answered(c).then(|| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&SNAP_BYTES[c][0].load(Ordering::Relaxed).to_le_bytes());
            b[8..].copy_from_slice(&SNAP_BYTES[c][1].load(Ordering::Relaxed).to_le_bytes());
            (SNAP_RIP[c].load(Ordering::Relaxed), b)
        });
        (c, snap)
    });
    match ON_DEADLOCK.get() {
        Some(report) => report(&mut stuck),
        None => crate::exit::finish(),
    }
}

/// Says which asked CPUs' NMIs the local APIC did not accept, and what
/// became of them (a line of its own: the `deadlock` record of such a CPU
/// says `no-nmi-response`).
fn say_unsent() {
    for c in NMI_UNSENT.iter(Ordering::Relaxed) {
        say!(
            "watchdog: the NMI to cpu {c} was not accepted by the local APIC: {}",
            if STUCK.contains(c, Ordering::Relaxed) {
                "reported stuck without a snapshot"
            } else {
                "it moved since, starved"
            }
        );
    }
}

/// The firing CPU's own answer (the patcher waiting in a #BP handler,
/// firing from a poll in its wait): where it is now. Its `deadlock` record
/// says that it waits in the handler.
#[inline(never)]
fn snapshot_here(me: usize) {
    note_snapshot(me, cpu::rip());
}

/// Notes `rip` and the 16 bytes there (if mapped) as `me`'s answer.
fn note_snapshot(me: usize, rip: u64) {
    SNAP_RIP[me].store(rip, Ordering::Relaxed);
    if let Some(b) = paging::read_mapped::<16>(rip) {
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
    note_snapshot(me, frame.rip);
    true
}
