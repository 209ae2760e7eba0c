//! Small typed wrappers over instructions that the rest of the kernel uses:
//! CPUID, TSC, MSRs, control registers, port I/O, halting and the
//! serializing instructions.

use core::sync::atomic::{AtomicU32, Ordering};
use x86_64::registers::model_specific::Msr;

/// CR0 in long mode, written whole by the BSP's entry and by every AP:
/// PG | WP | NE | ET | PE. CD and NW clear (caches on, which INIT does not
/// give an AP), no MP/EM/TS (the kernel uses no x87 or SSE state).
pub const CR0_LONG_MODE: u32 = 0x8001_0031;

/// The EFER bits the boot entry enabled: LME, and NXE when the CPU has NX
/// (a BIOS can hide it on old Intel boards). Written by the entry's
/// assembly before any Rust runs; the AP trampoline enables the same ones.
pub static BOOT_EFER: AtomicU32 = AtomicU32::new(0);

/// EFER.NXE.
const EFER_NXE: u32 = 0x800;

/// Whether the kernel runs with no-execute pages (EFER.NXE).
pub fn nx() -> bool {
    BOOT_EFER.load(Ordering::Relaxed) & EFER_NXE != 0
}

/// CPUID leaf `leaf`, subleaf `sub`: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The time stamp counter (not ordered against other instructions).
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is always allowed at CPL 0.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Reads MSR `msr`.
///
/// # Safety
/// The MSR must exist on this CPU (else #GP) and reading it must have no
/// side effect the caller is not prepared for.
pub unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: the caller vouches for the MSR.
    unsafe { Msr::new(msr).read() }
}

/// Writes MSR `msr`.
///
/// # Safety
/// The MSR must exist and the value must keep the machine in a state the
/// kernel expects (this can change paging, interrupts, anything).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller vouches for the MSR and the value.
    unsafe { Msr::new(msr).write(value) }
}

/// Writes a byte to an I/O port.
///
/// # Safety
/// The port must belong to a device the caller owns; port writes can do
/// anything a device can.
pub unsafe fn outb(port: u16, v: u8) {
    // SAFETY: the caller owns the port.
    unsafe { x86_64::instructions::port::Port::<u8>::new(port).write(v) }
}

/// Tells QEMU's `isa-debug-exit` device (at [`DEBUG_EXIT_PORT`]) to end
/// the emulator with `code`. On a real machine nothing decodes the port,
/// and this does nothing.
///
/// [`DEBUG_EXIT_PORT`]: report::exit::DEBUG_EXIT_PORT
pub fn debug_exit(code: u32) {
    // SAFETY: the debug-exit port is QEMU's `isa-debug-exit` device when
    // present; on a real machine nothing decodes port 0xf4 and the write is
    // ignored.
    unsafe { outl(report::exit::DEBUG_EXIT_PORT, code) };
}

/// Asks Bochs to quit: its BIOS device quits the emulator when it reads
/// `Shutdown` at port 0x8900. Call only where the machine is Bochs
/// (`machine::bochs_like`): elsewhere the port may be a device's.
pub fn bochs_shutdown() {
    for &b in b"Shutdown" {
        // SAFETY: the caller established that the machine is an emulator
        // whose port 0x8900 is its BIOS device; nothing else is written.
        unsafe { outb(0x8900, b) };
    }
}

/// Reads a byte from an I/O port.
///
/// # Safety
/// As [`outb`]; some device registers change state when read.
pub unsafe fn inb(port: u16) -> u8 {
    // SAFETY: the caller owns the port.
    unsafe { x86_64::instructions::port::Port::<u8>::new(port).read() }
}

/// Writes a 32-bit value to an I/O port.
///
/// # Safety
/// As [`outb`].
pub unsafe fn outl(port: u16, v: u32) {
    // SAFETY: the caller owns the port.
    unsafe { x86_64::instructions::port::Port::<u32>::new(port).write(v) }
}

/// Reads a 32-bit value from an I/O port.
///
/// # Safety
/// As [`inb`].
pub unsafe fn inl(port: u16) -> u32 {
    // SAFETY: the caller owns the port.
    unsafe { x86_64::instructions::port::Port::<u32>::new(port).read() }
}

/// CR2: the linear address of the last page fault on this CPU.
pub fn cr2() -> u64 {
    let cr2: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
    cr2
}

/// The address of this instruction in the caller (inlined, so the RIP is
/// the caller's own).
#[inline(always)]
pub fn rip() -> u64 {
    let rip: u64;
    // SAFETY: `lea` computes an address from RIP into a register; it
    // reads no memory and changes nothing else.
    unsafe {
        core::arch::asm!("lea {}, [rip]", out(reg) rip, options(nomem, nostack, preserves_flags))
    };
    rip
}

/// Serializes by writing CR2 back with its own value.
pub fn serialize_mov_cr2() {
    // SAFETY: writing CR2 back with its own value changes nothing but
    // serializes; a #PF handler reads CR2 with interrupts off, before
    // anything could run this between its fault and its read.
    unsafe {
        core::arch::asm!("mov {t}, cr2", "mov cr2, {t}", t = out(reg) _, options(nostack));
    }
}

/// Executes SERIALIZE (0F 01 E8). A CPU without it (CPUID.7.0:EDX\[14\]
/// clear, [`Identity::serialize`]) raises #UD instead, which the kernel's
/// handler reports as a fault.
pub fn serialize() {
    // SAFETY: SERIALIZE has no operands and touches no memory; where it
    // does not exist, the #UD it raises goes to the kernel's handler.
    unsafe {
        core::arch::asm!(".byte 0x0f, 0x01, 0xe8", options(nostack, nomem));
    }
}

/// Serializes with an IRET to the next instruction (Linux's
/// `sync_core()`).
pub fn serialize_iret() {
    // SAFETY: IRET to the next instruction with the current SS, RSP,
    // RFLAGS and CS: the frame is built from live values, so only the
    // serialization is observable.
    unsafe {
        core::arch::asm!(
            "mov {t:e}, ss",
            "push {t}",
            "lea {t}, [rsp + 8]",
            "push {t}",
            "pushfq",
            "mov {t:e}, cs",
            "push {t}",
            "lea {t}, [rip + 2f]",
            "push {t}",
            "iretq",
            "2:",
            t = out(reg) _,
        );
    }
}

/// Stores `v` at `p` with one 32-bit `mov`, whatever the alignment (an
/// operand that crosses a line or a page is still one instruction).
///
/// # Safety
/// The 4 bytes from `p` must be writable memory that no Rust reference
/// covers.
pub unsafe fn store_u32(p: *mut u8, v: u32) {
    // SAFETY: the caller vouches for the 4 bytes; one `mov` is the point.
    unsafe {
        core::arch::asm!("mov dword ptr [{p}], {v:e}", p = in(reg) p, v = in(reg) v, options(nostack));
    }
}

/// The microcode revision, on vendors whose MSR 0x8B is known to hold it
/// (`vendor` as [`Identity::vendor`], trimmed).
pub fn microcode(vendor: &[u8]) -> Option<u64> {
    const IA32_BIOS_SIGN_ID: u32 = 0x8b;
    match vendor {
        b"GenuineIntel" => {
            // SAFETY: Intel documents MSR 0x8B on every CPU since P6: write
            // 0, execute CPUID(1), read the revision from the high half.
            unsafe { wrmsr(IA32_BIOS_SIGN_ID, 0) };
            let _ = cpuid(1, 0);
            // SAFETY: as above.
            Some(unsafe { rdmsr(IA32_BIOS_SIGN_ID) } >> 32)
        }
        // SAFETY: AMD documents MSR 0x8B (PATCH_LEVEL) on every family-10h+
        // CPU; reading it has no side effect.
        b"AuthenticAMD" => Some(unsafe { rdmsr(IA32_BIOS_SIGN_ID) } & 0xffff_ffff),
        _ => None,
    }
}

/// Halts this CPU for good (interrupts off, NMIs still wake it into their
/// handler, after which it halts again).
pub fn halt_forever() -> ! {
    x86_64::instructions::interrupts::disable();
    loop {
        x86_64::instructions::hlt();
    }
}

/// The CPU's identity as CPUID reports it.
pub struct Identity {
    /// "GenuineIntel", "AuthenticAMD", ...
    pub vendor: [u8; 12],
    /// Display family.
    pub family: u32,
    /// Display model.
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
    /// The brand string (may be empty).
    pub brand: [u8; 48],
    /// CPUID.1:ECX\[31\].
    pub hypervisor: bool,
    /// The hypervisor's vendor (leaf 0x4000_0000) when `hypervisor`.
    pub hv_vendor: [u8; 12],
    /// CPUID.1:ECX\[21\].
    pub x2apic: bool,
    /// CPUID.7.0:EDX\[14\].
    pub serialize: bool,
}

impl Identity {
    /// Reads it on the current CPU.
    pub fn read() -> Identity {
        let (max, b, c, d) = cpuid(0, 0);
        let mut vendor = [0u8; 12];
        vendor[0..4].copy_from_slice(&b.to_le_bytes());
        vendor[4..8].copy_from_slice(&d.to_le_bytes());
        vendor[8..12].copy_from_slice(&c.to_le_bytes());
        let (a1, _, c1, _) = cpuid(1, 0);
        let base_family = (a1 >> 8) & 0xf;
        let base_model = (a1 >> 4) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((a1 >> 20) & 0xff)
        } else {
            base_family
        };
        let model = if base_family == 0x6 || base_family == 0xf {
            base_model | (((a1 >> 16) & 0xf) << 4)
        } else {
            base_model
        };
        let serialize = max >= 7 && cpuid(7, 0).3 & (1 << 14) != 0;
        let mut brand = [0u8; 48];
        if cpuid(0x8000_0000, 0).0 >= 0x8000_0004 {
            for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
                let (a, b, c, d) = cpuid(leaf, 0);
                for (j, r) in [a, b, c, d].into_iter().enumerate() {
                    brand[i * 16 + j * 4..i * 16 + j * 4 + 4].copy_from_slice(&r.to_le_bytes());
                }
            }
        }
        let hypervisor = c1 & (1 << 31) != 0;
        let mut hv_vendor = [0u8; 12];
        if hypervisor {
            let (_, b, c, d) = cpuid(0x4000_0000, 0);
            hv_vendor[0..4].copy_from_slice(&b.to_le_bytes());
            hv_vendor[4..8].copy_from_slice(&c.to_le_bytes());
            hv_vendor[8..12].copy_from_slice(&d.to_le_bytes());
        }
        Identity {
            vendor,
            family,
            model,
            stepping: a1 & 0xf,
            brand,
            hypervisor,
            hv_vendor,
            x2apic: c1 & (1 << 21) != 0,
            serialize,
        }
    }
}

/// Bytes up to the first NUL, leading and trailing spaces trimmed.
pub fn cstr(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let s = &bytes[..end];
    let start = s.iter().position(|&b| b != b' ').unwrap_or(s.len());
    let stop = s.iter().rposition(|&b| b != b' ').map_or(start, |p| p + 1);
    &s[start..stop]
}
