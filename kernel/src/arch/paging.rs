//! The kernel's page tables.
//!
//! The boot tables map the first 4 GiB read-write-executable with 2 MiB
//! pages. These replace them:
//!
//! | range | mapping |
//! | --- | --- |
//! | page 0 | unmapped (null pointers fault) |
//! | below the kernel | RW, NX (BIOS data, ACPI tables); the AP trampoline page R+X |
//! | kernel text | R+X |
//! | kernel rodata | R, NX |
//! | kernel data, bss | RW, NX; every stack's guard page unmapped |
//! | the rest of 0..4 GiB | RW, NX, 2 MiB pages; uncached from 3 GiB (device memory) |
//!
//! With CR0.WP set, a write to text through its own mapping faults: code is
//! changed only through a separate writable alias of the same frames.
//!
//! Tables come from a static pool; the tables themselves are identity-mapped
//! (they live in bss), so a physical address read from an entry can be
//! dereferenced directly.

use super::image;
use core::sync::atomic::{AtomicUsize, Ordering};
use x86_64::{
    structures::paging::{PageTable, PageTableFlags as F},
    PhysAddr,
};

const PAGE: u64 = 4096;
const HUGE: u64 = 2 << 20;
/// Device memory (LAPIC, IOAPIC, HPET) lives in the top GiB below 4 GiB.
const UNCACHED_FROM: u64 = 3 << 30;

const POOL_PAGES: usize = 96;
#[repr(C, align(4096))]
struct Pool([PageTable; POOL_PAGES]);
static mut POOL: Pool = Pool([const { PageTable::new() }; POOL_PAGES]);
static POOL_NEXT: AtomicUsize = AtomicUsize::new(0);

/// Why a mapping could not be made.
#[derive(Debug, Clone, Copy)]
pub enum MapError {
    /// The static pool of page-table pages is used up.
    PoolExhausted,
    /// The address is covered by a 2 MiB page and cannot be split here.
    HugePage,
}

fn alloc_table() -> Result<&'static mut PageTable, MapError> {
    let i = POOL_NEXT.fetch_add(1, Ordering::Relaxed);
    if i >= POOL_PAGES {
        return Err(MapError::PoolExhausted);
    }
    // SAFETY: each index is handed out once (fetch_add), so no two callers
    // get the same table; the pool is static and never freed.
    Ok(unsafe { &mut (*core::ptr::addr_of_mut!(POOL)).0[i] })
}

fn nx() -> F {
    if super::cpu::nx() {
        F::NO_EXECUTE
    } else {
        F::empty()
    }
}

/// The PML4, once [`init`] has built it.
static mut PML4: *mut PageTable = core::ptr::null_mut();

/// Physical address of the kernel's PML4 (for the AP trampoline's CR3).
pub fn pml4_phys() -> u64 {
    // SAFETY: written once by `init` on the BSP before any AP starts.
    unsafe { PML4 as u64 }
}

fn next_level(
    entry: &mut x86_64::structures::paging::page_table::PageTableEntry,
) -> Result<&'static mut PageTable, MapError> {
    if entry.is_unused() {
        let t = alloc_table()?;
        entry.set_addr(PhysAddr::new(t as *mut _ as u64), F::PRESENT | F::WRITABLE);
        return Ok(t);
    }
    if entry.flags().contains(F::HUGE_PAGE) {
        return Err(MapError::HugePage);
    }
    // SAFETY: a present, non-huge entry points at a table from our pool (or
    // the boot tables), identity-mapped, used only under the caller's
    // exclusive access (`init` on the BSP, or `map_*` from the patcher).
    Ok(unsafe { &mut *(entry.addr().as_u64() as *mut PageTable) })
}

fn pml4() -> &'static mut PageTable {
    // SAFETY: set by `init`; the table is in our static pool.
    unsafe { &mut *PML4 }
}

/// Maps the 4 KiB page at `va` to `pa` with `flags` (PRESENT implied).
pub fn map_4k(va: u64, pa: u64, flags: F) -> Result<(), MapError> {
    let l4 = pml4();
    let l3 = next_level(&mut l4[(va >> 39) as usize & 511])?;
    let l2 = next_level(&mut l3[(va >> 30) as usize & 511])?;
    let l1 = next_level(&mut l2[(va >> 21) as usize & 511])?;
    l1[(va >> 12) as usize & 511].set_addr(PhysAddr::new(pa), flags | F::PRESENT);
    Ok(())
}

/// Flags for code that runs: read + execute.
pub fn code_flags() -> F {
    F::empty()
}

/// Flags for data: read + write, never executed.
pub fn data_flags() -> F {
    F::WRITABLE | nx()
}

/// Builds the kernel's tables and switches to them. Runs once on the BSP
/// before any AP starts. Pages for which `is_guard` holds stay unmapped
/// (stack guards); `trampoline` is the AP start page (mapped R+X).
pub fn init(is_guard: impl Fn(u64) -> bool, trampoline: u64) -> Result<(), MapError> {
    let l4 = alloc_table()?;
    // SAFETY: BSP only, before any AP; no one else reads PML4 yet.
    unsafe { PML4 = l4 };
    let (text, rodata) = (image::text(), image::rodata());
    let small_end = image::end().div_ceil(HUGE) * HUGE;
    // 4 KiB pages up to the end of the kernel's last 2 MiB.
    let mut va = PAGE;
    while va < small_end {
        let flags = if va == trampoline || text.contains(&va) {
            code_flags()
        } else if rodata.contains(&va) {
            nx()
        } else {
            data_flags()
        };
        if !is_guard(va) {
            map_4k(va, va, flags)?;
        }
        va += PAGE;
    }
    // 2 MiB pages for the rest of the first 4 GiB.
    let l3 = next_level(&mut l4[0])?;
    while va < 4 << 30 {
        let l2 = next_level(&mut l3[(va >> 30) as usize & 511])?;
        let mut flags = F::PRESENT | F::HUGE_PAGE | data_flags();
        if va >= UNCACHED_FROM {
            flags |= F::NO_CACHE | F::WRITE_THROUGH;
        }
        l2[(va >> 21) as usize & 511].set_addr(PhysAddr::new(va), flags);
        va += HUGE;
    }
    // SAFETY: the new tables map everything the kernel touches at the same
    // addresses as the boot tables (identity), so execution continues; text
    // stays executable and the stack stays writable.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) l4 as *mut _ as u64, options(nostack));
    }
    Ok(())
}

/// Whether `len` bytes from `va` are mapped (readable), by walking the
/// live tables. Used before reading bytes at a faulting RIP.
pub fn readable(va: u64, len: u64) -> bool {
    let mut a = va & !(PAGE - 1);
    while a < va.saturating_add(len) {
        if !page_present(a) {
            return false;
        }
        a += PAGE;
    }
    true
}

/// The `N` bytes from `va`, if they are mapped ([`readable`]): what a
/// fault record shows of the code at a faulting RIP.
pub fn read_mapped<const N: usize>(va: u64) -> Option<[u8; N]> {
    if !readable(va, N as u64) {
        return None;
    }
    let mut bytes = [0u8; N];
    // SAFETY: `readable` found all N bytes mapped in the live tables; a
    // byte copy reads them whatever they hold.
    unsafe { core::ptr::copy_nonoverlapping(va as *const u8, bytes.as_mut_ptr(), N) };
    Some(bytes)
}

/// Drops this CPU's TLB entry for the page of `va` (INVLPG): the next
/// access walks the page tables afresh.
pub fn flush(va: u64) {
    // SAFETY: INVLPG is allowed at CPL 0 on any address and only drops a
    // translation; the tables themselves are unchanged.
    unsafe {
        core::arch::asm!("invlpg [{va}]", va = in(reg) va, options(nostack, preserves_flags))
    };
}

fn page_present(va: u64) -> bool {
    if va >= 1 << 47 {
        return false;
    }
    let cr3: u64;
    // SAFETY: reading CR3 has no side effect.
    unsafe { core::arch::asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
    let mut table = (cr3 & !0xfff) as *const u64;
    for shift in [39u64, 30, 21, 12] {
        // SAFETY: every table is identity-mapped (boot tables or our pool),
        // and the index is within 512 entries.
        let e = unsafe { table.add(((va >> shift) & 511) as usize).read_volatile() };
        if e & 1 == 0 {
            return false;
        }
        if shift != 12 && e & (1 << 7) != 0 {
            return true;
        }
        table = (e & 0x000f_ffff_ffff_f000) as *const u64;
    }
    true
}
