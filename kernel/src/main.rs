//! The kernel: boots every CPU, runs what the command line asks, and
//! reports over COM1 in the record format of the `report` crate.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod arch;
mod boot;
mod exit;
mod percpu;
mod record;
mod serial;

use report::kind;

/// Everything after the boot protocol is read.
fn kmain(bi: boot::BootInfo) -> ! {
    say!(
        "static-call torture kernel: booted by {}",
        bi.protocol.name()
    );
    record::emit(kind::HELLO, |r| {
        r.u64("proto", report::PROTOCOL_VERSION as u64)
            .str("boot", bi.protocol.name())
            .str("cmdline", bi.cmdline());
    });
    exit::finish()
}

/// The loader's information could not be read: say so and stop.
fn fatal_early(e: boot::BootError) -> ! {
    record::count_failure();
    record::emit(kind::PANIC, |r| {
        r.u64("cpu", 0)
            .display("msg", format_args!("{e:?}"))
            .str("at", "boot");
    });
    exit::finish()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    exit::panic(info)
}
