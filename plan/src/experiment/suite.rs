//! The default suite: every value of every axis at least once, and every
//! negative control.
//!
//! | section | rows | expectation | why |
//! |---|---|---|---|
//! | `naive/-/none/*` | 4 | negative-control | byte-by-byte writes must be caught in every class, or the harness is blind |
//! | `{int3,int3-batch}/{gap,trampoline,r10r11}/{ipi,cpumask}/*/{timer,nmi}` | 96 | must-pass | the emulating handlers, both syncs, every class, under interrupts and NMIs |
//! | `int3-queue/gap/ipi/*/timer`, `int3-queue/{trampoline,r10r11}/ipi/qword/timer` | 6 | must-pass | every key in one batch, each key to its own target: the handler's table holds different destinations side by side |
//! | `int3/retry/ipi/qword/timer`, `int3/spin/cpumask/qword` | 2 | must-pass | the non-emulating handlers where they are sound |
//! | `int3/{gap,trampoline,r10r11}/ipi/qword/self` | 3 | must-pass | Linus's counter-example is harmless to emulating handlers |
//! | `int3/{spin,retry}/ipi/qword/self` | 2 | expect-deadlock, own boot | ... and deadlocks spin and retry |
//! | `int3/spin-bounded/cpumask/qword`, `int3/spin-bounded/ipi/qword/nmi-site` | 2 | observe | hpa's refinement where `spin` runs: it holds no patch up, but finishes sites itself with writes no sync covers (`unsynced`); under `self` it is not yet sound enough to run by default (docs/findings.md) |
//! | `{int3,int3-batch}/{gap,trampoline,r10r11}/ipi/qword/timer-site` | 6 | must-pass | an executor's interrupt handler calls a site while its own call is being emulated (`int3-batch` covers every site of the key, so the nested call traps too) |
//! | `int3/{gap,r10r11}/ipi/qword/nmi-site` | 2 | must-pass | #BP inside an NMI: Linux's and Nadav's handlers claim to be NMI-safe |
//! | `int3/{trampoline,spin,retry}/ipi/qword/nmi-site` | 3 | observe | the trampoline's per-CPU slots can be overwritten by the NMI's own #BP (`bad_return`); retry waits inside the NMI, which holds off the sync IPI (`deadlock`), so it gets a boot of its own; spin answers the syncs from inside the NMI, so it holds no patch up, but a patch can end under a #BP the NMI interrupted before its lookup (`stray_bp`) |
//! | `atomic/-/ipi/*` | 4 | observe | Josh's single store, per class (the cross-line case crashed Nehalem): torn operands (`stray_bp`, `faults`) and stale calls |
//! | `outofline-int3/gap/ipi/qword/timer` | 1 | must-pass | only the trampoline is patched |
//! | `outofline-atomic/-/ipi/qword` | 1 | observe | as `atomic` |
//! | `int3/gap/ipi/qword/{cpuid,mov-cr2,serialize}` | 3 | must-pass | the serializing instructions (cost under KVM is a finding) |
//! | `int3/gap/ipi/*/timer/null` | 4 | must-pass | NULL static calls: each patch moves a site to a `call` or the 5-byte NOP, in every class |
//! | `int3-batch/{gap,trampoline,r10r11}/ipi/qword/timer/null`, `int3-queue/gap/ipi/qword/timer/null` | 4 | must-pass | NULL in a batch: the handler's table holds NOPs (sent to the next instruction) beside calls, and in a queue different keys' |
//! | `int3/{trampoline,r10r11}/cpumask/qword/nmi/null`, `int3/retry/ipi/qword/timer/null`, `int3/spin/cpumask/qword/null` | 4 | must-pass | NULL under the other handlers and the mask sync |
//! | `int3/gap/ipi/qword/{self,timer-site,nmi-site}/null` | 3 | must-pass | NULL where a site is called from an interrupt on the patcher, under an emulated call, inside an NMI |
//! | the 15 `null` rows again with `/jump` | 15 | must-pass | jump labels: each site's point moves between a `jmp` to its own label and the NOP, so a batch holds as many destinations as sites (in a queue, of several keys) |
//! | the 15 `null` rows again with `/jump8` | 15 | must-pass | the 2-byte jump labels Linux uses where the label is in reach: `jmp rel8` <-> `66 90`, the only bytes of the point that change |
//! | the 15 `null` rows again with `/ret0` | 15 | must-pass | `__static_call_return0`: memory gets `cs cs cs xor eax, eax` while a CPU that traps is sent through an emulated call that returns 0 |
//! | `early/-/none/*/self` | 4 | must-pass | Linux's `text_poke_early`: in place, byte by byte, interrupts off, the patching CPU alone; its own interrupt calls the sites and must never see a torn operand (`break=early-irqs-on` replays 2dc4196138055) |
//! | `int3/gap/none/cross-line` | 1 | observe | no sync: stale code may run (`wrong`, `stray_bp`, `stale_*`) or a torn mix (`faults`), or never be seen under an emulator |
//!
//! 200 rows. Durations, CPU counts and timeouts are the harness's per-run
//! parameters, not part of an experiment.

use super::{
    Expectation::{ExpectDeadlock, NegativeControl, Observe},
    Experiment, Handler, Interference, Serializer, Shape, Strategy, SyncMode,
};
use crate::layout::SiteClass;

/// Every experiment the harness runs by default, in this order.
pub static DEFAULT_SUITE: &[Experiment] = &SUITE;

/// Number of rows of [`DEFAULT_SUITE`].
const SUITE_LEN: usize = 200;

const SUITE: [Experiment; SUITE_LEN] = build();

const CLASSES: [SiteClass; 4] = [
    SiteClass::Qword,
    SiteClass::Line,
    SiteClass::CrossLine,
    SiteClass::CrossPage,
];
const EMULATING: [Handler; 3] = [Handler::Gap, Handler::Trampoline, Handler::R10r11];

const fn bp(strategy: Strategy, handler: Handler, sync: SyncMode, class: SiteClass) -> Experiment {
    Experiment::new(strategy, Some(handler), sync, class)
}

const fn no_bp(strategy: Strategy, sync: SyncMode, class: SiteClass) -> Experiment {
    Experiment::new(strategy, None, sync, class)
}

/// Appends rows to a fixed array in a const context.
struct Rows {
    rows: [Experiment; SUITE_LEN],
    len: usize,
}

impl Rows {
    const fn push(mut self, e: Experiment) -> Rows {
        self.rows[self.len] = e;
        self.len += 1;
        self
    }
}

const fn build() -> [Experiment; SUITE_LEN] {
    use Interference::{NmiSite, SelfSite, Timer, TimerSite};
    use Shape::{Jump, Jump8, Null, Ret0};
    use SiteClass::Qword;
    use Strategy::{
        Atomic, Early, Int3, Int3Batch, Int3Queue, Naive, OutoflineAtomic, OutoflineInt3,
    };
    use SyncMode::{Cpumask, Ipi};

    let filler = no_bp(Naive, SyncMode::None, Qword);
    let mut s = Rows {
        rows: [filler; SUITE_LEN],
        len: 0,
    };

    // Negative controls: the naive write, in every class.
    let mut c = 0;
    while c < CLASSES.len() {
        s = s.push(no_bp(Naive, SyncMode::None, CLASSES[c]).with_expectation(NegativeControl));
        c += 1;
    }

    // The emulating handlers: strategy x handler x sync x class x interference.
    let strategies = [Int3, Int3Batch];
    let syncs = [Ipi, Cpumask];
    let interferences = [Timer, Interference::Nmi];
    let mut st = 0;
    while st < strategies.len() {
        let mut h = 0;
        while h < EMULATING.len() {
            let mut sy = 0;
            while sy < syncs.len() {
                let mut c = 0;
                while c < CLASSES.len() {
                    let mut i = 0;
                    while i < interferences.len() {
                        let e = bp(strategies[st], EMULATING[h], syncs[sy], CLASSES[c]);
                        s = s.push(e.with_interference(interferences[i]));
                        i += 1;
                    }
                    c += 1;
                }
                sy += 1;
            }
            h += 1;
        }
        st += 1;
    }

    // Every key in one batch, each to its own target: `gap` in every
    // class, the other emulating handlers in a qword.
    let mut c = 0;
    while c < CLASSES.len() {
        s = s.push(bp(Int3Queue, Handler::Gap, Ipi, CLASSES[c]).with_interference(Timer));
        c += 1;
    }
    s = s.push(bp(Int3Queue, Handler::Trampoline, Ipi, Qword).with_interference(Timer));
    s = s.push(bp(Int3Queue, Handler::R10r11, Ipi, Qword).with_interference(Timer));

    // The non-emulating handlers, where they are sound.
    s = s.push(bp(Int3, Handler::Retry, Ipi, Qword).with_interference(Timer));
    s = s.push(bp(Int3, Handler::Spin, Cpumask, Qword));
    // hpa's refinement where `spin` runs: it finishes sites itself, with
    // writes no sync covers (`plan::verdict::observes`).
    s = s.push(bp(Int3, Handler::SpinBounded, Cpumask, Qword).with_expectation(Observe));

    // Linus's counter-example: an interrupt on the patching CPU hits the site.
    let mut h = 0;
    while h < EMULATING.len() {
        s = s.push(bp(Int3, EMULATING[h], Ipi, Qword).with_interference(SelfSite));
        h += 1;
    }
    s = s.push(
        bp(Int3, Handler::Spin, Ipi, Qword)
            .with_interference(SelfSite)
            .with_expectation(ExpectDeadlock)
            .with_own_boot(),
    );
    s = s.push(
        bp(Int3, Handler::Retry, Ipi, Qword)
            .with_interference(SelfSite)
            .with_expectation(ExpectDeadlock)
            .with_own_boot(),
    );

    // Interrupts whose handler calls a site, on the executors.
    let mut st = 0;
    while st < strategies.len() {
        let mut h = 0;
        while h < EMULATING.len() {
            s = s.push(bp(strategies[st], EMULATING[h], Ipi, Qword).with_interference(TimerSite));
            h += 1;
        }
        st += 1;
    }

    // #BP nested in an NMI, every handler: Linux's gap and Nadav's
    // registers claim to be NMI-safe and must pass; the others are
    // findings (`plan::verdict::observes` says what each counts).
    let mut h = 0;
    while h < Handler::ALL.len() {
        let handler = Handler::ALL[h];
        let e = bp(Int3, handler, Ipi, Qword).with_interference(NmiSite);
        s = s.push(match handler {
            Handler::Gap | Handler::R10r11 => e,
            Handler::Trampoline | Handler::Spin => e.with_expectation(Observe),
            Handler::Retry => e.with_expectation(Observe).with_own_boot(),
            Handler::SpinBounded => e.with_expectation(Observe),
        });
        h += 1;
    }

    // Josh's single store, in every class.
    let mut c = 0;
    while c < CLASSES.len() {
        s = s.push(no_bp(Atomic, Ipi, CLASSES[c]).with_expectation(Observe));
        c += 1;
    }

    // Out of line: only the trampoline is patched.
    s = s.push(bp(OutoflineInt3, Handler::Gap, Ipi, Qword).with_interference(Timer));
    s = s.push(no_bp(OutoflineAtomic, Ipi, Qword).with_expectation(Observe));

    // The serializing instructions other than IRET.
    s = s.push(bp(Int3, Handler::Gap, Ipi, Qword).with_serialize(Serializer::Cpuid));
    s = s.push(bp(Int3, Handler::Gap, Ipi, Qword).with_serialize(Serializer::MovCr2));
    s = s.push(bp(Int3, Handler::Gap, Ipi, Qword).with_serialize(Serializer::Serialize));

    // NULL static calls (shape `null`), jump labels (shapes `jump` and
    // `jump8`) and `__static_call_return0` (shape `ret0`):
    // every class under `gap`, the batches, the other handlers, and where
    // a site is called from an interrupt.
    let shapes = [Null, Jump, Jump8, Ret0];
    let mut sh = 0;
    while sh < shapes.len() {
        let shape = shapes[sh];
        let mut c = 0;
        while c < CLASSES.len() {
            s = s.push(
                bp(Int3, Handler::Gap, Ipi, CLASSES[c])
                    .with_interference(Timer)
                    .with_shape(shape),
            );
            c += 1;
        }
        let mut h = 0;
        while h < EMULATING.len() {
            s = s.push(
                bp(Int3Batch, EMULATING[h], Ipi, Qword)
                    .with_interference(Timer)
                    .with_shape(shape),
            );
            h += 1;
        }
        s = s.push(
            bp(Int3Queue, Handler::Gap, Ipi, Qword)
                .with_interference(Timer)
                .with_shape(shape),
        );
        s = s.push(
            bp(Int3, Handler::Trampoline, Cpumask, Qword)
                .with_interference(Interference::Nmi)
                .with_shape(shape),
        );
        s = s.push(
            bp(Int3, Handler::R10r11, Cpumask, Qword)
                .with_interference(Interference::Nmi)
                .with_shape(shape),
        );
        s = s.push(
            bp(Int3, Handler::Retry, Ipi, Qword)
                .with_interference(Timer)
                .with_shape(shape),
        );
        s = s.push(bp(Int3, Handler::Spin, Cpumask, Qword).with_shape(shape));
        let mut i = 0;
        let nested = [SelfSite, TimerSite, NmiSite];
        while i < nested.len() {
            s = s.push(
                bp(Int3, Handler::Gap, Ipi, Qword)
                    .with_interference(nested[i])
                    .with_shape(shape),
            );
            i += 1;
        }
        sh += 1;
    }

    // `text_poke_early`: in place with interrupts off, the patching CPU
    // alone, its own interrupt calling the sites; every class.
    let mut c = 0;
    while c < CLASSES.len() {
        s = s.push(no_bp(Early, SyncMode::None, CLASSES[c]).with_interference(SelfSite));
        c += 1;
    }

    // No sync at all: a control whose outcome is a finding.
    s = s.push(
        bp(Int3, Handler::Gap, SyncMode::None, SiteClass::CrossLine).with_expectation(Observe),
    );

    assert!(
        s.len == SUITE_LEN,
        "SUITE_LEN must be the number of rows pushed"
    );
    s.rows
}
