use super::*;
use crate::{
    matrix::parse_table,
    request::{ISO_MS, MENU_TIMEOUT_S},
};

fn torture_globs() -> Vec<SabotageRun> {
    sabotage_globs(&parse_table(TORTURE_TABLE).unwrap()).unwrap()
}

fn menu(extra: &str) -> Vec<Entry> {
    entries(extra, &torture_globs()).unwrap()
}

#[test]
fn the_default_entry_comes_first_and_runs_the_suite() {
    let m = menu("");
    assert_eq!(m[0].cmdline, format!("exp=* ms={ISO_MS}"));
    let shared = DEFAULT_SUITE.iter().filter(|e| !e.own_boot).count();
    assert_eq!(
        m[0].title,
        format!("default suite: {shared} experiment(s), {ISO_MS} ms each")
    );
}

#[test]
fn every_own_boot_experiment_of_the_registry_has_an_entry_that_runs_it_alone() {
    let m = menu("");
    let own: Vec<&Entry> = m
        .iter()
        .filter(|e| e.title.starts_with("own boot"))
        .collect();
    let want: Vec<String> = DEFAULT_SUITE
        .iter()
        .filter(|e| e.own_boot)
        .map(|e| e.name().to_string())
        .collect();
    assert_eq!(own.len(), want.len(), "one entry per own-boot experiment");
    for (e, name) in own.iter().zip(&want) {
        assert_eq!(e.cmdline, format!("exp={name} ms={ISO_MS}"));
        let o = Options::parse(&e.cmdline).unwrap();
        assert_eq!(
            crate::list::select(o.experiments.unwrap()).unwrap().len(),
            1,
            "{}: the kernel runs an own-boot experiment only when it is alone",
            e.title
        );
    }
}

#[test]
fn the_menu_is_suite_own_boots_platform_then_one_entry_per_sabotage() {
    let m = menu("");
    let own = DEFAULT_SUITE.iter().filter(|e| e.own_boot).count();
    assert_eq!(m.len(), 1 + own + 1 + Sabotage::ALL.len(), "{m:#?}");
    let platform = &m[1 + own];
    assert_eq!(
        platform.cmdline, "",
        "the platform entry runs no experiment"
    );
    let globs = sabotage_globs(&parse_table(TORTURE_TABLE).unwrap()).unwrap();
    for ((e, s), run) in m[2 + own..].iter().zip(Sabotage::ALL).zip(&globs) {
        let o = Options::parse(&e.cmdline).unwrap();
        assert_eq!(o.sabotage, Some(s), "{}", e.cmdline);
        assert_eq!(run.sabotage, s);
        for w in &run.words {
            assert!(
                e.cmdline.split_whitespace().any(|x| x == w),
                "{}: wanted {w}, which its torture.cfg rows append",
                e.cmdline
            );
        }
        assert_eq!(
            o.experiments,
            Some(run.globs.as_str()),
            "wanted the experiments of the sabotage rows of torture.cfg"
        );
        assert_eq!(o.exp_ms, Some(ISO_MS));
    }
}

#[test]
fn every_entry_is_a_command_line_the_kernel_accepts_under_a_unique_short_title() {
    let m = menu("");
    for e in &m {
        let o = Options::parse(&e.cmdline)
            .unwrap_or_else(|err| panic!("{}: {err} in `{}`", e.title, e.cmdline));
        if let Some(p) = o.experiments {
            crate::list::select(p).unwrap();
        }
        assert!(
            e.title.len() <= TITLE_MAX,
            "{}: wanted at most {TITLE_MAX} characters",
            e.title
        );
    }
    let mut titles: Vec<&str> = m.iter().map(|e| e.title.as_str()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), m.len(), "wanted every title once");
}

#[test]
fn cmdline_words_join_the_default_entry_only() {
    let m = menu("nobp tsc=pit");
    assert_eq!(m[0].cmdline, format!("exp=* ms={ISO_MS} nobp tsc=pit"));
    assert!(m[1..].iter().all(|e| !e.cmdline.contains("nobp")), "{m:#?}");
}

#[test]
fn an_exp_or_ms_in_cmdline_replaces_the_default_ones() {
    let m = menu("exp=naive/*,*/self ms=1000");
    assert_eq!(m[0].cmdline, "exp=naive/*,*/self ms=1000");
    assert_eq!(
        m[0].title, "exp=naive/*,*/self: 11 experiment(s), 1000 ms each",
        "the two own-boot ones of the list are not run in that boot"
    );
    let m = menu("ms=50");
    assert_eq!(m[0].cmdline, "exp=* ms=50");
}

#[test]
fn a_long_exp_in_cmdline_gets_a_short_title() {
    let m =
        menu("exp=int3/gap/ipi/qword/timer,int3/gap/ipi/line/timer,int3/gap/ipi/cross-line/timer");
    assert!(
        m[0].title.starts_with("exp= of CMDLINE: 3 experiment(s)"),
        "{}",
        m[0].title
    );
}

#[test]
fn cmdline_with_a_character_a_menu_would_interpret_is_refused_naming_it() {
    for (bad, c) in [
        ("nobp;reboot", "';'"),
        ("exp='*'", "'\\''"),
        ("exp=$x", "'$'"),
        ("exp=a\\b", "'\\\\'"),
        ("nobp\nreboot", "'\\n'"),
        ("exp={a}", "'{'"),
        ("exp=#", "'#'"),
    ] {
        let e = entries(bad, &torture_globs()).unwrap_err().to_string();
        assert!(e.contains(c) && e.contains("allowed are"), "{bad:?}: {e}");
    }
}

#[test]
fn cmdline_with_a_word_the_kernel_refuses_is_refused_at_build_time() {
    let e = format!("{:#}", entries("frobnicate", &torture_globs()).unwrap_err());
    assert!(e.contains("unknown word \"frobnicate\""), "{e}");
    let e = format!("{:#}", entries("exp=int4/*", &torture_globs()).unwrap_err());
    assert!(e.contains("`int4/*`"), "{e}");
    let e = format!(
        "{:#}",
        entries("exp=naive/*,", &torture_globs()).unwrap_err()
    );
    assert!(e.contains("empty pattern"), "{e}");
}

#[test]
fn a_sabotage_that_no_row_runs_is_refused_naming_it() {
    let rows = parse_table(
        "[a]\nexperiment = int3/gap/ipi/*/timer\nappend = break=no-final-sync\nexpect = fail\nexpect_kind = stray_bp\n\
         [b]\nexperiment = int3/gap/ipi/*/timer\nappend = break=operand-first\n",
    )
    .unwrap();
    let e = sabotage_globs(&rows).unwrap_err().to_string();
    assert!(
        e.contains("`break=operand-first`"),
        "a row that does not expect failure does not count: {e}"
    );
}

#[test]
fn the_globs_of_several_rows_for_one_sabotage_become_a_list() {
    let mut t = String::new();
    for s in Sabotage::ALL {
        t += &format!(
            "[{0}-a]\nexperiment = int3/gap/ipi/*/timer\nappend = break={0}\nexpect = fail\nexpect_kind = faults\n\
             [{0}-b]\nexperiment = int3/trampoline/ipi/qword/timer,int3/gap/ipi/*/timer\n\
             append = xapic break={0}\nexpect = fail\nexpect_kind = faults\n",
            s.name()
        );
    }
    let g = sabotage_globs(&parse_table(&t).unwrap()).unwrap();
    assert_eq!(g.len(), Sabotage::ALL.len());
    assert!(
        g.iter()
            .all(|r| r.globs == "int3/gap/ipi/*/timer,int3/trampoline/ipi/qword/timer"),
        "{g:?}"
    );
    // `xapic` is appended by one row of each word, not both: not carried.
    assert!(g.iter().all(|r| r.words.is_empty()), "{g:?}");
}

#[test]
fn grub_entries_quote_every_word_and_boot_the_multiboot2_entry() {
    let m = menu("");
    let g = grub(&m);
    assert!(g.starts_with(GENERATED_BY), "{g}");
    assert_eq!(g.matches("\nmenuentry '").count(), m.len(), "{g}");
    assert_eq!(g.matches("\n    boot\n").count(), m.len(), "{g}");
    assert!(
        g.contains(&format!(
            "menuentry '{}' {{\n    echo 'static-call: booting the kernel, command line \"exp=* ms={ISO_MS}\"'\n    multiboot2 /boot/kernel 'exp=*' 'ms={ISO_MS}'\n    boot\n}}\n",
            m[0].title
        )),
        "{g}"
    );
    assert!(
        g.contains("\n    multiboot2 /boot/kernel\n"),
        "the platform entry passes no word: {g}"
    );
}

#[test]
fn limine_entries_carry_their_command_lines_and_fit_limines_name_buffer() {
    let m = menu("");
    let l = limine(&m);
    assert!(l.starts_with(GENERATED_BY), "{l}");
    let names: Vec<&str> = l.lines().filter(|x| x.starts_with('/')).collect();
    assert_eq!(names.len(), m.len(), "{l}");
    assert!(
        names.iter().all(|n| n.len() < 64 && !n.starts_with("//")),
        "Limine keeps 63 characters and reads `//` as a sub-entry: {names:?}"
    );
    assert_eq!(
        l.matches("\n    protocol: multiboot2\n    kernel_path: boot():/boot/kernel\n")
            .count(),
        m.len()
    );
    assert!(
        l.contains(&format!("    cmdline: exp=* ms={ISO_MS}\n")),
        "{l}"
    );
    assert_eq!(
        l.matches("    cmdline: ").count(),
        m.len() - 1,
        "every entry but the platform's has a command line"
    );
}

#[test]
fn limine_cfg_holds_the_generated_entries() {
    let cfg = include_str!("../../../limine.cfg");
    let at = cfg
        .find(GENERATED_BY)
        .expect("limine.cfg must hold the generated entries");
    assert!(
        cfg[at..] == limine(&menu("")),
        "the entries of limine.cfg differ from the registry's: regenerate them with\n  \
         cargo run -p harness -- iso-menu --loader limine\nand put them in place of those \
         from `{GENERATED_BY}` on"
    );
}

#[test]
fn both_menus_wait_the_same_timeout_before_the_default_entry() {
    let grub_cfg = include_str!("../../../scripts/grub.cfg");
    let limine_cfg = include_str!("../../../limine.cfg");
    assert!(
        grub_cfg.contains(&format!("\nset timeout={MENU_TIMEOUT_S}\n")),
        "scripts/grub.cfg must wait {MENU_TIMEOUT_S} s"
    );
    assert!(
        grub_cfg.contains("\nset default=0\n"),
        "the first entry is the default"
    );
    assert!(
        limine_cfg.contains(&format!("\ntimeout: {MENU_TIMEOUT_S}\n")),
        "limine.cfg must wait {MENU_TIMEOUT_S} s"
    );
    assert_eq!(
        grub_cfg.lines().filter(|l| *l == "@MENU@").count(),
        1,
        "scripts/grub.cfg must have one `@MENU@` line for the entries"
    );
}
