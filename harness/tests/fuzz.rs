//! A bounded fuzzer of the record parser and the judge, run by `cargo
//! test`: a fixed seed and a fixed number of inputs, so every run feeds the
//! same inputs and a failure names the round that reproduces it.
//!
//! Two kinds of input:
//!
//! * raw bytes, drawn from an alphabet weighted towards what a record is
//!   made of (`@SC1`, digits, spaces, `=`, `*`, `%`, newlines, CR, NUL and
//!   bytes that are not UTF-8), which mostly reach the line classifier;
//! * logs of record lines with a valid CRC, of the kinds the kernel sends
//!   and with the keys it writes, holding values a kernel would never
//!   send (huge numbers, bad hex, empty values, broken escapes, unknown
//!   experiment names, command lines with unknown words), which reach
//!   [`Facts`](harness::judge::Facts) and every judge behind it.
//!
//! Every input is read, judged and rendered as `harness parse` does, and
//! followed as `harness watch` does; none may panic or take more than a
//! deadline.

mod common;

use harness::machine::transcript::{Reader, Transcript};
use std::time::Duration;

/// How long one input may take; a healthy one takes milliseconds.
const DEADLINE: Duration = Duration::from_secs(20);

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Reads, judges and renders `bytes` in bounded time.
fn judge_and_render(bytes: Vec<u8>) -> Transcript {
    common::in_time(DEADLINE, move || {
        let j = common::judge_log(&bytes, None);
        common::render_all(&j);
        common::follow_live(&bytes, 1 + bytes.len() % 13, &j);
        j.transcript
    })
}

/// The lines of a transcript add up, whatever the bytes.
#[track_caller]
fn accounted(round: usize, bytes: &[u8], t: &Transcript) {
    assert_eq!(
        t.records.len() + t.damaged.len() + t.human_lines,
        t.lines,
        "round {round}: records + damaged + human lines should be every line"
    );
    assert_eq!(t.bytes, bytes.len() as u64, "round {round}: bytes counted");
}

const FRAGMENTS: &[&[u8]] = &[
    b"@SC1 ",
    b"@SC1",
    b"@SC2 ",
    b" *",
    b" *0000000",
    b"=",
    b"%",
    b"%2",
    b"%zz",
    b" ",
    b"\n",
    b"\r\n",
    b"\0",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"0x",
    b"exp",
    b"end",
    b"verdict=pass",
];

fn random_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::new();
    for _ in 0..rng.below(48) {
        match rng.below(3) {
            0 => {
                let f: &&[u8] = rng.pick(FRAGMENTS);
                b.extend_from_slice(f);
            }
            1 => b.push(b"0123456789abcdef"[rng.below(16)]),
            _ => b.push(rng.next() as u8),
        }
    }
    b
}

#[test]
fn random_bytes_never_panic_the_reader_or_the_judge() {
    let mut rng = Rng(0xb17e_5eed_0000_0001);
    for round in 0..1500 {
        let bytes = random_bytes(&mut rng);
        for line in bytes.split(|&b| b == b'\n') {
            let _ = report::parse_line(&String::from_utf8_lossy(line));
        }
        let t = judge_and_render(bytes.clone());
        accounted(round, &bytes, &t);
    }
}

/// The keys the kernel writes (`report/src/kind.rs`), and a few it never
/// does.
const KEYS: &[&str] = &[
    "proto",
    "boot",
    "cmdline",
    "vga_text",
    "vendor",
    "family",
    "model",
    "stepping",
    "brand",
    "hypervisor",
    "hv",
    "microcode",
    "apic",
    "cpus",
    "serialize",
    "hz",
    "source",
    "hpet",
    "pmtimer",
    "pit",
    "cpuid15",
    "cpuid16",
    "skewed",
    "rounds",
    "cpu",
    "state",
    "up",
    "expected",
    "listed",
    "online_capable",
    "limit",
    "supported",
    "unaddressable",
    "no_room",
    "name",
    "symbol",
    "vector",
    "err",
    "rip",
    "bytes",
    "cr2",
    "rsp",
    "tsc",
    "msg",
    "at",
    "result",
    "detail",
    "verdict",
    "records",
    "failures",
    "direct_calls_per_s",
    "checked_calls_per_s",
    "ipi_sync_cycles",
    "cpumask_sync_cycles",
    "expectation",
    "ms",
    "outcome",
    "met",
    "reason",
    "error",
    "executors",
    "ns",
    "patches",
    "calls",
    "bp_hits",
    "wrong",
    "faults",
    "stray_bp",
    "stale_int3",
    "stale_call",
    "stale_bp",
    "bad_return",
    "unsynced",
    "blind",
    "stuck",
    "trunc",
    "first_fail_ns",
    "first_fail_patch",
    "settle",
    "exp",
    "what",
    "phase",
    "n",
    "buckets",
    "generation",
    "mem",
    "x",
    "a_b_c_0",
];

const WORDS: &[&str] = &[
    "pass",
    "fail",
    "skip",
    "error",
    "deadlock",
    "caught",
    "observed",
    "must-pass",
    "negative-control",
    "expect-deadlock",
    "observe",
    "bsp",
    "up",
    "timeout",
    "lost",
    "xapic",
    "x2apic",
    "none",
    "na",
    "hpet",
    "pit",
    "absent",
    "stuck",
    "bogus",
    "TCGTCGTCGTCG",
    "KVMKVMKVM",
    "AuthenticAMD",
    "own-boot",
    "nobp",
    "needs-2-cpus",
    "stale-int3",
    "wrong",
    "bp",
    "on-cpu",
    "clock",
    "cmdline",
    "ud2-ap",
    "control_ud2",
    "?",
    "",
];

/// `exp=` words that select few experiments, or none.
const CMDLINE_EXP: &[&str] = &[
    "exp=naive/*",
    "exp=*/self",
    "exp=naive/*,*/self",
    "exp=atomic/-/ipi/qword",
    "exp=nothing/matches",
];

/// Other kernel command line words the kernel knows
/// (`report/src/cmdline.rs`).
const CMDLINE: &[&str] = &[
    "ms=60",
    "ms=0",
    "break=gap-return",
    "break=lax-window",
    "settle=off",
    "cpus=2",
    "tsc=skew",
    "tsc=pit",
    "nobp",
    "xapic",
    "hold",
    "control=ud2-ap",
    "control=hang",
];

/// Words it refuses. A log whose command line holds one is held to the
/// whole registry, which is slow to judge and render many times: the
/// `hello` records that open the logs hold one only now and then.
const CMDLINE_BAD: &[&str] = &[
    "exp=",
    "exp=,",
    "ms=18446744073709551616",
    "break=nothing",
    "settle=maybe",
    "cpus=0",
    "control=boom",
    "frobnicate",
];

/// A kernel command line: an `exp=` word and a few others.
fn cmdline(rng: &mut Rng, bad_one_in: usize) -> String {
    let mut words: Vec<&str> = (0..rng.below(4)).map(|_| *rng.pick(CMDLINE)).collect();
    let exp = *rng.pick(CMDLINE_EXP);
    words.insert(rng.below(words.len() + 1), exp);
    if rng.chance(bad_one_in) {
        let bad = *rng.pick(CMDLINE_BAD);
        words.insert(rng.below(words.len() + 1), bad);
    }
    words.join(" ")
}

/// A value a kernel might send, or should never send.
fn value(rng: &mut Rng, names: &[String]) -> String {
    match rng.below(10) {
        0 => rng.below(5).to_string(),
        1 => rng.next().to_string(),
        2 => format!("0x{:x}", rng.next()),
        3 => rng
            .pick(&[
                "18446744073709551616",
                "-1",
                "0x",
                "0xzz",
                "007",
                "1e9",
                "%",
                "%zz",
                "%2",
                "%00",
                "%ff%fe",
            ])
            .to_string(),
        4 | 5 => rng.pick(WORDS).to_string(),
        6 | 7 => rng.pick(names).clone(),
        8 => cmdline(rng, 2),
        _ => String::from_utf8_lossy(&random_bytes(rng)).into_owned(),
    }
}

/// Escapes a value as the kernel does (`report::escape`).
fn escaped(v: &str) -> String {
    let mut out = Vec::new();
    report::escape::escape_into(v.as_bytes(), |b| out.extend_from_slice(b));
    String::from_utf8(out).expect("an escaped value is ASCII")
}

/// One record line with a valid CRC and its fields as written: a kind the
/// kernel sends (or one it does not), its keys, values escaped as the
/// kernel escapes them. With `hello`, a `hello` record with that command
/// line.
fn record(
    rng: &mut Rng,
    seq: u32,
    names: &[String],
    hello: Option<String>,
) -> (String, Vec<(String, String)>) {
    let kind = *rng.pick(&[
        report::kind::HELLO,
        report::kind::MACHINE,
        report::kind::TSC,
        report::kind::CPU,
        report::kind::CPUS,
        report::kind::CONTROL,
        report::kind::FAULT,
        report::kind::PANIC,
        report::kind::CHECK,
        report::kind::END,
        report::kind::BASELINE,
        report::kind::EXP_BEGIN,
        report::kind::EXP,
        report::kind::EXP,
        report::kind::HIST,
        report::kind::FAILURE,
        report::kind::DEADLOCK,
        "unknown-kind",
    ]);
    let (kind, mut fields) = match hello {
        Some(c) => (report::kind::HELLO, vec![("cmdline".to_string(), c)]),
        None => (kind, Vec::new()),
    };
    for _ in 0..rng.below(12) {
        fields.push((rng.pick(KEYS).to_string(), value(rng, names)));
    }
    let mut body = format!("{} {seq} {kind}", report::MAGIC);
    for (key, v) in &fields {
        body.push_str(&format!(" {key}={}", escaped(v)));
    }
    let crc = report::crc::crc32(body.as_bytes());
    (format!("{body} *{crc:08x}"), fields)
}

#[test]
fn random_records_never_panic_the_facts_or_the_judge() {
    let names: Vec<String> = plan::experiment::matching("*")
        .map(|e| e.name().to_string())
        .chain(["int3/*".into(), "no/such/experiment".into()])
        .collect();
    let mut rng = Rng(0x2ec0_4d5e_ed00_0002);
    for round in 0..800 {
        let mut bytes = Vec::new();
        let mut seq = 0u32;
        let line = |rng: &mut Rng, seq: u32, bytes: &mut Vec<u8>, hello: Option<String>| {
            let (line, fields) = record(rng, seq, &names, hello);
            // The writer's side of the contract: every well-formed line is
            // believed, with the values it was given.
            let raw = report::parse_line(&line)
                .unwrap_or_else(|e| panic!("round {round}: {line:?} was refused: {e}"));
            let back = harness::machine::transcript::Record::from_raw(0, &raw);
            assert_eq!(
                back.fields, fields,
                "round {round}: {line:?} did not decode to the values written"
            );
            bytes.extend_from_slice(line.as_bytes());
            bytes.push(b'\n');
        };
        // Mostly a log that begins with a `hello` whose `exp=` selects a
        // few experiments (with none, a log that ran some is held to all
        // of the registry, which is slow to judge and render many times).
        if !rng.chance(16) {
            let c = cmdline(&mut rng, 16);
            line(&mut rng, seq, &mut bytes, Some(c));
            seq += 1;
        }
        for _ in 0..rng.below(24) {
            if rng.chance(10) {
                seq = seq.wrapping_add(rng.below(3) as u32).wrapping_sub(1);
            }
            if rng.chance(50) {
                seq = rng.next() as u32;
            }
            line(&mut rng, seq, &mut bytes, None);
            if rng.chance(8) {
                bytes.extend_from_slice(&random_bytes(&mut rng));
                bytes.push(b'\n');
            }
            seq = seq.wrapping_add(1);
        }
        let t = judge_and_render(bytes.clone());
        accounted(round, &bytes, &t);
    }
}

#[test]
fn a_log_read_in_random_pieces_reads_as_a_whole() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut rng = Rng(0x9e3c_e5ee_d000_0003);
    for entry in std::fs::read_dir(&dir).expect("reading testdata") {
        let path = entry.expect("a directory entry").path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("reading a golden log");
        let whole = Transcript::from_bytes(&bytes);
        for _ in 0..20 {
            let mut r = Reader::default();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + rng.below(rest.len().min(200));
                let (piece, tail) = rest.split_at(n);
                r.push(piece);
                rest = tail;
            }
            r.finish();
            assert_eq!(
                r.transcript,
                whole,
                "{}: read in pieces, it reads differently",
                path.display()
            );
        }
    }
}
