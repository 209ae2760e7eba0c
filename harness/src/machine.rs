//! Starting machines and talking to them: external commands under a
//! deadline ([`command`]), QEMU and what it says about itself ([`qemu`],
//! [`qemu_info`]), a live serial line ([`live`]), the bytes it sent
//! ([`transcript`]), synthetic transcripts for tests ([`synth`]), and
//! where things are on disk ([`workspace`]).

pub mod command;
pub mod live;
pub mod qemu;
pub mod qemu_info;
pub mod synth;
pub mod transcript;
pub mod workspace;
