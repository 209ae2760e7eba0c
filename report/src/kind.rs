//! Record kinds and their fields.
//!
//! Numbers are decimal unless the field's value starts with `0x`. `cpu` is
//! the kernel's CPU index (0 is the bootstrap processor, then MADT order);
//! `apic` is the local APIC id. `tsc` is the time stamp counter when the
//! record was made. Every record of a kernel that writes boot ids starts
//! with `boot_id=` ([`crate::boot_id`]), not listed again below.

/// First record of a boot. Fields: `proto` (the protocol version), `boot`
/// (`pvh` or `multiboot2`), `cmdline` (the kernel command line), `vga_text`
/// (`1` when the verdict will also be shown on the VGA text screen: a
/// multiboot2 boot from a BIOS), `build_id` (the GNU build id of the
/// kernel ELF, lower-case hex, [`crate::note`]; `none` when the kernel
/// finds no note). Kernels before the build id sent no `build_id`: a
/// reader must take its absence as "unknown".
pub const HELLO: &str = "hello";

/// The machine's identity. Fields: `vendor` (CPUID vendor string),
/// `family`, `model`, `stepping` (display values), `brand`, `hypervisor`
/// (`0`/`1`, CPUID.1:ECX\[31\]), `hv` (the hypervisor's vendor string, or
/// `none`), `microcode` (`0x..` or `na` where not readable), `apic`
/// (`xapic` or `x2apic`), `cpus` (enabled CPUs in the MADT), `serialize`
/// (`1` if CPUID says SERIALIZE exists), `mem_mib` (usable RAM in the
/// loader's memory map), `mem_top` (the end of the highest usable range),
/// and `acpi_oem`, `acpi_table` (the MADT's OEM id and OEM table id,
/// trailing padding dropped, `-` when blank: emulators' firmware writes
/// `BOCHS` and `BXPC...`, which tells an emulator without a hypervisor
/// bit from a real machine; kernels before them sent neither).
pub const MACHINE: &str = "machine";

/// The TSC frequency. Fields: `hz` (the frequency in use), `source` (the
/// reference it was measured against: `hpet`, `pmtimer` or `pit`), then
/// each reference's own figure in Hz, or the word saying why there is none
/// (`absent`: the machine has no such reference, `stuck`: it did not
/// advance, `bogus`: it reads as not there or gives a nonsense rate):
/// `hpet`, `pmtimer`, `pit` (measured over a window each), `cpuid15`,
/// `cpuid16`, `hv` (declared by CPUID leaves 0x15, 0x16 and the
/// hypervisor's 0x40000010); and `skewed` (the reference whose reading
/// `tsc=skew` scaled on purpose), when it applies; `rounds` (how many times
/// every reference was measured: a round whose figures disagree is
/// measured again, up to 3 times, and the last is reported). Kernels before the
/// cross-check sent `hz` and `source` only. [`crate::clock`] judges the
/// figures; the kernel's `clock` [`CHECK`] says what it concluded.
pub const TSC: &str = "tsc";

/// One CPU after bring-up. Fields: `cpu`, `apic`, `state` (`bsp`, `up`,
/// `timeout` when the AP did not answer within its deadline, `lost` when
/// it began its start but did not finish it in time (bring-up then stops:
/// its index cannot go to another AP), or `unaddressable` (no `cpu`) for
/// an enabled CPU whose APIC id xAPIC mode cannot send an IPI to: 0xFF and
/// above).
pub const CPU: &str = "cpu";

/// Bring-up summary. Fields: `up` (CPUs online, the BSP included),
/// `expected` (CPUs the kernel tried to bring up, the BSP included), and
/// what the MADT holds: `listed` (enabled CPUs, each APIC id once),
/// `online_capable` (disabled entries that may be hot-added later: not
/// started), `limit` (the `cpus=N` of the command line, or `none`),
/// `supported` (the most CPUs the kernel holds), `unaddressable` and
/// `no_room` (enabled CPUs left out because xAPIC cannot address them, or
/// because the kernel holds no more), `bringup_us` (from the first AP's
/// INIT to the last one online or given up, by the TSC). Kernels before
/// the count sent `up` and `expected` only, before the timing no
/// `bringup_us`.
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

/// Measured once per boot before the experiments: what their numbers are
/// compared against. Fields: `direct_calls_per_s` (per AP: a plain call,
/// through an `asm!` `call` the compiler cannot inline or drop, to a
/// function that counts itself; the count is the callee's),
/// `checked_calls_per_s` (per AP: the executor's checked call through a
/// site of an installed arena that nothing patches, counted as the
/// executors count; `0` if that arena could not be set up),
/// `ipi_sync_cycles`, `cpumask_sync_cycles` (one sync round with no code
/// modified, the mean of 8; `timeout` when any of them timed out, with
/// `ipi_sync_timeouts` or `cpumask_sync_timeouts` counting them: a floor
/// built on a round that measured nothing is no figure). Calls per second go with the `tsc` record's `hz`: a floor
/// above it (more than one call per TSC cycle) is not believable, and
/// `harness bench` fails such a run as broken.
pub const BASELINE: &str = "baseline";

/// An experiment starts. Fields: `name`, `expectation`, `ms`, `cpus`, and
/// `seed` when the command line gave one (`seed=`).
pub const EXP_BEGIN: &str = "exp-begin";

/// An experiment's result. Fields: `name`, `expectation` (`must-pass`,
/// `negative-control`, `expect-deadlock`, `observe`), `outcome` (`pass`,
/// `fail`, `caught`, `missed`, `deadlock`, `no-deadlock`, `observed`,
/// `skip`, `error`), `met` (the kernel's own judgement), `reason` (for
/// `skip` and `error`), and counters: `cpus`, `executors`, `ns`,
/// `patches`, `calls`, `calls_per_s_per_ap`, `bp_hits`, `bp_cycles` (TSC
/// cycles spent in the #BP handler, all CPUs), `claim` (`none`, `shared`,
/// `percpu`: how the handler claimed the patch table), `failures`
/// (`wrong` + `faults` + `stray_bp` + `stale_bp` + `stale_call` +
/// `bad_return` + `unsynced` + `blind`, each counting the [`FAILURE`]s of
/// its `what`: `wrong-target`, `fault`, `stray-bp`, `stale-int3`,
/// `stale-call`, `bad-return`, `unsynced`, `blind`), `overruns`, `timer`, `nmi`,
/// `nmi_site`, `self_irq`, `floor_cycles` (one sync round, measured in
/// the experiment: the mean of the rounds that completed),
/// `floor_timeouts` (its rounds that timed out: the verdict fails the
/// experiment), `p1_cycles`..`p3_cycles` (mean TSC cycles per phase
/// per patch) and `p1_max`..`p3_max`, `settle` (1: every patch ended
/// with the TCG settle step), `first_fail_patch`,
/// `first_fail_ns`, `error`, `stuck`, `starved` (sent only when not 0:
/// times the watchdog found a CPU without progress that, asked by NMI,
/// turned out only starved of host time and went on).
pub const EXP: &str = "exp";

/// The patch latency of one phase of an experiment, as a histogram; sent
/// after its [`EXP`] record, one per phase. Fields: `exp`, `phase` (`1`..`3`),
/// `n` (patches counted), `buckets`: `bucket:count` pairs of the non-empty
/// buckets, `,` between (`-` if none), in TSC cycles: 0 and 1 have buckets
/// of their own, and from 2 up each power of two is split in halves,
/// bucket `2*o + h` holding `[2^o + h*2^(o-1), 2^o + (h+1)*2^(o-1))`; the
/// last bucket (63) also holds everything from 2^32 up. The phase's
/// greatest value is the [`EXP`] record's `p1_max`..`p3_max`.
pub const HIST: &str = "hist";

/// One failure inside an experiment (the first few of each kind; later ones are only
/// counted). Fields: `exp`, `cpu`, `what` (`wrong-target`, `fault`,
/// `stray-bp`: an `int3` at an address with no patch in progress,
/// `stale-int3`: such an `int3` executed after this CPU acknowledged a sync
/// round that began after memory there stopped holding `CC`, which x86
/// forbids: a fault of the (virtual) CPU, not of the protocol; `stale-call`:
/// a call that reached another target than memory held throughout it, after
/// this CPU acknowledged a sync round that began after the last write to
/// the window, equally forbidden; `bad-return`: a call that came back the
/// wrong way: EAX still held the poison the caller loaded (no target ran)
/// or EDX was not the site's mark (the stub's tail skipped, entered at the
/// wrong byte, or run before the target), or an `int3` at the first byte
/// past a stub or a trampoline, which only a return can reach;
/// `unsynced`: the patcher's sync audit found a CPU that, when a phase
/// began, had not acknowledged a sync round begun after the last write, or
/// had acknowledged it before serializing; `blind`: an executor's own
/// judge accepted the planted wrong call it makes before its loop), and as
/// they apply `site`, `got`, `window`, `vector`, `rip`, `cr2`, `bytes`, `mem`
/// (the 5 bytes memory holds at the trapping address, read through the
/// alias), `nmi_acked_round` (a stray #BP's CPU acknowledged that round
/// inside an NMI, later than any outside one: the NMI may have come between
/// the trap and its handler's look at the table), `restored_before_round`,
/// `written_before_round`, `acked_round`,
/// `mem_id` (the target memory held), `edx` and `want_edx` (bad-return:
/// EDX after the call and the site's mark), `at` (unsynced: `operand`,
/// `uncover`, `withdraw` or `complete`), `written_round`,
/// `serialized_round`, `key`, `generation`, `tsc`.
pub const FAILURE: &str = "failure";

/// A CPU that stopped making progress, found by the watchdog, or that did
/// not acknowledge a sync round within its deadline. Starvation is judged
/// per CPU: of the CPUs the watchdog asked, one that moved since is only
/// starved of host time and excuses itself alone; every one that did not
/// is reported. A patcher stuck in a #BP handler may name itself. Fields:
/// `exp`, `cpu`, `rip` (from an NMI, or `no-nmi-response`), `bytes`, and
/// `waiting=bp-handler` when the CPU was waiting in a #BP handler (`spin`,
/// `retry`) for a patch: then its RIP may be in a function that wait calls.
pub const DEADLOCK: &str = "deadlock";
