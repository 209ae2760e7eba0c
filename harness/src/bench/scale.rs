//! `harness bench --sites N,N,...`: the batch-scaling axis. Linux's
//! protocol one site at a time (`int3`) against all of a key's sites at
//! once (`int3-batch`), at each number of sites per key, from the `exp`
//! records of the same boots:
//!
//! | number | from |
//! |---|---|
//! | time per key update | `p1_cycles + p2_cycles + p3_cycles` (means per patch) / the boot's TSC Hz |
//! | time per site | the same / `sites` |
//! | sync rounds per update | `sync_rounds / patches`, and without the settle steps `(sync_rounds - settle_rounds) / patches` |
//! | IPIs per update | `ipis / patches` |
//! | #BP per update | `bp_hits / patches` |
//!
//! Rounds and IPIs are counted, not timed: they hold on any host. The
//! protocol wants 3 rounds per patch of `int3-batch` whatever the size, and
//! `3 * sites` of `int3`. A benchmark: nothing here fails on a number.

use crate::bench::common::{figure, BenchRow};
use serde::Serialize;

/// The experiment that patches one site at a time.
pub const ONE_BY_ONE: &str = "int3/gap/ipi/qword/timer";
/// The experiment that patches all of a key's sites at once.
pub const BATCHED: &str = "int3-batch/gap/ipi/qword/timer";

/// One experiment at one CPU count and size, over its repeats (medians).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleLine {
    /// The experiment.
    pub experiment: String,
    /// CPUs.
    pub smp: u32,
    /// Sites per key.
    pub sites: u64,
    /// Patches (key updates), over every repeat.
    pub patches: u64,
    /// Wall time of a key update, µs.
    pub update_us: Option<f64>,
    /// ... divided by the sites of the key, µs.
    pub site_us: Option<f64>,
    /// Sync rounds per update, settle steps included.
    pub rounds: Option<f64>,
    /// Sync rounds per update of the protocol itself (settle steps out).
    pub protocol_rounds: Option<f64>,
    /// Sync IPIs sent per update.
    pub ipis: Option<f64>,
    /// #BP hits per update.
    pub bp: Option<f64>,
    /// `int3-batch` over `int3` at the same CPU count and size: time per
    /// site (the same ratio as per update), on the batched line only.
    pub batch_over_one_time: Option<f64>,
    /// The same for sync rounds per update (protocol rounds).
    pub batch_over_one_rounds: Option<f64>,
}

fn median(xs: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let v: Vec<f64> = xs.flatten().collect();
    crate::judge::stats::median(&v)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// The scaling lines of `rows`: [`ONE_BY_ONE`] then [`BATCHED`] for each
/// CPU count and size, in that order; experiments of other names are left
/// out, and so is a size at which neither patched.
pub fn lines(rows: &[BenchRow]) -> Vec<ScaleLine> {
    let mut keys: Vec<(u32, u64)> = rows
        .iter()
        .filter(|r| r.experiment == ONE_BY_ONE || r.experiment == BATCHED)
        .map(|r| (r.smp, r.sites))
        .collect();
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for (smp, sites) in keys {
        let line = |name: &str| {
            let g: Vec<&BenchRow> = rows
                .iter()
                .filter(|r| r.experiment == name && r.smp == smp && r.sites == sites)
                .filter(|r| r.patches > 0)
                .collect();
            if g.is_empty() {
                return None;
            }
            let per = |f: &dyn Fn(&BenchRow) -> Option<f64>| median(g.iter().map(|r| f(r)));
            let update_us = per(&|r| r.patch_ns.map(|ns| ns / 1e3));
            Some(ScaleLine {
                experiment: name.to_string(),
                smp,
                sites,
                patches: g.iter().map(|r| r.patches).sum(),
                update_us,
                site_us: update_us.map(|u| u / sites.max(1) as f64),
                rounds: per(&|r| r.rounds_per_patch),
                protocol_rounds: per(&|r| {
                    r.rounds_per_patch
                        .map(|n| n - r.settle_rounds_per_patch.unwrap_or(0.0))
                }),
                ipis: per(&|r| r.ipis_per_patch),
                bp: per(&|r| r.bp_per_patch),
                batch_over_one_time: None,
                batch_over_one_rounds: None,
            })
        };
        let one = line(ONE_BY_ONE);
        let batch = line(BATCHED).map(|mut b| {
            if let Some(o) = &one {
                b.batch_over_one_time = ratio(b.site_us, o.site_us);
                b.batch_over_one_rounds = ratio(b.protocol_rounds, o.protocol_rounds);
            }
            b
        });
        out.extend(one);
        out.extend(batch);
    }
    out
}

/// The table for people (empty when no line).
pub fn table(lines: &[ScaleLine]) -> Vec<String> {
    if lines.is_empty() {
        return Vec::new();
    }
    let g = |x: Option<f64>| figure(&[x], false);
    let mut v = vec![
        "batch scaling: one key update (all sites of a key retargeted), int3 one site at a time against int3-batch all at once (medians over repeats)".to_string(),
        format!(
            "  {:<32} {:>4} {:>5} {:>8} {:>12} {:>10} {:>8} {:>9} {:>8} {:>8} {:>12} {:>12}",
            "experiment",
            "smp",
            "sites",
            "patches",
            "us/update",
            "us/site",
            "rounds",
            "protocol",
            "IPIs",
            "#BP",
            "batch/one t",
            "batch/one r"
        ),
    ];
    for l in lines {
        v.push(format!(
            "  {:<32} {:>4} {:>5} {:>8} {:>12} {:>10} {:>8} {:>9} {:>8} {:>8} {:>12} {:>12}",
            l.experiment,
            l.smp,
            l.sites,
            l.patches,
            g(l.update_us),
            g(l.site_us),
            g(l.rounds),
            g(l.protocol_rounds),
            g(l.ipis),
            g(l.bp),
            g(l.batch_over_one_time),
            g(l.batch_over_one_rounds),
        ));
    }
    v.push("  (rounds: sync rounds per update, settle steps included; protocol: without them, 3 per site for int3 and 3 per update for int3-batch if the protocol is followed; IPIs: sync IPIs sent per update; batch/one t: int3-batch's time per site over int3's at the same size; batch/one r: the same for protocol rounds)".into());
    let off: Vec<String> = lines
        .iter()
        .filter(|l| l.experiment == BATCHED)
        .filter(|l| l.protocol_rounds.is_some_and(|r| (r - 3.0).abs() > 1e-9))
        .map(|l| {
            format!(
                "  note: {} at {} sites, smp {}: {} protocol rounds per update, not 3",
                l.experiment,
                l.sites,
                l.smp,
                g(l.protocol_rounds)
            )
        })
        .collect();
    v.extend(off);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::experiment::Verdict;

    /// A row as `bench::row` makes it from an `exp` record, with only what
    /// the scaling table reads.
    fn synthetic(name: &str, sites: u64, cycles: u64, rounds: u64, settle: u64) -> BenchRow {
        let patches = 10;
        let hz = 1_000_000_000;
        BenchRow {
            experiment: name.into(),
            smp: 2,
            repeat: 0,
            verdict: Verdict::Pass,
            patches,
            floor_cycles: 1000,
            boot_floor_cycles: None,
            phase_cycles: [cycles / 3, cycles / 3, cycles - 2 * (cycles / 3)],
            phase_over_floor: [None; 3],
            floor_over_boot_floor: None,
            calls_per_s_per_ap: 1,
            direct_calls_per_s: None,
            calls_over_direct: None,
            checked_calls_per_s: None,
            direct_ns_per_call: None,
            checked_ns_per_call: None,
            patched_ns_per_call: None,
            checked_over_direct: None,
            patched_over_checked: None,
            percentiles: [None; 3],
            hists: [None, None, None],
            implausible: Vec::new(),
            bp_per_patch: Some(sites as f64),
            first_fail_ns: None,
            first_fail_patch: None,
            tsc_hz: Some(hz),
            sites,
            rounds_per_patch: Some(rounds as f64 / patches as f64),
            settle_rounds_per_patch: Some(settle as f64 / patches as f64),
            ipis_per_patch: Some(rounds as f64 / patches as f64),
            patch_ns: Some(cycles as f64 * 1e9 / hz as f64),
        }
    }

    #[test]
    fn each_size_gets_int3_then_int3_batch_with_the_batched_ratios_per_site() {
        let rows = vec![
            // 64 sites: int3 4 rounds a site (settled), 64 ms an update;
            // int3-batch 4 rounds an update, 2 ms.
            synthetic(BATCHED, 64, 2_000_000, 40, 10),
            synthetic(ONE_BY_ONE, 64, 64_000_000, 2560, 640),
            synthetic(ONE_BY_ONE, 1, 1_000_000, 40, 10),
            synthetic(BATCHED, 1, 1_000_000, 40, 10),
            synthetic("naive/-/none/qword", 4, 1, 1, 0),
        ];
        let l = lines(&rows);
        let got: Vec<(&str, u64)> = l.iter().map(|l| (l.experiment.as_str(), l.sites)).collect();
        assert_eq!(
            got,
            [
                (ONE_BY_ONE, 1),
                (BATCHED, 1),
                (ONE_BY_ONE, 64),
                (BATCHED, 64)
            ],
            "wanted int3 then int3-batch per size, the naive row left out"
        );
        let (one, batch) = (&l[2], &l[3]);
        assert_eq!(one.update_us, Some(64_000.0));
        assert_eq!(one.site_us, Some(1000.0));
        assert_eq!(one.rounds, Some(256.0));
        assert_eq!(one.protocol_rounds, Some(192.0), "3 per site");
        assert_eq!(batch.protocol_rounds, Some(3.0));
        assert_eq!(batch.ipis, Some(4.0));
        assert_eq!(batch.bp, Some(64.0));
        assert_eq!(batch.batch_over_one_time, Some(2_000.0 / 64_000.0));
        assert_eq!(batch.batch_over_one_rounds, Some(3.0 / 192.0));
        assert_eq!(
            one.batch_over_one_time, None,
            "the ratio is on the batched line"
        );
        assert_eq!(l[1].batch_over_one_time, Some(1.0));
    }

    #[test]
    fn the_table_names_every_size_and_notes_a_batch_off_three_rounds_without_failing() {
        let rows = vec![
            synthetic(ONE_BY_ONE, 8, 8_000_000, 320, 80),
            synthetic(BATCHED, 8, 1_000_000, 50, 10),
        ];
        let text = table(&lines(&rows)).join("\n");
        assert!(text.contains("batch scaling"), "{text}");
        assert!(
            text.contains("int3-batch/gap/ipi/qword/timer at 8 sites, smp 2: 4.00 protocol rounds per update, not 3"),
            "wanted the note on 4 rounds, got:\n{text}"
        );
        assert!(table(&[]).is_empty());
    }

    #[test]
    fn a_size_where_neither_patched_gives_no_line_and_repeats_give_medians() {
        let mut idle = synthetic(ONE_BY_ONE, 256, 0, 0, 0);
        idle.patches = 0;
        let mut second = synthetic(ONE_BY_ONE, 8, 24_000_000, 240, 0);
        second.repeat = 1;
        let mut third = synthetic(ONE_BY_ONE, 8, 16_000_000, 240, 0);
        third.repeat = 2;
        let rows = vec![
            idle,
            synthetic(ONE_BY_ONE, 8, 8_000_000, 240, 0),
            second,
            third,
        ];
        let l = lines(&rows);
        assert_eq!(l.len(), 1, "{l:?}");
        assert_eq!(l[0].update_us, Some(16_000.0), "the median of 8, 16, 24 ms");
        assert_eq!(l[0].patches, 30);
    }
}
