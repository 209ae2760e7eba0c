//! Record kinds and their fields.
//!
//! Numbers are decimal unless the field's value starts with `0x`. `cpu` is
//! the kernel's CPU index (0 is the bootstrap processor, then MADT order);
//! `apic` is the local APIC id. `tsc` is the time stamp counter when the
//! record was made.

/// First record of a boot. Fields: `proto` (the protocol version), `boot`
/// (`pvh` or `multiboot2`), `cmdline` (the kernel command line).
pub const HELLO: &str = "hello";

/// The machine's identity. Fields: `vendor` (CPUID vendor string),
/// `family`, `model`, `stepping` (display values), `brand`, `hypervisor`
/// (`0`/`1`, CPUID.1:ECX\[31\]), `hv` (the hypervisor's vendor string, or
/// `none`), `microcode` (`0x..` or `na` where not readable), `apic`
/// (`xapic` or `x2apic`), `cpus` (enabled CPUs in the MADT).
pub const MACHINE: &str = "machine";

/// The TSC frequency. Fields: `hz`, `source` (`hpet` or `pit`).
pub const TSC: &str = "tsc";

/// One CPU after bring-up. Fields: `cpu`, `apic`, `state` (`bsp`, `up`, or
/// `timeout` when the AP did not answer within its deadline).
pub const CPU: &str = "cpu";

/// Bring-up summary. Fields: `up`, `expected`.
pub const CPUS: &str = "cpus";

/// The kernel is about to provoke a fault or hang on purpose (a negative
/// control of the platform). Fields: `name`, `cpu` (where it will happen),
/// `symbol` (the kernel symbol at which the fault must be reported, or
/// `none`), `vector` (the expected exception vector, or `none`).
pub const CONTROL: &str = "control";

/// An exception. Fields: `cpu`, `vector`, `name` (`UD`, `GP`, ...), `err`
/// (error code or `none`), `rip`, `bytes` (16 bytes at RIP as hex, or
/// `unreadable`), `cr2`, `rsp`, `tsc`.
pub const FAULT: &str = "fault";

/// A Rust panic in the kernel. Fields: `cpu`, `msg`, `at` (`file:line`).
pub const PANIC: &str = "panic";

/// The result of one named check the kernel made on itself. Fields:
/// `name`, `result` (`pass`, `fail` or `skip`), `detail`.
pub const CHECK: &str = "check";

/// The last record of a run. Fields: `verdict` (`pass` or `fail`),
/// `records` (how many records came before this one), `failures`.
pub const END: &str = "end";
