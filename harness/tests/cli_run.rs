//! `harness run` (and `bench`) driven through the fake QEMU
//! (`testdata/fake-qemu`): deadlines, kills, evidence, KVM failure, runs of
//! experiments, ISO boots, TAP, an interrupt.

mod fake;

use fake::{assert_status, bare, evidence_dir, fake_run, run, scratch, scratch_path, testdata};
use std::{
    path::PathBuf,
    process::Command,
    time::{Duration, Instant},
};

/// `make bench` does not build the ISO: the benchmark boots the kernel
/// and must not ask for an image (it did, and failed on a fresh clone with
/// `--iso .../out/static-call.iso: no such file`).
#[test]
fn bench_boots_without_an_iso() {
    let out = scratch("cli", "bench-no-iso");
    let r = run(&mut fake::harness(
        &[
            "bench",
            "--no-build",
            "--accel",
            "tcg",
            "--smp",
            "2",
            "--ms",
            "60",
        ],
        &out,
        "pass",
        &testdata("exp-naive-smp4.log"),
    ));
    assert!(!r.2.contains("--iso"), "bench asked for an ISO: {}", r.2);
    // It boots and measures to its end: the fake plays a run of
    // experiments, whose baseline has no floor a benchmark believes, so
    // the benchmark ends BROKEN (status 2) rather than with ratios.
    assert_status(
        &r,
        2,
        "bench: BROKEN: a floor of the baseline is not believable",
    );
    assert!(
        r.1.contains("evidence: "),
        "bench kept no evidence: {}",
        r.1
    );
}

#[test]
fn a_control_cannot_go_through_the_iso() {
    let r = run(fake_run("iso", "pass", &testdata("clean.log")).args([
        "--boot",
        "iso-bios",
        "--control",
        "ud2-ap",
    ]));
    assert_status(&r, 2, "fixed in grub.cfg");
}

#[test]
fn a_clean_fake_boot_passes_and_keeps_its_evidence() {
    let r = run(fake_run("pass", "pass", &testdata("clean.log")).args(["--smp", "4"]));
    assert_status(&r, 0, "expectation must-pass: MET");
    let dir = evidence_dir(&r.1);
    for f in [
        "qemu-command.txt",
        "serial.log",
        "qemu-stderr.log",
        "records.jsonl",
        "summary.json",
        "junit.xml",
    ] {
        assert!(dir.join(f).is_file(), "wanted {f} in {}", dir.display());
    }
    assert_eq!(
        std::fs::read(dir.join("serial.log")).unwrap(),
        std::fs::read(testdata("clean.log")).unwrap(),
        "wanted the raw transcript kept byte for byte"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["exit_status"], 0, "{summary}");
    assert_eq!(summary["accel"]["accel"], "tcg", "{summary}");
}

#[test]
fn a_hung_boot_is_killed_at_its_deadline_with_status_3_and_its_transcript_kept() {
    let mut partial = std::fs::read(testdata("clean.log")).unwrap();
    partial.truncate(partial.len() / 2);
    let serial = scratch("cli", "hang-serial").join("partial.log");
    std::fs::write(&serial, &partial).unwrap();
    let start = Instant::now();
    let r = run(fake_run("hang", "hang", &serial).args(["--smp", "4", "--timeout", "1.5"]));
    let took = start.elapsed();
    assert_status(&r, 3, "timeout");
    assert!(
        took < Duration::from_secs(5),
        "wanted the run over within deadline + a few seconds, took {took:?}"
    );
    let dir = evidence_dir(&r.1);
    assert_eq!(
        std::fs::read(dir.join("serial.log")).unwrap(),
        partial,
        "wanted the partial transcript kept"
    );
}

#[test]
fn kvm_internal_error_is_an_environment_failure_not_a_verdict() {
    let start = Instant::now();
    let r = run(fake_run("kvm", "kvm", &testdata("truncated.log")).args(["--timeout", "30"]));
    assert_status(&r, 2, "cannot run guests that execute int3");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "wanted QEMU killed at once, not at the deadline"
    );
}

#[test]
fn qemu_refusing_its_options_is_an_environment_failure() {
    let r = run(&mut fake_run("badopt", "badopt", &testdata("clean.log")));
    assert_status(&r, 2, "unable to find CPU model");
}

#[test]
fn a_kernel_that_never_exits_after_its_end_record_fails() {
    let r = run(fake_run("linger", "linger", &testdata("clean.log")).args(["--smp", "4"]));
    assert_status(&r, 1, "did not write to isa-debug-exit");
}

#[test]
fn run_with_an_unknown_experiment_pattern_is_refused_naming_it() {
    let r = run(fake_run("exp-unknown", "pass", &testdata("clean.log"))
        .args(["--experiment", "int3/gapp/ipi/qword"]));
    assert_status(&r, 2, "no experiment matches `int3/gapp/ipi/qword`");
    assert!(r.2.contains("unknown handler `gapp`"), "{}", r.2);
}

#[test]
fn run_takes_the_pattern_as_its_argument_as_list_does() {
    let r = run(
        fake_run("exp-positional", "pass", &testdata("exp-naive-smp4.log"))
            .args(["naive/*", "--smp", "4", "--ms", "100"]),
    );
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(r.1.contains("4 experiment(s) match `naive/*`"), "{}", r.1);
}

#[test]
fn experiments_and_a_control_do_not_mix() {
    let r = run(
        fake_run("exp-control", "pass", &testdata("clean.log")).args([
            "--experiment",
            "naive/*",
            "--control",
            "ud2-ap",
        ]),
    );
    assert_status(&r, 2, "on its own");
}

#[test]
fn experiments_cannot_go_through_the_iso() {
    let r = run(fake_run("exp-iso", "pass", &testdata("clean.log")).args([
        "--experiment",
        "naive/*",
        "--boot",
        "iso-bios",
    ]));
    assert_status(&r, 2, "fixed in grub.cfg");
}

#[test]
fn a_fake_experiment_boot_prints_a_line_per_experiment_and_keeps_the_evidence() {
    let r = run(
        fake_run("exp-naive", "pass", &testdata("exp-naive-smp4.log")).args([
            "--smp",
            "4",
            "--experiment",
            "naive/*",
            "--ms",
            "100",
        ]),
    );
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("[1/4] PASS  naive/-/none/qword") && r.1.contains("caught after"),
        "{}",
        r.1
    );
    let line = r.1.lines().find(|l| l.starts_with("evidence")).unwrap();
    let dir = PathBuf::from(line.trim_start_matches("evidence").trim());
    for f in [
        "summary.json",
        "junit.xml",
        "latency.svg",
        "latency.png",
        "experiments.txt",
        "shared/serial.log",
    ] {
        assert!(dir.join(f).is_file(), "wanted {f} in {}", dir.display());
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["experiments"].as_array().unwrap().len(), 4, "{s}");
    assert_eq!(s["experiments"][0]["verdict"], "PASS");
    assert!(
        s["experiments"][0]["counters"]["first_fail_ns"].is_u64(),
        "{s}"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(
        junit.matches("<testcase ").count(),
        5,
        "4 experiments and the boot: {junit}"
    );
}

#[test]
fn a_quiet_run_that_passes_prints_only_its_evidence_the_count_and_the_verdict() {
    let r = run(
        fake_run("exp-naive-quiet", "pass", &testdata("exp-naive-smp4.log")).args([
            "--smp",
            "4",
            "--experiment",
            "naive/*",
            "--ms",
            "100",
            "-q",
        ]),
    );
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    let lines: Vec<&str> = r.1.lines().collect();
    assert_eq!(lines.len(), 3, "three lines: {}", r.1);
    assert!(lines[0].starts_with("evidence  "), "{}", r.1);
    assert_eq!(
        lines[1..],
        [
            "4 passed, 0 failed, 0 skipped, 0 kfail",
            "verdict: PASS: every expectation met (status 0: pass)"
        ],
        "{}",
        r.1
    );
}

#[test]
fn a_quiet_run_that_chooses_its_accelerator_keeps_the_kvm_probe_off_stderr() {
    let args = ["run", "-q", "--smp", "4", "naive/*", "--ms", "100"];
    let r = run(&mut fake::harness(
        &args,
        &scratch("cli", "quiet-auto"),
        "pass",
        &testdata("exp-naive-smp4.log"),
    ));
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    // Where /dev/kvm opens, the probe boots (and the fake fails it): the
    // evidence's summary says what was chosen and why; standard error
    // does not, nor (quiet) standard output.
    assert!(!r.2.contains("KVM probe"), "{}", r.2);
    assert!(!r.1.contains("where"), "{}", r.1);
    let summary = std::fs::read_to_string(evidence_dir(&r.1).join("summary.json")).unwrap();
    assert!(summary.contains("tcg"), "the accelerator chosen: {summary}");
}

fn fake_iso_run(name: &str, mode: &str, serial: &str, boot: &str) -> Command {
    let mut c = fake_run(name, mode, &testdata(serial));
    // Any file as old as the "kernel" will do as the image.
    c.args(["--boot", boot, "--iso"]).arg(testdata("fake-qemu"));
    c
}

#[test]
fn an_iso_boot_judges_every_experiment_its_kernel_command_line_selected() {
    let r =
        run(fake_iso_run("iso-exp", "pass", "exp-naive-smp4.log", "iso-bios").args(["--smp", "4"]));
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("[1/4] PASS  naive/-/none/qword") && r.1.contains("boot iso-bios"),
        "{}",
        r.1
    );
    let dir = evidence_dir(&r.1);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["experiments"].as_array().unwrap().len(), 4, "{s}");
    assert_eq!(s["tally"]["passed"], 4, "{s}");
    assert!(dir.join("experiments.txt").is_file() && dir.join("latency.svg").is_file());
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains("name=\"naive/-/none/qword\""), "{junit}");
}

#[test]
fn an_iso_boot_fails_when_an_experiment_of_its_default_entry_fails() {
    let r = run(
        fake_iso_run("iso-exp-fail", "fail", "exp-gap-timer-smp2.log", "iso-uefi")
            .args(["--smp", "2"]),
    );
    assert_status(&r, 1, "3 passed, 1 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("not met   FAIL  int3/gap/ipi/cross-page/timer"),
        "{}",
        r.1
    );
}

#[test]
fn an_iso_boot_without_experiments_is_the_platform_only() {
    let r = run(fake_iso_run("iso-platform", "pass", "clean.log", "iso-bios").args(["--smp", "4"]));
    assert_status(&r, 0, "expectation must-pass: MET");
    assert!(!r.1.contains("passed,"), "no experiment, no tally: {}", r.1);
}

/// The plan of a TAP stream (`1..N`) and the number of its test points.
fn tap_plan_and_points(tap: &str) -> (usize, usize) {
    let plan = tap
        .lines()
        .find_map(|l| l.strip_prefix("1.."))
        .unwrap_or_else(|| panic!("no plan in:\n{tap}"))
        .parse()
        .expect("a numeric plan");
    let points = tap
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .count();
    (plan, points)
}

#[test]
fn run_tap_and_parse_tap_of_the_same_boot_have_the_same_plan() {
    let (code, run_tap, err) = run(
        fake_run("tap-same", "pass", &testdata("exp-naive-smp4.log"))
            .args(["naive/*", "--smp", "4", "--ms", "100", "--tap"]),
    );
    assert_eq!(code, 0, "{run_tap}\n{err}");
    let runs: Vec<PathBuf> = std::fs::read_dir(scratch_path("cli", "tap-same"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    let (code, parse_tap, err) = run(bare()
        .arg("parse")
        .arg(runs[0].join("shared").join("serial.log"))
        .arg("--tap"));
    assert_eq!(code, 0, "{parse_tap}\n{err}");
    let (plan, points) = tap_plan_and_points(&run_tap);
    assert_eq!(plan, points, "run --tap counts its points:\n{run_tap}");
    assert_eq!(
        tap_plan_and_points(&parse_tap),
        (plan, points),
        "run --tap:\n{run_tap}\nparse --tap:\n{parse_tap}"
    );
    // The platform judgement, its checks, and four experiments.
    assert!(plan > 4, "{run_tap}");
}

#[test]
fn an_interrupted_run_exits_130_and_counts_what_it_never_finished_as_skipped_not_failed() {
    // The first two experiments' records, then a QEMU that hangs: the
    // harness is stopped with SIGINT while it waits for the third.
    let text = std::fs::read_to_string(testdata("exp-naive-smp4.log")).unwrap();
    let cut: String = text.lines().take(36).map(|l| format!("{l}\n")).collect();
    let serial = scratch("cli", "interrupted").join("cut.log");
    std::fs::create_dir_all(serial.parent().unwrap()).unwrap();
    std::fs::write(&serial, cut).unwrap();
    let child = fake_run("interrupted-run", "hang", &serial)
        .args(["--smp", "4", "--experiment", "naive/*", "--ms", "100"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        stdout.contains("2 passed, 0 failed, 2 skipped, 0 kfail")
            && stdout.contains("status 130: interrupted"),
        "{stdout}"
    );
    // Its last line says it was interrupted, and counts no failure.
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("verdict: INTERRUPTED") && !last.contains("failed"),
        "{last}"
    );
}
