//! The kernel: boots every CPU, runs what the command line asks, and
//! reports over COM1 in the record format of the `report` crate.
//!
//! `kmain` is the whole story of a boot, in order; each step lives in its
//! own module.
//!
//! `unsafe` is denied but in `arch/` and the few modules below that allow
//! it, each for the reason given beside it (docs/design.md, section 8);
//! every `unsafe` block carries a `// SAFETY:` comment.
#![no_std]
#![no_main]
#![deny(
    unsafe_code,
    unsafe_op_in_unsafe_fn,
    clippy::undocumented_unsafe_blocks
)]

// The machine: instructions, tables, devices, and the assembly.
#[allow(unsafe_code)]
mod arch;
// The object under test: writes to code through its writable alias.
#[allow(unsafe_code)]
mod arena;
// The entry: assembly until long mode, then the loader's structures.
#[allow(unsafe_code)]
mod boot;
mod boot_info;
// The `gap` #BP handler writes the return address onto the interrupted stack.
#[allow(unsafe_code)]
mod bp;
mod build_id;
// The negative controls fault on purpose.
#[allow(unsafe_code)]
mod control;
mod exit;
mod font;
mod machine;
// The firmware's ACPI tables, read at the addresses it gives.
#[allow(unsafe_code)]
mod platform;
mod record;
mod sabotage;
mod screen;
mod smp;
mod sync;
mod time;
mod torture;
mod trap;
mod watchdog;

use arch::serial::say;
use report::{cmdline::Options, kind};

/// Everything after the boot protocol is read.
fn kmain(bi: boot_info::BootInfo) -> ! {
    say!(
        "static-call torture kernel: booted by {}",
        bi.protocol.name()
    );
    screen::init(bi.vga_text, bi.framebuffer);
    record::emit(kind::HELLO, |r| {
        r.u64("proto", report::PROTOCOL_VERSION as u64)
            .str("boot", bi.protocol.name())
            .str("cmdline", bi.cmdline())
            .u64("vga_text", bi.vga_text.is_some() as u64);
        match build_id::get() {
            Some(id) => r.hexbytes("build_id", id),
            None => r.str("build_id", "none"),
        };
    });
    let opts = match Options::parse(bi.cmdline()) {
        Ok(o) => o,
        Err(e) => fail_check("cmdline", format_args!("{e}")),
    };
    exit::hold_at_end(opts.hold);

    // ACPI first, on the boot tables that map all of the first 4 GiB.
    let plat = match platform::discover(bi.rsdp) {
        Ok(p) => p,
        Err(e) => fail_check("acpi", format_args!("{e:?}")),
    };
    arch::lapic::mask_pic();
    arch::trampoline::install();
    if let Err(e) = arch::paging::init(arch::stacks::is_guard, arch::trampoline::TRAMPOLINE) {
        fail_check("paging", format_args!("{e:?}"));
    }
    arch::percpu::install(0);
    arch::gdt::init(0);
    arch::idt::init(trap::dispatch);
    arch::idt::load();
    let id = arch::cpu::Identity::read();
    arch::lapic::init_this_cpu(true, id.x2apic, opts.xapic);
    let limit = opts.cpus.map(|n| n as usize);
    // What the MADT holds, for the machine record (bring-up walks it again).
    let listed = plan::cpus::select(
        || plat.cpus(),
        arch::lapic::id(),
        arch::lapic::is_x2apic(),
        limit,
        arch::percpu::MAX_CPUS,
        |_, _| {},
    )
    .listed;
    machine::report(
        &id,
        listed,
        bi.usable().iter().map(|m| (m.start, m.len)),
        &plat.firmware,
    );
    exit::leave_bochs_at_end(machine::bochs_like(&id, &plat.firmware));

    match time::calibrate(plat.hpet, plat.pm_timer, opts.tsc_pit, opts.tsc_skew) {
        Ok(c) => machine::report_clock(&c),
        Err(e) => fail_check("tsc", format_args!("{e:?}")),
    }

    let started = arch::cpu::rdtsc();
    let (census, up) = smp::start_aps(|| plat.cpus(), limit);
    let bringup_ns = arch::tsc::ticks_to_ns(arch::cpu::rdtsc() - started);
    machine::report_cpus(&census, up, opts.cpus, bringup_ns);

    machine::self_checks(opts.nobp);

    if let Err(e) = arena::map() {
        fail_check("arena", format_args!("{e:?}"));
    }
    torture::set_settle(opts.settle);
    arena::set_poke(opts.poke);
    bp::set_claim(opts.claim);
    bp::set_ghost(opts.ghost);
    torture::set_seed(opts.seed);
    torture::set_executors(opts.executors);
    if let Some(pattern) = opts.experiments {
        torture::run(
            pattern,
            opts.exp_ms.unwrap_or(report::cmdline::DEFAULT_MS),
            opts.sizes,
            opts.nobp,
            opts.sabotage,
        );
    }

    if let Some(c) = opts.control {
        control::run(c);
        fail_check("control", format_args!("control {} did not fire", c.name()));
    }
    exit::finish()
}

/// Records a failed check and ends the run.
fn fail_check(name: &str, detail: core::fmt::Arguments) -> ! {
    record::count_failure();
    record::emit(kind::CHECK, |r| {
        r.str("name", name)
            .str("result", "fail")
            .display("detail", detail);
    });
    exit::finish()
}

/// The loader's information could not be read (`why`): say so and stop.
fn fatal_early(why: core::fmt::Arguments) -> ! {
    fail_check("boot", why)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    exit::panic(info)
}
