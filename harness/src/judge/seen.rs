//! Where a result was seen: the platform the kernel ran on ([`Platform`]),
//! how its transcript reached the harness ([`Via`]), and with them the QEMU
//! release and CPU model ([`Where`]). Every result line says it, and known
//! failures ([`super::known`]) are scoped by it.

use super::Machine;
use crate::{machine::qemu::Accel, machine::qemu_info::QemuVersion};
use serde::Serialize;

/// What a finding is about: the platform the kernel ran on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    /// QEMU's translator: a finding about QEMU.
    Tcg,
    /// KVM: a finding about the host CPU (through KVM).
    Kvm,
    /// No hypervisor bit, and firmware that is not an emulator's: a
    /// finding about that CPU.
    RealMachine,
    /// An emulator without a hypervisor bit (Bochs), known from the
    /// firmware's ACPI tables or because the user said so: a finding about
    /// that emulator, never about a CPU.
    Emulator,
    /// Some other hypervisor.
    OtherHypervisor,
    /// Not known (no machine record).
    Unknown,
}

/// How the transcript reached the harness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// A QEMU boot the harness ran.
    Qemu,
    /// A saved log (`harness parse`).
    Log,
    /// A live serial port (`harness watch`).
    Serial,
    /// A Bochs boot the harness ran.
    Bochs,
}

/// Where a result was seen: platform, QEMU version and CPU model. Every
/// result line says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Where {
    /// The platform.
    pub platform: Platform,
    /// The QEMU that ran the kernel, when known: always for a boot the
    /// harness ran; for a saved log only when told (`harness parse
    /// --qemu-version`, or the run's `summary.json` beside the log).
    /// Known failures are scoped by it ([`super::known`]).
    pub qemu: Option<QemuVersion>,
    /// How the transcript came.
    pub via: Via,
    /// The CPU model from the `machine` record.
    pub cpu: String,
    /// The hypervisor's vendor string, when the CPU reports one.
    pub hypervisor: Option<String>,
    /// The firmware's ACPI OEM and table ids (`BOCHS BXPCAPIC`), when the
    /// kernel reported them.
    pub firmware: Option<String>,
    /// The emulator's name, when the user said it (`--platform bochs`).
    pub emulator: Option<String>,
    /// Whether the CPU said it runs under a hypervisor (CPUID.1:ECX[31]),
    /// when the machine record came.
    pub hypervisor_bit: Option<bool>,
}

/// ACPI OEM or table ids that only emulators' firmware writes: Bochs' BIOS
/// and QEMU's SeaBIOS and OVMF (`BOCHS`, `BXPC`), QEMU's own tables.
const EMULATOR_FIRMWARE: &[&str] = &["BOCHS", "BXPC", "QEMU"];

/// Whether firmware ids (`acpi_oem`, `acpi_table`) are an emulator's.
pub fn emulator_firmware(oem: &str, table: &str) -> bool {
    EMULATOR_FIRMWARE
        .iter()
        .any(|e| oem.trim().starts_with(e) || table.trim().starts_with(e))
}

/// What `--platform` may name: what ran a log, when its records cannot
/// tell (a CPU without a hypervisor bit under an emulator).
pub const PLATFORM_NAMES: &[&str] = &["real-machine", "bochs", "tcg", "kvm"];

/// The hypervisor vendor strings QEMU reports (CPUID 0x40000000).
const TCG_SIGNATURE: &str = "TCGTCGTCGTCG";
const KVM_SIGNATURE: &str = "KVMKVMKVM";

impl Where {
    /// From the machine record; `accel` when the harness chose it (a QEMU
    /// boot), else the platform is read from the CPU's hypervisor bit and
    /// vendor string.
    pub fn new(machine: Option<&Machine>, via: Via, accel: Option<Accel>) -> Where {
        let field = |k: &str| machine.and_then(|m| m.fields.get(k)).map(String::as_str);
        let hv = field("hv").filter(|h| !h.is_empty() && *h != "none");
        let firmware = field("acpi_oem").map(|oem| {
            let table = field("acpi_table").unwrap_or("");
            (
                format!("{} {}", oem.trim(), table.trim())
                    .trim()
                    .to_string(),
                emulator_firmware(oem, table),
            )
        });
        let platform = match (accel, field("hypervisor")) {
            (Some(Accel::Tcg), _) => Platform::Tcg,
            (Some(Accel::Kvm), _) => Platform::Kvm,
            // No hypervisor bit: a real CPU only when the firmware is not
            // an emulator's; a kernel that did not report its firmware
            // leaves it unknown.
            (None, Some("0")) => match &firmware {
                Some((_, true)) => Platform::Emulator,
                Some((_, false)) => Platform::RealMachine,
                None => Platform::Unknown,
            },
            (None, Some(_)) => match hv {
                Some(h) if h.starts_with(TCG_SIGNATURE) => Platform::Tcg,
                Some(h) if h.starts_with(KVM_SIGNATURE) => Platform::Kvm,
                _ => Platform::OtherHypervisor,
            },
            (None, None) => Platform::Unknown,
        };
        let cpu = match machine {
            None => "unknown CPU (no machine record)".to_string(),
            Some(_) => {
                let id = format!(
                    "{} {}/{}/{}",
                    field("vendor").unwrap_or("?"),
                    field("family").unwrap_or("?"),
                    field("model").unwrap_or("?"),
                    field("stepping").unwrap_or("?")
                );
                match field("brand").map(str::trim).filter(|b| !b.is_empty()) {
                    Some(b) => format!("{b} ({id})"),
                    None => id,
                }
            }
        };
        Where {
            platform,
            qemu: None,
            via,
            cpu,
            hypervisor: hv.map(str::to_string),
            firmware: firmware.map(|(f, _)| f),
            emulator: None,
            hypervisor_bit: field("hypervisor").map(|h| h != "0"),
        }
    }

    /// The same, run on the emulator `label` (`bochs 2.7,
    /// corei5_lynnfield_750`) when the harness launched it.
    pub fn with_emulator(self, label: Option<&str>) -> Where {
        match label {
            Some(l) => Where {
                platform: Platform::Emulator,
                emulator: Some(l.to_string()),
                ..self
            },
            None => self,
        }
    }

    /// The same, with the platform the user named ([`PLATFORM_NAMES`]):
    /// what ran a log whose records cannot tell.
    pub fn with_platform(self, name: &str) -> Where {
        let (platform, emulator) = match name {
            "real-machine" => (Platform::RealMachine, None),
            "tcg" => (Platform::Tcg, None),
            "kvm" => (Platform::Kvm, None),
            other => (Platform::Emulator, Some(other.to_string())),
        };
        Where {
            platform,
            emulator,
            ..self
        }
    }

    /// The same, with the QEMU version that ran the kernel.
    pub fn with_qemu(self, qemu: Option<QemuVersion>) -> Where {
        Where { qemu, ..self }
    }

    /// `tcg 7.2.22`, `kvm 10.0.2 (log)`, `tcg (log)` (no QEMU version
    /// known), `real machine (serial)`, ...
    pub fn platform_label(&self) -> String {
        let qemu = |p: &str| match self.qemu {
            Some(v) => format!("{p} {v}"),
            None => p.to_string(),
        };
        let p = match self.platform {
            Platform::Tcg => qemu("tcg"),
            Platform::Kvm => qemu("kvm"),
            Platform::RealMachine => "real machine".to_string(),
            Platform::Emulator => match (&self.emulator, &self.firmware) {
                (Some(e), _) => e.clone(),
                (None, Some(f)) => format!("emulator (firmware {f}, no hypervisor bit)"),
                (None, None) => "emulator".to_string(),
            },
            Platform::Unknown if self.hypervisor_bit == Some(false) => {
                "unknown platform (no firmware ids in the log: --platform says what ran it)"
                    .to_string()
            }
            Platform::OtherHypervisor => format!(
                "hypervisor {}",
                self.hypervisor.as_deref().unwrap_or("(unnamed)")
            ),
            Platform::Unknown => "unknown platform".to_string(),
        };
        match self.via {
            Via::Qemu | Via::Bochs => p,
            Via::Log => format!("{p} (log)"),
            Via::Serial => format!("{p} (serial)"),
        }
    }

    /// `tcg 7.2.22, QEMU Virtual CPU version 2.5+ (AuthenticAMD 15/107/1)`.
    pub fn label(&self) -> String {
        format!("{}, {}", self.platform_label(), self.cpu)
    }

    /// What a result line says of where it was seen: the platform alone
    /// where the platform is an emulator or a hypervisor (`tcg 7.2.22`,
    /// `bochs 2.7, corei5_lynnfield_750`: its CPU is the summary's), the
    /// platform and the CPU where the CPU is the finding's subject (a real
    /// machine) or the platform is not known.
    pub fn tag(&self) -> String {
        match self.platform {
            Platform::Tcg | Platform::Kvm | Platform::Emulator | Platform::OtherHypervisor => {
                self.platform_label()
            }
            Platform::RealMachine | Platform::Unknown => self.label(),
        }
    }
}
