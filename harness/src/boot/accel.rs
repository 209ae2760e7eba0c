//! Choosing the accelerator: KVM only where it works, never assumed.
//!
//! `--accel auto` takes KVM only when `/dev/kvm` opens read-write *and* a
//! short probe boot of the kernel (`-smp 1`, [`PROBE_DEADLINE`]) passes;
//! otherwise TCG. Some hosts offer a nested KVM that starts guests but dies
//! at the guest's first `int3` ("KVM internal error", QEMU then paused): the
//! probe catches that, and a second probe with `nobp` on the command line
//! records whether KVM works at all without `int3` ([`KvmProbe`]), for
//! experiments that can do without breakpoints.

use crate::{
    boot,
    judge::{self, Ending, Expectation},
    machine::qemu::{Accel, Medium, QemuCommand},
    machine::transcript::Transcript,
};
use anyhow::Result;
use serde::Serialize;
use std::{path::Path, time::Duration};

/// The probe boot's deadline.
pub const PROBE_DEADLINE: Duration = Duration::from_secs(15);

/// What was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AccelRequest {
    /// TCG (`-accel tcg,thread=multi`).
    Tcg,
    /// KVM (fails with status 2 when /dev/kvm is unusable).
    Kvm,
    /// KVM if /dev/kvm works and a probe boot passes, else TCG.
    Auto,
}

/// Whether `/dev/kvm` can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DevKvm {
    /// It opens read-write.
    ReadWrite,
    /// It does not; why.
    Unusable(String),
}

/// Checks `/dev/kvm`.
pub fn dev_kvm() -> DevKvm {
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(_) => DevKvm::ReadWrite,
        Err(e) => DevKvm::Unusable(format!("/dev/kvm cannot be opened read-write: {e}")),
    }
}

/// How one probe boot went.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum ProbeBoot {
    /// The kernel passed.
    Passed {
        /// Wall time.
        secs: f64,
    },
    /// "KVM internal error": KVM cannot run this guest.
    KvmInternalError {
        /// Wall time.
        secs: f64,
    },
    /// The probe hit its deadline.
    TimedOut {
        /// Wall time.
        secs: f64,
    },
    /// Anything else.
    Failed {
        /// The first reason.
        why: String,
        /// Wall time.
        secs: f64,
    },
}

impl ProbeBoot {
    fn passed(&self) -> bool {
        matches!(self, ProbeBoot::Passed { .. })
    }

    fn describe(&self) -> String {
        match self {
            ProbeBoot::Passed { secs } => format!("passed in {secs:.1} s"),
            ProbeBoot::KvmInternalError { .. } => {
                "ended in a KVM internal error (this nested KVM cannot run int3 guests)".into()
            }
            ProbeBoot::TimedOut { secs } => format!("timed out after {secs:.0} s"),
            ProbeBoot::Failed { why, .. } => format!("failed: {why}"),
        }
    }
}

/// What the KVM probe found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KvmProbe {
    /// `/dev/kvm`.
    pub dev_kvm: DevKvm,
    /// The kernel's full probe boot.
    pub boot: Option<ProbeBoot>,
    /// With `nobp` (only when the full boot met a KVM internal error):
    /// does KVM run the kernel when it executes no `int3`?
    pub nobp_boot: Option<ProbeBoot>,
}

impl KvmProbe {
    /// Whether KVM can run the kernel as long as it executes no `int3`.
    pub fn works_without_int3(&self) -> Option<bool> {
        self.nobp_boot.as_ref().map(ProbeBoot::passed)
    }
}

/// The accelerator chosen and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccelChoice {
    /// The accelerator.
    pub accel: Accel,
    /// Why, for people.
    pub why: String,
    /// The probe, if one ran.
    pub probe: Option<KvmProbe>,
}

impl AccelChoice {
    /// `tcg (thread=multi): why`.
    pub fn line(&self) -> String {
        format!("{}: {}", self.accel.arg(), self.why)
    }
}

fn probe_boot(qemu: &Path, elf: &Path, cpu: &str, cmdline: &str, dir: &Path) -> Result<ProbeBoot> {
    std::fs::create_dir_all(dir)?;
    let cmd = QemuCommand {
        qemu: qemu.to_path_buf(),
        medium: Medium::Kernel {
            elf: elf.to_path_buf(),
            cmdline: cmdline.to_string(),
            firmware: crate::machine::qemu::pvh_firmware(),
        },
        smp: 1,
        cpu: cpu.to_string(),
        accel: Accel::Kvm,
    };
    let b = boot::boot(&cmd, PROBE_DEADLINE, dir, false)?;
    let secs = b.wall.as_secs_f64();
    Ok(probe_outcome(&b.transcript, &b.ending, secs))
}

/// Reads a probe boot's outcome.
pub fn probe_outcome(t: &Transcript, ending: &Ending, secs: f64) -> ProbeBoot {
    match ending {
        Ending::Environment { why } if why.contains(crate::machine::qemu::KVM_INTERNAL_ERROR) => {
            return ProbeBoot::KvmInternalError { secs }
        }
        Ending::Timeout { .. } => return ProbeBoot::TimedOut { secs },
        _ => {}
    }
    let facts = judge::Facts::from_transcript(t);
    let j = judge::judge(
        &facts,
        &Expectation::MustPass,
        &judge::Context {
            smp: Some(1),
            ending,
            symbols: None,
        },
    );
    if j.met {
        ProbeBoot::Passed { secs }
    } else {
        ProbeBoot::Failed {
            why: j.reasons.first().cloned().unwrap_or_default(),
            secs,
        }
    }
}

/// Runs the KVM probe: `/dev/kvm`, then a probe boot, then (after a KVM
/// internal error) a `nobp` probe boot, saying so on standard error unless
/// `quiet`. Evidence goes under `dir`.
pub fn probe_kvm(
    qemu: &Path,
    elf: Option<&Path>,
    cpu: &str,
    dir: &Path,
    quiet: bool,
) -> Result<KvmProbe> {
    let dev = dev_kvm();
    let mut probe = KvmProbe {
        dev_kvm: dev.clone(),
        boot: None,
        nobp_boot: None,
    };
    if dev != DevKvm::ReadWrite {
        return Ok(probe);
    }
    let Some(elf) = elf.filter(|e| e.is_file()) else {
        return Ok(probe);
    };
    let say = |what: String| {
        if !quiet {
            eprintln!("harness: {what}");
        }
    };
    say(format!(
        "probing KVM: booting the kernel with -smp 1 (limit {} s)",
        PROBE_DEADLINE.as_secs()
    ));
    let b = probe_boot(qemu, elf, cpu, "", &dir.join("probe-kvm"))?;
    say(format!("KVM probe {}", b.describe()));
    if matches!(b, ProbeBoot::KvmInternalError { .. }) {
        let n = probe_boot(qemu, elf, cpu, "nobp", &dir.join("probe-kvm-nobp"))?;
        say(format!("KVM probe with `nobp` {}", n.describe()));
        probe.nobp_boot = Some(n);
    }
    probe.boot = Some(b);
    Ok(probe)
}

/// Decides from a probe.
pub fn decide(probe: KvmProbe, have_elf: bool) -> AccelChoice {
    let why = match (&probe.dev_kvm, &probe.boot) {
        (DevKvm::Unusable(e), _) => format!("--accel auto: {e}"),
        (DevKvm::ReadWrite, None) if !have_elf => {
            "--accel auto: /dev/kvm opens, but there is no kernel ELF to probe it with".into()
        }
        (DevKvm::ReadWrite, None) => "--accel auto: KVM was not probed".into(),
        (DevKvm::ReadWrite, Some(b)) if b.passed() => {
            return AccelChoice {
                accel: Accel::Kvm,
                why: format!(
                    "--accel auto: /dev/kvm opens read-write and the probe boot {}",
                    b.describe()
                ),
                probe: Some(probe),
            }
        }
        (DevKvm::ReadWrite, Some(b)) => {
            let nobp = match probe.works_without_int3() {
                Some(true) => "; without int3 (`nobp`) KVM boots the kernel",
                Some(false) => "; it fails without int3 (`nobp`) as well",
                None => "",
            };
            format!(
                "--accel auto: /dev/kvm opens read-write, but the KVM probe boot {}{nobp}",
                b.describe()
            )
        }
    };
    AccelChoice {
        accel: Accel::Tcg,
        why,
        probe: Some(probe),
    }
}

/// The choice for an explicit `--accel tcg|kvm`, or `None` for `auto`.
pub fn explicit(req: AccelRequest) -> Result<Option<AccelChoice>> {
    Ok(match req {
        AccelRequest::Tcg => Some(AccelChoice {
            accel: Accel::Tcg,
            why: "asked for (--accel tcg)".into(),
            probe: None,
        }),
        AccelRequest::Kvm => match dev_kvm() {
            DevKvm::ReadWrite => Some(AccelChoice {
                accel: Accel::Kvm,
                why: "asked for (--accel kvm); not probed".into(),
                probe: None,
            }),
            DevKvm::Unusable(e) => anyhow::bail!("--accel kvm: {e}; use --accel tcg"),
        },
        AccelRequest::Auto => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nested_kvm_that_dies_on_int3_gives_tcg_and_says_why() {
        let c = decide(
            KvmProbe {
                dev_kvm: DevKvm::ReadWrite,
                boot: Some(ProbeBoot::KvmInternalError { secs: 0.4 }),
                nobp_boot: Some(ProbeBoot::Passed { secs: 0.5 }),
            },
            true,
        );
        assert_eq!(c.accel, Accel::Tcg, "wanted TCG");
        assert!(
            c.why.contains("KVM internal error") && c.why.contains("without int3"),
            "wanted the reason to name the int3 failure and the nobp result: {}",
            c.why
        );
        assert_eq!(c.probe.unwrap().works_without_int3(), Some(true));
    }

    #[test]
    fn a_probe_that_passes_gives_kvm() {
        let c = decide(
            KvmProbe {
                dev_kvm: DevKvm::ReadWrite,
                boot: Some(ProbeBoot::Passed { secs: 0.3 }),
                nobp_boot: None,
            },
            true,
        );
        assert_eq!(c.accel, Accel::Kvm);
    }

    #[test]
    fn an_unopenable_dev_kvm_gives_tcg() {
        let c = decide(
            KvmProbe {
                dev_kvm: DevKvm::Unusable("/dev/kvm cannot be opened read-write: EACCES".into()),
                boot: None,
                nobp_boot: None,
            },
            true,
        );
        assert_eq!(c.accel, Accel::Tcg);
        assert!(c.why.contains("EACCES"), "{}", c.why);
    }

    #[test]
    fn a_probe_killed_for_kvm_internal_error_is_classified_so() {
        let e = Ending::Environment {
            why: crate::machine::qemu::KVM_INT3_MESSAGE.into(),
        };
        assert_eq!(
            probe_outcome(&Transcript::default(), &e, 1.0),
            ProbeBoot::KvmInternalError { secs: 1.0 }
        );
    }
}
