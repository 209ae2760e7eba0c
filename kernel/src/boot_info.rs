//! What the loader told us, as one [`BootInfo`] whichever boot protocol
//! brought the kernel up ([`crate::boot`] reads it and hands it to
//! `kmain`).

use crate::arch::video::{Framebuffer, VgaText};

/// Which loader started us.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Protocol {
    /// Xen's PVH direct boot (QEMU `-kernel`).
    Pvh,
    /// Multiboot2 (GRUB, Limine).
    Multiboot2,
}

impl Protocol {
    /// The name used in records.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Pvh => "pvh",
            Protocol::Multiboot2 => "multiboot2",
        }
    }
}

/// One usable RAM range from the loader's memory map.
#[derive(Clone, Copy, Default, Debug)]
pub struct MemRange {
    /// Physical start.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

const MAX_RANGES: usize = 32;
const MAX_CMDLINE: usize = 1024;

/// What the loader told us, copied out of its structures so nothing points
/// into loader memory afterwards.
pub struct BootInfo {
    /// Which protocol.
    pub protocol: Protocol,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Physical address of the ACPI RSDP, when the loader gave one.
    pub rsdp: Option<u64>,
    ranges: [MemRange; MAX_RANGES],
    range_count: usize,
    /// The legacy VGA text screen, when firmware left it to us: multiboot2
    /// from a BIOS (no EFI tags). PVH (QEMU) and UEFI boots have none.
    pub vga_text: Option<VgaText>,
    /// The RGB framebuffer the loader set up (GRUB under UEFI), if any.
    pub framebuffer: Option<Framebuffer>,
}

impl BootInfo {
    /// The kernel command line (lossy: invalid UTF-8 becomes empty).
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Usable RAM ranges.
    pub fn usable(&self) -> &[MemRange] {
        &self.ranges[..self.range_count]
    }

    /// Nothing yet, from the loader of `protocol`.
    pub fn empty(protocol: Protocol) -> Self {
        BootInfo {
            protocol,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            rsdp: None,
            ranges: [MemRange::default(); MAX_RANGES],
            range_count: 0,
            vga_text: None,
            framebuffer: None,
        }
    }

    /// Sets the command line (cut at its capacity).
    pub fn set_cmdline(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(MAX_CMDLINE);
        self.cmdline[..n].copy_from_slice(&bytes[..n]);
        self.cmdline_len = n;
    }

    /// Adds a usable RAM range (beyond the capacity, left out).
    pub fn add_range(&mut self, start: u64, len: u64) {
        if self.range_count < MAX_RANGES {
            self.ranges[self.range_count] = MemRange { start, len };
            self.range_count += 1;
        }
    }
}
