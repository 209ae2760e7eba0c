//! Golden serial transcripts in `harness/testdata/`, judged.
//!
//! The synthetic ones were written once by
//! `writing_the_golden_transcripts_again` (run it with `cargo test -p
//! harness --test golden -- --ignored` after a deliberate format change,
//! and review the diff); `qemu-tcg-smp4.log` is a real transcript of the
//! kernel under QEMU/TCG with `-smp 4`.

use harness::{
    judge::{judge, Context, Ending, Expectation, Facts, Judgement},
    machine::synth::Synth,
    machine::transcript::Transcript,
};
use report::kind;
use std::path::PathBuf;

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap_or_else(|e| panic!("reading testdata/{name}: {e}"))
}

fn judged(name: &str, smp: Option<u32>) -> (Transcript, Facts, Judgement) {
    let t = Transcript::from_bytes(&read(name));
    let f = Facts::from_transcript(&t);
    let j = judge(
        &f,
        &Expectation::MustPass,
        &Context {
            smp,
            ending: &Ending::Stopped,
            symbols: None,
        },
    );
    (t, f, j)
}

#[track_caller]
fn has_reason(j: &Judgement, needle: &str) {
    assert!(
        j.reasons.iter().any(|r| r.contains(needle)),
        "wanted a reason containing {needle:?}, got {:?}",
        j.reasons
    );
}

#[test]
fn the_clean_transcript_passes_with_four_cpus() {
    let (t, f, j) = judged("clean.log", Some(4));
    assert!(j.met, "wanted a pass, got reasons {:?}", j.reasons);
    assert_eq!(t.damaged.len(), 0, "wanted no damaged lines");
    assert_eq!(
        (f.cpus_up, f.cpus_expected),
        (Some(4), Some(4)),
        "wanted 4 of 4 CPUs up"
    );
}

#[test]
fn the_clean_transcript_fails_when_eight_cpus_were_requested() {
    let (_, _, j) = judged("clean.log", Some(8));
    has_reason(&j, "8 were requested");
}

#[test]
fn the_garbled_transcript_counts_damage_and_never_passes() {
    let (t, f, j) = judged("garbled.log", Some(4));
    assert_eq!(
        t.damaged.len(),
        2,
        "wanted the 2 flipped records counted as damaged, got {:?}",
        t.damaged
    );
    assert_eq!(
        f.accounting.lost_before_end,
        Some(3),
        "wanted 3 lost: 2 damaged and 1 dropped"
    );
    assert!(!j.met, "a transcript with lost records must not pass");
    has_reason(&j, "3 of");
    // The damaged lines are skipped, never believed: their CPUs are not
    // in the facts.
    assert!(
        f.checks.iter().all(|c| c.name != "bp"),
        "the damaged `check bp` record must not be believed"
    );
}

#[test]
fn the_truncated_transcript_never_passes() {
    let (t, f, j) = judged("truncated.log", Some(4));
    assert!(t.cut_mid_line, "wanted the cut noticed");
    assert!(f.end.is_none(), "wanted no end record");
    assert!(!j.met, "a cut-off transcript must never pass");
    has_reason(&j, "no valid end record");
}

#[test]
fn the_fault_transcript_fails_and_names_the_fault() {
    let (_, f, j) = judged("fault.log", Some(4));
    assert_eq!(f.faults.len(), 1, "wanted one fault");
    has_reason(&j, "#GP on cpu 2 at 0xffffffff80012345");
    has_reason(&j, "verdict is `fail`");
}

#[test]
fn the_noisy_transcript_passes_with_its_noise_ignored() {
    let (t, _, j) = judged("noise.log", Some(2));
    assert!(j.met, "wanted a pass, got reasons {:?}", j.reasons);
    assert!(
        t.human_lines >= 6,
        "wanted the firmware noise as human lines, got {}",
        t.human_lines
    );
}

#[test]
fn a_real_qemu_transcript_passes() {
    let (_, f, j) = judged("qemu-tcg-smp4.log", Some(4));
    assert!(j.met, "wanted a pass, got reasons {:?}", j.reasons);
    assert_eq!(f.boot.as_deref(), Some("pvh"));
    assert!(f.tsc_hz.is_some(), "wanted the TSC frequency");
}

#[test]
fn logs_from_kernels_before_build_ids_still_parse_without_one() {
    for name in [
        "clean.log",
        "qemu-tcg-smp4.log",
        "exp-spin-self-smp2.log",
        "exp-naive-smp4.log",
    ] {
        let (t, f, _) = judged(name, None);
        assert!(!t.records.is_empty(), "{name}: wanted records");
        assert_eq!(f.boot.as_deref(), Some("pvh"), "{name}: wanted its hello");
        assert_eq!(f.build_id, None, "{name}: wanted no build id");
    }
}

#[test]
fn the_build_id_of_the_hello_record_is_read() {
    let (_, f, _) = judged("exp-spin-self-build-id.log", Some(2));
    assert_eq!(f.build_id.as_deref(), Some(FIXTURE_BUILD_ID));
}

// ---------------------------------------------------------------------------
// How the synthetic transcripts were made.

/// The build id of `testdata/elf/with-build-id.elf`
/// (`readelf -n`; written by `testdata/elf/mkfixtures.sh`).
const FIXTURE_BUILD_ID: &str = "90b838439776a6b409a3252498e1f247aa6deb78";

/// An `int3/spin/ipi/qword/self` deadlock as in `exp-spin-self-smp2.log`,
/// from a kernel whose `hello` names the build id of the fixture ELF and
/// whose stuck RIP lies in that ELF's `kernel::bp::handle`: the log that
/// `harness parse` names by itself.
fn spin_self_build_id() -> Vec<u8> {
    let id: Vec<u8> = (0..FIXTURE_BUILD_ID.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&FIXTURE_BUILD_ID[i..i + 2], 16).unwrap())
        .collect();
    let exp = "int3/spin/ipi/qword/self";
    let mut s = Synth::new();
    s.boot_with_build_id(2, &format!("exp={exp} ms=150"), &id)
        .check("bp", "pass")
        .check("on-cpu", "pass")
        .record(kind::BASELINE, |r| {
            r.u64("direct_calls_per_s", 492_220_710)
                .u64("ipi_sync_cycles", 208_818)
                .u64("cpumask_sync_cycles", 183_112);
        })
        .record(kind::EXP_BEGIN, |r| {
            r.str("name", exp)
                .str("expectation", "expect-deadlock")
                .u64("ms", 150)
                .u64("cpus", 2);
        })
        .record(kind::DEADLOCK, |r| {
            r.str("exp", exp)
                .u64("cpu", 0)
                .hex("rip", 0x10b5e4)
                .str("bytes", "488b0525ec0700b9000000004885c00f");
        })
        .record(kind::EXP, |r| {
            r.str("name", exp)
                .str("expectation", "expect-deadlock")
                .str("outcome", "deadlock")
                .u64("met", 1)
                .u64("cpus", 2)
                .u64("executors", 1)
                .u64("ns", 1_507_746_699)
                .u64("patches", 27)
                .u64("calls", 9379)
                .u64("calls_per_s_per_ap", 6220)
                .u64("bp_hits", 104);
            for zero in [
                "failures", "wrong", "faults", "stray_bp", "overruns", "timer", "nmi", "nmi_site",
            ] {
                r.u64(zero, 0);
            }
            r.u64("self_irq", 16).u64("settle", 1);
        })
        .end("pass", 0);
    s.bytes().to_vec()
}

fn clean() -> Synth {
    let mut s = Synth::new();
    s.boot(4, "")
        .check("bp", "pass")
        .check("on-cpu", "pass")
        .end("pass", 0);
    s
}

/// Splits into lines, keeping each `\n`.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn garbled() -> Vec<u8> {
    let mut l = lines(clean().bytes());
    let records: Vec<usize> = (0..l.len())
        .filter(|&i| l[i].starts_with(b"@SC1"))
        .collect();
    // A bit flipped in the machine record, a byte replaced by a non-UTF-8
    // byte in the `check bp` record, the `cpu 2` record dropped whole, and
    // a human line that lost bytes.
    let machine = records[1];
    l[machine][20] ^= 0x04;
    let bp = *records
        .iter()
        .find(|&&i| l[i].windows(7).any(|w| w == b"name=bp"))
        .unwrap();
    l[bp][15] = 0xff;
    let cpu2 = *records
        .iter()
        .find(|&&i| l[i].windows(5).any(|w| w == b"cpu=2"))
        .unwrap();
    l.remove(cpu2);
    l[0].drain(5..12);
    l.concat()
}

fn truncated() -> Vec<u8> {
    let mut s = Synth::new();
    s.boot(4, "").check("bp", "pass");
    let mut b = s.bytes().to_vec();
    let cut = b.len() - 25;
    b.truncate(cut);
    b
}

fn fault() -> Vec<u8> {
    let mut s = Synth::new();
    s.boot(4, "")
        .check("bp", "pass")
        .fault(2, 13, "GP", 0xffff_ffff_8001_2345)
        .human("FAULT: #GP on cpu 2")
        .end("fail", 1);
    s.bytes().to_vec()
}

fn noise() -> Vec<u8> {
    let mut s = Synth::new();
    s.raw(b"SeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n")
        .raw(b"\x1b[2J\x1b[01;01H\x1b[=3h\x1b[2J\x1b[01;01H")
        .raw(b"Booting from DVD/CD...\r\n")
        .raw(b"\x00\x00\xff\xfe\r\n")
        .raw(b"GRUB loading.\r\nWelcome to GRUB!\r\n\r\n")
        .raw(b"\x1b[0m\x1b[30m\x1b[47m   Booting `static-call'\r\n\r\n");
    let mut body = Synth::new();
    body.boot(2, "").check("bp", "pass").end("pass", 0);
    // Every line with CRLF, and garbage glued before one record.
    let mut b = s.bytes().to_vec();
    for (i, line) in lines(body.bytes()).into_iter().enumerate() {
        if i == 3 {
            b.extend_from_slice(b"\x1b[0m\x07");
        }
        b.extend_from_slice(&line[..line.len() - 1]);
        b.extend_from_slice(b"\r\n");
    }
    b
}

#[test]
#[ignore = "rewrites harness/testdata: run by hand after a deliberate change"]
fn writing_the_golden_transcripts_again() {
    for (name, bytes) in [
        ("clean.log", clean().bytes().to_vec()),
        ("garbled.log", garbled()),
        ("truncated.log", truncated()),
        ("fault.log", fault()),
        ("noise.log", noise()),
        ("exp-spin-self-build-id.log", spin_self_build_id()),
    ] {
        std::fs::write(testdata(name), bytes).unwrap();
    }
}

#[test]
fn the_golden_transcripts_are_what_the_generator_writes() {
    for (name, bytes) in [
        ("clean.log", clean().bytes().to_vec()),
        ("garbled.log", garbled()),
        ("truncated.log", truncated()),
        ("fault.log", fault()),
        ("noise.log", noise()),
        ("exp-spin-self-build-id.log", spin_self_build_id()),
    ] {
        assert!(
            read(name) == bytes,
            "testdata/{name} differs from what the generator writes: \
             regenerate deliberately (see the module docs) or fix the generator"
        );
    }
}

/// A small deterministic generator (xorshift64*), so that the mutation test
/// below is repeatable without a dependency.
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
}

#[test]
fn a_mutated_transcript_passes_only_when_every_record_arrived_intact() {
    let original = clean().bytes().to_vec();
    let want = Transcript::from_bytes(&original).records;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut passes = 0;
    for round in 0..3000 {
        let mut b = original.clone();
        for _ in 0..1 + rng.below(3) {
            if b.is_empty() {
                break;
            }
            let i = rng.below(b.len());
            match rng.below(4) {
                0 => b[i] ^= 1 << rng.below(8),
                1 => {
                    b.remove(i);
                }
                2 => b.insert(i, rng.next() as u8),
                _ => b.truncate(i),
            }
        }
        let t = Transcript::from_bytes(&b);
        let f = Facts::from_transcript(&t);
        let j = judge(
            &f,
            &Expectation::MustPass,
            &Context {
                smp: Some(4),
                ending: &Ending::Stopped,
                symbols: None,
            },
        );
        if j.met {
            passes += 1;
            let got: Vec<_> = t
                .records
                .iter()
                .map(|r| (r.seq, &r.kind, &r.fields))
                .collect();
            let wanted: Vec<_> = want.iter().map(|r| (r.seq, &r.kind, &r.fields)).collect();
            assert_eq!(
                got, wanted,
                "round {round}: a mutated transcript passed with records that differ from the original"
            );
        }
    }
    // Mutations of human lines (and of the tail after the end record) are
    // harmless, so some rounds must still pass: the check above ran.
    assert!(passes > 0, "wanted some harmless mutations to pass");
}
