//! The object under test in memory: the site arena and the target pages
//! (their layout is `plan::layout`'s), mapped read + execute at their
//! window addresses and written only through a second, writable alias: the
//! identity mapping of the same frames (data, never executable).
//!
//! Every write goes through [`poke`], which reads the bytes back through
//! the alias and reports a mismatch instead of going on.
//!
//! Before each byte it writes, `poke` drops the alias page's TLB entry on
//! the writing CPU (`poke=flush`, the default), so that every write goes
//! through a translation made at that moment, as Linux's `text_poke`
//! writes through an alias it maps afresh and flushes each time. On
//! hardware that only costs time. Under QEMU's multi-threaded TCG it
//! decides whether a write is seen at all: QEMU traps writes to a page
//! holding translated code through the writer's TLB entry, and a writer
//! whose entry was marked "no code here" in a race with another vCPU
//! translating from the page writes past the translator from then on,
//! every write, until that entry goes. `poke=keep` writes through the
//! long-lived entry, to show it (docs/design.md, section 6).

use crate::arch::{
    cpu,
    paging::{self, MapError},
};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use plan::layout::{self, MAX_KEYS, MAX_TARGETS_PER_KEY, PAGE_SIZE, SITE_ARENA_SIZE, SITE_BASE};
use report::cmdline::Poke;

const TARGET_PAGES: usize = MAX_KEYS * MAX_TARGETS_PER_KEY;

#[repr(C, align(4096))]
struct Frames<const N: usize>([u8; N]);

/// Backing frames of the site arena (identity-mapped: this is the alias).
static mut SITE_FRAMES: Frames<{ SITE_ARENA_SIZE as usize }> =
    Frames([0; SITE_ARENA_SIZE as usize]);
/// Backing frames of the target pages, one per (key, target).
static mut TARGET_FRAMES: Frames<{ TARGET_PAGES * PAGE_SIZE as usize }> =
    Frames([0; TARGET_PAGES * PAGE_SIZE as usize]);

fn site_frames() -> u64 {
    core::ptr::addr_of!(SITE_FRAMES) as u64
}

fn target_frame(k: usize, t: usize) -> u64 {
    core::ptr::addr_of!(TARGET_FRAMES) as u64 + ((k * MAX_TARGETS_PER_KEY + t) as u64) * PAGE_SIZE
}

/// Maps the site arena and every target page R+X in the window. Once, on
/// the BSP, before any AP runs.
pub fn map() -> Result<(), MapError> {
    for p in 0..SITE_ARENA_SIZE / PAGE_SIZE {
        paging::map_4k(
            SITE_BASE + p * PAGE_SIZE,
            site_frames() + p * PAGE_SIZE,
            paging::code_flags(),
        )?;
    }
    for k in 0..MAX_KEYS {
        for t in 0..MAX_TARGETS_PER_KEY {
            let page = layout::page_of(plan::planner::target_addr(k, t));
            paging::map_4k(page, target_frame(k, t), paging::code_flags())?;
        }
    }
    Ok(())
}

/// The writable alias of window address `va`, if `va` is in the arena or
/// a target page.
pub fn alias(va: u64) -> Option<*mut u8> {
    if layout::in_site_arena(va) {
        return Some((site_frames() + (va - SITE_BASE)) as *mut u8);
    }
    for k in 0..MAX_KEYS {
        for t in 0..MAX_TARGETS_PER_KEY {
            let page = layout::page_of(plan::planner::target_addr(k, t));
            if (page..page + PAGE_SIZE).contains(&va) {
                return Some((target_frame(k, t) + (va - page)) as *mut u8);
            }
        }
    }
    None
}

/// Whether [`poke`] drops the alias's TLB entry before each byte
/// (`poke=flush`).
static FLUSH: AtomicBool = AtomicBool::new(true);

/// Applies `poke=`. Once, on the BSP, before any experiment.
pub fn set_poke(mode: Poke) {
    FLUSH.store(mode == Poke::Flush, Ordering::Relaxed);
}

/// The `poke=` mode in force.
pub fn poke_mode() -> Poke {
    if FLUSH.load(Ordering::Relaxed) {
        Poke::Flush
    } else {
        Poke::Keep
    }
}

/// Drops this CPU's TLB entry for the page of alias address `p`, when
/// `poke=flush`.
fn flush_alias(p: *mut u8) {
    if FLUSH.load(Ordering::Relaxed) {
        // The alias mapping itself never changes: the next access walks
        // the same page tables to the same frame.
        paging::flush(p as u64);
    }
}

/// Odd while a write to the window is in progress; bumped before and after
/// every write (a seqlock without data: readers only learn whether the
/// window changed under them).
static WRITE_SEQ: AtomicU64 = AtomicU64::new(0);
/// The sync round current just after the last write ended: a round with a
/// higher number began after every write so far.
static ROUND_AT_LAST_WRITE: AtomicU64 = AtomicU64::new(0);

fn begin_write() {
    WRITE_SEQ.fetch_add(1, Ordering::SeqCst);
}

fn end_write() {
    ROUND_AT_LAST_WRITE.store(crate::sync::current_round(), Ordering::SeqCst);
    WRITE_SEQ.fetch_add(1, Ordering::SeqCst);
}

/// `(write sequence, round at the last write)`, for [`unchanged_since`].
pub fn write_mark() -> (u64, u64) {
    let seq = WRITE_SEQ.load(Ordering::SeqCst);
    (seq, ROUND_AT_LAST_WRITE.load(Ordering::SeqCst))
}

/// Whether no write to the window began or ended since `mark` was taken
/// (and none was in progress then). Call after reading what must not have
/// changed.
pub fn unchanged_since(mark: (u64, u64)) -> bool {
    core::sync::atomic::fence(Ordering::SeqCst);
    mark.0.is_multiple_of(2) && WRITE_SEQ.load(Ordering::SeqCst) == mark.0
}

/// A write that did not read back, or an address outside the arena.
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // read through `Debug`, in the `exp` record's `error`
pub struct PokeError {
    /// Where the write went.
    pub va: u64,
    /// What was read back (first 8 bytes).
    pub seen: [u8; 8],
}

/// Writes `bytes` at window address `va` through the alias, byte by byte
/// in order, and reads them back. The caller has made sure that no CPU can
/// be confused by the intermediate states, or wants exactly that (naive).
pub fn poke(va: u64, bytes: &[u8]) -> Result<(), PokeError> {
    begin_write();
    let r = poke_bytes(va, bytes);
    end_write();
    r
}

/// Writes `bytes` at window address `va` through the alias, byte by byte
/// in order, *without* reading them back: for a writer that races the
/// patcher by design (the `spin-bounded` handler's cancel and completion,
/// as hpa sketched them), whose result the executors and the patcher's own
/// read-backs judge. Fails only for an address outside the arena.
pub fn store(va: u64, bytes: &[u8]) -> Result<(), PokeError> {
    begin_write();
    let r = write_bytes(va, bytes);
    end_write();
    r
}

/// `break=poke-elsewhere`: [`poke`], but the bytes land at `landing`
/// while the read-back checks `va`, as a store through a wrong alias would.
pub fn poke_landing_at(va: u64, bytes: &[u8], landing: u64) -> Result<(), PokeError> {
    begin_write();
    let r = write_bytes(landing, bytes).and_then(|()| verify(va, bytes));
    end_write();
    r
}

fn poke_bytes(va: u64, bytes: &[u8]) -> Result<(), PokeError> {
    write_bytes(va, bytes)?;
    verify(va, bytes)
}

fn write_bytes(va: u64, bytes: &[u8]) -> Result<(), PokeError> {
    for (i, &b) in bytes.iter().enumerate() {
        let p = alias(va + i as u64).ok_or(PokeError { va, seen: [0; 8] })?;
        flush_alias(p);
        // SAFETY: `alias` returned the writable identity address of a frame
        // backing the arena (static, page-aligned, never freed); a volatile
        // byte store is what the protocol asks for.
        unsafe { p.write_volatile(b) };
    }
    Ok(())
}

/// Stores the 4 bytes at `va` with one 32-bit store (`atomic`): a single
/// `mov` instruction, whatever the alignment.
pub fn poke_u32(va: u64, bytes: [u8; 4]) -> Result<(), PokeError> {
    begin_write();
    let r = poke_u32_inner(va, bytes);
    end_write();
    r
}

fn poke_u32_inner(va: u64, bytes: [u8; 4]) -> Result<(), PokeError> {
    let p = alias(va).ok_or(PokeError { va, seen: [0; 8] })?;
    let last = alias(va + 3).ok_or(PokeError { va, seen: [0; 8] })?;
    flush_alias(p);
    flush_alias(last);
    // SAFETY: both ends are in the arena's static frames (checked above),
    // which no Rust reference covers; the site arena's frames are
    // contiguous, so an operand that crosses a line or page crosses it in
    // the alias too. One `mov` is the point.
    unsafe { cpu::store_u32(p, u32::from_le_bytes(bytes)) };
    verify(va, &bytes)
}

/// Reads `N` bytes at window address `va` through the alias.
pub fn peek<const N: usize>(va: u64) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        if let Some(p) = alias(va + i as u64) {
            // SAFETY: as in `poke`; reads only.
            *o = unsafe { p.read_volatile() };
        }
    }
    out
}

fn verify(va: u64, bytes: &[u8]) -> Result<(), PokeError> {
    for (i, &b) in bytes.iter().enumerate() {
        let p = alias(va + i as u64).ok_or(PokeError { va, seen: [0; 8] })?;
        // SAFETY: as in `poke`.
        if unsafe { p.read_volatile() } != b {
            return Err(PokeError {
                va,
                seen: peek::<8>(va),
            });
        }
    }
    Ok(())
}

/// Lays out `plan` from scratch: every arena and target page `int3`, then
/// the stubs, trampolines, target bodies, jump labels and
/// `__static_call_return0`. Only while no CPU executes in
/// the window (between experiments); the caller syncs every CPU afterwards.
pub fn install(p: &plan::ArenaPlan) -> Result<(), PokeError> {
    for page in 0..(SITE_ARENA_SIZE / PAGE_SIZE) as usize {
        flush_alias((site_frames() + page as u64 * PAGE_SIZE) as *mut u8);
    }
    for page in 0..TARGET_PAGES {
        flush_alias((target_frame(0, 0) + page as u64 * PAGE_SIZE) as *mut u8);
    }
    // SAFETY: no CPU executes the window now (caller's contract); the
    // frames are static and only written here and by `poke`.
    unsafe {
        core::ptr::write_bytes(
            site_frames() as *mut u8,
            plan::encode::INT3,
            SITE_ARENA_SIZE as usize,
        );
        core::ptr::write_bytes(
            target_frame(0, 0) as *mut u8,
            plan::encode::INT3,
            TARGET_PAGES * PAGE_SIZE as usize,
        );
    }
    for k in 0..p.keys() {
        for (i, &s) in p.sites(k).iter().enumerate() {
            poke(s, &p.stub_bytes(k, i))?;
        }
        if let (Some(t), Some(b)) = (p.trampoline(k), p.trampoline_bytes(k)) {
            poke(t, &b)?;
        }
        for (j, &t) in p.targets(k).iter().enumerate() {
            poke(t, &p.target_body(k, j))?;
        }
    }
    for (_, _, at, body) in p.jump_labels() {
        poke(at, &body)?;
    }
    if let Some((at, body)) = p.ret0_body() {
        poke(at, &body)?;
    }
    Ok(())
}
