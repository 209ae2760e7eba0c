//! How a run ends: the final record, then QEMU's debug-exit device, then a
//! halt (on a real machine the verdict stays on the terminal and on the
//! screen, see [`crate::screen`]).

use crate::{
    arch::{cpu, percpu, serial::say},
    record,
};
use core::sync::atomic::{AtomicBool, Ordering};
use report::{exit as codes, kind};

static ENDING: AtomicBool = AtomicBool::new(false);
static HOLD: AtomicBool = AtomicBool::new(false);
static BOCHS: AtomicBool = AtomicBool::new(false);

/// Where the machine is Bochs (`machine::bochs_like`): leave through its
/// shutdown port too, after QEMU's.
pub fn leave_bochs_at_end(on: bool) {
    BOCHS.store(on, Ordering::Relaxed);
}

/// With `hold` on the command line: halt at the end without telling QEMU,
/// so that the verdict screen stays up.
pub fn hold_at_end(on: bool) {
    HOLD.store(on, Ordering::Relaxed);
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
    crate::screen::show(pass, failures);
    if HOLD.load(Ordering::Relaxed) {
        cpu::halt_forever();
    }
    let code = if pass {
        codes::CODE_PASS
    } else {
        codes::CODE_FAIL
    };
    cpu::debug_exit(code);
    if BOCHS.load(Ordering::Relaxed) {
        // The verdict is in the end record; Bochs' own exit status says
        // nothing about it.
        cpu::bochs_shutdown();
    }
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
        r.u64("cpu", percpu::index() as u64)
            .display("msg", info.message());
        match info.location() {
            Some(l) => r.display("at", format_args!("{}:{}", l.file(), l.line())),
            None => r.str("at", "unknown"),
        };
    });
    finish()
}
