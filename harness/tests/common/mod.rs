//! What the damaged-log and fuzz tests share: reading and judging a log
//! as `harness parse` does, rendering all it would print and keep, and a
//! deadline that turns a hang into a failure.

use harness::{
    judge::symbols::{Symbol, Symbols},
    judge::{
        self,
        experiment::{self as xj, ExpJudgement},
        seen::{Via, Where},
        Context, Ending, Expectation, Facts, Judgement,
    },
    machine::qemu_info::QemuVersion,
    machine::transcript::Transcript,
    results::evidence,
    results::render,
    results::table,
    run,
};
use std::{sync::mpsc, time::Duration};

/// The symbols of the kernel ELF that wrote the golden transcripts, as far
/// as the deadlock experiments need them (as in the experiment judge's
/// tests).
pub fn symbols() -> Symbols {
    Symbols::from_list([
        Symbol {
            name: "kernel::bp::handle".into(),
            addr: 0x10_b4a0,
            size: 0x2a2,
        },
        Symbol {
            name: "isr_stubs".into(),
            addr: 0x10_6600,
            size: 0,
        },
        Symbol {
            name: "kernel::sync::sync".into(),
            addr: 0x11_1730,
            size: 0x5d5,
        },
    ])
}

/// A log read and judged.
pub struct Judged {
    pub transcript: Transcript,
    pub facts: Facts,
    /// The platform's judgement, its status combined with the experiments'
    /// as `harness parse` combines them.
    pub judgement: Judgement,
    pub exps: Vec<ExpJudgement>,
}

/// Reads and judges `bytes` as `harness parse` does with no option but
/// `--qemu-version`: the platform must pass, the experiments are those of
/// the kernel's own `exp=`.
pub fn judge_log(bytes: &[u8], qemu: Option<QemuVersion>) -> Judged {
    let syms = symbols();
    let transcript = Transcript::from_bytes(bytes);
    let facts = Facts::from_transcript(&transcript);
    let ending = Ending::Stopped;
    let mut judgement = judge::judge(
        &facts,
        &Expectation::MustPass,
        &Context {
            smp: None,
            ending: &ending,
            symbols: Some(&syms),
        },
    );
    let seen = Where::new(facts.machine.as_ref(), Via::Log, None).with_qemu(qemu);
    let exps = xj::judge_unplanned(&facts, &ending, &seen, Some(&syms), None)
        .expect("without --experiment, judging a log's experiments cannot fail");
    judgement.status =
        run::unplanned_status(judgement.status, xj::unplanned_verdict(&facts, &exps).0);
    Judged {
        transcript,
        facts,
        judgement,
        exps,
    }
}

/// Everything `harness parse` would print and keep for a judged log: the
/// summary, the experiment lines, TAP, JUnit XML and the JSON of the facts
/// and judgements. Returns how many bytes that made, so that nothing is
/// optimized away.
pub fn render_all(j: &Judged) -> usize {
    let syms = symbols();
    let mut shown = render::Summary {
        facts: &j.facts,
        judgement: &j.judgement,
        place: "a log under test",
        smp: None,
        symbols: Some(&syms),
        wall: None,
        evidence: None,
    }
    .lines();
    let mut cases = run::junit_cases("parse", &j.facts, &j.judgement, Duration::ZERO);
    for x in &j.exps {
        shown.extend(render::experiment_lines(x, None));
        shown.push(table::not_passed_line(x));
        cases.push(evidence::experiment_case(x));
    }
    shown.extend(xj::sabotage_line(&j.facts, &j.exps));
    for line in j.transcript.records.iter() {
        shown.push(line.brief());
    }
    shown.push(harness::results::tap::render(&cases));
    shown.push(evidence::junit_xml("parse", &[], &cases));
    shown.push(serde_json::to_string(&j.facts).expect("the facts serialize"));
    shown.push(serde_json::to_string(&j.exps).expect("the judgements serialize"));
    shown.push(serde_json::to_string(&j.transcript.records).expect("the records serialize"));
    shown.iter().map(String::len).sum()
}

/// Follows `bytes` as `harness watch` does, the judge showing each
/// experiment as its `exp` record arrives, the bytes arriving in pieces of
/// `piece` bytes; then shows the rest of the final judgement. Returns how
/// many table lines that made.
pub fn follow_live(bytes: &[u8], piece: usize, j: &Judged) -> usize {
    let syms = symbols();
    let mut table = table::Table::new(0, false);
    let mut live = table::Live::new(
        &mut table,
        None,
        Via::Serial,
        Some(&syms),
        None,
        false,
        false,
        "shared",
    );
    let mut reader = harness::machine::transcript::Reader::default();
    for chunk in bytes.chunks(piece.max(1)) {
        for line in reader.push(chunk) {
            live.line(&line);
        }
    }
    if let Some(line) = reader.finish() {
        live.line(&line);
    }
    live.show_rest(&j.exps);
    table.text.len()
}

/// Runs `f` on a thread of its own and fails if it takes longer than
/// `deadline`: a hang must fail the test, not stall `cargo test`. A panic
/// in `f` is passed on as it is.
pub fn in_time<T: Send + 'static>(deadline: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // The receiver is gone only after a timeout, which already fails.
        let _ = tx.send(f());
    });
    match rx.recv_timeout(deadline) {
        Ok(v) => {
            worker.join().expect("the worker thread ended");
            v
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match worker.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the worker thread ended without an answer"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("reading and judging a log took more than {deadline:?}: a hang")
        }
    }
}
