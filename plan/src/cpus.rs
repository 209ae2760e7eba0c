//! Which CPUs a boot uses, and sets of CPUs that scale past one word.
//!
//! The kernel reads the ACPI MADT into [`MadtCpu`] entries and asks
//! [`select`] which of them to start: every enabled CPU, once each, in MADT
//! order, unless the command line limits the count (`cpus=N`), xAPIC mode
//! cannot address its APIC id, or the kernel has no room for it
//! ([`MAX_CPUS`]). Whatever is not started is counted by its reason in a
//! [`Census`], so that the `cpus` record can say how many CPUs the machine
//! has and why fewer were used; nothing is dropped silently.
//!
//! [`CpuSet`] is an atomic bit set over CPU indices `0..MAX_CPUS`: the
//! sync `cpumask`, the watchdog's watched and stuck CPUs. Each operation
//! takes the caller's [`Ordering`], so the pairing stays written where the
//! protocol is.

use core::sync::atomic::{AtomicU64, Ordering};

/// The most CPUs the kernel handles. Every per-CPU array is this long;
/// memory per CPU (an AP stack with its guard page, an IST stack, a GDT
/// and TSS) is about 52 KiB, so this costs about 53 MiB of the guest's
/// 256 MiB.
pub const MAX_CPUS: usize = 1024;

/// In xAPIC mode the physical destination 0xFF is the broadcast: an APIC id
/// of 0xFF or more cannot be sent an IPI of its own.
pub const XAPIC_BROADCAST: u32 = 0xff;

/// Words of a [`CpuSet`] over [`MAX_CPUS`] CPUs.
pub const CPU_WORDS: usize = MAX_CPUS.div_ceil(64);

/// An atomic set of CPU indices below [`MAX_CPUS`]. Single-bit operations
/// are atomic; whole-set reads ([`CpuSet::count`], [`CpuSet::iter`]) read
/// word by word and are snapshots only when no one writes meanwhile.
pub struct CpuSet {
    words: [AtomicU64; CPU_WORDS],
}

impl Default for CpuSet {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuSet {
    /// The empty set.
    pub const fn new() -> CpuSet {
        CpuSet {
            words: [const { AtomicU64::new(0) }; CPU_WORDS],
        }
    }

    fn at(cpu: usize) -> (usize, u64) {
        (cpu / 64, 1u64 << (cpu % 64))
    }

    /// Adds `cpu`; returns whether it was absent.
    pub fn insert(&self, cpu: usize, order: Ordering) -> bool {
        let (w, bit) = Self::at(cpu);
        self.words[w].fetch_or(bit, order) & bit == 0
    }

    /// Removes `cpu`; returns whether it was present (exactly one of many
    /// concurrent removers of one CPU sees `true`).
    pub fn remove(&self, cpu: usize, order: Ordering) -> bool {
        let (w, bit) = Self::at(cpu);
        self.words[w].fetch_and(!bit, order) & bit != 0
    }

    /// Whether `cpu` is in the set.
    pub fn contains(&self, cpu: usize, order: Ordering) -> bool {
        let (w, bit) = Self::at(cpu);
        self.words[w].load(order) & bit != 0
    }

    /// Empties the set.
    pub fn clear(&self, order: Ordering) {
        for w in &self.words {
            w.store(0, order);
        }
    }

    /// How many CPUs are in the set.
    pub fn count(&self, order: Ordering) -> usize {
        self.words
            .iter()
            .map(|w| w.load(order).count_ones() as usize)
            .sum()
    }

    /// The lowest CPU in the set.
    pub fn first(&self, order: Ordering) -> Option<usize> {
        self.words.iter().enumerate().find_map(|(i, w)| {
            let v = w.load(order);
            (v != 0).then(|| i * 64 + v.trailing_zeros() as usize)
        })
    }

    /// The CPUs in the set, lowest first (each word read once, as it is
    /// reached).
    pub fn iter(&self, order: Ordering) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(move |(i, w)| {
            let mut v = w.load(order);
            core::iter::from_fn(move || {
                (v != 0).then(|| {
                    let b = v.trailing_zeros() as usize;
                    v &= v - 1;
                    i * 64 + b
                })
            })
        })
    }
}

/// One processor entry of the MADT (Processor Local APIC or Local x2APIC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MadtCpu {
    /// Its APIC id.
    pub apic_id: u32,
    /// Flags bit 0: the CPU is present and usable now.
    pub enabled: bool,
    /// Flags bit 1 (with `enabled` clear): the CPU can be brought online
    /// later (hot-added); it is not there to start now.
    pub online_capable: bool,
}

/// How the CPUs of the MADT were used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    /// Enabled CPUs the MADT lists, each APIC id once.
    pub listed: usize,
    /// Disabled entries marked online-capable (not started, not counted in
    /// `listed`).
    pub online_capable: usize,
    /// Entries that repeat an APIC id already seen (dropped).
    pub duplicates: usize,
    /// CPUs to use, the BSP included: what bring-up expects to see up.
    pub chosen: usize,
    /// Enabled CPUs left out because the command line limits the count.
    pub over_limit: usize,
    /// Enabled CPUs left out because xAPIC mode cannot address their APIC
    /// id (0xFF and above).
    pub unaddressable: usize,
    /// Enabled CPUs left out because the kernel has no room for them.
    pub over_capacity: usize,
}

/// What becomes of one MADT entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// The CPU running this code: CPU index 0.
    Bsp,
    /// An AP to start.
    Start,
    /// Not a CPU to start now: disabled (online-capable or not), or a
    /// duplicate APIC id.
    Skip,
    /// Enabled, left out: `cpus=N` says so.
    OverLimit,
    /// Enabled, left out: xAPIC cannot address it.
    Unaddressable,
    /// Enabled, left out: beyond [`MAX_CPUS`] (or the given capacity).
    OverCapacity,
}

/// Decides, entry by entry in MADT order (`entries()` walks the table from
/// its start, again for each entry to find repeated ids), which CPUs to start and counts
/// the rest. `bsp` is the APIC id of the CPU running this; `x2apic` whether
/// IPIs can reach 32-bit APIC ids; `limit` the most CPUs to use, the BSP
/// included (`cpus=N`; the BSP runs whatever it says); `capacity` the most
/// the kernel can hold. `fate(entry, what)` is called for every entry, in
/// order. A user limit that binds before the capacity is counted as
/// `over_limit`, not `over_capacity`.
pub fn select<I: Iterator<Item = MadtCpu>>(
    entries: impl Fn() -> I,
    bsp: u32,
    x2apic: bool,
    limit: Option<usize>,
    capacity: usize,
    mut fate: impl FnMut(MadtCpu, Fate),
) -> Census {
    let mut c = Census {
        chosen: 1,
        ..Census::default()
    };
    for (i, e) in entries().enumerate() {
        let repeated = entries()
            .take(i)
            .any(|p| p.apic_id == e.apic_id && (p.enabled || !e.enabled));
        let what = if repeated {
            c.duplicates += 1;
            Fate::Skip
        } else if !e.enabled {
            if e.online_capable {
                c.online_capable += 1;
            }
            Fate::Skip
        } else {
            c.listed += 1;
            if e.apic_id == bsp {
                Fate::Bsp
            } else if limit.is_some_and(|l| c.chosen >= l) {
                c.over_limit += 1;
                Fate::OverLimit
            } else if !x2apic && e.apic_id >= XAPIC_BROADCAST {
                c.unaddressable += 1;
                Fate::Unaddressable
            } else if c.chosen >= capacity {
                c.over_capacity += 1;
                Fate::OverCapacity
            } else {
                c.chosen += 1;
                Fate::Start
            }
        };
        fate(e, what);
    }
    c
}

#[cfg(test)]
mod tests;
