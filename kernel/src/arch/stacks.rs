//! Every CPU's stack, each with a guard page below it that the kernel's
//! page tables leave unmapped: the BSP's, which the boot entry points RSP
//! at, and one slot per AP, which the AP trampoline gives to the CPU index
//! it claims.

use super::percpu::MAX_CPUS;

/// Size of the bootstrap processor's stack: the patcher keeps an
/// `ArenaPlan` (16 KiB at 256 sites per key) and a #BP table of a key
/// (6 KiB) on it, and building the plan may copy it once or twice.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

/// The bootstrap processor's stack, with a guard page below it.
#[repr(C, align(4096))]
pub struct BootStack {
    /// Unmapped once the kernel's page tables are live.
    guard: [u8; 4096],
    stack: [u8; BOOT_STACK_SIZE],
}

/// The BSP's stack (the entry code points RSP at its top).
pub static mut BOOT_STACK: BootStack = BootStack {
    guard: [0; 4096],
    stack: [0; BOOT_STACK_SIZE],
};

const AP_STACK_SIZE: usize = 32 * 1024;

/// One AP stack with its guard page below. The AP entry takes the top of
/// slot `i` (`AP_STACKS + (i + 1) * size_of::<ApStack>()`), so the stack
/// comes last.
#[repr(C, align(4096))]
pub struct ApStack {
    guard: [u8; 4096],
    stack: [u8; AP_STACK_SIZE],
}

/// The AP stacks, by CPU index (slot 0, the BSP's, is unused).
pub static mut AP_STACKS: [ApStack; MAX_CPUS] = [const {
    ApStack {
        guard: [0; 4096],
        stack: [0; AP_STACK_SIZE],
    }
}; MAX_CPUS];

/// Whether `va` is a stack guard page (left unmapped by the page tables).
pub fn is_guard(va: u64) -> bool {
    // Only addresses are taken, nothing is read.
    let stacks = &raw const AP_STACKS as u64;
    let boot = &raw const BOOT_STACK as u64 + core::mem::offset_of!(BootStack, guard) as u64;
    let size = core::mem::size_of::<ApStack>() as u64;
    va == boot
        || (va >= stacks
            && va < stacks + size * MAX_CPUS as u64
            && (va - stacks).is_multiple_of(size))
}
