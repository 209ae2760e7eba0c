//! `harness matrix FILE`: one kernel, many configurations, one table
//! (as kvm-unit-tests' `unittests.cfg`).
//!
//! # The table
//!
//! ```text
//! # comment
//! [defaults]          # optional: keys every row starts from
//! accel = tcg
//!
//! [smp4-nehalem]      # one row: its name, then its keys
//! smp = 4
//! cpu = Nehalem
//! ```
//!
//! The keys, their values and defaults are documented once, for users, in
//! `docs/harness.md` ("Matrix tables"); [`Keys::set`] parses them.
//!
//! Every row's QEMU is asked what it is before the first row runs: a row
//! whose QEMU is not set up, is not QEMU, or is older than QEMU 7.2 makes
//! the whole table bad input (status 2), never a skipped row. Each result
//! says the QEMU version it was seen on, and known failures
//! ([`crate::judge::known`]) are scoped by it.
//!
//! A row passes when its expectation is met: a negative control counts as
//! a pass when it is caught, a `timeout` row when the run hangs until its
//! deadline, an `experiment` row when every boot passes the platform
//! judgement and no experiment FAILs (SKIP and KFAIL do not fail it; the
//! row's line counts them); a sabotage row (`expect = fail`) when every
//! experiment FAILs through each kind of its `expect_kind` and nothing else
//! ([`kind`]). A row without `experiment` whose kernel runs experiments of
//! its own accord (an ISO boot: its menu's default entry runs the default
//! suite) has each of them judged as well, from the kernel's command line,
//! and passes only when none FAILs. The closing line is `N passed, N failed`
//! (`, N skipped` when rows were skipped); the exit status is 0 when no row
//! failed.

use crate::{
    boot::accel::AccelRequest,
    request::{self, BootKind, ExpectKind, RunRequest, Setup},
    results::evidence::{self, Case, CaseOutcome},
    results::table::Print,
    run, suite,
};
use anyhow::{bail, Context as _, Result};
use clap::ValueEnum;
use kind::FailureKind;
use std::{
    io::Write,
    path::Path,
    time::{Instant, SystemTime},
};

pub mod jobs;
pub mod kind;

pub use jobs::Jobs;

/// A row's deadline unless the table says otherwise.
pub const ROW_TIMEOUT: f64 = 30.0;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line of its `[name]`.
    pub line: usize,
    /// The run.
    pub request: RunRequest,
    /// Why it is skipped, if it is.
    pub skip: Option<String>,
    /// `expect = fail`: every experiment the row selects must FAIL.
    pub want_fail: bool,
    /// `expect_apic`: the APIC mode every boot must report.
    pub expect_apic: Option<ApicMode>,
    /// `expect_kind`: the failure kinds through which each must FAIL
    /// (non-empty exactly when `want_fail`).
    pub want_kinds: Vec<FailureKind>,
    /// `group`: the groups it belongs to (`harness matrix --group`).
    pub groups: Vec<String>,
}

/// An APIC mode, as the kernel's `machine` record names it (`apic=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApicMode {
    /// The MMIO interface (every x86 CPU since the P6; Nehalem; QEMU 7.2
    /// under TCG).
    Xapic,
    /// The MSR interface (QEMU 10's `-cpu max` under TCG).
    X2apic,
}

impl ApicMode {
    /// `xapic`, `x2apic`.
    pub fn name(self) -> &'static str {
        match self {
            ApicMode::Xapic => "xapic",
            ApicMode::X2apic => "x2apic",
        }
    }
}

/// Why a boot's APIC mode is not the one asked for, if it is not.
pub fn apic_mismatch(want: ApicMode, facts: &crate::judge::Facts) -> Option<String> {
    let got = facts
        .machine
        .as_ref()
        .map(|m| m.fields.get("apic").cloned().unwrap_or_else(|| "?".into()));
    match got.as_deref() {
        Some(g) if g == want.name() => None,
        Some(g) => Some(format!(
            "wanted APIC mode {} (`expect_apic`), the kernel reports `{g}`",
            want.name()
        )),
        None => Some(format!(
            "wanted APIC mode {} (`expect_apic`), but no machine record arrived",
            want.name()
        )),
    }
}

#[derive(Debug, Clone, Default)]
struct Keys {
    smp: Option<u32>,
    cpu: Option<String>,
    accel: Option<AccelRequest>,
    boot: Option<BootKind>,
    control: Option<String>,
    append: Option<String>,
    expect: Option<ExpectKind>,
    expect_kind: Option<Vec<FailureKind>>,
    timeout: Option<f64>,
    skip: Option<String>,
    experiment: Option<String>,
    ms: Option<u64>,
    qemu: Option<String>,
    expect_apic: Option<ApicMode>,
    group: Option<Vec<String>>,
    emulator: Option<EmulatorName>,
    ips: Option<u64>,
    quantum: Option<u32>,
}

/// `emulator =`: the machine a row boots on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EmulatorName {
    Qemu,
    Bochs,
}

impl Keys {
    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        fn en<T: ValueEnum>(key: &str, v: &str) -> Result<T> {
            T::from_str(v, false).map_err(|_| {
                let names: Vec<String> = T::value_variants()
                    .iter()
                    .filter_map(|x| x.to_possible_value())
                    .map(|p| p.get_name().to_string())
                    .collect();
                anyhow::anyhow!("`{key} = {v}`: wanted one of {}", names.join(", "))
            })
        }
        match key {
            "smp" => {
                let n: u32 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("`smp = {value}`: wanted a number"))?;
                if !(1..=request::MAX_SMP).contains(&n) {
                    bail!(
                        "`smp = {n}`: QEMU's `pc` machine, which the harness boots, takes 1 to {} CPUs",
                        request::MAX_SMP
                    );
                }
                self.smp = Some(n);
            }
            "cpu" => {
                if value.is_empty() {
                    bail!("`cpu = `: wanted a QEMU -cpu model (`qemu-system-x86_64 -cpu help`)");
                }
                self.cpu = Some(value.to_string());
            }
            "accel" => self.accel = Some(en(key, value)?),
            "boot" => self.boot = Some(en(key, value)?),
            "control" => {
                if crate::judge::controls::find(value).is_none() {
                    bail!(
                        "`control = {value}`: unknown control, wanted one of {} (docs/cmdline.md)",
                        crate::judge::controls::names()
                    );
                }
                self.control = Some(value.to_string());
            }
            "append" => {
                report::cmdline::Options::parse(value).map_err(|e| {
                    anyhow::anyhow!("`append = {value}`: {e} (docs/cmdline.md lists the words)")
                })?;
                self.append = Some(value.to_string());
            }
            "expect" => self.expect = Some(en(key, value)?),
            "expect_kind" => self.expect_kind = Some(kind::parse_kinds(value)?),
            "timeout" => {
                let t: f64 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("`timeout = {value}`: wanted seconds"))?;
                if !(t > 0.0 && t <= request::MAX_TIMEOUT) {
                    bail!("`timeout = {value}`: wanted 0 < seconds <= {}", request::MAX_TIMEOUT);
                }
                self.timeout = Some(t);
            }
            "skip" => {
                if value.is_empty() {
                    bail!("`skip = `: wanted the reason the row is skipped");
                }
                self.skip = Some(value.to_string());
            }
            "experiment" => {
                crate::list::select(value).with_context(|| format!("`experiment = {value}`"))?;
                self.experiment = Some(value.to_string());
            }
            "ms" => {
                let n: u64 = value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("`ms = {value}`: wanted milliseconds"))?;
                request::check_ms(n).map_err(|e| anyhow::anyhow!("`ms = {n}`: {e}"))?;
                self.ms = Some(n);
            }
            "qemu" => {
                crate::machine::qemu_info::QemuSpec::parse(value)
                    .with_context(|| format!("`qemu = {value}`"))?;
                self.qemu = Some(value.to_string());
            }
            "expect_apic" => self.expect_apic = Some(en(key, value)?),
            "group" => {
                let words: Vec<String> = value
                    .split([',', ' '])
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect();
                if let Some(w) = words.iter().find(|w| {
                    !w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                }) {
                    bail!("`group = {value}`: a group is made of letters, digits, `-`, `_`: `{w}`");
                }
                if words.is_empty() {
                    bail!("`group = `: wanted one or more group names");
                }
                self.group = Some(words);
            }
            "emulator" => self.emulator = Some(en(key, value)?),
            "ips" => {
                self.ips = Some(value.parse().map_err(|_| {
                    anyhow::anyhow!("`ips = {value}`: wanted instructions per second")
                })?);
            }
            "quantum" => {
                self.quantum = Some(value.parse().map_err(|_| {
                    anyhow::anyhow!("`quantum = {value}`: wanted a number of instructions")
                })?);
            }
            _ => bail!(
                "unknown key `{key}` (keys: smp, cpu, accel, boot, control, append, expect, expect_kind, timeout, skip, experiment, ms, qemu, expect_apic, group, emulator, ips, quantum)"
            ),
        }
        Ok(())
    }

    fn over(&self, base: &Keys) -> Keys {
        Keys {
            smp: self.smp.or(base.smp),
            cpu: self.cpu.clone().or(base.cpu.clone()),
            accel: self.accel.or(base.accel),
            boot: self.boot.or(base.boot),
            control: self.control.clone().or(base.control.clone()),
            append: self.append.clone().or(base.append.clone()),
            expect: self.expect.or(base.expect),
            expect_kind: self.expect_kind.clone().or(base.expect_kind.clone()),
            // An experiment row's deadline is per boot and grows with its
            // experiments: only the row's own `timeout` replaces it.
            timeout: if self.experiment.is_some() || base.experiment.is_some() {
                self.timeout
            } else {
                self.timeout.or(base.timeout)
            },
            skip: self.skip.clone().or(base.skip.clone()),
            experiment: self.experiment.clone().or(base.experiment.clone()),
            // `ms` in `[defaults]` is for the rows that run experiments.
            ms: if self.experiment.is_some() || base.experiment.is_some() {
                self.ms.or(base.ms)
            } else {
                self.ms
            },
            qemu: self.qemu.clone().or(base.qemu.clone()),
            expect_apic: self.expect_apic.or(base.expect_apic),
            group: self.group.clone().or(base.group.clone()),
            emulator: self.emulator.or(base.emulator),
            ips: self.ips.or(base.ips),
            quantum: self.quantum.or(base.quantum),
        }
    }

    fn into_row(self, name: String, line: usize) -> Row {
        let hang =
            self.expect == Some(ExpectKind::Timeout) || self.control.as_deref() == Some("hang");
        let timeout = match (&self.experiment, self.timeout) {
            (Some(_), t) => t,
            (None, t) => Some(t.unwrap_or(if hang {
                request::DEFAULT_HANG_TIMEOUT
            } else {
                ROW_TIMEOUT
            })),
        };
        let want_fail = self.expect == Some(ExpectKind::Fail);
        Row {
            line,
            skip: self.skip,
            want_fail,
            expect_apic: self.expect_apic,
            want_kinds: self.expect_kind.unwrap_or_default(),
            groups: self.group.unwrap_or_default(),
            request: RunRequest {
                name,
                smp: self.smp.unwrap_or(1),
                accel: self.accel.unwrap_or(AccelRequest::Auto),
                cpu: self.cpu,
                timeout,
                boot: self.boot.unwrap_or(BootKind::Kernel),
                control: self.control,
                append: self.append.into_iter().collect(),
                // The run itself expects a healthy boot; the row judges
                // the experiments (`want_fail`).
                expect: self.expect.filter(|&e| e != ExpectKind::Fail),
                experiment: self.experiment,
                ms: self.ms,
                qemu: self.qemu,
                emulator: match self.emulator {
                    Some(EmulatorName::Bochs) => request::Emulator::Bochs {
                        ips: self.ips.unwrap_or(crate::boot::bochs::DEFAULT_IPS),
                        quantum: self.quantum.unwrap_or(crate::boot::bochs::DEFAULT_QUANTUM),
                    },
                    _ => request::Emulator::Qemu,
                },
            },
        }
    }
}

/// An `expect = fail` row: every experiment that ran FAILed through each
/// of `kinds` and nothing else ([`kind::caught`]), on boots that are
/// otherwise healthy. `Ok` holds a line per experiment, what it counted.
fn sabotage_row(
    experiments: &[crate::judge::experiment::ExpJudgement],
    platform: &[String],
    kinds: &[FailureKind],
) -> (RowResult, Vec<String>) {
    let judged: Vec<_> = experiments
        .iter()
        .filter(|j| j.verdict.word() != "SKIP")
        .collect();
    let mut why = Vec::new();
    let mut seen = Vec::new();
    for j in &judged {
        match kind::caught(j, kinds) {
            Ok(counted) => seen.push(format!("caught {}: {counted}", j.name)),
            Err(e) => why.push(e),
        }
    }
    if judged.is_empty() {
        why.push("no experiment ran".into());
    }
    why.extend(platform.iter().cloned());
    if why.is_empty() {
        (RowResult::Pass, seen)
    } else {
        (RowResult::Fail(why), seen)
    }
}

/// Parses a table. Errors name the line.
pub fn parse_table(text: &str) -> Result<Vec<Row>> {
    let mut defaults = Keys::default();
    let mut rows: Vec<(String, usize, Keys)> = Vec::new();
    let mut in_defaults = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.split_once('#').map_or(raw, |(a, _)| a).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .with_context(|| format!("line {n}: a section is `[name]`, got `{line}`"))?
                .trim();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            {
                bail!("line {n}: a row name is made of letters, digits, `-`, `_`, `.`: `{name}`");
            }
            if name == "defaults" {
                if !rows.is_empty() || in_defaults {
                    bail!("line {n}: `[defaults]` must come once, before the first row");
                }
                in_defaults = true;
                continue;
            }
            in_defaults = false;
            if let Some((_, first, _)) = rows.iter().find(|(r, _, _)| r == name) {
                bail!("line {n}: row `{name}` already defined at line {first}");
            }
            rows.push((name.to_string(), n, Keys::default()));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .with_context(|| format!("line {n}: wanted `key = value` or `[name]`, got `{line}`"))?;
        let (k, v) = (k.trim(), v.trim());
        let target = if in_defaults {
            &mut defaults
        } else {
            match rows.last_mut() {
                Some((_, _, keys)) => keys,
                None => bail!("line {n}: `{k} = ...` before any `[name]`"),
            }
        };
        target.set(k, v).with_context(|| format!("line {n}"))?;
    }
    if rows.is_empty() {
        bail!("the table has no rows (a row starts with `[name]`)");
    }
    rows.into_iter()
        .map(|(name, line, keys)| {
            // A row that says `emulator = bochs` itself takes none of the
            // QEMU keys of `[defaults]`: they speak for the table's QEMU
            // rows (a Bochs row that sets one itself is refused below).
            let qemu_defaults = if keys.emulator == Some(EmulatorName::Bochs) {
                Keys {
                    accel: None,
                    boot: None,
                    qemu: None,
                    control: None,
                    ..defaults.clone()
                }
            } else {
                defaults.clone()
            };
            let k = keys.over(&qemu_defaults);
            if k.ms.is_some() && k.experiment.is_none() {
                bail!("line {line}: row `{name}` sets `ms` without `experiment`");
            }
            if k.expect == Some(ExpectKind::Fail) && k.experiment.is_none() {
                bail!(
                    "line {line}: row `{name}` says `expect = fail` without `experiment`: \
                     only experiments can be expected to fail (a sabotage row)"
                );
            }
            match (k.expect == Some(ExpectKind::Fail), k.expect_kind.is_some()) {
                (true, false) => bail!(
                    "line {line}: row `{name}` says `expect = fail` without `expect_kind`: \
                     a sabotage row names the failure kinds its defect must cause"
                ),
                (false, true) => {
                    bail!("line {line}: row `{name}` sets `expect_kind` without `expect = fail`")
                }
                _ => {}
            }
            let bochs = k.emulator == Some(EmulatorName::Bochs);
            if !bochs && (k.ips.is_some() || k.quantum.is_some()) {
                bail!("line {line}: row `{name}` sets `ips` or `quantum` without `emulator = bochs`");
            }
            if bochs {
                let qemu_only = [
                    ("accel", k.accel.is_some()),
                    ("boot", k.boot.is_some()),
                    ("qemu", k.qemu.is_some()),
                    ("control", k.control.is_some()),
                ];
                if let Some((key, _)) = qemu_only.iter().find(|(_, set)| *set) {
                    bail!(
                        "line {line}: row `{name}` sets `{key}` with `emulator = bochs`: Bochs boots \
                         the ISO made for the row through its BIOS and runs experiments only"
                    );
                }
                if k.experiment.is_none() {
                    bail!("line {line}: row `{name}` says `emulator = bochs` without `experiment`");
                }
            }
            Ok(k.into_row(name, line))
        })
        .collect()
}

/// How a row went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowResult {
    /// Met.
    Pass,
    /// Not met, with why.
    Fail(Vec<String>),
    /// Skipped, with why.
    Skip(String),
}

/// `N passed, N failed` and `, N skipped` when any were.
pub fn closing_line(results: &[RowResult]) -> String {
    let count = |f: fn(&RowResult) -> bool| results.iter().filter(|r| f(r)).count();
    let passed = count(|r| matches!(r, RowResult::Pass));
    let failed = count(|r| matches!(r, RowResult::Fail(_)));
    let skipped = count(|r| matches!(r, RowResult::Skip(_)));
    let mut s = format!("{passed} passed, {failed} failed");
    if skipped > 0 {
        s += &format!(", {skipped} skipped");
    }
    s
}

/// Which rows of a table run, and how many at once.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many at once.
    pub jobs: Jobs,
    /// Only rows whose name this glob (or comma list of globs) matches.
    pub filter: Option<String>,
    /// Only rows of this group.
    pub group: Option<String>,
    /// Each row this many times (`--repeat`).
    pub repeat: u32,
    /// Every row on Bochs (`--emulator bochs`): the model, and `ips` and
    /// `quantum` ([`on_bochs`]).
    pub bochs: Option<(String, u64, u32)>,
    /// The lines for people go to standard error (standard output is
    /// TAP's: `--tap`).
    pub human_to_stderr: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            jobs: Jobs::Rows(1),
            filter: None,
            group: None,
            repeat: 1,
            bochs: None,
            human_to_stderr: false,
        }
    }
}

/// The rows of a QEMU table as Bochs rows (`harness matrix --emulator
/// bochs`): each row of experiments keeps its CPUs, experiments, words and
/// expectations, and boots on Bochs' `model` (its deadline is the Bochs
/// run's own); a row of the platform alone, an ISO boot, or a row for one
/// QEMU release (`qemu =`) is skipped, saying why.
pub fn on_bochs(rows: Vec<Row>, model: &str, ips: u64, quantum: u32) -> Vec<Row> {
    rows.into_iter()
        .map(|mut r| {
            let why = if r.request.experiment.is_none() {
                Some("a row of the platform alone: QEMU only".to_string())
            } else if r.request.boot != BootKind::Kernel {
                Some(format!(
                    "a row that boots {}: QEMU only",
                    r.request.boot.name()
                ))
            } else {
                r.request
                    .qemu
                    .as_ref()
                    .map(|q| format!("a row for QEMU {q}"))
            };
            match why {
                Some(why) => {
                    r.skip.get_or_insert(why);
                }
                None => {
                    r.request.emulator = request::Emulator::Bochs { ips, quantum };
                    r.request.cpu = Some(model.to_string());
                    r.request.accel = AccelRequest::Auto;
                    r.request.timeout = None;
                }
            }
            r
        })
        .collect()
}

/// Each row `n` times, named `NAME-r1` to `NAME-rN` (unchanged when `n` is
/// 1), with the name each came from.
pub fn repeated(rows: Vec<Row>, n: u32) -> Vec<(String, Row)> {
    rows.into_iter()
        .flat_map(|r| {
            (1..=n).map(move |k| {
                let mut c = r.clone();
                if n > 1 {
                    c.request.name = format!("{}-r{k}", r.request.name);
                }
                (r.request.name.clone(), c)
            })
        })
        .collect()
}

/// The rows `o` selects; an error names the selection when none is left.
pub fn select(rows: Vec<Row>, o: &Options) -> Result<Vec<Row>> {
    let groups: std::collections::BTreeSet<&str> = rows
        .iter()
        .flat_map(|r| r.groups.iter().map(String::as_str))
        .collect();
    if let Some(g) = &o.group {
        if !groups.contains(g.as_str()) {
            bail!(
                "--group {g}: no row is in group `{g}` (groups: {})",
                if groups.is_empty() {
                    "none".to_string()
                } else {
                    groups.into_iter().collect::<Vec<_>>().join(", ")
                }
            );
        }
    }
    let picked: Vec<Row> = rows
        .into_iter()
        .filter(|r| o.group.as_ref().is_none_or(|g| r.groups.contains(g)))
        .filter(|r| {
            o.filter.as_ref().is_none_or(|f| {
                f.split(',')
                    .any(|p| plan::experiment::glob_match(p.trim(), &r.request.name))
            })
        })
        .collect();
    if picked.is_empty() {
        bail!(
            "--filter {}: no row{} matches",
            o.filter.as_deref().unwrap_or("*"),
            o.group
                .as_ref()
                .map_or(String::new(), |g| format!(" of group `{g}`"))
        );
    }
    Ok(picked)
}

/// `harness matrix --list`: one line per row, what it runs.
pub fn list_rows(rows: &[Row]) -> String {
    let w = rows.iter().map(|r| r.request.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let q = &r.request;
        let what = match (&q.experiment, &q.control) {
            (Some(e), _) => format!("experiment {e}"),
            (None, Some(c)) => format!("control {c}"),
            (None, None) => "platform".to_string(),
        };
        let mut line = format!(
            "{:<w$}  smp {:<3} {:<8} {}{}",
            q.name,
            q.smp,
            match q.emulator {
                // Bochs' BIOS boots the ISO made for the row.
                request::Emulator::Bochs { .. } => BootKind::IsoBios.name(),
                request::Emulator::Qemu => q.boot.name(),
            },
            what,
            match (q.emulator, &q.qemu) {
                (request::Emulator::Bochs { ips, quantum }, _) => format!(
                    ", bochs {} ips {ips} quantum {quantum}",
                    q.cpu
                        .as_deref()
                        .unwrap_or(crate::boot::bochs::DEFAULT_MODEL)
                ),
                (request::Emulator::Qemu, Some(v)) => format!(", qemu {v}"),
                (request::Emulator::Qemu, None) => String::new(),
            }
        );
        if !r.groups.is_empty() {
            line += &format!("  [{}]", r.groups.join(" "));
        }
        if let Some(why) = &r.skip {
            line += &format!("  SKIP: {why}");
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// Runs the table in `file`; returns whether every row that ran passed.
pub fn run_table(file: &Path, setup: &Setup, build: bool) -> Result<bool> {
    Ok(run_table_cases(file, setup, build, &Options::default())?.0)
}

/// What one row gave, before it is printed.
#[derive(Debug)]
struct RowRun {
    result: RowResult,
    /// The row's counts (`N passed, ...`), shown in its line.
    detail: Option<String>,
    /// Lines under the row's line: what a sabotage row caught, what a
    /// passing row did not pass.
    under: Vec<String>,
    /// Its run directory.
    dir: Option<std::path::PathBuf>,
    secs: f64,
    interrupted: bool,
    /// `first_fail_ns` of each experiment that failed.
    first_fail_ns: Vec<u64>,
}

/// What a row of experiments gave, on either emulator.
struct ExpRun {
    experiments: Vec<crate::judge::experiment::ExpJudgement>,
    tally: crate::judge::experiment::Tally,
    /// The platform's reasons, one line each.
    platform: Vec<String>,
    /// A boot whose APIC mode is not the row's `expect_apic`, one line each.
    apic: Vec<String>,
    met: bool,
    dir: std::path::PathBuf,
    interrupted: bool,
}

impl ExpRun {
    /// Runs the experiments of `row` on its emulator.
    fn of(row: &Row, setup: &Setup) -> Result<ExpRun> {
        let print = if setup.echo {
            Print::Live
        } else {
            Print::Quiet
        };
        let apic = |role: &str, facts: &crate::judge::Facts| {
            row.expect_apic
                .and_then(|want| apic_mismatch(want, facts))
                .map(|m| format!("boot {role}: {m}"))
        };
        Ok(match row.request.emulator {
            request::Emulator::Qemu => {
                let o = suite::run(&row.request, setup, print)?;
                if setup.echo {
                    suite::print_summary(&o, setup);
                }
                ExpRun {
                    interrupted: o
                        .boots
                        .iter()
                        .any(|b| b.outcome.ending == crate::judge::Ending::Interrupted),
                    apic: o
                        .boots
                        .iter()
                        .filter_map(|b| apic(&b.role, &b.outcome.facts))
                        .collect(),
                    platform: o.platform_lines(),
                    met: o.met,
                    dir: o.dir,
                    tally: o.tally,
                    experiments: o.experiments,
                }
            }
            request::Emulator::Bochs { .. } => {
                let o = crate::bochs_suite::run(&row.request, setup, print)?;
                if setup.echo {
                    crate::bochs_suite::print_summary(&o, setup);
                }
                ExpRun {
                    interrupted: o.interrupted(),
                    apic: o
                        .boots
                        .iter()
                        .filter_map(|b| apic(&b.role, &b.facts))
                        .collect(),
                    platform: o.platform_lines(),
                    met: o.met(),
                    dir: o.dir,
                    tally: o.tally,
                    experiments: o.experiments,
                }
            }
        })
    }
}

/// Runs one row (prints nothing unless the serial line is echoed).
fn run_row(row: &Row, setup: &Setup) -> RowRun {
    let start = Instant::now();
    let mut run = RowRun {
        result: RowResult::Pass,
        detail: None,
        under: Vec::new(),
        dir: None,
        secs: 0.0,
        interrupted: false,
        first_fail_ns: Vec::new(),
    };
    run.result = match &row.skip {
        Some(why) => RowResult::Skip(why.clone()),
        None if row.request.experiment.is_some() => match ExpRun::of(row, setup) {
            Ok(o) => {
                run.interrupted = o.interrupted;
                run.detail = Some(o.tally.line());
                run.first_fail_ns = o
                    .experiments
                    .iter()
                    .filter_map(|j| j.counters.get("first_fail_ns").copied())
                    .filter(|&ns| ns > 0)
                    .collect();
                // What did not pass, one line each (the run's directory
                // has the whole table).
                let not_passed: Vec<String> = o
                    .experiments
                    .iter()
                    .filter(|j| j.verdict.word() != "PASS" && j.verdict.word() != "SKIP")
                    .map(|j| {
                        format!(
                            "{} {}: {}",
                            j.verdict.word(),
                            j.name,
                            j.reasons.first().map_or("", String::as_str)
                        )
                    })
                    .collect();
                run.dir = Some(o.dir.clone());
                if !o.apic.is_empty() {
                    RowResult::Fail(o.apic)
                } else if row.want_fail {
                    let (r, seen) = sabotage_row(&o.experiments, &o.platform, &row.want_kinds);
                    run.under = seen;
                    r
                } else if o.met {
                    run.under = not_passed;
                    RowResult::Pass
                } else {
                    let mut v = not_passed;
                    v.extend(o.platform);
                    RowResult::Fail(v)
                }
            }
            Err(e) => RowResult::Fail(vec![format!("{e:#}")]),
        },
        None => match run::resolve(&row.request, setup).and_then(|p| run::execute(&p, setup)) {
            Ok(o) => {
                run.interrupted = o.ending == crate::judge::Ending::Interrupted;
                if !o.experiments.is_empty() {
                    run.detail = Some(crate::judge::experiment::Tally::of(&o.experiments).line());
                }
                let apic = row
                    .expect_apic
                    .and_then(|want| apic_mismatch(want, &o.facts));
                run.dir = Some(o.dir.clone());
                match (o.met(), apic) {
                    (true, None) => RowResult::Pass,
                    (_, apic) => {
                        RowResult::Fail(o.failure_lines().into_iter().chain(apic).collect())
                    }
                }
            }
            Err(e) => RowResult::Fail(vec![format!("{e:#}")]),
        },
    };
    run.secs = start.elapsed().as_secs_f64();
    run
}

/// A row's result as its line ends: `PASS (3 passed, ...; 4.2 s)`.
fn result_word(r: &RowRun) -> String {
    let extra = r
        .detail
        .as_ref()
        .map_or(String::new(), |d| format!("{d}; "));
    match &r.result {
        RowResult::Pass => format!("PASS ({extra}{:.1} s)", r.secs),
        RowResult::Fail(_) => format!("FAIL ({extra}{:.1} s)", r.secs),
        RowResult::Skip(why) => format!("SKIP ({why})"),
    }
}

/// The lines printed under a row's line.
fn lines_under(r: &RowRun) -> Vec<String> {
    let mut v: Vec<String> = r.under.iter().map(|l| format!("      {l}")).collect();
    if let RowResult::Fail(reasons) = &r.result {
        v.extend(reasons.iter().map(|l| format!("      {l}")));
        if let Some(d) = &r.dir {
            v.push(format!("      evidence: {}", d.display()));
        }
    }
    v
}

/// Where the lines for people go: standard output, or standard error
/// when standard output is TAP's.
#[derive(Debug, Clone, Copy)]
struct Human {
    stderr: bool,
}

impl Human {
    /// A whole line.
    fn line(self, line: &str) {
        if self.stderr {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// The start of a line, shown at once.
    fn start(self, text: &str) {
        if self.stderr {
            eprint!("{text}");
            let _ = std::io::stderr().flush();
        } else {
            print!("{text}");
            let _ = std::io::stdout().flush();
        }
    }
}

/// Where the rows' lines go: plain lines, or above a live progress bar
/// on a terminal.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    names: Vec<String>,
    running: Vec<usize>,
    human: Human,
}

impl Progress {
    fn new(names: Vec<String>, live: bool, human: Human) -> Progress {
        let bar = live.then(|| {
            let b = indicatif::ProgressBar::new(names.len() as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "[{elapsed_precise}] {pos}/{len} rows done; running: {msg}",
                )
                .expect("a valid template"),
            );
            b
        });
        Progress {
            bar,
            names,
            running: Vec::new(),
            human,
        }
    }

    fn println(&self, line: &str) {
        match &self.bar {
            Some(b) => b.println(line),
            None => self.human.line(line),
        }
    }

    fn started(&mut self, i: usize) {
        self.running.push(i);
        self.redraw();
    }

    fn done(&mut self, i: usize) {
        self.running.retain(|&j| j != i);
        if let Some(b) = &self.bar {
            b.inc(1);
        }
        self.redraw();
    }

    fn redraw(&self) {
        if let Some(b) = &self.bar {
            let names: Vec<&str> = self
                .running
                .iter()
                .map(|&i| self.names[i].as_str())
                .collect();
            b.set_message(names.join(", "));
            b.tick();
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// [`run_table`], with each row's case as `junit.xml` holds it (for TAP).
pub fn run_table_cases(
    file: &Path,
    setup: &Setup,
    build: bool,
    opts: &Options,
) -> Result<(bool, Vec<Case>)> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let rows = parse_table(&text).with_context(|| format!("in {}", file.display()))?;
    let picked = select(rows, opts).with_context(|| format!("in {}", file.display()))?;
    let picked = match &opts.bochs {
        Some((model, ips, quantum)) => on_bochs(picked, model, *ips, *quantum),
        None => picked,
    };
    let (origin, rows): (Vec<String>, Vec<Row>) =
        repeated(picked, opts.repeat.max(1)).into_iter().unzip();
    // A bad row is bad input: refuse the table before running any of it.
    for row in rows.iter().filter(|r| r.skip.is_none()) {
        run::check_request(&row.request, setup).with_context(|| {
            format!(
                "{}: row `{}` (line {})",
                file.display(),
                row.request.name,
                row.line
            )
        })?;
    }
    if build {
        setup.workspace.build_kernel()?;
    }
    // The serial echo of rows at once would interleave: one at a time.
    let jobs = if setup.echo && !opts.jobs.serial() {
        eprintln!("harness: --verbose echoes each row's serial line: one row at a time");
        Jobs::Rows(1)
    } else {
        opts.jobs
    };
    let matrix_dir = evidence::create_run_dir(&setup.out, "matrix", SystemTime::now())?;
    let n = rows.len();
    let width = n.to_string().len();
    let head = |i: usize| format!("[{:>width$}/{n}] {}", i + 1, rows[i].request.name);
    let serial = jobs.serial();
    // One row at a time, without a terminal: the row's name while it runs,
    // its result on the same line (as before `-j`).
    let same_line = serial && !setup.echo;
    let human = Human {
        stderr: opts.human_to_stderr,
    };
    let live = !serial
        && if human.stderr {
            std::io::IsTerminal::is_terminal(&std::io::stderr())
        } else {
            std::io::IsTerminal::is_terminal(&std::io::stdout())
        };
    if !serial && n > 1 {
        human.line(&format!("harness: {n} row(s), {}", jobs.label()));
    }
    let mut progress = Progress::new(
        rows.iter().map(|r| r.request.name.clone()).collect(),
        live,
        human,
    );
    let mut runs: Vec<Option<RowRun>> = (0..n).map(|_| None).collect();
    // Skipped rows need no thread, and weigh nothing.
    let weights: Vec<usize> = rows
        .iter()
        .map(|r| {
            if r.skip.is_some() {
                0
            } else {
                r.request.smp as usize
            }
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    jobs::run_pool(
        &weights,
        jobs,
        &stop,
        |i| {
            if crate::machine::live::interrupted() {
                // Ctrl-C came while this row was waiting for its turn.
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                return RowRun {
                    result: RowResult::Fail(vec!["interrupted before it began".into()]),
                    detail: None,
                    under: Vec::new(),
                    dir: None,
                    secs: 0.0,
                    interrupted: true,
                    first_fail_ns: Vec::new(),
                };
            }
            run_row(&rows[i], setup)
        },
        |e| match e {
            jobs::Event::Started(i) => {
                if same_line {
                    human.start(&format!("{} ... ", head(i)));
                } else if setup.echo {
                    human.line(&format!("{} ...", head(i)));
                }
                progress.started(i);
            }
            jobs::Event::Done(i, r) => {
                if r.interrupted || crate::machine::live::interrupted() {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let word = if r.interrupted {
                    "INTERRUPTED".to_string()
                } else {
                    result_word(&r)
                };
                if same_line {
                    human.line(&word);
                } else {
                    progress.println(&format!("{} ... {word}", head(i)));
                }
                for l in lines_under(&r) {
                    progress.println(&l);
                }
                progress.done(i);
                runs[i] = Some(r);
            }
            jobs::Event::Tick => progress.redraw(),
        },
    );
    progress.finish();
    // The log and the cases in table order, whatever order rows ended in;
    // written also when the table was interrupted.
    let mut results = Vec::new();
    let mut cases = Vec::new();
    let mut log = String::new();
    let mut interrupted = crate::machine::live::interrupted();
    for (i, r) in runs.iter().enumerate() {
        let Some(r) = r else {
            log += &format!("{} ... not run (interrupted)\n", head(i));
            continue;
        };
        interrupted |= r.interrupted;
        log += &format!(
            "{} ... {}{}\n",
            head(i),
            result_word(r),
            r.dir
                .as_ref()
                .map_or(String::new(), |d| format!(" {}", d.display()))
        );
        cases.push(Case {
            class: "matrix".into(),
            name: rows[i].request.name.clone(),
            time: r.secs,
            outcome: match &r.result {
                RowResult::Pass => CaseOutcome::Pass,
                RowResult::Fail(why) => CaseOutcome::failed(why),
                RowResult::Skip(w) => CaseOutcome::Skip(w.clone()),
            },
        });
        results.push(r.result.clone());
    }
    let closing = closing_line(&results);
    if opts.repeat > 1 {
        let mut t = crate::results::repeat::Tally::default();
        for (i, r) in runs.iter().enumerate() {
            if let Some(r) = r {
                let row = &rows[i];
                let expect = if row.want_fail {
                    "fail (sabotage)"
                } else {
                    "pass"
                };
                let word = match &r.result {
                    RowResult::Pass => "PASS",
                    RowResult::Fail(_) => "FAIL",
                    RowResult::Skip(_) => "SKIP",
                };
                t.add(&origin[i], expect, word, r.first_fail_ns.iter().copied());
            }
        }
        let table = t.render(opts.repeat);
        human.line(&table);
        log += &table;
    }
    log += &closing;
    log.push('\n');
    evidence::write(&matrix_dir, "matrix.log", &log)?;
    evidence::write(
        &matrix_dir,
        "junit.xml",
        &evidence::junit_xml(&format!("matrix {}", file.display()), &[], &cases),
    )?;
    human.line(&format!("evidence: {}", matrix_dir.display()));
    if interrupted {
        bail!("interrupted ({closing} before it)");
    }
    human.line(&closing);
    Ok((
        !results.iter().any(|r| matches!(r, RowResult::Fail(_))),
        cases,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_with_defaults_and_rows_parses() {
        let rows = parse_table(
            "# boot table\n[defaults]\naccel = tcg\n\n[smp4]\nsmp = 4\ncpu = Nehalem # old\n\
             [ud2]\nsmp = 2\ncontrol = ud2-ap\nexpect = fault\n[hang]\ncontrol = hang\ntimeout = 5\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        let r = &rows[0].request;
        assert_eq!(
            (r.name.as_str(), r.smp, r.cpu.as_deref(), r.accel),
            ("smp4", 4, Some("Nehalem"), AccelRequest::Tcg)
        );
        assert_eq!(
            r.timeout,
            Some(ROW_TIMEOUT),
            "wanted the default row timeout"
        );
        assert_eq!(rows[1].request.control.as_deref(), Some("ud2-ap"));
        assert_eq!(rows[2].request.timeout, Some(5.0));
        assert_eq!(rows[2].line, 12, "wanted the line of `[hang]`");
    }

    #[test]
    fn rows_are_selected_by_group_and_name() {
        let rows = || {
            parse_table(
                "[defaults]\ngroup = boot\n[smp1]\n[smp4]\nsmp = 4\n\
                 [grid]\nexperiment = int3/gap/*\ngroup = grid, slow\n[other]\nskip = why\n",
            )
            .unwrap()
        };
        let names = |o: &Options| -> Vec<String> {
            select(rows(), o)
                .unwrap()
                .into_iter()
                .map(|r| r.request.name)
                .collect()
        };
        assert_eq!(rows()[2].groups, ["grid", "slow"]);
        assert_eq!(rows()[0].groups, ["boot"], "from [defaults]");
        let by_group = Options {
            group: Some("boot".into()),
            ..Options::default()
        };
        assert_eq!(names(&by_group), ["smp1", "smp4", "other"]);
        let by_name = Options {
            filter: Some("smp*,grid".into()),
            ..Options::default()
        };
        assert_eq!(names(&by_name), ["smp1", "smp4", "grid"]);
        let both = Options {
            group: Some("slow".into()),
            filter: Some("smp*".into()),
            ..Options::default()
        };
        let e = format!("{:#}", select(rows(), &both).unwrap_err());
        assert!(e.contains("smp*") && e.contains("group `slow`"), "{e}");
        let unknown = Options {
            group: Some("fast".into()),
            ..Options::default()
        };
        let e = format!("{:#}", select(rows(), &unknown).unwrap_err());
        assert!(
            e.contains("`fast`") && e.contains("boot, grid, slow"),
            "{e}"
        );
        let listed = list_rows(&rows());
        assert!(
            listed.contains("grid   smp 1   kernel   experiment int3/gap/*  [grid slow]"),
            "{listed}"
        );
        assert!(
            listed.contains("other  smp 1   kernel   platform  [boot]  SKIP: why"),
            "{listed}"
        );
        let e = format!("{:#}", parse_table("[a]\ngroup = a/b\n").unwrap_err());
        assert!(e.contains("line 2") && e.contains("`a/b`"), "{e}");
    }

    #[test]
    fn the_shipped_tables_have_groups_for_every_row() {
        for t in [
            "platform.cfg",
            "torture.cfg",
            "bochs.cfg",
            "bochs-findings.cfg",
        ] {
            let text =
                std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(t)).unwrap();
            for r in parse_table(&text).unwrap() {
                assert!(
                    !r.groups.is_empty(),
                    "{t}: row `{}` has no group",
                    r.request.name
                );
            }
        }
    }

    #[test]
    fn a_bochs_row_takes_a_model_ips_and_quantum_and_the_bochs_table_parses() {
        let rows = parse_table(
            "[defaults]\nemulator = bochs\nexperiment = naive/*\n[a]\ncpu = corei5_arrandale_m520\nips = 200000000\nquantum = 4\n[b]\n",
        )
        .unwrap();
        assert_eq!(
            rows[0].request.emulator,
            request::Emulator::Bochs {
                ips: 200_000_000,
                quantum: 4
            }
        );
        assert_eq!(
            rows[0].request.cpu.as_deref(),
            Some("corei5_arrandale_m520")
        );
        assert_eq!(
            rows[1].request.emulator,
            request::Emulator::Bochs {
                ips: crate::boot::bochs::DEFAULT_IPS,
                quantum: crate::boot::bochs::DEFAULT_QUANTUM
            }
        );
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("bochs.cfg"))
            .unwrap();
        let rows = parse_table(&text).unwrap();
        assert!(rows
            .iter()
            .all(|r| matches!(r.request.emulator, request::Emulator::Bochs { .. })));
        assert!(rows
            .iter()
            .any(|r| r.want_fail && r.want_kinds == [FailureKind::Counter("wrong")]));
    }

    #[test]
    fn a_qemu_table_on_bochs_keeps_its_rows_of_experiments_and_skips_the_rest_saying_why() {
        let rows = parse_table(
            "[defaults]\naccel = tcg\n[plat]\nsmp = 2\n[grid]\nsmp = 8\nexperiment = int3/*\ntimeout = 90\n[q10]\nqemu = 10\nexperiment = int3/*\n[sab]\nexperiment = int3/*\nappend = break=operand-first\nexpect = fail\nexpect_kind = stray_bp,faults\n",
        )
        .unwrap();
        let rows = on_bochs(rows, "corei5_arrandale_m520", 120_000_000, 4);
        let skip: Vec<Option<&str>> = rows.iter().map(|r| r.skip.as_deref()).collect();
        assert_eq!(
            skip,
            [
                Some("a row of the platform alone: QEMU only"),
                None,
                Some("a row for QEMU 10"),
                None
            ]
        );
        let grid = &rows[1].request;
        assert_eq!(
            grid.emulator,
            request::Emulator::Bochs {
                ips: 120_000_000,
                quantum: 4
            }
        );
        assert_eq!(
            (grid.smp, grid.cpu.as_deref(), grid.timeout),
            (8, Some("corei5_arrandale_m520"), None)
        );
        assert!(rows[3].want_fail && rows[3].request.append == ["break=operand-first"]);
    }

    #[test]
    fn a_bochs_row_in_a_qemu_table_takes_none_of_its_qemu_defaults() {
        let rows = parse_table(
            "[defaults]\naccel = tcg\nqemu = 10\nms = 60\n[q]\nexperiment = naive/*\n\
             [b]\nemulator = bochs\nexperiment = naive/*\n",
        )
        .unwrap();
        assert_eq!(rows[0].request.accel, AccelRequest::Tcg);
        assert!(rows[0].request.qemu.is_some());
        assert!(matches!(
            rows[1].request.emulator,
            request::Emulator::Bochs { .. }
        ));
        assert!(rows[1].request.qemu.is_none());
        // The defaults' other keys still apply.
        assert_eq!(rows[1].request.ms, Some(60));
    }

    #[test]
    fn a_bochs_row_with_a_qemu_key_or_without_experiments_and_ips_without_bochs_are_refused() {
        for (key, text) in [
            (
                "`accel`",
                "[a]\nemulator = bochs\nexperiment = naive/*\naccel = tcg\n",
            ),
            (
                "`boot`",
                "[a]\nemulator = bochs\nexperiment = naive/*\nboot = iso-bios\n",
            ),
            (
                "`qemu`",
                "[a]\nemulator = bochs\nexperiment = naive/*\nqemu = 10\n",
            ),
            ("without `experiment`", "[a]\nemulator = bochs\n"),
            (
                "`ips` or `quantum` without",
                "[a]\nexperiment = naive/*\nips = 200000000\n",
            ),
            ("wanted one of qemu, bochs", "[a]\nemulator = bosch\n"),
            ("`quantum = x`", "[a]\nemulator = bochs\nquantum = x\n"),
        ] {
            let e = format!("{:#}", parse_table(text).unwrap_err());
            assert!(e.contains(key) && e.contains("line"), "{key}: {e}");
        }
    }

    #[test]
    fn a_bad_value_names_its_line_and_the_choices() {
        let e = parse_table("[a]\nsmp = 2\nboot = floppy\n").unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("line 3") && msg.contains("kernel, iso-bios, iso-uefi"),
            "wanted the line and the choices in {msg:?}"
        );
    }

    #[test]
    fn every_field_with_a_bad_value_is_refused_naming_its_line_the_field_and_the_value() {
        // (the line after `[a]\n`, what the message must name besides it)
        for (line, more) in [
            ("smp = four", "wanted a number"),
            ("smp = 0", "1 to"),
            ("smp = 4097", "1 to"),
            ("cpu =", "-cpu model"),
            ("accel = warp", "tcg, kvm, auto"),
            ("boot = floppy", "kernel, iso-bios, iso-uefi"),
            ("control = explode", "ud2-ap"),
            ("append = frobnicate", "unknown word"),
            ("append = break=nothing", "unknown sabotage"),
            ("append = cpus=0", "at least 1"),
            ("append = tsc=fast", "pit or skew"),
            ("append = settle=maybe", "on, off or auto"),
            ("append = ms=soon", "milliseconds"),
            ("append = exp=", "empty pattern"),
            ("expect = maybe", "pass, fault, timeout, fail, clock-fail"),
            ("expect_kind = stray-bp", "unknown failure kind"),
            ("timeout = soon", "wanted seconds"),
            ("timeout = 0", "0 < seconds"),
            ("timeout = -5", "0 < seconds"),
            ("timeout = 1e9", "0 < seconds"),
            ("skip =", "reason"),
            ("experiment = int4/*", "no experiment matches"),
            ("experiment =", "empty experiment pattern"),
            ("ms = soon", "wanted milliseconds"),
            ("ms = 0", "1 to"),
            ("qemu = 6", "7.2"),
            ("qemu =", "empty QEMU"),
            ("expect_apic = x3apic", "xapic, x2apic"),
        ] {
            let (field, value) = line.split_once('=').unwrap();
            let want = format!("`{} = {}", field.trim(), value.trim());
            let msg = format!("{:#}", parse_table(&format!("[a]\n{line}\n")).unwrap_err());
            assert!(
                msg.contains("line 2") && msg.contains(want.trim_end()) && msg.contains(more),
                "{line:?}: wanted `line 2`, {want:?} and {more:?} in the error, got {msg:?}"
            );
        }
    }

    #[test]
    fn smp_out_of_range_is_refused_in_a_table() {
        let msg = format!("{:#}", parse_table("[a]\nsmp = 0\n").unwrap_err());
        assert!(msg.contains("1 to 255"), "{msg}");
    }

    #[test]
    fn unknown_keys_and_duplicate_rows_are_refused() {
        assert!(parse_table("[a]\ncolour = red\n").is_err());
        let msg = format!("{:#}", parse_table("[a]\n[a]\n").unwrap_err());
        assert!(msg.contains("already defined at line 1"), "{msg}");
    }

    #[test]
    fn an_experiment_row_keeps_its_pattern_and_ms_and_ignores_the_default_timeout() {
        let rows = parse_table(
            "[defaults]\naccel = tcg\ntimeout = 30\nms = 60\n\
             [suite]\nexperiment = *\nsmp = 4\n\
             [own]\nexperiment = int3/spin/ipi/qword/self\ntimeout = 20\n\
             [plain]\nsmp = 2\n",
        )
        .unwrap();
        let r = &rows[0].request;
        assert_eq!(
            (r.experiment.as_deref(), r.ms, r.timeout),
            (Some("*"), Some(60), None),
            "an experiment row's deadline grows with its experiments"
        );
        assert_eq!(
            rows[1].request.timeout,
            Some(20.0),
            "unless the row sets it"
        );
        assert_eq!(rows[2].request.timeout, Some(30.0));
    }

    #[test]
    fn an_experiment_row_that_selects_nothing_or_ms_alone_is_refused() {
        let msg = format!(
            "{:#}",
            parse_table("[a]\nexperiment = int4/*\n").unwrap_err()
        );
        assert!(msg.contains("line 2") && msg.contains("`int4/*`"), "{msg}");
        let msg = format!("{:#}", parse_table("[a]\nms = 60\n").unwrap_err());
        assert!(msg.contains("`ms` without `experiment`"), "{msg}");
    }

    #[test]
    fn the_torture_table_parses_with_the_rows_make_test_runs() {
        let rows = parse_table(include_str!("../torture.cfg")).unwrap();
        let got: Vec<(&str, u32, Option<&str>)> = rows
            .iter()
            .filter(|r| !r.want_fail)
            .map(|r| {
                (
                    r.request.name.as_str(),
                    r.request.smp,
                    r.request.experiment.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("suite-smp4", 4, Some("*")),
                ("int3-grid-timer-smp2", 2, Some("int3*/*/*/*/?i*")),
                ("int3-grid-nmi-smp2", 2, Some("int3*/*/*/*/n?i")),
                ("int3-grid-timer-smp8", 8, Some("int3*/*/*/*/?i*")),
                ("int3-grid-nmi-smp8", 8, Some("int3*/*/*/*/n?i")),
                ("q10-int3-grid-timer-smp2", 2, Some("int3*/*/*/*/?i*")),
                ("q10-int3-grid-nmi-smp2", 2, Some("int3*/*/*/*/n?i")),
                (
                    "q10-x2apic-int3-grid-timer-smp4",
                    4,
                    Some("int3*/*/*/*/?i*")
                ),
                ("scale-smp255", 255, Some("int3/gap/ipi/qword/timer")),
                (
                    "deadlock-spin-self-smp2",
                    2,
                    Some("int3/spin/ipi/qword/self")
                ),
                (
                    "deadlock-retry-self-smp2",
                    2,
                    Some("int3/retry/ipi/qword/self")
                ),
            ]
        );
        let sabotage: Vec<(&str, &str, u32, &str)> = rows
            .iter()
            .filter(|r| r.want_fail)
            .map(|r| {
                (
                    r.request
                        .append
                        .iter()
                        .flat_map(|a| a.split_whitespace())
                        .find(|w| w.starts_with("break="))
                        .unwrap_or(""),
                    r.request.experiment.as_deref().unwrap_or(""),
                    r.request.smp,
                    r.request.name.as_str(),
                )
            })
            .collect();
        for s in report::cmdline::Sabotage::ALL {
            let word = format!("break={}", s.name());
            if s == report::cmdline::Sabotage::CpumaskFirstOut {
                assert!(
                    sabotage.iter().any(|r| r.0 == word && r.2 >= 4),
                    "{word}: wanted a row with 4 CPUs (with one other CPU the first out is the last)"
                );
            }
            assert!(
                sabotage.iter().any(|r| r.0 == word),
                "{word}: wanted a sabotage row in torture.cfg"
            );
        }
        for (append, pattern, _, name) in &sabotage {
            let sync = if pattern.contains("/cpumask/") {
                "cpumask"
            } else {
                "ipi"
            };
            if append.contains("ack-before-serialize") {
                assert_eq!(sync, "cpumask", "{name}");
            }
            if append.contains("jmp-as-call") {
                assert!(pattern.starts_with("outofline-"), "{name}");
            }
        }
        assert!(
            sabotage.iter().any(|r| r.1.contains("/cpumask/"))
                && sabotage.iter().any(|r| r.1.contains("/ipi/")),
            "wanted sabotage rows under both syncs"
        );
        let kinds: std::collections::BTreeSet<String> = rows
            .iter()
            .flat_map(|r| r.want_kinds.iter().map(ToString::to_string))
            .collect();
        for k in [
            "stray_bp",
            "faults",
            "wrong",
            "bad_return",
            "unsynced",
            "blind",
            "deadlock",
        ] {
            assert!(
                kinds.iter().any(|w| w.split('|').any(|x| x == k)),
                "no sabotage row expects `{k}`"
            );
        }
        assert!(
            rows.iter()
                .filter(|r| r.request.name.starts_with("sabotage-"))
                .all(|r| r.want_fail
                    && !r.want_kinds.is_empty()
                    && r
                        .request
                        .append
                        .iter()
                        .flat_map(|a| a.split_whitespace())
                        .any(|w| w.starts_with("break="))),
            "every sabotage row must break the protocol and expect every experiment to fail by kind"
        );
        // Every QEMU row under TCG (Bochs rows have no accelerator).
        assert!(rows.iter().all(|r| r.request.ms == Some(60)
            && (r.request.accel == AccelRequest::Tcg
                || matches!(r.request.emulator, request::Emulator::Bochs { .. }))));
        for r in rows.iter().filter(|r| r.request.name.starts_with("q10-")) {
            assert_eq!(r.request.qemu.as_deref(), Some("10"), "{}", r.request.name);
        }
        let x2 = rows
            .iter()
            .find(|r| r.request.name.contains("x2apic"))
            .unwrap();
        assert_eq!(
            (x2.request.cpu.as_deref(), x2.expect_apic),
            (Some("max"), Some(ApicMode::X2apic)),
            "the x2APIC grid runs QEMU 10's -cpu max and checks the mode"
        );
        assert!(
            rows.iter()
                .filter(|r| !r.request.name.starts_with("q10-"))
                .all(|r| r.request.qemu.is_none()),
            "the other rows run under the matrix's --qemu"
        );
    }

    #[test]
    fn a_sabotage_row_without_expect_kind_or_with_a_typo_in_it_is_refused_naming_line_and_field() {
        let e = format!(
            "{:#}",
            parse_table("[s]\nexperiment = int3/gap/ipi/*/timer\nexpect = fail\n").unwrap_err()
        );
        assert!(
            e.contains("line 1") && e.contains("without `expect_kind`"),
            "{e}"
        );
        let e = format!(
            "{:#}",
            parse_table(
                "[s]\nexperiment = int3/gap/ipi/*/timer\nexpect = fail\nexpect_kind = stray-bp\n"
            )
            .unwrap_err()
        );
        assert!(
            e.contains("line 4")
                && e.contains("`expect_kind = stray-bp`")
                && e.contains("unknown failure kind `stray-bp`"),
            "wanted the line, the field and the kind named, got {e}"
        );
        let e = format!(
            "{:#}",
            parse_table("[s]\nexperiment = int3/gap/ipi/*/timer\nexpect_kind = faults\n")
                .unwrap_err()
        );
        assert!(e.contains("`expect_kind` without `expect = fail`"), "{e}");
    }

    #[test]
    fn the_closing_line_mentions_skips_only_when_there_are_some() {
        let mut r = vec![RowResult::Pass, RowResult::Fail(vec![])];
        assert_eq!(closing_line(&r), "1 passed, 1 failed");
        r.push(RowResult::Skip("no kvm".into()));
        assert_eq!(closing_line(&r), "1 passed, 1 failed, 1 skipped");
    }

    #[test]
    fn the_platform_table_parses_with_every_row_the_brief_asks_for() {
        let rows = parse_table(include_str!("../platform.cfg")).unwrap();
        let names: Vec<&str> = rows.iter().map(|r| r.request.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "smp1",
                "smp2",
                "smp4",
                "smp8",
                "smp4-nehalem",
                "q10-max-smp1",
                "q10-max-smp4",
                "q10-max-smp8",
                "smp64",
                "smp255",
                "q10-max-smp255",
                "smp4-cpus2",
                "smp2-tsc-pit",
                "iso-bios-smp4",
                "iso-uefi-smp4",
                "control-ud2-ap",
                "control-write-text",
                "control-exec-data",
                "control-tsc-skew",
                "control-hang",
            ]
        );
        for r in &rows {
            assert_eq!(
                r.request.accel,
                AccelRequest::Tcg,
                "row {}: wanted TCG (KVM here cannot run int3)",
                r.request.name
            );
        }
        let hang = rows.last().unwrap();
        assert_eq!(
            hang.request.timeout,
            Some(5.0),
            "the hang row waits out its whole deadline: keep it at 5 s"
        );
        for r in rows.iter().filter(|r| r.request.name.starts_with("q10-")) {
            assert_eq!(
                (
                    r.request.qemu.as_deref(),
                    r.request.cpu.as_deref(),
                    r.expect_apic
                ),
                (Some("10"), Some("max"), Some(ApicMode::X2apic)),
                "row {}: QEMU 10's -cpu max brings the kernel up in x2APIC mode",
                r.request.name
            );
        }
    }

    #[test]
    fn a_row_names_its_qemu_by_major_version_or_path_and_inherits_the_default() {
        let rows = parse_table(
            "[defaults]\nqemu = 10\n[a]\nsmp = 2\n[b]\nqemu = /opt/qemu/bin/qemu-system-x86_64\n",
        )
        .unwrap();
        assert_eq!(rows[0].request.qemu.as_deref(), Some("10"));
        assert_eq!(
            rows[1].request.qemu.as_deref(),
            Some("/opt/qemu/bin/qemu-system-x86_64")
        );
        let rows = parse_table("[a]\nsmp = 2\n").unwrap();
        assert_eq!(
            rows[0].request.qemu, None,
            "no `qemu`: the --qemu of the matrix"
        );
    }

    #[test]
    fn a_qemu_older_than_supported_or_empty_is_refused_naming_its_line() {
        let msg = format!("{:#}", parse_table("[a]\nsmp = 2\nqemu = 6\n").unwrap_err());
        assert!(msg.contains("line 3") && msg.contains("7.2"), "{msg}");
        let msg = format!("{:#}", parse_table("[a]\nqemu =\n").unwrap_err());
        assert!(
            msg.contains("line 2") && msg.contains("empty QEMU"),
            "{msg}"
        );
    }

    #[test]
    fn expect_apic_takes_the_kernel_s_names_and_is_checked_against_the_machine_record() {
        let rows = parse_table("[a]\nexpect_apic = x2apic\n").unwrap();
        assert_eq!(rows[0].expect_apic, Some(ApicMode::X2apic));
        let msg = format!(
            "{:#}",
            parse_table("[a]\nexpect_apic = x3apic\n").unwrap_err()
        );
        assert!(msg.contains("xapic, x2apic"), "{msg}");
        let facts = crate::judge::Facts::from_transcript(
            &crate::machine::transcript::Transcript::from_bytes(include_bytes!(
                "../testdata/clean.log"
            )),
        );
        assert_eq!(apic_mismatch(ApicMode::Xapic, &facts), None);
        let why = apic_mismatch(ApicMode::X2apic, &facts).expect("clean.log is xapic");
        assert!(why.contains("the kernel reports `xapic`"), "{why}");
        let none = apic_mismatch(ApicMode::X2apic, &crate::judge::Facts::default()).unwrap();
        assert!(none.contains("no machine record"), "{none}");
    }

    #[test]
    fn expect_fail_needs_experiments_and_is_not_passed_to_the_boot() {
        let e = parse_table("[x]\nexpect = fail\n").unwrap_err().to_string();
        assert!(e.contains("`expect = fail` without `experiment`"), "{e}");
        let rows = parse_table(
            "[s]\nexperiment = int3/gap/ipi/*/timer\nappend = break=gap-return\nexpect = fail\n\
             expect_kind = bad_return\n",
        )
        .unwrap();
        assert!(
            rows[0].want_fail,
            "wanted the row to expect every experiment to fail"
        );
        assert_eq!(rows[0].want_kinds, [FailureKind::Counter("bad_return")]);
        assert_eq!(
            rows[0].request.expect, None,
            "the boot itself must still be judged healthy"
        );
    }
}
