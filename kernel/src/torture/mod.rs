//! The torture: experiments from `plan`'s registry, run one after another
//! on the object under test.
//!
//! For each experiment the BSP (CPU 0) is the patcher; CPUs 1.. run the
//! executor loops; with 3 or more CPUs the last one only watches. The
//! patcher retargets the keys in turn for the experiment's duration, then
//! the result goes out as one `exp` record (and `failure` records for the
//! first failures), judged here against the expectation the same way the
//! harness judges it again from the records.

// The executors call through the sites being patched, and recover from
// the faults those calls may take.
#[allow(unsafe_code)]
mod executor;
mod hist;
mod key;
mod patcher;
pub mod state;

use crate::{
    arch::{call, cpu::rdtsc, idt::TrapFrame, lapic, percpu, tsc},
    bp, record, smp, sync, watchdog,
};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use plan::{
    experiment::{self as ex, Expectation, Experiment, Interference, SyncMode},
    verdict::{self, FLOOR_ROUNDS},
};
use report::{
    cmdline::{self, Sizes, DEFAULT_SIZES},
    kind,
};
use state::{STATS, STOP};
pub use state::{VEC_SELF, VEC_TIMER};

/// Keys, sites per key and targets per key of every experiment of the boot
/// (`keys=`, `sites=`, `targets=`; set once by [`run`]).
static SIZES: spin::Once<Sizes> = spin::Once::new();

fn sizes() -> Sizes {
    SIZES.get().copied().unwrap_or(DEFAULT_SIZES)
}

// What the command line accepts is what the planner can place (a class may
// still hold fewer sites: see `run_one`).
const _: () = {
    use plan::layout::{MAX_KEYS, MAX_SITES_PER_KEY, MAX_TARGETS_PER_KEY};
    assert!(cmdline::KEYS_RANGE.0 == 1 && cmdline::KEYS_RANGE.1 == MAX_KEYS);
    assert!(cmdline::SITES_RANGE.0 == 1 && cmdline::SITES_RANGE.1 == MAX_SITES_PER_KEY);
    assert!(cmdline::TARGETS_RANGE.0 == 2 && cmdline::TARGETS_RANGE.1 == MAX_TARGETS_PER_KEY);
};
/// A CPU without progress for this long is stuck (per
/// [`smp::patient_us`]).
const WATCHDOG_US: u64 = 1_500_000;
/// How many idle sync rounds `spin-bounded` spins before it acts.
const SPIN_BOUND_ROUNDS: u64 = 4;
/// Patches every experiment makes however short its time
/// ([`plan::verdict::MIN_PATCHES`]: fewer fail it) ...
const MIN_PATCHES: u64 = plan::verdict::MIN_PATCHES;
/// ... unless this many times its duration has gone by (the `exp` record
/// then shows how few patches there were).
const MAX_STRETCH: u64 = 20;
/// ... and at least this long (per [`smp::patient_us`]): at `-smp 8` on 2
/// host cores under TCG a patch with the timer's interference takes a
/// quarter of a second, and 20 times a short duration ended experiments
/// at 5 patches.
const MIN_STRETCH_US: u64 = 6_000_000;

/// Runs the experiments whose names match `pattern` (a glob, or a
/// comma-separated list of globs), `ms` milliseconds each. Experiments that need a boot of their own run only when the
/// pattern selects nothing else.
pub fn run(
    pattern: &str,
    ms: u64,
    sizes: Sizes,
    nobp: bool,
    sabotage: Option<report::cmdline::Sabotage>,
) {
    SIZES.call_once(|| sizes);
    crate::sabotage::set(sabotage);
    watchdog::on_deadlock(deadlock);
    if let Some(s) = sabotage {
        record::emit(kind::CHECK, |r| {
            r.str("name", "sabotage")
                .str("result", "skip")
                .str("detail", s.name());
        });
    }
    // A list whose every glob selects something: a misspelt glob beside
    // good ones must not quietly run less than was asked.
    if let Some(glob) = pattern
        .split(ex::LIST_SEPARATOR)
        .find(|g| ex::matching(g).next().is_none())
    {
        record::count_failure();
        record::emit(kind::CHECK, |r| {
            r.str("name", "exp").str("result", "fail").display(
                "detail",
                format_args!("no experiment matches {glob:?} (exp={pattern})"),
            );
        });
        return;
    }
    let selected = ex::matching(pattern).count();
    baseline();
    for e in ex::matching(pattern) {
        let skip = if e.own_boot && selected > 1 {
            Some("own-boot")
        } else if e.needs_bp() && nobp {
            Some("nobp")
        } else if smp::count() < 2 {
            Some("needs-2-cpus")
        } else if e.serialize == ex::Serializer::Serialize
            && !crate::arch::cpu::Identity::read().serialize
        {
            Some("no-serialize-instruction")
        } else {
            None
        };
        match skip {
            Some(why) => record::emit(kind::EXP, |r| {
                r.display("name", e.name())
                    .str("expectation", e.expectation.name())
                    .str("outcome", "skip")
                    .str("reason", why);
            }),
            None => run_one(e, ms),
        }
    }
}

/// How long each AP runs each call loop of the baseline.
const BASE_LOOP_US: u64 = 50_000;

/// The experiment whose arena the checked-call floor calls through: a
/// qword site in line, never patched during the baseline.
const BASE_CHECKED_EXP: &str = "atomic/-/ipi/qword";

/// The floors every experiment's numbers are measured against, in this
/// boot, before any executor runs:
///
/// 1. `direct`: a plain call to an `#[inline(never)]` function through an
///    `asm!` `call`, which the compiler can neither inline nor drop; the
///    callee counts itself, and the count it leaves is what is reported.
/// 2. `checked`: the executor's [`executor::checked_call`] through a site
///    of an installed arena that nothing patches: the cost of the check
///    and the stub, without patching.
/// 3. one sync round of each method.
///
/// The third step of the ladder, checked calls under patching, is each
/// experiment's own `calls_per_s_per_ap`.
fn baseline() {
    sync::set_serialize(ex::Serializer::Iret);
    smp::on_aps(direct_loop, 0, smp::patient_us(2_000_000));
    let direct = per_ap(&BASE_CALLS);
    let checked = checked_floor();
    let ipi = floor(SyncMode::Ipi);
    let mask = floor(SyncMode::Cpumask);
    record::emit(kind::BASELINE, |r| {
        r.u64("direct_calls_per_s", direct)
            .u64("checked_calls_per_s", checked);
        // A floor with a round that timed out is no figure: `timeout`, and
        // how many rounds did.
        for (name, timeouts, (cycles, failed)) in [
            ("ipi_sync_cycles", "ipi_sync_timeouts", ipi),
            ("cpumask_sync_cycles", "cpumask_sync_timeouts", mask),
        ] {
            if failed == 0 {
                r.u64(name, cycles);
            } else {
                r.str(name, "timeout").u64(timeouts, failed);
            }
        }
    });
}

/// The callee of the direct-call floor: bumps the caller's counter.
#[inline(never)]
extern "C" fn direct_callee(count: &AtomicU64) {
    // A plain load and store, no locked instruction: the count is this
    // CPU's own.
    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// One AP's direct-call floor: calls [`direct_callee`] for
/// [`BASE_LOOP_US`] and stores calls per second from the callee's count.
fn direct_loop(_: u64) {
    let cpu = percpu::index() as usize;
    let count = &BASE_DIRECT_COUNT[cpu];
    count.store(0, Ordering::Relaxed);
    let d = tsc::deadline_us(BASE_LOOP_US);
    let t0 = rdtsc();
    while !tsc::passed(d) {
        for _ in 0..64 {
            call::direct(direct_callee, count);
        }
    }
    let cycles = (rdtsc() - t0).max(1);
    let n = count.load(Ordering::Relaxed);
    BASE_CALLS[cpu].store(
        (n as u128 * tsc::hz() as u128 / cycles as u128) as u64,
        Ordering::Relaxed,
    );
}

/// The checked-call floor: installs the arena of [`BASE_CHECKED_EXP`],
/// runs [`checked_loop`] on every AP, and returns checked calls per second
/// per AP (0 if the arena could not be set up).
fn checked_floor() -> u64 {
    let Some(e) = ex::find(BASE_CHECKED_EXP) else {
        return 0;
    };
    let z = sizes();
    let Ok(plan) = e.plan(z.keys, z.sites, z.targets) else {
        return 0;
    };
    if crate::arena::install(&plan).is_err() || sync::sync(SyncMode::Ipi).is_err() {
        return 0;
    }
    state::begin(e, &plan);
    smp::on_aps(checked_loop, 0, smp::patient_us(2_000_000));
    state::end();
    per_ap(&BASE_CHECKED)
}

/// One AP's checked-call floor: [`executor::checked_call`] through the
/// first site of key 0 (never patched here) for [`BASE_LOOP_US`]; the
/// count is the executor's own per-CPU call counter.
fn checked_loop(_: u64) {
    let cpu = percpu::index() as usize;
    let site = state::site(0, 0);
    let before = state::calls(cpu);
    let d = tsc::deadline_us(BASE_LOOP_US);
    let t0 = rdtsc();
    while site != 0 && !tsc::passed(d) {
        for _ in 0..64 {
            executor::checked_call(0, 0, site, cpu, false);
        }
    }
    let cycles = (rdtsc() - t0).max(1);
    let n = state::calls(cpu) - before;
    BASE_CHECKED[cpu].store(
        (n as u128 * tsc::hz() as u128 / cycles as u128) as u64,
        Ordering::Relaxed,
    );
}

/// The mean over the APs of a per-CPU figure.
fn per_ap(v: &[AtomicU64; percpu::MAX_CPUS]) -> u64 {
    (1..smp::count())
        .map(|c| v[c].load(Ordering::Relaxed))
        .sum::<u64>()
        / (smp::count() as u64 - 1).max(1)
}

/// Whether each patch ends with the settle step (see [`patcher`]'s module
/// doc), from `settle=` and the hypervisor.
static SETTLE: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Applies `settle=`: `auto` settles under TCG only.
pub fn set_settle(choice: report::cmdline::Settle) {
    SETTLE.store(
        choice.applies(crate::machine::under_tcg()),
        Ordering::Relaxed,
    );
}

fn settle() -> bool {
    SETTLE.load(Ordering::Relaxed)
}

/// `seed=`, if given.
static SEEDED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
static SEED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Applies `seed=` (see `plan::schedule`).
pub fn set_seed(seed: Option<u64>) {
    SEED.store(seed.unwrap_or(0), Ordering::Relaxed);
    SEEDED.store(seed.is_some(), Ordering::Relaxed);
}

fn seed() -> Option<u64> {
    SEEDED
        .load(Ordering::Relaxed)
        .then(|| SEED.load(Ordering::Relaxed))
}

/// Direct calls per second, per CPU ([`direct_loop`]).
static BASE_CALLS: [AtomicU64; percpu::MAX_CPUS] = [const { AtomicU64::new(0) }; percpu::MAX_CPUS];
/// What [`direct_callee`] counts, per CPU.
static BASE_DIRECT_COUNT: [AtomicU64; percpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; percpu::MAX_CPUS];
/// Checked calls per second, per CPU ([`checked_loop`]).
static BASE_CHECKED: [AtomicU64; percpu::MAX_CPUS] =
    [const { AtomicU64::new(0) }; percpu::MAX_CPUS];

/// One sync round of `m`, [`FLOOR_ROUNDS`] times: the mean TSC ticks of the
/// rounds that completed, and how many timed out. A round that timed out
/// measured nothing, so it is counted apart, never as 0 ticks (which would
/// make the floor look fast); `plan::verdict` refuses a floor that more
/// than half its rounds missed.
fn floor(m: SyncMode) -> (u64, u64) {
    let (mut sum, mut ok) = (0, 0);
    for _ in 0..FLOOR_ROUNDS {
        if let Ok(t) = sync::sync(m) {
            sum += t;
            ok += 1;
        }
    }
    (sum / ok.max(1), FLOOR_ROUNDS - ok)
}

/// `executors=N`: at most this many executors (0: as many as there are
/// APs to spare).
static EXECUTORS: AtomicUsize = AtomicUsize::new(0);

/// `executors=N` of the command line (None: every AP that can).
pub fn set_executors(n: Option<usize>) {
    EXECUTORS.store(n.unwrap_or(0), Ordering::Relaxed);
}

/// The CPUs that run the call loops: the APs from 1, all but the last from
/// 3 CPUs on (it watches), at most `executors=N` of them. Every other AP
/// waits in `hlt` and answers every sync round (`smp`'s idle loop).
fn executor_cpus() -> core::ops::Range<usize> {
    // `early` runs on the patching CPU alone.
    if state::alone() {
        return 1..1;
    }
    let n = smp::count();
    let end = if n >= 3 { n - 1 } else { n };
    match EXECUTORS.load(Ordering::Relaxed) {
        0 => 1..end,
        k => 1..end.min(1 + k),
    }
}

fn watch_loop(_: u64) {
    while !STOP.load(Ordering::Relaxed) {
        watchdog::poll();
        core::hint::spin_loop();
    }
}

fn run_one(e: &Experiment, ms: u64) {
    record::emit(kind::EXP_BEGIN, |r| {
        r.display("name", e.name())
            .str("expectation", e.expectation.name())
            .u64("ms", ms)
            .u64("cpus", smp::count() as u64);
        if let Some(s) = seed() {
            r.u64("seed", s);
        }
    });
    let z = sizes();
    // The plan in the experiment's shape, with the proofs that no torn
    // instruction runs (for `null`, `jump` and `ret0`, that every state of
    // a pass between an instruction and the NOP or `XOR5RAX` is covered,
    // and that labels and `__static_call_return0` lie apart), before it
    // runs.
    let plan = match e.plan(z.keys, z.sites, z.targets) {
        Ok(p) => p,
        // Never fewer sites than asked: the experiment does not run.
        Err(err @ plan::PlanError::ClassTooSmall { .. }) => {
            return record::emit(kind::EXP, |r| {
                r.display("name", e.name())
                    .str("expectation", e.expectation.name())
                    .str("outcome", "skip")
                    .display("reason", format_args!("class-too-small: {err}"))
                    .u64("keys", z.keys as u64)
                    .u64("sites", z.sites as u64)
                    .u64("targets", z.targets as u64);
            })
        }
        Err(err) => return setup_failed(e, format_args!("plan: {err}")),
    };
    if let Err(err) = crate::arena::install(&plan) {
        return setup_failed(e, format_args!("install: {err:?}"));
    }
    if let Some(h) = e.handler {
        bp::set_handler(h);
    }
    sync::set_serialize(e.serialize);
    // Every CPU drops whatever it may have fetched of the old arena.
    if let Err(err) = sync::sync(SyncMode::Ipi) {
        return setup_failed(e, format_args!("sync: {err:?}"));
    }
    state::begin(e, &plan);
    for c in executor_cpus() {
        smp::on_cpu_async(c, executor::main, 0);
    }
    let n = smp::count();
    if n >= 3 {
        smp::on_cpu_async(n - 1, watch_loop, 0);
    }
    watchdog::arm(
        core::iter::once(0).chain(executor_cpus()),
        smp::patient_us(WATCHDOG_US),
    );

    let (floor_cycles, floor_timeouts) = floor(if e.sync == SyncMode::None {
        SyncMode::Ipi
    } else {
        e.sync
    });
    // `spin-bounded` spins for at most four of this experiment's idle
    // sync rounds (hpa's "a limited time").
    bp::set_spin_bound(SPIN_BOUND_ROUNDS * floor_cycles.max(1));
    let nmi_executors = || {
        if state::interference_is(Interference::Nmi)
            || state::interference_is(Interference::NmiSite)
        {
            for c in executor_cpus() {
                let _ = lapic::send(lapic::Dest::Apic(smp::apic_id(c)), lapic::Delivery::Nmi);
            }
        }
    };
    let settle = settle();
    let deadline = tsc::deadline_us(ms * 1000);
    let hard_deadline = tsc::deadline_us(smp::patient_us(
        (ms * 1000 * MAX_STRETCH).max(MIN_STRETCH_US),
    ));
    let patcher = patcher::Patcher {
        plan: &plan,
        strategy: e.strategy,
        sync: e.sync,
        after_cover: &nmi_executors,
        settle,
        sabotage: crate::sabotage::get(),
        give_up: hard_deadline,
    };
    if e.interference == Interference::SelfSite {
        lapic::timer_periodic(VEC_SELF, state::TIMER_COUNT);
    }
    x86_64::instructions::interrupts::enable();
    hist::reset();
    // Counted from here: the patches' own rounds, not the floor's.
    let counted = || {
        let (rounds, ipis) = sync::counts();
        let settle = patcher::SETTLE_ROUNDS.load(Ordering::Relaxed);
        [rounds, ipis, settle]
    };
    let counts0 = counted();
    let mut phase_sum = [0u64; 3];
    let mut phase_max = [0u64; 3];
    let mut schedule = plan::schedule::Schedule::new(seed(), &e.name());
    let mut error = None;
    let done = || tsc::passed(deadline) && STATS.patches.load(Ordering::Relaxed) >= MIN_PATCHES;
    while !done() && !tsc::passed(hard_deadline) {
        if e.expectation == Expectation::NegativeControl
            && STATS.failures.load(Ordering::Relaxed) > 0
        {
            break;
        }
        let current = |k: usize| key::KEYS[k].current.load(Ordering::Relaxed);
        // Shapes `null`, `jump` and `ret0`: the NOP (or
        // `__static_call_return0`) is one more choice, after the targets
        // (`ArenaPlan::null_target`); for `null` never under
        // `break=null-never`.
        let nop_choice = match e.shape {
            ex::Shape::Call => false,
            ex::Shape::Null => !crate::sabotage::sabotaged(cmdline::Sabotage::NullNever),
            ex::Shape::Jump | ex::Shape::Jump8 | ex::Shape::Ret0 => true,
        };
        let choices = plan.targets_per_key() + usize::from(nop_choice);
        let next = |k: usize| key::KEYS[k].started.load(Ordering::Relaxed) + 1;
        let result = if e.strategy == ex::Strategy::Int3Queue {
            // One patch is one batch of every key, each to its own target.
            let mut tos = [0usize; plan::layout::MAX_KEYS];
            let pause_us = schedule.next_batch(z.keys, choices, current, &mut tos);
            if pause_us > 0 {
                tsc::delay_us(pause_us);
            }
            state::CURRENT_KEY.store(0, Ordering::Relaxed);
            let gs: [u64; plan::layout::MAX_KEYS] = core::array::from_fn(next);
            patcher.patch_queue(&tos[..z.keys], &gs[..z.keys])
        } else {
            let (key, to, pause_us) = schedule.next_patch(z.keys, choices, current);
            if pause_us > 0 {
                tsc::delay_us(pause_us);
            }
            state::CURRENT_KEY.store(key, Ordering::Relaxed);
            patcher.patch(key, to, next(key))
        };
        match result {
            Ok(t) => {
                for i in 0..3 {
                    phase_sum[i] += t.0[i];
                    phase_max[i] = phase_max[i].max(t.0[i]);
                    hist::add(i, t.0[i]);
                }
                STATS.patches.fetch_add(1, Ordering::Relaxed);
                watchdog::progress(0);
            }
            // A CPU that never acknowledged: as stuck as one the watchdog
            // finds (a CPU left with interrupts off, a handler that waits
            // without doing its sync duty). Say where it is and end.
            Err(patcher::PatchError::Sync(t)) if t.unanswered() && (1..n).contains(&t.cpu) => {
                watchdog::unacknowledged(t.cpu);
                // It returns only when another CPU's judgement of the
                // stuck ran out of time: the round still failed, and the
                // experiment ends as an error naming the CPU.
                error = Some(patcher::PatchError::Sync(t));
                break;
            }
            Err(err) => {
                error = Some(err);
                break;
            }
        }
        watchdog::poll();
    }
    let counts1 = counted();
    x86_64::instructions::interrupts::disable();
    lapic::timer_stop();
    STOP.store(true, Ordering::Release);
    let finish_by = tsc::deadline_us(smp::patient_us(WATCHDOG_US + 1_000_000));
    let mut stuck = 0;
    for c in 1..n {
        if !smp::wait(c, finish_by) {
            stuck += 1;
        }
    }
    watchdog::disarm();
    state::end();
    finish(
        e,
        Finish {
            floor_cycles,
            floor_timeouts,
            phase_sum,
            phase_max,
            error,
            stuck,
            deadlock: false,
            settle,
            sizes: z,
            counts: core::array::from_fn(|i| counts1[i] - counts0[i]),
        },
    );
    hist::emit(&e.name());
}

struct Finish {
    floor_cycles: u64,
    /// Floor rounds that timed out ([`floor`]).
    floor_timeouts: u64,
    phase_sum: [u64; 3],
    phase_max: [u64; 3],
    error: Option<patcher::PatchError>,
    stuck: usize,
    deadlock: bool,
    settle: bool,
    /// Keys, sites and targets per key.
    sizes: Sizes,
    /// While patching: sync rounds begun (settle steps included), sync IPIs
    /// sent, and the settle steps' rounds.
    counts: [u64; 3],
}

fn setup_failed(e: &Experiment, why: core::fmt::Arguments) {
    record::count_failure();
    record::emit(kind::EXP, |r| {
        r.display("name", e.name())
            .str("expectation", e.expectation.name())
            .str("outcome", "error")
            .display("reason", why);
    });
}

/// Judges and reports one experiment.
fn finish(e: &Experiment, f: Finish) {
    let calls: u64 = (0..smp::count()).map(state::calls).sum();
    let null_calls: u64 = (0..smp::count()).map(state::null_calls).sum();
    let patches = STATS.patches.load(Ordering::Relaxed);
    let failures = STATS.failures.load(Ordering::Relaxed);
    let bp_hits: u64 = bp::HITS.iter().map(|h| h.load(Ordering::Relaxed)).sum();
    let broken = f.error.is_some() || f.stuck > 0;
    // The parts before the whole (a CPU still in a handler counts a ghost
    // before it retries or gives up on it), so that they never add up to
    // more than it.
    let ghost_give_ups = bp::GHOST_GIVE_UPS.load(Ordering::Relaxed);
    let ghost_retries = bp::GHOST_RETRIES.load(Ordering::Relaxed);
    let ghosts = bp::GHOSTS.load(Ordering::Relaxed);
    let counts = verdict::Counts {
        calls,
        patches,
        overruns: STATS.overruns.load(Ordering::Relaxed),
        floor_timeouts: f.floor_timeouts,
        interference: match verdict::interference_counter(e) {
            Some("timer") => STATS.timer.load(Ordering::Relaxed),
            Some("nmi") => STATS.nmi.load(Ordering::Relaxed),
            Some("nmi_site") => STATS.nmi_site.load(Ordering::Relaxed),
            Some("self_irq") => STATS.self_irq.load(Ordering::Relaxed),
            _ => 0,
        },
        failures: STATS.failure_counters().map(|c| c.load(Ordering::Relaxed)),
        deadlock: f.deadlock,
        broken,
        ghost_retries,
        null_calls: (e.shape != ex::Shape::Call).then_some(null_calls),
    };
    // The one rule, which the harness applies again from the record.
    let met = verdict::judge(e, &counts).met();
    let outcome = if f.deadlock {
        "deadlock"
    } else if broken {
        "error"
    } else {
        match e.expectation {
            Expectation::MustPass if met => "pass",
            Expectation::MustPass => "fail",
            Expectation::NegativeControl if failures > 0 => "caught",
            Expectation::NegativeControl => "missed",
            Expectation::ExpectDeadlock => "no-deadlock",
            Expectation::Observe if met => "observed",
            Expectation::Observe => "fail",
        }
    };
    if !met {
        record::count_failure();
    }
    let n = smp::count();
    let execs = executor_cpus().len() as u64;
    let secs_ns = state::elapsed_ns().max(1);
    record::emit(kind::EXP, |r| {
        r.display("name", e.name())
            .str("expectation", e.expectation.name())
            .str("outcome", outcome)
            .u64("met", met as u64)
            .u64("cpus", n as u64)
            .u64("executors", execs)
            .u64("ns", secs_ns)
            .u64("patches", patches)
            .u64("calls", calls)
            .u64(
                "calls_per_s_per_ap",
                calls * 1_000_000_000 / secs_ns / execs.max(1),
            )
            .u64("bp_hits", bp_hits)
            .u64(
                "bp_cycles",
                bp::CYCLES.iter().map(|c| c.load(Ordering::Relaxed)).sum(),
            )
            .str("claim", bp::claim_name())
            .u64("bp_cancels", bp::CANCELS.load(Ordering::Relaxed))
            .u64("bp_completions", bp::COMPLETIONS.load(Ordering::Relaxed))
            .u64("bp_recovers", bp::RECOVERS.load(Ordering::Relaxed))
            .u64("ghosts", ghosts)
            .u64("ghost_retries", ghost_retries)
            .u64("null_calls", null_calls)
            .u64("ghost_give_ups", ghost_give_ups)
            .u64("failures", failures)
            .u64("wrong", STATS.wrong.load(Ordering::Relaxed))
            .u64("faults", STATS.faults.load(Ordering::Relaxed))
            .u64("stray_bp", STATS.stray_bp.load(Ordering::Relaxed))
            .u64("stale_bp", STATS.stale_bp.load(Ordering::Relaxed))
            .u64("stale_call", STATS.stale_call.load(Ordering::Relaxed))
            .u64("bad_return", STATS.bad_return.load(Ordering::Relaxed))
            .u64("unsynced", STATS.unsynced.load(Ordering::Relaxed))
            .u64("blind", STATS.blind.load(Ordering::Relaxed))
            .u64("overruns", STATS.overruns.load(Ordering::Relaxed))
            .u64("timer", STATS.timer.load(Ordering::Relaxed))
            .u64("nmi", STATS.nmi.load(Ordering::Relaxed))
            .u64("nmi_site", STATS.nmi_site.load(Ordering::Relaxed))
            .u64("self_irq", STATS.self_irq.load(Ordering::Relaxed))
            .u64("floor_cycles", f.floor_cycles)
            .u64("floor_timeouts", f.floor_timeouts)
            .u64("settle", f.settle as u64)
            .u64(
                "poke_flush",
                (crate::arena::poke_mode() == report::cmdline::Poke::Flush) as u64,
            )
            .u64("keys", f.sizes.keys as u64)
            .u64("sites", f.sizes.sites as u64)
            .u64("targets", f.sizes.targets as u64)
            .u64("sync_rounds", f.counts[0])
            .u64("ipis", f.counts[1])
            .u64("settle_rounds", f.counts[2]);
        let p = patches.max(1);
        r.u64("p1_cycles", f.phase_sum[0] / p)
            .u64("p1_max", f.phase_max[0])
            .u64("p2_cycles", f.phase_sum[1] / p)
            .u64("p2_max", f.phase_max[1])
            .u64("p3_cycles", f.phase_sum[2] / p)
            .u64("p3_max", f.phase_max[2]);
        if failures > 0 {
            r.u64(
                "first_fail_patch",
                STATS.first_fail_patch.load(Ordering::Relaxed),
            )
            .u64(
                "first_fail_ns",
                tsc::ticks_to_ns(STATS.first_fail_tsc.load(Ordering::Relaxed)),
            );
        }
        if let Some(err) = &f.error {
            r.display("error", format_args!("{err:?}"));
        }
        if f.stuck > 0 {
            r.u64("stuck", f.stuck as u64);
        }
        // Only when it happened: the record is close to its capacity.
        if watchdog::starved() > 0 {
            r.u64("starved", watchdog::starved());
        }
    });
}

/// The watchdog found stuck CPUs: report them, close the experiment, and
/// end the run (nothing can be trusted to go on).
fn deadlock(stuck: &mut dyn Iterator<Item = (usize, Option<watchdog::Snapshot>)>) -> ! {
    for (cpu, snap) in stuck {
        if crate::arch::serial::owner() == Some(cpu as u32) {
            crate::arch::serial::break_lock();
        }
        state::with_name(|name| {
            record::emit(kind::DEADLOCK, |r| {
                r.str("exp", name).u64("cpu", cpu as u64);
                match snap {
                    Some((rip, bytes)) => r.hex("rip", rip).hexbytes("bytes", &bytes),
                    None => r.str("rip", "no-nmi-response"),
                };
                if watchdog::waits_in_bp_handler(cpu) {
                    r.str("waiting", "bp-handler");
                }
            });
        });
    }
    let e = state::with_name(|name| ex::find(name).copied());
    if let Some(e) = e {
        finish(
            &e,
            Finish {
                floor_cycles: 0,
                floor_timeouts: 0,
                phase_sum: [0; 3],
                phase_max: [0; 3],
                error: None,
                stuck: 0,
                deadlock: true,
                settle: settle(),
                sizes: sizes(),
                counts: [0; 3],
            },
        );
    }
    crate::exit::finish()
}

/// The executors' timer; under `timer-site` its handler calls a site of
/// the key being patched (each tick the next one), as an interrupt handler
/// in a real kernel might, perhaps while this CPU's own call through a
/// site of the key is being emulated.
pub fn on_timer() {
    let tick = STATS.timer.fetch_add(1, Ordering::Relaxed);
    let cpu = percpu::index() as usize;
    if state::interference_is(Interference::TimerSite)
        && state::is_executor(cpu)
        && state::ACTIVE.load(Ordering::Acquire)
    {
        let key = state::CURRENT_KEY.load(Ordering::Relaxed);
        let index = tick as usize % state::shape().1.max(1);
        let site = state::site(key, index);
        if site != 0 {
            executor::checked_call(key, index, site, cpu, false);
        }
    }
}

/// The patcher's own interrupt (`self`): calls a site of the key being
/// patched, as an interrupt handler in a real kernel might.
pub fn on_self() {
    STATS.self_irq.fetch_add(1, Ordering::Relaxed);
    if state::ACTIVE.load(Ordering::Acquire) {
        executor::self_call();
    }
}

/// An NMI that was not the watchdog's: interference.
pub fn on_nmi() -> bool {
    if !state::ACTIVE.load(Ordering::Acquire) {
        return false;
    }
    STATS.nmi.fetch_add(1, Ordering::Relaxed);
    let cpu = percpu::index() as usize;
    if state::interference_is(Interference::NmiSite) && state::is_executor(cpu) {
        STATS.nmi_site.fetch_add(1, Ordering::Relaxed);
        let key = state::CURRENT_KEY.load(Ordering::Relaxed);
        let site = state::site(key, 0);
        executor::checked_call(key, 0, site, cpu, false);
    }
    true
}

/// An exception while an experiment runs: its failure. Returns whether the
/// CPU goes on (an executor is sent back to its loop's recovery point).
pub fn on_fault(frame: &mut TrapFrame) -> bool {
    if !state::ACTIVE.load(Ordering::Acquire) {
        return false;
    }
    state::fault(frame, state::FaultKind::Exception);
    executor::recover(frame)
}

/// A #BP while an experiment runs.
pub fn on_bp(frame: &mut TrapFrame) -> bool {
    if !state::ACTIVE.load(Ordering::Acquire) {
        return false;
    }
    if crate::sabotage::sabotaged(cmdline::Sabotage::TracedHandler) {
        traced_entry();
    }
    match bp::handle(frame) {
        bp::BpOutcome::Handled => true,
        bp::BpOutcome::Stray { stale } => {
            state::fault(frame, state::FaultKind::StrayBp { stale });
            executor::recover(frame)
        }
    }
}

/// `break=traced-handler`: the #BP handler's entry is instrumented with a
/// call through the first site of the key being patched, made before the
/// handler looks its own trap up (as a traced function's entry calls its
/// tracer). On an executor only: that is where the #BP handler runs. While
/// that site is covered with `int3`, the call traps into this entry again,
/// and again, until the stack runs out.
fn traced_entry() {
    let cpu = percpu::index() as usize;
    if !state::is_executor(cpu) {
        return;
    }
    let key = state::CURRENT_KEY.load(Ordering::Relaxed);
    let site = state::site(key, 0);
    if site != 0 {
        executor::checked_call(key, 0, site, cpu, false);
    }
}
