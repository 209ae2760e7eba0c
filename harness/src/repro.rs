//! `harness repro NAME`: a finding about an emulator, reduced to one
//! command. Each reproducer is the smallest selection of the kernel that
//! shows it (one experiment or a small grid, and the kernel words that
//! switch this project's own measures off) and the failure counters that
//! count it; the command boots it `--repeat` times and prints how often it
//! was seen, per experiment and per call through a site, each with its
//! bound at 95% ([`crate::judge::stats::upper_bound`]). A measurement: it
//! exits 0 whether the finding shows or not. Each has a page under
//! `docs/emulators/` that a maintainer of the emulator can read alone.

use crate::{
    judge::stats,
    request::{self, RunRequest, Setup},
    results::table::Print,
    status::Status,
    suite,
};
use anyhow::{bail, Result};

/// One reproducer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repro {
    /// Its name on the command line.
    pub name: &'static str,
    /// What it shows, in a line.
    pub what: &'static str,
    /// The experiments it boots (`harness list` pattern).
    pub experiment: &'static str,
    /// The kernel words that switch the project's measure off (empty:
    /// there is none to switch off).
    pub words: &'static str,
    /// CPUs, unless `--smp` says.
    pub smp: u32,
    /// The `exp` record's counters that count the finding.
    pub counters: &'static [&'static str],
    /// Its page.
    pub page: &'static str,
}

/// Every reproducer.
pub const REPROS: [Repro; 3] = [
    Repro {
        name: "tcg-stale-block",
        what: "a block translated from code another vCPU rewrites outlives the write, \
               after the executing vCPU serialized",
        experiment: "int3/gap/ipi/qword/timer",
        words: "settle=off",
        smp: 2,
        counters: &["stale_bp", "stale_call"],
        page: "docs/emulators/tcg-stale-block.md",
    },
    Repro {
        name: "tcg-notdirty",
        what: "after a race with another vCPU translating from the page, a writer's TLB entry \
               lets its stores to translated code skip the translator's check",
        experiment: "int3*/*/*/*/?i*",
        words: "poke=keep",
        smp: 2,
        counters: &["stale_bp", "stale_call"],
        page: "docs/emulators/tcg-notdirty.md",
    },
    Repro {
        name: "tcg-torn-store",
        what: "a 4-byte store into code that crosses an aligned 8-byte boundary inside one \
               cache line (atomic on Intel CPUs since the P6) is seen half done",
        experiment: "atomic/-/ipi/line",
        words: "",
        smp: 2,
        counters: &["faults", "stray_bp", "stale_call"],
        page: "docs/emulators/tcg-torn-store.md",
    },
];

/// The reproducer called `name`, or an error that lists them.
pub fn find(name: &str) -> Result<&'static Repro> {
    match REPROS.iter().find(|r| r.name == name) {
        Some(r) => Ok(r),
        None => bail!(
            "no reproducer `{name}`: there are {}",
            REPROS.map(|r| r.name).join(", ")
        ),
    }
}

/// What one boot of a reproducer counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    /// Experiments that ran (not skipped).
    pub experiments: u64,
    /// Of those, the ones where the finding showed.
    pub seen_in: u64,
    /// Its events (the counters' sum).
    pub hits: u64,
    /// Calls through a site: judged right, plus the events.
    pub calls: u64,
}

impl Count {
    /// Adds `other`.
    pub fn add(&mut self, other: Count) {
        self.experiments += other.experiments;
        self.seen_in += other.seen_in;
        self.hits += other.hits;
        self.calls += other.calls;
    }
}

/// What `counters` of each `exp` record that ran count, summed.
pub fn count<'a>(
    exps: impl IntoIterator<Item = &'a std::collections::BTreeMap<String, u64>>,
    counters: &[&str],
) -> Count {
    let mut c = Count::default();
    for e in exps {
        let Some(&calls) = e.get("calls") else {
            continue;
        };
        let hits: u64 = counters.iter().filter_map(|k| e.get(*k)).sum();
        c.experiments += 1;
        c.seen_in += u64::from(hits > 0);
        c.hits += hits;
        c.calls += calls + hits;
    }
    c
}

/// `k of n unit: r (95%: lo to hi)`, or for none `none of n unit (95%:
/// at most hi)`: the exact interval ([`stats::lower_bound`],
/// [`stats::upper_bound`]).
fn share(k: u64, n: u64, unit: &str) -> String {
    let at = |b: Option<f64>| b.map_or("?".into(), stats::rate);
    let hi = at(stats::upper_bound(k, n, stats::CONFIDENCE));
    match k {
        0 => format!("none of {n} {unit} (95%: at most {hi})"),
        _ => format!(
            "{k} of {n} {unit}: {} (95%: {} to {hi})",
            stats::rate(k as f64 / n.max(1) as f64),
            at(stats::lower_bound(k, n, stats::CONFIDENCE))
        ),
    }
}

/// The lines that say what `c` shows.
pub fn lines(c: &Count) -> [String; 2] {
    [
        format!(
            "  seen in {}",
            share(c.seen_in, c.experiments, "experiments")
        ),
        format!(
            "  events: {}",
            share(c.hits, c.calls, "calls through a site")
        ),
    ]
}

/// Prints every reproducer: its name, then what it shows, what it boots
/// and its page, indented, within 100 columns.
pub fn list() {
    for (i, r) in REPROS.iter().enumerate() {
        if i > 0 {
            println!();
        }
        println!("{}", r.name);
        let boots = format!(
            "Boots {} at -smp {}{}; counts {}.",
            r.experiment,
            r.smp,
            if r.words.is_empty() {
                String::new()
            } else {
                format!(" with {}", r.words)
            },
            r.counters.join(", ")
        );
        for text in [
            format!("{}.", capitalized(r.what)),
            boots,
            r.page.to_string(),
        ] {
            for l in wrap(&text, 96) {
                println!("    {l}");
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

/// `text` in lines of at most `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.len() + 1 + w.len() <= width => {
                l.push(' ');
                l.push_str(w);
            }
            _ => lines.push(w.to_string()),
        }
    }
    lines
}

/// The request of one boot of `r`.
pub fn request(r: &Repro, smp: Option<u32>, ms: u64) -> RunRequest {
    RunRequest {
        name: format!("repro-{}", r.name),
        smp: smp.unwrap_or(r.smp),
        accel: crate::boot::accel::AccelRequest::Tcg,
        cpu: None,
        timeout: None,
        boot: request::BootKind::Kernel,
        control: None,
        append: r.words.split_whitespace().map(str::to_string).collect(),
        expect: None,
        experiment: Some(r.experiment.into()),
        ms: Some(ms),
        qemu: None,
        emulator: request::Emulator::Qemu,
    }
}

/// Boots `r` `repeat` times and prints what it counted.
pub fn run(r: &Repro, req: &RunRequest, setup: &Setup, repeat: u32) -> Result<Status> {
    println!("repro {}", r.name);
    for l in wrap(&format!("{}.", capitalized(r.what)), 96) {
        println!("  {l}");
    }
    println!(
        "  {} under TCG, -smp {}, {} boot(s) of {}{}",
        setup.qemu.label(),
        req.smp,
        repeat,
        r.experiment,
        if r.words.is_empty() {
            String::new()
        } else {
            format!(" with {}", r.words)
        }
    );
    let mut total = Count::default();
    for i in 0..repeat {
        if crate::machine::live::interrupted() {
            bail!("interrupted");
        }
        let o = suite::run(req, setup, Print::Quiet)?;
        if o.status == Status::BadInput || o.boots.iter().any(|b| !b.outcome.judgement.met) {
            println!(
                "  boot {}/{repeat}: the platform failed or the run was refused: {}",
                i + 1,
                o.dir.display()
            );
            return Ok(Status::BadInput);
        }
        let c = count(o.experiments.iter().map(|j| &j.counters), r.counters);
        println!(
            "  boot {}/{repeat}: {} of {} experiment(s), {} event(s) in {} calls ({})",
            i + 1,
            c.seen_in,
            c.experiments,
            c.hits,
            c.calls,
            o.dir.display()
        );
        total.add(c);
    }
    for l in lines(&total) {
        println!("{l}");
    }
    println!("  what it means: {}", r.page);
    Ok(Status::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn exp(calls: u64, pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        let mut m: BTreeMap<String, u64> = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        m.insert("calls".into(), calls);
        m
    }

    #[test]
    fn every_reproducer_selects_experiments_and_counts_known_failure_counters() {
        let known: Vec<&str> = crate::judge::experiment::failure_counters().collect();
        for r in REPROS {
            assert!(crate::list::select(r.experiment).is_ok(), "{}", r.name);
            assert!(
                report::cmdline::Options::parse(r.words).is_ok(),
                "{}",
                r.name
            );
            for c in r.counters {
                assert!(known.contains(c), "{}: {c}", r.name);
            }
            assert!(r.page.starts_with("docs/emulators/"), "{}", r.name);
        }
    }

    #[test]
    fn an_unknown_reproducer_is_refused_naming_the_known_ones() {
        let e = find("tcg-stale").unwrap_err().to_string();
        assert!(
            e.contains("tcg-stale-block, tcg-notdirty, tcg-torn-store"),
            "{e}"
        );
    }

    #[test]
    fn a_count_sums_the_counters_and_the_calls_of_the_experiments_that_ran() {
        let skipped: BTreeMap<String, u64> = BTreeMap::new();
        let runs = [
            exp(1000, &[("stale_bp", 3), ("stale_call", 1)]),
            exp(500, &[("stale_bp", 0)]),
            skipped,
        ];
        let c = count(runs.iter(), &["stale_bp", "stale_call"]);
        assert_eq!(
            c,
            Count {
                experiments: 2,
                seen_in: 1,
                hits: 4,
                calls: 1504,
            }
        );
        let [per_exp, per_call] = lines(&c);
        assert!(per_exp.contains("1 of 2 experiments"), "{per_exp}");
        assert!(per_call.contains("4 of 1504 calls"), "{per_call}");
    }

    #[test]
    fn a_finding_not_seen_is_said_with_its_bound() {
        let c = Count {
            experiments: 3,
            seen_in: 0,
            hits: 0,
            calls: 3000,
        };
        let [_, per_call] = lines(&c);
        assert!(per_call.contains("none of 3000 calls"), "{per_call}");
        assert!(per_call.contains("95%: at most"), "{per_call}");
    }
}
