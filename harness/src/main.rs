//! `harness`: boots the static-call torture kernel under QEMU (or reads a
//! real machine's serial port, or a saved log), follows its serial report
//! live and judges it. See `harness --help` and the library docs.
//!
//! # Exit status
//!
//! | status | meaning |
//! |---|---|
//! | 0 | the expectation was met (`matrix`: no row failed; skipped rows do not fail; experiments: none FAILed, SKIP and KFAIL do not fail a run) |
//! | 1 | an expectation was not met: an experiment FAILed (a must-pass failed, a negative control was not caught, an expected deadlock did not happen or not where it must), the platform failed where a pass was expected, or a platform control was run (`run --control X` always exits 1: the kernel fails on purpose; the summary says whether it was caught), a control was not caught, records were lost |
//! | 2 | bad input or a broken environment: a bad argument or table, a missing file or program, a kernel that does not build, QEMU refusing its options, nested KVM that cannot run `int3` guests, interrupted by Ctrl-C or SIGTERM |
//! | 3 | the run hit its deadline: QEMU was killed, the transcript is kept |
//!
//! The table is [`harness::status::Status`]; clap's own usage errors also
//! exit 2.

use clap::Parser;
use harness::{
    app,
    cli::Cli,
    status::{self, Status},
};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A reader that went away (`| head`) makes `println!` panic: say
    // nothing about it, let the unwinding kill any QEMU (its guard), and
    // end quietly.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !status::is_broken_pipe(info.payload()) {
            default_hook(info)
        }
    }));
    let result = match std::panic::catch_unwind(|| app::main(cli)) {
        Ok(r) => r,
        Err(p) if status::is_broken_pipe(&*p) => return ExitCode::SUCCESS,
        Err(p) => std::panic::resume_unwind(p),
    };
    match result {
        Ok(status) => status.into(),
        Err(e) => {
            eprintln!("harness: error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            Status::BadInput.into()
        }
    }
}
