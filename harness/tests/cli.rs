//! The command line as a user meets it: bad input gives status 2 and a
//! message naming what was wrong; saved logs are judged; and the live
//! machinery (deadline, kill, evidence, KVM failure) is driven through a
//! fake QEMU (`testdata/fake-qemu`), so that no test needs QEMU.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Duration, Instant},
};

fn harness() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Where [`scratch`] puts the directory of `name`.
fn scratch_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("harness-cli-{}-{name}", std::process::id()))
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> PathBuf {
    let d = scratch_path(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running harness");
    (
        status.code().expect("harness exited by a signal"),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[track_caller]
fn assert_status(got: &(i32, String, String), want: i32, needle: &str) {
    let (code, out, err) = got;
    assert_eq!(
        *code, want,
        "wanted status {want}, got {code}\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        out.contains(needle) || err.contains(needle),
        "wanted {needle:?} in the output\nstdout:\n{out}\nstderr:\n{err}"
    );
}

#[test]
fn help_documents_the_exit_statuses() {
    let r = run(harness().arg("--help"));
    assert_status(&r, 0, "Exit status:");
    assert!(r.1.contains("3  the deadline fired"), "{}", r.1);
}

#[test]
fn smp_zero_is_refused_with_the_range() {
    assert_status(&run(harness().args(["run", "--smp", "0"])), 2, "1 to 255");
}

#[test]
fn bench_refuses_an_unknown_claim_and_a_bad_cpu_count_naming_them() {
    assert_status(
        &run(harness().args(["bench", "--claims", "none,global"])),
        2,
        "\"global\" is not a claim: wanted none, shared or percpu",
    );
    assert_status(
        &run(harness().args(["bench", "--cpus", "1,0"])),
        2,
        "1 to 255",
    );
    assert_status(
        &run(harness().args(["bench", "--cpus", "4", "--claims", "shared"])),
        2,
        "cannot be used with",
    );
}

/// `make bench` does not build the ISO: the benchmark boots the kernel
/// and must not ask for an image (it did, and failed on a fresh clone with
/// `--iso .../out/static-call.iso: no such file`).
#[test]
fn bench_boots_without_an_iso() {
    let out = scratch("bench-no-iso");
    let r = run(harness()
        .args([
            "bench",
            "--no-build",
            "--accel",
            "tcg",
            "--smp",
            "2",
            "--ms",
            "60",
        ])
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&out)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", testdata("exp-naive-smp4.log")));
    assert!(!r.2.contains("--iso"), "bench asked for an ISO: {}", r.2);
    assert!(
        r.1.contains("bench:"),
        "bench did not start: {} {}",
        r.1,
        r.2
    );
}

#[test]
fn smp_9999_is_refused_with_the_range() {
    assert_status(
        &run(harness().args(["run", "--smp", "9999"])),
        2,
        "1 to 255",
    );
}

#[test]
fn smp_300_which_qemu_s_pc_machine_refuses_is_refused_before_any_boot() {
    assert_status(
        &run(harness().args(["run", "--smp", "300", "--experiment", "naive/*"])),
        2,
        "`pc` machine, which the harness boots, takes 1 to 255",
    );
}

#[test]
fn an_unknown_control_is_refused_with_the_known_ones() {
    assert_status(
        &run(harness().args(["run", "--control", "ud3"])),
        2,
        "ud2-ap, write-text, exec-data, hang",
    );
}

#[test]
fn a_missing_qemu_binary_is_named_with_how_to_install_it() {
    let r = run(harness().args([
        "run",
        "--no-build",
        "--qemu",
        "/nonexistent/qemu-system-x86_64",
    ]));
    assert_status(&r, 2, "/nonexistent/qemu-system-x86_64");
    assert!(
        r.2.contains("scripts/setup.sh"),
        "wanted the install hint: {}",
        r.2
    );
}

/// A script standing in for `--qemu` that prints `stdout` to any argument.
fn not_qemu(name: &str, stdout: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = scratch(name).join("qemu-system-x86_64");
    std::fs::write(&p, format!("#!/bin/sh\nprintf '%s' '{stdout}'\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn run_with_qemu(qemu: &Path) -> (i32, String, String) {
    run(harness()
        .args(["run", "--no-build", "--accel", "tcg", "--qemu"])
        .arg(qemu))
}

#[test]
fn a_program_that_is_not_qemu_is_refused_naming_it() {
    let r = run_with_qemu(Path::new("/bin/true"));
    assert_status(&r, 2, "/bin/true is not a usable QEMU");
    assert!(r.2.contains("is it QEMU?"), "{}", r.2);
}

#[test]
fn a_qemu_that_prints_nothing_is_refused_as_not_qemu() {
    let r = run_with_qemu(&not_qemu("silent", ""));
    assert_status(&r, 2, "is not a usable QEMU");
    assert!(r.2.contains("it printed nothing"), "{}", r.2);
}

#[test]
fn a_qemu_that_prints_garbage_is_refused_naming_what_it_printed() {
    let r = run_with_qemu(&not_qemu("garbage", "hello from the toaster\n"));
    assert_status(&r, 2, "is not a usable QEMU");
    assert!(
        r.2.contains("`hello from the toaster`") && r.2.contains("is it QEMU?"),
        "{}",
        r.2
    );
}

#[test]
fn a_qemu_too_old_for_the_harness_is_refused_with_the_oldest_supported() {
    let r = run(fake_run("old", "pass", &testdata("clean.log")).env("FAKE_QEMU_VERSION", "4.2.1"));
    assert_status(&r, 2, "is QEMU 4.2.1, older than 7.2");
    assert!(r.2.contains("PVH boot came in QEMU 4.0"), "{}", r.2);
}

#[test]
fn a_qemu_version_in_an_unknown_format_is_refused_naming_it() {
    let r =
        run(fake_run("vfmt", "pass", &testdata("clean.log"))
            .env("FAKE_QEMU_VERSION", "ten-point-oh"));
    assert_status(&r, 2, "unknown QEMU version format `ten-point-oh`");
}

#[test]
fn a_qemu_major_version_that_is_not_set_up_names_the_setup_command() {
    let r = run(harness().args(["run", "--no-build", "--qemu", "99"]));
    assert_status(&r, 2, "QEMU 99 is not set up");
    assert!(
        r.2.contains("build/qemu-99/qemu-system-x86_64")
            && r.2.contains("scripts/setup.sh --qemu 99"),
        "{}",
        r.2
    );
}

#[test]
fn qemu_10_help_without_the_x86_prefix_is_read_and_every_result_says_the_version() {
    let r = run(fake_run("q10", "pass", &testdata("exp-naive-smp4.log"))
        .env("FAKE_QEMU_VERSION", "10.0.2")
        .args(["--cpu", "Nehalem", "--smp", "4"])
        .args(["--experiment", "naive/*", "--ms", "200"]));
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("--- boot shared on tcg 10.0.2: verdict, name,")
            && r.1.contains("QEMU Virtual CPU"),
        "the boot's results are headed by the QEMU version:\n{}",
        r.1
    );
    let dir = evidence_dir(&r.1);
    let saved = std::fs::read_to_string(dir.join("experiments.txt")).unwrap();
    let results: Vec<&str> = saved.lines().filter(|l| l.starts_with('[')).collect();
    assert_eq!(results.len(), 4, "{saved}");
    assert!(
        results.iter().all(|l| l.ends_with("  [tcg 10.0.2]")),
        "every saved result line says the QEMU version:\n{saved}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["qemu"]["version"], "10.0.2", "{summary}");
    assert_eq!(summary["qemu"]["machine"], "pc-i440fx-10.0");
    let boot: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("shared").join("summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        boot["qemu"]["version"], "10.0.2",
        "the boot's own evidence: {boot}"
    );
}

fn fake_run(name: &str, mode: &str, serial: &Path) -> Command {
    let out = scratch(name);
    let mut c = harness();
    c.args(["run", "--accel", "tcg", "--qemu"])
        .arg(testdata("fake-qemu"))
        // Any existing file will do as the "kernel": the fake does not read it.
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&out)
        .env("FAKE_QEMU_MODE", mode)
        .env("FAKE_QEMU_SERIAL", serial);
    c
}

#[test]
fn an_unknown_cpu_model_is_refused_with_its_name() {
    let r = run(fake_run("cpu", "pass", &testdata("clean.log")).args(["--cpu", "Nehalm,+x2apic"]));
    assert_status(&r, 2, "`Nehalm`");
    assert!(r.2.contains("close: Nehalem"), "{}", r.2);
}

#[test]
fn a_known_cpu_model_with_flags_is_accepted() {
    let r = run(fake_run("cpu-ok", "pass", &testdata("clean.log")).args([
        "--cpu",
        "Nehalem,+x2apic",
        "--smp",
        "4",
    ]));
    assert_status(&r, 0, "-cpu Nehalem,+x2apic");
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

fn evidence_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("evidence"))
        .unwrap_or_else(|| panic!("no evidence line in {stdout}"));
    PathBuf::from(line.trim_start_matches("evidence").trim())
}

#[test]
fn a_hung_boot_is_killed_at_its_deadline_with_status_3_and_its_transcript_kept() {
    let mut partial = std::fs::read(testdata("clean.log")).unwrap();
    partial.truncate(partial.len() / 2);
    let serial = scratch("hang-serial").join("partial.log");
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
fn a_missing_log_is_a_clear_error() {
    let r = run(harness().args(["parse", "/nonexistent/serial.log"]));
    assert_status(&r, 2, "reading serial log /nonexistent/serial.log");
}

#[test]
fn parse_passes_the_clean_log() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("clean.log"))
        .args(["--smp", "4"]));
    assert_status(&r, 0, "4 of 4 up");
}

#[test]
fn parse_fails_the_truncated_log() {
    let r = run(harness().arg("parse").arg(testdata("truncated.log")));
    assert_status(&r, 1, "no valid end record");
}

#[test]
fn parse_fails_the_garbled_log_and_counts_its_damage() {
    let r = run(harness().arg("parse").arg(testdata("garbled.log")));
    assert_status(&r, 1, "2 damaged line(s)");
}

#[test]
fn parse_names_the_fault() {
    let r = run(harness().arg("parse").arg(testdata("fault.log")));
    assert_status(&r, 1, "#GP on cpu 2");
}

#[test]
fn parse_refuses_a_fault_expectation_without_a_control() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("fault.log"))
        .args(["--expect", "fault"]));
    assert_status(&r, 2, "needs a negative control");
}

#[test]
fn a_matrix_table_with_a_bad_line_is_refused_naming_the_line() {
    let d = scratch("matrix");
    let table = d.join("t.cfg");
    std::fs::write(&table, "[a]\nsmp = 2\nexpect = maybe\n").unwrap();
    let r = run(harness().arg("matrix").arg(&table).arg("--out").arg(&d));
    assert_status(&r, 2, "line 3");
}

#[test]
fn a_missing_matrix_table_is_a_clear_error() {
    let r = run(harness().args(["matrix", "/nonexistent/t.cfg", "--no-build"]));
    assert_status(&r, 2, "/nonexistent/t.cfg");
}

#[test]
fn a_matrix_of_fake_boots_prints_progress_and_the_closing_line() {
    let d = scratch("matrix-fake");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[four]\nsmp = 4\n[eight]\nsmp = 8\n[later]\nskip = not yet\n",
    )
    .unwrap();
    let r = run(harness()
        .arg("matrix")
        .arg(&table)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&d)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", testdata("clean.log")));
    assert_status(&r, 1, "[1/3] four ... PASS");
    assert!(r.1.contains("[2/3] eight ... FAIL"), "{}", r.1);
    assert!(r.1.contains("[3/3] later ... SKIP (not yet)"), "{}", r.1);
    assert!(
        r.1.lines().any(|l| l == "1 passed, 1 failed, 1 skipped"),
        "wanted the closing line alone on a line:\n{}",
        r.1
    );
}

#[test]
fn a_matrix_row_whose_qemu_is_not_set_up_refuses_the_table_naming_the_row() {
    let d = scratch("matrix-noqemu");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[fine]\nsmp = 2\n[q99]\nqemu = 99\n",
    )
    .unwrap();
    let r = run(harness()
        .arg("matrix")
        .arg(&table)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&d));
    assert_status(&r, 2, "row `q99` (line 5)");
    assert!(
        r.2.contains("QEMU 99 is not set up") && !r.1.contains("[1/2] fine"),
        "wanted the table refused before any row ran:\n{}\n{}",
        r.1,
        r.2
    );
}

#[test]
fn matrix_rows_run_under_their_own_qemu_and_judge_the_apic_mode() {
    use std::os::unix::fs::PermissionsExt;
    let d = scratch("matrix-qemus");
    let q10 = d.join("qemu-10");
    std::fs::write(
        &q10,
        format!(
            "#!/bin/sh\nFAKE_QEMU_VERSION=10.0.2 exec {} \"$@\"\n",
            testdata("fake-qemu").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&q10, std::fs::Permissions::from_mode(0o755)).unwrap();
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        format!(
            "[defaults]\naccel = tcg\nsmp = 4\n[sys]\n[ten-xapic]\nqemu = {q}\nexpect_apic = xapic\n\
             [ten-x2apic]\nqemu = {q}\ncpu = max\nexpect_apic = x2apic\n",
            q = q10.display()
        ),
    )
    .unwrap();
    let r = run(harness()
        .arg("matrix")
        .arg(&table)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&d)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", testdata("clean.log")));
    assert_status(&r, 1, "[1/3] sys ... PASS");
    assert!(r.1.contains("[2/3] ten-xapic ... PASS"), "{}", r.1);
    assert!(
        r.1.contains("[3/3] ten-x2apic ... FAIL")
            && r.1
                .contains("wanted APIC mode x2apic (`expect_apic`), the kernel reports `xapic`"),
        "{}",
        r.1
    );
    let versions: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("summary.json")).ok())
        .filter_map(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .filter_map(|v| v["qemu"]["version"].as_str().map(str::to_string))
        .collect();
    assert!(
        versions.iter().any(|v| v == "7.2.22")
            && versions.iter().filter(|v| *v == "10.0.2").count() == 2,
        "each row's evidence names its QEMU: {versions:?}"
    );
}

#[test]
fn watch_reads_a_serial_port_until_the_end_record() {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("watch");
    let child = harness()
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
    let d = scratch("watch-silent");
    let start = Instant::now();
    let r = run(harness()
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
    let r = run(harness().args(["watch", "/dev/nonexistent-tty"]));
    assert_status(&r, 2, "no serial device at /dev/nonexistent-tty");
}

#[test]
fn watch_refuses_a_device_that_is_not_a_terminal_naming_it() {
    // A file where the serial port should be (a typo of the path, a log
    // given to watch instead of parse). Tests run as root here, so a
    // device without permission cannot be shown; its error names group
    // dialout (`watch::open_serial`).
    let r = run(harness().arg("watch").arg(testdata("clean.log")));
    assert_status(&r, 2, "clean.log is not a terminal");
}

// --- experiments -------------------------------------------------------------

#[test]
fn list_shows_every_registry_experiment_and_a_count() {
    let r = run(harness().arg("list"));
    assert_status(&r, 0, "134 experiment(s): ");
    assert_eq!(r.1.lines().count(), 135, "one line each and a count");
    assert!(
        r.1.lines()
            .any(|l| l.starts_with("int3/retry/ipi/qword/self") && l.ends_with("own-boot")),
        "{}",
        r.1
    );
}

#[test]
fn list_with_a_pattern_that_selects_nothing_is_refused_naming_it() {
    assert_status(&run(harness().args(["list", "int4/*"])), 2, "`int4/*`");
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
fn run_refuses_a_pattern_given_both_as_argument_and_as_experiment_naming_both() {
    let r = run(harness().args(["run", "naive/*", "--experiment", "int3/*"]));
    assert_status(&r, 2, "cannot be used with");
    assert!(
        r.2.contains("--experiment <PATTERN>") && r.2.contains("[PATTERN]"),
        "{}",
        r.2
    );
}

#[test]
fn a_mistyped_experiment_option_is_refused_suggesting_an_option_it_begins() {
    let r = run(harness().args(["run", "--exp", "naive/*"]));
    assert_status(&r, 2, "unexpected argument '--exp'");
    // Both options begin so: clap names the closer one.
    assert!(
        r.2.contains("a similar argument exists: '--expect'"),
        "{}",
        r.2
    );
}

#[test]
fn ms_without_experiment_is_refused() {
    let r = run(harness().args(["run", "--ms", "100"]));
    assert_status(&r, 2, "--experiment");
}

#[test]
fn ms_out_of_range_is_refused() {
    let r = run(harness().args(["run", "--experiment", "*", "--ms", "0"]));
    assert_status(&r, 2, "out of range");
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
fn a_quiet_run_of_experiments_prints_only_the_summary_the_count_and_the_verdict() {
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
    assert!(
        lines[0].starts_with("--- summary (boot shared: exp=naive/*) ---"),
        "{}",
        r.1
    );
    assert_eq!(
        lines[lines.len() - 2..],
        [
            "4 passed, 0 failed, 0 skipped, 0 kfail",
            "verdict: PASS: every expectation met (status 0: pass)"
        ],
        "{}",
        r.1
    );
    assert!(
        !r.1.contains("harness:") && !r.1.contains("PASS  naive/") && !r.1.contains("  > "),
        "no selection, result or serial line: {}",
        r.1
    );
}

#[test]
fn parse_judges_every_experiment_of_a_log() {
    let r = run(harness().arg("parse").arg(testdata("exp-naive-smp4.log")));
    assert_status(&r, 0, "4 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("--- on tcg (log): verdict, name,") && r.1.contains("QEMU Virtual CPU"),
        "the results are headed by where they were seen: {}",
        r.1
    );
}

#[test]
fn parse_fails_a_log_with_a_failed_must_pass() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("exp-gap-timer-smp2.log")));
    assert_status(&r, 1, "3 passed, 1 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("FAIL  int3/gap/ipi/cross-page/timer"),
        "{}",
        r.1
    );
}

#[test]
fn parse_counts_a_known_failure_without_failing_on_the_qemu_version_given() {
    let r = run(harness()
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
    let r = run(harness()
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
    let d = scratch("parse-evidence");
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
    let r = run(harness()
        .arg("parse")
        .arg(d.join("serial.log"))
        .args(["--experiment", "int3/*/*/*/timer,int3-batch/*/*/*/timer"]));
    assert_status(&r, 0, "48 passed, 0 failed, 0 skipped, 1 kfail");
    assert!(
        r.1.contains("KFAIL int3-batch/gap/ipi/cross-page/timer")
            && r.1.contains("QEMU 10.0.2 (from "),
        "{}",
        r.1
    );
}

/// `exp-spin-self-build-id.log` alone in a scratch directory, with the
/// fixture ELF `elf` beside it when given.
fn spin_self_log_beside(name: &str, elf: Option<&str>) -> PathBuf {
    let d = scratch(name);
    std::fs::copy(testdata("exp-spin-self-build-id.log"), d.join("serial.log")).unwrap();
    if let Some(elf) = elf {
        std::fs::copy(testdata("elf").join(elf), d.join("static-call.elf")).unwrap();
    }
    d.join("serial.log")
}

#[test]
fn parse_names_a_deadlock_with_the_elf_of_the_logs_build_id_beside_it() {
    let log = spin_self_log_beside("parse-build-id", Some("with-build-id.elf"));
    let r = run(harness().arg("parse").arg(&log));
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
    let r = run(harness().arg("parse").arg(&log));
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
    let r = run(harness()
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
    let r = run(harness()
        .arg("parse")
        .arg(testdata("exp-int3-timer-smp2-qemu10.log"))
        .args(["--qemu-version", "ten"]));
    assert_status(&r, 2, "unknown QEMU version format `ten`");
}

#[test]
fn parse_with_an_unknown_experiment_pattern_is_refused() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--experiment", "nave/*"]));
    assert_status(&r, 2, "`nave/*`");
}

#[test]
fn parse_holds_the_log_to_the_ms_asked_for() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--ms", "150"]));
    assert_status(&r, 1, "another time than --ms 150");
}

#[test]
fn parse_fails_a_log_that_lacks_a_selected_experiment() {
    let r = run(harness()
        .arg("parse")
        .arg(testdata("exp-naive-smp4.log"))
        .args(["--experiment", "*/qword"]));
    assert_status(&r, 1, "never ran");
}

#[test]
fn watch_judges_each_experiment_as_it_arrives_and_says_it_came_by_serial() {
    use std::io::Write;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave = nix::unistd::ttyname(&pty.slave).expect("ttyname");
    let d = scratch("watch-exp");
    let child = harness()
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
    let d = scratch(name);
    let child = harness()
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
    let d = scratch("compare");
    write_summary(&d.join("a"), "7.2.22", "PASS", 0);
    write_summary(&d.join("b"), "10.0.2", "FAIL", 3);
    let r = run(harness().arg("compare").arg(d.join("a")).arg(d.join("b")));
    assert_status(&r, 0, "worse     int3/gap/ipi/qword/timer");
    assert!(r.1.contains("[tcg 10.0.2, -smp 2, 60 ms]"), "{}", r.1);
    let r = run(harness()
        .args(["compare", "--json"])
        .arg(d.join("a"))
        .arg(d.join("b")));
    assert_status(&r, 0, "\"change\": \"worse\"");
}

#[test]
fn compare_refuses_a_directory_that_is_no_run() {
    let d = scratch("compare-bad");
    let r = run(harness().arg("compare").arg(&d).arg(d.join("missing")));
    assert_status(&r, 2, "no summary.json in this directory");
}

#[test]
fn a_closed_stdout_ends_list_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = harness()
        .arg("list")
        .stdout(writer)
        .output()
        .expect("running harness");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{err}");
    assert!(!err.contains("panicked"), "wanted no panic, got:\n{err}");
}

#[test]
fn version_names_the_kernel_and_the_record_protocol() {
    let r = run(harness().arg("--version"));
    let want = format!("record protocol @SC{}", report::PROTOCOL_VERSION);
    assert_status(&r, 0, &want);
    assert_status(&r, 0, "(kernel ");
}

#[test]
fn completions_are_printed_for_bash_and_an_unknown_shell_is_refused() {
    let r = run(harness().args(["completions", "bash"]));
    assert_status(&r, 0, "_harness()");
    assert!(
        r.1.contains("compare"),
        "wanted every command in it:\n{}",
        r.1
    );
    let r = run(harness().args(["completions", "tcsh"]));
    assert_status(&r, 2, "invalid value 'tcsh'");
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

#[test]
fn a_matrix_iso_row_judges_the_experiments_of_the_default_entry() {
    let d = scratch("matrix-iso");
    let table = d.join("t.cfg");
    std::fs::write(&table, "[iso]\naccel = tcg\nboot = iso-bios\nsmp = 2\n").unwrap();
    let r = run(harness()
        .arg("matrix")
        .arg(&table)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--iso")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&d)
        .env("FAKE_QEMU_MODE", "fail")
        .env("FAKE_QEMU_SERIAL", testdata("exp-gap-timer-smp2.log")));
    assert_status(
        &r,
        1,
        "[1/1] iso ... FAIL (3 passed, 1 failed, 0 skipped, 0 kfail;",
    );
    assert!(
        r.1.contains("FAIL int3/gap/ipi/cross-page/timer: "),
        "wanted the failed experiment under the row:\n{}",
        r.1
    );
}

#[test]
fn iso_menu_prints_the_registry_menu_for_grub_and_limine() {
    let r = run(harness().arg("iso-menu"));
    let suite = plan::experiment::DEFAULT_SUITE;
    let own = suite.iter().filter(|e| e.own_boot).count();
    assert_status(
        &r,
        0,
        &format!(
            "menuentry 'default suite: {} experiment(s), 200 ms each' {{",
            suite.len() - own
        ),
    );
    assert_eq!(
        r.1.matches("\nmenuentry '").count(),
        1 + own + 1 + report::cmdline::Sabotage::ALL.len(),
        "{}",
        r.1
    );
    assert!(
        r.1.contains(
            "multiboot2 /boot/kernel 'exp=int3/gap/ipi/*/timer' 'ms=200' 'break=gap-return'"
        ),
        "{}",
        r.1
    );
    let r = run(harness().args(["iso-menu", "--loader", "limine", "--cmdline", "nobp"]));
    assert_status(&r, 0, "    cmdline: exp=* ms=200 nobp\n");
    assert_eq!(
        r.1.lines().filter(|l| l.starts_with('/')).count(),
        1 + own + 1 + report::cmdline::Sabotage::ALL.len(),
        "{}",
        r.1
    );
}

#[test]
fn iso_menu_refuses_cmdline_words_that_would_break_the_menu_or_the_kernel() {
    assert_status(
        &run(harness().args(["iso-menu", "--cmdline", "nobp; reboot"])),
        2,
        "holds ';'",
    );
    assert_status(
        &run(harness().args(["iso-menu", "--cmdline", "exp=int3/*,"])),
        2,
        "empty pattern",
    );
}

#[test]
fn iso_menu_takes_the_sabotage_globs_from_the_table_given() {
    let d = scratch("iso-menu-table");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[a]\nexperiment = int3/gap/ipi/qword/timer\nappend = break=no-final-sync\nexpect = fail\n\
         expect_kind = stray_bp\n",
    )
    .unwrap();
    let r = run(harness().arg("iso-menu").arg("--table").arg(&table));
    assert_status(&r, 2, "`break=operand-first`");
}

#[test]
fn parse_with_tap_prints_a_tap_stream_and_keeps_the_exit_status() {
    let (code, out, _) = run(harness()
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
    let (code, out, _) = run(harness()
        .arg("parse")
        .arg("--tap")
        .arg(testdata("fault.log")));
    assert_eq!(code, 1);
    assert!(
        out.contains("not ok 1 - ")
            && out.contains("\n  ---\n  message: ")
            && out.contains("\n  ...\n"),
        "wanted a not ok with a YAML block, got:\n{out}"
    );
}

#[test]
fn verdicts_are_plain_when_stdout_is_not_a_terminal_or_no_color_is_set() {
    let log = testdata("exp-naive-smp4.log");
    let (_, piped, _) = run(harness()
        .arg("parse")
        .arg(&log)
        .env_remove("CLICOLOR_FORCE"));
    assert!(!piped.contains('\x1b'), "a pipe got colour:\n{piped}");
    let (_, forced, _) = run(harness().arg("parse").arg(&log).env("CLICOLOR_FORCE", "1"));
    assert!(
        forced.contains("\x1b["),
        "CLICOLOR_FORCE=1 gave no colour:\n{forced}"
    );
    let (_, no_color, _) = run(harness()
        .arg("parse")
        .arg(&log)
        .env("CLICOLOR_FORCE", "1")
        .env("NO_COLOR", "1"));
    assert!(
        !no_color.contains('\x1b'),
        "NO_COLOR was ignored:\n{no_color}"
    );
    assert_eq!(no_color, piped, "plain output must not change");
}

#[test]
fn quiet_and_verbose_are_accepted_by_every_command_before_or_after_it() {
    let cli = <harness::cli::Cli as clap::CommandFactory>::command();
    let commands: Vec<String> = cli
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|c| c != "help")
        .collect();
    for wanted in ["run", "replay", "iso-menu"] {
        assert!(
            commands.iter().any(|c| c == wanted),
            "no `{wanted}` among {commands:?}"
        );
    }
    for cmd in &commands {
        for flag in ["--quiet", "-q", "--verbose", "-v"] {
            let (code, out, err) = run(harness().arg(cmd).arg(flag).arg("--help"));
            assert_eq!(code, 0, "{cmd} {flag} --help: {err}");
            assert!(
                out.contains("Example"),
                "{cmd} --help has no example:\n{out}"
            );
            let (code, _, err) = run(harness().arg(flag).arg(cmd).arg("--help"));
            assert_eq!(code, 0, "{flag} {cmd} --help: {err}");
        }
    }
}

#[test]
fn quiet_and_verbose_together_are_refused() {
    let (code, _, err) = run(harness().args(["list", "--quiet", "--verbose"]));
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "got: {err}");
}

#[test]
fn parse_verbose_echoes_the_log_and_parse_alone_does_not() {
    let log = testdata("clean.log");
    let (_, plain, _) = run(harness().arg("parse").arg(&log));
    let (_, verbose, _) = run(harness().arg("parse").arg("--verbose").arg(&log));
    let (_, global, _) = run(harness().arg("-v").arg("parse").arg(&log));
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
fn a_matrix_with_tap_writes_only_tap_on_stdout_and_its_lines_for_people_on_stderr() {
    let d = scratch("matrix-tap");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[four]\nsmp = 4\n[eight]\nsmp = 8\n[later]\nskip = not yet\n",
    )
    .unwrap();
    let (code, out, err) = run(harness()
        .arg("matrix")
        .arg("--tap")
        .arg(&table)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(&d)
        .env("FAKE_QEMU_MODE", "pass")
        .env("FAKE_QEMU_SERIAL", testdata("clean.log")));
    assert_eq!(code, 1, "{out}");
    let points: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("  ") && !l.starts_with('#'))
        .collect();
    assert_eq!(
        points,
        [
            "TAP version 13",
            "1..3",
            "ok 1 - four",
            "not ok 2 - eight",
            "ok 3 - later # SKIP not yet"
        ],
        "wanted the version, the plan and three points alone (a failure's YAML block aside), got:\n{out}"
    );
    assert!(
        err.contains("[1/3] four ... PASS") && err.contains("1 passed, 1 failed, 1 skipped"),
        "the lines for people on stderr:\n{err}"
    );
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
    let runs: Vec<PathBuf> = std::fs::read_dir(scratch_path("tap-same"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "one run directory: {runs:?}");
    let (code, parse_tap, err) = run(harness()
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

fn replay(dir: &Path, out: &Path, serial: &Path) -> Command {
    let mut c = harness();
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
    let r = run(harness().args(["replay", "/nonexistent/out/runs/x"]));
    assert_status(&r, 2, "no run directory at /nonexistent/out/runs/x");
}

#[test]
fn replay_of_a_directory_without_a_summary_is_bad_input() {
    let d = scratch("replay-empty");
    let r = run(harness().arg("replay").arg(&d));
    assert_status(&r, 2, "no summary.json in");
    std::fs::write(d.join("matrix.log"), "1 passed, 0 failed\n").unwrap();
    let r = run(harness().arg("replay").arg(&d));
    assert_status(&r, 2, "the directory of a matrix");
}

#[test]
fn replay_of_a_summary_from_an_older_harness_says_so() {
    let d = scratch("replay-old");
    std::fs::write(
        d.join("summary.json"),
        r#"{"name": "exp", "exit_status": 0, "experiments": []}"#,
    )
    .unwrap();
    let r = run(harness().arg("replay").arg(&d));
    assert_status(&r, 2, "written by an older harness");
    std::fs::write(d.join("summary.json"), "not json").unwrap();
    assert_status(&run(harness().arg("replay").arg(&d)), 2, "is not JSON");
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

    let out = scratch("replay-exp-again");
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
    let r = run(harness().arg("replay").arg(dir.join("shared")));
    assert_status(&r, 2, "replay that directory");
}

#[test]
fn replay_refuses_a_kernel_that_is_not_the_one_that_ran() {
    let d = scratch("replay-kernel");
    let kernel = d.join("kernel.elf");
    std::fs::write(&kernel, b"kernel one").unwrap();
    let r = run(harness()
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

/// Every option that takes a value, given a bad one, ends in status 2 with
/// a message that names the option and the value. Those with a test of
/// their own above (`--smp 0` and `--ms` of run, `--control`, `--qemu`,
/// `--cpu` of run, `--experiment` and `--qemu-version` of parse, the
/// device of watch, the pattern of list, `--cmdline` of iso-menu, the
/// runs of compare, the shell of completions, the matrix table) are left
/// out.
#[test]
fn every_option_with_a_bad_value_exits_2_naming_the_option_and_the_value() {
    let log = testdata("clean.log");
    let fake = testdata("fake-qemu");
    // A path that cannot be a directory: under a file.
    let bad_out = log.join("out");
    let bad_out = bad_out.to_str().expect("a UTF-8 path");
    let log = log.to_str().expect("a UTF-8 path");
    // With a QEMU that answers, for the options checked after it is asked.
    let qemu = [
        "--accel",
        "tcg",
        "--qemu",
        fake.to_str().expect("a UTF-8 path"),
    ];
    let cases: Vec<(Vec<String>, &str, &str)> = [
        (vec!["run", "--smp", "many"], "--smp", "many"),
        (vec!["run", "--accel", "warp"], "--accel", "warp"),
        (vec!["run", "--qemu", "6"], "--qemu", "6"),
        (vec!["run", "--qemu", ""], "--qemu", "\"\""),
        (vec!["run", "--timeout", "soon"], "--timeout", "soon"),
        (vec!["run", "--timeout", "0"], "--timeout", "0"),
        (vec!["run", "--boot", "floppy"], "--boot", "floppy"),
        (vec!["run", "--expect", "maybe"], "--expect", "maybe"),
        (
            vec!["run", "--append", "frobnicate"],
            "--append",
            "frobnicate",
        ),
        (vec!["run", "--append", "nobp cpus=0"], "--append", "cpus=0"),
        (
            vec!["run", "--append", "break=nothing"],
            "--append",
            "nothing",
        ),
        (vec!["run", "--append", "tsc=fast"], "--append", "fast"),
        (
            vec!["run", "--experiment", "int4/*"],
            "--experiment",
            "int4/*",
        ),
        (
            vec!["run", "--kernel", "/nonexistent/kernel"],
            "--kernel",
            "/nonexistent/kernel",
        ),
        (
            vec!["run", "--boot", "iso-bios", "--iso", "/nonexistent.iso"],
            "--iso",
            "/nonexistent.iso",
        ),
        (vec!["run", "--out", bad_out], "--out", bad_out),
        (vec!["parse", log, "--expect", "maybe"], "--expect", "maybe"),
        (vec!["parse", log, "--smp", "0"], "--smp", "0"),
        (
            vec!["parse", log, "--elf", "/nonexistent.elf"],
            "--elf",
            "/nonexistent.elf",
        ),
        (vec!["parse", log, "--out", bad_out], "--out", bad_out),
        (vec!["parse", log, "--ms", "soon"], "--ms", "soon"),
        (
            vec!["watch", "/dev/null", "--baud", "fast"],
            "--baud",
            "fast",
        ),
        (
            vec!["watch", "/dev/null", "--baud", "12345"],
            "--baud",
            "12345",
        ),
        (
            vec!["watch", "/dev/null", "--timeout", "0"],
            "--timeout",
            "0",
        ),
        (vec!["watch", "/dev/null", "--smp", "x"], "--smp", "x"),
        (
            vec!["watch", "/dev/null", "--elf", "/nonexistent.elf"],
            "--elf",
            "/nonexistent.elf",
        ),
        (
            vec!["watch", "/dev/null", "--out", bad_out],
            "--out",
            bad_out,
        ),
        (
            vec![
                "matrix",
                "harness/platform.cfg",
                "--kernel",
                "/nonexistent/kernel",
            ],
            "--kernel",
            "/nonexistent/kernel",
        ),
        (
            vec![
                "matrix",
                "harness/platform.cfg",
                "--iso",
                "/nonexistent.iso",
            ],
            "--iso",
            "/nonexistent.iso",
        ),
        (
            vec!["matrix", "harness/platform.cfg", "--out", bad_out],
            "--out",
            bad_out,
        ),
        (vec!["iso-menu", "--loader", "lilo"], "--loader", "lilo"),
        (
            vec!["iso-menu", "--table", "/nonexistent.cfg"],
            "table",
            "/nonexistent.cfg",
        ),
        (vec!["bench", "--smp", "2,x"], "--smp", "x"),
        (vec!["bench", "--ms", "0"], "--ms", "0"),
        (vec!["bench", "--repeat", "0"], "--repeat", "0"),
        (vec!["bench", "--repeat", "101"], "--repeat", "101"),
        (vec!["bench", "--accel", "warp"], "--accel", "warp"),
        (vec!["bench", "--timeout=-1"], "--timeout", "-1"),
        (vec!["bench", "--cpu", "bogus"], "--cpu", "bogus"),
        (vec!["bench", "--append", "poke=never"], "--append", "never"),
        (
            vec!["bench", "--kernel", "/nonexistent/kernel"],
            "--kernel",
            "/nonexistent/kernel",
        ),
        (vec!["bench", "--out", bad_out], "--out", bad_out),
    ]
    .into_iter()
    .map(|(args, option, value)| {
        let mut args: Vec<String> = args.into_iter().map(str::to_string).collect();
        let own_qemu = args.iter().any(|a| a == "--qemu");
        let extra: &[&str] = match args[0].as_str() {
            "run" | "bench" if own_qemu => &qemu[..2],
            "run" | "bench" => &qemu,
            // matrix has no --accel: each row sets its own.
            "matrix" => &qemu[2..],
            _ => &[],
        };
        if !extra.is_empty() {
            args.extend(extra.iter().map(|a| a.to_string()));
            args.push("--no-build".into());
        }
        (args, option, value)
    })
    .collect();
    let wrong: Vec<String> = cases
        .iter()
        .filter_map(|(args, option, value)| {
            let (code, out, err) = run(harness()
                .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
                .args(args));
            (code != 2 || !err.contains(option) || !err.contains(value)).then(|| {
                format!(
                    "harness {}: wanted status 2 and an error naming {option} and {value:?}, \
                     got {code}\nstdout:\n{out}\nstderr:\n{err}",
                    args.join(" ")
                )
            })
        })
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn parse_of_a_log_from_an_emulator_without_a_hypervisor_bit_never_says_real_machine() {
    // QEMU 7.2.22 TCG with `-cpu qemu64,-hypervisor`: the CPU says no
    // hypervisor, as Bochs' CPUs do; the firmware's ACPI tables say BOCHS
    // and BXPC. (Without the hypervisor bit the kernel did not know to
    // settle, and QEMU ran stale code: the experiment fails.)
    let log = testdata("no-hypervisor-bit-smp2.log");
    let r = run(harness().arg("parse").arg(&log));
    assert_status(
        &r,
        1,
        "--- on emulator (firmware BOCHS BXPC, no hypervisor bit) (log): verdict",
    );
    assert!(!r.1.contains("real machine"), "{}", r.1);
    let r = run(harness()
        .arg("parse")
        .arg(&log)
        .args(["--platform", "bochs"]));
    assert_status(&r, 1, "--- on bochs (log): verdict");
    let r = run(harness()
        .arg("parse")
        .arg(&log)
        .args(["--platform", "vmware"]));
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
    let r = run(harness()
        .arg("parse")
        .arg(testdata("bochs-nehalem-smp2.log")));
    assert_status(&r, 0, "3 passed, 0 failed, 0 skipped, 0 kfail");
    assert!(
        r.1.contains("  [emulator (firmware BOCHS BXPCAPIC, no hypervisor bit) (log)]\n")
            && r.1.contains("Intel(R) Core(TM) i5"),
        "{}",
        r.1
    );
    assert!(!r.1.contains("real machine"), "{}", r.1);
    assert!(!r.1.contains("--qemu-version"), "{}", r.1);
}

#[test]
fn an_interrupted_run_exits_130_and_counts_what_it_never_finished_as_skipped_not_failed() {
    // The first two experiments' records, then a QEMU that hangs: the
    // harness is stopped with SIGINT while it waits for the third.
    let text = std::fs::read_to_string(testdata("exp-naive-smp4.log")).unwrap();
    let cut: String = text.lines().take(36).map(|l| format!("{l}\n")).collect();
    let serial = scratch("interrupted").join("cut.log");
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
}
