//! The golden transcripts of `harness/testdata/`, damaged the ways a serial
//! line, a crash or a careless copy damages a log, then read and judged as
//! `harness parse` reads and judges them.
//!
//! What must hold for every damaged log:
//!
//! * reading, judging and rendering it, whole (`harness parse`) or as it
//!   arrives (`harness watch`), never panics and ends in bounded time
//!   ([`DEADLINE`]);
//! * the run passes (status 0) only when every record of the original
//!   arrived intact: damage may touch human text, never a believed record;
//! * an experiment is PASS only when its own `exp` record arrived intact
//!   and the original judged it PASS too: an experiment whose records
//!   were cut away is never PASS.
//!
//! The damage is drawn by proptest from a fixed seed with a fixed number of
//! cases, so the test is the same on every run and stays fast.

mod common;

use harness::{
    judge::experiment::Verdict,
    machine::qemu_info::QemuVersion,
    machine::transcript::{Record, MAX_LINE},
    status::Status,
};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, RngSeed, TestRunner},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

/// How long one damaged log may take to read, judge and render. A healthy
/// one takes milliseconds; this only catches a hang.
const DEADLINE: Duration = Duration::from_secs(20);

/// Every golden transcript, with the QEMU version it was captured on (so
/// that known failures are judged as in the experiment judge's own tests).
/// A golden log: its file name, bytes and QEMU version.
type Golden = (String, Vec<u8>, Option<QemuVersion>);

fn golden() -> Vec<Golden> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut logs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {name}: {e}"));
            let qemu = if name.contains("-qemu10") {
                "10.0.2"
            } else {
                "7.2.22"
            };
            (name, bytes, QemuVersion::parse(qemu))
        })
        .collect();
    logs.sort();
    assert!(
        logs.len() >= 10,
        "wanted the golden logs of harness/testdata, found {}",
        logs.len()
    );
    logs
}

/// [`golden`], read once.
fn golden_cached() -> &'static [Golden] {
    static LOGS: std::sync::OnceLock<Vec<Golden>> = std::sync::OnceLock::new();
    LOGS.get_or_init(golden)
}

/// A record as believed: sequence number, kind, fields.
type Believed = (u32, String, Vec<(String, String)>);

/// What `harness parse` makes of a log.
#[derive(Debug)]
struct Parsed {
    status: Status,
    /// Every believed record.
    records: BTreeSet<Believed>,
    /// Each experiment's verdict and its `exp` record, if one arrived.
    verdicts: Vec<(String, Verdict, Option<Believed>)>,
}

fn believed(r: &Record) -> Believed {
    (r.seq, r.kind.clone(), r.fields.clone())
}

/// Reads and judges `bytes` as `harness parse` does, in bounded time;
/// with `render`, renders what it would print and keep too, so that
/// formatting damaged values is exercised.
fn parse(bytes: Vec<u8>, qemu: Option<QemuVersion>, render: bool) -> Parsed {
    common::in_time(DEADLINE, move || {
        let j = common::judge_log(&bytes, qemu);
        if render {
            common::render_all(&j);
            common::follow_live(&bytes, 1 + bytes.len() % 97, &j);
        }
        let records = j.transcript.records.iter().map(believed).collect();
        let exp_records: BTreeMap<usize, Believed> = j
            .transcript
            .records
            .iter()
            .filter(|r| r.kind == report::kind::EXP)
            .map(|r| (r.line, believed(r)))
            .collect();
        let verdicts = j
            .exps
            .iter()
            .map(|x| {
                let rec = x.line.and_then(|l| exp_records.get(&l).cloned());
                (x.name.clone(), x.verdict, rec)
            })
            .collect();
        Parsed {
            status: j.judgement.status,
            records,
            verdicts,
        }
    })
}

/// The properties of the module docs, for one damaged copy of `original`.
fn check(name: &str, original: &Parsed, damaged: &Parsed) -> Result<(), String> {
    if damaged.status == Status::Pass {
        if let Some(lost) = original
            .records
            .iter()
            .find(|r| !damaged.records.contains(*r))
        {
            return Err(format!(
                "{name}: the damaged log passed, yet record seq={} kind={} of the original did not arrive intact",
                lost.0, lost.1
            ));
        }
    }
    for (exp, verdict, rec) in &damaged.verdicts {
        if *verdict != Verdict::Pass {
            continue;
        }
        let Some(rec) = rec else {
            return Err(format!("{name}: {exp} is PASS without an exp record"));
        };
        if !original.records.contains(rec) {
            return Err(format!(
                "{name}: {exp} is PASS on an exp record (seq {}) that is not the original's",
                rec.0
            ));
        }
        let was = original
            .verdicts
            .iter()
            .find(|(n, _, r)| n == exp && r.as_ref() == Some(rec))
            .map(|(_, v, _)| *v);
        if was != Some(Verdict::Pass) {
            return Err(format!(
                "{name}: {exp} is PASS in the damaged log, but {was:?} in the original"
            ));
        }
    }
    Ok(())
}

/// One way to damage a log. Positions are [`Index`]es into whatever the
/// bytes or lines are at that moment.
#[derive(Debug, Clone)]
enum Harm {
    /// The log ends here (a crash, a killed `cat`).
    Truncate(Index),
    /// One bit flips (line noise).
    FlipBit(Index, u8),
    /// One byte appears.
    InsertByte(Index, u8),
    /// One byte is lost.
    DeleteByte(Index),
    /// A line arrives twice.
    DuplicateLine(Index),
    /// A line is lost whole.
    DropLine(Index),
    /// Two lines swap places.
    SwapLines(Index, Index),
    /// A line of garbage appears between two lines.
    GarbageLine(Index, Vec<u8>),
    /// Garbage appears inside a line (no newline in it).
    Glue(Index, Vec<u8>),
    /// Every `\n` becomes `\r\n`.
    Crlf,
    /// A run of NUL bytes (a serial line at rest, a file with holes).
    Nuls(Index, usize),
    /// A line longer than the reader keeps whole.
    LongLine(Index, u8),
    /// Two CPUs writing at once: a piece of another line of the same log
    /// lands inside a line, the rest of it after that line's rest
    /// (`line[..k] + other[..m] + line[k..] + other[m..]`).
    Interleave(Index, Index, Index, Index),
    /// A stretch read at the wrong baud rate: every byte of it (newlines
    /// too) becomes another.
    Baud(Index, usize),
    /// A record line of another golden log spliced in (two captures
    /// concatenated, a log file appended to): a record with a valid CRC
    /// that this boot never sent.
    Splice(Index, Index, Index),
}

fn harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        3 => any::<Index>().prop_map(Harm::Truncate),
        3 => (any::<Index>(), 0..8u8).prop_map(|(i, b)| Harm::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Harm::InsertByte(i, b)),
        2 => any::<Index>().prop_map(Harm::DeleteByte),
        2 => any::<Index>().prop_map(Harm::DuplicateLine),
        3 => any::<Index>().prop_map(Harm::DropLine),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Harm::SwapLines(a, b)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(i, g)| Harm::GarbageLine(i, g)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, g)| Harm::Glue(i, g)),
        1 => Just(Harm::Crlf),
        1 => (any::<Index>(), 1..300usize).prop_map(|(i, n)| Harm::Nuls(i, n)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Harm::LongLine(i, b)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(a, b, k, m)| Harm::Interleave(a, b, k, m)),
        1 => (any::<Index>(), 1..200usize).prop_map(|(i, n)| Harm::Baud(i, n)),
        2 => (any::<Index>(), any::<Index>(), any::<Index>())
            .prop_map(|(log, line, at)| Harm::Splice(log, line, at)),
    ]
}

fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn apply(bytes: &mut Vec<u8>, h: &Harm) {
    // Positions 0..=len, so that the end is a place too.
    let at = |i: &Index, len: usize| i.index(len + 1);
    match h {
        Harm::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        Harm::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            bytes[i] ^= 1 << bit;
        }
        Harm::InsertByte(i, b) => bytes.insert(at(i, bytes.len()), *b),
        Harm::DeleteByte(i) if !bytes.is_empty() => {
            bytes.remove(i.index(bytes.len()));
        }
        Harm::Glue(i, g) => {
            let i = at(i, bytes.len());
            let g: Vec<u8> = g.iter().copied().filter(|&b| b != b'\n').collect();
            bytes.splice(i..i, g);
        }
        Harm::Crlf => {
            *bytes = bytes
                .iter()
                .flat_map(|&b| {
                    if b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![b]
                    }
                })
                .collect();
        }
        Harm::Nuls(i, n) => {
            let i = at(i, bytes.len());
            bytes.splice(i..i, std::iter::repeat_n(0, *n));
        }
        Harm::Baud(i, n) if !bytes.is_empty() => {
            let i = i.index(bytes.len());
            let end = (i + n).min(bytes.len());
            for b in &mut bytes[i..end] {
                // A fixed scramble standing in for bits sampled at the
                // wrong times: a bijection with no fixed point near ASCII.
                *b = b.wrapping_mul(0x9d) ^ 0xa5;
            }
        }
        Harm::DuplicateLine(_)
        | Harm::DropLine(_)
        | Harm::SwapLines(..)
        | Harm::GarbageLine(..)
        | Harm::LongLine(..)
        | Harm::Interleave(..)
        | Harm::Splice(..) => {
            let mut l = lines(bytes);
            if l.is_empty() {
                return;
            }
            let n = l.len();
            match h {
                Harm::DuplicateLine(i) => {
                    let i = i.index(n);
                    let copy = l[i].clone();
                    l.insert(i, copy);
                }
                Harm::DropLine(i) => {
                    l.remove(i.index(n));
                }
                Harm::SwapLines(a, b) => l.swap(a.index(n), b.index(n)),
                Harm::GarbageLine(i, g) => {
                    let mut g = g.clone();
                    g.push(b'\n');
                    l.insert(i.index(n + 1), g);
                }
                Harm::LongLine(i, b) => {
                    let b = if *b == b'\n' { b'x' } else { *b };
                    let mut long = vec![b; MAX_LINE + MAX_LINE / 2];
                    long.push(b'\n');
                    l.insert(i.index(n + 1), long);
                }
                Harm::Interleave(a, b, k, m) => {
                    let (a, b) = (a.index(n), b.index(n));
                    let (line, other) = (l[a].clone(), l[b].clone());
                    let (k, m) = (k.index(line.len() + 1), m.index(other.len() + 1));
                    l[a] = [&line[..k], &other[..m], &line[k..], &other[m..]].concat();
                }
                Harm::Splice(log, line, at) => {
                    let logs = golden_cached();
                    let from = &logs[log.index(logs.len())].1;
                    let records: Vec<Vec<u8>> = lines(from)
                        .into_iter()
                        .filter(|x| x.windows(4).any(|w| w == b"@SC1"))
                        .collect();
                    if !records.is_empty() {
                        let r = records[line.index(records.len())].clone();
                        l.insert(at.index(n + 1), r);
                    }
                }
                _ => unreachable!(),
            }
            *bytes = l.concat();
        }
        Harm::FlipBit(..) | Harm::DeleteByte(_) | Harm::Baud(..) => {}
    }
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..Config::default()
    }
}

#[test]
fn a_damaged_log_never_panics_never_hangs_and_never_passes_what_it_lost() {
    let logs = golden();
    let originals: Vec<Parsed> = logs
        .iter()
        .map(|(_, b, q)| parse(b.clone(), *q, false))
        .collect();
    let mut runner = TestRunner::new(config(384, 0x5eed_da6a_9ed0_f00d));
    let strategy = (0..logs.len(), proptest::collection::vec(harm(), 1..5));
    // How many damaged logs still passed, and how many experiments in them:
    // harmless damage (to human text) must leave some, else the checks
    // above never ran.
    let passed = std::cell::Cell::new((0, 0));
    runner
        .run(&strategy, |(which, harms)| {
            let (name, bytes, qemu) = &logs[which];
            let mut b = bytes.clone();
            for h in &harms {
                apply(&mut b, h);
            }
            let damaged = parse(b, *qemu, true);
            let (runs, exps) = passed.get();
            passed.set((
                runs + usize::from(damaged.status == Status::Pass),
                exps + damaged
                    .verdicts
                    .iter()
                    .filter(|(_, v, _)| *v == Verdict::Pass)
                    .count(),
            ));
            check(name, &originals[which], &damaged).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let (runs, exps) = passed.get();
    assert!(
        runs > 0 && exps > 0,
        "wanted some damaged logs to pass, and some experiments in them: got {runs} run(s), {exps} experiment(s)"
    );
}

#[test]
fn a_log_cut_anywhere_passes_no_experiment_whose_record_was_cut_away() {
    for (name, bytes, qemu) in golden() {
        let original = parse(bytes.clone(), qemu, false);
        // Before, inside and after `exp` and `end` records: the places
        // where what a cut takes away changes. In a long log, every few
        // of them, so that the test stays fast.
        let mut places = Vec::new();
        let mut start = 0;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let end = start + line.len();
            if line.windows(5).any(|w| w == b" exp " || w == b" end ") {
                places.push([start, start + line.len() / 2, end - 1, end]);
            }
            start = end;
        }
        let stride = places.len().div_ceil(12).max(1);
        let mut cuts = vec![0];
        cuts.extend(places.iter().step_by(stride).flatten());
        cuts.extend(places.last().into_iter().flatten());
        for cut in cuts {
            let kept = &bytes[..cut];
            let damaged = parse(kept.to_vec(), qemu, false);
            check(&format!("{name} cut at byte {cut}"), &original, &damaged)
                .unwrap_or_else(|e| panic!("{e}"));
            // The experiments whose `exp` record lies past the cut: none
            // of them PASS (nor anything else but FAIL, when the log's
            // `exp=` still selects them).
            let after: BTreeSet<&str> = original
                .verdicts
                .iter()
                .filter(|(_, _, r)| r.as_ref().is_some_and(|r| !damaged.records.contains(r)))
                .map(|(n, _, _)| n.as_str())
                .collect();
            for (exp, verdict, _) in &damaged.verdicts {
                assert!(
                    !(after.contains(exp.as_str()) && *verdict != Verdict::Fail),
                    "{name} cut at byte {cut}: {exp}, whose exp record was cut away, is {verdict:?}, wanted FAIL"
                );
            }
            if cut < bytes.len() && damaged.records.len() < original.records.len() {
                assert_ne!(
                    damaged.status,
                    Status::Pass,
                    "{name} cut at byte {cut}: records were cut away, yet the run passed"
                );
            }
        }
    }
}

/// The rates behind the garbling table of docs/real-machine.md: single damages of each
/// kind, and per kind how many of the original records were recovered
/// intact, how many believed records were not the original's, and how
/// many verdicts were false (a PASS the checks above refuse, or a run that
/// passed although it believed a record it was never sent: must be none).
/// Damage never makes a record believable (its CRC); only a record spliced
/// in from another log is intact yet foreign, and the transcript drops
/// those it can place (`Transcript::disbelieve_foreign`): every one in a
/// log whose records carry boot ids, some in older logs. `cargo test -p
/// harness --release --test damaged garbling -- --nocapture` prints the
/// table.
#[test]
fn garbling_rates_by_kind_recover_what_is_intact_and_believe_nothing_false() {
    let logs = golden();
    let originals: Vec<Parsed> = logs
        .iter()
        .map(|(_, b, q)| parse(b.clone(), *q, false))
        .collect();
    // kind -> (cases, original records, recovered, foreign records
    // believed, cases that believed one, false verdicts)
    let table = std::cell::RefCell::new(BTreeMap::<String, [usize; 6]>::new());
    let mut runner = TestRunner::new(config(600, 0x6a7b_1e5a_7e5b_0001));
    runner
        .run(&(0..logs.len(), harm()), |(which, h)| {
            let (name, bytes, qemu) = &logs[which];
            let mut b = bytes.clone();
            apply(&mut b, &h);
            let damaged = parse(b, *qemu, false);
            let original = &originals[which];
            let kind = format!("{h:?}");
            let mut kind = kind.split('(').next().unwrap_or("?").to_string();
            if kind == "Splice" {
                // Only a boot id tells a spliced record from the boot's own
                // everywhere; logs of kernels before it are held apart.
                let ids = bytes.windows(8).any(|w| w == b"boot_id=");
                kind.push_str(if ids {
                    " into a log with boot ids"
                } else {
                    " into a log without (older kernels)"
                });
            }
            let recovered = original.records.intersection(&damaged.records).count();
            let foreign = damaged.records.difference(&original.records).count();
            let false_verdict = check(name, original, &damaged).is_err()
                || (foreign > 0 && damaged.status == Status::Pass);
            let mut t = table.borrow_mut();
            let row = t.entry(kind).or_default();
            row[0] += 1;
            row[1] += original.records.len();
            row[2] += recovered;
            row[3] += foreign;
            row[4] += usize::from(foreign > 0);
            row[5] += usize::from(false_verdict);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    println!("| damage | cases | records recovered intact | foreign records believed (cases) | false verdicts |");
    println!("|---|---|---|---|---|");
    for (kind, [cases, orig, rec, fr, frc, fv]) in table.borrow().iter() {
        println!(
            "| {kind} | {cases} | {rec} of {orig} ({:.1}%) | {fr} ({frc}) | {fv} |",
            100.0 * *rec as f64 / (*orig).max(1) as f64
        );
        if !kind.ends_with("(older kernels)") {
            assert_eq!(*fr, 0, "{kind}: damage made a record believable");
        }
        assert_eq!(*fv, 0, "{kind}: a false verdict");
    }
}

/// Every record of every golden log, spliced into each log whose records
/// carry boot ids, at its start, its middle and just before its last line:
/// not one is believed, and every record of the log still is (a spliced
/// record that takes the number of one of the boot's own costs the boot
/// nothing). Exhaustive where the property test above draws 50 splices.
#[test]
fn no_record_of_another_log_is_believed_in_a_log_with_boot_ids() {
    let logs = golden_cached();
    let recipients: Vec<&Golden> = logs
        .iter()
        .filter(|(_, b, _)| b.windows(8).any(|w| w == b"boot_id="))
        .collect();
    assert!(
        recipients.len() >= 2,
        "wanted golden logs with boot ids in harness/testdata"
    );
    let believed_in = |bytes: &[u8]| -> BTreeSet<Believed> {
        harness::machine::transcript::Transcript::from_bytes(bytes)
            .records
            .iter()
            .map(believed)
            .collect()
    };
    let mut cases = 0;
    for (name, bytes, _) in &recipients {
        let own = lines(bytes);
        let original = believed_in(bytes);
        for (donor, from, _) in logs {
            if donor == name {
                continue;
            }
            for r in lines(from)
                .into_iter()
                .filter(|x| x.windows(4).any(|w| w == b"@SC1"))
            {
                for at in [0, own.len() / 2, own.len().saturating_sub(1)] {
                    let mut l = own.clone();
                    l.insert(at, r.clone());
                    let got = believed_in(&l.concat());
                    cases += 1;
                    assert_eq!(
                        got,
                        original,
                        "{name}: a record of {donor} spliced at line {at}: {}",
                        String::from_utf8_lossy(&r)
                    );
                }
            }
        }
    }
    assert!(cases > 1000, "{cases} splices");
    println!(
        "{cases} splices into {} logs with boot ids: none believed",
        recipients.len()
    );
}
