//! What a QEMU binary says about itself, read the way every QEMU from 7.2
//! to 10.x prints it: its version (`--version`), its CPU models (`-cpu
//! help`) and its machine types (`-machine help`); and which binary a
//! `--qemu` (or a matrix row's `qemu =`) names.
//!
//! # The formats (from QEMU's source)
//!
//! | output | printed by | format |
//! |---|---|---|
//! | `--version` | `system/vl.c` `version()` | `QEMU emulator version X.Y.Z` then the package version (`(Debian 1:7.2+dfsg-7+deb12u18)`), then a copyright line; unchanged from 7.2 to 10.x |
//! | `-cpu help`, up to 9.0 | `target/i386/cpu.c` `x86_cpu_list_entry` | `Available CPUs:`, then `x86 %-20s  %s` per model |
//! | `-cpu help`, from 9.1 | the same, after "target/i386/cpu: Remove "x86" prefix from the CPU list" | `Available CPUs:`, then `  %-20s  %s` per model |
//! | `-cpu help`, every version | `x86_cpu_list` | a blank line, `Recognized CPUID flags:`, then flags indented by two spaces (so an indented line after the blank line is a flag, not a model) |
//! | `-machine help` | `system/vl.c` `machine_help_func` | `Supported machines are:`, then `%-20s %s (alias of %s)` for an alias and `%-20s %s%s%s` (description, ` (default)`, ` (deprecated)`) per machine type |
//!
//! A model's description may be empty (`486-v1`), an alias note (`(alias
//! configured by machine type)`, `(alias of Broadwell-v3)`), or end in
//! `(deprecated)`: only the first word of a model line is its name.
//! `harness/testdata/qemu/` holds captured outputs of QEMU 7.2.22 and
//! 10.0.2, trimmed, that the tests below read.
//!
//! # Which QEMU
//!
//! A QEMU is named ([`QemuSpec`]) by a path (anything with a `/`), a
//! program name looked up in `PATH` (`qemu-system-x86_64`, the default),
//! or a major version alone (`10`): the QEMU that `scripts/setup.sh --qemu
//! 10` unpacks under `build/qemu-10/` of the workspace, next to the
//! system's, whose version must then have that major.
//!
//! The oldest QEMU accepted is [`OLDEST_SUPPORTED`]: PVH boot of an ELF
//! (`-kernel` with a PVH note) came in QEMU 4.0, and 7.2 is the oldest this
//! project has run its tables on. Anything older is refused (status 2).

use anyhow::{bail, Context as _, Result};
use serde::{Serialize, Serializer};
use std::{
    fmt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

/// A QEMU release: `major.minor.micro` (development builds count up from
/// `.50`, release candidates from `.90`, as QEMU numbers them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QemuVersion {
    /// The major version (7, 8, 9, 10, ...).
    pub major: u32,
    /// The minor version.
    pub minor: u32,
    /// The micro version (stable releases, or `.50`/`.90` for builds
    /// between releases).
    pub micro: u32,
}

impl QemuVersion {
    /// A version from its parts.
    pub const fn new(major: u32, minor: u32, micro: u32) -> QemuVersion {
        QemuVersion {
            major,
            minor,
            micro,
        }
    }

    /// Reads `7.2.22`, `10.0.2` or `7.2` (micro 0). Anything else is
    /// `None`.
    pub fn parse(s: &str) -> Option<QemuVersion> {
        let parts: Vec<&str> = s.split('.').collect();
        if !(2..=3).contains(&parts.len())
            || parts
                .iter()
                .any(|p| p.is_empty() || p.len() > 6 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            return None;
        }
        let n = |i: usize| parts.get(i).map_or(Some(0), |p| p.parse::<u32>().ok());
        Some(QemuVersion::new(n(0)?, n(1)?, n(2)?))
    }

    /// `7.2` of `7.2.22`: how known failures name the versions they were
    /// seen on.
    pub fn major_minor(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

impl Serialize for QemuVersion {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The oldest QEMU the harness accepts (see the [module docs](self)).
pub const OLDEST_SUPPORTED: QemuVersion = QemuVersion::new(7, 2, 0);

/// The QEMU releases (`major.minor`) the tables of `make test` have run
/// on; a newer one is accepted and said to be untested.
pub const TESTED: &[&str] = &["7.2", "10.0"];

/// What `--version` starts its first line with.
const VERSION_PREFIX: &str = "QEMU emulator version ";

/// Reads QEMU's version from the output of `--version`. An output with no
/// `QEMU emulator version` line is not QEMU's; a version that is not
/// `X.Y.Z` is a format this harness does not know.
pub fn parse_version(out: &str) -> Result<QemuVersion> {
    let Some(rest) = out
        .lines()
        .find_map(|l| l.trim().strip_prefix(VERSION_PREFIX))
    else {
        let first = out.lines().map(str::trim).find(|l| !l.is_empty());
        bail!(
            "it printed no `{VERSION_PREFIX}X.Y.Z` line ({}): is it QEMU?",
            match first {
                Some(l) => format!("its first line: `{}`", clip(l)),
                None => "it printed nothing".into(),
            }
        );
    };
    // The version runs up to the package version: ` (Debian ...)`, or
    // `(Debian ...)` without a space in old builds.
    let word = rest
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .unwrap_or("");
    QemuVersion::parse(word).with_context(|| {
        format!(
            "unknown QEMU version format `{}` in `{}{}`: wanted MAJOR.MINOR.MICRO, such as 7.2.22",
            clip(word),
            VERSION_PREFIX,
            clip(rest)
        )
    })
}

/// At most 80 characters of `s`, for messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// The header of the model list in `-cpu help`.
const CPU_HEADER: &str = "Available CPUs:";

/// The CPU model names in the output of `-cpu help`, in either format
/// (`x86 NAME  description` up to QEMU 9.0, `  NAME  description` from
/// 9.1). The list ends at the first blank line (the CPUID flags follow).
pub fn parse_cpu_models(help: &str) -> Result<Vec<String>> {
    let mut lines = help.lines();
    if !lines.by_ref().any(|l| l.trim_end() == CPU_HEADER) {
        bail!("no `{CPU_HEADER}` line: a `-cpu help` format this harness does not know");
    }
    let mut models = Vec::new();
    for l in lines {
        if l.trim().is_empty() {
            break;
        }
        let entry = match l.strip_prefix("x86 ") {
            Some(e) => e,
            None if l.starts_with(' ') => l,
            None => bail!(
                "`{}` under `{CPU_HEADER}`: a model line starts with `x86 ` (QEMU 7.2 to 9.0) \
                 or with spaces (9.1 and later)",
                clip(l)
            ),
        };
        if let Some(name) = entry.split_whitespace().next() {
            models.push(name.to_string());
        }
    }
    if models.is_empty() {
        bail!("no CPU model under `{CPU_HEADER}`");
    }
    Ok(models)
}

/// One machine type of `-machine help`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineType {
    /// Its name (`pc-i440fx-7.2`, or an alias such as `pc`).
    pub name: String,
    /// For an alias: the machine type it stands for.
    pub alias_of: Option<String>,
    /// QEMU's default (what runs without `-machine`).
    pub default: bool,
    /// Marked deprecated.
    pub deprecated: bool,
}

/// The header of `-machine help`.
const MACHINE_HEADER: &str = "Supported machines are:";

/// The machine types in the output of `-machine help`.
pub fn parse_machine_types(help: &str) -> Result<Vec<MachineType>> {
    let mut lines = help.lines();
    if !lines.by_ref().any(|l| l.trim_end() == MACHINE_HEADER) {
        bail!("no `{MACHINE_HEADER}` line: a `-machine help` format this harness does not know");
    }
    let mut out = Vec::new();
    for l in lines.map(str::trim_end).filter(|l| !l.trim().is_empty()) {
        let Some((name, desc)) = l.split_once(char::is_whitespace) else {
            out.push(MachineType {
                name: l.trim().to_string(),
                alias_of: None,
                default: false,
                deprecated: false,
            });
            continue;
        };
        let mut desc = desc.trim();
        let mut flag = |suffix: &str| {
            let had = desc.ends_with(suffix);
            if had {
                desc = desc[..desc.len() - suffix.len()].trim_end();
            }
            had
        };
        let deprecated = flag("(deprecated)");
        let default = flag("(default)");
        let alias_of = desc
            .strip_suffix(')')
            .and_then(|d| d.rsplit_once("(alias of "))
            .map(|(_, of)| of.trim().to_string());
        out.push(MachineType {
            name: name.to_string(),
            alias_of,
            default,
            deprecated,
        });
    }
    if out.is_empty() {
        bail!("no machine type under `{MACHINE_HEADER}`");
    }
    Ok(out)
}

/// The machine type the harness boots: QEMU's `pc` (no `-machine` on its
/// command line, so it must be QEMU's default). Returns what `pc` stands
/// for (`pc-i440fx-10.0`).
pub fn pc_machine(types: &[MachineType]) -> Result<String> {
    let Some(pc) = types.iter().find(|m| m.name == "pc") else {
        bail!(
            "it has no `pc` machine type (its -machine help lists {}): the kernel boots on \
             QEMU's i440FX PC",
            types
                .iter()
                .take(6)
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    let target = pc.alias_of.clone().unwrap_or_else(|| pc.name.clone());
    let default = types.iter().find(|m| m.default).map(|m| m.name.as_str());
    if default != Some(target.as_str()) && !pc.default {
        bail!(
            "its default machine type is {}, not `pc` ({target}): the harness passes no \
             -machine and the kernel boots on QEMU's i440FX PC",
            default.map_or("none".into(), |d| format!("`{d}`"))
        );
    }
    Ok(target)
}

/// How a QEMU is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QemuSpec {
    /// A program: a path (with a `/`) or a name looked up in `PATH`.
    Program(String),
    /// `10`: the QEMU of that major version unpacked under
    /// `build/qemu-10/` by `scripts/setup.sh --qemu 10`.
    Unpacked(u32),
}

impl QemuSpec {
    /// Reads `--qemu` or `qemu =`: a major version alone is
    /// [`QemuSpec::Unpacked`], anything else a program.
    pub fn parse(s: &str) -> Result<QemuSpec> {
        let s = s.trim();
        if s.is_empty() {
            bail!(
                "an empty QEMU name: give a path, a program in PATH, or a major version such as 10"
            );
        }
        if s.bytes().all(|b| b.is_ascii_digit()) {
            let major: u32 = s
                .parse()
                .with_context(|| format!("QEMU `{s}`: not a major version"))?;
            if major < OLDEST_SUPPORTED.major {
                bail!(
                    "QEMU `{s}`: the oldest QEMU the harness supports is {}.{}",
                    OLDEST_SUPPORTED.major,
                    OLDEST_SUPPORTED.minor
                );
            }
            return Ok(QemuSpec::Unpacked(major));
        }
        Ok(QemuSpec::Program(s.to_string()))
    }

    /// Where `scripts/setup.sh --qemu N` puts QEMU N's wrapper, under the
    /// workspace `root`.
    pub fn unpacked_path(root: &Path, major: u32) -> PathBuf {
        root.join("build")
            .join(format!("qemu-{major}"))
            .join(crate::machine::qemu::DEFAULT_QEMU)
    }
}

/// A QEMU binary, asked once what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QemuInfo {
    /// How it was named (`qemu-system-x86_64`, `10`, a path).
    pub spec: String,
    /// The binary (or wrapper) run.
    pub path: PathBuf,
    /// Its version.
    pub version: QemuVersion,
    /// The first line of `--version`, package version included.
    pub version_line: String,
    /// What its `pc` machine type stands for (`pc-i440fx-7.2`).
    pub machine: String,
    /// Its CPU models (`-cpu help`).
    #[serde(skip)]
    pub cpu_models: Vec<String>,
}

impl QemuInfo {
    /// `QEMU 10.0.2 (build/qemu-10/qemu-system-x86_64)`.
    pub fn label(&self) -> String {
        format!("QEMU {} ({})", self.version, self.path.display())
    }

    /// Whether its `major.minor` is one the tables have run on.
    pub fn tested(&self) -> bool {
        TESTED.contains(&self.version.major_minor().as_str())
    }
}

/// The longest QEMU may take to answer `--version`, `-cpu help` or
/// `-machine help`: it answers at once, so one that has not by then hangs
/// (a wrapper waiting for something, a binary stopped by the host) and is
/// killed, and the harness says so instead of hanging with it.
pub const ASK_DEADLINE: Duration = Duration::from_secs(5);

/// Runs `qemu ARGS` for at most `deadline` ([`ASK_DEADLINE`]) and returns
/// its stdout; the command is named in errors.
fn ask(qemu: &Path, args: &[&str], deadline: Duration) -> Result<String> {
    let mut cmd = Command::new(qemu);
    cmd.args(args);
    let (out, shown) = crate::machine::command::output_within(cmd, deadline)?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "{shown} failed ({}){}",
            out.status,
            err.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map_or(String::new(), |l| format!(": {}", clip(l)))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Asks the binary at `path` (named `spec`) for its version, CPU models
/// and machine types, and refuses what is not a QEMU the harness can use.
pub fn probe(spec: &str, path: &Path) -> Result<QemuInfo> {
    let not_usable = || format!("--qemu {spec}: {} is not a usable QEMU", path.display());
    let version_out = ask(path, &["--version"], ASK_DEADLINE).with_context(not_usable)?;
    let version = parse_version(&version_out)
        .with_context(|| format!("`{} --version`", path.display()))
        .with_context(not_usable)?;
    let version_line = version_out
        .lines()
        .find(|l| l.contains(VERSION_PREFIX))
        .unwrap_or_default()
        .trim()
        .to_string();
    if version < OLDEST_SUPPORTED {
        bail!(
            "--qemu {spec}: {} is QEMU {version}, older than {}.{}, the oldest this harness \
             supports (PVH boot came in QEMU 4.0; {} is the oldest tested): use a newer QEMU \
             (`bash scripts/setup.sh --qemu 10` unpacks QEMU 10 under build/, then --qemu 10)",
            path.display(),
            OLDEST_SUPPORTED.major,
            OLDEST_SUPPORTED.minor,
            TESTED[0]
        );
    }
    let cpu_models = ask(path, &["-cpu", "help"], ASK_DEADLINE)
        .and_then(|h| parse_cpu_models(&h).with_context(|| format!("QEMU {version}")))
        .with_context(|| format!("reading the CPU models of {}", path.display()))
        .with_context(not_usable)?;
    let machine = ask(path, &["-machine", "help"], ASK_DEADLINE)
        .and_then(|h| parse_machine_types(&h).with_context(|| format!("QEMU {version}")))
        .and_then(|t| pc_machine(&t))
        .with_context(|| format!("reading the machine types of {}", path.display()))
        .with_context(not_usable)?;
    Ok(QemuInfo {
        spec: spec.to_string(),
        path: path.to_path_buf(),
        version,
        version_line,
        machine,
        cpu_models,
    })
}

/// Finds the binary `spec` names (`root`: the workspace, for `10`) and
/// probes it.
pub fn resolve(spec: &str, root: Option<&Path>) -> Result<QemuInfo> {
    let path = match QemuSpec::parse(spec).with_context(|| format!("--qemu {spec:?}"))? {
        QemuSpec::Program(name) => crate::machine::qemu::locate(&name)?,
        QemuSpec::Unpacked(major) => {
            let root = root.context("QEMU by version needs the workspace (build/qemu-N/)")?;
            let p = QemuSpec::unpacked_path(root, major);
            crate::machine::qemu::find_program(&p.to_string_lossy()).with_context(|| {
                format!(
                    "--qemu {spec}: QEMU {major} is not set up ({} is missing): run \
                     `bash scripts/setup.sh --qemu {major}` (`make run QEMU={major}` and \
                     `make test` do it)",
                    p.display()
                )
            })?
        }
    };
    let info = probe(spec, &path)?;
    if let QemuSpec::Unpacked(major) = QemuSpec::parse(spec)? {
        if info.version.major != major {
            bail!(
                "--qemu {spec}: {} is QEMU {}, not QEMU {major}: run `bash scripts/setup.sh \
                 --qemu {major}` again",
                path.display(),
                info.version
            );
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V7: &str = include_str!("../../testdata/qemu/7.2.22-version.txt");
    const V10: &str = include_str!("../../testdata/qemu/10.0.2-version.txt");
    const CPU7: &str = include_str!("../../testdata/qemu/7.2.22-cpu-help.txt");
    const CPU10: &str = include_str!("../../testdata/qemu/10.0.2-cpu-help.txt");
    const MACHINE7: &str = include_str!("../../testdata/qemu/7.2.22-machine-help.txt");
    const MACHINE10: &str = include_str!("../../testdata/qemu/10.0.2-machine-help.txt");

    #[test]
    fn the_version_of_qemu_7_2_and_10_0_is_read_from_their_version_output() {
        assert_eq!(parse_version(V7).unwrap(), QemuVersion::new(7, 2, 22));
        assert_eq!(parse_version(V10).unwrap(), QemuVersion::new(10, 0, 2));
        assert_eq!(parse_version(V10).unwrap().to_string(), "10.0.2");
    }

    #[test]
    fn a_version_glued_to_its_package_version_is_read() {
        let v = parse_version("QEMU emulator version 2.11.1(Debian 1:2.11+dfsg-1ubuntu7)\n");
        assert_eq!(v.unwrap(), QemuVersion::new(2, 11, 1));
        let v = parse_version("QEMU emulator version 9.2.0\nCopyright (c) 2003-2024\n");
        assert_eq!(v.unwrap(), QemuVersion::new(9, 2, 0));
    }

    #[test]
    fn an_output_without_a_version_line_is_not_qemu() {
        let e = format!("{:#}", parse_version("").unwrap_err());
        assert!(
            e.contains("printed nothing") && e.contains("is it QEMU"),
            "{e}"
        );
        let e = format!("{:#}", parse_version("hello world\nmore\n").unwrap_err());
        assert!(e.contains("`hello world`"), "wanted its first line: {e}");
    }

    #[test]
    fn an_unknown_version_format_is_named() {
        for bad in ["banana", "10", "10.0.2.1", "v10.0.2", "10.x.2"] {
            let e = format!(
                "{:#}",
                parse_version(&format!("QEMU emulator version {bad} (x)\n")).unwrap_err()
            );
            assert!(
                e.contains(&format!("unknown QEMU version format `{bad}`")),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn versions_order_by_number_not_by_text() {
        let v = |s| QemuVersion::parse(s).unwrap();
        assert!(v("10.0.2") > v("7.2.22"));
        assert!(v("9.10") > v("9.2.5"));
        assert!(v("7.1.9") < OLDEST_SUPPORTED && v("7.2") >= OLDEST_SUPPORTED);
        assert_eq!(v("7.2").major_minor(), "7.2");
    }

    #[test]
    fn cpu_models_are_read_with_the_x86_prefix_of_qemu_7_2() {
        let m = parse_cpu_models(CPU7).unwrap();
        for want in [
            "486",
            "486-v1",
            "Nehalem",
            "Cascadelake-Server-v5",
            "qemu64",
            "base",
            "max",
        ] {
            assert!(m.iter().any(|x| x == want), "wanted {want} in {m:?}");
        }
        assert!(
            !m.iter().any(|x| x == "3dnow" || x == "x2apic"),
            "CPUID flags are not models: {m:?}"
        );
    }

    #[test]
    fn cpu_models_are_read_without_the_prefix_as_qemu_9_1_and_later_print_them() {
        let m = parse_cpu_models(CPU10).unwrap();
        for want in ["486-v1", "EPYC-v4", "Nehalem", "qemu64", "max"] {
            assert!(m.iter().any(|x| x == want), "wanted {want} in {m:?}");
        }
        assert!(
            !m.iter()
                .any(|x| x == "3dnow" || x == "x2apic" || x == "zero-fcs-fds"),
            "the indented CPUID flags after the blank line are not models: {m:?}"
        );
        assert_eq!(m.first().map(String::as_str), Some("486"));
        assert_eq!(m.last().map(String::as_str), Some("max"));
    }

    #[test]
    fn a_cpu_help_without_its_header_or_with_strange_lines_is_refused() {
        let e = parse_cpu_models("CPUs:\nx86 qemu64\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `Available CPUs:` line"), "{e}");
        let e = parse_cpu_models("Available CPUs:\nsparc qemu64\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`sparc qemu64`"), "{e}");
        let e = parse_cpu_models("Available CPUs:\n\nRecognized CPUID flags:\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no CPU model"), "{e}");
    }

    #[test]
    fn machine_types_of_qemu_7_2_name_pc_as_an_alias_of_the_default() {
        let t = parse_machine_types(MACHINE7).unwrap();
        let pc = t.iter().find(|m| m.name == "pc").unwrap();
        assert_eq!(pc.alias_of.as_deref(), Some("pc-i440fx-7.2"));
        assert!(t.iter().any(|m| m.name == "pc-i440fx-7.2" && m.default));
        assert!(t.iter().any(|m| m.name == "pc-i440fx-1.4" && m.deprecated));
        assert_eq!(pc_machine(&t).unwrap(), "pc-i440fx-7.2");
    }

    #[test]
    fn machine_types_of_qemu_10_0_put_the_alias_after_the_older_types() {
        let t = parse_machine_types(MACHINE10).unwrap();
        assert_eq!(pc_machine(&t).unwrap(), "pc-i440fx-10.0");
        let old = t.iter().find(|m| m.name == "pc-i440fx-7.0").unwrap();
        assert!(old.deprecated && !old.default && old.alias_of.is_none());
        assert!(t.iter().any(|m| m.name == "microvm"));
    }

    #[test]
    fn a_qemu_without_a_pc_machine_or_with_another_default_is_refused() {
        let t = parse_machine_types("Supported machines are:\nmicrovm   microvm (i386)\n").unwrap();
        assert!(pc_machine(&t).unwrap_err().to_string().contains("no `pc`"));
        let t = parse_machine_types(
            "Supported machines are:\npc   Standard PC (alias of pc-i440fx-9.2)\n\
             pc-i440fx-9.2   Standard PC\nq35   Q35 (default)\n",
        )
        .unwrap();
        let e = pc_machine(&t).unwrap_err().to_string();
        assert!(e.contains("default machine type is `q35`"), "{e}");
        assert!(parse_machine_types("usage: qemu\n").is_err());
    }

    #[test]
    fn a_question_that_hangs_is_refused_naming_the_question_and_the_deadline() {
        // A QEMU that never answers `--version`: `sh` standing in for it
        // (a script written here could not be run at once: another test's
        // fork may still hold it open for writing).
        let e = format!(
            "{:#}",
            ask(
                Path::new("sh"),
                &["-c", "exec sleep 30", "qemu", "--version"],
                Duration::from_millis(300)
            )
            .unwrap_err()
        );
        assert!(
            e.contains("`sh -c exec sleep 30 qemu --version` did not finish within 300 ms"),
            "{e}"
        );
    }

    #[test]
    fn a_major_version_names_the_unpacked_qemu_and_anything_else_a_program() {
        assert_eq!(QemuSpec::parse("10").unwrap(), QemuSpec::Unpacked(10));
        assert_eq!(
            QemuSpec::parse("/usr/bin/qemu-system-x86_64").unwrap(),
            QemuSpec::Program("/usr/bin/qemu-system-x86_64".into())
        );
        assert_eq!(
            QemuSpec::parse("qemu-system-x86_64").unwrap(),
            QemuSpec::Program("qemu-system-x86_64".into())
        );
        assert!(QemuSpec::parse("4")
            .unwrap_err()
            .to_string()
            .contains("7.2"));
        assert_eq!(
            QemuSpec::unpacked_path(Path::new("/w"), 10),
            Path::new("/w/build/qemu-10/qemu-system-x86_64")
        );
    }
}
