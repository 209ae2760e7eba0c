//! Shell-like patterns over experiment names, and comma-separated lists
//! of them (the kernel's `exp=` word, `harness run --experiment`).

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (including `/` and the empty run), `?` exactly one character,
/// and every other character itself. The whole name must match.
///
/// Linear in space (none allocated), at worst `O(|pattern| * |name|)` in
/// time: on a mismatch, only the last `*` is retried one character further.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    // Byte offsets into each string, always at character boundaries.
    let (mut p, mut n) = (0, 0);
    // After the last `*` seen: where the pattern resumes, and the name
    // offset that `*` currently extends to.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        let nc = next(name, n);
        match next(pattern, p) {
            Some(('*', len)) => {
                p += len;
                star = Some((p, n));
                continue;
            }
            Some((pc, len)) if pc == '?' || Some(pc) == nc.map(|c| c.0) => {
                p += len;
                n += nc.map_or(0, |c| c.1);
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character, or fail.
        match star {
            Some((resume, swallowed)) => {
                let grown = swallowed + next(name, swallowed).map_or(0, |c| c.1);
                star = Some((resume, grown));
                p = resume;
                n = grown;
            }
            None => return false,
        }
    }
    // The name is used up: only `*`s may remain of the pattern.
    pattern[p..].chars().all(|c| c == '*')
}

/// What separates the globs of a list. No experiment name holds one.
pub const LIST_SEPARATOR: char = ',';

/// Whether `name` matches any glob of the comma-separated `list`
/// ([`glob_match`] for each). A list of one glob is that glob. An empty
/// glob (`a,,b`, a trailing comma) matches only the empty name, which is no
/// experiment's: [`empty_glob`] finds one so that callers can refuse it.
pub fn glob_list_match(list: &str, name: &str) -> bool {
    list.split(LIST_SEPARATOR).any(|g| glob_match(g, name))
}

/// The 1-based position of the first empty glob of `list`, if any: an
/// empty list, a leading or trailing comma, or two commas in a row.
pub fn empty_glob(list: &str) -> Option<usize> {
    list.split(LIST_SEPARATOR)
        .position(str::is_empty)
        .map(|i| i + 1)
}

/// The character at byte offset `at` and its length, if any.
fn next(s: &str, at: usize) -> Option<(char, usize)> {
    s[at..].chars().next().map(|c| (c, c.len_utf8()))
}

#[cfg(test)]
mod tests {
    use super::{empty_glob, glob_list_match, glob_match};

    #[test]
    fn literals_match_only_themselves_and_wholly() {
        assert!(glob_match("int3/gap/ipi/qword", "int3/gap/ipi/qword"));
        assert!(!glob_match(
            "int3/gap/ipi/qword",
            "int3/gap/ipi/qword/timer"
        ));
        assert!(!glob_match(
            "int3/gap/ipi/qword/timer",
            "int3/gap/ipi/qword"
        ));
        assert!(glob_match("", ""));
        assert!(!glob_match("", "a"));
    }

    #[test]
    fn a_star_matches_any_run_including_slashes_and_nothing() {
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "int3/gap/ipi/qword"));
        assert!(glob_match("naive/*", "naive/-/none/cross-page"));
        assert!(glob_match("int3/*/ipi/*", "int3/gap/ipi/qword/timer"));
        assert!(glob_match("*/qword", "naive/-/none/qword"));
        assert!(glob_match("int3/**/qword", "int3/gap/ipi/qword"));
        assert!(glob_match("a*b*c", "abc"));
        assert!(glob_match("a*b*c", "axxbyybzc"));
        assert!(!glob_match("a*b*c", "axxbyybz"));
        assert!(!glob_match("int3/*/ipi/*", "int3-batch/gap/ipi/qword"));
    }

    #[test]
    fn a_question_mark_matches_exactly_one_character() {
        assert!(glob_match("int?/gap/ipi/qword", "int3/gap/ipi/qword"));
        assert!(!glob_match("int?/gap/ipi/qword", "int/gap/ipi/qword"));
        assert!(glob_match("?", "\u{e9}"), "one character, not one byte");
        assert!(!glob_match("??", "\u{e9}"));
    }

    #[test]
    fn a_star_backtracks_past_a_false_start() {
        // The first `/timer` candidate is a false start: "/ti" then "m".
        assert!(glob_match("*/timer", "x/tix/timer"));
        assert!(glob_match("*ab", "aaab"));
        assert!(!glob_match("*ab", "aaa"));
    }

    #[test]
    fn matching_agrees_with_a_recursive_reference_on_small_inputs() {
        fn reference(p: &[char], n: &[char]) -> bool {
            match (p.first(), n.first()) {
                (None, None) => true,
                (Some('*'), _) => reference(&p[1..], n) || (!n.is_empty() && reference(p, &n[1..])),
                (Some('?'), Some(_)) => reference(&p[1..], &n[1..]),
                (Some(a), Some(b)) if a == b => reference(&p[1..], &n[1..]),
                _ => false,
            }
        }
        extern crate std;
        use std::string::String;
        use std::vec::Vec;
        let alphabet = ['a', 'b', '*', '?'];
        let mut all: Vec<String> = std::vec![String::new()];
        for _ in 0..4 {
            let more: Vec<String> = all
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| std::format!("{s}{c}")))
                .collect();
            all.extend(more);
        }
        all.sort();
        all.dedup();
        let names: Vec<&String> = all.iter().filter(|s| !s.contains(['*', '?'])).collect();
        for p in &all {
            let pc: Vec<char> = p.chars().collect();
            for n in &names {
                let nc: Vec<char> = n.chars().collect();
                assert_eq!(
                    glob_match(p, n),
                    reference(&pc, &nc),
                    "pattern {p:?} name {n:?}: wanted the reference's answer"
                );
            }
        }
    }

    #[test]
    fn a_list_matches_a_name_that_any_of_its_globs_matches() {
        let list = "naive/*,int3/spin/ipi/qword/self";
        assert!(glob_list_match(list, "naive/-/none/line"));
        assert!(glob_list_match(list, "int3/spin/ipi/qword/self"));
        assert!(!glob_list_match(list, "int3/retry/ipi/qword/self"));
        assert!(
            glob_list_match("*/qword,*/line", "atomic/-/ipi/line"),
            "the second glob matches"
        );
    }

    #[test]
    fn a_list_of_one_glob_is_that_glob() {
        for (p, n) in [("*", "a/b"), ("a?c", "abc"), ("a?c", "ac"), ("", "")] {
            assert_eq!(
                glob_list_match(p, n),
                glob_match(p, n),
                "pattern {p:?} name {n:?}: a list of one glob must agree with the glob"
            );
        }
    }

    #[test]
    fn a_comma_separates_globs_and_never_matches_itself() {
        assert!(
            !glob_list_match("a,b", "a,b"),
            "`a,b` is two globs, neither of which matches the name `a,b`"
        );
    }

    #[test]
    fn empty_globs_are_found_by_their_position() {
        assert_eq!(empty_glob("a,b"), None);
        assert_eq!(empty_glob("*"), None);
        assert_eq!(empty_glob(""), Some(1));
        assert_eq!(empty_glob(",a"), Some(1));
        assert_eq!(empty_glob("a,,b"), Some(2));
        assert_eq!(empty_glob("a,b,"), Some(3));
    }
}
