//! The AP start page: 16-bit real mode to long mode.
//!
//! A STARTUP IPI with vector 8 starts an AP at CS:IP = 0x0800:0000, that is
//! physical [`TRAMPOLINE`]. The BSP fills that page with `int3` and copies
//! the code between `ap_tramp_start` and `ap_tramp_end` to it, so a stray
//! jump anywhere else on the page traps instead of running stale bytes.
//!
//! The plan:
//! 1. real mode: load the trampoline's own GDT (position given as
//!    `TRAMPOLINE + offset`, since the code runs at a different address than
//!    it was assembled for), set CR0.PE, far jump to 32-bit code;
//! 2. 32-bit protected mode: DR7 cleared, CR4 = PAE, CR3 = the kernel's
//!    PML4 ([`AP_CR3`]), EFER.LME (+NXE, the same bits the BSP used), then
//!    CR0 written whole, as on the BSP ([`CR0_LONG_MODE`]): INIT leaves CD
//!    and NW set, and an AP that only ORs PG in runs with its caches off;
//! 3. far jump to `ap_long` in kernel text (64-bit), which finds its own
//!    APIC id (in xAPIC mode its APIC's ID register; in x2APIC mode
//!    ([`AP_X2APIC`]) CPUID leaf 0xB's x2APIC id, else leaf 1's initial
//!    APIC id) and claims the BSP's [`AP_TICKET`] only if the ticket names
//!    that id, with one compare-exchange to 0; then it
//!    takes the stack of the ticket's CPU index ([`super::stacks`]) and
//!    calls the kernel's AP entry ([`set_ap_main`]) with that index. An AP
//!    whose ticket is not there parks in `cli; hlt` without touching
//!    memory.
//!
//! The BSP starts one AP at a time. An AP can still arrive late: under an
//! emulator its vCPU thread may get its turn seconds after the BSP gave up
//! on it and moved its index on to the next AP. The ticket settles who
//! owns the index: the BSP revokes it with the same compare-exchange, so
//! either the AP claimed it (and the BSP waits for it) or the AP parks.

use super::stacks::{ApStack, AP_STACKS};
use core::sync::atomic::{AtomicU64, Ordering};

/// The breakpoint opcode, which fills the rest of the start page.
const INT3: u8 = 0xcc;

/// Physical address of the start page (below 1 MiB, 4 KiB aligned).
pub const TRAMPOLINE: u64 = 0x8000;

/// CR3 for the AP (the kernel's PML4, below 4 GiB).
pub static AP_CR3: AtomicU64 = AtomicU64::new(0);
/// The AP the BSP is starting: `index << 32 | apic_id`, 0 when none (an
/// AP's index is never 0). The AP claims it by swapping it to 0.
pub static AP_TICKET: AtomicU64 = AtomicU64::new(0);

/// 1 when the kernel runs the APICs in x2APIC mode (an AP then finds its
/// id with CPUID), 0 in xAPIC mode (it reads its APIC's ID register).
pub static AP_X2APIC: AtomicU64 = AtomicU64::new(0);

/// The ticket for the AP with APIC id `apic_id` as CPU `index`.
pub fn ticket(index: usize, apic_id: u32) -> u64 {
    (index as u64) << 32 | apic_id as u64
}

/// The address of the kernel's AP entry, which an AP that claimed its
/// ticket calls on its own stack with its CPU index.
static AP_MAIN: AtomicU64 = AtomicU64::new(0);

/// Sets the kernel's AP entry. Before the first STARTUP: the Release that
/// publishes the first ticket publishes it too.
pub fn set_ap_main(main: extern "C" fn(u64) -> !) {
    AP_MAIN.store(main as usize as u64, Ordering::Relaxed);
}

core::arch::global_asm!(
    ".section .ap_trampoline, \"a\"",
    ".code16",
    ".global ap_tramp_start",
    "ap_tramp_start:",
    "cli",
    "cld",
    // Step 1: flat DS, our GDT, protected mode.
    "xor %ax, %ax",
    "mov %ax, %ds",
    "lgdtl {base} + (ap_gdtr - ap_tramp_start)",
    "mov %cr0, %eax",
    "or $1, %eax",
    "mov %eax, %cr0",
    "ljmpl $0x18, ${base} + (ap_pm32 - ap_tramp_start)",
    ".code32",
    "ap_pm32:",
    "mov $0x20, %ax",
    "mov %ax, %ds",
    "mov %ax, %es",
    "mov %ax, %ss",
    // Step 2: PAE, the kernel's tables, EFER, paging.
    "xor %eax, %eax",
    "mov %eax, %dr7",
    "mov $0x20, %eax",
    "mov %eax, %cr4",
    "mov {cr3}, %eax",
    "mov %eax, %cr3",
    "mov $0xC0000080, %ecx",
    "rdmsr",
    "or {efer}, %eax",
    "wrmsr",
    "mov ${cr0}, %eax",
    "mov %eax, %cr0",
    // Step 3: into kernel text, 64-bit.
    "ljmp $0x08, $ap_long",
    // The descriptors have their accessed bit preset: the page is mapped
    // read-only, and a CPU loading a segment whose accessed bit is clear
    // writes it, which would fault.
    ".balign 8",
    "ap_gdt:",
    ".quad 0",
    ".quad 0x00af9b000000ffff", // 0x08: 64-bit code
    ".quad 0x00cf93000000ffff", // 0x10: data
    ".quad 0x00cf9b000000ffff", // 0x18: 32-bit code
    ".quad 0x00cf93000000ffff", // 0x20: 32-bit data
    "ap_gdtr:",
    ".short 39",
    ".long {base} + (ap_gdt - ap_tramp_start)",
    ".global ap_tramp_end",
    "ap_tramp_end:",
    ".code64",

    ".section .text.ap_long, \"ax\"",
    "ap_long:",
    "mov $0x10, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "mov %eax, %fs",
    "mov %eax, %gs",
    // Who am I, into ESI. When the kernel runs the APICs in xAPIC mode:
    // this local APIC's ID register, bits 31:24 at its base + 0x20 (base
    // from IA32_APIC_BASE), the id the MADT lists even where firmware
    // renumbered the APICs.
    "cmpq $0, {x2apic}(%rip)",
    "jne 4f",
    "mov $0x1b, %ecx",
    "rdmsr",
    "and $0xfffff000, %eax",
    "shl $32, %rdx",
    "or %rdx, %rax",
    "mov 0x20(%rax), %esi",
    "shr $24, %esi",
    "jmp 2f",
    // In x2APIC mode (an AP may still be in xAPIC mode, whose ID register
    // holds only 8 bits): the x2APIC id in EDX of CPUID leaf 0xB where the
    // leaf exists (max leaf >= 0xB and EBX nonzero), else the initial APIC
    // id in EBX[31:24] of leaf 1.
    "4:",
    "xor %eax, %eax",
    "cpuid",
    "cmp $0xb, %eax",
    "jb 1f",
    "mov $0xb, %eax",
    "xor %ecx, %ecx",
    "cpuid",
    "test %ebx, %ebx",
    "jz 1f",
    "mov %edx, %esi",
    "jmp 2f",
    "1:",
    "mov $1, %eax",
    "cpuid",
    "shr $24, %ebx",
    "mov %ebx, %esi",
    "2:",
    // Claim the ticket if it names me: RAX = the ticket, its low half
    // compared with my id, then swapped to 0 only if it is still the same
    // (the BSP revokes with the same compare-exchange).
    "mov {ticket}(%rip), %rax",
    "cmp %eax, %esi",
    "jne 3f",
    "xor %ecx, %ecx",
    "lock cmpxchg %rcx, {ticket}(%rip)",
    "jne 3f",
    // Mine. RDI = the index (the AP entry's argument); the stack is the
    // top of slot `index` of the AP stacks: base + (index + 1) * slot size.
    "shr $32, %rax",
    "mov %rax, %rdi",
    "inc %rax",
    "imul ${slot}, %rax, %rsp",
    "lea {stacks}(%rip), %rcx",
    "add %rcx, %rsp",
    "xor %ebp, %ebp",
    "call *{main}(%rip)",
    "ud2",
    // Not mine, or revoked: park without touching memory.
    "3:",
    "cli",
    "hlt",
    "jmp 3b",
    base = const TRAMPOLINE,
    cr3 = sym AP_CR3,
    efer = sym super::cpu::BOOT_EFER,
    cr0 = const super::cpu::CR0_LONG_MODE,
    ticket = sym AP_TICKET,
    x2apic = sym AP_X2APIC,
    stacks = sym AP_STACKS,
    slot = const core::mem::size_of::<ApStack>(),
    main = sym AP_MAIN,
    options(att_syntax),
);

unsafe extern "C" {
    static ap_tramp_start: u8;
    static ap_tramp_end: u8;
}

/// Fills the start page with `int3` and copies the trampoline in. Runs on
/// the boot page tables (the page is then writable), before the kernel's
/// tables make it read-only.
pub fn install() {
    // The start page at 0x8000 is conventional memory below 1 MiB that
    // firmware no longer uses after boot and nothing in the kernel owns.
    // SAFETY: the symbols delimit the trampoline in rodata; the page is
    // identity-mapped writable by the boot tables and ours alone.
    unsafe {
        let start = core::ptr::addr_of!(ap_tramp_start);
        let len = core::ptr::addr_of!(ap_tramp_end) as usize - start as usize;
        let page = TRAMPOLINE as *mut u8;
        core::ptr::write_bytes(page, INT3, 4096);
        core::ptr::copy_nonoverlapping(start, page, len);
    }
}
