//! `harness matrix -j`, `--filter`, `--group` and `--list` as a user meets
//! them, through the fake QEMU (`testdata/fake-qemu`): no test needs QEMU.

mod fake;

use fake::testdata;
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    fake::scratch("jobs", name)
}

const TABLE: &str = "[defaults]\naccel = tcg\ngroup = boot\n\
    [a]\n[b]\nsmp = 4\n[c]\nsmp = 8\ngroup = big\n[d]\n[e]\nskip = not yet\n";

/// `harness matrix TABLE ARGS` against the fake QEMU; (status, stdout,
/// stderr).
fn matrix(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let table = dir.join("t.cfg");
    std::fs::write(&table, TABLE).unwrap();
    let table = table.to_str().unwrap();
    let mut all = vec!["matrix", table];
    all.extend_from_slice(args);
    let out = fake::harness(&all, dir, "pass", &testdata("clean.log"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `[i/n] name ... VERDICT` lines, sorted, without timings.
fn verdicts(stdout: &str) -> Vec<String> {
    let mut v: Vec<String> = stdout
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| l.split(" (").next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn rows_at_once_give_the_verdicts_of_rows_one_by_one_and_the_log_keeps_table_order() {
    // clean.log is a 4-CPU boot: `b` passes, the others' CPUs differ.
    let one = matrix(&scratch("j1"), &["-j", "1"]);
    let four_dir = scratch("j4");
    let four = matrix(&four_dir, &["-j", "4"]);
    assert_eq!(one.0, 1, "{}", one.1);
    assert_eq!(four.0, one.0, "{}", four.1);
    assert_eq!(
        verdicts(&four.1),
        verdicts(&one.1),
        "-j 4:\n{}\n-j 1:\n{}",
        four.1,
        one.1
    );
    assert!(
        verdicts(&one.1).contains(&"[2/5] b ... PASS".to_string()),
        "{}",
        one.1
    );
    assert!(four.1.contains("up to 4 row(s) at once"), "{}", four.1);
    for out in [&one.1, &four.1] {
        assert!(
            out.lines().any(|l| l == "1 passed, 3 failed, 1 skipped"),
            "{out}"
        );
    }
    let dir = std::fs::read_dir(&four_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-matrix"))
        .expect("the matrix's evidence directory");
    let log = std::fs::read_to_string(dir.join("matrix.log")).unwrap();
    let names: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|n| n.len() == 1)
        .collect();
    assert_eq!(names, ["a", "b", "c", "d", "e"], "table order:\n{log}");
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert_eq!(junit.matches("<testcase").count(), 5, "{junit}");
}

#[test]
fn filter_group_and_list_select_rows_and_a_selection_of_nothing_is_named() {
    let d = scratch("select");
    let (status, out, err) = matrix(&d, &["--list", "--group", "boot"]);
    assert_eq!(status, 0, "{err}");
    let listed: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(listed, ["a", "b", "d", "e"], "{out}");
    assert!(out.contains("SKIP: not yet"), "{out}");
    let (status, out, _) = matrix(&d, &["--filter", "b,c", "-j", "1"]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains("[1/2] b ... PASS") && out.contains("[2/2] c ... FAIL"),
        "{out}"
    );
    let (status, _, err) = matrix(&d, &["--group", "small"]);
    assert_eq!(status, 2);
    assert!(
        err.contains("`small`") && err.contains("big, boot"),
        "{err}"
    );
    let (status, _, err) = matrix(&d, &["--filter", "z*"]);
    assert_eq!(status, 2);
    assert!(err.contains("--filter z*: no row matches"), "{err}");
    let (status, _, err) = matrix(&d, &["-j", "0"]);
    assert_eq!(status, 2);
    assert!(err.contains("'0'") && err.contains("at least 1"), "{err}");
}

/// The booted fake QEMUs whose environment holds `mark` (those of one
/// test: each inherits it).
fn marked_processes(mark: &str) -> Vec<u32> {
    let needle = format!("FAKE_QEMU_MARK={mark}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        // The booted fakes: `sleep` (not the probes that ask the fake its
        // version and models first).
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep"))
        })
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|v| v == needle.as_bytes()))
        })
        .collect()
}

/// Polls `f` every 50 ms for up to `secs`; whether it came true.
fn within(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    f()
}

#[test]
fn ctrl_c_during_rows_at_once_kills_every_qemu_and_keeps_every_artifact() {
    let d = scratch("ctrl-c");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\ntimeout = 120\n[one]\n[two]\n[three]\n",
    )
    .unwrap();
    let mark = format!("ctrl-c-{}", std::process::id());
    let mut child = fake::harness(
        &["matrix", table.to_str().unwrap(), "-j", "2"],
        &d,
        "hang",
        &testdata("clean.log"),
    )
    .env("FAKE_QEMU_MARK", &mark)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    assert!(
        within(20, || marked_processes(&mark).len() == 2),
        "two rows at once: {:?}",
        marked_processes(&mark)
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(
        within(20, || child.try_wait().unwrap().is_some()),
        "the harness ends soon after Ctrl-C"
    );
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        within(5, || marked_processes(&mark).is_empty()),
        "every QEMU killed: {:?} left",
        marked_processes(&mark)
    );
    assert!(stderr.contains("interrupted"), "{stdout}\n{stderr}");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    let matrix_dir = dirs
        .iter()
        .find(|p| p.to_string_lossy().ends_with("-matrix"))
        .expect("the matrix's evidence");
    let log = std::fs::read_to_string(matrix_dir.join("matrix.log")).unwrap();
    assert!(log.contains("three ... not run (interrupted)"), "{log}");
    assert!(matrix_dir.join("junit.xml").is_file());
    let rows: Vec<&PathBuf> = dirs
        .iter()
        .filter(|p| !p.ends_with("t.cfg") && p != &matrix_dir)
        .collect();
    assert_eq!(
        rows.len(),
        2,
        "one evidence directory per started row: {rows:?}"
    );
    for r in rows {
        let serial = std::fs::read_to_string(r.join("serial.log")).unwrap();
        assert!(
            serial.contains("@SC1"),
            "{}: the transcript kept",
            r.display()
        );
        assert!(r.join("summary.json").is_file(), "{}", r.display());
    }
}

#[test]
fn repeat_runs_each_row_n_times_and_tallies_them_by_row() {
    let d = scratch("repeat");
    let (status, out, err) = matrix(&d, &["--filter", "a,b", "--repeat", "3", "-j", "1"]);
    assert_eq!(status, 1, "{out}{err}");
    for k in 1..=3 {
        assert!(out.contains(&format!("] b-r{k} ... PASS")), "{out}");
        assert!(out.contains(&format!("] a-r{k} ... FAIL")), "{out}");
    }
    let row = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("no tally line for {name}:\n{out}"))
            .to_string()
    };
    let b = row("b");
    assert!(b.contains("3/3") && b.contains("0/3"), "{b}");
    let a = row("a");
    assert!(
        a.split_whitespace().nth(2) == Some("0/3"),
        "a never passed: {a}"
    );
    assert!(
        out.contains("0 passed") || out.contains("3 passed, 3 failed"),
        "{out}"
    );
    let (status, _, err) = matrix(&d, &["--repeat", "0"]);
    assert_eq!(status, 2);
    assert!(err.contains("at least 1"), "{err}");
}

#[test]
fn run_repeat_prints_a_line_per_run_and_the_tally_of_each_experiment() {
    let d = scratch("run-repeat");
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
        "--repeat",
        "2",
    ];
    let out = fake::harness(&args, &d, "pass", &testdata("exp-naive-smp4.log"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("run 1/2: ") && stdout.contains("run 2/2: "),
        "{stdout}"
    );
    let naive: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("naive/") && l.contains("negative-control"))
        .collect();
    assert!(!naive.is_empty(), "{stdout}");
    for l in naive {
        assert!(l.contains("2/2"), "caught in both runs: {l}");
        assert!(
            l.trim_end().ends_with(", 2"),
            "a first failure in both runs: {l}"
        );
    }
}
