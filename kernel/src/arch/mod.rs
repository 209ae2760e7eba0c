//! Everything that touches the machine directly: instructions, descriptor
//! tables, paging, the local APIC, timers, and starting APs. The rest of the
//! kernel sees safe, typed functions.

pub mod cpu;
