//! The host side of the static-call torture test: build the kernel, boot
//! it under QEMU (or read a real machine's serial port, or a saved log),
//! read its serial report as it arrives, and judge it.
//!
//! Design principles:
//!
//! * **The in-band report is the truth.** The kernel's records
//!   ([`report`]) decide; QEMU's exit status only confirms them. A record
//!   that fails its CRC is counted and skipped, never believed; a pass is
//!   never inferred past a lost record.
//! * **Pure logic apart from I/O.** [`machine::transcript`], [`judge`]
//!   (and [`judge::experiment`]), [`judge::stats`], [`judge::known`],
//!   [`results::plot`], [`list`], [`matrix::parse_table`], [`menu`],
//!   [`machine::qemu::QemuCommand`], the parsers of [`machine::qemu_info`]
//!   and [`judge::controls`], and the reading and comparing of [`replay`]
//!   do no I/O and are tested by `cargo test`; [`run`], [`suite`],
//!   [`bench`](mod@bench), [`machine::live`], [`results::evidence`] and
//!   [`results::figure::write`] do the I/O.
//! * **Each experiment is judged on its own**, from its own records,
//!   against the registry's expectation ([`judge::experiment`]), and every
//!   result says where it was seen (TCG, KVM, a real machine; the CPU).
//! * **Every wait is bounded** and QEMU never outlives the harness
//!   ([`machine::live::ChildGuard`]).
//! * **Evidence is always kept**, even for runs that fail or time out
//!   ([`results::evidence`]).
//! * **Exit statuses are one table** ([`status`]).
//!
//! The commands live at the top ([`run`], [`suite`], [`matrix`],
//! [`bench`](mod@bench), [`replay`], ...); below them is a folder per
//! job, each using only those below it: [`boot`] (one boot followed
//! live), [`results`] (what people and CI read), [`judge`] (judging a
//! boot), and [`machine`] (starting machines and talking to them).
#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod app;
pub mod bench;
pub mod bochs_suite;
pub mod boot;
pub mod cli;
pub mod judge;
pub mod linux;
pub mod list;
pub mod machine;
pub mod matrix;
pub mod menu;
pub mod recipe;
pub mod replay;
pub mod repro;
pub mod request;
pub mod results;
pub mod run;
pub mod status;
pub mod suite;
