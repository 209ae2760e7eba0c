//! `--repeat N` of `harness run` and `harness matrix`: the same thing N
//! times, and how often each outcome came. Pure: the callers run, this
//! counts and prints.
//!
//! A negative control or a sabotage is trusted by how often it is caught,
//! not by one catch: the table gives, per experiment (or matrix row), the
//! runs of each verdict and, where a failure was seen, the median time
//! from the experiment's start to its first failure (the `exp` record's
//! `first_fail_ns`) over the runs that saw one.

use crate::judge::experiment::ExpJudgement;
use std::collections::BTreeMap;

/// `--repeat`: a whole number from 1 up.
pub fn parse_repeat(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("`0`: wanted at least 1 run".into()),
        Ok(n) if n > MAX_REPEAT => Err(format!("`{n}`: at most {MAX_REPEAT} runs")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}`: wanted a whole number of runs, 1 or more")),
    }
}

/// The most runs one `--repeat` asks for.
pub const MAX_REPEAT: u32 = 1000;

/// One thing run N times: its verdict words and first-failure times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    /// Verdict word (`PASS`, `FAIL`, ...) -> runs.
    pub verdicts: BTreeMap<String, u32>,
    /// `first_fail_ns` of each run that reported one.
    pub first_fail_ns: Vec<u64>,
    /// The expectation (`must-pass`, `negative-control`, ...; a matrix
    /// row's `expect`).
    pub expectation: String,
}

/// The tally of N runs, by name, in the order first seen.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Runs so far.
    pub runs: u32,
    order: Vec<String>,
    lines: BTreeMap<String, Line>,
}

impl Tally {
    /// Counts one outcome of `name`.
    pub fn add(
        &mut self,
        name: &str,
        expectation: &str,
        verdict: &str,
        first_fail_ns: impl IntoIterator<Item = u64>,
    ) {
        let l = self.lines.entry(name.to_string()).or_insert_with(|| {
            self.order.push(name.to_string());
            Line {
                expectation: expectation.to_string(),
                ..Line::default()
            }
        });
        *l.verdicts.entry(verdict.to_string()).or_default() += 1;
        l.first_fail_ns.extend(first_fail_ns);
    }

    /// Counts one run's experiments.
    pub fn add_run(&mut self, experiments: &[ExpJudgement]) {
        self.runs += 1;
        for j in experiments {
            self.add(
                &j.name,
                &j.expectation,
                j.verdict.word(),
                j.counters
                    .get("first_fail_ns")
                    .copied()
                    .filter(|&ns| ns > 0),
            );
        }
    }

    /// The line of `name`.
    pub fn line(&self, name: &str) -> Option<&Line> {
        self.lines.get(name)
    }

    /// The table: per name, runs of each verdict, and the median time to
    /// the first failure where runs saw one.
    pub fn render(&self, runs: u32) -> String {
        let w = self.order.iter().map(String::len).max().unwrap_or(4).max(4);
        let mut out = format!(
            "{:<w$}  {:<16} {:>9} {:>9} {:>9} {:>9}  first failure after (median [min..max], runs that saw one)\n",
            "name", "expectation", "PASS", "FAIL", "KFAIL", "SKIP"
        );
        for name in &self.order {
            let l = &self.lines[name];
            let n = |v: &str| format!("{}/{runs}", l.verdicts.get(v).copied().unwrap_or(0));
            out += &format!(
                "{name:<w$}  {:<16} {:>9} {:>9} {:>9} {:>9}  {}\n",
                l.expectation,
                n("PASS"),
                n("FAIL"),
                n("KFAIL"),
                n("SKIP"),
                first_failure(&l.first_fail_ns)
            );
        }
        out
    }
}

/// `3.2 ms [1.1 ms..9.0 ms], 20` or `-`.
pub fn first_failure(ns: &[u64]) -> String {
    if ns.is_empty() {
        return "-".into();
    }
    let mut v = ns.to_vec();
    v.sort_unstable();
    let median = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2
    };
    format!(
        "{} [{}..{}], {}",
        crate::results::render::ns(median),
        crate::results::render::ns(v[0]),
        crate::results::render::ns(v[v.len() - 1]),
        v.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_repeat_is_named() {
        assert_eq!(parse_repeat("20"), Ok(20));
        assert!(parse_repeat("0").unwrap_err().contains("at least 1"));
        assert!(parse_repeat("x").unwrap_err().contains("`x`"));
        assert!(parse_repeat("5000").unwrap_err().contains("at most"));
    }

    #[test]
    fn runs_are_counted_per_name_and_verdict_with_the_median_first_failure() {
        let mut t = Tally::default();
        for (v, ns) in [
            ("PASS", Some(3_000_000)),
            ("PASS", Some(1_000_000)),
            ("FAIL", None),
        ] {
            t.add("naive/-/none/qword", "negative-control", v, ns);
        }
        t.add("int3/gap/ipi/qword", "must-pass", "PASS", None);
        let l = t.line("naive/-/none/qword").unwrap();
        assert_eq!(l.verdicts["PASS"], 2);
        assert_eq!(l.verdicts["FAIL"], 1);
        let table = t.render(3);
        let row = table
            .lines()
            .find(|r| r.starts_with("naive/-/none/qword"))
            .unwrap();
        assert!(
            row.contains("2/3") && row.contains("1/3") && row.contains("0/3"),
            "{row}"
        );
        assert!(row.ends_with(", 2"), "two runs saw a failure: {row}");
        assert!(
            table.lines().nth(1).unwrap().starts_with("naive/"),
            "first seen, first listed:\n{table}"
        );
        assert!(table.lines().nth(2).unwrap().ends_with("  -"), "{table}");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        let s = first_failure(&[4_000, 1_000, 2_000, 3_000]);
        assert!(s.starts_with(&crate::results::render::ns(2_500)), "{s}");
        assert!(s.ends_with(", 4"), "{s}");
        assert_eq!(first_failure(&[]), "-");
    }
}
