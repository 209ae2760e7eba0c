use super::*;
use crate::{
    judge::symbols::{Symbol, Symbols},
    machine::synth::Synth,
    machine::transcript::Transcript,
};
use report::kind;

const UD2_ADDR: u64 = 0xffff_ffff_8010_0000;
const WRITE_TEXT_ADDR: u64 = 0xffff_ffff_8010_0100;

fn symbols() -> Symbols {
    Symbols::from_list([
        Symbol {
            name: "control_ud2".into(),
            addr: UD2_ADDR,
            size: 2,
        },
        Symbol {
            name: "control_write_text".into(),
            addr: WRITE_TEXT_ADDR,
            size: 16,
        },
    ])
}

fn pass_exit() -> Ending {
    Ending::QemuExited {
        status: Some(report::exit::qemu_status(report::exit::CODE_PASS)),
    }
}

fn fail_exit() -> Ending {
    Ending::QemuExited {
        status: Some(report::exit::qemu_status(report::exit::CODE_FAIL)),
    }
}

fn judge_bytes(bytes: &[u8], exp: &Expectation, smp: Option<u32>, ending: &Ending) -> Judgement {
    let t = Transcript::from_bytes(bytes);
    let facts = Facts::from_transcript(&t);
    let syms = symbols();
    judge(
        &facts,
        exp,
        &Context {
            smp,
            ending,
            symbols: Some(&syms),
        },
    )
}

fn clean(cpus: u32) -> Synth {
    let mut s = Synth::new();
    s.boot(cpus, "").check("selftest-bp", "pass").end("pass", 0);
    s
}

#[track_caller]
fn assert_met(j: &Judgement) {
    assert!(
        j.met,
        "wanted the expectation met, got reasons {:?}",
        j.reasons
    );
}

#[track_caller]
fn assert_unmet_because(j: &Judgement, needle: &str) {
    assert!(!j.met, "wanted the expectation not met, but it was met");
    assert!(
        j.reasons.iter().any(|r| r.contains(needle)),
        "wanted a reason containing {needle:?}, got {:?}",
        j.reasons
    );
}

#[test]
fn a_clean_run_with_every_cpu_up_passes() {
    let j = judge_bytes(
        clean(4).bytes(),
        &Expectation::MustPass,
        Some(4),
        &pass_exit(),
    );
    assert_met(&j);
    assert_eq!(j.status, Status::Pass, "wanted status pass");
}

#[test]
fn a_clean_run_with_fewer_cpus_than_requested_fails() {
    let j = judge_bytes(
        clean(2).bytes(),
        &Expectation::MustPass,
        Some(4),
        &pass_exit(),
    );
    assert_unmet_because(&j, "4 were requested");
    assert_eq!(j.status, Status::Unmet);
}

#[test]
fn an_ap_that_did_not_come_up_fails_the_run() {
    let mut s = Synth::new();
    s.record(kind::CPU, |r| {
        r.u64("cpu", 0).u64("apic", 0).str("state", "bsp");
    })
    .record(kind::CPU, |r| {
        r.u64("cpu", 1).u64("apic", 1).str("state", "timeout");
    })
    .record(kind::CPUS, |r| {
        r.u64("up", 1).u64("expected", 2);
    })
    .end("pass", 0);
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(2), &pass_exit());
    assert_unmet_because(&j, "cpu 1 (apic 1) did not come up");
    assert_unmet_because(&j, "1 of 2 up");
}

#[test]
fn a_transcript_without_an_end_record_never_passes() {
    let mut s = Synth::new();
    s.boot(2, "").check("selftest-bp", "pass");
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(2), &Ending::Stopped);
    assert_unmet_because(&j, "no valid end record");
}

#[test]
fn a_timeout_gives_status_3_and_names_the_last_record() {
    let mut s = Synth::new();
    s.boot(1, "");
    let j = judge_bytes(
        s.bytes(),
        &Expectation::MustPass,
        Some(1),
        &Ending::Timeout { secs: 5.0 },
    );
    assert_unmet_because(&j, "timeout");
    assert_unmet_because(&j, "`cpus`");
    assert_eq!(j.status, Status::Timeout, "wanted status timeout");
}

#[test]
fn a_fault_fails_a_run_even_when_the_kernel_says_pass() {
    let mut s = Synth::new();
    s.boot(2, "").fault(1, 13, "GP", 0x1234).end("pass", 0);
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(2), &pass_exit());
    assert_unmet_because(&j, "#GP on cpu 1 at 0x1234");
}

#[test]
fn a_failed_check_fails_the_run() {
    let mut s = Synth::new();
    s.boot(1, "").check("cmdline", "fail").end("fail", 1);
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(1), &fail_exit());
    assert_unmet_because(&j, "check cmdline failed");
    assert_unmet_because(&j, "verdict is `fail`");
}

#[test]
fn a_lost_record_before_the_end_forbids_a_pass() {
    let mut s = Synth::new();
    s.boot(2, "").lose_record().end("pass", 0);
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(2), &pass_exit());
    assert_unmet_because(&j, "1 of");
    assert_eq!(
        j.notes
            .iter()
            .filter(|n| n.contains("sequence gaps"))
            .count(),
        1,
        "wanted one note on the gap, got {:?}",
        j.notes
    );
}

#[test]
fn an_end_record_that_miscounts_fails() {
    let mut s = Synth::new();
    s.boot(1, "").record(kind::END, |r| {
        r.str("verdict", "pass")
            .u64("records", 99)
            .u64("failures", 0);
    });
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(1), &pass_exit());
    assert_unmet_because(&j, "records=99 disagrees");
}

#[test]
fn qemu_exit_status_that_contradicts_the_verdict_fails() {
    let j = judge_bytes(
        clean(1).bytes(),
        &Expectation::MustPass,
        Some(1),
        &fail_exit(),
    );
    assert_unmet_because(&j, "does not confirm");
}

#[test]
fn qemu_exiting_before_the_end_record_names_a_reset() {
    let mut s = Synth::new();
    s.boot(1, "");
    let j = judge_bytes(
        s.bytes(),
        &Expectation::MustPass,
        Some(1),
        &Ending::QemuExited { status: Some(0) },
    );
    assert_unmet_because(&j, "before an end record");
}

#[test]
fn two_boots_in_one_transcript_fail() {
    let mut a = Synth::new();
    a.boot(1, "");
    let mut bytes = a.bytes().to_vec();
    bytes.extend_from_slice(clean(1).bytes());
    let j = judge_bytes(&bytes, &Expectation::MustPass, Some(1), &Ending::Stopped);
    assert_unmet_because(&j, "2 boots");
}

#[test]
fn unknown_record_kinds_are_skipped_and_noted() {
    let mut s = Synth::new();
    s.boot(1, "")
        .record("experiment", |r| {
            r.str("name", "int3-qword").str("result", "pass");
        })
        .end("pass", 0);
    let j = judge_bytes(s.bytes(), &Expectation::MustPass, Some(1), &pass_exit());
    assert_met(&j);
    assert!(
        j.notes.iter().any(|n| n.contains("experiment x1")),
        "wanted a note on the unknown kind, got {:?}",
        j.notes
    );
}

#[test]
fn an_environment_failure_is_status_2_never_a_verdict() {
    let j = judge_bytes(
        b"",
        &Expectation::MustPass,
        Some(1),
        &Ending::Environment {
            why: "nested KVM".into(),
        },
    );
    assert_eq!(j.status, Status::BadInput, "wanted status 2");
    assert_unmet_because(&j, "environment failure: nested KVM");
}

fn ud2_ap() -> Expectation {
    Expectation::for_control("ud2-ap").unwrap()
}

fn ud2_run(cpu: u64, rip: u64) -> Synth {
    let mut s = Synth::new();
    s.boot(2, "control=ud2-ap")
        .control("ud2-ap", 1, "control_ud2", "6")
        .fault(cpu, 6, "UD", rip)
        .end("fail", 1);
    s
}

#[test]
fn a_negative_control_is_caught_at_its_symbol_on_its_cpu() {
    let j = judge_bytes(
        ud2_run(1, UD2_ADDR).bytes(),
        &ud2_ap(),
        Some(2),
        &fail_exit(),
    );
    assert_met(&j);
    let c = j.control.expect("a control report");
    assert!(c.caught, "wanted caught");
    assert_eq!(
        c.text,
        format!("negative control caught: #UD on cpu 1 at control_ud2 ({UD2_ADDR:#x})")
    );
    assert_eq!(
        j.status,
        Status::Unmet,
        "a single control run exits 1 even when caught"
    );
}

#[test]
fn a_negative_control_on_the_wrong_cpu_is_not_caught() {
    let j = judge_bytes(
        ud2_run(0, UD2_ADDR).bytes(),
        &ud2_ap(),
        Some(2),
        &fail_exit(),
    );
    assert_unmet_because(&j, "NOT caught: wanted #UD on cpu 1");
}

#[test]
fn a_negative_control_off_its_symbol_is_not_caught() {
    let j = judge_bytes(
        ud2_run(1, UD2_ADDR + 1).bytes(),
        &ud2_ap(),
        Some(2),
        &fail_exit(),
    );
    assert_unmet_because(&j, "saw #UD on cpu 1 at control_ud2+0x1");
}

#[test]
fn a_negative_control_without_the_elf_cannot_be_caught() {
    let t = Transcript::from_bytes(ud2_run(1, UD2_ADDR).bytes());
    let j = judge(
        &Facts::from_transcript(&t),
        &ud2_ap(),
        &Context {
            smp: Some(2),
            ending: &fail_exit(),
            symbols: None,
        },
    );
    assert_unmet_because(&j, "pass --elf");
}

#[test]
fn a_negative_control_that_passes_is_not_caught() {
    let mut s = Synth::new();
    s.boot(2, "control=ud2-ap")
        .control("ud2-ap", 1, "control_ud2", "6")
        .end("pass", 0);
    let j = judge_bytes(s.bytes(), &ud2_ap(), Some(2), &pass_exit());
    assert_unmet_because(&j, "saw no fault");
    assert_unmet_because(&j, "verdict is `pass`, wanted `fail`");
}

#[test]
fn ud2_ap_alone_on_the_bsp_is_expected_on_cpu_0() {
    let mut s = Synth::new();
    s.boot(1, "control=ud2-ap")
        .control("ud2-ap", 0, "control_ud2", "6")
        .fault(0, 6, "UD", UD2_ADDR)
        .end("fail", 1);
    let j = judge_bytes(s.bytes(), &ud2_ap(), Some(1), &fail_exit());
    assert_met(&j);
}

#[test]
fn a_control_record_that_disagrees_with_the_doc_is_reported() {
    let mut s = Synth::new();
    s.boot(2, "control=write-text")
        .control("write-text", 0, "control_write_text", "13")
        .fault(0, 14, "PF", WRITE_TEXT_ADDR)
        .end("fail", 1);
    let exp = Expectation::for_control("write-text").unwrap();
    let j = judge_bytes(s.bytes(), &exp, Some(2), &fail_exit());
    assert_unmet_because(&j, "vector=13 (wanted 14)");
    assert!(j.control.unwrap().caught, "the fault itself was right");
}

#[test]
fn a_hang_control_is_met_by_a_timeout() {
    let mut s = Synth::new();
    s.boot(1, "control=hang").control("hang", 0, "none", "none");
    let exp = Expectation::for_control("hang").unwrap();
    let j = judge_bytes(s.bytes(), &exp, Some(1), &Ending::Timeout { secs: 5.0 });
    assert_met(&j);
    assert_eq!(j.status, Status::Timeout, "wanted status 3");
}

#[test]
fn a_hang_control_that_ends_is_not_met() {
    let mut s = Synth::new();
    s.boot(1, "control=hang")
        .control("hang", 0, "none", "none")
        .end("pass", 0);
    let exp = Expectation::for_control("hang").unwrap();
    let j = judge_bytes(s.bytes(), &exp, Some(1), &pass_exit());
    assert_unmet_because(&j, "a hang was expected");
}
