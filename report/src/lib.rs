//! The serial report: one versioned, line-oriented, self-checking record
//! format, written by the kernel and parsed by the harness.
//!
//! # Wire format (protocol version 1)
//!
//! The kernel's serial output is a sequence of lines (`\n`-terminated; a
//! `\r` before the `\n` is ignored). A line that starts with [`MAGIC`] is a
//! *record*; every other line is human-readable text for whoever watches the
//! terminal, and the parser ignores it.
//!
//! ```text
//! @SC1 <seq> <kind> <key>=<value> <key>=<value> ... *<crc>
//! @SC1 7 cpu idx=1 apic=1 state=up *3f0c9a21
//! ```
//!
//! * `@SC1`: the magic and the protocol version (`1`).
//! * `<seq>`: decimal sequence number, 0 for the first record of a boot and
//!   one more for each record after it. A gap means records were lost.
//! * `<kind>`: the record's type, `[a-z0-9-]+` (see [`kind`]).
//! * the first field, from kernels that write it: `boot_id=<8 hex digits>`,
//!   the same in every record of a boot and drawn anew at each boot
//!   ([`boot_id`]): a record is believed only in the boot whose id it
//!   carries.
//! * fields: `key=value`, keys `[a-z0-9_]+`, values [escaped](escape) so
//!   that they never contain a space, `*`, `%`, `=`, `@` (so never
//!   [`MAGIC`]) or a control byte.
//! * `*<crc>`: CRC-32 (IEEE, as in zlib) of every byte from `@` up to but not
//!   including the space before `*`, as 8 lower-case hex digits.
//!
//! A record whose CRC does not match, or that is cut off, is *damaged*: the
//! parser reports it as such and it is never believed. A record of a kind the
//! reader does not know is skipped, so that newer kernels can add kinds.
//!
//! # Forward compatibility
//!
//! Within protocol version 1, new record kinds and new fields may be added;
//! existing fields keep their name and meaning. A reader must ignore fields
//! and kinds it does not know. A change that breaks this bumps the version in
//! the magic, and readers of version 1 then see no records at all.
//!
//! # The end of a run
//!
//! The last record of a run is [`kind::END`] with `verdict=pass|fail` and
//! `records=N` (the number of records before it). A transcript without a
//! valid `end` record never passes. Under QEMU the kernel then writes its exit
//! code to the `isa-debug-exit` port ([`exit`]), which only confirms the
//! in-band verdict.
#![no_std]
#![forbid(unsafe_code)]

pub mod boot_id;
pub mod clock;
pub mod cmdline;
pub mod crc;
pub mod escape;
pub mod exit;
pub mod kind;
pub mod note;
mod parse;
pub mod screen;
mod write;

pub use parse::{parse_line, parse_num, Field, Fields, LineError, RawRecord};
pub use write::{RecordBuf, RECORD_CAPACITY};

/// The protocol version carried in [`MAGIC`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The first bytes of every record line; the digit is [`PROTOCOL_VERSION`].
pub const MAGIC: &str = "@SC1";

#[cfg(test)]
mod tests;
