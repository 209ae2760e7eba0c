//! What the tests that drive the harness through the stand-in QEMU
//! (`testdata/fake-qemu`) share. Each test crate uses part of it.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A file of `harness/testdata`.
pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// A fresh scratch directory for one test of the crate `what`.
pub fn scratch(what: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("harness-{what}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `harness ARGS --qemu FAKE --kernel FAKE --out OUT` with the fake in
/// `mode` playing `serial` (the fake does not read the "kernel": any file
/// will do).
pub fn harness(args: &[&str], out: &Path, mode: &str, serial: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_harness"));
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
