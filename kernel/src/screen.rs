//! The verdict screen for whoever stands in front of the machine: the run's
//! summary ([`report::screen::Tally`]) on the VGA text screen after a BIOS
//! boot, or drawn with [`crate::font`] on the loader's RGB framebuffer
//! after a UEFI boot. Serial stays the report; this is a courtesy.
//!
//! The tally is fed every record as it is written ([`observe`]) and read
//! once at the end ([`show`]).

use crate::{boot::Framebuffer, serial::say};
use core::{
    cell::UnsafeCell,
    sync::atomic::{AtomicBool, Ordering},
};
use report::screen::{pack_rgb, Layout, Line, Tally};

/// The tally and the lock that guards it.
struct Shared {
    locked: AtomicBool,
    tally: UnsafeCell<Tally>,
    vga_text: UnsafeCell<bool>,
    framebuffer: UnsafeCell<Option<Framebuffer>>,
}

// SAFETY: `tally` is touched only by the CPU that holds `locked` (see
// `with_tally`); `vga_text` and `framebuffer` are written once by the BSP in
// `init` before any AP runs, and only read afterwards.
unsafe impl Sync for Shared {}

static SHARED: Shared = Shared {
    locked: AtomicBool::new(false),
    tally: UnsafeCell::new(Tally::new()),
    vga_text: UnsafeCell::new(false),
    framebuffer: UnsafeCell::new(None),
};

/// Where the verdict will be shown. Called once by the BSP before the APs
/// start.
pub fn init(vga_text: bool, framebuffer: Option<Framebuffer>) {
    let framebuffer = framebuffer.filter(|fb| {
        let end = fb.addr + u64::from(fb.pitch) * u64::from(fb.height);
        // The kernel's tables map the first 4 GiB (uncached from 3 GiB);
        // a framebuffer above that is left alone.
        let usable = end <= 1 << 32 && matches!(fb.bpp, 16 | 24 | 32);
        if !usable {
            say!(
                "screen: framebuffer at {:#x} ({} bpp) not used",
                fb.addr,
                fb.bpp
            );
        }
        usable
    });
    // SAFETY: only the BSP runs here, before any AP starts and before
    // `show` can run (the invariant on `Shared`); nothing else reads these
    // cells concurrently.
    unsafe {
        *SHARED.vga_text.get() = vga_text;
        *SHARED.framebuffer.get() = framebuffer;
    }
}

/// Runs `f` on the tally if its lock can be taken within `spins` tries.
fn with_tally<R>(spins: u32, f: impl FnOnce(&mut Tally) -> R) -> Option<R> {
    for _ in 0..=spins {
        // Acquire pairs with the Release below: the previous holder's
        // updates to the tally happen before ours.
        if SHARED
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: we hold `locked`, so no other CPU touches the tally; a
            // CPU that faults while holding it never releases it and later
            // callers give up (the screen then shows the verdict alone).
            let r = f(unsafe { &mut *SHARED.tally.get() });
            SHARED.locked.store(false, Ordering::Release);
            return Some(r);
        }
        core::hint::spin_loop();
    }
    None
}

/// Takes note of one record line as written (called by
/// [`crate::record::emit`]). Never waits: a record written while another
/// CPU updates the tally is left out of the summary.
pub fn observe(line: &str) {
    if let Ok(r) = report::parse_line(line.trim_end()) {
        with_tally(0, |t| t.observe(&r));
    }
}

/// Shows the summary on whatever screen the machine has.
pub fn show(pass: bool, failures: u32) {
    let tally = with_tally(1_000_000, |t| *t).unwrap_or_default();
    // SAFETY: written once in `init` before any AP ran (the invariant on
    // `Shared`); read-only from then on.
    let (vga_text, framebuffer) = unsafe { (*SHARED.vga_text.get(), *SHARED.framebuffer.get()) };
    if vga_text {
        let mut row = 0;
        tally.lines(pass, failures, |l| {
            let attr = match (row, pass) {
                (0, true) => 0x2f,
                (0, false) => 0x4f,
                _ => 0x07,
            };
            vga_row(row, l, attr);
            row += 1;
        });
    }
    if let Some(fb) = framebuffer {
        draw(&fb, &tally, pass, failures);
    }
}

/// Writes one row of the 80x25 VGA text screen.
fn vga_row(row: usize, line: &Line, attr: u8) {
    const TEXT: u64 = 0xb8000;
    for col in 0..80 {
        let ch = line.as_bytes().get(col).copied().unwrap_or(b' ');
        let cell = TEXT + 2 * (row * 80 + col) as u64;
        // `vga_text` is set only on a BIOS-booted PC.
        // SAFETY: 0xb8000 is then the VGA text buffer, identity-mapped
        // writable; callers keep row < 25 (the summary has 6 lines), so the
        // cell lies in the 4000-byte screen.
        unsafe { (cell as *mut u16).write_volatile(u16::from(attr) << 8 | u16::from(ch)) };
    }
}

/// Clears the framebuffer and draws the summary: the verdict on a green or
/// red band, the other lines white on black.
fn draw(fb: &Framebuffer, tally: &Tally, pass: bool, failures: u32) {
    let black = pack_rgb((0, 0, 0), fb.pos, fb.size);
    let white = pack_rgb((0xff, 0xff, 0xff), fb.pos, fb.size);
    let band = if pass {
        (0x00, 0x80, 0x00)
    } else {
        (0xc0, 0x00, 0x00)
    };
    let band = pack_rgb(band, fb.pos, fb.size);
    for y in 0..fb.height {
        for x in 0..fb.width {
            pixel(fb, x, y, black);
        }
    }
    let layout = Layout::for_screen(fb.width, fb.height);
    let mut row = 0;
    tally.lines(pass, failures, |l| {
        let bg = if row == 0 { band } else { black };
        layout.draw(row, l.as_bytes(), glyph, |x, y, on| {
            pixel(fb, x, y, if on { white } else { bg })
        });
        row += 1;
    });
}

fn glyph(b: u8) -> [u8; 16] {
    match b {
        0x20..=0x7e => crate::font::GLYPHS[usize::from(b - 0x20)],
        _ => crate::font::GLYPHS[usize::from(b'?' - 0x20)],
    }
}

/// Writes one pixel of `value`, `bpp / 8` bytes little-endian.
fn pixel(fb: &Framebuffer, x: u32, y: u32, value: u32) {
    if x >= fb.width || y >= fb.height {
        return;
    }
    let bytes = u64::from(fb.bpp / 8);
    let at = fb.addr + u64::from(y) * u64::from(fb.pitch) + u64::from(x) * bytes;
    // `init` kept only framebuffers that end below 4 GiB with 2, 3 or 4
    // bytes per pixel, and (x, y) is on the screen.
    // SAFETY: `at..at + bytes` then lies inside the loader's framebuffer,
    // which the kernel's tables identity-map writable (uncached from
    // 3 GiB) and which no Rust object overlaps.
    unsafe {
        if bytes == 4 {
            (at as *mut u32).write_volatile(value);
        } else {
            for i in 0..bytes {
                ((at + i) as *mut u8).write_volatile((value >> (8 * i)) as u8);
            }
        }
    }
}
