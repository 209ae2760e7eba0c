//! Where things are: the workspace, the kernel ELF, the ISO, the evidence;
//! and building the kernel.

use anyhow::{bail, Context as _, Result};
use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

/// The kernel's target triple.
pub const KERNEL_TARGET: &str = "x86_64-unknown-none";

/// The workspace this harness was built in (its `Cargo.toml` is the one
/// `cargo metadata` reads).
pub const BUILT_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The workspace's places.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root.
    pub root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub target_dir: PathBuf,
}

/// How long `cargo metadata` may take (it waits for cargo's lock on the
/// package cache, which a build elsewhere can hold).
const METADATA_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);
/// How long building the kernel may take (from nothing, on 2 cores, about
/// two minutes).
const BUILD_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1800);

/// The `cargo` to run: the one that runs us, if any.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

impl Workspace {
    /// Asks `cargo metadata` about the workspace the harness was built in.
    pub fn locate() -> Result<Workspace> {
        let manifest = Path::new(BUILT_IN).join("Cargo.toml");
        let mut cmd = Command::new(cargo());
        cmd.args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(&manifest);
        let (out, _) = crate::machine::command::output_within(cmd, METADATA_DEADLINE)
            .with_context(|| format!("running `cargo metadata` on {}", manifest.display()))?;
        if !out.status.success() {
            bail!(
                "`cargo metadata` on {} failed: {}",
                manifest.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("reading `cargo metadata` output")?;
        let field = |k: &str| {
            v.get(k)
                .and_then(|x| x.as_str())
                .map(PathBuf::from)
                .with_context(|| format!("`cargo metadata` output has no `{k}`"))
        };
        Ok(Workspace {
            root: field("workspace_root")?,
            target_dir: field("target_directory")?,
        })
    }

    /// The kernel ELF that `cargo build -p kernel --release --target
    /// x86_64-unknown-none` writes.
    pub fn kernel_elf(&self) -> PathBuf {
        self.target_dir
            .join(KERNEL_TARGET)
            .join("release")
            .join("kernel")
    }

    /// The GRUB ISO of `make iso`.
    pub fn iso(&self) -> PathBuf {
        self.root.join("out").join("static-call.iso")
    }

    /// Where run directories go by default.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("out").join("runs")
    }

    /// The build command, for messages.
    pub fn build_command_text() -> String {
        format!("cargo build -p kernel --release --target {KERNEL_TARGET}")
    }

    /// Builds the kernel. Cargo's output is shown only when the build
    /// fails (a build that is already up to date would otherwise replay
    /// every warning on every run).
    pub fn build_kernel(&self) -> Result<()> {
        eprintln!(
            "harness: building the kernel: {}",
            Self::build_command_text()
        );
        let mut cmd = Command::new(cargo());
        cmd.args([
            "build",
            "-p",
            "kernel",
            "--release",
            "--target",
            KERNEL_TARGET,
        ])
        .current_dir(&self.root)
        .stdin(std::process::Stdio::null());
        let (out, _) = crate::machine::command::output_within(cmd, BUILD_DEADLINE)
            .context("running cargo to build the kernel")?;
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            bail!(
                "the kernel did not build ({}): `{}` in {} (cargo's output is above)",
                out.status,
                Self::build_command_text(),
                self.root.display()
            );
        }
        Ok(())
    }
}
