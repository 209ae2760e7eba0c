//! What a run directory records to be run again.
//!
//!
//! Every `summary.json` that `run`, `matrix` and `bench` write holds a
//! `replay` object, a [`Recipe`]:
//!
//! | key | what |
//! |---|---|
//! | `format` | [`FORMAT`]; a reader refuses a newer one |
//! | `request` | the [`RunRequest`] as given (the command line, or the matrix row) |
//! | `qemu` | the QEMU as named (`--qemu` or the row's `qemu =`): a path, a program, or a major version |
//! | `kernel` | the kernel ELF: its path, size and SHA-256 ([`FileId`]) |
//! | `iso` | the ISO, the same way, for `--boot iso-*` |
//! | `kernel_cmdlines` | the `-append` of each boot, in order |
//! | `qemu_commands` | the QEMU command of each boot, shell-quoted |
//! | `command` | the same run as a `harness run` command line, for people |
//! | `part_of` | for one boot of a run of experiments: the run's directory, which is what to replay |
//!
//! The kernel's only random choices come from `seed=` on its command
//! line, which is recorded, so nothing else is needed to run the same
//! experiments again; what can still differ is the timing of the
//! host, which is what a replay measures.

use crate::{
    request::{BootKind, Emulator, RunRequest, Setup},
    results::evidence::{file_id, FileId},
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The version of the `replay` record this harness writes and reads.
pub const FORMAT: u32 = 1;

/// What a run directory records to be run again (see the [module
/// docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// [`FORMAT`].
    pub format: u32,
    /// The request as given.
    pub request: RunRequest,
    /// The QEMU as named.
    pub qemu: String,
    /// The kernel ELF.
    pub kernel: FileId,
    /// The ISO of an ISO boot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso: Option<FileId>,
    /// The kernel command line of each boot.
    #[serde(default)]
    pub kernel_cmdlines: Vec<String>,
    /// The QEMU command of each boot, shell-quoted.
    #[serde(default)]
    pub qemu_commands: Vec<String>,
    /// The same run as a `harness run` command line.
    pub command: String,
    /// For one boot of a run of experiments: that run's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<PathBuf>,
}

impl Recipe {
    /// The recipe of `req` as `setup` runs it (its QEMU named, its kernel
    /// and ISO identified), with each boot's command line and QEMU command.
    pub fn new(
        req: &RunRequest,
        setup: &Setup,
        kernel_cmdlines: Vec<String>,
        qemu_commands: Vec<String>,
    ) -> Recipe {
        let qemu = req.qemu.clone().unwrap_or_else(|| setup.qemu.spec.clone());
        // A path is kept absolute, so that a replay from elsewhere finds
        // it; a program name or a version stays as given.
        let qemu = if qemu.contains('/') {
            std::fs::canonicalize(&qemu).map_or(qemu, |p| p.display().to_string())
        } else {
            qemu
        };
        let iso = (req.boot != BootKind::Kernel).then(|| file_id(&setup.iso));
        let kernel = setup.kernel_id();
        Recipe {
            format: FORMAT,
            command: shell_words::join(run_command(
                req,
                &qemu,
                &kernel.path,
                iso.as_ref().map(|i| i.path.as_path()),
            )),
            request: req.clone(),
            qemu,
            kernel,
            iso,
            kernel_cmdlines,
            qemu_commands,
            part_of: None,
        }
    }
}

/// The arguments of a `harness run` that makes the same run as `req`
/// with this QEMU, kernel and ISO (a matrix row's name has no option: the
/// directory is named after what it runs).
pub fn run_command(req: &RunRequest, qemu: &str, kernel: &Path, iso: Option<&Path>) -> Vec<String> {
    use clap::ValueEnum as _;
    let word = |v: &dyn Fn() -> Option<clap::builder::PossibleValue>| {
        v().map_or(String::new(), |p| p.get_name().to_string())
    };
    let mut a: Vec<String> = vec!["harness".into(), "run".into()];
    let mut opt = |k: &str, v: String| {
        a.push(k.into());
        a.push(v);
    };
    opt("--smp", req.smp.to_string());
    if let Emulator::Bochs { ips, quantum } = req.emulator {
        opt("--emulator", "bochs".into());
        opt("--ips", ips.to_string());
        opt("--quantum", quantum.to_string());
    } else {
        opt("--accel", word(&|| req.accel.to_possible_value()));
    }
    if let Some(c) = &req.cpu {
        opt("--cpu", c.clone());
    }
    if let Some(t) = req.timeout {
        opt("--timeout", t.to_string());
    }
    if req.boot != BootKind::Kernel {
        opt("--boot", req.boot.name().into());
    }
    if let Some(c) = &req.control {
        opt("--control", c.clone());
    }
    for w in &req.append {
        opt("--append", w.clone());
    }
    if let Some(e) = req.expect {
        opt("--expect", word(&|| e.to_possible_value()));
    }
    if let Some(p) = &req.experiment {
        opt("--experiment", p.clone());
    }
    if let Some(ms) = req.ms {
        opt("--ms", ms.to_string());
    }
    if req.emulator == Emulator::Qemu {
        opt("--qemu", qemu.into());
    }
    opt("--kernel", kernel.display().to_string());
    if let Some(iso) = iso {
        opt("--iso", iso.display().to_string());
    }
    a
}
