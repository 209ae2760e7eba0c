//! The machine's identity record and the platform's self-checks.

use crate::{
    arch::{
        cpu, idt, lapic,
        percpu::{self, MAX_CPUS},
        serial::say,
    },
    record, smp, time,
};
use core::sync::atomic::{AtomicU64, Ordering};
use plan::cpus::{Census, CpuSet};
use report::kind;

static UNDER_TCG: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Whether the machine is an emulator without a hypervisor bit whose
/// firmware is Bochs' or QEMU's (ACPI OEM id `BOCHS`): Bochs, which
/// ignores QEMU's debug-exit port but has a shutdown port of its own.
pub fn bochs_like(id: &cpu::Identity, firmware: &crate::platform::Firmware) -> bool {
    !id.hypervisor && firmware.oem_id.starts_with(b"BOCHS")
}

/// Whether the hypervisor says it is QEMU's TCG (CPUID 0x4000_0000).
pub fn under_tcg() -> bool {
    UNDER_TCG.load(Ordering::Relaxed)
}

/// Writes the `machine` record (and a human line). `ram`: the usable RAM
/// ranges, each as (start, length).
pub fn report(
    id: &cpu::Identity,
    cpus: usize,
    ram: impl Iterator<Item = (u64, u64)>,
    firmware: &crate::platform::Firmware,
) {
    let (usable_bytes, top) = ram.fold((0, 0), |(sum, top): (u64, u64), (start, len)| {
        (sum + len, top.max(start + len))
    });
    let vendor = cpu::cstr(&id.vendor);
    let microcode = cpu::microcode(vendor);
    let brand = cpu::cstr(&id.brand);
    let hv = cpu::cstr(&id.hv_vendor);
    UNDER_TCG.store(id.hypervisor && hv == b"TCGTCGTCGTCG", Ordering::Relaxed);
    let apic = if lapic::is_x2apic() {
        "x2apic"
    } else {
        "xapic"
    };
    say!(
        "machine: {} family {:#x} model {:#x} stepping {}, \"{}\", {}{}",
        core::str::from_utf8(vendor).unwrap_or("?"),
        id.family,
        id.model,
        id.stepping,
        core::str::from_utf8(brand).unwrap_or("?"),
        apic,
        if id.hypervisor {
            ", under a hypervisor"
        } else {
            ""
        }
    );
    record::emit(kind::MACHINE, |r| {
        r.bytes_escaped("vendor", vendor)
            .u64("family", id.family as u64)
            .u64("model", id.model as u64)
            .u64("stepping", id.stepping as u64)
            .bytes_escaped("brand", brand)
            .u64("hypervisor", id.hypervisor as u64)
            .bytes_escaped("hv", if id.hypervisor { hv } else { b"none" });
        match microcode {
            Some(m) => r.hex("microcode", m),
            None => r.str("microcode", "na"),
        };
        r.u64("mem_mib", usable_bytes >> 20)
            .hex("mem_top", top)
            .str("apic", apic)
            .u64("cpus", cpus as u64)
            .u64("serialize", id.serialize as u64);
        // Trailing padding dropped; an id with nothing but padding is `-`.
        for (key, bytes) in [
            ("acpi_oem", &firmware.oem_id[..]),
            ("acpi_table", &firmware.oem_table_id[..]),
        ] {
            let end = bytes
                .iter()
                .rposition(|&b| b != b' ' && b != 0)
                .map_or(0, |i| i + 1);
            r.bytes_escaped(key, if end == 0 { b"-" } else { &bytes[..end] });
        }
    });
}

/// Writes the `tsc` record with every reference's figure, and the `clock`
/// check: the frequency in use is plausible and every other figure agrees
/// with it ([`report::clock::problems`]).
pub fn report_clock(c: &time::Calibration) {
    say!(
        "tsc: {}.{:03} MHz (against {})",
        c.hz / 1_000_000,
        c.hz / 1000 % 1000,
        c.source
    );
    record::emit(kind::TSC, |r| {
        r.u64("hz", c.hz).str("source", c.source);
        for (name, fig) in c.figures {
            match fig {
                Ok(hz) => r.u64(name, hz),
                Err(why) => r.str(name, why.name()),
            };
        }
        if let Some(s) = c.skewed {
            r.str("skewed", s);
        }
        r.u64("rounds", c.rounds as u64);
    });
    let figures = || c.figures.iter().filter_map(|&(n, f)| Some((n, f.ok()?)));
    let mut problems = report::clock::problems(c.source, c.hz, figures());
    let others = figures().filter(|&(n, _)| n != c.source).count();
    match problems.next() {
        Some(p) => check("clock", false, format_args!("{p}")),
        None if others == 0 => check(
            "clock",
            true,
            format_args!("{} alone: no other reference to check it against", c.source),
        ),
        None => check(
            "clock",
            true,
            format_args!(
                "{} and {others} other reference(s) within {}%",
                c.source,
                report::clock::MAX_APART_PPM / 10_000
            ),
        ),
    }
}

/// Writes the `cpus` record: how many CPUs are up, how many the MADT
/// lists, why any listed one was not used, and how long bring-up took.
pub fn report_cpus(c: &Census, up: usize, limit: Option<u32>, bringup_ns: u64) {
    say!(
        "cpus: {} of {} up; the MADT lists {} enabled, {} online-capable",
        up,
        c.chosen,
        c.listed,
        c.online_capable
    );
    record::emit(kind::CPUS, |r| {
        r.u64("up", up as u64)
            .u64("expected", c.chosen as u64)
            .u64("listed", c.listed as u64)
            .u64("online_capable", c.online_capable as u64);
        match limit {
            Some(n) => r.u64("limit", n as u64),
            None => r.str("limit", "none"),
        };
        r.u64("supported", MAX_CPUS as u64)
            .u64("unaddressable", c.unaddressable as u64)
            .u64("no_room", c.over_capacity as u64)
            .u64("bringup_us", bringup_ns / 1000);
    });
}

fn check(name: &str, ok: bool, detail: core::fmt::Arguments) {
    if !ok {
        record::count_failure();
    }
    record::emit(kind::CHECK, |r| {
        r.str("name", name)
            .str("result", if ok { "pass" } else { "fail" })
            .display("detail", detail);
    });
}

/// The #BP self-check's int3 address + 1 (what RIP holds after the trap).
static BP_CHECK_RIP: AtomicU64 = AtomicU64::new(0);
/// How many times the #BP self-check's int3 trapped.
static BP_CHECK_HITS: AtomicU64 = AtomicU64::new(0);

/// A #BP at `rip` (the address after the `int3`): whether it is the
/// self-check's, which it counts (the handler then just returns).
pub fn bp_check_hit(rip: u64) -> bool {
    let hit = rip == BP_CHECK_RIP.load(Ordering::Relaxed);
    if hit {
        BP_CHECK_HITS.fetch_add(1, Ordering::Relaxed);
    }
    hit
}

static ON_AP_HITS: CpuSet = CpuSet::new();

fn count_hit(cpu: usize) {
    ON_AP_HITS.insert(cpu, Ordering::Relaxed);
}

/// The platform's checks on itself: #BP returns to the right place (unless
/// `nobp`), and every AP runs work sent over IPI.
pub fn self_checks(nobp: bool) {
    if nobp {
        record::emit(kind::CHECK, |r| {
            r.str("name", "bp")
                .str("result", "skip")
                .str("detail", "nobp");
        });
    } else {
        // The #BP handler recognises the address and just returns.
        BP_CHECK_RIP.store(idt::int3_check_rip(), Ordering::Relaxed);
        idt::int3_check();
        let hits = BP_CHECK_HITS.load(Ordering::Relaxed);
        check(
            "bp",
            hits == 1,
            format_args!("int3 trapped {hits} time(s) and returned"),
        );
    }
    let n = smp::count();
    let done = smp::on_aps(
        |_| count_hit(percpu::index() as usize),
        0,
        smp::patient_us(1_000_000),
    );
    // `on_aps` waited for each AP's busy flag (Acquire): their inserts are
    // visible.
    let hits = ON_AP_HITS.count(Ordering::Relaxed);
    check(
        "on-cpu",
        done == n - 1 && hits == n - 1,
        format_args!(
            "{done} of {} APs finished work sent by IPI, {hits} ran it",
            n - 1
        ),
    );
}
