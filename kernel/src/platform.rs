//! What the firmware's ACPI tables say about the machine: the CPUs (MADT:
//! xAPIC and x2APIC entries, disabled ones skipped), the local APIC's
//! address and the HPET's.
//!
//! Read on the boot page tables, which identity-map the first 4 GiB, where
//! firmware puts its tables.

use acpi::{madt::Madt, madt::MadtEntry, AcpiHandler, AcpiTables, HpetInfo, PhysicalMapping};
use core::ptr::NonNull;

use crate::percpu::MAX_CPUS;

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

/// The machine as ACPI describes it.
pub struct Platform {
    /// APIC ids of the enabled CPUs, in MADT order (duplicates dropped).
    pub apic_ids: [u32; MAX_CPUS],
    /// How many of `apic_ids` are valid.
    pub cpus: usize,
    /// CPUs the MADT lists beyond [`MAX_CPUS`] (not started).
    pub dropped: usize,
    /// The HPET's MMIO base, when there is one.
    pub hpet: Option<u64>,
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
    let mut p = Platform {
        apic_ids: [0; MAX_CPUS],
        cpus: 0,
        dropped: 0,
        hpet: None,
    };
    let mut add = |id: u32| {
        if p.apic_ids[..p.cpus].contains(&id) {
            return;
        }
        if p.cpus < MAX_CPUS {
            p.apic_ids[p.cpus] = id;
            p.cpus += 1;
        } else {
            p.dropped += 1;
        }
    };
    for e in madt.get().entries() {
        match e {
            // Bit 0: enabled. (Bit 1, online-capable, means "may be
            // hot-added later": not a CPU we can start now.)
            MadtEntry::LocalApic(l) if l.flags & 1 != 0 => add(l.apic_id as u32),
            MadtEntry::LocalX2Apic(l) if l.flags & 1 != 0 => add(l.x2apic_id),
            _ => {}
        }
    }
    p.hpet = HpetInfo::new(&tables).ok().map(|h| h.base_address as u64);
    Ok(p)
}
