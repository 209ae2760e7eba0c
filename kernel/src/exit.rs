//! How a run ends: the final record, then QEMU's debug-exit device, then a
//! halt (on a real machine the verdict stays on the terminal).

use crate::{arch::cpu, record, say};
use core::sync::atomic::{AtomicBool, Ordering};
use report::{exit as codes, kind};

static ENDING: AtomicBool = AtomicBool::new(false);
static VGA: AtomicBool = AtomicBool::new(false);

/// Shows the verdict on the VGA text screen too (a real machine booted from
/// a BIOS, where nobody may be watching the serial line).
pub fn use_vga_text(on: bool) {
    VGA.store(on, Ordering::Relaxed);
}

/// Writes `line` on the first row of the VGA text screen, white on red for
/// a failure, white on green for a pass.
fn vga_line(line: &[u8], pass: bool) {
    const TEXT: u64 = 0xb8000;
    let attr: u8 = if pass { 0x2f } else { 0x4f };
    for i in 0..80 {
        let ch = line.get(i).copied().unwrap_or(b' ');
        // `use_vga_text` is set only on a BIOS-booted PC.
        // SAFETY: 0xb8000 is then the VGA text buffer, identity-mapped
        // writable; 80 cells of 2 bytes fit in the first row.
        unsafe {
            ((TEXT + 2 * i as u64) as *mut u16).write_volatile(u16::from(attr) << 8 | u16::from(ch))
        };
    }
}
static PANICKING: AtomicBool = AtomicBool::new(false);

/// Writes the `end` record with the verdict (pass if no failure was
/// recorded), tells QEMU, and halts. Only the first CPU to get here
/// writes; others halt.
pub fn finish() -> ! {
    if ENDING.swap(true, Ordering::AcqRel) {
        cpu::halt_forever();
    }
    let failures = record::failures();
    let pass = failures == 0;
    let records = record::records();
    record::emit(kind::END, |r| {
        r.str("verdict", if pass { "pass" } else { "fail" })
            .u64("records", records as u64)
            .u64("failures", failures as u64);
    });
    say!(
        "verdict: {} ({} failure(s))",
        if pass { "PASS" } else { "FAIL" },
        failures
    );
    if VGA.load(Ordering::Relaxed) {
        let mut buf = [0u8; 80];
        let mut w = Cursor {
            buf: &mut buf,
            len: 0,
        };
        let _ = core::fmt::write(
            &mut w,
            format_args!(
                "static-call torture: {} ({} failure(s)); full report on COM1",
                if pass { "PASS" } else { "FAIL" },
                failures
            ),
        );
        let len = w.len;
        vga_line(&buf[..len], pass);
    }
    let code = if pass {
        codes::CODE_PASS
    } else {
        codes::CODE_FAIL
    };
    // SAFETY: the debug-exit port is QEMU's `isa-debug-exit` device when
    // present; on a real machine nothing decodes port 0xf4 and the write is
    // ignored, after which we halt.
    unsafe { cpu::outl(codes::DEBUG_EXIT_PORT, code) };
    cpu::halt_forever()
}

/// A Rust panic: one record (a panic while reporting a panic halts
/// silently), then the failing end.
pub fn panic(info: &core::panic::PanicInfo) -> ! {
    if PANICKING.swap(true, Ordering::AcqRel) {
        cpu::halt_forever();
    }
    record::count_failure();
    record::emit(kind::PANIC, |r| {
        r.u64("cpu", crate::percpu::index() as u64)
            .display("msg", info.message());
        match info.location() {
            Some(l) => r.display("at", format_args!("{}:{}", l.file(), l.line())),
            None => r.str("at", "unknown"),
        };
    });
    finish()
}

struct Cursor<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
