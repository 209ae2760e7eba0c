//! Boot protocols: both entries converge into one [`BootInfo`], which
//! [`entry64`] hands to `kmain`.

mod entry;

use crate::{
    arch::video::{FbInfo, Framebuffer, VgaText},
    boot_info::{BootInfo, Protocol},
};

const MULTIBOOT2_MAGIC: u32 = 0x36d7_6289;

/// Why boot information could not be read.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the record that reports it
pub enum BootError {
    /// Neither the PVH start-info magic at EBX nor the multiboot2 magic in
    /// EAX.
    UnknownProtocol {
        /// EAX at entry.
        eax: u32,
        /// EBX at entry.
        ebx: u32,
    },
    /// The multiboot2 information structure did not parse.
    BadMultiboot2,
}

/// Reads the loader's information. Runs on the boot page tables, which
/// identity-map the first 4 GiB, where both loaders put their structures.
fn read(magic: u32, info: u32) -> Result<BootInfo, BootError> {
    // A PVH start_info begins with its magic and a multiboot2 info with its
    // size, so reading the first u32 is valid for either protocol.
    // SAFETY: EBX points at the loader's structure below 4 GiB, which the
    // boot tables identity-map.
    if let Some(si) = unsafe { pvh::start_info::reader::StartInfoReader::from_paddr_identity(info) }
    {
        let mut bi = BootInfo::empty(Protocol::Pvh);
        if let Some(c) = si.cmdline() {
            bi.set_cmdline(c.to_bytes());
        }
        let rsdp = si.raw().rsdp_paddr;
        bi.rsdp = (rsdp != 0).then_some(rsdp);
        for e in si.memmap() {
            if e.ty() == pvh::start_info::MemmapType::Ram {
                bi.add_range(e.addr, e.size);
            }
        }
        return Ok(bi);
    }
    if magic != MULTIBOOT2_MAGIC {
        return Err(BootError::UnknownProtocol {
            eax: magic,
            ebx: info,
        });
    }
    // SAFETY: the multiboot2 magic says EBX points at a boot information
    // structure, identity-mapped as above; `load` checks its header.
    let mbi = unsafe { multiboot2::BootInformation::load(info as usize as *const _) }
        .map_err(|_| BootError::BadMultiboot2)?;
    let mut bi = BootInfo::empty(Protocol::Multiboot2);
    if mbi.efi_sdt64_tag().is_none() && mbi.efi_sdt32_tag().is_none() {
        // SAFETY: no EFI tags: a BIOS booted us, which leaves the VGA text
        // buffer at 0xb8000, and nothing else in the kernel uses it.
        bi.vga_text = Some(unsafe { VgaText::new() });
    }
    if let Some(Ok(fb)) = mbi.framebuffer_tag() {
        if let Ok(multiboot2::FramebufferType::RGB { red, green, blue }) = fb.buffer_type() {
            let info = FbInfo {
                addr: fb.address(),
                pitch: fb.pitch(),
                width: fb.width(),
                height: fb.height(),
                bpp: fb.bpp(),
                pos: (red.position, green.position, blue.position),
                size: (red.size, green.size, blue.size),
            };
            // SAFETY: the loader's framebuffer tag describes the framebuffer
            // it set up, memory that no Rust object overlaps.
            bi.framebuffer = Some(unsafe { Framebuffer::from_loader(info) });
        }
    }
    if let Some(c) = mbi.command_line_tag().and_then(|t| t.cmdline().ok()) {
        bi.set_cmdline(c.as_bytes());
    }
    // The RSDP tags carry a copy of the RSDP after an 8-byte tag header.
    if let Some(t) = mbi.rsdp_v2_tag() {
        bi.rsdp = Some(t as *const _ as u64 + 8);
    } else if let Some(t) = mbi.rsdp_v1_tag() {
        bi.rsdp = Some(t as *const _ as u64 + 8);
    }
    if let Some(mm) = mbi.memory_map_tag() {
        for a in mm.memory_areas() {
            if a.typ() == multiboot2::MemoryAreaType::Available {
                bi.add_range(a.start_address(), a.size());
            }
        }
    }
    Ok(bi)
}

/// The 64-bit entry, called by the assembly with EAX and EBX as the loader
/// left them.
extern "C" fn entry64(magic: u32, info: u32) -> ! {
    crate::arch::serial::init();
    match read(magic, info) {
        Ok(bi) => crate::kmain(bi),
        Err(e) => crate::fatal_early(format_args!("{e:?}")),
    }
}
