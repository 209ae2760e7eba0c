//! The platform judgement of the CPU count against the MADT and of the
//! TSC's calibration against its references.

use super::*;
use crate::{machine::synth::Synth, machine::transcript::Transcript};
use report::kind;

fn judge_bytes(bytes: &[u8], exp: &Expectation, smp: Option<u32>, status: u32) -> Judgement {
    let facts = Facts::from_transcript(&Transcript::from_bytes(bytes));
    judge(
        &facts,
        exp,
        &Context {
            smp,
            ending: &Ending::QemuExited {
                status: Some(report::exit::qemu_status(status)),
            },
            symbols: None,
        },
    )
}

/// A boot as the kernel writes it now: `tsc` with its figures, `cpus`
/// with the MADT's count. `up` CPUs come up of `expected`.
struct Boot<'a> {
    cmdline: &'a str,
    up: u64,
    expected: u64,
    listed: u64,
    limit: Option<u64>,
    no_room: u64,
    unaddressable: u64,
    source: &'a str,
    hz: u64,
    figures: &'a [(&'a str, &'a str)],
    skewed: Option<&'a str>,
}

const HEALTHY: Boot<'static> = Boot {
    cmdline: "",
    up: 4,
    expected: 4,
    listed: 4,
    limit: None,
    no_room: 0,
    unaddressable: 0,
    source: "hpet",
    hz: 2_596_165_145,
    figures: &[
        ("hpet", "2596165145"),
        ("pmtimer", "2596684515"),
        ("pit", "2596156188"),
        ("cpuid15", "absent"),
        ("cpuid16", "absent"),
        ("hv", "absent"),
    ],
    skewed: None,
};

impl Boot<'_> {
    /// The transcript, ending with the kernel's verdict; the `clock`
    /// check says `clock`.
    fn bytes(&self, clock: &str) -> Vec<u8> {
        let mut s = Synth::new();
        s.record(kind::HELLO, |r| {
            r.u64("proto", 1)
                .str("boot", "pvh")
                .str("cmdline", self.cmdline);
        })
        .record(kind::TSC, |r| {
            r.u64("hz", self.hz).str("source", self.source);
            for (k, v) in self.figures {
                r.str(k, v);
            }
            if let Some(k) = self.skewed {
                r.str("skewed", k);
            }
        })
        .check("clock", clock);
        for cpu in 0..self.up {
            s.record(kind::CPU, |r| {
                r.u64("cpu", cpu)
                    .u64("apic", cpu)
                    .str("state", if cpu == 0 { "bsp" } else { "up" });
            });
        }
        s.record(kind::CPUS, |r| {
            r.u64("up", self.up)
                .u64("expected", self.expected)
                .u64("listed", self.listed)
                .u64("online_capable", 0);
            match self.limit {
                Some(n) => r.u64("limit", n),
                None => r.str("limit", "none"),
            };
            r.u64("supported", 1024)
                .u64("unaddressable", self.unaddressable)
                .u64("no_room", self.no_room);
        });
        let failures = u64::from(clock == "fail");
        s.end(if failures > 0 { "fail" } else { "pass" }, failures);
        s.bytes().to_vec()
    }
}

#[track_caller]
fn assert_reason(j: &Judgement, needle: &str) {
    assert!(!j.met, "wanted the expectation not met, but it was met");
    assert!(
        j.reasons.iter().any(|r| r.contains(needle)),
        "wanted a reason containing {needle:?}, got {:?}",
        j.reasons
    );
}

#[track_caller]
fn assert_met(j: &Judgement) {
    assert!(j.met, "wanted the expectation met, got {:?}", j.reasons);
}

#[test]
fn a_healthy_boot_with_three_agreeing_clocks_passes() {
    let j = judge_bytes(
        &HEALTHY.bytes("pass"),
        &Expectation::MustPass,
        Some(4),
        report::exit::CODE_PASS,
    );
    assert_met(&j);
    assert!(j.notes.is_empty(), "no note wanted, got {:?}", j.notes);
}

#[test]
fn a_machine_of_128_cpus_tested_on_64_fails_and_says_why() {
    let b = Boot {
        up: 64,
        expected: 64,
        listed: 128,
        no_room: 64,
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        None,
        report::exit::CODE_PASS,
    );
    assert_reason(
        &j,
        "cpus: 64 up, but the MADT lists 128 enabled CPU(s) and the command line does not limit them (cpus=N): 64 beyond the 1024 CPUs the kernel holds",
    );
}

#[test]
fn cpus_xapic_cannot_address_are_named_as_the_reason() {
    let b = Boot {
        up: 255,
        expected: 255,
        listed: 256,
        unaddressable: 1,
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        None,
        report::exit::CODE_PASS,
    );
    assert_reason(&j, "1 with APIC ids xAPIC mode cannot address");
}

#[test]
fn a_command_line_limit_makes_fewer_cpus_than_listed_a_pass() {
    let b = Boot {
        cmdline: "cpus=2",
        up: 2,
        expected: 2,
        listed: 8,
        limit: Some(2),
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        Some(8),
        report::exit::CODE_PASS,
    );
    assert_met(&j);
}

#[test]
fn a_limit_the_command_line_did_not_ask_for_fails() {
    let b = Boot {
        up: 2,
        expected: 2,
        listed: 8,
        limit: Some(2),
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        Some(8),
        report::exit::CODE_PASS,
    );
    assert_reason(
        &j,
        "the kernel says its limit is cpus=2, its command line sets none",
    );
    assert_reason(&j, "cpus: 2 up, but 8 were requested (-smp 8)");
}

#[test]
fn fewer_cpus_up_than_a_command_line_limit_still_fails() {
    let b = Boot {
        cmdline: "cpus=4",
        up: 3,
        expected: 4,
        listed: 8,
        limit: Some(4),
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        Some(8),
        report::exit::CODE_PASS,
    );
    assert_reason(&j, "and the command line allows cpus=4");
    assert_reason(&j, "(-smp 8) with cpus=4");
}

#[test]
fn a_tsc_at_2_457_mhz_fails_even_when_the_kernel_believes_it() {
    let b = Boot {
        source: "pit",
        hz: 2_457_000,
        figures: &[
            ("hpet", "absent"),
            ("pmtimer", "absent"),
            ("pit", "2457000"),
        ],
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        Some(4),
        report::exit::CODE_PASS,
    );
    assert_reason(&j, "clock: TSC at 2.457 MHz from pit is implausible");
}

#[test]
fn two_references_25_percent_apart_fail_with_both_figures() {
    let b = Boot {
        hz: 3_250_000_000,
        figures: &[
            ("hpet", "3250000000"),
            ("pmtimer", "2600000000"),
            ("pit", "2600100000"),
        ],
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("fail"),
        &Expectation::MustPass,
        Some(4),
        report::exit::CODE_FAIL,
    );
    assert_reason(
        &j,
        "clock: TSC at 3250.000 MHz from hpet but 2600.000 MHz from pmtimer: 25.0% apart",
    );
    assert_reason(&j, "2600.100 MHz from pit");
    assert_reason(&j, "check clock failed");
}

#[test]
fn a_tsc_checked_by_nothing_is_noted_not_failed() {
    let b = Boot {
        figures: &[
            ("hpet", "2596165145"),
            ("pmtimer", "absent"),
            ("pit", "stuck"),
        ],
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::MustPass,
        Some(4),
        report::exit::CODE_PASS,
    );
    assert_met(&j);
    assert!(
        j.notes.iter().any(|n| n.contains("rests on hpet alone")),
        "wanted a note, got {:?}",
        j.notes
    );
}

#[test]
fn a_tsc_record_without_figures_from_an_older_kernel_still_passes() {
    let j = judge_bytes(
        crate::machine::synth::Synth::new()
            .boot(2, "")
            .end("pass", 0)
            .bytes(),
        &Expectation::MustPass,
        Some(2),
        report::exit::CODE_PASS,
    );
    assert_met(&j);
}

fn skewed() -> Boot<'static> {
    Boot {
        cmdline: "tsc=skew",
        hz: 3_245_206_431,
        figures: &[
            ("hpet", "3245206431"),
            ("pmtimer", "2596684515"),
            ("pit", "2596156188"),
        ],
        skewed: Some("hpet"),
        ..HEALTHY
    }
}

#[test]
fn the_clock_control_is_caught_when_the_figures_disagree_and_the_kernel_says_so() {
    let j = judge_bytes(
        &skewed().bytes("fail"),
        &Expectation::ClockFail,
        Some(4),
        report::exit::CODE_FAIL,
    );
    assert_met(&j);
    let c = j.control.expect("a control report");
    assert!(c.caught, "{}", c.text);
    assert!(
        c.text
            .contains("TSC at 3245.206 MHz from hpet but 2596.684 MHz from pmtimer"),
        "{}",
        c.text
    );
    assert_eq!(j.status, Status::Unmet, "a control never exits 0 alone");
}

#[test]
fn the_clock_control_is_not_caught_when_every_figure_agrees() {
    let b = Boot {
        cmdline: "tsc=skew",
        ..HEALTHY
    };
    let j = judge_bytes(
        &b.bytes("pass"),
        &Expectation::ClockFail,
        Some(4),
        report::exit::CODE_PASS,
    );
    assert_reason(&j, "negative control NOT caught: the clock was believed");
    assert_reason(&j, "the kernel's verdict is `pass`, wanted `fail`");
}

#[test]
fn the_clock_control_needs_the_kernel_to_see_it_too() {
    let j = judge_bytes(
        &skewed().bytes("pass"),
        &Expectation::ClockFail,
        Some(4),
        report::exit::CODE_PASS,
    );
    assert_reason(&j, "the kernel's `clock` check did not fail");
}

#[test]
fn the_clock_control_fails_when_something_else_breaks_too() {
    let b = Boot { up: 3, ..skewed() };
    let j = judge_bytes(
        &b.bytes("fail"),
        &Expectation::ClockFail,
        Some(4),
        report::exit::CODE_FAIL,
    );
    assert_reason(&j, "cpus: 3 of 4 up");
    assert!(j.control.expect("a control report").caught);
}

#[test]
fn an_ap_lost_half_way_through_its_start_fails_the_run_by_name() {
    let mut s = Synth::new();
    s.boot(2, "")
        .record(kind::CPU, |r| {
            r.u64("cpu", 2).u64("apic", 7).str("state", "lost");
        })
        .end("fail", 1);
    let j = judge_bytes(
        s.bytes(),
        &Expectation::MustPass,
        Some(2),
        report::exit::CODE_FAIL,
    );
    assert_reason(&j, "cpu 2 (apic 7) did not come up (lost)");
}

#[test]
fn references_measured_again_are_noted_when_they_finally_agree() {
    let mut s = Synth::new();
    s.record(kind::TSC, |r| {
        r.u64("hz", 2_600_000_000)
            .str("source", "hpet")
            .u64("hpet", 2_600_000_000)
            .u64("pit", 2_601_000_000)
            .u64("rounds", 2);
    });
    let j = judge_bytes(
        s.bytes(),
        &Expectation::MustPass,
        None,
        report::exit::CODE_PASS,
    );
    assert!(
        j.notes.iter().any(|n| n.contains("measured 2 times")),
        "wanted a note on the second round, got {:?}",
        j.notes
    );
    assert!(
        !j.reasons.iter().any(|r| r.starts_with("clock")),
        "{:?}",
        j.reasons
    );
}
