//! The clocks the TSC is measured against (the HPET's main counter, the
//! ACPI PM timer, PIT channel 2) and the CMOS real-time clock, as typed
//! handles over their registers. The PC's legacy ports are fixed; the
//! HPET and the PM timer are where firmware says, so only the code that
//! reads the firmware's tables makes their handles (an `unsafe fn`: its
//! word vouches for the address).

use super::cpu::{inb, inl, outb};

/// Device memory is mapped (identity, uncached from 3 GiB) only below
/// 4 GiB.
const MAPPED_BELOW: u64 = 1 << 32;

/// The HPET: its register block.
#[derive(Clone, Copy, Debug)]
pub struct Hpet {
    base: u64,
}

impl Hpet {
    /// The HPET whose register block is at `base`; `None` above 4 GiB,
    /// which the kernel's tables do not map.
    ///
    /// # Safety
    /// `base` must be the HPET's register block (the ACPI HPET table's).
    pub unsafe fn at(base: u64) -> Option<Hpet> {
        (base < MAPPED_BELOW - 0x100).then_some(Hpet { base })
    }

    fn reg(&self, off: u64) -> *mut u64 {
        (self.base + off) as *mut u64
    }

    /// Enables the main counter and returns its period in femtoseconds.
    pub fn enable(&self) -> u64 {
        // 0x00 is capabilities (the period in its high half), 0x10 the
        // configuration (bit 0: the main counter runs).
        // SAFETY: `at`'s caller vouched that these registers exist there,
        // mapped uncached; enabling the main counter changes nothing else
        // (no comparator is armed).
        unsafe {
            let period = self.reg(0).read_volatile() >> 32;
            let cfg = self.reg(0x10).read_volatile();
            self.reg(0x10).write_volatile(cfg | 1);
            period
        }
    }

    /// The main counter (a 32-bit HPET fills only the low half).
    pub fn counter(&self) -> u64 {
        // SAFETY: as in `enable`; 0xf0 is the main counter, read without
        // side effects.
        unsafe { self.reg(0xf0).read_volatile() }
    }
}

#[derive(Clone, Copy, Debug)]
enum PmIo {
    Port(u16),
    Mmio(u64),
}

/// The ACPI PM timer: a free-running counter of 24 or 32 bits.
#[derive(Clone, Copy, Debug)]
pub struct PmTimer {
    io: PmIo,
    bits32: bool,
}

impl PmTimer {
    /// The PM timer at I/O port `port`, counting 32 bits (`bits32`) or 24.
    ///
    /// # Safety
    /// `port` must be the PM timer's (the FADT's PM timer block).
    pub unsafe fn port(port: u16, bits32: bool) -> PmTimer {
        PmTimer {
            io: PmIo::Port(port),
            bits32,
        }
    }

    /// The PM timer at memory address `addr`; `None` above 4 GiB.
    ///
    /// # Safety
    /// `addr` must be the PM timer's (the FADT's PM timer block).
    pub unsafe fn mmio(addr: u64, bits32: bool) -> Option<PmTimer> {
        (addr < MAPPED_BELOW - 4).then_some(PmTimer {
            io: PmIo::Mmio(addr),
            bits32,
        })
    }

    /// Whether it counts 32 bits (else 24).
    pub fn bits32(&self) -> bool {
        self.bits32
    }

    /// The counter.
    pub fn read(&self) -> u32 {
        match self.io {
            // SAFETY: the constructor's caller vouched that this port is
            // the PM timer's, a read-only counter: reading it has no side
            // effect.
            PmIo::Port(p) => unsafe { inl(p) },
            // SAFETY: as above, at an address below 4 GiB, identity-mapped
            // (uncached from 3 GiB, where firmware puts devices).
            PmIo::Mmio(a) => unsafe { (a as *const u32).read_volatile() },
        }
    }
}

/// Starts PIT channel 2 counting down from 65536 in mode 2 (a rate
/// generator: it reloads every 54.9 ms), its speaker output off.
pub fn pit2_start() {
    // Ports 0x42/0x43 are PIT channel 2 and its mode register, 0x61 the
    // speaker gate.
    // SAFETY: channel 2 drives nothing but the speaker, which stays off
    // (bit 1 clear); nothing else in the kernel uses the PIT.
    unsafe {
        outb(0x61, (inb(0x61) & !0x02) | 0x01);
        outb(0x43, 0b1011_0100); // channel 2, lobyte/hibyte, mode 2, binary
        outb(0x42, 0);
        outb(0x42, 0);
    }
}

/// PIT channel 2's count (0xffff, never moving, where there is no PIT).
pub fn pit2_count() -> u16 {
    // SAFETY: as in `pit2_start`; 0b10_00_0000 to 0x43 latches channel 2's
    // count, then 0x42 gives its low and high byte.
    unsafe {
        outb(0x43, 0b1000_0000);
        let lo = inb(0x42);
        let hi = inb(0x42);
        u16::from_le_bytes([lo, hi])
    }
}

/// CMOS register `reg` (the real-time clock's seconds, minutes, ... as the
/// chip holds them, BCD or binary).
pub fn cmos(reg: u8) -> u8 {
    // SAFETY: ports 0x70/0x71 (CMOS index, data) are touched by no other
    // code here; selecting a register (bit 7 clear: NMIs stay enabled) and
    // reading it changes nothing but the index.
    unsafe {
        outb(0x70, reg & 0x7f);
        inb(0x71)
    }
}
