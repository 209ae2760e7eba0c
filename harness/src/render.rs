//! What people see: the live echo of the serial line and the closing
//! summary.

use crate::{
    controls,
    judge::{Facts, Judgement},
    status::Status,
    symbols::Symbols,
    transcript::Line,
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

fn short(r: &crate::transcript::Record) -> String {
    let mut s = r.brief();
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
            (Some(h), s) => row(
                "tsc",
                format!("{} from {}", hz(h), s.as_deref().unwrap_or("?")),
            ),
            (None, _) => row("tsc", "(no tsc record)".into()),
        }
        let req = self
            .smp
            .map_or(String::new(), |n| format!(" ({n} requested)"));
        match (f.cpus_up, f.cpus_expected) {
            (Some(u), Some(e)) => row("cpus", format!("{u} of {e} up{req}")),
            _ => row("cpus", format!("(no cpus record){req}")),
        }
        for s in f.cpu_states.iter().filter(|s| s.state == "timeout") {
            row(
                "cpu",
                format!(
                    "cpu {} (apic {}) did not come up",
                    s.cpu.map_or("?".into(), |c| c.to_string()),
                    s.apic.map_or("?".into(), |c| c.to_string())
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
        let status = if j.met && j.status == Status::Unmet {
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
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "--- summary ---");
        for l in self.lines() {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_from_firmware_are_not_echoed() {
        assert_eq!(
            printable("\u{1b}[H\u{1b}[J\u{1b}[1;1H  Booting `static-call'\r"),
            "  Booting `static-call'"
        );
        assert_eq!(printable("a\u{7}b\u{0}c\td"), "a?b?c\td");
    }
}
