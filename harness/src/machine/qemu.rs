//! QEMU: finding it, checking `-cpu` models against it (what a QEMU says
//! about itself is read by [`crate::machine::qemu_info`]), and writing its command
//! line. The command line is built by a pure function
//! ([`QemuCommand::args`]) so that a test can read it, and written to the
//! evidence shell-quoted so that a person can run it again.

use anyhow::{bail, Context as _, Result};
use serde::Serialize;
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

/// The QEMU binary used unless `--qemu` says otherwise.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// QEMU's `-cpu` model when none is asked for (QEMU's own default for the
/// `pc` machine, written out so that the command line says it).
pub const DEFAULT_CPU: &str = "qemu64";

/// Guest memory.
pub const MEMORY: &str = "256M";

/// qboot: a minimal firmware that boots a PVH kernel about twice as fast
/// as SeaBIOS (it cannot boot a CD).
pub const QBOOT: &str = "/usr/share/qemu/qboot.rom";

/// Where Debian's `ovmf` package puts a firmware image that `-bios` takes.
pub const OVMF_CANDIDATES: &[&str] = &["/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd"];

/// Finds an executable on `PATH` (or checks a path with a `/`).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let is_exec = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_exec(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| is_exec(p))
}

/// Finds the QEMU binary or says how to install it.
pub fn locate(name: &str) -> Result<PathBuf> {
    find_program(name).with_context(|| {
        format!(
            "QEMU binary `{name}` not found{}: install it with `bash scripts/setup.sh` \
             (`make run` and `make test` run it first), or name another with --qemu",
            if name.contains('/') { "" } else { " in PATH" }
        )
    })
}

/// The model part of a `-cpu` argument: `Nehalem` of `Nehalem,+x2apic`.
pub fn model_name(cpu: &str) -> &str {
    cpu.split(',').next().unwrap_or(cpu)
}

/// Checks `cpu` (model name, then optional `,flags`) against QEMU's list.
pub fn check_cpu_model(cpu: &str, models: &[String]) -> Result<()> {
    let name = model_name(cpu);
    if name.is_empty() {
        bail!("--cpu {cpu:?}: empty model name");
    }
    if matches!(name, "host" | "max" | "base") || models.iter().any(|m| m == name) {
        return Ok(());
    }
    let mut near: Vec<&str> = models
        .iter()
        .map(String::as_str)
        .filter(|m| {
            let (a, b) = (m.to_ascii_lowercase(), name.to_ascii_lowercase());
            a.contains(&b) || b.contains(&a) || edit_distance(&a, &b) <= 2
        })
        .take(6)
        .collect();
    near.dedup();
    bail!(
        "--cpu {cpu}: QEMU knows no CPU model `{name}`{} (see `qemu-system-x86_64 -cpu help`)",
        if near.is_empty() {
            String::new()
        } else {
            format!("; close: {}", near.join(", "))
        }
    )
}

/// Levenshtein distance, for "did you mean" lists.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The first OVMF image that exists.
pub fn find_ovmf() -> Result<PathBuf> {
    OVMF_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "no OVMF firmware at {}: install the Debian package `ovmf` (`bash scripts/setup.sh`)",
                OVMF_CANDIDATES.join(" or ")
            )
        })
}

/// The accelerator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Accel {
    /// QEMU's translator, one host thread per vCPU.
    Tcg,
    /// The host's KVM.
    Kvm,
}

impl Accel {
    /// The `-accel` value.
    pub fn arg(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg,thread=multi",
            Accel::Kvm => "kvm",
        }
    }

    /// `tcg` or `kvm`.
    pub fn name(self) -> &'static str {
        match self {
            Accel::Tcg => "tcg",
            Accel::Kvm => "kvm",
        }
    }
}

/// What QEMU boots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Medium {
    /// The kernel ELF by PVH (`-kernel`), with a command line.
    Kernel {
        /// The ELF.
        elf: PathBuf,
        /// The kernel command line (`-append`).
        cmdline: String,
        /// `-bios`, if not QEMU's default (qboot when it is installed).
        firmware: Option<PathBuf>,
    },
    /// The ISO as a CD (`-cdrom`), through SeaBIOS or OVMF and GRUB.
    Iso {
        /// The image.
        iso: PathBuf,
        /// `-bios` (OVMF for UEFI), or QEMU's default SeaBIOS.
        firmware: Option<PathBuf>,
    },
}

/// One QEMU invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QemuCommand {
    /// The binary.
    pub qemu: PathBuf,
    /// What to boot.
    pub medium: Medium,
    /// `-smp`.
    pub smp: u32,
    /// `-cpu`.
    pub cpu: String,
    /// `-accel`.
    pub accel: Accel,
}

impl QemuCommand {
    /// The arguments after the binary. Serial goes to stdout (`-serial
    /// stdio`), which the harness reads as it arrives; nothing else does.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        push("-accel");
        push(self.accel.arg());
        push("-cpu");
        push(&self.cpu);
        push("-smp");
        push(&self.smp.to_string());
        push("-m");
        push(MEMORY);
        push("-display");
        push("none");
        push("-monitor");
        push("none");
        push("-no-reboot");
        push("-serial");
        push("stdio");
        push("-device");
        push(&format!(
            "isa-debug-exit,iobase={:#x},iosize={:#04x}",
            report::exit::DEBUG_EXIT_PORT,
            report::exit::DEBUG_EXIT_IOSIZE
        ));
        match &self.medium {
            Medium::Kernel {
                elf,
                cmdline,
                firmware,
            } => {
                if let Some(fw) = firmware {
                    a.push("-bios".into());
                    a.push(fw.into());
                }
                a.push("-kernel".into());
                a.push(elf.into());
                if !cmdline.is_empty() {
                    a.push("-append".into());
                    a.push(cmdline.into());
                }
            }
            Medium::Iso { iso, firmware } => {
                if let Some(fw) = firmware {
                    a.push("-bios".into());
                    a.push(fw.into());
                }
                a.push("-net".into());
                a.push("none".into());
                a.push("-boot".into());
                a.push("d".into());
                a.push("-cdrom".into());
                a.push(iso.into());
            }
        }
        a
    }

    /// The whole command, shell-quoted, runnable as it is.
    pub fn shell(&self) -> String {
        let mut words = vec![self.qemu.to_string_lossy().into_owned()];
        words.extend(self.args().iter().map(|a| a.to_string_lossy().into_owned()));
        shell_words::join(words)
    }

    /// A `Command` ready to spawn.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.qemu);
        c.args(self.args());
        c
    }
}

/// What QEMU's stderr says went wrong, when it is QEMU's (or the host's)
/// fault rather than the guest's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StderrVerdict {
    /// Nothing that matters (empty, or only warnings).
    Clean,
    /// "KVM internal error": nested KVM that dies on `int3` and then
    /// leaves QEMU paused forever.
    KvmInternalError,
    /// QEMU complained (its error lines, warnings left out).
    Errors(Vec<String>),
}

/// The marker QEMU prints when KVM gives up on the guest.
pub const KVM_INTERNAL_ERROR: &str = "KVM internal error";

/// Reads QEMU's stderr.
pub fn classify_stderr(stderr: &str) -> StderrVerdict {
    if stderr.contains(KVM_INTERNAL_ERROR) {
        return StderrVerdict::KvmInternalError;
    }
    let errors: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains("warning:"))
        .map(str::to_string)
        .collect();
    if errors.is_empty() {
        StderrVerdict::Clean
    } else {
        StderrVerdict::Errors(errors)
    }
}

/// The environment-failure message for a KVM internal error.
pub const KVM_INT3_MESSAGE: &str = "QEMU said \"KVM internal error\": this host's (nested) KVM \
     cannot run guests that execute int3, and QEMU then sits paused (killed); this says nothing \
     about the kernel: use --accel tcg";

/// qboot for PVH boots when it is installed (faster than SeaBIOS), else
/// QEMU's default firmware.
pub fn pvh_firmware() -> Option<PathBuf> {
    Some(PathBuf::from(QBOOT)).filter(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELP: &str = "Available CPUs:\n\
x86 486                   (alias configured by machine type)\n\
x86 Nehalem               (alias configured by machine type)\n\
x86 Nehalem-v1            Intel Core i7 9xx (Nehalem Class Core i7)\n\
x86 qemu64                (alias configured by machine type)\n\
x86 max                   Enables all features supported by the accelerator in the current host\n\
\n\
Recognized CPUID flags:\n\
  3dnow 3dnowext\n";

    #[test]
    fn cpu_models_are_read_from_qemu_help() {
        let m = crate::machine::qemu_info::parse_cpu_models(HELP).unwrap();
        assert_eq!(m, ["486", "Nehalem", "Nehalem-v1", "qemu64", "max"]);
    }

    #[test]
    fn a_model_with_flags_is_checked_by_its_name() {
        let m = crate::machine::qemu_info::parse_cpu_models(HELP).unwrap();
        assert!(check_cpu_model("Nehalem,+x2apic,-vmx", &m).is_ok());
        assert!(
            check_cpu_model("host", &m).is_ok(),
            "host is always accepted"
        );
    }

    #[test]
    fn an_unknown_model_is_rejected_with_its_name_and_neighbours() {
        let m = crate::machine::qemu_info::parse_cpu_models(HELP).unwrap();
        let e = check_cpu_model("nehalem", &m).unwrap_err().to_string();
        assert!(
            e.contains("`nehalem`") && e.contains("Nehalem-v1"),
            "wanted the bad name and close names in {e:?}"
        );
        let e = check_cpu_model("Nehalm", &m).unwrap_err().to_string();
        assert!(
            e.contains("close: Nehalem"),
            "wanted a near miss suggested in {e:?}"
        );
    }

    #[test]
    fn the_kernel_command_line_has_the_fixed_options_and_the_append() {
        let q = QemuCommand {
            qemu: "qemu-system-x86_64".into(),
            medium: Medium::Kernel {
                elf: "target/k".into(),
                cmdline: "control=ud2-ap nobp".into(),
                firmware: Some(QBOOT.into()),
            },
            smp: 4,
            cpu: "Nehalem".into(),
            accel: Accel::Tcg,
        };
        assert_eq!(
            q.shell(),
            "qemu-system-x86_64 -accel 'tcg,thread=multi' -cpu Nehalem -smp 4 -m 256M \
             -display none -monitor none -no-reboot -serial stdio \
             -device 'isa-debug-exit,iobase=0xf4,iosize=0x04' -bios /usr/share/qemu/qboot.rom \
             -kernel target/k -append 'control=ud2-ap nobp'"
        );
    }

    #[test]
    fn an_iso_boots_from_the_cd_without_append() {
        let q = QemuCommand {
            qemu: "qemu-system-x86_64".into(),
            medium: Medium::Iso {
                iso: "out/static-call.iso".into(),
                firmware: None,
            },
            smp: 4,
            cpu: DEFAULT_CPU.into(),
            accel: Accel::Kvm,
        };
        let s = q.shell();
        assert!(s.contains("-accel kvm "), "{s}");
        assert!(s.ends_with("-cdrom out/static-call.iso"), "{s}");
        assert!(!s.contains("-append"), "{s}");
    }

    #[test]
    fn kvm_internal_error_on_stderr_is_recognised() {
        let e = "KVM internal error. Suberror: 1\nemulation failure\nRAX=0\n";
        assert_eq!(classify_stderr(e), StderrVerdict::KvmInternalError);
    }

    #[test]
    fn qemu_warnings_are_not_errors() {
        let w = "qemu-system-x86_64: warning: TCG doesn't support requested feature: CPUID.01H:ECX.vmx [bit 5]\n";
        assert_eq!(classify_stderr(w), StderrVerdict::Clean);
        let e = "qemu-system-x86_64: -cpu foo: unable to find CPU model 'foo'\n";
        assert!(matches!(classify_stderr(e), StderrVerdict::Errors(v) if v.len() == 1));
    }
}
