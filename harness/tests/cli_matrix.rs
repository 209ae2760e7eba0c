//! `harness matrix`: tables of fake boots, each row's QEMU, ISO rows, TAP.

mod fake;

use fake::{assert_status, bare, run, scratch, testdata};

#[test]
fn a_matrix_table_with_a_bad_line_is_refused_naming_the_line() {
    let d = scratch("cli", "matrix");
    let table = d.join("t.cfg");
    std::fs::write(&table, "[a]\nsmp = 2\nexpect = maybe\n").unwrap();
    let r = run(bare().arg("matrix").arg(&table).arg("--out").arg(&d));
    assert_status(&r, 2, "line 3");
}

#[test]
fn a_missing_matrix_table_is_a_clear_error() {
    let r = run(bare().args(["matrix", "/nonexistent/t.cfg", "--no-build"]));
    assert_status(&r, 2, "/nonexistent/t.cfg");
}

#[test]
fn a_matrix_of_fake_boots_prints_progress_and_the_closing_line() {
    let d = scratch("cli", "matrix-fake");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[four]\nsmp = 4\n[eight]\nsmp = 8\n[later]\nskip = not yet\n",
    )
    .unwrap();
    let r = run(&mut fake::harness(
        &["matrix", table.to_str().unwrap()],
        &d,
        "pass",
        &testdata("clean.log"),
    ));
    assert_status(&r, 1, "[1/3] four ... PASS");
    assert!(r.1.contains("[2/3] eight ... FAIL"), "{}", r.1);
    assert!(r.1.contains("[3/3] later ... SKIP (not yet)"), "{}", r.1);
    assert!(
        r.1.lines().any(|l| l == "1 passed, 1 failed, 1 skipped"),
        "wanted the closing line alone on a line:\n{}",
        r.1
    );
    let dir =
        r.1.lines()
            .find_map(|l| l.strip_prefix("evidence: "))
            .unwrap_or_else(|| panic!("no evidence line:\n{}", r.1));
    let junit = std::fs::read_to_string(std::path::Path::new(dir).join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"tests="3" skipped="1" failures="1""#),
        "junit.xml counts what the closing line counts:\n{junit}"
    );
}

#[test]
fn a_matrix_row_whose_qemu_is_not_set_up_refuses_the_table_naming_the_row() {
    let d = scratch("cli", "matrix-noqemu");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[fine]\nsmp = 2\n[q99]\nqemu = 99\n",
    )
    .unwrap();
    let r = run(bare()
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
    let d = scratch("cli", "matrix-qemus");
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
    let r = run(&mut fake::harness(
        &["matrix", table.to_str().unwrap()],
        &d,
        "pass",
        &testdata("clean.log"),
    ));
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
fn a_matrix_iso_row_judges_the_experiments_of_the_default_entry() {
    let d = scratch("cli", "matrix-iso");
    let table = d.join("t.cfg");
    std::fs::write(&table, "[iso]\naccel = tcg\nboot = iso-bios\nsmp = 2\n").unwrap();
    let r = run(fake::harness(
        &["matrix", table.to_str().unwrap()],
        &d,
        "fail",
        &testdata("exp-gap-timer-smp2.log"),
    )
    .arg("--iso")
    .arg(testdata("fake-qemu")));
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
fn a_matrix_with_tap_writes_only_tap_on_stdout_and_its_lines_for_people_on_stderr() {
    let d = scratch("cli", "matrix-tap");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[defaults]\naccel = tcg\n[four]\nsmp = 4\n[eight]\nsmp = 8\n[later]\nskip = not yet\n",
    )
    .unwrap();
    let (code, out, err) = run(&mut fake::harness(
        &["matrix", "--tap", table.to_str().unwrap()],
        &d,
        "pass",
        &testdata("clean.log"),
    ));
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
