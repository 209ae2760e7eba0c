//! Per-CPU data, reached through the GS base: each CPU's index, and the
//! slots that the assembly of [`super::int3`] and [`super::recovery`] reads
//! at fixed offsets from GS.

use core::sync::atomic::AtomicU64;

/// The most CPUs the kernel handles ([`plan::cpus::MAX_CPUS`]); a machine
/// with more says so in its `cpus` record, and the harness fails it.
pub const MAX_CPUS: usize = plan::cpus::MAX_CPUS;

const IA32_GS_BASE: u32 = 0xC000_0101;

/// What each CPU keeps about itself. The GS base of CPU `i` points at
/// `CPUS[i]`.
#[repr(C, align(64))]
pub struct PerCpu {
    /// This CPU's index (0 is the BSP). First field: `gs:[0]`.
    pub index: u64,
    /// Its local APIC id.
    pub apic_id: AtomicU64,
    /// Return address for the `trampoline` #BP handler (`gs:16`).
    pub bp_ret: AtomicU64,
    /// Destination for the `trampoline` #BP handler (`gs:24`).
    pub bp_target: AtomicU64,
    /// Stack pointer of this CPU's recovery point ([`super::recovery`]), 0
    /// outside it.
    pub recover_rsp: AtomicU64,
}

/// Offset of [`PerCpu::bp_ret`] (used from assembly).
pub(super) const OFF_BP_RET: usize = core::mem::offset_of!(PerCpu, bp_ret);
/// Offset of [`PerCpu::bp_target`] (used from assembly).
pub(super) const OFF_BP_TARGET: usize = core::mem::offset_of!(PerCpu, bp_target);
/// Offset of [`PerCpu::recover_rsp`] (used from assembly).
pub(super) const OFF_RECOVER_RSP: usize = core::mem::offset_of!(PerCpu, recover_rsp);

/// The calling CPU's slot.
pub fn this() -> &'static PerCpu {
    &CPUS[index() as usize]
}

/// One slot per CPU.
pub static CPUS: [PerCpu; MAX_CPUS] = {
    let mut a = [const {
        PerCpu {
            index: 0,
            apic_id: AtomicU64::new(0),
            bp_ret: AtomicU64::new(0),
            bp_target: AtomicU64::new(0),
            recover_rsp: AtomicU64::new(0),
        }
    }; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        a[i].index = i as u64;
        i += 1;
    }
    a
};

/// Points GS at `CPUS[index]` on the calling CPU.
pub fn install(index: usize) {
    let base = &CPUS[index] as *const PerCpu as u64;
    // SAFETY: IA32_GS_BASE exists on every x86_64 CPU; only this module
    // reads GS, and it expects exactly this pointer.
    unsafe { super::cpu::wrmsr(IA32_GS_BASE, base) };
}

/// The calling CPU's index; 0 before [`install`] ran (only the BSP runs
/// then).
pub fn index() -> u32 {
    // SAFETY: IA32_GS_BASE exists on every x86_64 CPU; reading it has no
    // side effect.
    let base = unsafe { super::cpu::rdmsr(IA32_GS_BASE) };
    if base == 0 {
        return 0;
    }
    // SAFETY: a non-zero GS base was set by `install` to a `PerCpu` in the
    // static `CPUS`, which lives forever.
    unsafe { (*(base as *const PerCpu)).index as u32 }
}
