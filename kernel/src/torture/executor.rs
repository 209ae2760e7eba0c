//! The executors: tight loops through every site of the experiment, each
//! call checked against the generation window.
//!
//! A call that faults (a torn destination lands on a trap or an unmapped
//! page) must not end the run when the experiment expects it: the fault
//! handler records it and sends the CPU back to [`exec_enter`]'s recovery
//! point, with the stack as it was when the loop was entered
//! (setjmp/longjmp in a dozen instructions), and the loop starts over.

use super::{key::KEYS, state};
use crate::{arch::idt::TrapFrame, percpu, watchdog};
use core::sync::atomic::Ordering;
use plan::window::WindowResult;

/// Calls the stub at `site`; the target returns its id in EAX.
#[inline(always)]
pub fn call_site(site: u64) -> u32 {
    let id: u32;
    // `site` is a stub of the installed plan (`call rel32; ret`) into a
    // target (`mov eax, id; ret`), or a #BP path emulating that call. The
    // `r10r11` handler uses R10/R11; the `gap` handler stores just below RSP.
    // SAFETY: the window is mapped executable; every caller-saved register
    // is clobbered and the kernel has no red zone, so nothing live is hit.
    unsafe {
        core::arch::asm!("call {s}", s = in(reg) site, lateout("eax") id, clobber_abi("C"));
    }
    id
}

/// One checked call through site `site` of `key`.
#[inline(always)]
pub fn checked_call(key: usize, site: u64, cpu: usize) -> bool {
    let k = &KEYS[key];
    // For telling a stale call from a protocol failure (state::stale_call).
    let mark = crate::arena::write_mark();
    let acked = crate::sync::acked(cpu);
    // E1 (Acquire pairs with P4's Release).
    let c0 = k.completed.load(Ordering::Acquire);
    let got = call_site(site);
    // E3 (Acquire pairs with P2's Release).
    let s1 = k.started.load(Ordering::Acquire);
    match k.check(c0, s1, got) {
        WindowResult::Valid { .. } => {
            state::count_call(cpu);
            true
        }
        WindowResult::Overrun { .. } => {
            state::STATS.overruns.fetch_add(1, Ordering::Relaxed);
            true
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

/// The body of one executor's loop. Returns when the experiment stops.
extern "C" fn body(_: u64) {
    let cpu = percpu::index() as usize;
    let keys = state::keys();
    let mut n = 0u32;
    while !state::STOP.load(Ordering::Relaxed) {
        for (key, sites) in keys.iter().enumerate() {
            for &s in sites.iter().filter(|&&s| s != 0) {
                checked_call(key, s, cpu);
            }
        }
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
    state::interference_start_executor();
    loop {
        // SAFETY: `exec_enter` saves the callee-saved registers and RSP,
        // calls `body`, and returns 0 when it returns or 1 when a fault
        // handler resumed at `exec_recover` with that RSP.
        let recovered = unsafe { exec_enter(body, 0) };
        if recovered == 0 || state::STOP.load(Ordering::Relaxed) {
            break;
        }
    }
    state::interference_stop_executor();
    state::set_executor(cpu, false);
}

/// Called by the fault path on an executor: sends the CPU back to the
/// recovery point. Returns false if this CPU is not in an executor loop.
pub fn recover(frame: &mut TrapFrame) -> bool {
    let rsp = percpu::this().recover_rsp.load(Ordering::Relaxed);
    if rsp == 0 || !state::is_executor(percpu::index() as usize) {
        return false;
    }
    frame.rsp = rsp;
    frame.rip = exec_recover as *const () as u64;
    frame.rflags |= 1 << 9; // executors run with interrupts on
    true
}

unsafe extern "C" {
    fn exec_enter(f: extern "C" fn(u64), arg: u64) -> u64;
    fn exec_recover();
}

// exec_enter(f, arg): save callee-saved registers, keep RSP in this CPU's
// recovery slot (gs:OFF), call f(arg), return 0. exec_recover: entered by
// IRET from a fault handler with RSP = that slot; return 1 the same way.
core::arch::global_asm!(
    ".section .text.exec, \"ax\"",
    ".global exec_enter",
    "exec_enter:",
    "push %rbx",
    "push %rbp",
    "push %r12",
    "push %r13",
    "push %r14",
    "push %r15",
    "sub $8, %rsp",                 // 16-byte alignment for the call
    "mov %rsp, %gs:{off}",
    "mov %rdi, %rax",
    "mov %rsi, %rdi",
    "call *%rax",
    "xor %eax, %eax",
    "jmp 2f",
    ".global exec_recover",
    "exec_recover:",
    "mov $1, %eax",
    "2:",
    "movq $0, %gs:{off}",
    "add $8, %rsp",
    "pop %r15",
    "pop %r14",
    "pop %r13",
    "pop %r12",
    "pop %rbp",
    "pop %rbx",
    "ret",
    off = const percpu::OFF_RECOVER_RSP,
    options(att_syntax),
);
