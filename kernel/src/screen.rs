//! The verdict screen for whoever stands in front of the machine: the run's
//! summary ([`report::screen::Tally`]) on the VGA text screen after a BIOS
//! boot, or drawn with [`crate::font`] on the loader's RGB framebuffer
//! after a UEFI boot. Serial stays the report; this is a courtesy.
//!
//! The tally is fed every record as it is written ([`observe`]) and read
//! once at the end ([`show`]).

use crate::arch::{
    serial::say,
    video::{Framebuffer, VgaText},
};
use report::screen::{pack_rgb, Layout, Line, Tally};

/// The screens the machine has.
struct Screens {
    vga_text: Option<VgaText>,
    framebuffer: Option<Framebuffer>,
}

/// Set once by the BSP in [`init`], before any AP runs.
static SCREENS: spin::Once<Screens> = spin::Once::new();

/// The run's summary so far.
static TALLY: spin::Mutex<Tally> = spin::Mutex::new(Tally::new());

/// Where the verdict will be shown. Called once by the BSP before the APs
/// start.
pub fn init(vga_text: Option<VgaText>, framebuffer: Option<Framebuffer>) {
    let framebuffer = framebuffer.filter(|fb| {
        // The kernel's tables map the first 4 GiB (uncached from 3 GiB);
        // a framebuffer above that is left alone.
        let usable = fb.usable();
        if !usable {
            say!(
                "screen: framebuffer at {:#x} ({} bpp) not used",
                fb.info().addr,
                fb.info().bpp
            );
        }
        usable
    });
    SCREENS.call_once(|| Screens {
        vga_text,
        framebuffer,
    });
}

/// Runs `f` on the tally if its lock can be taken within `spins` tries. A
/// CPU that faults while holding it never releases it, and later callers
/// give up (the screen then shows the verdict alone).
fn with_tally<R>(spins: u32, f: impl FnOnce(&mut Tally) -> R) -> Option<R> {
    for _ in 0..=spins {
        if let Some(mut tally) = TALLY.try_lock() {
            return Some(f(&mut tally));
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
    let Some(screens) = SCREENS.get() else {
        return;
    };
    if let Some(vga) = &screens.vga_text {
        let mut row = 0;
        tally.lines(pass, failures, |l| {
            let attr = match (row, pass) {
                (0, true) => 0x2f,
                (0, false) => 0x4f,
                _ => 0x07,
            };
            vga_row(vga, row, l, attr);
            row += 1;
        });
    }
    if let Some(fb) = &screens.framebuffer {
        draw(fb, &tally, pass, failures);
    }
}

/// Writes one row of the 80x25 VGA text screen.
fn vga_row(vga: &VgaText, row: usize, line: &Line, attr: u8) {
    for col in 0..VgaText::COLS {
        let ch = line.as_bytes().get(col).copied().unwrap_or(b' ');
        vga.put(row, col, attr, ch);
    }
}

/// Clears the framebuffer and draws the summary: the verdict on a green or
/// red band, the other lines white on black.
fn draw(fb: &Framebuffer, tally: &Tally, pass: bool, failures: u32) {
    let info = fb.info();
    let black = pack_rgb((0, 0, 0), info.pos, info.size);
    let white = pack_rgb((0xff, 0xff, 0xff), info.pos, info.size);
    let band = if pass {
        (0x00, 0x80, 0x00)
    } else {
        (0xc0, 0x00, 0x00)
    };
    let band = pack_rgb(band, info.pos, info.size);
    for y in 0..info.height {
        for x in 0..info.width {
            fb.pixel(x, y, black);
        }
    }
    let layout = Layout::for_screen(info.width, info.height);
    let mut row = 0;
    tally.lines(pass, failures, |l| {
        let bg = if row == 0 { band } else { black };
        layout.draw(row, l.as_bytes(), glyph, |x, y, on| {
            fb.pixel(x, y, if on { white } else { bg })
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
