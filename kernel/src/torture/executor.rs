//! The executors: tight loops through every site of the experiment, each
//! call checked on its way back (the site's mark, `plan::encode`'s checked
//! return path) and against the generation window. Every other pass enters
//! the sites with the stack 8 bytes lower, so that a site is called with
//! RSP at both alignments, as kernel code does (the CPU aligns RSP to 16
//! before it pushes an exception frame, so what lies under the interrupted
//! RSP differs).
//!
//! Before its loop each executor plants one wrong call: the id of another
//! key's target, put through the same judge as every call. The judge must
//! reject it; if it does not, the executor's own check is blind (`blind`).
//!
//! A call that faults (a torn destination lands on a trap or an unmapped
//! page) must not end the run when the experiment expects it: the fault
//! handler records it and sends the CPU back to the loop's recovery point
//! ([`crate::arch::recovery`]), with the stack as it was when the loop was
//! entered, and the loop starts over.

use super::{key::KEYS, state};
use crate::{
    arch::{call, idt::TrapFrame, percpu, recovery},
    sabotage::sabotaged,
    watchdog,
};
use core::sync::atomic::Ordering;
use plan::{encode::Returned, window::WindowResult};
use report::cmdline::Sabotage;

/// Calls the stub at `site` with EAX and EDX poisoned
/// (`plan::encode::POISON_EAX`, `POISON_EDX`), the stack 8 bytes lower when
/// `low`. Returns EAX (the target's id) and EDX (the site's mark).
#[inline(always)]
pub fn call_site(site: u64, low: bool) -> (u32, u32) {
    // SAFETY: `site` is a stub of the installed plan in the window, which
    // is mapped executable: `call rel32; mov dh; mov dl; ret` into a target
    // (`mov eax, id; xor edx, edx; ret`), or a #BP path emulating that
    // call; either returns to us with the stack balanced. The `r10r11`
    // handler uses R10/R11; the `gap` handler stores just below RSP; a
    // wrong return path can write SIL, R10B or R14B (see `plan::encode`):
    // all of them registers the call takes as clobbered. A call that goes
    // wrong further faults, and the fault handler sends this CPU back to
    // the recovery point.
    unsafe {
        call::with_eax_edx(
            site,
            plan::encode::POISON_EAX,
            plan::encode::POISON_EDX,
            low,
        )
    }
}

/// The window check of one call (E1..E5 around it); every call and the
/// planted one go through it.
#[inline(always)]
fn judge(k: &super::key::Key, c0: u64, s1: u64, got: u32) -> WindowResult {
    if sabotaged(Sabotage::LaxWindow) {
        return WindowResult::Valid { generation: s1 };
    }
    k.check(c0, s1, got)
}

/// One checked call through site `index` (at `site`) of `key`.
#[inline(always)]
pub fn checked_call(key: usize, index: usize, site: u64, cpu: usize, low: bool) -> bool {
    let k = &KEYS[key];
    // For telling a stale call from a protocol failure (state::stale_call).
    let mark = crate::arena::write_mark();
    // The round this CPU acknowledged *having serialized in*, as for a
    // stale `int3` (`bp::stale`): an acknowledgement made without
    // serializing (`break=ack-before-serialize`, or one counted for the
    // CPU, `break=defer-sync`) is no evidence.
    let acked = {
        let (acked, serialized) = crate::sync::ack_of(cpu);
        acked.min(serialized)
    };
    // The site's own patch point: out of line every site goes through the
    // key's one trampoline.
    let point = if state::outofline() { 0 } else { index };
    // E1: the point's completed generation (Acquire pairs with P4's
    // Release).
    let c0 = k.point_completed(point);
    let (got, edx) = call_site(site, low);
    // E3: the point's started generation (Acquire pairs with P2's
    // Release).
    let s1 = k.point_started(point);
    let site_mark = plan::layout::site_mark(key, index);
    let rules = state::return_rules();
    // The window judges a call that ran no target as NULL's id (the
    // poison); only the site's own label stands for the key's target 0
    // (`ArenaPlan::with_jump_labels`), another site's is a wrong target
    // that memory never held at this site, so never stale.
    let (got, foreign) = match plan::encode::returned(got, edx, site_mark, rules) {
        Returned::Bad => {
            state::bad_return(cpu, key, site, got, edx, site_mark.edx());
            return false;
        }
        Returned::Target(id) => (id, false),
        Returned::NoTarget => (plan::encode::POISON_EAX, false),
        Returned::Ret0 => (plan::encode::RET0_ID, false),
        Returned::Label(id) if id == plan::layout::label_id(key, index) => {
            (plan::planner::target_id(key, 0), false)
        }
        Returned::Label(id) => (id, true),
    };
    match judge(k, c0, s1, got) {
        WindowResult::Valid { .. } => {
            state::count_call(cpu);
            if got == plan::encode::POISON_EAX || got == plan::encode::RET0_ID {
                state::count_null_call(cpu);
            }
            true
        }
        WindowResult::Overrun { .. } => {
            state::STATS.overruns.fetch_add(1, Ordering::Relaxed);
            true
        }
        r if foreign => {
            state::wrong_target(cpu, key, site, got, &r);
            false
        }
        r => {
            match state::stale_call(key, site, got, mark, acked) {
                Some(stale) => state::stale_target(cpu, site, got, stale),
                None => state::wrong_target(cpu, key, site, got, &r),
            }
            false
        }
    }
}

/// The planted wrong call (see the module doc): key 0's window must reject
/// the id of key 1's first target, whether key 1 is in the plan or not
/// (not the poison: under shape `null` NULL's id is the poison).
fn plant(cpu: usize) {
    let k = &KEYS[0];
    let planted = plan::planner::target_id(1, 0);
    let c0 = k.completed.load(Ordering::Acquire);
    let s1 = k.started.load(Ordering::Acquire);
    if let WindowResult::Valid { .. } = judge(k, c0, s1, planted) {
        state::blind(cpu, 0, planted);
    }
    // Shapes `null`, `jump` and `ret0`: before any patch, key 0 holds
    // target 0, so a call that ran no target, or returned 0, must be
    // rejected too.
    if c0 == 0 && s1 == 0 {
        let rules = state::return_rules();
        for (on, other) in [
            (rules.nop, plan::encode::POISON_EAX),
            (rules.ret0, plan::encode::RET0_ID),
        ] {
            if on {
                if let WindowResult::Valid { .. } = judge(k, c0, s1, other) {
                    state::blind(cpu, 0, other);
                }
            }
        }
    }
}

/// The body of one executor's loop. Returns when the experiment stops.
extern "C" fn body(_: u64) {
    let cpu = percpu::index() as usize;
    let (keys, sites) = state::shape();
    let mut n = 0u32;
    while !state::STOP.load(Ordering::Relaxed) {
        let low = n % 2 == 1;
        for key in 0..keys {
            for index in 0..sites {
                let s = state::site(key, index);
                if s != 0 {
                    checked_call(key, index, s, cpu, low);
                }
            }
        }
        state::pass(cpu);
        watchdog::progress(cpu);
        n = n.wrapping_add(1);
        if n.is_multiple_of(64) {
            watchdog::poll();
        }
    }
}

/// What an executor CPU runs (through `on_cpu`): the loop, re-entered
/// after every recovered fault until the experiment stops.
pub fn main(_: u64) {
    let cpu = percpu::index() as usize;
    state::set_executor(cpu, true);
    plant(cpu);
    state::interference_start_executor();
    loop {
        // SAFETY: `body`'s frames hold nothing to drop or release: its
        // loop keeps plain values, a fault in a call through a site is
        // recorded before the CPU is sent back, and `recover` frees the
        // serial lock an interrupted record may hold.
        let returned = unsafe { recovery::enter(body, 0) };
        if returned || state::STOP.load(Ordering::Relaxed) {
            break;
        }
    }
    state::interference_stop_executor();
    state::set_executor(cpu, false);
}

/// The patching CPU's own interrupt (`self`) calls the first site of the
/// key being patched, inside a recovery point of its own: under `early`
/// a half-written operand sends the call to a trap or an unmapped page
/// (the planner's proof), and the fault path brings the CPU back here,
/// the failure recorded, to finish its interrupt.
pub fn self_call() {
    extern "C" fn call(_: u64) {
        let key = state::CURRENT_KEY.load(Ordering::Relaxed);
        let site = state::site(key, 0);
        if site != 0 {
            checked_call(key, 0, site, 0, false);
        }
    }
    state::IN_SELF_CALL.store(true, Ordering::Relaxed);
    // SAFETY: `call`'s frames hold nothing to drop or release (as
    // `body`'s, see `main`); a fault in the call is recorded before the
    // CPU is sent back.
    let _ = unsafe { recovery::enter(call, 0) };
    state::IN_SELF_CALL.store(false, Ordering::Relaxed);
}

/// Called by the fault path: sends an executor, or the patching CPU in
/// its `self` call, back to the recovery point. Returns false if this CPU
/// is in neither.
pub fn recover(frame: &mut TrapFrame) -> bool {
    let cpu = percpu::index() as usize;
    let in_self = cpu == 0 && state::IN_SELF_CALL.load(Ordering::Relaxed);
    if !(state::is_executor(cpu) || in_self) || !recovery::resume(frame) {
        return false;
    }
    // The frames given up may include a record half written when the
    // fault's interrupt came (`timer-site`): its guard never drops, and
    // every other CPU would wait for the serial lock until it broke it.
    crate::arch::serial::abandon_if_mine();
    if !in_self {
        frame.rflags |= 1 << 9; // executors run with interrupts on
    }
    true
}
