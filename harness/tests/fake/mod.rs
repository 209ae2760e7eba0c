//! What the tests that drive the harness as a program share: running it
//! and reading its status and output, scratch directories, and the
//! stand-in QEMU (`testdata/fake-qemu`). Each test crate uses part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A file of `harness/testdata`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// Where [`scratch`] puts the directory of `name` for the crate `what`.
pub fn scratch_path(what: &str, name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("harness-{what}-{}-{name}", std::process::id()))
}

/// A fresh scratch directory for one test of the crate `what`.
pub fn scratch(what: &str, name: &str) -> PathBuf {
    let d = scratch_path(what, name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `harness` alone: no fake, no options.
pub fn bare() -> Command {
    Command::new(env!("CARGO_BIN_EXE_harness"))
}

/// `harness ARGS --qemu FAKE --kernel FAKE --out OUT` with the fake in
/// `mode` playing `serial` (the fake does not read the "kernel": any file
/// will do).
pub fn harness(args: &[&str], out: &Path, mode: &str, serial: &Path) -> Command {
    let mut c = bare();
    c.args(args)
        .arg("--qemu")
        .arg(testdata("fake-qemu"))
        .arg("--kernel")
        .arg(testdata("fake-qemu"))
        .arg("--out")
        .arg(out)
        .env("FAKE_QEMU_MODE", mode)
        .env("FAKE_QEMU_SERIAL", serial);
    c
}

/// `harness run --accel tcg` through the fake in `mode` playing `serial`,
/// its evidence in a fresh scratch directory `name` of the `cli` tests.
pub fn fake_run(name: &str, mode: &str, serial: &Path) -> Command {
    harness(
        &["run", "--accel", "tcg"],
        &scratch("cli", name),
        mode,
        serial,
    )
}

/// Runs `cmd`: its exit status, standard output and standard error.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
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

/// That a run ended with status `want` and said `needle` on either output.
#[track_caller]
pub fn assert_status(got: &(i32, String, String), want: i32, needle: &str) {
    let (code, out, err) = got;
    assert_eq!(
        *code, want,
        "wanted status {want}, got {code}\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        says(out, needle) || says(err, needle),
        "wanted {needle:?} in the output\nstdout:\n{out}\nstderr:\n{err}"
    );
}

/// Whether `out` says `phrase`: its words in order, wherever a line folded
/// for the terminal broke it.
pub fn says(out: &str, phrase: &str) -> bool {
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    out.contains(phrase) || words(out).contains(&words(phrase))
}

/// The run directory named by the `evidence` line of a run's output.
pub fn evidence_dir(stdout: &str) -> PathBuf {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("evidence"))
        .unwrap_or_else(|| panic!("no evidence line in {stdout}"));
    PathBuf::from(line.trim_start_matches("evidence").trim())
}
