//! The platform's negative controls: faults and a hang provoked on purpose,
//! so that the harness can prove its detectors fire. Each announces itself
//! with a `control` record naming the CPU, the symbol where the fault must
//! be reported, and the vector; the harness checks the `fault` record
//! against the symbol's address in the ELF.

use crate::{arch::tsc, record, smp};
use report::{cmdline::Control, kind};

// `control_ud2`: an invalid opcode. `control_write_text`: a byte store to
// the address in RDI (kernel text: read-only, so #PF with RIP here).
core::arch::global_asm!(
    ".section .text.control, \"ax\"",
    ".global control_ud2",
    "control_ud2:",
    "ud2",
    ".global control_write_text",
    "control_write_text:",
    "movb $0x90, (%rdi)",
    "ret",
    options(att_syntax),
);

unsafe extern "C" {
    fn control_ud2();
    fn control_write_text(target: *mut u8);
}

/// A `ret` in a data page: calling it must fault on the fetch (NX).
#[unsafe(no_mangle)]
static mut control_exec_data: [u8; 16] = [0xc3; 16];

fn ud2(_: u64) {
    // SAFETY: deliberately executes `ud2`; the #UD handler reports it and
    // ends the run, so control never comes back.
    unsafe { control_ud2() }
}

/// Runs a control. Returns only if the control did not fire (a detector
/// that did not see it would otherwise be blind, so the caller records a
/// failure).
pub fn run(c: Control) {
    let (symbol, vector, on_ap) = c.expected_fault().unwrap_or(("none", 0, false));
    let cpu = if on_ap && smp::count() > 1 { 1 } else { 0 };
    record::emit(kind::CONTROL, |r| {
        r.str("name", c.name())
            .u64("cpu", cpu)
            .str("symbol", symbol);
        match c {
            Control::Hang => r.str("vector", "none"),
            _ => r.u64("vector", vector as u64),
        };
    });
    match c {
        Control::Ud2Ap if cpu == 1 => {
            smp::on_cpu_async(1, ud2, 0);
            // The fault on CPU 1 ends the run; give it a second.
            tsc::delay_us(1_000_000);
        }
        Control::Ud2Ap => ud2(0),
        // SAFETY: deliberately stores to kernel text, which is mapped
        // read-only: the #PF handler reports it and ends the run.
        Control::WriteText => unsafe {
            control_write_text(control_write_text as *const () as *mut u8)
        },
        Control::ExecData => {
            // Were NX missing, the page holds `ret`: the call returns and
            // the caller records that the control did not fire.
            // SAFETY: a deliberate call into a data page mapped NX; the
            // fetch faults and the handler ends the run.
            let f: extern "C" fn() =
                unsafe { core::mem::transmute(core::ptr::addr_of!(control_exec_data)) };
            f();
        }
        Control::Hang => {
            x86_64::instructions::interrupts::disable();
            #[allow(clippy::empty_loop)]
            loop {}
        }
    }
}
