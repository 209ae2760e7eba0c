//! What the kernel said: the believed records read into typed facts, and
//! the bookkeeping of records lost on the way.

use crate::{
    judge::controls,
    judge::symbols::Symbols,
    machine::transcript::{Damage, Record, Transcript},
};
use report::kind;
use serde::Serialize;
use std::collections::BTreeMap;

/// The machine as the kernel described it ([`kind::MACHINE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// Every field as sent (new fields appear here unchanged).
    pub fields: BTreeMap<String, String>,
}

impl Machine {
    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map(String::as_str).unwrap_or("?")
    }

    /// One line for people.
    pub fn line(&self) -> String {
        let hv = match (self.get("hypervisor"), self.get("hv")) {
            ("1", hv) => format!("hypervisor {hv}"),
            ("0", _) => "no hypervisor".into(),
            (_, hv) => format!("hypervisor ? ({hv})"),
        };
        format!(
            "{} family {} model {} stepping {}, \"{}\", {hv}, microcode {}, {}, {} CPUs in MADT",
            self.get("vendor"),
            self.get("family"),
            self.get("model"),
            self.get("stepping"),
            self.get("brand"),
            self.get("microcode"),
            self.get("apic"),
            self.get("cpus"),
        )
    }
}

/// One CPU after bring-up ([`kind::CPU`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuState {
    /// CPU index.
    pub cpu: Option<u64>,
    /// Local APIC id.
    pub apic: Option<u64>,
    /// `bsp`, `up`, `timeout`, ...
    pub state: String,
}

/// What the MADT holds and how much of it a boot used ([`kind::CPUS`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CpuCensus {
    /// Enabled CPUs the MADT lists.
    pub listed: u64,
    /// Disabled but online-capable entries (not there to start).
    pub online_capable: Option<u64>,
    /// The kernel's `cpus=N`, as its record says.
    pub limit: Option<u64>,
    /// The most CPUs the kernel holds.
    pub supported: Option<u64>,
    /// Listed CPUs xAPIC mode cannot address.
    pub unaddressable: Option<u64>,
    /// Listed CPUs beyond what the kernel holds.
    pub no_room: Option<u64>,
    /// How long bring-up took, by the kernel's TSC, in microseconds
    /// (absent from kernels before the timing).
    pub bringup_us: Option<u64>,
}

impl Facts {
    /// The `tsc` record's figures that are numbers, as `(name, hz)`.
    pub fn tsc_numbers(&self) -> impl Iterator<Item = (&str, u64)> {
        self.tsc_figures
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), report::parse_num(v)?)))
    }

    /// The `cpus=N` of the kernel command line (the user's limit).
    pub fn cpus_limit(&self) -> Option<u64> {
        let o = report::cmdline::Options::parse(self.cmdline.as_deref()?).ok()?;
        o.cpus.map(u64::from)
    }
}

/// A check the kernel made on itself ([`kind::CHECK`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Name.
    pub name: String,
    /// `pass`, `fail`, `skip`.
    pub result: String,
    /// Detail, if any.
    pub detail: Option<String>,
}

/// An exception the kernel reported ([`kind::FAULT`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Transcript line.
    pub line: usize,
    /// CPU index.
    pub cpu: Option<u64>,
    /// Vector.
    pub vector: Option<u64>,
    /// The kernel's name for it.
    pub name: Option<String>,
    /// Error code, if any.
    pub err: Option<String>,
    /// RIP.
    pub rip: Option<u64>,
    /// CR2 (for #PF).
    pub cr2: Option<String>,
    /// The bytes at RIP.
    pub bytes: Option<String>,
}

impl Fault {
    /// `#UD on cpu 1 at control_ud2 (0x...)`.
    pub fn describe(&self, symbols: Option<&Symbols>) -> String {
        let what = match self.vector {
            Some(v) => controls::vector_label(v),
            None => format!("fault {}", self.name.as_deref().unwrap_or("?")),
        };
        let cpu = self.cpu.map_or("?".into(), |c| c.to_string());
        let at = match self.rip {
            Some(rip) => match symbols.and_then(|s| s.describe(rip)) {
                Some(name) => format!("{name} ({rip:#x})"),
                None => format!("{rip:#x}"),
            },
            None => "unknown RIP".into(),
        };
        format!("{what} on cpu {cpu} at {at}")
    }
}

/// A kernel panic ([`kind::PANIC`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Panic {
    /// CPU index.
    pub cpu: Option<u64>,
    /// Message.
    pub msg: String,
    /// `file:line`.
    pub at: String,
}

/// The control the kernel announced ([`kind::CONTROL`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ControlRec {
    /// Name.
    pub name: String,
    /// CPU where it will happen.
    pub cpu: Option<u64>,
    /// Symbol, or `none`.
    pub symbol: String,
    /// Vector, or `none`.
    pub vector: String,
}

/// The kernel's end record ([`kind::END`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct End {
    /// Transcript line.
    pub line: usize,
    /// Its sequence number.
    pub seq: u32,
    /// `pass` or `fail`.
    pub verdict: String,
    /// How many records came before it, by the kernel's count.
    pub records: Option<u64>,
    /// How many failures the kernel counted.
    pub failures: Option<u64>,
}

/// What a boot measured before its experiments ([`kind::BASELINE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Baseline {
    /// A plain direct call loop, calls per second per AP.
    pub direct_calls_per_s: Option<u64>,
    /// The executor's checked call through a site never patched, calls
    /// per second per AP.
    pub checked_calls_per_s: Option<u64>,
    /// One IPI sync round with no code modified, TSC cycles.
    pub ipi_sync_cycles: Option<u64>,
    /// One cpumask sync round, TSC cycles.
    pub cpumask_sync_cycles: Option<u64>,
    /// IPI floor rounds that timed out (the kernel then sends no
    /// `ipi_sync_cycles` figure but `timeout`).
    pub ipi_sync_timeouts: Option<u64>,
    /// The same for `cpumask`.
    pub cpumask_sync_timeouts: Option<u64>,
}

/// The latency histogram of one phase of an experiment ([`kind::HIST`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistRec {
    /// The experiment.
    pub exp: String,
    /// The phase, 1..=3.
    pub phase: u64,
    /// Patches counted.
    pub n: u64,
    /// The buckets as sent (see `stats::decode_hist`).
    pub buckets: String,
}

/// An experiment's start ([`kind::EXP_BEGIN`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpBegin {
    /// Transcript line.
    pub line: usize,
    /// The expectation the kernel holds it to.
    pub expectation: String,
    /// How long it is to run, ms.
    pub ms: Option<u64>,
    /// CPUs.
    pub cpus: Option<u64>,
}

/// One failure inside an experiment ([`kind::FAILURE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureRec {
    /// Transcript line.
    pub line: usize,
    /// CPU.
    pub cpu: Option<u64>,
    /// `wrong-target`, `fault`, `stray-bp`.
    pub what: String,
    /// RIP, for faults and stray breakpoints.
    pub rip: Option<u64>,
    /// The record's fields as sent (`cpu=2 what=stray-bp ...`).
    pub text: String,
}

/// A CPU the watchdog found stuck ([`kind::DEADLOCK`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadlockRec {
    /// Transcript line.
    pub line: usize,
    /// The stuck CPU.
    pub cpu: Option<u64>,
    /// Its RIP from the NMI (`None`: it did not answer the NMI).
    pub rip: Option<u64>,
    /// `rip` as sent (`0x...` or `no-nmi-response`).
    pub rip_text: String,
    /// The bytes at RIP.
    pub bytes: Option<String>,
    /// What the kernel says the CPU was waiting in (`bp-handler`).
    pub waiting: Option<String>,
}

/// An experiment's result ([`kind::EXP`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpRec {
    /// Transcript line.
    pub line: usize,
    /// The expectation as the kernel sent it.
    pub expectation: String,
    /// `pass`, `fail`, `caught`, `missed`, `deadlock`, `no-deadlock`,
    /// `observed`, `skip`, `error`.
    pub outcome: String,
    /// The kernel's own judgement (absent for `skip` and `error`).
    pub met: Option<bool>,
    /// Why it was skipped or could not run.
    pub reason: Option<String>,
    /// The patcher's error, if it stopped.
    pub error: Option<String>,
    /// Every numeric field: counters, latencies, times.
    pub counters: BTreeMap<String, u64>,
}

impl ExpRec {
    /// A counter, 0 when absent.
    pub fn n(&self, key: &str) -> u64 {
        self.counters.get(key).copied().unwrap_or(0)
    }

    /// A counter, if sent.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.counters.get(key).copied()
    }
}

/// Everything one experiment said, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExpFacts {
    /// Its name.
    pub name: String,
    /// `exp-begin`, if it arrived (a skipped experiment has none).
    pub begin: Option<ExpBegin>,
    /// The failure records (the kernel sends the first few of each kind).
    pub failures: Vec<FailureRec>,
    /// The deadlock records.
    pub deadlocks: Vec<DeadlockRec>,
    /// The `exp` record, if it arrived.
    pub result: Option<ExpRec>,
}

impl ExpFacts {
    fn new(name: &str) -> ExpFacts {
        ExpFacts {
            name: name.to_string(),
            begin: None,
            failures: Vec::new(),
            deadlocks: Vec::new(),
            result: None,
        }
    }
}

/// The bookkeeping of records lost on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Accounting {
    /// Believed records.
    pub seen: usize,
    /// Damaged record lines (counted and skipped, never believed).
    pub damaged: usize,
    /// Sequence numbers missing between believed records (and before the
    /// first one), as `(first, last)` ranges.
    pub gaps: Vec<(u32, u32)>,
    /// Records whose sequence number went backwards without a restart.
    pub out_of_order: usize,
    /// Boots in the transcript (a record with seq 0 after others starts
    /// one): more than one means the machine reset.
    pub boots: usize,
    /// Records before the end record that never arrived (needs the end
    /// record's count).
    pub lost_before_end: Option<u64>,
    /// Records after the end record.
    pub after_end: usize,
}

impl Accounting {
    /// Sequence numbers missing in gaps.
    pub fn missing_in_gaps(&self) -> u64 {
        self.gaps
            .iter()
            .map(|(a, b)| u64::from(b - a) + 1)
            .sum::<u64>()
    }
}

/// What the kernel said, read from the believed records.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    /// `hello`: how the kernel booted.
    pub boot: Option<String>,
    /// `hello`: its command line.
    pub cmdline: Option<String>,
    /// `hello`: the build id of the kernel ELF, as sent (hex, or `none`);
    /// absent from kernels before build ids
    /// ([`crate::judge::build_id`] finds the ELF by it).
    pub build_id: Option<String>,
    /// The machine.
    pub machine: Option<Machine>,
    /// TSC frequency in Hz.
    pub tsc_hz: Option<u64>,
    /// Where that frequency came from (`hpet`, `pit`, ...).
    pub tsc_source: Option<String>,
    /// Every reference's figure in the `tsc` record, in its order: a
    /// number of Hz, or the word saying why there is none (`absent`,
    /// `stuck`, `bogus`). Empty from kernels before the cross-check.
    pub tsc_figures: Vec<(String, String)>,
    /// The reference whose reading `tsc=skew` scaled, if the kernel says.
    pub tsc_skewed: Option<String>,
    /// Rounds of measurement the kernel needed (more than 1: a round's
    /// figures disagreed and every reference was measured again).
    pub tsc_rounds: Option<u64>,
    /// Each CPU's state.
    pub cpu_states: Vec<CpuState>,
    /// `cpus`: how many are up.
    pub cpus_up: Option<u64>,
    /// `cpus`: how many were expected.
    pub cpus_expected: Option<u64>,
    /// `cpus`: what the MADT holds and why some were not used (absent
    /// from kernels before the count).
    pub cpus_census: Option<CpuCensus>,
    /// Checks.
    pub checks: Vec<Check>,
    /// Faults.
    pub faults: Vec<Fault>,
    /// Panics.
    pub panics: Vec<Panic>,
    /// The control the kernel ran.
    pub control: Option<ControlRec>,
    /// The end record.
    pub end: Option<End>,
    /// The baseline measured before the experiments.
    pub baseline: Option<Baseline>,
    /// The experiments, in the order they began (or reported).
    pub experiments: Vec<ExpFacts>,
    /// Patch latency histograms, one per experiment and phase.
    pub hists: Vec<HistRec>,
    /// Lost records.
    pub accounting: Accounting,
    /// Records of kinds this harness does not know, by kind.
    pub unknown_kinds: BTreeMap<String, usize>,
    /// The damaged lines.
    #[serde(skip)]
    pub damaged: Vec<Damage>,
    /// The last believed record (for "stopped after ..." messages).
    #[serde(skip)]
    pub last: Option<Record>,
}

fn opt_str(r: &Record, k: &str) -> Option<String> {
    r.get(k).map(str::to_string)
}

fn str_or(r: &Record, k: &str, d: &str) -> String {
    r.get(k).unwrap_or(d).to_string()
}

impl Facts {
    /// Reads a transcript.
    pub fn from_transcript(t: &Transcript) -> Facts {
        let mut f = Facts {
            damaged: t.damaged.clone(),
            last: t.records.last().cloned(),
            ..Facts::default()
        };
        for r in &t.records {
            f.absorb(r);
        }
        f.accounting = account(t, f.end.as_ref());
        f
    }

    /// Takes one record in (in arrival order). Unknown kinds are counted,
    /// never an error. [`Facts::from_transcript`] calls it for every
    /// record; a live reader can call it as records arrive.
    pub fn absorb(&mut self, r: &Record) {
        match r.kind.as_str() {
            kind::HELLO => {
                self.boot.get_or_insert_with(|| str_or(r, "boot", "?"));
                self.cmdline.get_or_insert_with(|| str_or(r, "cmdline", ""));
                if self.build_id.is_none() {
                    self.build_id = opt_str(r, "build_id");
                }
            }
            kind::MACHINE => {
                self.machine.get_or_insert_with(|| Machine {
                    fields: r.fields.iter().cloned().collect(),
                });
            }
            kind::TSC => {
                if self.tsc_hz.is_none() {
                    self.tsc_hz = r.num("hz");
                    self.tsc_source = opt_str(r, "source");
                    self.tsc_skewed = opt_str(r, "skewed");
                    self.tsc_rounds = r.num("rounds");
                    self.tsc_figures = report::clock::MEASURED
                        .iter()
                        .chain(&report::clock::DECLARED)
                        .filter_map(|&k| Some((k.to_string(), r.get(k)?.to_string())))
                        .collect();
                }
            }
            kind::CPU => self.cpu_states.push(CpuState {
                cpu: r.num("cpu"),
                apic: r.num("apic"),
                state: str_or(r, "state", "?"),
            }),
            kind::CPUS => {
                self.cpus_up = r.num("up");
                self.cpus_expected = r.num("expected");
                self.cpus_census = r.num("listed").map(|listed| CpuCensus {
                    listed,
                    online_capable: r.num("online_capable"),
                    limit: r.num("limit"),
                    supported: r.num("supported"),
                    unaddressable: r.num("unaddressable"),
                    no_room: r.num("no_room"),
                    bringup_us: r.num("bringup_us"),
                });
            }
            kind::CHECK => self.checks.push(Check {
                name: str_or(r, "name", "?"),
                result: str_or(r, "result", "?"),
                detail: opt_str(r, "detail"),
            }),
            kind::FAULT => self.faults.push(Fault {
                line: r.line,
                cpu: r.num("cpu"),
                vector: r.num("vector"),
                name: opt_str(r, "name"),
                err: opt_str(r, "err"),
                rip: r.num("rip"),
                cr2: opt_str(r, "cr2"),
                bytes: opt_str(r, "bytes"),
            }),
            kind::PANIC => self.panics.push(Panic {
                cpu: r.num("cpu"),
                msg: str_or(r, "msg", "?"),
                at: str_or(r, "at", "?"),
            }),
            kind::CONTROL => {
                self.control.get_or_insert_with(|| ControlRec {
                    name: str_or(r, "name", "?"),
                    cpu: r.num("cpu"),
                    symbol: str_or(r, "symbol", "none"),
                    vector: str_or(r, "vector", "none"),
                });
            }
            kind::END => {
                // The first end record is the run's; anything after it is
                // counted by the accounting.
                self.end.get_or_insert_with(|| End {
                    line: r.line,
                    seq: r.seq,
                    verdict: str_or(r, "verdict", "?"),
                    records: r.num("records"),
                    failures: r.num("failures"),
                });
            }
            kind::BASELINE => {
                self.baseline.get_or_insert_with(|| Baseline {
                    direct_calls_per_s: r.num("direct_calls_per_s"),
                    checked_calls_per_s: r.num("checked_calls_per_s"),
                    ipi_sync_cycles: r.num("ipi_sync_cycles"),
                    cpumask_sync_cycles: r.num("cpumask_sync_cycles"),
                    ipi_sync_timeouts: r.num("ipi_sync_timeouts"),
                    cpumask_sync_timeouts: r.num("cpumask_sync_timeouts"),
                });
            }
            kind::EXP_BEGIN => {
                let mut e = ExpFacts::new(r.get("name").unwrap_or("?"));
                e.begin = Some(ExpBegin {
                    line: r.line,
                    expectation: str_or(r, "expectation", "?"),
                    ms: r.num("ms"),
                    cpus: r.num("cpus"),
                });
                self.experiments.push(e);
            }
            kind::FAILURE => {
                let text = r
                    .fields
                    .iter()
                    .filter(|(k, _)| k != "exp")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                self.experiment_for(r.get("exp").unwrap_or("?"))
                    .failures
                    .push(FailureRec {
                        line: r.line,
                        cpu: r.num("cpu"),
                        what: str_or(r, "what", "?"),
                        rip: r.num("rip"),
                        text,
                    });
            }
            kind::DEADLOCK => {
                self.experiment_for(r.get("exp").unwrap_or("?"))
                    .deadlocks
                    .push(DeadlockRec {
                        line: r.line,
                        cpu: r.num("cpu"),
                        rip: r.num("rip"),
                        rip_text: str_or(r, "rip", "?"),
                        bytes: opt_str(r, "bytes"),
                        waiting: opt_str(r, "waiting"),
                    });
            }
            kind::EXP => {
                const TEXT: [&str; 5] = ["name", "expectation", "outcome", "reason", "error"];
                let counters = r
                    .fields
                    .iter()
                    .filter(|(k, _)| !TEXT.contains(&k.as_str()) && k != "met")
                    .filter_map(|(k, v)| Some((k.clone(), report::parse_num(v)?)))
                    .collect();
                let rec = ExpRec {
                    line: r.line,
                    expectation: str_or(r, "expectation", "?"),
                    outcome: str_or(r, "outcome", "?"),
                    met: r.num("met").map(|m| m != 0),
                    reason: opt_str(r, "reason"),
                    error: opt_str(r, "error"),
                    counters,
                };
                // A second result for one experiment opens a new entry.
                self.experiment_for(r.get("name").unwrap_or("?")).result = Some(rec);
            }
            kind::HIST => self.hists.push(HistRec {
                exp: str_or(r, "exp", "?"),
                phase: r.num("phase").unwrap_or(0),
                n: r.num("n").unwrap_or(0),
                buckets: str_or(r, "buckets", "-"),
            }),
            other => *self.unknown_kinds.entry(other.to_string()).or_default() += 1,
        }
    }

    /// The open experiment named `name` (the last one, without a result),
    /// or a new entry for it: records of an experiment that never began
    /// (skipped, or its `exp-begin` lost) still count.
    fn experiment_for(&mut self, name: &str) -> &mut ExpFacts {
        let open = self
            .experiments
            .iter()
            .rposition(|e| e.name == name && e.result.is_none());
        let i = match open {
            Some(i) => i,
            None => {
                self.experiments.push(ExpFacts::new(name));
                self.experiments.len() - 1
            }
        };
        &mut self.experiments[i]
    }

    /// How many experiments the kernel judged unmet (or could not run):
    /// each of them counts one failure in its `end` record.
    pub fn experiments_unmet_by_kernel(&self) -> usize {
        self.experiments
            .iter()
            .filter_map(|e| e.result.as_ref())
            .filter(|r| r.met == Some(false) || r.outcome == "error")
            .count()
    }

    /// The `exp=PATTERN` and `ms=N` of the kernel's command line, if any.
    pub fn exp_pattern(&self) -> Option<(String, Option<u64>)> {
        let o = report::cmdline::Options::parse(self.cmdline.as_deref()?).ok()?;
        Some((o.experiments?.to_string(), o.exp_ms))
    }

    /// The CPU count best known: requested, else the kernel's expectation.
    pub(super) fn cpu_count(&self, smp: Option<u32>) -> Option<u32> {
        smp.or(self.cpus_expected.and_then(|n| u32::try_from(n).ok()))
            .or_else(|| self.machine.as_ref()?.fields.get("cpus")?.parse().ok())
    }
}

fn account(t: &Transcript, end: Option<&End>) -> Accounting {
    let mut a = Accounting {
        seen: t.records.len(),
        damaged: t.damaged.len(),
        boots: usize::from(!t.records.is_empty()),
        ..Accounting::default()
    };
    let mut prev: Option<u32> = None;
    for r in &t.records {
        match prev {
            None if r.seq > 0 => a.gaps.push((0, r.seq - 1)),
            None => {}
            Some(p) if r.seq == p.wrapping_add(1) => {}
            Some(p) if r.seq > p => a.gaps.push((p + 1, r.seq - 1)),
            Some(_) if r.seq == 0 => a.boots += 1,
            Some(_) => {
                a.out_of_order += 1;
                continue;
            }
        }
        prev = Some(r.seq);
    }
    if let Some(e) = end {
        let mut before: Vec<u32> = t
            .records
            .iter()
            .filter(|r| r.line < e.line && r.seq < e.seq)
            .map(|r| r.seq)
            .collect();
        before.sort_unstable();
        before.dedup();
        a.lost_before_end = e.records.map(|n| n.saturating_sub(before.len() as u64));
        a.after_end = t.records.iter().filter(|r| r.line > e.line).count();
    }
    a
}
