//! Faults of the environment, each named: what the harness says when the
//! guest resets, QEMU dies, or the serial line goes silent in each phase
//! of a boot. Driven through the fake QEMU (`testdata/fake-qemu`) playing
//! the first lines of a real transcript, so no test needs QEMU.

mod fake;

use fake::testdata;
use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// `exp-naive-smp4.log` up to (not including) its first line containing
/// `cut` (the whole log for `None`), written under `dir`.
fn log_until(dir: &Path, cut: Option<&str>) -> PathBuf {
    let full = std::fs::read_to_string(testdata("exp-naive-smp4.log")).unwrap();
    let text: String = match cut {
        Some(c) => full
            .lines()
            .take_while(|l| !l.contains(c))
            .map(|l| format!("{l}\n"))
            .collect(),
        None => full,
    };
    let p = dir.join("serial.txt");
    std::fs::write(&p, text).unwrap();
    p
}

struct Outcome {
    status: i32,
    stdout: String,
    stderr: String,
    took: Duration,
    dir: PathBuf,
}

/// `harness run --experiment 'naive/*'` against the fake in `mode`,
/// playing `serial`, with a deadline of `timeout` seconds.
fn run(name: &str, mode: &str, cut: Option<&str>, timeout: &str) -> Outcome {
    let dir = fake::scratch("env", name);
    let serial = log_until(&dir, cut);
    let start = Instant::now();
    let args = [
        "run",
        "--accel",
        "tcg",
        "--smp",
        "4",
        "--experiment",
        "naive/*",
        "--ms",
        "100",
        "--timeout",
        timeout,
    ];
    let out = fake::harness(&args, &dir, mode, &serial).output().unwrap();
    Outcome {
        status: out.status.code().expect("harness ended by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
        dir,
    }
}

/// Every `serial.log` the run kept.
fn kept(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "serial.log") {
                v.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    v
}

#[test]
fn a_guest_that_triple_faults_is_the_kernel_dying_with_its_last_records_named() {
    // QEMU with -no-reboot ends a guest that reset with status 0, which no
    // kernel exit code is: the kernel died, the run fails, not the host.
    let o = run("reset", "reset", Some("exp name=naive/-/none/line"), "30");
    let all = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.status, 1, "a failure of the kernel: {all}");
    assert!(
        all.contains("exit status 0") || all.contains("status 0"),
        "{all}"
    );
    assert!(
        all.contains("naive/-/none/line"),
        "names the experiment it died in: {all}"
    );
    assert!(kept(&o.dir)
        .iter()
        .any(|s| s.contains("exp-begin name=naive/-/none/line")));
}

#[test]
fn a_qemu_that_crashes_is_an_environment_failure_not_a_verdict() {
    let o = run("crash", "crash", Some("exp name=naive/-/none/line"), "30");
    let all = format!("{}{}", o.stdout, o.stderr);
    assert_eq!(o.status, 2, "an environment failure (status 2): {all}");
    assert!(all.contains("signal"), "says QEMU was killed: {all}");
    assert!(!kept(&o.dir).is_empty(), "the transcript kept");
}

#[test]
fn a_serial_line_silent_in_each_phase_ends_at_the_deadline_with_the_transcript_kept() {
    // (phase, where the line stops, the last record the harness names)
    let phases = [
        ("boot", Some("@SC1 0 hello"), "no record"),
        ("ap-start-up", Some("cpu cpu=2"), "`cpu`"),
        (
            "experiment",
            Some("exp name=naive/-/none/qword"),
            "its `exp` record never arrived",
        ),
        ("report", Some("@SC1 51 end"), "seq 50 `exp`"),
    ];
    for (phase, cut, last) in phases {
        let o = run(phase, "hang", cut, "2");
        let all = format!("{}{}", o.stdout, o.stderr);
        assert_eq!(o.status, 3, "{phase}: the timeout status: {all}");
        assert!(
            o.took < Duration::from_secs(2 + 10),
            "{phase}: within the deadline and a fixed margin, took {:?}",
            o.took
        );
        assert!(all.contains(last), "{phase}: wanted {last} named in: {all}");
        assert!(!kept(&o.dir).is_empty(), "{phase}: the transcript kept");
    }
}
