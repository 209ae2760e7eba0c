//! `harness watch`: a serial port (a pseudo-terminal playing a log)
//! followed to its end record or its deadline.

mod fake;

use fake::{assert_status, bare, run, scratch, testdata};
use std::{
    path::Path,
    time::{Duration, Instant},
};

#[test]
fn watch_reads_a_serial_port_until_the_end_record() {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("cli", "watch");
    let child = bare()
        .arg("watch")
        .arg(&slave)
        .args(["--timeout", "20", "--smp", "4", "--out"])
        .arg(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Give the harness time to open and configure the port, then play a
    // run and leave the line open, as a halted machine does.
    std::thread::sleep(Duration::from_millis(500));
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(&std::fs::read(testdata("clean.log")).unwrap())
        .unwrap();
    let start = Instant::now();
    let out = child.wait_with_output().unwrap();
    let (code, stdout) = (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout),
    );
    assert_eq!(
        code,
        0,
        "wanted status 0\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "wanted watch to stop at the end record, not the deadline"
    );
    assert!(stdout.contains("4 of 4 up"), "{stdout}");
}

#[test]
fn watch_times_out_on_a_silent_port_with_status_3() {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("cli", "watch-silent");
    let start = Instant::now();
    let r = run(bare()
        .arg("watch")
        .arg(&slave)
        .args(["--timeout", "1", "--quiet", "--out"])
        .arg(&d));
    assert_status(&r, 3, "timeout");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    drop(pty);
}

#[test]
fn watch_refuses_a_missing_device() {
    let r = run(bare().args(["watch", "/dev/nonexistent-tty"]));
    assert_status(&r, 2, "no serial device at /dev/nonexistent-tty");
}

#[test]
fn watch_refuses_a_device_that_is_not_a_terminal_naming_it() {
    // A file where the serial port should be (a typo of the path, a log
    // given to watch instead of parse). Tests run as root here, so a
    // device without permission cannot be shown; its error names group
    // dialout (`watch::open_serial`).
    let r = run(bare().arg("watch").arg(testdata("clean.log")));
    assert_status(&r, 2, "clean.log is not a terminal");
}

#[test]
fn watch_judges_each_experiment_as_it_arrives_and_says_it_came_by_serial() {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("cli", "watch-exp");
    let child = bare()
        .arg("watch")
        .arg(&slave)
        .args(["--timeout", "20", "--quiet", "--out"])
        .arg(&d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut master = std::fs::File::from(pty.master);
    master
        .write_all(&std::fs::read(testdata("exp-naive-smp4.log")).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("[1/4] PASS  naive/-/none/qword")
            && stdout.contains("--- boot shared on tcg (serial): verdict, name,")
            && stdout.contains("4 passed, 0 failed, 0 skipped, 0 kfail"),
        "{stdout}"
    );
}

/// `harness watch` of a pty on which `log` is played; its status, stdout
/// and stderr.
fn watch_played(name: &str, log: &Path, extra: &[&std::ffi::OsStr]) -> (i32, String, String) {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("cli", name);
    let child = bare()
        .arg("watch")
        .arg(&slave)
        .args(["--timeout", "20", "--quiet", "--out"])
        .arg(&d)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut master = std::fs::File::from(pty.master);
    master.write_all(&std::fs::read(log).unwrap()).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().expect("harness exited by a signal"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn watch_names_a_deadlock_as_it_arrives_with_the_elf_of_the_machines_build_id() {
    let elf = testdata("elf").join("with-build-id.elf");
    let r = watch_played(
        "watch-build-id",
        &testdata("exp-spin-self-build-id.log"),
        &["--elf".as_ref(), elf.as_os_str()],
    );
    assert_status(&r, 0, "1 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.2.contains("(--elf, build id 90b838439776)") && !r.2.contains("warning"),
        "{}",
        r.2
    );
    assert!(
        r.1.contains("PASS  int3/spin/ipi/qword/self")
            && r.1.contains("stuck at kernel::bp::handle+0x5e4"),
        "{}",
        r.1
    );
}

#[test]
fn watch_of_a_machine_whose_elf_is_nowhere_says_names_need_elf() {
    let r = watch_played(
        "watch-build-id-none",
        &testdata("exp-spin-self-build-id.log"),
        &[],
    );
    assert_status(&r, 1, "names need --elf PATH");
    assert!(
        r.2.contains("no kernel ELF with the log's build id 90b838439776"),
        "{}",
        r.2
    );
}
