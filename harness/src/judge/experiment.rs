//! Judging each torture experiment of a boot from its own records. Pure.
//!
//! The kernel sends, per experiment, `exp-begin`, the first few `failure`
//! records and any `deadlock` records, then one `exp` record with its
//! outcome, counters and its own judgement `met`
//! ([`report::kind::EXP`]). The harness judges again, from the counters and
//! records, against the expectation the *registry* ([`plan::experiment`])
//! gives the experiment, and a disagreement with the kernel's `met` is a
//! failure of its own:
//!
//! The rule of each expectation is [`plan::verdict`]'s, the one the kernel
//! judged by: a must-pass has no failure and no deadlock, a call, at least
//! [`plan::verdict::MIN_PATCHES`] patches, overruns within their bound and
//! a floor with no timed-out round; an observe experiment counts only the
//! failure kinds it observes ([`plan::verdict::observes`]; any other kind
//! is FAIL, and so is a deadlock it does not observe), and otherwise as a
//! must-pass, its counts becoming an observation line with a 95% bound
//! ([`crate::judge::stats`]); a negative control must see a failure (the time
//! and patches until caught are shown), else the harness is blind; an
//! expect-deadlock needs a `deadlock` record with a RIP, named by its ELF
//! symbol, and where [`STUCK_IN`] says, the stuck CPUs must be where it
//! says. A record that says `outcome=deadlock` without a `deadlock` record
//! is FAIL whatever the expectation.
//!
//! Every experiment also has to add up: `failures` is the sum of the
//! [`failure_counters`] (`wrong`, `faults`, `stray_bp`, `stale_bp`,
//! `stale_call`, `bad_return`, `unsynced`, `blind`), no more failure records
//! than failures, no error from the patcher, no CPU left stuck. A must-pass
//! failure that [`crate::judge::known`] lists for the platform and QEMU release is
//! **KFAIL**, unless it counts one of the [`UNEXCUSABLE_COUNTERS`];
//! `outcome=skip` is **SKIP** with its reason; anything else unmet is
//! **FAIL**. An experiment that was
//! selected but never reported is FAIL, and says how the boot ended.

use super::{known, seen::Where, Ending, ExpFacts, Facts};
use crate::{
    judge::stats::{self, Frequency},
    judge::symbols::Symbols,
};
use plan::{
    experiment::{glob_match, Expectation, Experiment},
    verdict,
};
use serde::Serialize;
use std::collections::BTreeMap;

/// The closed set of verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    /// The expectation was met.
    Pass,
    /// It was not.
    Fail,
    /// The kernel did not run it (the reason says why).
    Skip,
    /// A known failure ([`crate::judge::known`]): counted, shown, not a pass,
    /// does not fail the run.
    Kfail,
}

impl Verdict {
    /// `PASS`, `FAIL`, `SKIP`, `KFAIL`.
    pub fn word(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "SKIP",
            Verdict::Kfail => "KFAIL",
        }
    }

    /// Whether the run can still pass with it.
    pub fn ok(self) -> bool {
        self != Verdict::Fail
    }
}

/// An `observe` experiment's counts, as litmus7 reports them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    /// Calls that went wrong (`failures`).
    pub hits: u64,
    /// Calls in all (`calls + failures`).
    pub total: u64,
    /// Never, Sometimes, Always.
    pub frequency: Frequency,
    /// The 95% upper bound on the rate ([`stats::upper_bound`]).
    pub upper_95: Option<f64>,
}

impl Observation {
    /// From the counts.
    pub fn new(hits: u64, total: u64) -> Observation {
        Observation {
            hits,
            total,
            frequency: Frequency::of(hits, total),
            upper_95: stats::upper_bound(hits, total, stats::CONFIDENCE),
        }
    }

    /// `Observation NAME Never 0 3004920 (rate <= 9.970e-7 at 95%)`: as
    /// litmus7 prints it, the count of runs that showed the outcome, then
    /// the count that did not (here: calls that went wrong, calls that did
    /// not).
    pub fn line(&self, name: &str) -> String {
        let bound = match self.upper_95 {
            Some(b) => format!("rate <= {} at 95%", stats::rate(b)),
            None => "no trials: no bound".into(),
        };
        format!(
            "Observation {name} {} {} {} ({bound})",
            self.frequency.word(),
            self.hits,
            self.total - self.hits
        )
    }
}

/// A negative control's catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Caught {
    /// Nanoseconds from the experiment's start to the first failure.
    pub ns: Option<u64>,
    /// Patches completed before it.
    pub patches: Option<u64>,
}

/// A CPU the watchdog found stuck, its RIP named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StuckCpu {
    /// The CPU.
    pub cpu: Option<u64>,
    /// Its RIP.
    pub rip: Option<u64>,
    /// `kernel::bp::handle+0x34 (0x10b5e4)`, `0x2000010ffe (no symbol)`,
    /// or why there is no RIP.
    pub at: String,
    /// The symbol alone (no offset), when there is one.
    pub symbol: Option<String>,
    /// What the kernel says it was waiting in (`bp-handler`).
    pub waiting: Option<String>,
}

/// The harness's answer for one experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpJudgement {
    /// The experiment's name.
    pub name: String,
    /// Its expectation (registry's).
    pub expectation: String,
    /// The kernel's `outcome`, or `none` when no `exp` record came.
    pub outcome: String,
    /// PASS, FAIL, SKIP, KFAIL.
    pub verdict: Verdict,
    /// Why FAIL, why KFAIL (the failure), why SKIP.
    pub reasons: Vec<String>,
    /// For KFAIL: the known cause.
    pub known: Option<String>,
    /// What is worth saying anyway.
    pub notes: Vec<String>,
    /// The kernel's own `met`.
    pub kernel_met: Option<bool>,
    /// The patcher's error, when it stopped the experiment.
    pub error: Option<String>,
    /// Every numeric field of its `exp` record.
    pub counters: BTreeMap<String, u64>,
    /// For `observe`.
    pub observation: Option<Observation>,
    /// For negative controls that were caught.
    pub caught: Option<Caught>,
    /// Stuck CPUs, from `deadlock` records.
    pub stuck: Vec<StuckCpu>,
    /// The `failure` records, as sent.
    pub failures: Vec<String>,
    /// Where it was seen.
    pub seen: Where,
    /// Which boot reported it (`shared`, `own`, `resumed`; set by the
    /// caller).
    pub boot: String,
    /// The transcript line of its `exp` record.
    pub line: Option<usize>,
}

impl ExpJudgement {
    fn new(name: &str, expectation: &str, ctx: &Context<'_>) -> ExpJudgement {
        ExpJudgement {
            name: name.to_string(),
            expectation: expectation.to_string(),
            outcome: "none".into(),
            verdict: Verdict::Fail,
            reasons: Vec::new(),
            known: None,
            notes: Vec::new(),
            kernel_met: None,
            error: None,
            counters: BTreeMap::new(),
            observation: None,
            caught: None,
            stuck: Vec::new(),
            failures: Vec::new(),
            seen: ctx.seen.clone(),
            boot: String::new(),
            line: None,
        }
    }

    /// A counter, 0 when absent.
    pub fn n(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }
}

/// What the experiment judge knows beyond the records.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// Where the boot ran.
    pub seen: &'a Where,
    /// The booted kernel's symbols, if known (deadlock RIPs are named
    /// with them).
    pub symbols: Option<&'a Symbols>,
    /// Why the kernel ran with `nobp`, if it did.
    pub nobp_why: Option<&'a str>,
}

/// Where the stuck CPUs of an `expect-deadlock` experiment must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StuckIn {
    /// The experiments (a glob over registry names).
    pub experiments: &'static str,
    /// The CPU that must be among the stuck ones, if any: the one whose
    /// deadlock it is (a deadlock that names only CPUs waiting behind it
    /// has not found it).
    pub cpu: Option<u64>,
    /// The starts of the symbols every stuck CPU's RIP may resolve into...
    pub symbol_prefixes: &'static [&'static str],
    /// ...or the site window (`plan::layout`: where the sites are, and a
    /// CPU about to execute a site's `int3` again is)...
    pub site_window: bool,
    /// ...unless its record says it was waiting in this (the RIP is then
    /// in a function the wait calls).
    pub waiting: Option<&'static str>,
    /// Why, for people.
    pub why: &'static str,
}

/// The deadlocks whose place is known in advance. In both, the patching
/// CPU (0) took its own interrupt (`self`), whose handler called a site
/// that the patch in flight had covered with `int3`.
pub const STUCK_IN: &[StuckIn] = &[
    StuckIn {
        experiments: "int3/spin/*/self",
        cpu: Some(0),
        symbol_prefixes: &["kernel::bp::"],
        site_window: false,
        waiting: Some("bp-handler"),
        why: "the patching CPU's own interrupt hit the site, and the spin handler waits in the \
              #BP handler for a patch that only that CPU can finish",
    },
    StuckIn {
        experiments: "int3/retry/*/self",
        cpu: Some(0),
        // The loop: the site's `int3`, the #BP entry stub, the common
        // entry, the dispatcher, the handler, which returns to the site.
        symbol_prefixes: &[
            "kernel::bp::",
            "isr_stubs",
            "isr_common",
            "kernel::trap::dispatch",
        ],
        site_window: true,
        waiting: Some("bp-handler"),
        why: "the patching CPU's own interrupt hit the site, and the retry handler returns to \
              the site, which traps again, for a patch that only that CPU can finish",
    },
];

fn skip_text(reason: &str, ctx: &Context<'_>) -> String {
    match reason {
        "own-boot" => {
            "own-boot: needs a boot of its own (its expected end takes the boot with it)".into()
        }
        "nobp" => format!(
            "nobp: it executes int3, and the kernel ran with `nobp`{}",
            ctx.nobp_why.map_or(String::new(), |w| format!(" ({w})"))
        ),
        "needs-2-cpus" => "needs-2-cpus: an executor CPU beside the patcher is needed".into(),
        "no-serialize-instruction" => {
            "no-serialize-instruction: this CPU has no SERIALIZE instruction".into()
        }
        other => other.to_string(),
    }
}

fn stuck_cpu(d: &super::DeadlockRec, symbols: Option<&Symbols>) -> StuckCpu {
    let (at, symbol) = match d.rip {
        Some(rip) => match symbols.and_then(|s| s.describe(rip)) {
            Some(name) => {
                let bare = name.split('+').next().unwrap_or(&name).to_string();
                (format!("{name} ({rip:#x})"), Some(bare))
            }
            None if symbols.is_none() => (format!("{rip:#x} (no kernel ELF to name it)"), None),
            None => (format!("{rip:#x} (no symbol)"), None),
        },
        None => (format!("{} (it did not answer the NMI)", d.rip_text), None),
    };
    let at = match d.waiting.as_deref() {
        Some("bp-handler") => format!("{at}, waiting in a #BP handler"),
        Some(w) => format!("{at}, waiting in {w}"),
        None => at,
    };
    StuckCpu {
        cpu: d.cpu,
        rip: d.rip,
        at,
        symbol,
        waiting: d.waiting.clone(),
    }
}

/// How the harness reads a field of an `exp` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldUse {
    /// It takes part in the verdict; the text says how.
    Judged(&'static str),
    /// It is shown and measured, never judged; the text says why it need
    /// not be.
    Informational(&'static str),
}

/// Every field the kernel writes into an `exp` record, and what the
/// harness does with it. A test reads the kernel's writer and fails on a
/// field that is not here, so that a counter added later cannot go unread.
pub const EXP_FIELDS: &[(&str, FieldUse)] = {
    use FieldUse::{Informational as Info, Judged};
    &[
        ("name", Judged("finds the registry's entry, whose expectation is judged")),
        ("expectation", Judged("must be the registry's")),
        ("outcome", Judged("skip, error and deadlock are judged as such")),
        ("met", Judged("the kernel's own verdict: a disagreement is FAIL")),
        ("reason", Judged("why a skip or an error: shown as the reason")),
        ("error", Judged("the patcher stopped: FAIL")),
        ("stuck", Judged("a CPU that never left its loop: FAIL")),
        ("trunc", Judged("a record cut short: FAIL")),
        ("patches", Judged("at least plan::verdict::MIN_PATCHES")),
        ("calls", Judged("at least one judged call")),
        ("overruns", Judged("within plan::verdict::overrun_bound")),
        ("floor_timeouts", Judged("a floor with a timed-out round is FAIL")),
        ("failures", Judged("the sum of the failure counters")),
        ("wrong", Judged("a failure kind (plan::verdict::Kind)")),
        ("faults", Judged("a failure kind")),
        ("stray_bp", Judged("a failure kind")),
        ("stale_bp", Judged("a failure kind")),
        ("stale_call", Judged("a failure kind")),
        ("bad_return", Judged("a failure kind")),
        ("unsynced", Judged("a failure kind")),
        ("blind", Judged("a failure kind")),
        ("timer", Judged("timer and timer-site: the interference must have come")),
        ("nmi", Judged("nmi: the interference must have come")),
        ("nmi_site", Judged("nmi-site: the interference must have come")),
        ("self_irq", Judged("self: the interference must have come")),
        ("settle", Judged("known failures apply only without the TCG measures")),
        ("poke_flush", Judged("known failures apply only without the TCG measures")),
        ("cpus", Info("the machine's size, judged by the platform checks")),
        ("executors", Info("follows from cpus")),
        ("ns", Info("the experiment's length: a parameter, not a result")),
        ("calls_per_s_per_ap", Info("a speed: the benchmark's, as a ratio")),
        ("bp_hits", Info("how often the handler ran: depends on timing, and a handler that never ran cannot fail the window check of the calls it did not take")),
        ("bp_cycles", Info("a cost: the benchmark's")),
        ("bp_cancels", Info("covers `spin-bounded` canceled: how its handler went, judged by what the calls saw")),
        ("bp_completions", Info("sites `spin-bounded` finished itself: how its handler went, judged by what the calls saw")),
        ("bp_recovers", Info("covers the patcher wrote again after a cancel: a cost, and the sign of a livelock when it never stops")),
        ("ghosts", Info("stray and stale int3s at a site whose memory no longer held CC: judged as those kinds, or as retried")),
        ("ghost_retries", Judged("ghost=retry ran them again instead of judging them: unmet (plan::verdict)")),
        ("null_calls", Judged("shapes null, jump, ret0: at least one call passed the NOP or returned 0 (plan::verdict)")),
        ("ghost_give_ups", Info("retried ghosts that reached the bound: judged as the stray or stale int3s they became")),
        ("claim", Info("a boot-wide setting (claim=), named in the record")),
        ("floor_cycles", Info("a cost: the benchmark's; its timeouts are judged")),
        ("keys", Info("a boot-wide size (keys=)")),
        ("sites", Info("a boot-wide size (sites=)")),
        ("targets", Info("a boot-wide size (targets=)")),
        ("sync_rounds", Info("a cost per update: the benchmark's")),
        ("ipis", Info("a cost per update: the benchmark's")),
        ("settle_rounds", Info("a cost per update: the benchmark's")),
        ("p1_cycles", Info("a latency: the benchmark's")),
        ("p1_max", Info("a latency: the benchmark's")),
        ("p2_cycles", Info("a latency: the benchmark's")),
        ("p2_max", Info("a latency: the benchmark's")),
        ("p3_cycles", Info("a latency: the benchmark's")),
        ("p3_max", Info("a latency: the benchmark's")),
        ("first_fail_patch", Info("when a failure came: shown for a caught control")),
        ("first_fail_ns", Info("when a failure came: shown for a caught control")),
        ("starved", Info("CPUs that were slow, not stuck: the watchdog's own judgement")),
    ]
};

/// Failure counters of an `exp` record beside [`known::FAILURE_COUNTERS`]
/// that no known failure excuses, on any platform: `bad_return` (a call came
/// back the wrong way: the site's mark missing or the callee skipped),
/// `unsynced` (the patcher's sync audit: a CPU had not acknowledged, or not
/// serialized, since the last write when a phase began), `blind` (an
/// executor's judge accepted a planted wrong call). Each is a protocol or
/// detector failure whatever the machine does.
pub const UNEXCUSABLE_COUNTERS: [&str; 3] = ["bad_return", "unsynced", "blind"];

/// Every failure counter of an `exp` record: together they add up to
/// `failures`.
pub fn failure_counters() -> impl Iterator<Item = &'static str> {
    known::FAILURE_COUNTERS
        .iter()
        .copied()
        .chain(UNEXCUSABLE_COUNTERS)
}

/// `3 wrong target(s), 0 fault(s), 2 stray #BP, 1 stale int3`.
fn failure_kinds(r: &super::ExpRec) -> String {
    let mut s = format!(
        "{} wrong target(s), {} fault(s), {} stray #BP",
        r.n("wrong"),
        r.n("faults"),
        r.n("stray_bp")
    );
    if r.get("stale_bp").is_some() {
        s += &format!(
            ", {} stale int3 (executed after this CPU synced past its removal)",
            r.n("stale_bp")
        );
    }
    if r.get("stale_call").is_some() {
        s += &format!(
            ", {} stale call(s) (reached a target memory no longer held after this CPU synced)",
            r.n("stale_call")
        );
    }
    for (c, what) in [
        (
            "bad_return",
            "bad return(s) (the site's mark missing or the callee skipped)",
        ),
        (
            "unsynced",
            "unsynced (a phase began before a CPU had synced)",
        ),
        (
            "blind",
            "blind (an executor's judge accepted a planted wrong call)",
        ),
    ] {
        if r.n(c) > 0 {
            s += &format!(", {} {what}", r.n(c));
        }
    }
    s
}

fn cpu_text(c: Option<u64>) -> String {
    c.map_or("?".into(), |c| c.to_string())
}

/// Judges one experiment from its records. `registry` is the registry's
/// entry for it (`None`: a name this harness does not know; its record's
/// own expectation is used, and that is noted).
pub fn judge_one(registry: Option<&Experiment>, f: &ExpFacts, ctx: &Context<'_>) -> ExpJudgement {
    let r = f.result.as_ref();
    let sent: &str = match r {
        Some(r) => &r.expectation,
        None => "?",
    };
    let expectation = registry
        .map(|e| e.expectation)
        .or_else(|| Expectation::parse(sent));
    let label = expectation.map_or_else(|| sent.to_string(), |e| e.name().to_string());
    let mut j = ExpJudgement::new(&f.name, &label, ctx);
    j.failures = f.failures.iter().map(|x| x.text.clone()).collect();
    j.stuck = f
        .deadlocks
        .iter()
        .map(|d| stuck_cpu(d, ctx.symbols))
        .collect();
    let Some(r) = r else {
        j.reasons.push(match &f.begin {
            Some(b) => format!("began (line {}) but its `exp` record never arrived", b.line),
            None => "no `exp` record arrived".into(),
        });
        return j;
    };
    j.outcome = r.outcome.clone();
    j.kernel_met = r.met;
    j.error = r.error.clone();
    j.counters = r.counters.clone();
    j.line = Some(r.line);
    let Some(expectation) = expectation else {
        j.reasons.push(format!(
            "not in the registry, and its record's expectation `{sent}` is unknown"
        ));
        return j;
    };
    match registry {
        Some(e) if r.expectation != e.expectation.name() => j.reasons.push(format!(
            "the kernel holds it to `{}`, the registry to `{}`",
            r.expectation,
            e.expectation.name()
        )),
        Some(_) => {}
        None => j
            .notes
            .push("not in this harness's registry: judged by the expectation in its record".into()),
    }

    if r.outcome == "skip" {
        let why = skip_text(r.reason.as_deref().unwrap_or("no reason given"), ctx);
        if f.failures.is_empty() && f.deadlocks.is_empty() && j.reasons.is_empty() {
            j.verdict = Verdict::Skip;
            j.reasons.push(why);
        } else {
            j.reasons.push(format!(
                "skipped ({why}), yet it sent failure or deadlock records"
            ));
        }
        return j;
    }

    // Reasons that no known failure can excuse.
    let mut other: Vec<String> = std::mem::take(&mut j.reasons);
    if f.begin.is_none() {
        // A run that began sends `exp-begin` first: without it the result
        // cannot be tied to this boot (its begin was lost, or the record
        // was spliced in from another log), and the failures it had may
        // have been lost with it.
        other.push(
            "its `exp-begin` record never arrived: the result cannot be tied to a run of it in this boot".into(),
        );
    }
    if r.outcome == "error" {
        other.push(format!(
            "the experiment could not run: {}",
            r.reason
                .as_deref()
                .or(r.error.as_deref())
                .unwrap_or("no reason given")
        ));
    }
    if let Some(err) = &r.error {
        other.push(format!("the patcher stopped: {err}"));
    }
    if r.n("stuck") > 0 {
        other.push(format!(
            "{} CPU(s) did not finish their loop after the experiment",
            r.n("stuck")
        ));
    }
    if r.n("trunc") > 0 {
        other.push(
            "its `exp` record was cut short (trunc=1): counters or the error may be missing".into(),
        );
    }
    let failures = r.n("failures");
    let parts: u64 = failure_counters().map(|c| r.n(c)).sum();
    if r.outcome != "error" && failures != parts {
        other.push(format!(
            "failures={failures} but {}={parts}: the counters do not add up",
            failure_counters().collect::<Vec<_>>().join("+")
        ));
    }
    if f.failures.len() as u64 > failures {
        other.push(format!(
            "{} failure record(s) arrived but the exp record counts {failures}",
            f.failures.len()
        ));
    }
    if failures > 0 && f.failures.is_empty() {
        j.notes.push(format!(
            "{failures} failure(s) counted, but none of their records arrived"
        ));
    }
    let (calls, patches) = (r.n("calls"), r.n("patches"));
    let stuck_text = |j: &ExpJudgement| {
        j.stuck
            .iter()
            .map(|s| format!("cpu {} at {}", cpu_text(s.cpu), s.at))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if r.outcome == "deadlock" && j.stuck.is_empty() {
        other.push("outcome=deadlock, but no deadlock record arrived".into());
    }
    // The one rule the kernel judged by too (`plan::verdict`), from the
    // record's counters; the checks above and below are the harness's own.
    let counts = verdict::Counts {
        calls,
        patches,
        overruns: r.n("overruns"),
        floor_timeouts: r.n("floor_timeouts"),
        interference: 0,
        failures: verdict::Kind::COUNTERS.map(|k| r.n(k.name())),
        deadlock: !j.stuck.is_empty(),
        broken: r.outcome == "error" || r.error.is_some() || r.n("stuck") > 0,
        ghost_retries: r.n("ghost_retries"),
        null_calls: None,
    };
    let subject = registry.copied().or_else(|| {
        plan::experiment::parse_name(&f.name)
            .ok()
            .map(|a| Experiment {
                strategy: a.strategy,
                handler: a.handler,
                sync: a.sync,
                serialize: a.serialize,
                class: a.class,
                interference: a.interference,
                shape: a.shape,
                expectation,
                own_boot: false,
            })
    });
    let Some(subject) = subject else {
        other.push(format!("`{}` is not an experiment name", f.name));
        j.reasons = other;
        return j;
    };
    let counts = verdict::Counts {
        interference: verdict::interference_counter(&subject).map_or(0, |c| r.n(c)),
        null_calls: (subject.shape != plan::experiment::Shape::Call).then(|| r.n("null_calls")),
        ..counts
    };
    let rule = verdict::judge(&subject, &counts);
    // The failure counted by the kernel's checks: the one thing a known
    // failure may excuse (only in a must-pass).
    let mut failure: Option<String> = None;
    for u in rule.reasons() {
        match u {
            verdict::Unmet::Failed { .. } if expectation == Expectation::MustPass => {
                failure.get_or_insert_with(|| {
                    format!(
                        "{failures} failure(s) in {patches} patches and {calls} calls: {}",
                        failure_kinds(r)
                    )
                });
            }
            verdict::Unmet::Failed { .. } => other.push(u.to_string()),
            verdict::Unmet::Deadlock => {
                other.push(format!("deadlock: {}", stuck_text(&j)));
            }
            // The harness names the error or the stuck CPUs above.
            verdict::Unmet::Broken => {}
            verdict::Unmet::Missed => other.push(format!(
                "missed: no failure in {patches} patches and {calls} calls, so the harness would be blind to a broken patcher"
            )),
            // Checked below, more strictly (a record with a RIP).
            verdict::Unmet::NoDeadlock => {}
            u => other.push(u.to_string()),
        }
    }
    match expectation {
        Expectation::NegativeControl if failures > 0 => {
            j.caught = Some(Caught {
                ns: r.get("first_fail_ns"),
                patches: r.get("first_fail_patch"),
            });
        }
        Expectation::ExpectDeadlock => {
            if !j.stuck.iter().any(|s| s.rip.is_some()) {
                other.push(format!(
                    "no deadlock record with a RIP (outcome={}): the deadlock was not caught",
                    r.outcome
                ));
            }
            for rule in STUCK_IN
                .iter()
                .filter(|s| glob_match(s.experiments, &f.name))
            {
                stuck_in(rule, &j.stuck, ctx, &mut other);
            }
        }
        Expectation::Observe => {
            let observed = verdict::observes(&subject);
            let hits = verdict::Kind::COUNTERS
                .iter()
                .filter(|k| observed.contains(**k))
                .map(|k| r.n(k.name()))
                .sum::<u64>();
            j.observation = Some(Observation::new(hits, calls + hits));
            j.notes.push(format!("observes {observed}"));
        }
        _ => {}
    }
    let harness_met = other.is_empty() && failure.is_none();
    if let Some(k) = r.met {
        if k != harness_met {
            other.push(format!(
                "the kernel judged it {} (met={}), the harness {}: they disagree",
                if k { "met" } else { "unmet" },
                u8::from(k),
                if harness_met { "met" } else { "unmet" }
            ));
        }
    }
    let excusable = UNEXCUSABLE_COUNTERS.iter().all(|&c| r.n(c) == 0);
    let known = (other.is_empty() && failure.is_some() && excusable)
        .then(|| known::by_signature(|c| r.n(c), ctx.seen).map(|s| s.reason))
        .flatten();
    let known = match known {
        Some(_) if known::tcg_measures_on(|c| r.counters.get(c).copied()) => {
            j.notes.push(
                "stale code with the kernel's TCG measures on (poke_flush=1, settle=1): the \
                 known failures of QEMU's translator apply only without them (poke=keep, \
                 settle=off, or a kernel that predates them): FAIL"
                    .into(),
            );
            None
        }
        k => k,
    };
    if known.is_none() && other.is_empty() && failure.is_some() {
        if let Some(there) = known::known_elsewhere(|c| r.n(c), ctx.seen) {
            j.notes.push(match ctx.seen.qemu {
                Some(v) => format!(
                    "a failure like this is known on {there} only, not on QEMU {v}, where it has \
                     not been seen before: FAIL"
                ),
                None => format!(
                    "a failure like this is known on {there} only, and the QEMU version of this \
                     log is not known (harness parse --qemu-version X.Y.Z): FAIL"
                ),
            });
        }
    }
    j.verdict = match (other.is_empty() && failure.is_none(), known) {
        (true, _) => Verdict::Pass,
        (false, Some(k)) => {
            j.known = Some(format!(
                "known failure on {}: {}",
                ctx.seen.platform_label(),
                k
            ));
            Verdict::Kfail
        }
        (false, None) => Verdict::Fail,
    };
    j.reasons = failure.into_iter().chain(other).collect();
    j
}

fn stuck_in(rule: &StuckIn, stuck: &[StuckCpu], ctx: &Context<'_>, reasons: &mut Vec<String>) {
    let mut place: Vec<String> = rule
        .symbol_prefixes
        .iter()
        .map(|p| format!("{p}*"))
        .collect();
    if rule.site_window {
        place.push("the site window".into());
    }
    let place = place.join(", ");
    let marked = |s: &StuckCpu| rule.waiting.is_some() && s.waiting.as_deref() == rule.waiting;
    let window = plan::layout::SITE_BASE..plan::layout::SITE_BASE + plan::layout::SITE_ARENA_SIZE;
    let in_window = |s: &StuckCpu| rule.site_window && s.rip.is_some_and(|r| window.contains(&r));
    let placed = |s: &StuckCpu| {
        marked(s)
            || in_window(s)
            || s.symbol
                .as_deref()
                .is_some_and(|n| rule.symbol_prefixes.iter().any(|p| n.starts_with(p)))
    };
    // 1. The CPU whose deadlock it is must be named (a deadlock record
    //    without one found none at all, said before this).
    if let Some(want) = rule.cpu.filter(|_| !stuck.is_empty()) {
        match stuck.iter().find(|s| s.cpu == Some(want)) {
            None => reasons.push(format!(
                "{} wants cpu {want} among the stuck CPUs ({}), but the deadlock names only cpu {}",
                rule.experiments,
                rule.why,
                stuck
                    .iter()
                    .map(|s| cpu_text(s.cpu))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Some(s) if s.rip.is_none() && !marked(s) => reasons.push(format!(
                "{} wants cpu {want} stuck in {place} ({}), but it is at {}, and its record does \
                 not say it waits in a #BP handler",
                rule.experiments, rule.why, s.at
            )),
            Some(_) => {}
        }
    }
    // 2. Every stuck CPU with a RIP must be in the place (or say that it
    //    waits there).
    if ctx.symbols.is_none() && !stuck.iter().all(|s| marked(s) || in_window(s)) {
        reasons.push(format!(
            "{} wants every stuck CPU in {place}, but without the kernel ELF a RIP cannot be \
             named (pass --elf)",
            rule.experiments
        ));
        return;
    }
    for s in stuck.iter().filter(|s| s.rip.is_some() && !placed(s)) {
        reasons.push(format!(
            "{} wants every stuck CPU in {place} ({}), but cpu {} is stuck at {}",
            rule.experiments,
            rule.why,
            cpu_text(s.cpu),
            s.at
        ));
    }
}

/// A selected experiment that never reported.
pub fn never_ran(e: &Experiment, why: &str, ctx: &Context<'_>) -> ExpJudgement {
    let mut j = ExpJudgement::new(&e.name(), e.expectation.name(), ctx);
    j.reasons.push(format!("never ran: {why}"));
    j
}

/// Whether a boot ended by no doing of the kernel's (an interrupt, the
/// environment): an experiment it cut short or never reached is SKIP, not
/// FAIL; the run's status says what happened.
pub fn not_its_doing(ending: &Ending) -> bool {
    matches!(ending, Ending::Interrupted | Ending::Environment { .. })
}

/// How a boot ended, to say why experiments after that never reported.
pub fn why_missing(facts: &Facts, ending: &Ending) -> String {
    let last = facts.experiments.iter().rev().find(|e| e.begin.is_some());
    let at = match last {
        Some(e) if !e.deadlocks.is_empty() => format!(" after the deadlock in {}", e.name),
        Some(e) if e.result.is_none() => format!(" during {}", e.name),
        Some(e) => format!(" after {}", e.name),
        None => String::new(),
    };
    let how = match ending {
        Ending::Timeout { secs } => format!("the boot hit its deadline of {secs:.0} s"),
        Ending::Environment { why } => format!("the environment failed ({why})"),
        Ending::Interrupted => "the run was interrupted".into(),
        Ending::QemuExited { .. } if facts.end.is_none() => {
            "QEMU exited without an end record".into()
        }
        Ending::Stopped if facts.end.is_none() => "the transcript stops".into(),
        _ => "the boot ended".into(),
    };
    format!("{how}{at}")
}

/// What to do with the own-boot experiments that a pattern selecting
/// several experiments leaves out of the boot (the kernel reports them
/// `outcome=skip reason=own-boot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnBoot {
    /// Leave them out: the caller runs each in a boot of its own.
    Elsewhere,
    /// Report them as SKIP (a single saved log).
    Skip,
}

/// Judges the experiments of one boot whose kernel was given `pattern`
/// (`selected` = the registry's matches, in order): each selected one from
/// its records, a missing one as FAIL (never ran), and any the kernel ran
/// that was not selected as FAIL.
pub fn judge_boot(
    selected: &[&Experiment],
    facts: &Facts,
    ending: &Ending,
    ctx: &Context<'_>,
    own_boot: OwnBoot,
) -> Vec<ExpJudgement> {
    let shared = selected.len() > 1;
    let mut out = Vec::new();
    let mut used = vec![false; facts.experiments.len()];
    let missing = why_missing(facts, ending);
    for e in selected {
        let name = e.name();
        let found = facts
            .experiments
            .iter()
            .enumerate()
            .find(|(i, f)| !used[*i] && f.name == *name);
        if let Some((i, _)) = found {
            used[i] = true;
        }
        let deferred = shared && e.own_boot;
        match (found, deferred, own_boot) {
            (Some((_, f)), true, OwnBoot::Elsewhere)
                if f.result.as_ref().is_some_and(|r| {
                    r.outcome == "skip" && r.reason.as_deref() == Some("own-boot")
                }) => {}
            (None, true, OwnBoot::Elsewhere) => {}
            (Some((i, f)), _, _) => {
                let mut j = judge_one(Some(e), f, ctx);
                if f.result.is_none() && not_its_doing(ending) {
                    j.verdict = Verdict::Skip;
                }
                if f.result.is_none() {
                    let later = facts.experiments[i + 1..]
                        .iter()
                        .any(|x| x.begin.is_some() || x.result.is_some());
                    if let Some(r) = j.reasons.first_mut() {
                        *r = if later {
                            format!("{r}: lost on the way (later experiments reported)")
                        } else {
                            format!("{r}: {missing}")
                        };
                    }
                }
                out.push(j);
            }
            (None, _, _) => {
                let mut j = never_ran(e, &missing, ctx);
                if not_its_doing(ending) {
                    j.verdict = Verdict::Skip;
                }
                out.push(j);
            }
        }
    }
    for (i, f) in facts.experiments.iter().enumerate() {
        if !used[i] {
            let mut j = judge_one(plan::experiment::find(&f.name), f, ctx);
            j.verdict = Verdict::Fail;
            j.reasons.insert(
                0,
                "the kernel ran it, but the pattern did not select it".into(),
            );
            out.push(j);
        }
    }
    out
}

/// The experiments of one boot that the harness did not plan (a saved log,
/// a watched serial port, an ISO's menu entry), judged from its records:
/// those that `pattern` selects, else the `exp=` of the kernel command line
/// in its `hello` record; none when it names none and ran none. Own-boot
/// experiments that a list left out are SKIP with their reason
/// ([`OwnBoot::Skip`]), a selected experiment that never reported is FAIL.
/// `nobp` on that command line is the reason for `nobp` skips. An error
/// only for a `pattern` given that selects nothing (a pattern from the log
/// that selects nothing fails the kernel's own `exp` check instead).
pub fn judge_unplanned(
    facts: &Facts,
    ending: &Ending,
    seen: &Where,
    symbols: Option<&Symbols>,
    pattern: Option<&str>,
) -> anyhow::Result<Vec<ExpJudgement>> {
    let from_log = facts.exp_pattern().map(|(p, _)| p);
    let pattern = match (pattern, &from_log) {
        (Some(p), _) => p.to_string(),
        (None, Some(p)) => p.clone(),
        (None, None) if facts.experiments.is_empty() => return Ok(Vec::new()),
        (None, None) => "*".to_string(),
    };
    let selected = match crate::list::select(&pattern) {
        Ok(s) => s,
        Err(_) if from_log.as_deref() == Some(pattern.as_str()) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let nobp = facts
        .cmdline
        .as_deref()
        .is_some_and(|c| c.split_whitespace().any(|w| w == "nobp"));
    let ctx = Context {
        seen,
        symbols,
        nobp_why: nobp.then_some("the kernel command line in the log has `nobp`"),
    };
    Ok(judge_boot(&selected, facts, ending, &ctx, OwnBoot::Skip))
}

/// The `break=` word of a boot's kernel command line (a sabotaged
/// protocol, `docs/cmdline.md`), if it has one.
pub fn sabotage_of(facts: &Facts) -> Option<report::cmdline::Sabotage> {
    report::cmdline::Options::parse(facts.cmdline.as_deref()?)
        .ok()?
        .sabotage
}

/// Why a sabotaged boot's experiments do not show the defect, one line
/// each; none when they do: every experiment that ran FAILed (none PASS,
/// none KFAIL, as a known emulator failure must not stand in for the
/// defect), and at least one ran.
pub fn sabotage_unseen(exps: &[ExpJudgement]) -> Vec<String> {
    let ran: Vec<&ExpJudgement> = exps.iter().filter(|j| j.verdict != Verdict::Skip).collect();
    let mut why: Vec<String> = ran
        .iter()
        .filter(|j| j.verdict != Verdict::Fail)
        .map(|j| {
            format!(
                "{} {}: wanted FAIL (the sabotage must be seen)",
                j.verdict.word(),
                j.name
            )
        })
        .collect();
    if ran.is_empty() {
        why.push("no experiment ran".into());
    }
    why
}

/// The verdict of a boot's experiments that the harness did not plan
/// ([`judge_unplanned`]): met when none FAILed, or, when the kernel ran
/// with `break=`, when every one FAILed ([`sabotage_unseen`]); the lines
/// saying why not.
pub fn unplanned_verdict(facts: &Facts, exps: &[ExpJudgement]) -> (bool, Vec<String>) {
    let why: Vec<String> = if sabotage_of(facts).is_some() {
        sabotage_unseen(exps)
    } else {
        exps.iter()
            .filter(|j| j.verdict == Verdict::Fail)
            .map(|j| {
                format!(
                    "FAIL {}: {}",
                    j.name,
                    j.reasons.first().map_or("", String::as_str)
                )
            })
            .collect()
    };
    (why.is_empty(), why)
}

/// The line a sabotaged boot's summary says: whether the defect was seen.
pub fn sabotage_line(facts: &Facts, exps: &[ExpJudgement]) -> Option<String> {
    let s = sabotage_of(facts)?;
    let t = Tally::of(exps);
    let ran = exps.len() - t.skipped;
    Some(if sabotage_unseen(exps).is_empty() {
        format!(
            "sabotage break={}: all {ran} experiment(s) that ran FAILed, as they must: the detectors see the defect",
            s.name()
        )
    } else {
        format!(
            "sabotage break={}: NOT SEEN: {} of {ran} experiment(s) that ran FAILed; every one must (a detector is blind)",
            s.name(),
            t.failed
        )
    })
}

/// Counts by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// PASS.
    pub passed: usize,
    /// FAIL.
    pub failed: usize,
    /// SKIP.
    pub skipped: usize,
    /// KFAIL.
    pub kfail: usize,
}

impl Tally {
    /// Counts `js`.
    pub fn of<'a>(js: impl IntoIterator<Item = &'a ExpJudgement>) -> Tally {
        let mut t = Tally::default();
        for j in js {
            match j.verdict {
                Verdict::Pass => t.passed += 1,
                Verdict::Fail => t.failed += 1,
                Verdict::Skip => t.skipped += 1,
                Verdict::Kfail => t.kfail += 1,
            }
        }
        t
    }

    /// `N passed, N failed, N skipped, N kfail`.
    pub fn line(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped, {} kfail",
            self.passed, self.failed, self.skipped, self.kfail
        )
    }
}

#[cfg(test)]
mod tests;
