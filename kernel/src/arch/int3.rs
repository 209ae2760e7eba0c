//! The machine code for emulating a call (or jmp) trapped at an `int3`:
//! the `gap` #BP entry, and the return paths into which the `trampoline`
//! and `r10r11` #BP handlers send the interrupted CPU.

use super::{idt, percpu};

// The #BP entry for `gap`: copy the 5-word hardware frame 16 bytes further
// down (each `push` reads the same offset, which walks down the frame as
// RSP moves), then continue as every other vector does.
core::arch::global_asm!(
    ".section .text.bp, \"ax\"",
    ".global bp_gap_entry",
    "bp_gap_entry:",
    "sub $16, %rsp",      // the gap
    ".rept 5",
    "pushq 48(%rsp)",     // SS, RSP, RFLAGS, CS, RIP of the original frame
    ".endr",
    "push $0",            // no error code
    "push $3",            // vector
    "jmp isr_common",
    // Linus's trampolines: the handler filled this CPU's slots (gs:16 =
    // return address, gs:24 = destination). The `sti` variant runs with IF
    // clear until the `sti`, whose shadow covers the `jmp`.
    ".global bp_tramp",
    "bp_tramp:",
    "pushq %gs:{ret}",
    "jmpq *%gs:{tgt}",
    ".global bp_tramp_sti",
    "bp_tramp_sti:",
    "pushq %gs:{ret}",
    "sti",
    "jmpq *%gs:{tgt}",
    // Nadav's: R10 = return address, R11 = destination.
    ".global bp_r10r11",
    "bp_r10r11:",
    "push %r10",
    "jmp *%r11",
    ret = const percpu::OFF_BP_RET,
    tgt = const percpu::OFF_BP_TARGET,
    options(att_syntax),
);

unsafe extern "C" {
    fn bp_gap_entry();
    fn bp_tramp();
    fn bp_tramp_sti();
    fn bp_r10r11();
}

/// Points #BP at the `gap` entry (`gap`), or back at its ordinary stub.
/// Only while no CPU can take a #BP (between experiments).
pub fn set_gap_entry(gap: bool) {
    let entry = if gap {
        bp_gap_entry as *const () as u64
    } else {
        idt::stub(3)
    };
    idt::set_entry(3, entry);
}

/// Linus's trampoline: `push gs:[bp_ret]; jmp gs:[bp_target]` from this
/// CPU's slots ([`percpu::PerCpu`]); with `sti`, `push; sti; jmp`, for a
/// CPU sent there with IF clear.
pub fn trampoline(sti: bool) -> u64 {
    if sti {
        bp_tramp_sti as *const () as u64
    } else {
        bp_tramp as *const () as u64
    }
}

/// Nadav's return path: `push r10; jmp r11`.
pub fn r10r11() -> u64 {
    bp_r10r11 as *const () as u64
}
