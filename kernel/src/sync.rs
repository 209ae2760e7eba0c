//! Making every other CPU see modified code: the sync methods and the
//! serializing instructions they end in.
//!
//! | method | patcher | every other CPU |
//! | --- | --- | --- |
//! | `ipi` | bumps the round, sends the sync IPI to every other CPU (one all-but-self broadcast where every CPU the MADT lists is online, as Linux does since v5.5; else one IPI per CPU), waits until each has acknowledged the round | in the IPI handler: executes the serializing instruction, stores the round in its ack slot |
//! | `cpumask` (hpa) | sets a mask of the other online CPUs, broadcasts the sync IPI once (all-but-self), waits until the round is marked done | at a serializing point (the IPI handler, or while spinning in a #BP handler): serializes, clears its bit; the CPU that clears the last bit marks the round done |
//! | `none` | nothing (negative control) | nothing |
//!
//! Every wait is bounded: a round's deadline ([`SYNC_TIMEOUT_US`]) is taken
//! before its first IPI is sent, and covers the sends as well as the
//! answers. A CPU that does not acknowledge in time, or whose IPI did not
//! go out, is named in a [`SyncError`], never waited for forever.
//!
//! Each acknowledgement also carries the round in which the CPU last
//! serialized ([`ack_of`]): the patcher's sync audit checks, before each
//! phase, that every other CPU acknowledged a round after the last write
//! and had serialized in that round when it did. Both only grow: a duty
//! nested in an NMI that interrupted this CPU's own duty may acknowledge a
//! later round first, and the outer one must not take it back.
//!
//! A CPU also keeps the acknowledgement it last made *outside* an NMI
//! ([`ack_before_trap`]), the only one a #BP handler may take as evidence
//! of what the CPU had serialized before it trapped: an NMI can arrive
//! between an `int3` and the first instruction of its handler, and a
//! `spin` handler nested in it acknowledges rounds for the CPU, rounds
//! that began after the trap (`plan::stale`).

use crate::{
    arch::{
        cpu,
        lapic::{self, Delivery, Dest},
        percpu::{self, MAX_CPUS},
        tsc,
    },
    sabotage::sabotaged,
    smp,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use plan::{
    cpus::CpuSet,
    experiment::{Serializer, SyncMode},
};
use report::cmdline::Sabotage;

/// The sync IPI's vector.
pub const VEC_SYNC: u8 = 0xf2;
/// The longest a sync round may take (per [`smp::patient_us`]).
pub const SYNC_TIMEOUT_US: u64 = 1_000_000;

static ROUND: AtomicU64 = AtomicU64::new(0);
static ACK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: the round current when it last began to serialize.
static SERIALIZED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: what [`SERIALIZED`] held when it last acknowledged.
static ACK_SERIALIZED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: [`ACK`] and [`ACK_SERIALIZED`] as the last acknowledgement
/// made outside an NMI left them (read only by the CPU itself).
static PLAIN_ACK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static PLAIN_ACK_SERIALIZED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: the last round it acknowledged inside an NMI (read only by the
/// CPU itself, for its failure records).
static NMI_ACK: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// Per CPU: how many NMIs it is inside (an NMI can nest in another once a
/// #BP inside the first returns with IRET, which unblocks NMIs).
static NMI_DEPTH: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// The `cpumask` round's CPUs that have not passed a serializing point.
static MASK: CpuSet = CpuSet::new();
/// How many bits of [`MASK`] are still set: the CPU that takes it to 0 is
/// the last one out (one word no longer holds every CPU, so "the mask was
/// exactly my bit" cannot tell).
static MASK_LEFT: AtomicUsize = AtomicUsize::new(0);
static MASK_DONE: AtomicU64 = AtomicU64::new(0);
static METHOD_CPUMASK: AtomicBool = AtomicBool::new(false);
static SERIALIZE: AtomicU8 = AtomicU8::new(0);

/// How a sync round failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncFailure {
    /// The CPU did not acknowledge the round before its deadline.
    Timeout,
    /// The local APIC did not accept the sync IPI to the CPU.
    Send,
    /// The round's deadline passed before the sync IPI to the CPU was
    /// sent (the sends before it took that long).
    Late,
    /// The local APIC of the CPU, the sender, did not accept the
    /// all-but-self broadcast (`cpumask`, and `ipi` where every CPU is
    /// online).
    Broadcast,
}

/// A sync round that failed, naming the CPU it failed on.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub struct SyncError {
    /// Its index.
    pub cpu: usize,
    /// The round.
    pub round: u64,
    /// What went wrong with it.
    pub failure: SyncFailure,
}

impl SyncError {
    /// Whether the CPU did not answer (it may be stuck: the watchdog can
    /// ask it where it is). Every other failure is the sender's: the CPU
    /// named was never asked to answer.
    pub fn unanswered(&self) -> bool {
        self.failure == SyncFailure::Timeout
    }
}

/// Chooses the serializing instruction for the next rounds.
pub fn set_serialize(s: Serializer) {
    SERIALIZE.store(s as u8, Ordering::Relaxed);
}

/// Executes the chosen serializing instruction on this CPU, and notes the
/// round current before it (for the audit, [`ack_of`]).
pub fn serialize_now() {
    let round = ROUND.load(Ordering::Acquire);
    serialize_instruction();
    // Relaxed: only this CPU reads its slot (in `duty`, to acknowledge).
    SERIALIZED[percpu::index() as usize].store(round, Ordering::Relaxed);
}

fn serialize_instruction() {
    let s = SERIALIZE.load(Ordering::Relaxed);
    match s {
        x if x == Serializer::Cpuid as u8 => {
            let _ = cpu::cpuid(0, 0);
        }
        x if x == Serializer::MovCr2 as u8 => cpu::serialize_mov_cr2(),
        // Experiments that choose SERIALIZE are skipped on CPUs without it.
        x if x == Serializer::Serialize as u8 => cpu::serialize(),
        _ => cpu::serialize_iret(),
    }
}

/// Sync rounds begun by [`sync`] (method `none` begins none).
static ROUNDS_BEGUN: AtomicU64 = AtomicU64::new(0);
/// Sync IPIs sent: one per CPU addressed, a broadcast counting once per
/// CPU it reaches.
static IPIS_SENT: AtomicU64 = AtomicU64::new(0);

/// Rounds begun and IPIs sent so far (counted, not timed: the benchmark's
/// figures per key update are differences of two of these).
pub fn counts() -> (u64, u64) {
    (
        ROUNDS_BEGUN.load(Ordering::Relaxed),
        IPIS_SENT.load(Ordering::Relaxed),
    )
}

/// One sync round with `method`; returns the TSC ticks it took.
pub fn sync(method: SyncMode) -> Result<u64, SyncError> {
    let start = cpu::rdtsc();
    let me = percpu::index() as usize;
    let n = smp::count();
    match method {
        SyncMode::None => return Ok(0),
        SyncMode::Ipi => {
            METHOD_CPUMASK.store(false, Ordering::Relaxed);
            let r = ROUND.fetch_add(1, Ordering::AcqRel) + 1;
            // `break=ipi-skip-last`: an off-by-one leaves the last CPU out.
            let n = n - sabotaged(Sabotage::IpiSkipLast) as usize;
            ROUNDS_BEGUN.fetch_add(1, Ordering::Relaxed);
            // 1. The deadline covers the sends too: in xAPIC mode each
            //    send waits for the ICR to accept it, and with hundreds of
            //    vCPUs on a few host cores the sends alone can take long.
            let deadline = tsc::deadline_us(smp::patient_us(SYNC_TIMEOUT_US));
            // `break=defer-sync`: the last CPU is counted in, not asked.
            let n = if let Some(c) = deferring(n, me) {
                defer(c, r);
                n - 1
            } else {
                n
            };
            // 2. Where every CPU the MADT lists is online, one all-but-self
            //    broadcast reaches exactly the CPUs that must answer (under
            //    `break=ipi-skip-last` and `break=defer-sync` the last one
            //    ignores it: `on_ipi`). Its rejection ends the round, naming
            //    this CPU's local APIC.
            if smp::all_online() {
                if lapic::send(Dest::AllButSelf, Delivery::Fixed(VEC_SYNC)).is_err() {
                    return Err(SyncError {
                        cpu: me,
                        round: r,
                        failure: SyncFailure::Broadcast,
                    });
                }
                IPIS_SENT.fetch_add(smp::count() as u64 - 1, Ordering::Relaxed);
                crate::watchdog::progress(me);
            }
            // Else one IPI per CPU. Each accepted send is progress, as each
            // answer is; one that is not accepted ends the round, naming
            // the CPU (it was not asked to answer: not its fault).
            for c in (0..n).filter(|&c| c != me && !smp::all_online()) {
                let fail = |failure| SyncError {
                    cpu: c,
                    round: r,
                    failure,
                };
                if tsc::passed(deadline) {
                    return Err(fail(SyncFailure::Late));
                }
                if lapic::send(Dest::Apic(smp::apic_id(c)), Delivery::Fixed(VEC_SYNC)).is_err() {
                    return Err(fail(SyncFailure::Send));
                }
                IPIS_SENT.fetch_add(1, Ordering::Relaxed);
                crate::watchdog::progress(me);
            }
            // 3. Every answer, by the same deadline.
            for c in (0..n).filter(|&c| c != me) {
                // Acquire pairs with the Release store in `ack`: what the
                // CPU did before acknowledging is visible to us.
                while ACK[c].load(Ordering::Acquire) < r {
                    if tsc::passed(deadline) {
                        return Err(SyncError {
                            cpu: c,
                            round: r,
                            failure: SyncFailure::Timeout,
                        });
                    }
                    crate::watchdog::poll();
                    core::hint::spin_loop();
                }
                // Each answer is progress: with many vCPUs on few host
                // cores the answers of one round trickle in for seconds;
                // a CPU that never answers ends the round at `deadline`.
                crate::watchdog::progress(me);
            }
        }
        SyncMode::Cpumask => {
            METHOD_CPUMASK.store(true, Ordering::Relaxed);
            let r = ROUND.load(Ordering::Relaxed) + 1;
            if n < 2 {
                ROUND.store(r, Ordering::Release);
                return Ok(0);
            }
            // The mask and its count are in place before the round is
            // announced: Release on ROUND pairs with the Acquire in
            // `duty`/`on_ipi`. (Bits a timed-out round left go first.)
            MASK.clear(Ordering::Relaxed);
            for c in (0..n).filter(|&c| c != me) {
                MASK.insert(c, Ordering::Relaxed);
            }
            MASK_LEFT.store(n - 1, Ordering::Relaxed);
            ROUND.store(r, Ordering::Release);
            ROUNDS_BEGUN.fetch_add(1, Ordering::Relaxed);
            // The deadline covers the broadcast, as an `ipi` round's covers
            // its sends; a broadcast not accepted ends the round, naming
            // this CPU (its local APIC), and an accepted one is progress.
            let deadline = tsc::deadline_us(smp::patient_us(SYNC_TIMEOUT_US));
            if lapic::send(Dest::AllButSelf, Delivery::Fixed(VEC_SYNC)).is_err() {
                return Err(SyncError {
                    cpu: me,
                    round: r,
                    failure: SyncFailure::Broadcast,
                });
            }
            IPIS_SENT.fetch_add(n as u64 - 1, Ordering::Relaxed);
            crate::watchdog::progress(me);
            // `break=cpumask-first-out`: the round ends when the first CPU
            // is out, not the last.
            let first_out = sabotaged(Sabotage::CpumaskFirstOut);
            // Acquire pairs with the Release store by the last CPU out (or
            // the AcqRel count of the first).
            while if first_out {
                MASK_LEFT.load(Ordering::Acquire) == n - 1
            } else {
                MASK_DONE.load(Ordering::Acquire) < r
            } {
                if tsc::passed(deadline) {
                    return Err(SyncError {
                        cpu: MASK.first(Ordering::Relaxed).unwrap_or(me),
                        round: r,
                        failure: SyncFailure::Timeout,
                    });
                }
                crate::watchdog::poll();
                core::hint::spin_loop();
            }
        }
    }
    serialize_now();
    // A finished round is progress: on a crowded host one round can take
    // longer than the watchdog's limit divided by the rounds of a patch.
    crate::watchdog::progress(me);
    Ok(cpu::rdtsc() - start)
}

/// The last round started (a round `r` began after everything written
/// before `current_round()` returned `r - 1`).
pub fn current_round() -> u64 {
    ROUND.load(Ordering::Acquire)
}

/// The last round `cpu` acknowledged, and the round in which it had last
/// serialized when it acknowledged (less than the first: it acknowledged
/// before it serialized).
pub fn ack_of(cpu: usize) -> (u64, u64) {
    // Acquire pairs with the Release store of ACK in `duty`, which comes
    // after the store of ACK_SERIALIZED.
    let acked = ACK[cpu].load(Ordering::Acquire);
    (acked, ACK_SERIALIZED[cpu].load(Ordering::Relaxed))
}

/// The last round this CPU acknowledged outside an NMI, and the round in
/// which it had last serialized then (as [`ack_of`]). Only the CPU itself
/// may ask, from a #BP handler: with interrupts off there, no
/// acknowledgement but one made inside an NMI can come between its trap
/// and this read, so this one was made before the trap (`plan::stale`).
pub fn ack_before_trap() -> (u64, u64) {
    let me = percpu::index() as usize;
    (
        PLAIN_ACK[me].load(Ordering::Relaxed),
        PLAIN_ACK_SERIALIZED[me].load(Ordering::Relaxed),
    )
}

/// The last round this CPU acknowledged inside an NMI, if that is later
/// than every round it acknowledged outside one (for its failure records).
pub fn nmi_acked_late() -> Option<u64> {
    let me = percpu::index() as usize;
    let nmi = NMI_ACK[me].load(Ordering::Relaxed);
    (nmi > PLAIN_ACK[me].load(Ordering::Relaxed)).then_some(nmi)
}

/// Runs `f` as this CPU's NMI handler (its acknowledgements are not
/// [`ack_before_trap`]'s evidence).
pub fn in_nmi<R>(f: impl FnOnce() -> R) -> R {
    let depth = &NMI_DEPTH[percpu::index() as usize];
    // Relaxed: only this CPU reads and writes its depth, and an NMI nested
    // in this one restores it before this one goes on.
    depth.fetch_add(1, Ordering::Relaxed);
    let r = f();
    depth.fetch_sub(1, Ordering::Relaxed);
    r
}

/// This CPU passes a serializing point for the current round, if it has
/// not yet: serialize, then acknowledge.
pub fn duty() {
    let me = percpu::index() as usize;
    // Acquire pairs with the Release store of ROUND in `sync`.
    let r = ROUND.load(Ordering::Acquire);
    if ACK[me].load(Ordering::Relaxed) >= r {
        return;
    }
    let early = sabotaged(Sabotage::AckBeforeSerialize);
    if !early {
        serialize_now();
    }
    let serialized = SERIALIZED[me].load(Ordering::Relaxed);
    // `fetch_max`: an NMI between the load of `r` and here may have
    // acknowledged a later round already (a nested `spin` handler).
    ACK_SERIALIZED[me].fetch_max(serialized, Ordering::Relaxed);
    // Release: ACK_SERIALIZED (and whatever this CPU did) before the ack.
    ACK[me].fetch_max(r, Ordering::Release);
    if NMI_DEPTH[me].load(Ordering::Relaxed) == 0 {
        // Not inside an NMI, so no NMI's duty is half done under this one
        // (an NMI that interrupted it finished first): plain stores.
        PLAIN_ACK_SERIALIZED[me].store(serialized, Ordering::Relaxed);
        PLAIN_ACK[me].store(r, Ordering::Relaxed);
    } else {
        NMI_ACK[me].fetch_max(r, Ordering::Relaxed);
    }
    if early {
        serialize_now();
    }
    // Only the CPU that finds its own bit set counts itself out (AcqRel:
    // the removals and the count form one chain that the last one out
    // has seen all of).
    if METHOD_CPUMASK.load(Ordering::Relaxed)
        && MASK.remove(me, Ordering::AcqRel)
        && MASK_LEFT.fetch_sub(1, Ordering::AcqRel) == 1
    {
        // Last one out finishes the round (Release pairs with the
        // patcher's Acquire).
        MASK_DONE.store(r, Ordering::Release);
    }
}

/// The sync IPI on this CPU.
pub fn on_ipi() {
    // `break=ipi-skip-last`, `break=defer-sync`: the last CPU is left out
    // of `ipi` rounds; a broadcast reaches it, so it ignores the round
    // itself.
    let me = percpu::index() as usize;
    if (sabotaged(Sabotage::IpiSkipLast) || sabotaged(Sabotage::DeferSync))
        && !METHOD_CPUMASK.load(Ordering::Relaxed)
        && me + 1 == smp::count()
    {
        return;
    }
    duty();
}

/// Per CPU: the last round whose serialization it was left owing
/// (`break=defer-sync`).
static OWED: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// `break=defer-sync`: the CPU that an `ipi` round of `n` CPUs begun by
/// `me` leaves out, as isolated: the last one, if it is not `me`.
fn deferring(n: usize, me: usize) -> Option<usize> {
    (sabotaged(Sabotage::DeferSync) && n >= 2 && n - 1 != me).then_some(n - 1)
}

/// `break=defer-sync`: counts `cpu` in round `r` without an IPI, as a
/// patcher that defers an isolated CPU's sync to its next kernel entry
/// does, and leaves it the serialization owed ([`pay_deferred`]). Its
/// acknowledgement carries the round it last really serialized in, so the
/// sync audit sees a CPU counted in a round it has not serialized in.
fn defer(cpu: usize, r: u64) {
    OWED[cpu].fetch_max(r, Ordering::Relaxed);
    // Release pairs with the patcher's Acquire in `ack_of`.
    ACK[cpu].fetch_max(r, Ordering::Release);
}

/// `break=defer-sync`: this CPU's next kernel entry (an interrupt) pays
/// the serialization it was left owing, after the interrupt's handler ran
/// (which may have called a site being patched). Nothing without the word.
pub fn pay_deferred() {
    let me = percpu::index() as usize;
    let owed = OWED[me].load(Ordering::Relaxed);
    if owed == 0 || ACK_SERIALIZED[me].load(Ordering::Relaxed) >= owed {
        return;
    }
    serialize_now();
    ACK_SERIALIZED[me].fetch_max(SERIALIZED[me].load(Ordering::Relaxed), Ordering::Relaxed);
}
