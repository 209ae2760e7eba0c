//! The pure logic of the static-call torture test, shared by the kernel
//! (`x86_64-unknown-none`) and the host harness, and tested on the host.
//!
//! Nothing here touches hardware: no `unsafe`, no allocation, no
//! dependencies. What the kernel needs to *decide* lives here, so that
//! `cargo test -p plan` can check it exhaustively; what it needs to *do*
//! (write pages, send IPIs, take exceptions) stays in the kernel.
//!
//! | module | guarantees |
//! |---|---|
//! | [`encode`] | the exact bytes of stubs, trampolines and target bodies |
//! | [`layout`] | where sites and trampolines live, one line (or page boundary) each, in a window that holds nothing else |
//! | [`planner`] | where targets live, such that every torn operand lands on a trap; and [`planner::verify`], which checks that by brute force for any plan |
//! | [`window`] | whether an executor's call reached a target that was installed at some moment during the call |
//! | [`experiment`] | the axes of an experiment, their names, and the default suite |
//! | [`schedule`] | which key the patcher retargets next, to which target, with what pause: fixed, or drawn from `seed=` |
//! | [`verdict`] | how an experiment is judged from its counts: one rule for the kernel and the harness |
//! | [`stale`] | when a stray `int3` is stale, and a model that checks that decision in every interleaving |
//! | [`watchdog`] | when a CPU is stuck rather than starved, judged per CPU, and who is asked where it is |
//!
//! Design principles:
//!
//! * **A broken protocol must be caught.** Placement makes every torn
//!   destination trap and every tear observable; the window check accepts
//!   exactly what a correct protocol can produce, no more.
//! * **Checks run, not only tests.** [`planner::plan`] verifies its own
//!   output; the kernel can call [`planner::verify`] and
//!   [`planner::classify_landing`] at boot and on a fault.
//! * **One spelling.** Every axis value has one name, defined once
//!   (`named_enum!`), used by kernel command line, records and harness.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[macro_use]
mod macros;

pub mod cpus;
pub mod encode;
pub mod experiment;
pub mod layout;
pub mod planner;
pub mod schedule;
pub mod stale;
pub mod verdict;
pub mod watchdog;
pub mod window;

pub use experiment::{Expectation, Experiment, DEFAULT_SUITE};
pub use layout::{ArenaPlan, CodeRef, SiteClass};
pub use planner::{classify_landing, plan, verify, Landing, PlanError, PlanViolation};
