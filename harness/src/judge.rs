//! Judging a transcript against an expectation. Pure: no I/O, no clock.
//!
//! Two steps:
//!
//! 1. [`Facts::from_transcript`] reads the believed records into what the
//!    kernel said (machine, TSC, CPUs, checks, faults, panics, the control
//!    it ran, its end record) and does the bookkeeping of lost records:
//!    gaps in the sequence numbers and damaged lines. Record kinds this
//!    harness does not know are counted and otherwise skipped, as the wire
//!    format's forward-compatibility promise asks.
//! 2. [`judge`] holds the facts, and how the run ended ([`Ending`]), against
//!    an [`Expectation`] and gives a [`Judgement`]: met or not, every reason
//!    why not, and the exit [`Status`]. This is the *platform* judgement:
//!    boot, CPUs, self-checks, the end record.
//! 3. [`experiment`] judges each torture experiment the boot ran, from its
//!    own records, against the registry's expectation for it.
//!
//! The rules, in short: a run *passes* only with a believed `end` record
//! saying `verdict=pass`, no fault, no panic, no failed check, every CPU up
//! (as many as the `cpus` record expects and as were requested), and every
//! record before the end accounted for: a record lost in a gap or a damaged
//! line could have been a fault, so a pass is never inferred past it. A
//! *negative control* is caught only when a fault with the expected vector
//! arrives from the expected CPU with RIP at the expected ELF symbol, and
//! the kernel's verdict is `fail`.
//!
//! What judging reads besides the transcript lives here too: the kernel
//! ELF's symbols ([`symbols`]), which ELF a log came from ([`build_id`]),
//! the negative controls' table ([`controls`]), and the statistics of
//! timings ([`stats`]).

use crate::{
    judge::{controls::ControlCpu, symbols::Symbols},
    status::Status,
};
use serde::Serialize;

/// What a run is expected to do.
///
/// Today one expectation covers a whole run. Experiments will each carry
/// their own (`observe` among them) in records of their own; those become
/// new variants here and new record kinds in [`Facts`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Expectation {
    /// The kernel must pass with every CPU up.
    MustPass,
    /// The kernel must fail exactly as a negative control says.
    NegativeControl(FaultControl),
    /// The run must hang until the deadline: no end record, no fault. With
    /// `control`, the kernel must have announced that control first.
    ExpectDeadlock {
        /// The control that causes the hang, if any.
        control: Option<String>,
    },
    /// A negative control of the clock (`tsc=skew`): the TSC's figures
    /// must disagree ([`report::clock`]), the kernel's `clock` check must
    /// fail, and the boot must be healthy otherwise.
    ClockFail,
}

/// A negative control that must end in a known fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultControl {
    /// The control's name (`control=NAME`).
    pub name: String,
    /// The exception vector expected.
    pub vector: u8,
    /// The CPU expected.
    #[serde(skip)]
    pub cpu: ControlCpu,
    /// The symbol RIP must equal.
    pub symbol: String,
}

impl Expectation {
    /// The expectation that the kernel's control `name` implies.
    pub fn for_control(name: &str) -> Option<Expectation> {
        let c = controls::find(name)?;
        Some(match c.effect {
            controls::ControlEffect::Fault {
                vector,
                cpu,
                symbol,
            } => Expectation::NegativeControl(FaultControl {
                name: c.name.to_string(),
                vector,
                cpu,
                symbol: symbol.to_string(),
            }),
            controls::ControlEffect::Hang => Expectation::ExpectDeadlock {
                control: Some(c.name.to_string()),
            },
        })
    }

    /// A short label: `must-pass`, `negative-control ud2-ap`, ...
    pub fn label(&self) -> String {
        match self {
            Expectation::MustPass => "must-pass".into(),
            Expectation::NegativeControl(c) => format!("negative-control {}", c.name),
            Expectation::ExpectDeadlock { control: Some(c) } => {
                format!("expect-deadlock (control {c})")
            }
            Expectation::ExpectDeadlock { control: None } => "expect-deadlock".into(),
            Expectation::ClockFail => "negative-control clock".into(),
        }
    }
}

/// How the transcript ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Ending {
    /// QEMU exited on its own with this status (`None`: killed by a signal
    /// not sent by the harness).
    QemuExited {
        /// The process exit status.
        status: Option<i32>,
    },
    /// QEMU did not exit after the end record (the kernel did not write to
    /// `isa-debug-exit`) and the harness killed it.
    QemuLingered,
    /// The transcript just stops: a saved log, or a serial port read up to
    /// the end record.
    Stopped,
    /// The deadline fired and the harness killed the machine.
    Timeout {
        /// The deadline, in seconds.
        secs: f64,
    },
    /// Not the kernel's doing: the environment failed.
    Environment {
        /// What failed.
        why: String,
    },
    /// The harness was stopped by a signal (Ctrl-C, SIGTERM).
    Interrupted,
}

/// What the judge knows beyond the transcript.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// How many CPUs were requested (`-smp`), if known.
    pub smp: Option<u32>,
    /// How the transcript ended.
    pub ending: &'a Ending,
    /// The booted kernel's symbols, if known.
    pub symbols: Option<&'a Symbols>,
}

mod facts;
pub use facts::*;

pub mod build_id;
pub mod controls;
pub mod experiment;
pub mod known;
pub mod seen;
pub mod stats;
pub mod symbols;

/// Whether a negative control was caught, for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlReport {
    /// Caught?
    pub caught: bool,
    /// `negative control caught: #UD on cpu 1 at control_ud2 (0x...)` or
    /// `negative control NOT caught: ...`.
    pub text: String,
}

/// The judge's answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    /// The expectation, as a label.
    pub expectation: String,
    /// Whether it was met.
    pub met: bool,
    /// Why not (empty when met).
    pub reasons: Vec<String>,
    /// What is worth saying even when met.
    pub notes: Vec<String>,
    /// For negative controls: caught or not.
    pub control: Option<ControlReport>,
    /// The kernel's own verdict, if an end record arrived.
    pub kernel_verdict: Option<String>,
    /// The exit status of a single run (`run`, `parse`, `watch`).
    pub status: Status,
}

/// Judges `facts` against `exp`.
pub fn judge(facts: &Facts, exp: &Expectation, ctx: &Context<'_>) -> Judgement {
    let mut j = Judgement {
        expectation: exp.label(),
        met: false,
        reasons: Vec::new(),
        notes: Vec::new(),
        control: None,
        kernel_verdict: facts.end.as_ref().map(|e| e.verdict.clone()),
        status: Status::Unmet,
    };
    notes_on_damage(facts, &mut j);
    match ctx.ending {
        Ending::Environment { why } => j.reasons.push(format!("environment failure: {why}")),
        Ending::Interrupted => j.reasons.push("interrupted before the run ended".into()),
        _ => {}
    }
    match exp {
        Expectation::MustPass => must_pass(facts, ctx, &mut j, false),
        Expectation::ClockFail => clock_fail(facts, ctx, &mut j),
        Expectation::NegativeControl(c) => negative_control(facts, c, ctx, &mut j),
        Expectation::ExpectDeadlock { control } => deadlock(facts, control.as_deref(), ctx, &mut j),
    }
    j.met = j.reasons.is_empty();
    j.status = match (ctx.ending, exp) {
        (Ending::Interrupted, _) => Status::Interrupted,
        (Ending::Environment { .. }, _) => Status::BadInput,
        (Ending::Timeout { .. }, _) => Status::Timeout,
        (_, Expectation::MustPass | Expectation::ExpectDeadlock { control: None }) => {
            if j.met {
                Status::Pass
            } else {
                Status::Unmet
            }
        }
        // A control makes the kernel fail (or hang) on purpose: a single
        // run of it never exits 0. `matrix` counts it a pass when `met`.
        (
            _,
            Expectation::NegativeControl(_)
            | Expectation::ExpectDeadlock { .. }
            | Expectation::ClockFail,
        ) => Status::Unmet,
    };
    j
}

fn notes_on_damage(f: &Facts, j: &mut Judgement) {
    let a = &f.accounting;
    if a.damaged > 0 {
        j.notes.push(format!(
            "{} damaged record line(s) counted and skipped (first at line {}: {})",
            a.damaged, f.damaged[0].line, f.damaged[0].reason
        ));
    }
    if !a.gaps.is_empty() {
        let list: Vec<String> = a
            .gaps
            .iter()
            .take(5)
            .map(|&(x, y)| {
                if x == y {
                    format!("{x}")
                } else {
                    format!("{x}-{y}")
                }
            })
            .collect();
        j.notes.push(format!(
            "{} record(s) missing in sequence gaps (seq {}{})",
            a.missing_in_gaps(),
            list.join(", "),
            if a.gaps.len() > 5 { ", ..." } else { "" }
        ));
    }
    if a.out_of_order > 0 {
        j.notes.push(format!(
            "{} record(s) out of order, ignored",
            a.out_of_order
        ));
    }
    if !f.unknown_kinds.is_empty() {
        let kinds: Vec<String> = f
            .unknown_kinds
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        j.notes.push(format!(
            "record kinds this harness does not know, skipped: {}",
            kinds.join(", ")
        ));
    }
}

fn describe_stop(f: &Facts) -> String {
    match &f.last {
        Some(r) => format!(
            "the last believed record is seq {} `{}` at line {}",
            r.seq, r.kind, r.line
        ),
        None => "no record was believed at all".into(),
    }
}

/// Reasons that apply to every run that should reach its end record.
fn ending_reasons(f: &Facts, ctx: &Context<'_>, want_verdict: &str, j: &mut Judgement) {
    match ctx.ending {
        Ending::Timeout { secs } => j.reasons.push(format!(
            "timeout: no end record within {secs} s ({})",
            describe_stop(f)
        )),
        Ending::QemuExited { status } => {
            if f.end.is_none() {
                let how = match status {
                    Some(s) => format!("with status {s}"),
                    None => "by a signal".into(),
                };
                j.reasons.push(format!(
                    "QEMU exited {how} before an end record ({}): the kernel died (a triple fault or reset ends QEMU under -no-reboot with status 0)",
                    describe_stop(f)
                ));
            } else if let Some(s) = status {
                let want = if want_verdict == "pass" {
                    report::exit::QemuExit::KernelPass
                } else {
                    report::exit::QemuExit::KernelFail
                };
                if report::exit::decode(*s) != want {
                    j.reasons.push(format!(
                        "QEMU's exit status {s} does not confirm the kernel's verdict (wanted {} for `{want_verdict}`)",
                        report::exit::qemu_status(if want_verdict == "pass" {
                            report::exit::CODE_PASS
                        } else {
                            report::exit::CODE_FAIL
                        })
                    ));
                }
            }
        }
        Ending::QemuLingered => j.reasons.push(
            "QEMU did not exit after the end record: the kernel did not write to isa-debug-exit"
                .into(),
        ),
        Ending::Stopped | Ending::Environment { .. } | Ending::Interrupted => {}
    }
    match &f.end {
        None => {
            // A timeout or QEMU's exit already says why; an environment
            // failure or an interrupt is not the kernel's to answer for.
            if matches!(ctx.ending, Ending::Stopped | Ending::QemuLingered) {
                j.reasons.push(format!(
                    "no valid end record: the run did not finish ({})",
                    describe_stop(f)
                ));
            }
        }
        Some(e) if e.verdict != want_verdict => j.reasons.push(format!(
            "the kernel's verdict is `{}`, wanted `{want_verdict}` (end record at line {})",
            e.verdict, e.line
        )),
        Some(_) => {}
    }
    if f.accounting.boots > 1 {
        j.reasons.push(format!(
            "the transcript holds {} boots (sequence restarted at 0): the machine reset, or the log holds several runs",
            f.accounting.boots
        ));
    }
}

/// Why the TSC's frequency cannot be believed, from the `tsc` record's own
/// figures ([`report::clock::problems`]): one reason per problem.
pub fn clock_reasons(f: &Facts) -> Vec<String> {
    let (Some(hz), Some(source)) = (f.tsc_hz, f.tsc_source.as_deref()) else {
        return Vec::new();
    };
    report::clock::problems(source, hz, f.tsc_numbers())
        .map(|p| format!("clock: {p}"))
        .collect()
}

/// A note when the TSC rests on one reference: nothing checked it.
fn clock_notes(f: &Facts, j: &mut Judgement) {
    let (Some(source), false) = (f.tsc_source.as_deref(), f.tsc_figures.is_empty()) else {
        return;
    };
    if let Some(n) = f.tsc_rounds.filter(|&n| n > 1) {
        j.notes.push(format!(
            "clock: the references were measured {n} times (a round whose figures disagree is measured again)"
        ));
    }
    if f.tsc_numbers().all(|(n, _)| n == source) {
        j.notes.push(format!(
            "clock: the TSC's frequency rests on {source} alone; no other reference checked it"
        ));
    }
}

/// Why fewer CPUs are up than the MADT lists (and the command line
/// allows), from the `cpus` record and the `cpus=N` of the command line.
fn census_reasons(f: &Facts, up: u64, j: &mut Judgement) {
    let Some(c) = &f.cpus_census else { return };
    let limit = f.cpus_limit();
    if c.limit != limit {
        j.reasons.push(format!(
            "cpus: the kernel says its limit is {}, its command line {}",
            c.limit.map_or("none".into(), |n| format!("cpus={n}")),
            limit.map_or("sets none".into(), |n| format!("says cpus={n}"))
        ));
    }
    let wanted = limit.map_or(c.listed, |l| l.min(c.listed));
    if up >= wanted {
        return;
    }
    let mut why = Vec::new();
    if let Some(n) = c.unaddressable.filter(|&n| n > 0) {
        why.push(format!(
            "{n} with APIC ids xAPIC mode cannot address (255 and above)"
        ));
    }
    if let Some(n) = c.no_room.filter(|&n| n > 0) {
        why.push(format!(
            "{n} beyond the {} CPUs the kernel holds",
            c.supported.map_or("?".into(), |s| s.to_string())
        ));
    }
    j.reasons.push(format!(
        "cpus: {up} up, but the MADT lists {} enabled CPU(s){}{}",
        c.listed,
        match limit {
            Some(l) => format!(" and the command line allows cpus={l}"),
            None => " and the command line does not limit them (cpus=N)".into(),
        },
        if why.is_empty() {
            String::new()
        } else {
            format!(": {}", why.join(", "))
        }
    ));
}

/// The clock's negative control: the boot is judged as a pass would be,
/// except that the clock must be caught disagreeing.
fn clock_fail(f: &Facts, ctx: &Context<'_>, j: &mut Judgement) {
    must_pass(f, ctx, j, true);
    let clock = clock_reasons(f);
    let kernel_saw = f
        .checks
        .iter()
        .any(|c| c.name == "clock" && c.result == "fail");
    let report = match clock.first() {
        Some(why) => ControlReport {
            caught: true,
            text: format!(
                "negative control caught: {}",
                why.trim_start_matches("clock: ")
            ),
        },
        None => ControlReport {
            caught: false,
            text: format!(
                "negative control NOT caught: the clock was believed (TSC {} from {}; figures {})",
                f.tsc_hz.map_or("?".into(), |h| h.to_string()),
                f.tsc_source.as_deref().unwrap_or("?"),
                if f.tsc_figures.is_empty() {
                    "none".into()
                } else {
                    f.tsc_figures
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                }
            ),
        },
    };
    if !report.caught {
        j.reasons.push(report.text.clone());
    }
    if report.caught && !kernel_saw {
        j.reasons.push(
            "the figures disagree but the kernel's `clock` check did not fail: its judgement is blind"
                .into(),
        );
    }
    if let Some(s) = &f.tsc_skewed {
        j.notes
            .push(format!("the kernel skewed {s}'s reading (tsc=skew)"));
    }
    j.control = Some(report);
}

/// A boot that must pass; with `clock_control`, one whose clock must be
/// caught disagreeing (then the kernel's verdict is `fail`, its `clock`
/// check fails, and the clock's problems are the control's catch, not
/// reasons).
fn must_pass(f: &Facts, ctx: &Context<'_>, j: &mut Judgement, clock_control: bool) {
    // An experiment the kernel judged unmet counts one failure and makes
    // its verdict `fail`; that is the experiment's to answer for (see
    // [`experiment`]), not the platform's. The verdict must then be `fail`,
    // and QEMU's exit status must say so.
    let unmet = f.experiments_unmet_by_kernel();
    let want = if unmet > 0 || clock_control {
        "fail"
    } else {
        "pass"
    };
    ending_reasons(f, ctx, want, j);
    if unmet > 0 && f.end.is_some() {
        j.notes.push(format!(
            "the kernel's verdict `fail` stands for {unmet} experiment(s) it judged unmet itself; \
             each experiment is judged on its own"
        ));
        if let Some(n) = f.end.as_ref().and_then(|e| e.failures) {
            if n < unmet as u64 {
                j.reasons.push(format!(
                    "the end record counts {n} failure(s), fewer than the {unmet} experiment(s) the kernel judged unmet"
                ));
            }
        }
    }
    if let Some(e) = &f.end {
        if e.records != Some(u64::from(e.seq)) {
            j.reasons.push(format!(
                "the end record's count records={} disagrees with its own seq {}",
                e.records.map_or("missing".into(), |n| n.to_string()),
                e.seq
            ));
        }
        if let Some(lost) = f.accounting.lost_before_end.filter(|&n| n > 0) {
            j.reasons.push(format!(
                "{lost} of {} records before the end never arrived intact ({} damaged line(s), {} missing in seq gaps): a lost record could have been a failure",
                e.records.unwrap_or(0),
                f.accounting.damaged,
                f.accounting.missing_in_gaps()
            ));
        }
        if e.verdict == "pass" && e.failures.is_some_and(|n| n > 0) {
            j.reasons.push(format!(
                "the end record says verdict=pass but failures={}",
                e.failures.unwrap_or(0)
            ));
        }
        if f.accounting.after_end > 0 {
            j.notes.push(format!(
                "{} record(s) after the end record",
                f.accounting.after_end
            ));
        }
    }
    for flt in &f.faults {
        j.reasons.push(format!(
            "fault: {} (line {})",
            flt.describe(ctx.symbols),
            flt.line
        ));
    }
    for p in &f.panics {
        j.reasons.push(format!(
            "panic on cpu {}: {} at {}",
            p.cpu.map_or("?".into(), |c| c.to_string()),
            p.msg,
            p.at
        ));
    }
    if !clock_control {
        j.reasons.extend(clock_reasons(f));
    }
    clock_notes(f, j);
    for c in f
        .checks
        .iter()
        .filter(|c| c.result == "fail" && !(clock_control && c.name == "clock"))
    {
        j.reasons.push(format!(
            "check {} failed{}",
            c.name,
            c.detail
                .as_deref()
                .map_or(String::new(), |d| format!(": {d}"))
        ));
    }
    if let Some(c) = &f.control {
        j.reasons.push(format!(
            "the kernel ran negative control `{}`, but a pass was expected",
            c.name
        ));
    }
    // `unaddressable` CPUs are the census's to explain (below).
    for s in f
        .cpu_states
        .iter()
        .filter(|s| !["bsp", "up", "unaddressable"].contains(&s.state.as_str()))
    {
        j.reasons.push(format!(
            "cpu {} (apic {}) did not come up{}",
            s.cpu.map_or("?".into(), |c| c.to_string()),
            s.apic.map_or("?".into(), |c| c.to_string()),
            if s.state == "timeout" {
                String::new()
            } else {
                format!(" ({})", s.state)
            }
        ));
    }
    match (f.cpus_up, f.cpus_expected) {
        (Some(up), Some(exp)) => {
            if up != exp {
                j.reasons.push(format!("cpus: {up} of {exp} up"));
            }
            if let Some(n) = ctx.smp {
                let limit = f.cpus_limit();
                let want = limit.map_or(u64::from(n), |l| l.min(u64::from(n)));
                if up != want {
                    j.reasons.push(format!(
                        "cpus: {up} up, but {n} were requested (-smp {n}){}",
                        limit.map_or(String::new(), |l| format!(" with cpus={l}"))
                    ));
                }
            }
            census_reasons(f, up, j);
        }
        _ if f.end.is_some() => j
            .reasons
            .push("no `cpus` record: CPU bring-up not reported".into()),
        _ => {}
    }
}

fn negative_control(f: &Facts, c: &FaultControl, ctx: &Context<'_>, j: &mut Judgement) {
    ending_reasons(f, ctx, "fail", j);
    let want_cpu = c.cpu.resolve(f.cpu_count(ctx.smp));
    let want_addr = ctx.symbols.and_then(|s| s.addr(&c.symbol));
    let label = controls::vector_label(u64::from(c.vector));
    let want_at = match want_addr {
        Some(a) => format!("{} ({a:#x})", c.symbol),
        None => c.symbol.clone(),
    };
    let wanted = format!("{label} on cpu {want_cpu} at {want_at}");

    match &f.control {
        None => j.reasons.push(format!(
            "no `control` record: the kernel never announced control `{}`",
            c.name
        )),
        Some(rec) => {
            let mut disagree = Vec::new();
            if rec.name != c.name {
                disagree.push(format!("name={} (wanted {})", rec.name, c.name));
            }
            if rec.cpu != Some(u64::from(want_cpu)) {
                disagree.push(format!(
                    "cpu={} (wanted {want_cpu})",
                    rec.cpu.map_or("?".into(), |x| x.to_string())
                ));
            }
            if rec.symbol != c.symbol {
                disagree.push(format!("symbol={} (wanted {})", rec.symbol, c.symbol));
            }
            if report::parse_num(&rec.vector) != Some(u64::from(c.vector)) {
                disagree.push(format!("vector={} (wanted {})", rec.vector, c.vector));
            }
            if !disagree.is_empty() {
                j.reasons.push(format!(
                    "the kernel's control record disagrees with docs/cmdline.md: {}",
                    disagree.join(", ")
                ));
            }
        }
    }

    let caught = f.faults.iter().find(|flt| {
        flt.vector == Some(u64::from(c.vector))
            && flt.cpu == Some(u64::from(want_cpu))
            && want_addr.is_some()
            && flt.rip == want_addr
    });
    let report = match caught {
        Some(flt) => ControlReport {
            caught: true,
            text: format!("negative control caught: {}", flt.describe(ctx.symbols)),
        },
        None => {
            let saw = if f.faults.is_empty() {
                "no fault".to_string()
            } else {
                f.faults
                    .iter()
                    .map(|x| x.describe(ctx.symbols))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let why = match (ctx.symbols, want_addr) {
                (None, _) => " (cannot check RIP without the kernel ELF: pass --elf)".to_string(),
                (Some(_), None) => format!(" (symbol {} is not in the kernel ELF)", c.symbol),
                _ => String::new(),
            };
            ControlReport {
                caught: false,
                text: format!("negative control NOT caught: wanted {wanted}{why}; saw {saw}"),
            }
        }
    };
    if !report.caught {
        j.reasons.push(report.text.clone());
    }
    let extra = f.faults.len() - usize::from(caught.is_some());
    if caught.is_some() && extra > 0 {
        j.notes
            .push(format!("{extra} other fault(s) besides the control's"));
    }
    for p in &f.panics {
        j.notes.push(format!("panic: {} at {}", p.msg, p.at));
    }
    j.control = Some(report);
}

fn deadlock(f: &Facts, control: Option<&str>, ctx: &Context<'_>, j: &mut Judgement) {
    match ctx.ending {
        Ending::Timeout { .. } => {}
        Ending::Stopped => j
            .notes
            .push("the transcript stops without an end record, as a hang would".into()),
        Ending::QemuExited { status } => j.reasons.push(format!(
            "QEMU exited (status {}) but a hang until the deadline was expected",
            status.map_or("signal".into(), |s| s.to_string())
        )),
        Ending::QemuLingered => j
            .reasons
            .push("the kernel reached its end record but a hang was expected".into()),
        Ending::Environment { .. } | Ending::Interrupted => {}
    }
    if let Some(e) = &f.end {
        j.reasons.push(format!(
            "an end record (verdict={}) arrived at line {}, but a hang was expected",
            e.verdict, e.line
        ));
    }
    for flt in &f.faults {
        j.reasons.push(format!(
            "fault: {} (line {})",
            flt.describe(ctx.symbols),
            flt.line
        ));
    }
    for p in &f.panics {
        j.reasons.push(format!("panic: {} at {}", p.msg, p.at));
    }
    if let Some(name) = control {
        match &f.control {
            Some(rec) if rec.name == name => {}
            Some(rec) => j.reasons.push(format!(
                "the kernel announced control `{}`, wanted `{name}`",
                rec.name
            )),
            None => j.reasons.push(format!(
                "no `control` record: the kernel never announced control `{name}`"
            )),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod platform_tests;
