//! Everything that touches the machine directly: instructions, descriptor
//! tables, paging, the local APIC, and starting APs. The rest of the kernel
//! sees safe, typed functions.

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
