//! `harness parse`: saved serial logs judged, with their QEMU version,
//! symbols, selection and platform.

mod fake;

use fake::{assert_status, bare, run, says, scratch, testdata};
use std::path::PathBuf;

#[test]
fn a_missing_log_is_a_clear_error() {
    let r = run(bare().args(["parse", "/nonexistent/serial.log"]));
    assert_status(&r, 2, "reading serial log /nonexistent/serial.log");
}

#[test]
fn parse_passes_the_clean_log() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("clean.log"))
        .args(["--smp", "4"]));
    assert_status(&r, 0, "4 of 4 up");
}

#[test]
fn parse_fails_the_truncated_log() {
    let r = run(bare().arg("parse").arg(testdata("truncated.log")));
    assert_status(&r, 1, "no valid end record");
}

#[test]
fn parse_fails_the_garbled_log_and_counts_its_damage() {
    let r = run(bare().arg("parse").arg(testdata("garbled.log")));
    assert_status(&r, 1, "2 damaged line(s)");
}

#[test]
fn parse_names_the_fault() {
    let r = run(bare().arg("parse").arg(testdata("fault.log")));
    assert_status(&r, 1, "#GP on cpu 2");
}

#[test]
fn parse_refuses_a_fault_expectation_without_a_control() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("fault.log"))
        .args(["--expect", "fault"]));
    assert_status(&r, 2, "needs a negative control");
}

#[test]
fn parse_judges_every_experiment_of_a_log() {
    let r = run(bare().arg("parse").arg(testdata("exp-naive-smp4.log")));
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("--- on tcg (log): verdict, name,") && r.1.contains("QEMU Virtual CPU"),
        "the results are headed by where they were seen: {}",
        r.1
    );
}

#[test]
fn parse_fails_a_log_with_a_failed_must_pass() {
    let r = run(bare().arg("parse").arg(testdata("exp-gap-timer-smp2.log")));
    assert_status(&r, 1, "3 passed, 1 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("FAIL  int3/gap/ipi/cross-page/timer"),
        "{}",
        r.1
    );
}

#[test]
fn parse_counts_a_known_failure_without_failing_on_the_qemu_version_given() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-int3-timer-smp2-qemu10.log"))
        .args(["--qemu-version", "10.0.2"])
        // The grid of this log, before the `timer-site` and `int3-queue`
        // experiments joined it.
        .args(["--experiment", "int3/*/*/*/timer,int3-batch/*/*/*/timer"]));
    assert_status(&r, 0, "48 passed, 0 failed, 0 skipped, 1 kfail");
    assert!(
        r.1.contains("KFAIL int3-batch/gap/ipi/cross-page/timer")
            && r.1.contains("--- on tcg 10.0.2 (log): verdict, name,")
            && r.1.contains("known failure on tcg 10.0.2 (log)"),
        "{}",
        r.1
    );
}

#[test]
fn parse_of_a_log_without_its_qemu_version_excuses_nothing_and_says_why() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-int3-timer-smp2-qemu10.log"))
        // The grid of this log, before the `timer-site` and `int3-queue`
        // experiments joined it.
        .args(["--experiment", "int3/*/*/*/timer,int3-batch/*/*/*/timer"]));
    assert_status(&r, 1, "48 passed, 1 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("QEMU version unknown") && r.1.contains("--qemu-version"),
        "{}",
        r.1
    );
}

#[test]
fn parse_reads_the_qemu_version_from_the_run_evidence_beside_the_log() {
    let d = scratch("cli", "parse-evidence");
    std::fs::copy(
        testdata("exp-int3-timer-smp2-qemu10.log"),
        d.join("serial.log"),
    )
    .unwrap();
    std::fs::write(
        d.join("summary.json"),
        r#"{"name": "exp-shared", "qemu": {"version": "10.0.2"}}"#,
    )
    .unwrap();
    let r = run(bare()
        .arg("parse")
        .arg(d.join("serial.log"))
        .args(["--experiment", "int3/*/*/*/timer,int3-batch/*/*/*/timer"]));
    assert_status(&r, 0, "48 passed, 0 failed, 0 skipped, 1 kfail");
    assert!(
        says(&r.1, "KFAIL int3-batch/gap/ipi/cross-page/timer") && says(&r.1, "QEMU 10.0.2 (from "),
        "{}",
        r.1
    );
}

/// `exp-spin-self-build-id.log` alone in a scratch directory, with the
/// fixture ELF `elf` beside it when given.
fn spin_self_log_beside(name: &str, elf: Option<&str>) -> PathBuf {
    let d = scratch("cli", name);
    std::fs::copy(testdata("exp-spin-self-build-id.log"), d.join("serial.log")).unwrap();
    if let Some(elf) = elf {
        std::fs::copy(testdata("elf").join(elf), d.join("static-call.elf")).unwrap();
    }
    d.join("serial.log")
}

#[test]
fn parse_names_a_deadlock_with_the_elf_of_the_logs_build_id_beside_it() {
    let log = spin_self_log_beside("parse-build-id", Some("with-build-id.elf"));
    let r = run(bare().arg("parse").arg(&log));
    assert_status(&r, 0, "1 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.2.contains("harness: symbols from ")
            && r.2.contains("static-call.elf (build id 90b838439776)"),
        "wanted the line that names the ELF: {}",
        r.2
    );
    assert!(
        r.1.contains("cpu 0 stuck at kernel::bp::handle+0x5e4 (0x10b5e4)"),
        "{}",
        r.1
    );
}

#[test]
fn parse_of_a_deadlock_without_an_elf_of_its_build_id_says_names_need_elf() {
    let log = spin_self_log_beside("parse-build-id-none", Some("no-build-id.elf"));
    let r = run(bare().arg("parse").arg(&log));
    assert_status(&r, 1, "0 passed, 1 failed, 0 skipped, 0 kfail");
    assert!(
        r.2.contains("no kernel ELF with the log's build id 90b838439776")
            && r.2.contains("names need --elf PATH"),
        "{}",
        r.2
    );
    assert!(r.1.contains("(no kernel ELF to name it)"), "{}", r.1);
}

#[test]
fn parse_warns_when_elf_is_not_the_kernel_of_the_log() {
    let log = spin_self_log_beside("parse-build-id-wrong", None);
    let r = run(bare()
        .arg("parse")
        .arg(&log)
        .arg("--elf")
        .arg(testdata("elf").join("no-build-id.elf")));
    // The names are the given ELF's (here the same code): a warning only.
    assert_status(&r, 0, "1 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.2.contains("harness: warning: --elf") && r.2.contains("has no build id"),
        "{}",
        r.2
    );
}

#[test]
fn parse_refuses_a_qemu_version_in_an_unknown_format() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-int3-timer-smp2-qemu10.log"))
        .args(["--qemu-version", "ten"]));
    assert_status(&r, 2, "unknown QEMU version format `ten`");
}

#[test]
fn parse_with_an_unknown_experiment_pattern_is_refused() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--experiment", "nave/*"]));
    assert_status(&r, 2, "`nave/*`");
}

#[test]
fn parse_holds_the_log_to_the_ms_asked_for() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--ms", "150"]));
    assert_status(&r, 1, "another time than --ms 150");
}

#[test]
fn parse_fails_a_log_that_lacks_a_selected_experiment() {
    let r = run(bare()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--experiment", "*/qword"]));
    assert_status(&r, 1, "never ran");
}

#[test]
fn parse_with_tap_prints_a_tap_stream_and_keeps_the_exit_status() {
    let (code, out, _) = run(bare()
        .arg("parse")
        .arg("--tap")
        .arg(testdata("exp-naive-smp4.log")));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("TAP version 13"), "got:\n{out}");
    let plan = lines.next().unwrap_or_default();
    let n: usize = plan
        .strip_prefix("1..")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("wanted a plan line, got {plan:?}"));
    let points = out
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .count();
    assert_eq!(points, n, "the plan must count the test points:\n{out}");
    let failed = out
        .lines()
        .any(|l| l.starts_with("not ok ") && !l.contains("# TODO"));
    assert_eq!(failed, code == 1, "status {code} and TAP disagree:\n{out}");
}

#[test]
fn parse_with_tap_puts_a_failure_in_a_yaml_block() {
    let (code, out, _) = run(bare().arg("parse").arg("--tap").arg(testdata("fault.log")));
    assert_eq!(code, 1);
    assert!(
        out.contains("not ok 1 - ")
            && out.contains("\n  ---\n  message: ")
            && out.contains("\n  ...\n"),
        "wanted a not ok with a YAML block, got:\n{out}"
    );
}

#[test]
fn parse_verbose_echoes_the_log_and_parse_alone_does_not() {
    let log = testdata("clean.log");
    let (_, plain, _) = run(bare().arg("parse").arg(&log));
    let (_, verbose, _) = run(bare().arg("parse").arg("--verbose").arg(&log));
    let (_, global, _) = run(bare().arg("-v").arg("parse").arg(&log));
    assert!(
        !plain.contains("> hello"),
        "echo without --verbose:\n{plain}"
    );
    assert!(
        verbose.contains("> hello"),
        "no echo with --verbose:\n{verbose}"
    );
    assert_eq!(verbose, global, "-v before the command means the same");
}

#[test]
fn parse_of_a_log_from_an_emulator_without_a_hypervisor_bit_never_says_real_machine() {
    // QEMU 7.2.22 TCG with `-cpu qemu64,-hypervisor`: the CPU says no
    // hypervisor, as Bochs' CPUs do; the firmware's ACPI tables say BOCHS
    // and BXPC. (Without the hypervisor bit the kernel did not know to
    // settle, and QEMU ran stale code: the experiment fails.)
    let log = testdata("no-hypervisor-bit-smp2.log");
    let r = run(bare().arg("parse").arg(&log));
    assert_status(
        &r,
        1,
        "--- on emulator (firmware BOCHS BXPC, no hypervisor bit) (log): verdict",
    );
    assert!(!r.1.contains("real machine"), "{}", r.1);
    let r = run(bare().arg("parse").arg(&log).args(["--platform", "bochs"]));
    assert_status(&r, 1, "--- on bochs (log): verdict");
    let r = run(bare().arg("parse").arg(&log).args(["--platform", "vmware"]));
    assert_status(
        &r,
        2,
        "unknown platform `vmware`: one of real-machine, bochs, tcg, kvm",
    );
}

#[test]
fn parse_of_a_bochs_log_never_says_real_machine_nor_asks_for_a_qemu_version() {
    // Bochs 2.7, `cpu: model=corei5_lynnfield_750, count=2, ips=110000000,
    // quantum=16`, booting a GRUB ISO whose default entry ran three
    // experiments at 60 ms: a Nehalem brand string, no hypervisor bit, and
    // Bochs' BIOS's ACPI ids.
    let r = run(bare().arg("parse").arg(testdata("bochs-nehalem-smp2.log")));
    assert_status(&r, 0, "3 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        says(
            &r.1,
            "[emulator (firmware BOCHS BXPCAPIC, no hypervisor bit) (log)]"
        ) && says(&r.1, "Intel(R) Core(TM) i5"),
        "{}",
        r.1
    );
    assert!(!r.1.contains("real machine"), "{}", r.1);
    assert!(!r.1.contains("--qemu-version"), "{}", r.1);
}
