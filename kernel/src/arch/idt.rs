//! The IDT and the entry stubs.
//!
//! One table serves every CPU. Every vector 0..=255 has a 16-byte stub in
//! `isr_stubs` that pushes a dummy error code (when the CPU pushes none)
//! and the vector number, then jumps to `isr_common`, which saves every
//! general register and calls the handler that [`init`] was given (the
//! kernel's dispatcher) with a pointer to the resulting [`TrapFrame`]. The
//! handler may change the frame (RIP, RSP, registers); `isr_common`
//! restores from it and returns with IRETQ.

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::{structures::idt::InterruptDescriptorTable, VirtAddr};

/// What `isr_common` leaves on the stack, lowest address first.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// The stubs: 256 of them, 16 bytes apart. `.rept` keeps them from being 256
// hand-written functions.
core::arch::global_asm!(
    ".section .text.isr, \"ax\"",
    ".balign 16",
    ".global isr_stubs",
    "isr_stubs:",
    ".set vec, 0",
    ".rept 256",
    ".balign 16",
    // Vectors 8, 10-14, 17, 21, 29, 30 carry a CPU-pushed error code.
    ".if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)",
    ".else",
    "push $0",
    ".endif",
    "push $vec",
    "jmp isr_common",
    ".set vec, vec + 1",
    ".endr",

    ".balign 16",
    ".global isr_common",
    "isr_common:",
    // Save every general register (the frame is `TrapFrame`).
    "push %rax", "push %rbx", "push %rcx", "push %rdx", "push %rsi", "push %rdi", "push %rbp",
    "push %r8", "push %r9", "push %r10", "push %r11", "push %r12", "push %r13", "push %r14", "push %r15",
    // Call the dispatcher with the frame, on a 16-byte aligned stack and
    // the direction flag clear, as the ABI wants.
    "mov %rsp, %rdi",
    "mov %rsp, %rbx",
    "and $-16, %rsp",
    "cld",
    "call *{handler}(%rip)",
    "mov %rbx, %rsp",
    // Restore from the (possibly modified) frame and return.
    "pop %r15", "pop %r14", "pop %r13", "pop %r12", "pop %r11", "pop %r10", "pop %r9", "pop %r8",
    "pop %rbp", "pop %rdi", "pop %rsi", "pop %rdx", "pop %rcx", "pop %rbx", "pop %rax",
    "add $16, %rsp",
    "iretq",
    handler = sym HANDLER,
    options(att_syntax),
);

/// The address of the handler every vector ends in (an
/// `extern "C" fn(&mut TrapFrame)`); `isr_common` calls through it. Set by
/// [`init`] before any CPU loads the table.
static HANDLER: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static isr_stubs: u8;
}

/// Address of the stub for `vector`.
pub fn stub(vector: u8) -> u64 {
    (core::ptr::addr_of!(isr_stubs) as u64) + 16 * vector as u64
}

static mut IDT: InterruptDescriptorTable = InterruptDescriptorTable::new();

/// Fills the IDT, every vector ending in `handler` (BSP, once, before any
/// AP starts).
pub fn init(handler: extern "C" fn(&mut TrapFrame)) {
    // Relaxed: no vector reaches `isr_common` before this CPU loads the
    // table, and an AP loads it only after the Release that starts it.
    HANDLER.store(handler as usize as u64, Ordering::Relaxed);
    // SAFETY: BSP only, before any AP loads the table and before interrupts
    // are enabled; the stubs are valid handlers for their vectors.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        macro_rules! set {
            ($($field:ident = $v:expr),* $(,)?) => {
                $( idt.$field.set_handler_addr(VirtAddr::new(stub($v))); )*
            };
        }
        set!(
            divide_error = 0,
            debug = 1,
            non_maskable_interrupt = 2,
            breakpoint = 3,
            overflow = 4,
            bound_range_exceeded = 5,
            invalid_opcode = 6,
            device_not_available = 7,
            invalid_tss = 10,
            segment_not_present = 11,
            stack_segment_fault = 12,
            general_protection_fault = 13,
            page_fault = 14,
            x87_floating_point = 16,
            alignment_check = 17,
            simd_floating_point = 19,
            virtualization = 20,
            cp_protection_exception = 21,
            hv_injection_exception = 28,
            vmm_communication_exception = 29,
            security_exception = 30,
        );
        idt.double_fault
            .set_handler_addr(VirtAddr::new(stub(8)))
            .set_stack_index(super::gdt::IST_FATAL);
        idt.machine_check
            .set_handler_addr(VirtAddr::new(stub(18)))
            .set_stack_index(super::gdt::IST_FATAL);
        for v in 32..=255u8 {
            idt[v].set_handler_addr(VirtAddr::new(stub(v)));
        }
    }
}

/// Points `vector` at `entry` (an entry stub that ends in `isr_common`).
/// Only while no CPU can take that vector (between experiments).
pub(super) fn set_entry(vector: u8, entry: u64) {
    // SAFETY: the caller guarantees no CPU is delivering `vector` now; the
    // IDT is static and every CPU has loaded this same table.
    unsafe {
        let idt = &mut *core::ptr::addr_of_mut!(IDT);
        match vector {
            3 => {
                idt.breakpoint.set_handler_addr(VirtAddr::new(entry));
            }
            2 => {
                idt.non_maskable_interrupt
                    .set_handler_addr(VirtAddr::new(entry));
            }
            v if v >= 32 => {
                idt[v].set_handler_addr(VirtAddr::new(entry));
            }
            _ => {}
        }
    }
}

/// Loads the IDT on the calling CPU.
pub fn load() {
    // SAFETY: the IDT is static and filled by `init` before any CPU loads it.
    unsafe { (*core::ptr::addr_of!(IDT)).load_unsafe() };
}

// A known int3 for the #BP self-check: `bp_check` executes int3 then
// returns.
core::arch::global_asm!(
    ".section .text.bp_check, \"ax\"",
    ".global bp_check",
    "bp_check:",
    "int3",
    ".global bp_check_after",
    "bp_check_after:",
    "ret",
    options(att_syntax),
);

unsafe extern "C" {
    fn bp_check();
    static bp_check_after: u8;
}

/// The address right after the self-check's `int3`: what RIP holds when
/// its #BP arrives.
pub fn int3_check_rip() -> u64 {
    &raw const bp_check_after as u64
}

/// Executes the self-check's `int3` (at a fixed address, see
/// [`int3_check_rip`]); returns when the #BP handler returns there.
pub fn int3_check() {
    // SAFETY: `bp_check` is `int3; ret`, a C function of no arguments; the
    // #BP handler returns to its `ret` or, were the trap unexpected,
    // reports it and ends the run.
    unsafe { bp_check() };
}
