//! `harness list [PATTERN]` and the selection of experiments by pattern
//! (`run --experiment`, `parse --experiment`, matrix rows). Pure.
//!
//! A pattern is a glob or a comma-separated list of globs, the same that
//! the kernel's `exp=` takes (`naive/*,int3/spin/ipi/qword/self`).
//!
//! The experiments are the registry's ([`plan::experiment::DEFAULT_SUITE`]),
//! in its order, selected with the kernel's own glob
//! ([`plan::experiment::glob_match`]: `*` any run of characters including
//! `/`, `?` one character), so that the harness and the kernel cannot
//! disagree on what a pattern selects. A pattern that selects nothing is
//! refused (status 2), naming it.

use anyhow::{bail, Result};
use plan::experiment::{self, Expectation, Experiment, DEFAULT_SUITE};

/// The experiments `pattern` selects (a glob, or a comma-separated list of
/// globs, as the kernel's `exp=` takes), in registry order and each once;
/// an error naming the pattern when it selects none, or the glob of a list
/// that selects none (as the kernel refuses it).
pub fn select(pattern: &str) -> Result<Vec<&'static Experiment>> {
    if pattern.is_empty() {
        bail!("an empty experiment pattern selects nothing (`*` selects every experiment)");
    }
    if pattern.chars().any(char::is_whitespace) {
        bail!(
            "experiment pattern `{pattern}` holds a space: the kernel command line splits words \
             at spaces, and no experiment name has one (separate globs with commas)"
        );
    }
    if let Some(n) = experiment::empty_glob(pattern) {
        bail!(
            "experiment pattern `{pattern}` has an empty glob (number {n}): separate globs \
             with single commas, with none at either end"
        );
    }
    let globs: Vec<&str> = pattern.split(experiment::LIST_SEPARATOR).collect();
    for glob in &globs {
        if experiment::matching(glob).next().is_none() {
            let hint = if glob.contains(['*', '?']) {
                String::new()
            } else {
                match experiment::parse_name(glob) {
                    Err(e) => format!(": {e}"),
                    Ok(_) => ": it is a well-formed name, but not one of the default suite".into(),
                }
            };
            let within = if globs.len() > 1 {
                format!(" (in the list `{pattern}`)")
            } else {
                String::new()
            };
            bail!(
                "no experiment matches `{glob}`{within}{hint} (`harness list` shows the {} \
                 names; `*` matches any run of characters including `/`, `?` one character)",
                DEFAULT_SUITE.len()
            );
        }
    }
    Ok(experiment::matching(pattern).collect())
}

/// The lines of `harness list [PATTERN]`: one per experiment (name,
/// expectation, `own-boot` when it needs a boot of its own), then a count.
pub fn lines(pattern: Option<&str>) -> Result<Vec<String>> {
    let exps = match pattern {
        Some(p) => select(p)?,
        None => DEFAULT_SUITE.iter().collect(),
    };
    let width = exps.iter().map(|e| e.name().len()).max().unwrap_or(0);
    let mut out: Vec<String> = exps
        .iter()
        .map(|e| {
            let line = format!(
                "{:<width$}  {:<16}  {}",
                e.name().as_str(),
                e.expectation.name(),
                if e.own_boot { "own-boot" } else { "" }
            );
            line.trim_end().to_string()
        })
        .collect();
    let count = |x: Expectation| exps.iter().filter(|e| e.expectation == x).count();
    out.push(format!(
        "{} experiment(s): {} must-pass, {} negative-control, {} expect-deadlock, {} observe; {} need a boot of their own",
        exps.len(),
        count(Expectation::MustPass),
        count(Expectation::NegativeControl),
        count(Expectation::ExpectDeadlock),
        count(Expectation::Observe),
        exps.iter().filter(|e| e.own_boot).count()
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_registry_is_listed_with_a_count_line() {
        let l = lines(None).unwrap();
        assert_eq!(
            l.len(),
            DEFAULT_SUITE.len() + 1,
            "one line each and a count"
        );
        assert!(
            l.last().unwrap().starts_with("200 experiment(s): "),
            "{}",
            l.last().unwrap()
        );
        assert!(
            l.iter().any(|x| x.starts_with("int3/spin/ipi/qword/self ")
                && x.contains("expect-deadlock")
                && x.ends_with("own-boot")),
            "wanted the spin deadlock marked own-boot"
        );
    }

    #[test]
    fn a_pattern_lists_only_what_it_selects() {
        let l = lines(Some("naive/*")).unwrap();
        assert_eq!(l.len(), 5, "{l:?}");
        assert!(
            l[..4].iter().all(|x| x.contains("negative-control")),
            "{l:?}"
        );
        assert!(l[4].contains("4 negative-control"), "{}", l[4]);
    }

    #[test]
    fn the_int3_grid_globs_select_the_must_pass_grid() {
        let timer = select("int3*/*/*/*/?i*").unwrap();
        let nmi = select("int3*/*/*/*/n?i").unwrap();
        // `?i*` also takes the six `timer-site` experiments, the six
        // `int3-queue` rows (all under the timer), and the ten rows of each
        // of `null`, `jump`, `jump8` and `ret0` under the timer; `n?i` ends
        // at `nmi`, so no `nmi/null` row or the like.
        assert_eq!((timer.len(), nmi.len()), (101, 48));
        assert!(timer
            .iter()
            .chain(&nmi)
            .all(|e| e.expectation == Expectation::MustPass && !e.own_boot));
    }

    #[test]
    fn a_pattern_that_selects_nothing_is_refused_naming_it() {
        let e = select("int4/*").unwrap_err().to_string();
        assert!(e.contains("`int4/*`") && e.contains("harness list"), "{e}");
    }

    #[test]
    fn a_misspelt_name_says_which_part_is_wrong() {
        let e = select("int3/gapp/ipi/qword").unwrap_err().to_string();
        assert!(e.contains("unknown handler `gapp`"), "{e}");
    }

    #[test]
    fn a_valid_name_outside_the_suite_is_told_apart() {
        let e = select("int3/gap/ipi/qword").unwrap_err().to_string();
        assert!(e.contains("not one of the default suite"), "{e}");
    }

    #[test]
    fn empty_and_spaced_patterns_are_refused() {
        assert!(select("").is_err());
        let e = select("naive/* int3/*").unwrap_err().to_string();
        assert!(e.contains("space"), "{e}");
    }

    #[test]
    fn a_comma_list_selects_the_union_in_registry_order() {
        let v = select("int3/spin/ipi/qword/self,naive/*").unwrap();
        let names: Vec<String> = v.iter().map(|e| e.name().to_string()).collect();
        assert_eq!(
            names,
            [
                "naive/-/none/qword",
                "naive/-/none/line",
                "naive/-/none/cross-line",
                "naive/-/none/cross-page",
                "int3/spin/ipi/qword/self"
            ]
        );
    }

    #[test]
    fn a_list_with_a_glob_that_selects_nothing_is_refused_naming_that_glob() {
        let e = select("naive/*,int4/*").unwrap_err().to_string();
        assert!(
            e.contains("no experiment matches `int4/*` (in the list `naive/*,int4/*`)"),
            "{e}"
        );
        let e = select("naive/*,int3/gapp/ipi/qword")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown handler `gapp`"), "{e}");
    }

    #[test]
    fn a_list_with_an_empty_glob_is_refused() {
        for p in ["naive/*,", ",naive/*", "naive/*,,atomic/*"] {
            let e = select(p).unwrap_err().to_string();
            assert!(e.contains("empty glob"), "{p}: {e}");
        }
    }

    #[test]
    fn the_list_separator_is_the_same_for_kernel_and_harness() {
        assert_eq!(
            report::cmdline::EXP_LIST_SEPARATOR,
            experiment::LIST_SEPARATOR,
            "the command line parser and the glob lists must split `exp=` alike"
        );
    }
}
