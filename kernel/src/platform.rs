//! What the firmware's ACPI tables say about the machine: the CPUs (MADT:
//! xAPIC and x2APIC entries, with their enabled and online-capable flags;
//! [`plan::cpus::select`] decides which to start), the HPET's address and
//! the ACPI PM timer's (FADT).
//!
//! Read on the boot page tables, which identity-map the first 4 GiB, where
//! firmware puts its tables.

use acpi::{
    address::AddressSpace, fadt::Fadt, madt::Madt, madt::MadtEntry, AcpiHandler, AcpiTables,
    HpetInfo, PhysicalMapping,
};
use core::ptr::NonNull;
use plan::cpus::MadtCpu;

use crate::arch::clocks::{Hpet, PmTimer};

#[derive(Clone)]
struct Identity;

impl AcpiHandler for Identity {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        assert!(
            physical_address + size <= 1 << 32,
            "ACPI table above 4 GiB at {physical_address:#x}"
        );
        // SAFETY: the first 4 GiB are identity-mapped, so the physical
        // address is the virtual one; the crate reads only `size` bytes.
        unsafe {
            PhysicalMapping::new(
                physical_address,
                NonNull::new(physical_address as *mut T).expect("ACPI table at address 0"),
                size,
                size,
                self.clone(),
            )
        }
    }
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}
}

/// Who wrote the firmware's tables: the MADT's OEM id and OEM table id
/// (space-padded ASCII). Emulators' firmware writes its own (`BOCHS`,
/// `BXPC...`), which is how a log tells an emulator without a hypervisor
/// bit (Bochs) from a real machine.
#[derive(Clone, Copy)]
pub struct Firmware {
    /// The OEM id.
    pub oem_id: [u8; 6],
    /// The OEM table id.
    pub oem_table_id: [u8; 8],
}

/// The machine as ACPI describes it.
pub struct Platform {
    madt: PhysicalMapping<Identity, Madt>,
    /// Who wrote the tables.
    pub firmware: Firmware,
    /// The HPET, when there is one (below 4 GiB).
    pub hpet: Option<Hpet>,
    /// The ACPI PM timer (FADT), when there is one.
    pub pm_timer: Option<PmTimer>,
}

impl Platform {
    /// The MADT's processor entries, in table order (read afresh on each
    /// call: the table stays mapped identity for good).
    pub fn cpus(&self) -> impl Iterator<Item = MadtCpu> + '_ {
        // Flags bit 0: enabled; bit 1: online-capable (may be hot-added
        // later, not a CPU to start now).
        let cpu = |apic_id: u32, flags: u32| MadtCpu {
            apic_id,
            enabled: flags & 1 != 0,
            online_capable: flags & 2 != 0,
        };
        self.madt.get().entries().filter_map(move |e| match e {
            MadtEntry::LocalApic(l) => Some(cpu(l.apic_id as u32, l.flags)),
            MadtEntry::LocalX2Apic(l) => Some(cpu(l.x2apic_id, l.flags)),
            _ => None,
        })
    }
}

/// Why the tables could not be read.
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub enum PlatformError {
    /// No RSDP from the loader nor in the BIOS areas.
    NoRsdp,
    /// The ACPI crate rejected the tables.
    Acpi(acpi::AcpiError),
}

/// Reads the tables. `rsdp` comes from the loader; without it the BIOS
/// areas are searched.
pub fn discover(rsdp: Option<u64>) -> Result<Platform, PlatformError> {
    // SAFETY: the address came from the loader (or is searched for in the
    // BIOS areas), and the handler maps identity; the crate validates
    // signatures and checksums.
    let tables = unsafe {
        match rsdp {
            Some(a) => AcpiTables::from_rsdp(Identity, a as usize),
            None => AcpiTables::search_for_rsdp_bios(Identity),
        }
    }
    .map_err(|e| match e {
        acpi::AcpiError::NoValidRsdp => PlatformError::NoRsdp,
        e => PlatformError::Acpi(e),
    })?;
    let madt = tables.find_table::<Madt>().map_err(PlatformError::Acpi)?;
    let hpet = HpetInfo::new(&tables).ok().and_then(|h| {
        // SAFETY: the base is the HPET table's (checksummed by the crate).
        unsafe { Hpet::at(h.base_address as u64) }
    });
    // A FADT without a PM timer, or none at all, leaves the other clocks.
    let pm_timer = tables.find_table::<Fadt>().ok().and_then(|f| {
        let base = f.pm_timer_block().ok()??;
        let bits32 = { f.flags }.pm_timer_is_32_bit();
        match base.address_space {
            AddressSpace::SystemIo => {
                let port = u16::try_from(base.address).ok()?;
                // SAFETY: the FADT (checksummed by the crate) names this
                // port as the PM timer's.
                Some(unsafe { PmTimer::port(port, bits32) })
            }
            // SAFETY: as above, for this address.
            AddressSpace::SystemMemory => unsafe { PmTimer::mmio(base.address, bits32) },
            _ => None,
        }
    });
    let header = madt.get().header;
    let firmware = Firmware {
        oem_id: header.oem_id,
        oem_table_id: header.oem_table_id,
    };
    Ok(Platform {
        madt,
        firmware,
        hpet,
        pm_timer,
    })
}
