//! The command line as a user meets it before any boot: help and exit
//! statuses, bad input (status 2 and a message naming what was wrong),
//! `--quiet` and `--verbose`, `list`, `iso-menu`, `completions`, colour.

mod fake;

use fake::{assert_status, bare, run, scratch, testdata};
use std::path::Path;

#[test]
fn help_documents_the_exit_statuses() {
    let r = run(bare().arg("--help"));
    assert_status(&r, 0, "Exit status:");
    assert!(r.1.contains("3  the deadline fired"), "{}", r.1);
}

#[test]
fn smp_zero_is_refused_with_the_range() {
    assert_status(&run(bare().args(["run", "--smp", "0"])), 2, "1 to 255");
}

#[test]
fn bench_refuses_an_unknown_claim_and_a_bad_cpu_count_naming_them() {
    assert_status(
        &run(bare().args(["bench", "--claims", "none,global"])),
        2,
        "\"global\" is not a claim: wanted none, shared or percpu",
    );
    assert_status(&run(bare().args(["bench", "--cpus", "1,0"])), 2, "1 to 255");
    assert_status(
        &run(bare().args(["bench", "--cpus", "4", "--claims", "shared"])),
        2,
        "cannot be used with",
    );
}

#[test]
fn smp_9999_is_refused_with_the_range() {
    assert_status(&run(bare().args(["run", "--smp", "9999"])), 2, "1 to 255");
}

#[test]
fn smp_300_which_qemu_s_pc_machine_refuses_is_refused_before_any_boot() {
    assert_status(
        &run(bare().args(["run", "--smp", "300", "--experiment", "naive/*"])),
        2,
        "`pc` machine, which the harness boots, takes 1 to 255",
    );
}

#[test]
fn more_executors_than_the_guest_has_aps_to_spare_are_refused_before_any_boot() {
    assert_status(
        &run(bare().args(["run", "--smp", "4", "--executors", "3", "naive/*"])),
        2,
        "executors 3 with smp 4: at most 2",
    );
    assert_status(
        &run(bare().args(["run", "--smp", "4", "--executors", "0", "naive/*"])),
        2,
        "0 executors: 1..=1023 allowed",
    );
    assert_status(
        &run(bare().args(["run", "--executors", "2", "--boot", "iso-bios"])),
        2,
        "--executors and --append need --boot kernel",
    );
}

#[test]
fn an_unknown_control_is_refused_with_the_known_ones() {
    assert_status(
        &run(bare().args(["run", "--control", "ud3"])),
        2,
        "ud2-ap, write-text, exec-data, hang",
    );
}

#[test]
fn list_shows_every_registry_experiment_and_a_count() {
    let r = run(bare().arg("list"));
    assert_status(&r, 0, "200 experiment(s): ");
    assert_eq!(r.1.lines().count(), 201, "one line each and a count");
    assert!(
        r.1.lines()
            .any(|l| l.starts_with("int3/retry/ipi/qword/self") && l.ends_with("own-boot")),
        "{}",
        r.1
    );
}

#[test]
fn list_with_a_pattern_that_selects_nothing_is_refused_naming_it() {
    assert_status(&run(bare().args(["list", "int4/*"])), 2, "`int4/*`");
}

#[test]
fn run_refuses_a_pattern_given_both_as_argument_and_as_experiment_naming_both() {
    let r = run(bare().args(["run", "naive/*", "--experiment", "int3/*"]));
    assert_status(&r, 2, "cannot be used with");
    assert!(
        r.2.contains("--experiment <PATTERN>") && r.2.contains("[PATTERN]"),
        "{}",
        r.2
    );
}

#[test]
fn a_mistyped_experiment_option_is_refused_suggesting_an_option_it_begins() {
    let r = run(bare().args(["run", "--exp", "naive/*"]));
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
    let r = run(bare().args(["run", "--ms", "100"]));
    assert_status(&r, 2, "--experiment");
}

#[test]
fn ms_out_of_range_is_refused() {
    let r = run(bare().args(["run", "--experiment", "*", "--ms", "0"]));
    assert_status(&r, 2, "out of range");
}

#[test]
fn a_closed_stdout_ends_list_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = bare()
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
    let r = run(bare().arg("--version"));
    let want = format!("record protocol @SC{}", report::PROTOCOL_VERSION);
    assert_status(&r, 0, &want);
    assert_status(&r, 0, "(kernel ");
}

#[test]
fn completions_are_printed_for_bash_and_an_unknown_shell_is_refused() {
    let r = run(bare().args(["completions", "bash"]));
    assert_status(&r, 0, "_harness()");
    assert!(
        r.1.contains("compare"),
        "wanted every command in it:\n{}",
        r.1
    );
    let r = run(bare().args(["completions", "tcsh"]));
    assert_status(&r, 2, "invalid value 'tcsh'");
}

#[test]
fn iso_menu_prints_the_registry_menu_for_grub_and_limine() {
    let r = run(bare().arg("iso-menu"));
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
    let r = run(bare().args(["iso-menu", "--loader", "limine", "--cmdline", "nobp"]));
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
        &run(bare().args(["iso-menu", "--cmdline", "nobp; reboot"])),
        2,
        "holds ';'",
    );
    assert_status(
        &run(bare().args(["iso-menu", "--cmdline", "exp=int3/*,"])),
        2,
        "empty pattern",
    );
}

#[test]
fn iso_menu_takes_the_sabotage_globs_from_the_table_given() {
    let d = scratch("cli", "iso-menu-table");
    let table = d.join("t.cfg");
    std::fs::write(
        &table,
        "[a]\nexperiment = int3/gap/ipi/qword/timer\nappend = break=no-final-sync\nexpect = fail\n\
         expect_kind = stray_bp\n",
    )
    .unwrap();
    let r = run(bare().arg("iso-menu").arg("--table").arg(&table));
    assert_status(&r, 2, "`break=operand-first`");
}

#[test]
fn verdicts_are_plain_when_stdout_is_not_a_terminal_or_no_color_is_set() {
    let log = testdata("exp-naive-smp4.log");
    let (_, piped, _) = run(bare().arg("parse").arg(&log).env_remove("CLICOLOR_FORCE"));
    assert!(!piped.contains('\x1b'), "a pipe got colour:\n{piped}");
    let (_, forced, _) = run(bare().arg("parse").arg(&log).env("CLICOLOR_FORCE", "1"));
    assert!(
        forced.contains("\x1b["),
        "CLICOLOR_FORCE=1 gave no colour:\n{forced}"
    );
    let (_, no_color, _) = run(bare()
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
            let (code, out, err) = run(bare().arg(cmd).arg(flag).arg("--help"));
            assert_eq!(code, 0, "{cmd} {flag} --help: {err}");
            assert!(
                out.contains("Example"),
                "{cmd} --help has no example:\n{out}"
            );
            let (code, _, err) = run(bare().arg(flag).arg(cmd).arg("--help"));
            assert_eq!(code, 0, "{flag} {cmd} --help: {err}");
        }
    }
}

#[test]
fn quiet_and_verbose_together_are_refused() {
    let (code, _, err) = run(bare().args(["list", "--quiet", "--verbose"]));
    assert_eq!(code, 2);
    assert!(err.contains("cannot be used with"), "got: {err}");
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
            let (code, out, err) = run(bare()
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
fn repro_lists_the_reproducers_and_refuses_an_unknown_one_naming_them() {
    let r = run(bare().arg("repro"));
    assert_status(&r, 0, "tcg-stale-block");
    for name in [
        "tcg-notdirty",
        "tcg-torn-store",
        "docs/emulators/tcg-notdirty.md",
    ] {
        assert!(r.1.contains(name), "{name}: {}", r.1);
    }
    assert!(r.1.lines().all(|l| l.len() <= 100), "{}", r.1);
    assert_status(
        &run(bare().args(["repro", "tcg-stale"])),
        2,
        "no reproducer `tcg-stale`: there are tcg-stale-block, tcg-notdirty, tcg-torn-store",
    );
}

#[test]
fn linux_refuses_bad_arguments_naming_them_before_any_boot() {
    assert_status(
        &run(bare().args(["linux", "--smp", "9"])),
        2,
        "2 to 8 allowed",
    );
    assert_status(&run(bare().args(["linux", "--flips", "0"])), 2, "0 flips");
    assert_status(
        &run(bare().args(["linux", "--key", "../etc/passwd"])),
        2,
        "--key \"../etc/passwd\"",
    );
    assert_status(
        &run(bare().args(["linux", "--key", "a b"])),
        2,
        "give a name under /proc/sys/kernel/",
    );
}
