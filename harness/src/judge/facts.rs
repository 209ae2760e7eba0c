//! What the kernel said: the believed records read into typed facts, and
//! the bookkeeping of records lost on the way.

use crate::{
    controls,
    symbols::Symbols,
    transcript::{Damage, Record, Transcript},
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
    /// The machine.
    pub machine: Option<Machine>,
    /// TSC frequency in Hz.
    pub tsc_hz: Option<u64>,
    /// Where that frequency came from (`hpet`, `pit`, ...).
    pub tsc_source: Option<String>,
    /// Each CPU's state.
    pub cpu_states: Vec<CpuState>,
    /// `cpus`: how many are up.
    pub cpus_up: Option<u64>,
    /// `cpus`: how many were expected.
    pub cpus_expected: Option<u64>,
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

    /// Takes one record in. Unknown kinds are counted, never an error.
    fn absorb(&mut self, r: &Record) {
        match r.kind.as_str() {
            kind::HELLO => {
                self.boot.get_or_insert_with(|| str_or(r, "boot", "?"));
                self.cmdline.get_or_insert_with(|| str_or(r, "cmdline", ""));
            }
            kind::MACHINE => {
                self.machine.get_or_insert_with(|| Machine {
                    fields: r.fields.iter().cloned().collect(),
                });
            }
            kind::TSC => {
                self.tsc_hz = self.tsc_hz.or(r.num("hz"));
                self.tsc_source = self.tsc_source.take().or(opt_str(r, "source"));
            }
            kind::CPU => self.cpu_states.push(CpuState {
                cpu: r.num("cpu"),
                apic: r.num("apic"),
                state: str_or(r, "state", "?"),
            }),
            kind::CPUS => {
                self.cpus_up = r.num("up");
                self.cpus_expected = r.num("expected");
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
            other => *self.unknown_kinds.entry(other.to_string()).or_default() += 1,
        }
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
