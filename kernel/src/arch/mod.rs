//! Everything that touches the machine directly: instructions, descriptor
//! tables, paging, the local APIC, starting APs, the per-CPU data, the
//! stacks, the TSC and the other clocks, COM1, the screens, the kernel's
//! own image, and the assembly the experiments run through (the #BP entry
//! and return paths, the executors' call and recovery point). The rest of
//! the kernel sees safe, typed functions, or an `unsafe fn` whose contract
//! its caller states. Nothing here imports the kernel above it: what arch/
//! calls up into (the trap handler, the AP entry) is handed to it at init.

pub mod call;
pub mod clocks;
pub mod cpu;
pub mod gdt;
pub mod idt;
pub mod image;
pub mod int3;
pub mod lapic;
pub mod paging;
pub mod percpu;
pub mod recovery;
pub mod serial;
pub mod stacks;
pub mod trampoline;
pub mod tsc;
pub mod video;
