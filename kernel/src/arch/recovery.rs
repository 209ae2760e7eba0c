//! A recovery point for code that may fault: [`enter`] calls a function,
//! and a fault handler that finds the CPU inside it can send it back there
//! ([`resume`]) with the stack as it was when it entered (setjmp/longjmp
//! in a dozen instructions). The point's stack pointer is kept in this
//! CPU's [`percpu::PerCpu::recover_rsp`].

use super::{idt::TrapFrame, percpu};
use core::sync::atomic::Ordering;

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

/// Calls `f(arg)` with this CPU's recovery point set. Returns true when
/// `f` returned, false when a fault handler sent the CPU back ([`resume`]).
///
/// # Safety
/// A [`resume`] abandons every frame between this call and the fault:
/// none of them may hold anything that must be dropped or released.
pub unsafe fn enter(f: extern "C" fn(u64), arg: u64) -> bool {
    // SAFETY: `exec_enter` saves the callee-saved registers and RSP, calls
    // `f`, and returns 0 when it returns or 1 when a fault handler resumed
    // at `exec_recover` with that RSP (the caller vouches for the frames
    // that this skips).
    (unsafe { exec_enter(f, arg) }) == 0
}

/// Points `frame` (a fault taken on this CPU) at the recovery point, if
/// the CPU is inside [`enter`]: its IRET then resumes there. Returns
/// whether it did.
pub fn resume(frame: &mut TrapFrame) -> bool {
    let rsp = percpu::this().recover_rsp.load(Ordering::Relaxed);
    if rsp == 0 {
        return false;
    }
    frame.rsp = rsp;
    frame.rip = exec_recover as *const () as u64;
    true
}
