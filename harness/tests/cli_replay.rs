//! `harness replay` and `harness compare`: recorded runs run again, and
//! two runs set side by side.

mod fake;

use fake::{assert_status, bare, evidence_dir, fake_run, run, scratch, testdata};
use std::{path::Path, process::Command};

fn write_summary(dir: &Path, version: &str, verdict: &str, wrong: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let s = format!(
        r#"{{"smp": 2, "ms": 60, "seen": {{"platform": "tcg"}}, "qemu": {{"version": "{version}"}},
            "experiments": [{{"name": "int3/gap/ipi/qword/timer", "verdict": "{verdict}",
              "counters": {{"failures": {wrong}, "wrong": {wrong}, "patches": 8, "calls": 1000,
                            "bp_hits": 5, "p1_cycles": 1, "p2_cycles": 1, "p3_cycles": 1}}}}]}}"#
    );
    std::fs::write(dir.join("summary.json"), s).unwrap();
}

#[test]
fn compare_puts_a_changed_verdict_first_and_exits_0() {
    let d = scratch("cli", "compare");
    write_summary(&d.join("a"), "7.2.22", "PASS", 0);
    write_summary(&d.join("b"), "10.0.2", "FAIL", 3);
    let r = run(bare().arg("compare").arg(d.join("a")).arg(d.join("b")));
    assert_status(&r, 0, "worse     int3/gap/ipi/qword/timer");
    assert!(r.1.contains("[tcg 10.0.2, -smp 2, 60 ms]"), "{}", r.1);
    let r = run(bare()
        .args(["compare", "--json"])
        .arg(d.join("a"))
        .arg(d.join("b")));
    assert_status(&r, 0, "\"change\": \"worse\"");
}

#[test]
fn compare_refuses_a_directory_that_is_no_run() {
    let d = scratch("cli", "compare-bad");
    let r = run(bare().arg("compare").arg(&d).arg(d.join("missing")));
    assert_status(&r, 2, "no summary.json in this directory");
}

fn replay(dir: &Path, out: &Path, serial: &Path) -> Command {
    let mut c = bare();
    c.arg("replay")
        .arg(dir)
        .arg("--out")
        .arg(out)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", serial);
    c
}

#[test]
fn replay_of_a_missing_directory_is_bad_input() {
    let r = run(bare().args(["replay", "/nonexistent/out/runs/x"]));
    assert_status(&r, 2, "no run directory at /nonexistent/out/runs/x");
}

#[test]
fn replay_of_a_directory_without_a_summary_is_bad_input() {
    let d = scratch("cli", "replay-empty");
    let r = run(bare().arg("replay").arg(&d));
    assert_status(&r, 2, "no summary.json in");
    std::fs::write(d.join("matrix.log"), "1 passed, 0 failed\n").unwrap();
    let r = run(bare().arg("replay").arg(&d));
    assert_status(&r, 2, "the directory of a matrix");
}

#[test]
fn replay_of_a_summary_from_an_older_harness_says_so() {
    let d = scratch("cli", "replay-old");
    std::fs::write(
        d.join("summary.json"),
        r#"{"name": "exp", "exit_status": 0, "experiments": []}"#,
    )
    .unwrap();
    let r = run(bare().arg("replay").arg(&d));
    assert_status(&r, 2, "written by an older harness");
    std::fs::write(d.join("summary.json"), "not json").unwrap();
    assert_status(&run(bare().arg("replay").arg(&d)), 2, "is not JSON");
}

#[test]
fn a_replayed_experiment_run_reproduces_its_verdicts_and_a_different_one_does_not() {
    let log = testdata("exp-naive-smp4.log");
    let r = run(fake_run("replay-exp", "pass", &log).args([
        "--smp",
        "4",
        "--experiment",
        "naive/*",
        "--ms",
        "100",
        "--quiet",
    ]));
    assert_status(&r, 0, "4 passed");
    let dir = evidence_dir(&r.1);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    let rec = &s["replay"];
    assert_eq!(rec["request"]["experiment"], "naive/*", "{rec}");
    assert_eq!(rec["request"]["smp"], 4, "{rec}");
    assert_eq!(rec["kernel"]["sha256"].as_str().unwrap().len(), 64, "{rec}");
    assert!(
        rec["kernel_cmdlines"][0]
            .as_str()
            .unwrap()
            .contains("exp=naive/* ms=100"),
        "{rec}"
    );
    assert!(
        rec["command"]
            .as_str()
            .unwrap()
            .contains("--experiment 'naive/*' --ms 100"),
        "{rec}"
    );
    let boot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("shared/summary.json")).unwrap()).unwrap();
    assert_eq!(
        boot["replay"]["part_of"].as_str(),
        dir.to_str(),
        "a boot points at its suite: {boot}"
    );

    let out = scratch("cli", "replay-exp-again");
    let r = run(replay(&dir, &out, &log).args(["--repeat", "2"]));
    assert_status(
        &r,
        0,
        "replay: reproduced: 2 of 2 repeat(s) gave every recorded verdict",
    );
    assert!(r.1.contains("same     run: status 0 (pass)"), "{}", r.1);

    // The same request, but the "machine" now reports other experiments:
    // the naive ones never run.
    let r = run(&mut replay(&dir, &out, &testdata("exp-atomic-smp4.log")));
    assert_status(&r, 1, "replay: NOT reproduced: 1 of 1 repeat(s) differed");
    assert!(
        r.1.contains("DIFFERS  naive/-/none/qword: recorded PASS, now FAIL"),
        "{}",
        r.1
    );

    // One boot of the suite is not what to replay.
    let r = run(bare().arg("replay").arg(dir.join("shared")));
    assert_status(&r, 2, "replay that directory");
}

#[test]
fn replay_refuses_a_kernel_that_is_not_the_one_that_ran() {
    let d = scratch("cli", "replay-kernel");
    let kernel = d.join("kernel.elf");
    std::fs::write(&kernel, b"kernel one").unwrap();
    let r = run(bare()
        .args(["run", "--accel", "tcg", "--smp", "4", "--quiet", "--qemu"])
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(&kernel)
        .arg("--out")
        .arg(&d)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", testdata("clean.log")));
    assert_status(&r, 0, "MET");
    let dir = evidence_dir(&r.1);
    std::fs::write(&kernel, b"kernel two").unwrap();
    let r = run(&mut replay(&dir, &d, &testdata("clean.log")));
    assert_status(&r, 2, "is not the one that ran");
    // Given on purpose, it runs and says so.
    let r = run(replay(&dir, &d, &testdata("clean.log"))
        .arg("--kernel")
        .arg(&kernel));
    assert_status(&r, 0, "NOT the recorded");
}
