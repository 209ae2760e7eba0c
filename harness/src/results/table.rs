//! The table of experiments as it is printed, one line per experiment as
//! its `exp` record arrives, and the line of each that did not pass.

use crate::{
    judge::symbols::Symbols,
    judge::{
        experiment::{self as xj, ExpJudgement, Verdict},
        seen::{Via, Where},
        Facts,
    },
    machine::qemu::Accel,
    machine::qemu_info::QemuVersion,
    machine::transcript::Line,
    results::render,
};
use std::{borrow::Cow, collections::HashSet, io::Write};

/// Whether to print as it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    /// The serial line (without the experiment records, which the table
    /// stands for), one table line per experiment as its `exp` record
    /// arrives, and the summary.
    Live,
    /// Nothing (a matrix row prints its own line).
    Quiet,
}

/// The per-experiment table: numbered lines, printed for a terminal (each
/// boot's results under a header that says where they were seen) and kept
/// for `experiments.txt` (each result line saying where it was seen).
#[derive(Debug, Default)]
pub struct Table {
    /// Rows shown so far.
    pub shown: usize,
    /// Rows expected in all.
    pub total: usize,
    /// Whether to print (else only keep).
    pub print: bool,
    /// How wide a printed result line may be ([`render::line_width`]).
    pub width: usize,
    /// The header printed last, if any in this boot.
    header: Option<String>,
    /// Every line kept.
    pub text: Vec<String>,
}

impl Table {
    /// A table of `total` rows.
    pub fn new(total: usize, print: bool) -> Table {
        Table {
            total,
            print,
            width: render::line_width(),
            ..Table::default()
        }
    }

    /// A new boot begins: its first result gets a header of its own.
    pub fn begin_boot(&mut self) {
        self.header = None;
    }

    /// Shows one result, under a header when it is the boot's first or was
    /// seen elsewhere than the one before.
    pub fn show(&mut self, j: &ExpJudgement) {
        self.shown += 1;
        let index = Some((self.shown, self.total.max(self.shown)));
        let header = render::results_header(&j.boot, &j.seen.tag());
        let new_header = self.header.as_ref() != Some(&header);
        if self.print {
            let mut out = std::io::stdout().lock();
            if new_header {
                for l in render::fold(&header, self.width) {
                    let _ = writeln!(out, "{l}");
                }
            }
            let colour = crate::results::paint::enabled();
            for l in render::terminal_lines(j, index, self.width) {
                let _ = writeln!(out, "{}", crate::results::paint::verdicts(&l, colour));
            }
            let _ = out.flush();
        }
        if new_header {
            self.text.push(header.clone());
            self.header = Some(header);
        }
        self.text.extend(render::experiment_lines(j, index));
    }
}

/// Follows one boot's lines: echoes what is not an experiment record,
/// and judges and shows each experiment as its `exp` record arrives.
pub struct Live<'a> {
    /// The emulator the harness launched, when not QEMU.
    emulator: Option<String>,
    facts: Facts,
    accel: Option<Accel>,
    qemu: Option<QemuVersion>,
    via: Via,
    /// Borrowed from the caller, or found once the `hello` record named
    /// the kernel's build id ([`Live::use_symbols`]).
    symbols: Option<Cow<'a, Symbols>>,
    nobp_why: Option<&'a str>,
    echo: bool,
    /// Own-boot experiments are left to their own boots (a shared boot).
    defer_own_boot: bool,
    role: &'a str,
    /// `(name, line)` of the results shown.
    pub shown: HashSet<(String, usize)>,
    /// Where the lines go.
    pub table: &'a mut Table,
}

impl<'a> Live<'a> {
    /// A follower for one boot.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        table: &'a mut Table,
        accel: Option<Accel>,
        via: Via,
        symbols: Option<&'a Symbols>,
        nobp_why: Option<&'a str>,
        echo: bool,
        defer_own_boot: bool,
        role: &'a str,
    ) -> Live<'a> {
        table.begin_boot();
        Live {
            facts: Facts::default(),
            accel,
            qemu: None,
            via,
            symbols: symbols.map(Cow::Borrowed),
            nobp_why,
            echo,
            defer_own_boot,
            role,
            shown: HashSet::new(),
            table,
            emulator: None,
        }
    }

    /// The same, judging on the emulator `label` the harness launched.
    pub fn on_emulator(mut self, label: String) -> Live<'a> {
        self.emulator = Some(label);
        self
    }

    /// The QEMU version that runs the kernel (part of where each result
    /// was seen).
    pub fn with_qemu(self, qemu: Option<QemuVersion>) -> Live<'a> {
        Live { qemu, ..self }
    }

    /// Names what follows with `symbols` (a watched machine's kernel ELF,
    /// found by the build id of its `hello` record).
    pub fn use_symbols(&mut self, symbols: Symbols) {
        self.symbols = Some(Cow::Owned(symbols));
    }

    /// Takes one line.
    pub fn line(&mut self, line: &Line) {
        if self.echo && !render::is_experiment_record(line) {
            render::echo(line);
        }
        let Line::Record(r) = line else { return };
        self.facts.absorb(r);
        if r.kind == report::kind::HELLO && self.table.total == 0 {
            // A watched machine: the table's size from its command line.
            if let Some((p, _)) = self.facts.exp_pattern() {
                self.table.total = plan::experiment::matching(&p).count();
            }
        }
        if r.kind != report::kind::EXP {
            return;
        }
        let Some(f) = self
            .facts
            .experiments
            .iter()
            .rev()
            .find(|e| e.result.as_ref().is_some_and(|x| x.line == r.line))
        else {
            return;
        };
        let registry = plan::experiment::find(&f.name);
        let result = f.result.as_ref();
        if self.defer_own_boot
            && registry.is_some_and(|e| e.own_boot)
            && result
                .is_some_and(|x| x.outcome == "skip" && x.reason.as_deref() == Some("own-boot"))
        {
            return;
        }
        let seen = Where::new(self.facts.machine.as_ref(), self.via, self.accel)
            .with_qemu(self.qemu)
            .with_emulator(self.emulator.as_deref());
        let ctx = xj::Context {
            seen: &seen,
            symbols: self.symbols.as_deref(),
            nobp_why: self.nobp_why,
        };
        let mut j = xj::judge_one(registry, f, &ctx);
        j.boot = self.role.to_string();
        self.shown.insert((j.name.clone(), r.line));
        self.table.show(&j);
    }

    /// Shows the results of the final judgement that were not shown live
    /// (experiments that never reported, or were not selected).
    pub fn show_rest(&mut self, js: &[ExpJudgement]) {
        for j in js {
            if !j
                .line
                .is_some_and(|l| self.shown.contains(&(j.name.clone(), l)))
            {
                self.table.show(j);
            }
        }
    }
}

/// The summary line of an experiment that did not pass: `known KFAIL name
/// [where]: first reason` or `not met FAIL ...`.
pub fn not_passed_line(j: &ExpJudgement) -> String {
    format!(
        "{:<9} {:<5} {} [{}]: {}",
        if j.verdict == Verdict::Kfail {
            "known"
        } else {
            "not met"
        },
        j.verdict.word(),
        j.name,
        j.seen.tag(),
        j.reasons.first().map_or("", String::as_str)
    )
}
