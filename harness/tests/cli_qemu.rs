//! Which QEMU and CPU model `harness run` is given: one that is missing,
//! is not QEMU, is too old or not set up is refused naming it.

mod fake;

use fake::{assert_status, bare, evidence_dir, fake_run, run, scratch, testdata};
use std::path::{Path, PathBuf};

#[test]
fn a_missing_qemu_binary_is_named_with_how_to_install_it() {
    let r = run(bare().args([
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
    let p = scratch("cli", name).join("qemu-system-x86_64");
    std::fs::write(&p, format!("#!/bin/sh\nprintf '%s' '{stdout}'\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn run_with_qemu(qemu: &Path) -> (i32, String, String) {
    run(bare()
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
    let r = run(bare().args(["run", "--no-build", "--qemu", "99"]));
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
