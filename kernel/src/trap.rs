//! Where every exception and interrupt lands: the handler that
//! [`crate::arch::idt`] calls for every vector.
//!
//! An exception nobody expects is a failure: one `fault` record with the
//! CPU, vector, error code, RIP, the 16 bytes at RIP (when mapped), CR2,
//! RSP and the TSC; then the run ends with a failing verdict.

use crate::{
    arch::{cpu, idt::TrapFrame, lapic, paging, percpu},
    exit, machine, record, sync, torture, watchdog,
};
use report::kind;

/// Short names of the exception vectors.
const NAMES: [&str; 32] = [
    "DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "CSO", "TS", "NP", "SS", "GP", "PF",
    "R15", "MF", "AC", "MC", "XM", "VE", "CP", "R22", "R23", "R24", "R25", "R26", "R27", "HV",
    "VC", "SX", "R31",
];

/// The Rust side of every vector; `isr_common` calls it with the frame.
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    let v = frame.vector as u8;
    match v {
        3 if machine::bp_check_hit(frame.rip) => {}
        3 if torture::on_bp(frame) => {}
        // Inside `in_nmi`, a duty done for the CPU (a `spin` handler under
        // `nmi-site`) is not taken as evidence by a #BP it interrupted.
        2 if sync::in_nmi(|| watchdog::on_nmi(frame) || torture::on_nmi()) => {}
        0..=31 if torture::on_fault(frame) => {}
        0..=31 => fault(frame),
        lapic::SPURIOUS_VECTOR => {}
        _ => {
            match v {
                sync::VEC_SYNC => sync::on_ipi(),
                torture::VEC_TIMER => {
                    // EOI first: under `timer-site` the handler calls a
                    // site, and a call that faults sends the executor back
                    // to its loop without returning here.
                    lapic::eoi();
                    torture::on_timer();
                    // `break=defer-sync`: the entry's owed sync, late.
                    sync::pay_deferred();
                    return;
                }
                torture::VEC_SELF => {
                    // EOI first: the handler may never return (the `spin`
                    // and `retry` handlers under `self` deadlock here).
                    lapic::eoi();
                    torture::on_self();
                    return;
                }
                _ => crate::smp::interrupt(v),
            }
            lapic::eoi();
        }
    }
}

/// Reports an unexpected exception and ends the run.
fn fault(frame: &TrapFrame) -> ! {
    record::count_failure();
    write_fault(frame);
    exit::finish()
}

/// The `fault` record for `frame` (shared with other failure paths).
pub fn write_fault(frame: &TrapFrame) {
    let v = frame.vector as usize;
    let cr2 = cpu::cr2();
    let tsc = cpu::rdtsc();
    let bytes = paging::read_mapped::<16>(frame.rip);
    record::emit(kind::FAULT, |r| {
        r.u64("cpu", percpu::index() as u64)
            .u64("vector", v as u64)
            .str("name", NAMES.get(v).copied().unwrap_or("IRQ"));
        if matches!(v, 8 | 10..=14 | 17 | 21 | 29 | 30) {
            r.hex("err", frame.error);
        } else {
            r.str("err", "none");
        }
        r.hex("rip", frame.rip);
        match &bytes {
            Some(b) => r.hexbytes("bytes", b),
            None => r.str("bytes", "unreadable"),
        };
        r.hex("cr2", cr2).hex("rsp", frame.rsp).u64("tsc", tsc);
    });
}
