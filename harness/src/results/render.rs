//! What people see: the live echo of the serial line and the closing
//! summary.

use crate::{
    judge::controls,
    judge::symbols::Symbols,
    judge::{
        experiment::{ExpJudgement, Verdict},
        Baseline, Facts, Judgement,
    },
    machine::transcript::Line,
    status::Status,
};
use std::io::Write;

/// Prints one line as it arrives: human text as it is, a record as its
/// kind and fields, a damaged line as a note.
pub fn echo(line: &Line) {
    let text = match line {
        Line::Human(t) => format!("  {}", printable(t)),
        Line::Record(r) => format!("  > {}", short(r)),
        Line::Damaged(d) => format!("  ! line {}: damaged record skipped ({})", d.line, d.reason),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Text safe to print on a terminal: firmware and GRUB send escape
/// sequences (clear screen, cursor moves) that would wreck the user's
/// terminal. ANSI escape sequences are dropped, other control characters
/// but tab become `?`, a carriage return is dropped.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ parameters... final byte in '@'..='~'.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                } else {
                    // A two-character escape (ESC c, ESC =, ...).
                    chars.next();
                }
            }
            '\r' => {}
            '\t' => out.push(c),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn short(r: &crate::machine::transcript::Record) -> String {
    // The boot id is the same in every record of a boot: shown once, in
    // the `hello` that starts it.
    let mut s = r.kind.clone();
    for (k, v) in &r.fields {
        if k != report::boot_id::KEY || r.kind == report::kind::HELLO {
            s.push_str(&format!(" {k}={v}"));
        }
    }
    if s.len() > 160 {
        let cut = (0..=160)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(cut);
        s.push_str(" ...");
    }
    s
}

/// Formats a frequency in Hz.
pub fn hz(hz: u64) -> String {
    if hz >= 1_000_000_000 {
        format!("{:.3} GHz", hz as f64 / 1e9)
    } else {
        format!("{:.3} MHz", hz as f64 / 1e6)
    }
}

/// The record kinds that the per-experiment lines stand for: in an
/// experiment run they are not echoed one by one (`serial.log` and
/// `records.jsonl` keep them all).
pub const EXPERIMENT_KINDS: [&str; 4] = [
    report::kind::EXP_BEGIN,
    report::kind::EXP,
    report::kind::FAILURE,
    report::kind::DEADLOCK,
];

/// Whether a line is one of [`EXPERIMENT_KINDS`].
pub fn is_experiment_record(line: &Line) -> bool {
    matches!(line, Line::Record(r) if EXPERIMENT_KINDS.contains(&r.kind.as_str()))
}

/// How wide the name column of the experiment table is (the longest name
/// of the default suite).
pub const NAME_WIDTH: usize = 46;

/// How wide a result line may be on a terminal, unless `COLUMNS` says the
/// terminal is wider.
pub const LINE_WIDTH: usize = 120;

/// How wide a result line may be here: [`LINE_WIDTH`], or `COLUMNS` when
/// that is wider.
pub fn line_width() -> usize {
    width_for(std::env::var("COLUMNS").ok().as_deref())
}

/// [`line_width`] for a value of `COLUMNS`.
pub fn width_for(columns: Option<&str>) -> usize {
    columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .map_or(LINE_WIDTH, |c| c.max(LINE_WIDTH))
}

/// A line for a terminal `width` columns wide: as it is when it fits,
/// else folded at spaces, each further line indented to where the line's
/// value begins: after its label's padding (`machine   AuthenticAMD ...`
/// goes on under `AuthenticAMD`), else after its first word (`  why: ...`
/// under the reason). A word wider than the room left stays whole.
pub fn fold(line: &str, width: usize) -> Vec<String> {
    if line.chars().count() <= width {
        return vec![line.to_string()];
    }
    let lead = line.len() - line.trim_start().len();
    let body = &line[lead..];
    let value = body
        .find("  ")
        .or_else(|| body.find(' '))
        .map(|i| i + body[i..].len() - body[i..].trim_start().len());
    let indent = match value {
        Some(v) if (lead + v) * 2 <= width => lead + v,
        _ => lead + 2,
    };
    let (head, tail) = if indent <= line.len() && line.is_char_boundary(indent) {
        line.split_at(indent)
    } else {
        (line, "")
    };
    let mut out = Vec::new();
    let mut cur = head.to_string();
    let mut empty = true;
    // Each word with the spaces before it, kept as they were on a line
    // that does not break there.
    let mut rest = tail;
    while !rest.is_empty() {
        let gap = rest.len() - rest.trim_start().len();
        let word_end = rest[gap..].find(' ').map_or(rest.len(), |i| gap + i);
        let (sep, word) = (&rest[..gap], &rest[gap..word_end]);
        rest = &rest[word_end..];
        if word.is_empty() {
            break;
        }
        if !empty && cur.chars().count() + sep.len() + word.chars().count() > width {
            out.push(std::mem::replace(&mut cur, " ".repeat(indent)));
            empty = true;
        }
        if !empty {
            cur.push_str(sep);
        }
        cur.push_str(word);
        empty = false;
    }
    out.push(cur);
    out
}

/// The line above a boot's results on a terminal: where they were seen
/// (the result lines leave it to this line; saved ones carry it each) and
/// what the columns are.
pub fn results_header(boot: &str, tag: &str) -> String {
    let boot = if boot.is_empty() {
        String::new()
    } else {
        format!("boot {boot} ")
    };
    format!("--- {boot}on {tag}: verdict, name, expectation, outcome, patches, calls, #BP hits, failures")
}

/// How many failure records are shown under a result.
pub const FAILURES_SHOWN: usize = 3;

/// Nanoseconds for people: `12.345 ms`.
pub fn ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.3} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} us", ns as f64 / 1e3)
    }
}

/// One experiment's result for people, as saved (`experiments.txt`):
/// the result line (verdict, name, expectation, the kernel's outcome,
/// patches, calls, #BP hits, failures, where it was seen), then indented
/// details: why it failed or is a known failure, its first failure records,
/// stuck CPUs, when a control was caught; and for `observe`, a litmus7
/// `Observation` line. `index` is `(n, of)` for a `[ n/of]` prefix.
pub fn experiment_lines(j: &ExpJudgement, index: Option<(usize, usize)>) -> Vec<String> {
    lines(j, index, None)
}

/// The same for a terminal: the result line without where it was seen
/// (the [`results_header`] above says it) and at most `width` characters
/// wide (its columns close up when padded ones would not fit); the details
/// under it [`fold`]ed to `width`.
pub fn terminal_lines(
    j: &ExpJudgement,
    index: Option<(usize, usize)>,
    width: usize,
) -> Vec<String> {
    let mut v = lines(j, index, Some(width)).into_iter();
    let first = v.next();
    first
        .into_iter()
        .chain(v.flat_map(|l| fold(&l, width)))
        .collect()
}

/// The result line's columns: padded to line up, or closed up to one
/// space each.
fn result_line(prefix: &str, j: &ExpJudgement, padded: bool) -> String {
    let w = |n: usize| if padded { n } else { 0 };
    let head = format!(
        "{prefix}{:<5} {:<nw$} {:<ew$} {:<ow$}",
        j.verdict.word(),
        j.name,
        j.expectation,
        j.outcome,
        nw = w(NAME_WIDTH),
        ew = w(16),
        ow = w(8),
    );
    if j.verdict == Verdict::Skip {
        return head.trim_end().to_string();
    }
    format!(
        "{head} {:>pw$} {:>cw$} {:>bw$} {:>fw$}",
        j.n("patches"),
        j.n("calls"),
        j.n("bp_hits"),
        j.n("failures"),
        pw = w(5),
        cw = w(9),
        bw = w(8),
        fw = w(6),
    )
}

/// [`experiment_lines`] (`width` none: each result line says where it was
/// seen) or [`terminal_lines`].
fn lines(j: &ExpJudgement, index: Option<(usize, usize)>, width: Option<usize>) -> Vec<String> {
    let prefix = match index {
        Some((i, n)) => {
            let w = n.to_string().len();
            format!("[{i:>w$}/{n}] ")
        }
        None => String::new(),
    };
    let pad = " ".repeat(prefix.len() + 6);
    let mut v = Vec::new();
    let fits = |l: &String| width.is_none_or(|w| l.chars().count() <= w);
    let mut line = result_line(&prefix, j, true);
    if !fits(&line) {
        line = result_line(&prefix, j, false);
    }
    let tag = format!("  [{}]", j.seen.tag());
    if j.verdict == Verdict::Skip {
        let reason = j.reasons.first().map_or("no reason", String::as_str);
        let with_reason = format!("{line} ({reason})");
        match width {
            None => v.push(format!("{with_reason}{tag}")),
            Some(_) if fits(&with_reason) => v.push(with_reason),
            Some(_) => {
                v.push(line);
                v.push(format!("{pad}why: {reason}"));
            }
        }
        return v;
    }
    v.push(if width.is_none() { line + &tag } else { line });
    if let Some(o) = &j.observation {
        v.push(format!("{}{tag}", o.line(&j.name)));
    }
    if let Some(k) = &j.known {
        v.push(format!("{pad}kfail: {k}"));
    }
    for r in &j.reasons {
        v.push(format!("{pad}why: {r}"));
    }
    if j.verdict != Verdict::Pass || j.expectation != "negative-control" {
        for f in j.failures.iter().take(FAILURES_SHOWN) {
            v.push(format!("{pad}failure: {f}"));
        }
        let more = j.failures.len().saturating_sub(FAILURES_SHOWN);
        if more > 0 {
            v.push(format!("{pad}... {more} more failure record(s)"));
        }
    }
    if let Some(c) = &j.caught {
        let when =
            c.ns.map_or("at an unknown time".into(), |t| format!("after {}", ns(t)));
        let patches = c.patches.map_or(String::new(), |p| {
            format!(", {p} patch(es) completed before it")
        });
        let first = j
            .failures
            .first()
            .map_or(String::new(), |f| format!(" (first: {f})"));
        v.push(format!("{pad}caught {when}{patches}{first}"));
    }
    for s in &j.stuck {
        v.push(format!(
            "{pad}deadlock: cpu {} stuck at {}",
            s.cpu.map_or("?".into(), |c| c.to_string()),
            s.at
        ));
    }
    for n in &j.notes {
        v.push(format!("{pad}note: {n}"));
    }
    if j.boot != "shared" && !j.boot.is_empty() {
        v.push(format!("{pad}boot: {} (exp={})", j.boot, j.name));
    }
    v
}

/// The baseline of a boot for people.
pub fn baseline(b: &Baseline, tsc_hz: Option<u64>) -> String {
    let cyc = |c: Option<u64>| match (c, tsc_hz) {
        (Some(c), Some(hz)) if hz > 0 => {
            format!(
                "{c} cycles ({})",
                ns((c as u128 * 1_000_000_000 / hz as u128) as u64)
            )
        }
        (Some(c), _) => format!("{c} cycles"),
        (None, _) => "?".into(),
    };
    format!(
        "direct calls {}/s per AP, checked calls {}/s per AP; one sync round: ipi {}, cpumask {}",
        b.direct_calls_per_s.map_or("?".into(), |n| n.to_string()),
        b.checked_calls_per_s.map_or("?".into(), |n| n.to_string()),
        cyc(b.ipi_sync_cycles),
        cyc(b.cpumask_sync_cycles)
    )
}

/// The closing summary, one fact a line.
pub struct Summary<'a> {
    /// What the kernel said.
    pub facts: &'a Facts,
    /// The judgement.
    pub judgement: &'a Judgement,
    /// Where it ran (`tcg (thread=multi): why`, `serial /dev/ttyUSB0`, ...).
    pub place: &'a str,
    /// CPUs requested, if known.
    pub smp: Option<u32>,
    /// For fault names.
    pub symbols: Option<&'a Symbols>,
    /// Wall time, seconds.
    pub wall: Option<f64>,
    /// Evidence directory.
    pub evidence: Option<&'a std::path::Path>,
}

impl Summary<'_> {
    /// The lines.
    pub fn lines(&self) -> Vec<String> {
        let f = self.facts;
        let j = self.judgement;
        let mut v = Vec::new();
        let mut row = |k: &str, t: String| v.push(format!("{k:<9} {t}"));
        row("where", self.place.to_string());
        match &f.machine {
            Some(m) => row("machine", m.line()),
            None => row("machine", "(no machine record)".into()),
        }
        if let Some(b) = &f.boot {
            row(
                "boot",
                format!(
                    "{b}, cmdline \"{}\"",
                    f.cmdline.as_deref().unwrap_or_default()
                ),
            );
        }
        match (f.tsc_hz, &f.tsc_source) {
            (Some(h), s) => {
                let s = s.as_deref().unwrap_or("?");
                let others: Vec<String> = f
                    .tsc_numbers()
                    .filter(|&(n, _)| n != s)
                    .map(|(n, x)| format!("{n} {}", hz(x)))
                    .collect();
                let missing: Vec<String> = f
                    .tsc_figures
                    .iter()
                    .filter(|(_, v)| report::parse_num(v).is_none())
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect();
                let mut t = format!("{} from {s}", hz(h));
                if !others.is_empty() {
                    t += &format!("; {}", others.join(", "));
                }
                if !missing.is_empty() {
                    t += &format!("; {}", missing.join(", "));
                }
                if let Some(k) = &f.tsc_skewed {
                    t += &format!(" ({k} skewed on purpose)");
                }
                row("tsc", t)
            }
            (None, _) => row("tsc", "(no tsc record)".into()),
        }
        let req = self
            .smp
            .map_or(String::new(), |n| format!(" ({n} requested)"));
        let census = f.cpus_census.as_ref().map_or(String::new(), |c| {
            let mut t = format!(", {} in MADT", c.listed);
            if let Some(n) = c.online_capable.filter(|&n| n > 0) {
                t += &format!(" (+{n} online-capable)");
            }
            if let Some(l) = c.limit {
                t += &format!(", cpus={l}");
            }
            t
        });
        match (f.cpus_up, f.cpus_expected) {
            (Some(u), Some(e)) => row("cpus", format!("{u} of {e} up{census}{req}")),
            _ => row("cpus", format!("(no cpus record){req}")),
        }
        for s in f
            .cpu_states
            .iter()
            .filter(|s| !["bsp", "up"].contains(&s.state.as_str()))
        {
            row(
                "cpu",
                format!(
                    "cpu {} (apic {}) did not come up ({})",
                    s.cpu.map_or("?".into(), |c| c.to_string()),
                    s.apic.map_or("?".into(), |c| c.to_string()),
                    s.state
                ),
            );
        }
        for c in &f.checks {
            let detail = c
                .detail
                .as_deref()
                .filter(|d| !d.is_empty() && *d != "-")
                .map_or(String::new(), |d| format!(" ({d})"));
            row("check", format!("{:<4} {}{detail}", c.result, c.name));
        }
        for flt in &f.faults {
            let err = flt.err.as_deref().unwrap_or("none");
            let name = match (flt.vector.and_then(controls::vector_name), &flt.name) {
                (None, Some(n)) => format!(" [{n}]"),
                _ => String::new(),
            };
            row(
                "fault",
                format!("{}{name}, err {err}", flt.describe(self.symbols)),
            );
        }
        for p in &f.panics {
            row(
                "panic",
                format!(
                    "cpu {}: {} at {}",
                    p.cpu.map_or("?".into(), |c| c.to_string()),
                    p.msg,
                    p.at
                ),
            );
        }
        if let Some(b) = &f.baseline {
            row("baseline", baseline(b, f.tsc_hz));
        }
        let a = &f.accounting;
        row(
            "records",
            format!(
                "{} believed, {} damaged line(s), {} lost{}",
                a.seen,
                a.damaged,
                a.lost_before_end.unwrap_or(a.missing_in_gaps()),
                if f.end.is_some() {
                    ""
                } else {
                    " (no end record)"
                }
            ),
        );
        if let Some(c) = &j.control {
            row("control", c.text.clone());
        }
        for n in &j.notes {
            row("note", n.clone());
        }
        for r in &j.reasons {
            row("why", r.clone());
        }
        row(
            "verdict",
            format!(
                "kernel says {}; expectation {}: {}",
                j.kernel_verdict
                    .as_deref()
                    .unwrap_or("nothing (no end record)"),
                j.expectation,
                if j.met { "MET" } else { "NOT MET" }
            ),
        );
        if let Some(w) = self.wall {
            row("wall", format!("{w:.1} s"));
        }
        let status = if j.met && j.status == Status::Unmet && j.control.is_some() {
            format!(
                "{} (by design: a negative control makes the kernel fail; the harness caught it)",
                j.status.code()
            )
        } else {
            format!("{} ({})", j.status.code(), j.status.word())
        };
        row("status", status);
        if let Some(d) = self.evidence {
            row("evidence", d.display().to_string());
        }
        v
    }

    /// Prints the lines to stdout.
    pub fn print(&self) {
        self.print_unless_quiet(false);
    }

    /// [`Summary::print`], but with `quiet` only a platform that was not
    /// met is shown whole; a met one leaves its verdict and evidence lines.
    pub fn print_unless_quiet(&self, quiet: bool) {
        if quiet && self.judgement.met {
            for l in self
                .lines()
                .iter()
                .filter(|l| l.starts_with("verdict ") || l.starts_with("evidence "))
            {
                println!("{l}");
            }
            return;
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "--- summary ---");
        let colour = crate::results::paint::enabled();
        let width = line_width();
        for l in self.lines().iter().flat_map(|l| fold(l, width)) {
            let _ = writeln!(out, "{}", crate::results::paint::verdicts(&l, colour));
        }
        let _ = out.flush();
    }
}

/// Prints a line for people on standard output, folded to the terminal's
/// [`line_width`].
pub fn println_folded(line: &str) {
    for l in fold(line, line_width()) {
        println!("{l}");
    }
}

/// The tally of a boot's experiments and the verdict line, when it ran
/// any (`parse`, `watch`, `run` of an ISO).
pub fn print_tally(exps: &[ExpJudgement], status: Status) {
    if exps.is_empty() {
        return;
    }
    let t = crate::judge::experiment::Tally::of(exps);
    println!("{}", t.line());
    let verdict = format!(
        "verdict: {} (status {}: {})",
        match status.own_verdict() {
            Some(own) => own,
            None if status == Status::Pass => "PASS",
            None => "FAIL",
        },
        status.code(),
        status.word()
    );
    println!("{}", crate::results::paint::line(&verdict));
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_long_summary_line_folds_under_its_value_within_the_width() {
        let line = format!("machine   {}", "word ".repeat(40).trim_end());
        let lines = fold(&line, 60);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| l.chars().count() <= 60), "{lines:?}");
        assert!(lines[0].starts_with("machine   word"), "{lines:?}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("          word")),
            "{lines:?}"
        );
        let words = |ls: &[String]| {
            ls.iter()
                .flat_map(|l| l.split_whitespace().map(String::from))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words(&lines),
            words(std::slice::from_ref(&line)),
            "a word was lost or split"
        );
    }

    #[test]
    fn a_detail_line_folds_under_the_word_after_its_first() {
        let line = format!(
            "              caught after 56.002 ms {}",
            "x=1 ".repeat(40).trim_end()
        );
        let lines = fold(&line, 80);
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{lines:?}");
        assert!(
            lines[1].starts_with(&format!("{}x=1", " ".repeat(21))),
            "{lines:?}"
        );
    }

    #[test]
    fn a_line_that_fits_or_a_word_wider_than_the_room_stays_whole() {
        assert_eq!(fold("check     pass bp", 120), vec!["check     pass bp"]);
        let long = format!("evidence  {}", "/x".repeat(80));
        assert_eq!(fold(&long, 60), vec![long.clone()]);
    }
    use super::*;
    use crate::judge::seen::{Via, Where};
    use crate::machine::{qemu::Accel, qemu_info::QemuVersion};

    /// The result of `name` under TCG of QEMU 7.2.22, with counters
    /// of the README's annotated run.
    fn result(name: &str, expectation: &str, outcome: &str) -> ExpJudgement {
        let seen = Where::new(None, Via::Qemu, Some(Accel::Tcg)).with_qemu(Some(QemuVersion {
            major: 7,
            minor: 2,
            micro: 22,
        }));
        let ctx = crate::judge::experiment::Context {
            seen: &seen,
            symbols: None,
            nobp_why: None,
        };
        let e = plan::experiment::find(name).expect("a registry experiment");
        let mut j = crate::judge::experiment::never_ran(e, "not at all", &ctx);
        j.expectation = expectation.into();
        j.verdict = Verdict::Pass;
        j.outcome = outcome.into();
        j.reasons.clear();
        for (k, v) in [
            ("patches", 14),
            ("calls", 1_786_944),
            ("bp_hits", 34_579),
            ("failures", 0),
        ] {
            j.counters.insert(k.into(), v);
        }
        j.boot = "shared".into();
        j
    }

    /// The longest name of the registry.
    fn longest_name() -> String {
        plan::experiment::matching("*")
            .map(|e| e.name().to_string())
            .max_by_key(|n| n.len())
            .expect("the registry has experiments")
    }

    #[test]
    fn a_result_line_of_the_longest_name_in_a_run_of_the_whole_registry_fits_120_columns() {
        let total = plan::experiment::matching("*").count();
        let j = result(&longest_name(), "negative-control", "observed");
        let lines = terminal_lines(&j, Some((total, total)), LINE_WIDTH);
        assert!(
            lines[0].chars().count() <= LINE_WIDTH,
            "{} columns: {}",
            lines[0].chars().count(),
            lines[0]
        );
        assert!(
            lines[0].contains("14   1786944    34579      0"),
            "{}",
            lines[0]
        );
    }

    #[test]
    fn the_terminal_line_leaves_where_to_the_header_and_the_saved_line_says_it() {
        let j = result("int3/gap/ipi/qword/timer", "must-pass", "pass");
        let terminal = terminal_lines(&j, Some((5, 134)), LINE_WIDTH);
        let saved = experiment_lines(&j, Some((5, 134)));
        assert!(!terminal[0].contains("tcg"), "{}", terminal[0]);
        assert!(saved[0].ends_with("  [tcg 7.2.22]"), "{}", saved[0]);
        assert_eq!(saved[0], format!("{}  [tcg 7.2.22]", terminal[0]));
        assert_eq!(
            results_header(&j.boot, &j.seen.tag()),
            "--- boot shared on tcg 7.2.22: verdict, name, expectation, outcome, patches, calls, #BP hits, failures"
        );
    }

    #[test]
    fn a_result_line_too_wide_for_the_terminal_closes_up_its_columns() {
        let mut j = result("int3/gap/ipi/qword/timer", "must-pass", "pass");
        j.counters.insert("calls".into(), u64::MAX);
        j.counters.insert("bp_hits".into(), u64::MAX);
        let padded = terminal_lines(&j, Some((5, 134)), 1000);
        let closed = terminal_lines(&j, Some((5, 134)), LINE_WIDTH);
        assert!(padded[0].len() > LINE_WIDTH, "{}", padded[0]);
        assert!(closed[0].len() <= LINE_WIDTH, "{}", closed[0]);
        assert!(
            closed[0].starts_with("[  5/134] PASS  int3/gap/ipi/qword/timer must-pass pass 14 "),
            "{}",
            closed[0]
        );
    }

    #[test]
    fn a_skip_reason_too_long_for_the_line_goes_on_a_why_line() {
        let mut j = result("int3/gap/ipi/qword/timer", "must-pass", "skip");
        j.verdict = Verdict::Skip;
        j.reasons = vec!["r".repeat(80)];
        let lines = terminal_lines(&j, Some((5, 134)), LINE_WIDTH);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines.iter().all(|l| l.len() <= LINE_WIDTH), "{lines:?}");
        assert_eq!(lines[1].trim_start(), format!("why: {}", "r".repeat(80)));
        j.reasons = vec!["own-boot".into()];
        let short = terminal_lines(&j, Some((5, 134)), LINE_WIDTH);
        assert_eq!(short.len(), 1, "{short:?}");
        assert!(short[0].ends_with("skip (own-boot)"), "{}", short[0]);
    }

    #[test]
    fn columns_wider_than_120_widen_the_line_and_narrower_or_garbage_do_not() {
        assert_eq!(width_for(None), 120);
        assert_eq!(width_for(Some("200")), 200);
        assert_eq!(width_for(Some("80")), 120);
        assert_eq!(width_for(Some("wide")), 120);
    }

    #[test]
    fn escape_sequences_from_firmware_are_not_echoed() {
        assert_eq!(
            printable("\u{1b}[H\u{1b}[J\u{1b}[1;1H  Booting `static-call'\r"),
            "  Booting `static-call'"
        );
        assert_eq!(printable("a\u{7}b\u{0}c\td"), "a?b?c\td");
    }
}
