//! What the modes of `harness bench` share: the boots and the set they
//! run, one row per experiment and boot, how numbers are shown, the
//! tables, and the preparing of a bench directory.

use crate::{
    cli::BenchArgs,
    judge::experiment::{ExpJudgement, Verdict},
    judge::stats::{self, Spread},
    request::{RunRequest, Setup},
    results::evidence,
    results::render,
};
use anyhow::Result;
use serde::Serialize;
use std::time::SystemTime;

/// The boots of one CPU count: one `exp=` pattern each.
pub const BENCH_BOOTS: &[&str] = &[
    "int3/gap/ipi/qword/timer,int3-batch/gap/ipi/qword/timer",
    "*/-/*/qword",
];

/// What [`BENCH_BOOTS`] select together.
pub const BENCH_SET: &[&str] = &[
    "int3/gap/ipi/qword/timer",
    "int3-batch/gap/ipi/qword/timer",
    "naive/-/none/qword",
    "atomic/-/ipi/qword",
    "outofline-atomic/-/ipi/qword",
];

/// The boots of one CPU count: each pattern of [`BENCH_BOOTS`], the first
/// (`int3` and `int3-batch`) once per size of `sites` (`None`: no `sites=`
/// word, the kernel's default), the others once at the default size.
pub fn boots(sites: &[usize]) -> Vec<(&'static str, Option<usize>)> {
    let mut v = Vec::new();
    for (i, &p) in BENCH_BOOTS.iter().enumerate() {
        if i == 0 && !sites.is_empty() {
            v.extend(sites.iter().map(|&n| (p, Some(n))));
        } else {
            v.push((p, None));
        }
    }
    v
}

/// One experiment at one CPU count in one repeat, with its ratios.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// The experiment.
    pub experiment: String,
    /// CPUs.
    pub smp: u32,
    /// Which repeat (0 for the first).
    pub repeat: u32,
    /// Its verdict.
    pub verdict: Verdict,
    /// Patches completed.
    pub patches: u64,
    /// One sync round inside the experiment, cycles.
    pub floor_cycles: u64,
    /// One sync round of the same method in the boot's baseline, cycles.
    pub boot_floor_cycles: Option<u64>,
    /// Mean cycles per phase per patch.
    pub phase_cycles: [u64; 3],
    /// Each phase / the experiment's floor.
    pub phase_over_floor: [Option<f64>; 3],
    /// The experiment's floor / the boot's.
    pub floor_over_boot_floor: Option<f64>,
    /// Calls per second per executing AP through the sites.
    pub calls_per_s_per_ap: u64,
    /// The boot's plain direct-call loop, per AP.
    pub direct_calls_per_s: Option<u64>,
    /// The first over the second.
    pub calls_over_direct: Option<f64>,
    /// The boot's checked-call loop through a site never patched, per AP.
    pub checked_calls_per_s: Option<u64>,
    /// Nanoseconds per direct call (from `direct_calls_per_s`).
    pub direct_ns_per_call: Option<f64>,
    /// Nanoseconds per checked call, never patched.
    pub checked_ns_per_call: Option<f64>,
    /// Nanoseconds per checked call under patching.
    pub patched_ns_per_call: Option<f64>,
    /// Checked calls / direct calls per second (below 1: the check costs).
    pub checked_over_direct: Option<f64>,
    /// Checked calls under patching / checked calls never patched.
    pub patched_over_checked: Option<f64>,
    /// Per phase: the latency histogram's p50, p90, p99 and max, cycles.
    pub percentiles: [Option<[u64; 4]>; 3],
    /// Per phase: the histogram as sent (`stats::decode_hist`), for
    /// merging repeats.
    pub hists: [Option<Vec<u64>>; 3],
    /// Why a floor of this boot cannot be believed ([`implausible`]).
    pub implausible: Vec<String>,
    /// #BP hits per patch.
    pub bp_per_patch: Option<f64>,
    /// For the negative control: ns until the first failure.
    pub first_fail_ns: Option<u64>,
    /// ... and patches completed before it.
    pub first_fail_patch: Option<u64>,
    /// TSC Hz of the boot.
    pub tsc_hz: Option<u64>,
    /// Call sites per key (the `exp` record's `sites`; a kernel that did
    /// not say ran [`DEFAULT_SITES`]).
    pub sites: u64,
    /// Sync rounds begun per patch (key update), settle steps included.
    pub rounds_per_patch: Option<f64>,
    /// ... of which the settle steps (TCG only).
    pub settle_rounds_per_patch: Option<f64>,
    /// Sync IPIs sent per patch.
    pub ipis_per_patch: Option<f64>,
    /// Mean wall time of a patch (the three phases), ns.
    pub patch_ns: Option<f64>,
}

/// Sites per key of a boot without `sites=`.
pub const DEFAULT_SITES: u64 = report::cmdline::DEFAULT_SIZES.sites as u64;

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0 && a > 0).then(|| a as f64 / b as f64)
}

fn ns_per_call(calls_per_s: u64) -> Option<f64> {
    (calls_per_s > 0).then(|| 1e9 / calls_per_s as f64)
}

/// Why a call floor of `calls_per_s` per CPU cannot be believed on a TSC
/// of `tsc_hz`, or `None`: no call takes less than one TSC cycle (the TSC
/// runs at or near the nominal clock; a call and a return are several
/// instructions). A floor of 0 was not measured, which is broken too.
pub fn implausible(what: &str, calls_per_s: Option<u64>, tsc_hz: Option<u64>) -> Option<String> {
    match (calls_per_s, tsc_hz) {
        (None, _) => Some(format!("{what}: no floor in the baseline record")),
        (Some(0), _) => Some(format!("{what}: floor not measured (0 calls/s)")),
        (Some(c), Some(hz)) if hz > 0 && c > hz => Some(format!(
            "{what}: {c} calls/s is more than one call per TSC cycle ({hz} Hz): not a real call loop"
        )),
        _ => None,
    }
}

/// The row of one judged experiment of a boot, in repeat `repeat`.
pub fn row(j: &ExpJudgement, smp: u32, repeat: u32, boot: &crate::judge::Facts) -> BenchRow {
    let floor = j.n("floor_cycles");
    let sync = j.name.split('/').nth(2).unwrap_or("ipi");
    let boot_floor = boot.baseline.as_ref().and_then(|b| match sync {
        "cpumask" => b.cpumask_sync_cycles,
        // `none` measures its floor with an IPI round (the kernel's rule).
        _ => b.ipi_sync_cycles,
    });
    let p = [j.n("p1_cycles"), j.n("p2_cycles"), j.n("p3_cycles")];
    let direct = boot.baseline.as_ref().and_then(|b| b.direct_calls_per_s);
    let checked = boot.baseline.as_ref().and_then(|b| b.checked_calls_per_s);
    let calls = j.n("calls_per_s_per_ap");
    let mut hists: [Option<Vec<u64>>; 3] = [None, None, None];
    let mut percentiles = [None; 3];
    for h in boot.hists.iter().filter(|h| h.exp == j.name) {
        let i = h.phase.wrapping_sub(1) as usize;
        if let (Some(slot), Some(b)) = (hists.get_mut(i), stats::decode_hist(&h.buckets)) {
            let max = j.counters.get(&format!("p{}_max", i + 1)).copied();
            percentiles[i] = stats::percentiles(&b, max);
            *slot = Some(b.to_vec());
        }
    }
    // Counted by kernels that count it, per patch.
    let per_patch = |k: &str| {
        let n = j.n("patches");
        (n > 0)
            .then(|| j.counters.get(k).map(|&c| c as f64 / n as f64))
            .flatten()
    };
    // A floor with a sync round that timed out measured nothing.
    let boot_timeouts = boot.baseline.as_ref().and_then(|b| match sync {
        "cpumask" => b.cpumask_sync_timeouts,
        _ => b.ipi_sync_timeouts,
    });
    let implausible = [
        implausible("direct-call floor", direct, boot.tsc_hz),
        implausible("checked-call floor", checked, boot.tsc_hz),
        (j.n("floor_timeouts") > 0).then(|| {
            format!(
                "{}: {} sync round(s) of its floor timed out",
                j.name,
                j.n("floor_timeouts")
            )
        }),
        boot_timeouts.filter(|&n| n > 0).map(|n| {
            format!("boot floor ({sync}): {n} sync round(s) timed out, so it is no figure")
        }),
    ]
    .into_iter()
    .flatten()
    .collect();
    BenchRow {
        experiment: j.name.clone(),
        smp,
        repeat,
        verdict: j.verdict,
        patches: j.n("patches"),
        floor_cycles: floor,
        boot_floor_cycles: boot_floor,
        phase_cycles: p,
        phase_over_floor: p.map(|x| ratio(x, floor)),
        floor_over_boot_floor: boot_floor.and_then(|b| ratio(floor, b)),
        calls_per_s_per_ap: j.n("calls_per_s_per_ap"),
        direct_calls_per_s: direct,
        calls_over_direct: direct.and_then(|d| ratio(calls, d)),
        checked_calls_per_s: checked,
        direct_ns_per_call: direct.and_then(ns_per_call),
        checked_ns_per_call: checked.and_then(ns_per_call),
        patched_ns_per_call: ns_per_call(calls),
        checked_over_direct: checked.zip(direct).and_then(|(c, d)| ratio(c, d)),
        patched_over_checked: checked.and_then(|c| ratio(calls, c)),
        percentiles,
        hists,
        implausible,
        bp_per_patch: (j.n("patches") > 0).then(|| j.n("bp_hits") as f64 / j.n("patches") as f64),
        first_fail_ns: (j.n("failures") > 0)
            .then(|| j.counters.get("first_fail_ns").copied())
            .flatten(),
        first_fail_patch: (j.n("failures") > 0)
            .then(|| j.counters.get("first_fail_patch").copied())
            .flatten(),
        tsc_hz: boot.tsc_hz,
        sites: j.counters.get("sites").copied().unwrap_or(DEFAULT_SITES),
        rounds_per_patch: per_patch("sync_rounds"),
        settle_rounds_per_patch: per_patch("settle_rounds"),
        ipis_per_patch: per_patch("ipis"),
        patch_ns: boot
            .tsc_hz
            .filter(|&hz| hz > 0 && j.n("patches") > 0)
            .map(|hz| p.iter().sum::<u64>() as f64 * 1e9 / hz as f64),
    }
}

fn f(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 1.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.4}"),
        None => "-".into(),
    }
}

/// One figure over the repeats, for people: the value alone for one
/// sample; else `median [min..max]`, and for a ratio a trailing `~` when
/// its spread is wider than its effect ([`Spread::ratio_unclear`]).
pub fn figure(samples: &[Option<f64>], is_ratio: bool) -> String {
    let xs: Vec<f64> = samples.iter().flatten().copied().collect();
    let Some(sp) = Spread::of(&xs) else {
        return "-".into();
    };
    if xs.len() == 1 {
        return f(Some(sp.median));
    }
    let mark = if is_ratio && sp.ratio_unclear() {
        "~"
    } else {
        ""
    };
    format!(
        "{} [{}..{}]{mark}",
        f(Some(sp.median)),
        f(Some(sp.min)),
        f(Some(sp.max))
    )
}

/// The rows of one experiment at one CPU count, every repeat, in the
/// order of [`BENCH_SET`] then CPU count.
fn groups(rows: &[BenchRow]) -> Vec<Vec<&BenchRow>> {
    let mut g: Vec<Vec<&BenchRow>> = Vec::new();
    for r in rows {
        match g
            .iter_mut()
            .find(|v| v[0].experiment == r.experiment && v[0].smp == r.smp && v[0].sites == r.sites)
        {
            Some(v) => v.push(r),
            None => g.push(vec![r]),
        }
    }
    g
}

/// The histograms of phase `i` of a group, merged over its repeats, and
/// the greatest `p*_max` seen.
fn merged(g: &[&BenchRow], i: usize) -> Option<([u64; stats::HIST_BUCKETS], u64)> {
    let mut h = [0u64; stats::HIST_BUCKETS];
    let mut any = false;
    for r in g {
        if let Some(v) = &r.hists[i] {
            any = true;
            for (a, b) in h.iter_mut().zip(v) {
                *a += b;
            }
        }
    }
    let max = g
        .iter()
        .filter_map(|r| r.percentiles[i].map(|p| p[3]))
        .max()?;
    any.then_some((h, max))
}

/// An experiment's name in the tables, with ` xN` when it ran with `N`
/// sites per key other than the default (`--sites`).
pub fn label(r: &BenchRow) -> String {
    if r.sites == DEFAULT_SITES {
        r.experiment.clone()
    } else {
        format!("{} x{}", r.experiment, r.sites)
    }
}

/// The tables for people. With several repeats each figure is `median
/// [min..max]` ([`figure`]).
pub fn tables(rows: &[BenchRow], walls: &[(u32, f64)]) -> Vec<String> {
    let mut v = Vec::new();
    let groups = groups(rows);
    let w = rows
        .iter()
        .map(|r| label(r).len())
        .max()
        .unwrap_or(10)
        .max(10);
    let col = |g: &[&BenchRow], pick: &dyn Fn(&BenchRow) -> Option<f64>, ratio: bool| {
        figure(&g.iter().map(|r| pick(r)).collect::<Vec<_>>(), ratio)
    };
    let u = |x: Option<u64>| x.map(|x| x as f64);
    let repeats = rows.iter().map(|r| r.repeat).max().map_or(0, |m| m + 1);
    if repeats > 1 {
        v.push(format!(
            "{repeats} boots of each configuration: median [min..max]; `~` marks a ratio whose spread is wider than its effect (its range holds 1, or max/min - 1 exceeds its distance from 1)"
        ));
        v.push(String::new());
    }
    v.push("cost of a call, per AP, each step a ratio to the one before, all from the same boot: direct call -> checked call (site never patched) -> checked call under patching".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>22} {:>22} {:>22} {:>26} {:>26}",
        "experiment",
        "smp",
        "direct ns/call",
        "checked ns/call",
        "patched ns/call",
        "checked/direct",
        "patched/checked"
    ));
    for g in &groups {
        let r = g[0];
        v.push(format!(
            "  {:<w$} {:>4} {:>22} {:>22} {:>22} {:>26} {:>26}",
            label(r),
            r.smp,
            col(g, &|r| r.direct_ns_per_call, false),
            col(g, &|r| r.checked_ns_per_call, false),
            col(g, &|r| r.patched_ns_per_call, false),
            col(g, &|r| r.checked_over_direct, true),
            col(g, &|r| r.patched_over_checked, true),
        ));
    }
    v.push("  (ns per call = 1e9 / calls per second per AP; the direct call is counted in its callee, the checked call by the executor's counter)".into());
    v.push(String::new());
    v.push("calls per second per executing AP".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>34} {:>34} {:>34} {:>26}",
        "experiment", "smp", "direct/s/AP", "checked/s/AP", "patched/s/AP", "#BP/patch"
    ));
    for g in &groups {
        let r = g[0];
        v.push(format!(
            "  {:<w$} {:>4} {:>34} {:>34} {:>34} {:>26}",
            label(r),
            r.smp,
            col(g, &|r| u(r.direct_calls_per_s), false),
            col(g, &|r| u(r.checked_calls_per_s), false),
            col(g, &|r| u(Some(r.calls_per_s_per_ap)), false),
            col(g, &|r| r.bp_per_patch, false),
        ));
    }
    v.push(String::new());
    v.push("patch latency per phase, as a multiple of one sync round measured inside the same experiment (floor)".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>26} {:>26} {:>26} {:>26}  {:>26}",
        "experiment", "smp", "floor cyc", "p1/floor", "p2/floor", "p3/floor", "floor/boot"
    ));
    for g in groups.iter().filter(|g| g.iter().any(|r| r.patches > 0)) {
        let r = g[0];
        v.push(format!(
            "  {:<w$} {:>4} {:>26} {:>26} {:>26} {:>26}  {:>26}",
            label(r),
            r.smp,
            col(g, &|r| u(Some(r.floor_cycles)), false),
            col(g, &|r| r.phase_over_floor[0], true),
            col(g, &|r| r.phase_over_floor[1], true),
            col(g, &|r| r.phase_over_floor[2], true),
            col(g, &|r| r.floor_over_boot_floor, true)
        ));
    }
    v.push("  (floor/boot: the experiment's floor over the same sync round in the boot's baseline, taken before any executor ran)".into());
    v.push(String::new());
    v.push("patch latency per phase, distribution over every patch of every repeat (TSC cycles, from log-scale histograms: a percentile is the top of its bucket, at most 1.5x the true value)".into());
    v.push(format!(
        "  {:<w$} {:>4} {:>5} {:>7} {:>11} {:>11} {:>11} {:>11}",
        "experiment", "smp", "phase", "patches", "p50", "p90", "p99", "max"
    ));
    for g in &groups {
        let r = g[0];
        for i in 0..3 {
            let Some((h, max)) = merged(g, i) else {
                continue;
            };
            let Some(p) = stats::percentiles(&h, Some(max)) else {
                continue;
            };
            v.push(format!(
                "  {:<w$} {:>4} {:>5} {:>7} {:>11} {:>11} {:>11} {:>11}",
                label(r),
                r.smp,
                format!("p{}", i + 1),
                h.iter().sum::<u64>(),
                p[0],
                p[1],
                p[2],
                p[3]
            ));
        }
    }
    let caught: Vec<&BenchRow> = rows
        .iter()
        .filter(|r| r.experiment.starts_with("naive/"))
        .collect();
    if !caught.is_empty() {
        v.push(String::new());
        v.push("negative control: time and patches until the first failure was caught".into());
        for r in caught {
            v.push(format!(
                "  {:<w$} {:>4}  {}",
                label(r),
                r.smp,
                match (r.first_fail_ns, r.first_fail_patch) {
                    (Some(ns), p) => format!(
                        "caught after {}, {} patch(es) completed before it",
                        render::ns(ns),
                        p.map_or("?".into(), |p| p.to_string())
                    ),
                    (None, _) => "NOT caught".into(),
                }
            ));
        }
    }
    let mut bad: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.implausible
                .iter()
                .map(move |why| format!("  smp {} repeat {}: {why}", r.smp, r.repeat + 1))
        })
        .collect();
    bad.dedup();
    if !bad.is_empty() {
        v.push(String::new());
        v.push("IMPLAUSIBLE floors (the run is broken, its ratios mean nothing):".into());
        v.extend(bad);
    }
    v.push(String::new());
    v.push("wall time of the boots of one CPU count (boot, baseline, every experiment; median over repeats)".into());
    // Each CPU count once, in the order asked (the repeats come round
    // again: 2, 4, 2, 4).
    let mut smps: Vec<u32> = Vec::new();
    for w in walls {
        if !smps.contains(&w.0) {
            smps.push(w.0);
        }
    }
    let med = |smp: u32| {
        let xs: Vec<f64> = walls.iter().filter(|w| w.0 == smp).map(|w| w.1).collect();
        stats::median(&xs).unwrap_or(0.0)
    };
    let base = smps.first().map_or(0.0, |&s| med(s));
    for &smp in &smps {
        let secs = med(smp);
        v.push(format!(
            "  smp {smp:>2}: {secs:>6.1} s{}",
            if base > 0.0 {
                format!("  ({:.2}x smp {})", secs / base, smps[0])
            } else {
                String::new()
            }
        ));
    }
    v
}

/// CPU counts as the command line gives them: `2,4,8`.
pub fn list(counts: &[u32]) -> String {
    counts
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// What every mode of `harness bench` starts from.
pub struct Prepared {
    /// The request its boots share (each changes the CPU count, name,
    /// pattern or words).
    pub base: RunRequest,
    /// The bench directory.
    pub dir: std::path::PathBuf,
    /// A setup whose runs keep their evidence in `dir`.
    pub sub: Setup,
}

/// Checks the request named `name` (`experiment` for `a.ms` each, or the
/// platform alone) at every CPU count of `smps`, builds the kernel if
/// asked, and makes the bench directory. No ISO is asked for: a bench
/// boots the kernel.
pub fn prepare(
    a: &BenchArgs,
    setup: &Setup,
    build: bool,
    name: &str,
    experiment: Option<&str>,
    smps: &[u32],
    echo: bool,
) -> Result<Prepared> {
    let base = RunRequest {
        name: name.into(),
        smp: smps[0],
        accel: a.accel,
        cpu: a.cpu.clone(),
        timeout: a.timeout,
        boot: crate::request::BootKind::Kernel,
        control: None,
        append: a.append.clone(),
        expect: None,
        experiment: experiment.map(str::to_string),
        ms: experiment.map(|_| a.ms),
        qemu: None,
        emulator: crate::request::Emulator::Qemu,
    };
    for &smp in smps {
        crate::run::validate(
            &RunRequest {
                smp,
                ..base.clone()
            },
            setup,
        )?;
    }
    if build {
        setup.workspace.build_kernel()?;
    }
    let dir = evidence::create_run_dir(&setup.out, name, SystemTime::now())?;
    let sub = Setup::new(
        &setup.qemu.spec,
        Some(dir.clone()),
        Some(setup.elf.clone()),
        None,
        echo,
    )?;
    Ok(Prepared { base, dir, sub })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bench_boots_select_exactly_the_bench_set() {
        let mut got: Vec<String> = BENCH_BOOTS
            .iter()
            .flat_map(|p| crate::list::select(p).unwrap())
            .map(|e| e.name().to_string())
            .collect();
        got.sort();
        let mut want: Vec<String> = BENCH_SET.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn the_sites_axis_repeats_only_the_int3_boot_once_per_size() {
        assert_eq!(boots(&[]), [(BENCH_BOOTS[0], None), (BENCH_BOOTS[1], None)]);
        assert_eq!(
            boots(&[1, 64]),
            [
                (BENCH_BOOTS[0], Some(1)),
                (BENCH_BOOTS[0], Some(64)),
                (BENCH_BOOTS[1], None)
            ]
        );
        let selected: Vec<String> = crate::list::select(BENCH_BOOTS[0])
            .unwrap()
            .into_iter()
            .map(|e| e.name().to_string())
            .collect();
        assert_eq!(
            selected,
            [
                crate::bench::scale::ONE_BY_ONE,
                crate::bench::scale::BATCHED
            ],
            "the scaling boot selects int3 and int3-batch"
        );
    }

    #[test]
    fn a_row_reads_the_sizes_and_counts_of_its_record_and_defaults_without_them() {
        let (facts, mut j) = naive();
        let r = row(&j, 4, 0, &facts);
        assert_eq!(
            r.sites, DEFAULT_SITES,
            "an old kernel's record has no sites="
        );
        assert_eq!(r.rounds_per_patch, None);
        let p = j.n("patches");
        assert!(p > 0);
        j.counters.insert("sites".into(), 64);
        j.counters.insert("sync_rounds".into(), 4 * p);
        j.counters.insert("settle_rounds".into(), p);
        j.counters.insert("ipis".into(), 12 * p);
        let r = row(&j, 4, 0, &facts);
        assert_eq!(r.sites, 64);
        assert_eq!(
            label(&r),
            "naive/-/none/qword x64",
            "sizes apart in the tables"
        );
        assert_eq!(r.rounds_per_patch, Some(4.0));
        assert_eq!(r.settle_rounds_per_patch, Some(1.0));
        assert_eq!(r.ipis_per_patch, Some(12.0));
        let hz = facts.tsc_hz.unwrap() as f64;
        let want = r.phase_cycles.iter().sum::<u64>() as f64 * 1e9 / hz;
        assert_eq!(r.patch_ns, Some(want));
    }

    #[test]
    fn ratios_come_from_the_records_of_the_same_boot() {
        let (facts, j) = naive();
        let r = row(&j, 4, 0, &facts);
        let b = facts.baseline.as_ref().unwrap();
        assert_eq!(r.direct_calls_per_s, b.direct_calls_per_s);
        assert_eq!(
            r.boot_floor_cycles, b.ipi_sync_cycles,
            "naive syncs nothing: IPI floor"
        );
        assert_eq!(
            r.calls_over_direct,
            Some(j.n("calls_per_s_per_ap") as f64 / b.direct_calls_per_s.unwrap() as f64)
        );
        assert!(r.first_fail_ns.is_some() && r.first_fail_patch.is_some());
        let text = tables(&[r], &[(4, 2.0)]).join("\n");
        assert!(text.contains("caught after"), "{text}");
    }

    /// The facts and judgement of the naive experiment's saved transcript.
    fn naive() -> (crate::judge::Facts, ExpJudgement) {
        let t = crate::machine::transcript::Transcript::from_bytes(include_bytes!(
            "../../testdata/exp-naive-smp4.log"
        ));
        let facts = crate::judge::Facts::from_transcript(&t);
        let seen = crate::judge::seen::Where::new(
            facts.machine.as_ref(),
            crate::judge::seen::Via::Log,
            None,
        );
        let ctx = crate::judge::experiment::Context {
            seen: &seen,
            symbols: None,
            nobp_why: None,
        };
        let j = crate::judge::experiment::judge_one(
            plan::experiment::find("naive/-/none/qword"),
            &facts.experiments[0],
            &ctx,
        );
        (facts, j)
    }

    #[test]
    fn wall_time_is_one_line_per_cpu_count_over_the_repeats() {
        let t = tables(&[], &[(2, 1.0), (4, 3.0), (2, 2.0), (4, 5.0), (2, 9.0)]);
        let walls: Vec<&String> = t.iter().filter(|l| l.starts_with("  smp ")).collect();
        assert_eq!(walls.len(), 2, "{t:#?}");
        assert!(walls[0].contains("2.0 s"), "{}", walls[0]);
        assert!(
            walls[1].contains("4.0 s") && walls[1].contains("2.00x smp 2"),
            "{}",
            walls[1]
        );
    }

    #[test]
    fn a_floor_faster_than_one_call_per_tsc_cycle_is_implausible() {
        let hz = Some(2_600_000_000);
        // The old direct loop's 2.96e9 calls/s on a 2.6 GHz TSC.
        let why = implausible("direct-call floor", Some(2_960_000_000), hz).unwrap();
        assert!(why.contains("more than one call per TSC cycle"), "{why}");
        assert_eq!(
            implausible("direct-call floor", Some(120_000_000), hz),
            None
        );
        assert_eq!(
            implausible("direct-call floor", Some(2_600_000_000), hz),
            None,
            "one per cycle is the limit"
        );
        assert!(
            implausible("checked-call floor", Some(0), hz).is_some(),
            "0 means not measured"
        );
        assert!(
            implausible("checked-call floor", None, hz).is_some(),
            "an old kernel has no checked floor"
        );
    }

    #[test]
    fn one_sample_is_printed_alone_and_repeats_as_median_and_range() {
        assert_eq!(figure(&[Some(0.5)], true), "0.5000");
        assert_eq!(figure(&[None], true), "-");
        assert_eq!(
            figure(&[Some(0.4), Some(0.5), Some(0.6), None], true),
            "0.5000 [0.4000..0.6000]"
        );
    }

    #[test]
    fn a_ratio_whose_range_holds_one_is_marked_and_a_count_never_is() {
        assert_eq!(
            figure(&[Some(0.9), Some(1.05), Some(1.2)], true),
            "1.05 [0.9000..1.20]~"
        );
        assert_eq!(
            figure(&[Some(0.9), Some(1.05), Some(1.2)], false),
            "1.05 [0.9000..1.20]",
            "an absolute figure has no effect to compare its spread with"
        );
    }

    #[test]
    fn an_implausible_floor_is_listed_under_the_tables() {
        let (facts, j) = naive();
        // This transcript predates the checked floor: the row says so.
        let r = row(&j, 4, 0, &facts);
        assert!(
            r.implausible
                .iter()
                .any(|w| w.contains("checked-call floor")),
            "{:?}",
            r.implausible
        );
        let text = tables(&[r], &[(4, 2.0)]).join("\n");
        assert!(text.contains("IMPLAUSIBLE floors"), "{text}");
    }

    #[test]
    fn a_floor_built_on_a_timed_out_sync_round_is_refused() {
        let (mut facts, mut j) = naive();
        j.counters.insert("floor_timeouts".into(), 2);
        facts.baseline = Some(crate::judge::Baseline {
            direct_calls_per_s: Some(1),
            checked_calls_per_s: Some(1),
            ipi_sync_cycles: None,
            cpumask_sync_cycles: Some(200),
            ipi_sync_timeouts: Some(1),
            cpumask_sync_timeouts: None,
        });
        let r = row(&j, 4, 0, &facts);
        assert!(
            r.implausible
                .iter()
                .any(|w| w.contains("2 sync round(s) of its floor timed out")),
            "{:?}",
            r.implausible
        );
        assert!(
            r.implausible
                .iter()
                .any(|w| w.contains("boot floor (none): 1 sync round(s) timed out")),
            "{:?}",
            r.implausible
        );
    }

    #[test]
    fn percentiles_come_from_the_hist_records_of_the_same_experiment() {
        let mut facts = crate::judge::Facts::default();
        facts.hists.push(crate::judge::HistRec {
            exp: "atomic/-/ipi/qword".into(),
            phase: 1,
            n: 4,
            buckets: "19:3,20:1".into(),
        });
        facts.hists.push(crate::judge::HistRec {
            exp: "other".into(),
            phase: 2,
            n: 1,
            buckets: "40:1".into(),
        });
        let mut counters = std::collections::BTreeMap::new();
        counters.insert("p1_max".to_string(), 1100u64);
        let (_, mut j) = naive();
        j.name = "atomic/-/ipi/qword".into();
        j.counters = counters;
        let r = row(&j, 2, 0, &facts);
        // 3 samples in [768, 1024), 1 in [1024, 1280), the greatest 1100.
        assert_eq!(r.percentiles[0], Some([1023, 1100, 1100, 1100]));
        assert_eq!(r.percentiles[1], None, "another experiment's hist");
        let text = tables(&[r], &[]).join("\n");
        assert!(text.contains("1023"), "{text}");
    }
}
