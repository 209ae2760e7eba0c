//! The local APIC, in xAPIC (MMIO) or x2APIC (MSR) mode.
//!
//! Written here rather than taken from a crate because the IPI paths are
//! what the experiments measure, both modes must be first-class (Nehalem
//! and QEMU's TCG have no x2APIC), and xAPIC destinations need the id in
//! ICR bits 56..63.

use super::tsc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Vector of spurious interrupts (no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;

const IA32_APIC_BASE: u32 = 0x1b;
const X2APIC_ENABLE: u64 = 1 << 10;
const XAPIC_ENABLE: u64 = 1 << 11;

// Register offsets (xAPIC MMIO); x2APIC MSR = 0x800 + offset / 16.
const REG_ID: u32 = 0x20;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_ESR: u32 = 0x280;
const REG_ICR_LO: u32 = 0x300;
const REG_ICR_HI: u32 = 0x310;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_LINT0: u32 = 0x350;
const REG_LVT_LINT1: u32 = 0x360;
const REG_TIMER_INIT: u32 = 0x380;
const REG_TIMER_DIV: u32 = 0x3e0;

const ICR_PENDING: u32 = 1 << 12;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_LEVEL_TRIGGER: u32 = 1 << 15;
const LVT_MASKED: u32 = 1 << 16;

static X2APIC: AtomicBool = AtomicBool::new(false);
static BASE: AtomicU64 = AtomicU64::new(0xfee0_0000);

/// How an IPI is delivered.
#[derive(Clone, Copy)]
pub enum Delivery {
    /// An ordinary interrupt on `vector`.
    Fixed(u8),
    /// A non-maskable interrupt.
    Nmi,
    /// INIT, level asserted.
    InitAssert,
    /// INIT, level de-asserted (xAPIC only; the MP spec's second INIT).
    InitDeassert,
    /// STARTUP at real-mode page `page` (address `page << 12`).
    Startup(u8),
}

impl Delivery {
    fn icr_low(self) -> u32 {
        match self {
            Delivery::Fixed(v) => v as u32,
            Delivery::Nmi => 4 << 8,
            Delivery::InitAssert => (5 << 8) | ICR_LEVEL_ASSERT | ICR_LEVEL_TRIGGER,
            Delivery::InitDeassert => (5 << 8) | ICR_LEVEL_TRIGGER,
            Delivery::Startup(p) => (6 << 8) | p as u32,
        }
    }
}

/// Where an IPI goes.
#[derive(Clone, Copy)]
pub enum Dest {
    /// One APIC id.
    Apic(u32),
    /// Every CPU but the sender (the ICR shorthand).
    AllButSelf,
}

fn read(reg: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: x2APIC mode is on (we enabled it), so the MSR exists.
        unsafe { super::cpu::rdmsr(0x800 + (reg >> 4)) as u32 }
    } else {
        // SAFETY: BASE is the LAPIC's MMIO page from IA32_APIC_BASE (or the
        // MADT), identity-mapped uncached; `reg` is a register offset.
        unsafe { ((BASE.load(Ordering::Relaxed) + reg as u64) as *const u32).read_volatile() }
    }
}

fn write(reg: u32, v: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as in `read`; writes to these registers are what the
        // callers intend.
        unsafe { super::cpu::wrmsr(0x800 + (reg >> 4), v as u64) }
    } else {
        // SAFETY: as in `read`.
        unsafe { ((BASE.load(Ordering::Relaxed) + reg as u64) as *mut u32).write_volatile(v) }
    }
}

/// Chooses the mode (x2APIC when the CPU has it, unless `force_xapic`)
/// and enables this CPU's APIC. Call on every CPU; the BSP first.
pub fn init_this_cpu(bsp: bool, has_x2apic: bool, force_xapic: bool) {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let mut base = unsafe { super::cpu::rdmsr(IA32_APIC_BASE) };
    if bsp {
        BASE.store(base & 0xf_ffff_f000, Ordering::Relaxed);
        X2APIC.store(has_x2apic && !force_xapic, Ordering::Relaxed);
    }
    base |= XAPIC_ENABLE;
    if X2APIC.load(Ordering::Relaxed) {
        base |= X2APIC_ENABLE;
    }
    // SAFETY: enabling the APIC (and x2APIC mode when the CPU has it) is
    // the documented sequence; the MMIO page stays where it was.
    unsafe { super::cpu::wrmsr(IA32_APIC_BASE, base) };
    // Spurious vector, software enable; mask LINT0/LINT1 (the legacy PIC is
    // masked too) and the timer until an experiment wants it.
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_LVT_LINT0, LVT_MASKED);
    if !bsp {
        write(REG_LVT_LINT1, LVT_MASKED);
    } else {
        // LINT1 is NMI on the BSP by convention; keep it, delivered as NMI.
        write(REG_LVT_LINT1, 4 << 8);
    }
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_ESR, 0);
    eoi();
}

/// Whether the APIC runs in x2APIC mode.
pub fn is_x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// This CPU's APIC id.
pub fn id() -> u32 {
    let v = read(REG_ID);
    if is_x2apic() {
        v
    } else {
        v >> 24
    }
}

/// Signals the end of an interrupt.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Why an IPI may not have gone out: in xAPIC mode, the ICR still showed
/// it pending after [`ICR_ACCEPT_US`]. The IPI may yet be delivered, or
/// never: a caller that needs it says so (a sync round fails naming the
/// CPU, the watchdog reports the CPU without a snapshot).
#[derive(Debug, Clone, Copy)]
pub struct IpiStuck;

/// The longest the xAPIC ICR may take to accept an IPI: microseconds on
/// hardware, at once under QEMU and KVM; generous, as a send it fails is
/// a failure.
const ICR_ACCEPT_US: u64 = 100_000;
/// The same bound as a count of ICR reads, for a send before the TSC is
/// calibrated (none is made today: the APs start after the calibration).
const ICR_ACCEPT_READS: u32 = 10_000_000;

/// Sends an IPI. In xAPIC mode waits (bounded, [`ICR_ACCEPT_US`]) for the
/// ICR to accept it.
pub fn send(dest: Dest, what: Delivery) -> Result<(), IpiStuck> {
    let (shorthand, id) = match dest {
        Dest::Apic(id) => (0u32, id),
        Dest::AllButSelf => (3, 0),
    };
    let lo = what.icr_low() | (shorthand << 18);
    if is_x2apic() {
        // SAFETY: x2APIC mode: the ICR is one 64-bit MSR, destination in
        // the high half; the write sends the IPI.
        unsafe { super::cpu::wrmsr(0x830, (id as u64) << 32 | lo as u64) };
        return Ok(());
    }
    let ints = x86_64::instructions::interrupts::are_enabled();
    x86_64::instructions::interrupts::disable();
    let calibrated = tsc::hz() != 0;
    let deadline = tsc::deadline_us(ICR_ACCEPT_US);
    write(REG_ICR_HI, id << 24);
    write(REG_ICR_LO, lo);
    let mut reads = 0u32;
    let mut ok = true;
    while read(REG_ICR_LO) & ICR_PENDING != 0 {
        core::hint::spin_loop();
        reads += 1;
        let late = if calibrated {
            tsc::passed(deadline)
        } else {
            reads > ICR_ACCEPT_READS
        };
        if late {
            ok = false;
            break;
        }
    }
    if ints {
        x86_64::instructions::interrupts::enable();
    }
    if ok {
        Ok(())
    } else {
        Err(IpiStuck)
    }
}

/// Starts the periodic timer on `vector` with `count` ticks of the bus
/// clock divided by 16 between interrupts.
pub fn timer_periodic(vector: u8, count: u32) {
    write(REG_TIMER_DIV, 0b0011);
    write(REG_LVT_TIMER, vector as u32 | (1 << 17));
    write(REG_TIMER_INIT, count);
}

/// Stops the timer.
pub fn timer_stop() {
    write(REG_LVT_TIMER, LVT_MASKED);
    write(REG_TIMER_INIT, 0);
}

/// Masks the legacy 8259 PICs so they never inject vectors that look like
/// exceptions.
pub fn mask_pic() {
    // SAFETY: 0x21 and 0xa1 are the PIC data ports; writing 0xff masks every
    // line. Nothing in this kernel uses the PIC.
    unsafe {
        super::cpu::outb(0x21, 0xff);
        super::cpu::outb(0xa1, 0xff);
    }
}
