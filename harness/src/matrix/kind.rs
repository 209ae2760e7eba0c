//! A sabotage row's judgement: `expect = fail` with `expect_kind = KINDS`.
//!
//! A row that breaks the protocol on purpose (`append = break=NAME`) passes
//! only when every experiment it selects FAILs *through the failure kinds
//! that defect must cause*: each kind of `expect_kind` counted in every
//! experiment, and nothing else wrong with it. A FAIL through an error, a
//! patch that never completed, a call that never went through, counters
//! that do not add up, a kernel that judged it met, or a deadlock the row
//! did not expect, does not show that the detector saw the defect, so it
//! fails the row; so does a PASS, and a KFAIL (a known failure of the
//! platform must not stand in for the defect), except where the row expects
//! only the stale kinds, which on TCG are known failures by design.
//! Failures of other kinds beside the expected ones are allowed (TCG adds
//! stale ones now and then) and shown.

use crate::judge::experiment::{failure_counters, ExpJudgement, Verdict};
use anyhow::{bail, Result};

/// What a sabotage must cause: a failure counter of the `exp` record
/// (`report::kind::EXP`; or `ghost_retries`), or a deadlock (a CPU the watchdog, or a sync
/// round nobody acknowledged, found stuck).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// `wrong`, `faults`, `stray_bp`, ... (the record's field name).
    Counter(&'static str),
    /// A `deadlock` record with a RIP.
    Deadlock,
    /// The patcher stopped the experiment with this error (`precondition`:
    /// a point did not hold what the patch expected; `readback`: a write
    /// did not read back): the `exp` record's `error` starts with the
    /// variant's name.
    PatcherError(&'static str),
    /// Shape `null`: no call passed a NOP (`null_calls=0`), so the shape
    /// was not tested (`plan::verdict::Unmet::NoNullCalls`): the judged
    /// check's own control, with no failure counted beside it.
    NoNullCalls,
    /// One counter or the other (`a|b`): for a defect whose failures go
    /// one way or another as the platform's timing decides, as a torn
    /// call lands on an `int3` (`stray_bp`) or an unmapped page
    /// (`faults`).
    Either(&'static str, &'static str),
}

/// The patcher's errors a row can expect, by name, and how the kernel's
/// `error` field begins for each (`PatchError`'s `Debug`).
const PATCHER_ERRORS: [(&str, &str); 2] =
    [("precondition", "Precondition"), ("readback", "Readback")];

impl FailureKind {
    /// Its name in a table.
    fn name(self) -> &'static str {
        match self {
            FailureKind::Counter(c) => c,
            FailureKind::Deadlock => "deadlock",
            FailureKind::PatcherError(e) => e,
            FailureKind::NoNullCalls => "no_null_calls",
            // No name of its own, and not among `all`: `Display` writes
            // `a|b`.
            FailureKind::Either(a, _) => a,
        }
    }

    /// Every kind, by name: the failure counters, then `ghost_retries`
    /// (ghosts `ghost=retry` ran again instead of judging: never a pass,
    /// though no failure counter counts them).
    pub fn all() -> impl Iterator<Item = FailureKind> {
        failure_counters()
            .map(FailureKind::Counter)
            .chain([FailureKind::Counter("ghost_retries")])
            .chain([FailureKind::Deadlock])
            .chain(PATCHER_ERRORS.map(|(n, _)| FailureKind::PatcherError(n)))
            .chain([FailureKind::NoNullCalls])
    }

    /// Whether it is one of the stale kinds (known failures on TCG).
    fn stale(self) -> bool {
        matches!(self, FailureKind::Counter("stale_bp" | "stale_call"))
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Either(a, b) => write!(f, "{a}|{b}"),
            k => f.write_str(k.name()),
        }
    }
}

/// Parses `expect_kind = a,b`: known names, none twice, at least one; a
/// kind may be `a|b`, either of two failure counters.
pub fn parse_kinds(value: &str) -> Result<Vec<FailureKind>> {
    let names = || {
        FailureKind::all()
            .map(FailureKind::name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out: Vec<FailureKind> = Vec::new();
    for word in value.split(',').map(str::trim) {
        if word.is_empty() {
            bail!(
                "`expect_kind = {value}`: an empty kind (kinds: {})",
                names()
            );
        }
        let find = |w: &str| -> Result<FailureKind> {
            match FailureKind::all().find(|k| k.name() == w) {
                Some(k) => Ok(k),
                None => bail!(
                    "`expect_kind = {value}`: unknown failure kind `{w}` (kinds: {})",
                    names()
                ),
            }
        };
        let k = match word.split_once('|') {
            Some((a, b)) => match (find(a.trim())?, find(b.trim())?) {
                (FailureKind::Counter(a), FailureKind::Counter(b)) if a != b => {
                    FailureKind::Either(a, b)
                }
                _ => bail!(
                    "`expect_kind = {value}`: `{word}`: either side of `|` is a failure \
                     counter, the two different"
                ),
            },
            None => find(word)?,
        };
        if out.contains(&k) {
            bail!("`expect_kind = {value}`: `{word}` twice");
        }
        out.push(k);
    }
    if out.len() > 1
        && out
            .iter()
            .any(|k| matches!(k, FailureKind::PatcherError(_)))
    {
        bail!("`expect_kind = {value}`: a patcher error ends the experiment, so it stands alone");
    }
    if out.len() > 1 && out.contains(&FailureKind::NoNullCalls) {
        bail!("`expect_kind = {value}`: no_null_calls is judged with no failure beside it, so it stands alone");
    }
    Ok(out)
}

/// `stray_bp,faults`.
pub fn kinds_text(kinds: &[FailureKind]) -> String {
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether experiment `j` of a sabotage row was caught through `kinds`;
/// `Err` says why not. `Ok` has the kinds counted, for the row's line.
pub fn caught(j: &ExpJudgement, kinds: &[FailureKind]) -> Result<String, String> {
    let want = kinds_text(kinds);
    let name = &j.name;
    let kfail_ok = kinds.iter().all(|k| k.stale());
    match j.verdict {
        Verdict::Fail => {}
        Verdict::Kfail if kfail_ok => {}
        v => {
            return Err(format!(
                "{} {name}: wanted FAIL through {want} (the sabotage must be seen)",
                v.word()
            ))
        }
    }
    let n = |c: &str| j.n(c);
    let problem = |what: String| Err(format!("FAIL {name}, but {what}: not through {want}"));
    if let [FailureKind::PatcherError(e)] = kinds {
        let prefix = PATCHER_ERRORS
            .iter()
            .find(|(n, _)| n == e)
            .map_or("", |(_, p)| *p);
        return match j.error.as_deref() {
            Some(err) if j.outcome == "error" && err.starts_with(prefix) => {
                Ok(format!("error={e}"))
            }
            Some(err) => problem(format!("through another error ({err})")),
            None => problem(format!(
                "without the patcher's error (outcome={})",
                j.outcome
            )),
        };
    }
    match j.outcome.as_str() {
        "none" => return problem("it never reported".into()),
        "error" => {
            return problem(format!(
                "through an error ({})",
                j.reasons.first().map_or("no reason", String::as_str)
            ))
        }
        _ => {}
    }
    let failures = n("failures");
    let parts: u64 = failure_counters().map(n).sum();
    if parts != failures {
        return problem(format!(
            "its counters do not add up (failures={failures}, kinds sum to {parts})"
        ));
    }
    if (j.failures.len() as u64) > failures {
        return problem("more failure records than failures".into());
    }
    if j.kernel_met == Some(true) {
        return problem("the kernel judged it met".into());
    }
    if n("stuck") > 0 {
        return problem(format!("{} CPU(s) never finished their loop", n("stuck")));
    }
    if n("calls") == 0 {
        return problem("no call went through a site".into());
    }
    let deadlocked = !j.stuck.is_empty() || j.outcome == "deadlock";
    if kinds.contains(&FailureKind::Deadlock) {
        if !j.stuck.iter().any(|s| s.rip.is_some()) {
            return problem("no deadlock record with a RIP".into());
        }
    } else {
        if deadlocked {
            return problem("it deadlocked".into());
        }
        if n("patches") == 0 {
            return problem("no patch completed".into());
        }
    }
    if kinds == [FailureKind::NoNullCalls] {
        if failures > 0 {
            return problem(format!("{failures} failure(s) counted beside it"));
        }
        if j.counters.get("null_calls") != Some(&0) {
            return problem(format!(
                "null_calls={}",
                j.counters
                    .get("null_calls")
                    .map_or("absent".to_string(), u64::to_string)
            ));
        }
        if !j.reasons.iter().any(|r| r.contains("null_calls=0")) {
            return problem("not judged for it".into());
        }
        return Ok("null_calls=0".into());
    }
    let missing: Vec<String> = kinds
        .iter()
        .filter_map(|k| match k {
            FailureKind::Counter(c) if n(c) == 0 => Some(c.to_string()),
            FailureKind::Either(a, b) if n(a) + n(b) == 0 => Some(format!("{a} or {b}")),
            _ => None,
        })
        .collect();
    if !missing.is_empty() {
        let seen: Vec<String> = failure_counters()
            .filter(|&c| n(c) > 0)
            .map(|c| format!("{c}={}", n(c)))
            .collect();
        return problem(format!(
            "no {} counted (it counted {})",
            missing.join(", no "),
            if seen.is_empty() {
                "nothing".into()
            } else {
                seen.join(" ")
            }
        ));
    }
    Ok(kinds
        .iter()
        .map(|k| match k {
            FailureKind::Counter(c) => format!("{c}={}", n(c)),
            FailureKind::Deadlock => format!("deadlock cpus={}", j.stuck.len()),
            FailureKind::PatcherError(e) => format!("error={e}"),
            FailureKind::NoNullCalls => "null_calls=0".into(),
            FailureKind::Either(a, b) => format!("{a}={} {b}={}", n(a), n(b)),
        })
        .collect::<Vec<_>>()
        .join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{
        experiment::StuckCpu,
        seen::{Platform, Via, Where},
    };
    use std::collections::BTreeMap;

    /// A must-pass experiment the harness judged FAIL with these counters.
    fn failed(counters: &[(&str, u64)]) -> ExpJudgement {
        let counters: BTreeMap<String, u64> =
            counters.iter().map(|&(k, v)| (k.to_string(), v)).collect();
        let failures = failure_counters()
            .map(|c| counters.get(c).copied().unwrap_or(0))
            .sum();
        let mut all = BTreeMap::from([
            ("patches".to_string(), 8),
            ("calls".to_string(), 1000),
            ("failures".to_string(), failures),
        ]);
        all.extend(counters);
        ExpJudgement {
            name: "int3/gap/ipi/qword/timer".into(),
            expectation: "must-pass".into(),
            outcome: "fail".into(),
            verdict: Verdict::Fail,
            reasons: vec!["failures".into()],
            known: None,
            notes: vec![],
            kernel_met: Some(false),
            error: None,
            counters: all,
            observation: None,
            caught: None,
            stuck: vec![],
            failures: vec![],
            seen: Where {
                platform: Platform::Tcg,
                via: Via::Qemu,
                cpu: "QEMU".into(),
                hypervisor: None,
                firmware: None,
                emulator: None,
                hypervisor_bit: None,
                qemu: None,
            },
            boot: "shared".into(),
            line: None,
        }
    }

    fn kinds(s: &str) -> Vec<FailureKind> {
        parse_kinds(s).unwrap()
    }

    #[test]
    fn either_of_two_counters_is_caught_by_one_and_missed_when_neither_counted() {
        let want = kinds("stray_bp|faults");
        assert_eq!(want, [FailureKind::Either("stray_bp", "faults")]);
        assert_eq!(kinds_text(&want), "stray_bp|faults");
        assert_eq!(
            caught(&failed(&[("faults", 9)]), &want),
            Ok("stray_bp=0 faults=9".into())
        );
        assert!(caught(&failed(&[("stray_bp", 2), ("faults", 1)]), &want).is_ok());
        let e = caught(&failed(&[("wrong", 3)]), &want).unwrap_err();
        assert!(e.contains("no stray_bp or faults counted"), "{e}");
        // Both sides are counters, and different.
        assert!(parse_kinds("stray_bp|stray_bp").is_err());
        assert!(parse_kinds("stray_bp|deadlock").is_err());
        assert!(parse_kinds("stray_bp|nothing")
            .unwrap_err()
            .to_string()
            .contains("`nothing`"));
    }

    #[test]
    fn a_null_experiment_that_passed_no_nop_and_failed_nothing_else_is_caught_as_no_null_calls() {
        let mut j = failed(&[("null_calls", 0)]);
        j.name = "int3/gap/ipi/qword/timer/null".into();
        j.reasons = vec!["null_calls=0: no call ran through a NULL site".into()];
        assert_eq!(
            caught(&j, &kinds("no_null_calls")),
            Ok("null_calls=0".into())
        );
        // A call that passed a NOP, a failure beside it, or no judgement
        // for it: not this control.
        let mut passed_one = j.clone();
        passed_one.counters.insert("null_calls".into(), 3);
        assert!(caught(&passed_one, &kinds("no_null_calls"))
            .unwrap_err()
            .contains("null_calls=3"));
        let mut also_wrong = failed(&[("null_calls", 0), ("wrong", 2)]);
        also_wrong.reasons = j.reasons.clone();
        assert!(caught(&also_wrong, &kinds("no_null_calls"))
            .unwrap_err()
            .contains("2 failure(s)"));
        let mut unjudged = j.clone();
        unjudged.reasons = vec!["patches=1".into()];
        assert!(caught(&unjudged, &kinds("no_null_calls"))
            .unwrap_err()
            .contains("not judged"));
        assert!(parse_kinds("no_null_calls,wrong").is_err());
    }

    #[test]
    fn a_fail_through_the_expected_kind_is_caught() {
        let j = failed(&[("bad_return", 7785)]);
        assert_eq!(
            caught(&j, &kinds("bad_return")),
            Ok("bad_return=7785".into())
        );
    }

    #[test]
    fn every_expected_kind_must_be_counted_and_other_kinds_may_come_along() {
        let j = failed(&[("faults", 50), ("stray_bp", 17), ("stale_bp", 3)]);
        assert!(caught(&j, &kinds("stray_bp,faults")).is_ok());
        let j = failed(&[("faults", 50)]);
        let e = caught(&j, &kinds("stray_bp,faults")).unwrap_err();
        assert!(
            e.contains("no stray_bp counted") && e.contains("faults=50"),
            "wanted the missing kind and what was counted, got {e:?}"
        );
    }

    #[test]
    fn a_fail_of_another_kind_is_not_the_sabotage_seen() {
        let j = failed(&[("wrong", 3)]);
        let e = caught(&j, &kinds("unsynced")).unwrap_err();
        assert!(
            e.contains("no unsynced counted (it counted wrong=3)"),
            "{e}"
        );
    }

    #[test]
    fn a_pass_or_a_kfail_is_never_caught_unless_only_stale_kinds_are_expected() {
        let mut j = failed(&[("stray_bp", 4)]);
        j.verdict = Verdict::Pass;
        assert!(caught(&j, &kinds("stray_bp"))
            .unwrap_err()
            .starts_with("PASS int3/gap/ipi/qword/timer: wanted FAIL through stray_bp"));
        j.verdict = Verdict::Kfail;
        assert!(caught(&j, &kinds("stray_bp")).is_err());
        let mut j = failed(&[("stale_bp", 40)]);
        j.verdict = Verdict::Kfail;
        assert!(caught(&j, &kinds("stale_bp")).is_ok());
    }

    #[test]
    fn an_error_zero_patches_or_calls_or_bad_counters_fail_the_row() {
        let mut j = failed(&[("unsynced", 32)]);
        j.outcome = "error".into();
        j.reasons = vec!["the patcher stopped: Sync(..)".into()];
        let e = caught(&j, &kinds("unsynced")).unwrap_err();
        assert!(e.contains("through an error (the patcher stopped"), "{e}");

        let mut j = failed(&[("unsynced", 32)]);
        j.counters.insert("patches".into(), 0);
        assert!(caught(&j, &kinds("unsynced"))
            .unwrap_err()
            .contains("no patch completed"));

        let mut j = failed(&[("unsynced", 32)]);
        j.counters.insert("calls".into(), 0);
        assert!(caught(&j, &kinds("unsynced"))
            .unwrap_err()
            .contains("no call"));

        let mut j = failed(&[("unsynced", 32)]);
        j.counters.insert("failures".into(), 33);
        assert!(caught(&j, &kinds("unsynced"))
            .unwrap_err()
            .contains("do not add up"));

        let mut j = failed(&[("unsynced", 32)]);
        j.kernel_met = Some(true);
        assert!(caught(&j, &kinds("unsynced"))
            .unwrap_err()
            .contains("kernel judged it met"));
    }

    #[test]
    fn a_deadlock_is_caught_only_where_expected_and_only_with_a_rip() {
        let stuck = StuckCpu {
            cpu: Some(1),
            rip: Some(0x10effc),
            at: "kernel::arena::alias+0x1c (0x10effc)".into(),
            symbol: Some("kernel::arena::alias".into()),
            waiting: None,
        };
        let mut j = failed(&[]);
        j.outcome = "deadlock".into();
        j.counters.insert("patches".into(), 0);
        j.stuck = vec![stuck.clone()];
        assert_eq!(
            caught(&j, &kinds("deadlock")),
            Ok("deadlock cpus=1".into()),
            "a deadlock before the first patch completed is what it looks like"
        );
        assert!(caught(&j, &kinds("stray_bp"))
            .unwrap_err()
            .contains("it deadlocked"));
        j.stuck[0].rip = None;
        assert!(caught(&j, &kinds("deadlock"))
            .unwrap_err()
            .contains("no deadlock record with a RIP"));
    }

    #[test]
    fn kinds_parse_from_the_record_names_and_a_typo_is_named() {
        assert_eq!(
            kinds(" stray_bp , faults "),
            vec![
                FailureKind::Counter("stray_bp"),
                FailureKind::Counter("faults")
            ]
        );
        assert_eq!(kinds("deadlock"), vec![FailureKind::Deadlock]);
        let e = parse_kinds("stray-bp").unwrap_err().to_string();
        assert!(
            e.contains("unknown failure kind `stray-bp`") && e.contains("stray_bp, stale_bp"),
            "{e}"
        );
        assert!(parse_kinds("faults,faults").is_err());
        assert!(parse_kinds("faults,").is_err());
        assert!(parse_kinds("").is_err());
    }
}
