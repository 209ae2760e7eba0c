//! Bringing up the APs and giving them work.
//!
//! Which CPUs: every enabled one of the MADT, in its order, as
//! [`plan::cpus::select`] decides (unless `cpus=N` limits them, xAPIC mode
//! cannot address one, or there are more than [`MAX_CPUS`]; each case is
//! counted in the `cpus` record). Start-up follows the MP specification's
//! sequence for every AP: INIT (assert, then de-assert in xAPIC mode), at
//! least 10 ms, STARTUP, 200 us, STARTUP, then wait for the AP to say it is
//! online, bounded by a deadline. The INITs go to every AP first and the
//! 10 ms are waited once (an AP waits for its STARTUP as long as it takes),
//! so 255 CPUs do not cost 2.5 s of INIT delays; the STARTUPs go one AP at
//! a time. APIC ids from 255 up (x2APIC) get their INIT just before their
//! STARTUP instead (see [`start_one`]). Each AP claims its CPU index with a ticket naming its APIC id
//! ([`trampoline::AP_TICKET`]); one that does not come online in time has
//! its ticket revoked, is sent INIT again, gets a `cpu state=timeout`
//! record, and bring-up goes on with the rest: should it arrive later
//! still, it parks instead of running on a stack given to someone else.
//! CPU indices are dense: only CPUs that came up get one.
//!
//! Work goes out like kvm-unit-tests' `on_cpu`: the BSP puts a function in
//! the target's mailbox and sends a wake-up IPI; the AP, idling in
//! `sti; hlt`, runs it with interrupts enabled and clears its busy flag.

use crate::{
    arch::{
        gdt, idt,
        lapic::{self, Delivery, Dest},
        paging,
        percpu::{self, MAX_CPUS},
        trampoline, tsc,
    },
    record,
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use plan::cpus::{self, Census, Fate, MadtCpu};
use report::kind;

/// The wake-up IPI's vector.
pub const VEC_WAKE: u8 = 0xf0;

/// How long an AP may take to come online after its second STARTUP.
const AP_ONLINE_TIMEOUT_US: u64 = 2_000_000;

/// Work for a CPU: a function and its argument.
type Job = (fn(u64), u64);

struct Mailbox {
    /// The work sent, until the CPU takes it.
    job: spin::Mutex<Option<Job>>,
    busy: AtomicBool,
}

static MAIL: [Mailbox; MAX_CPUS] = [const {
    Mailbox {
        job: spin::Mutex::new(None),
        busy: AtomicBool::new(false),
    }
}; MAX_CPUS];
static APIC_ID: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
/// 1 + the APIC id of the CPU that came online as index `i` (0: none): a
/// late AP of an earlier, timed-out attempt at this index cannot pass for
/// the one being started now.
static ONLINE: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];
static COUNT: AtomicUsize = AtomicUsize::new(1);
/// Whether every enabled CPU the MADT lists came online (no limit, none
/// unaddressable, none lost): then an all-but-self IPI reaches exactly the
/// online CPUs.
static ALL_ONLINE: AtomicBool = AtomicBool::new(false);

/// Whether every CPU the MADT lists is online (see [`ALL_ONLINE`]).
pub fn all_online() -> bool {
    ALL_ONLINE.load(Ordering::Acquire)
}

/// CPUs online (indices `0..count()`).
pub fn count() -> usize {
    COUNT.load(Ordering::Acquire)
}

/// CPUs that each bounded wait's base time is meant for.
const CPUS_PER_BASE: usize = 8;

/// `base_us` stretched for the CPUs online: one more base per
/// [`CPUS_PER_BASE`] CPUs. For waits that need every CPU to take its turn
/// (a sync round, work sent to every AP, the watchdog's limit): under an
/// emulator a guest's CPUs share a few host cores, and 255 spinning vCPUs
/// on 2 cores each wait seconds for a turn. On hardware such a wait ends
/// in microseconds and the bound only delays reporting a real hang.
pub fn patient_us(base_us: u64) -> u64 {
    base_us * count().div_ceil(CPUS_PER_BASE).max(1) as u64
}

/// The APIC id of CPU `cpu`.
pub fn apic_id(cpu: usize) -> u32 {
    APIC_ID[cpu].load(Ordering::Relaxed) as u32
}

/// Starts every AP that [`plan::cpus::select`] picks from the MADT's
/// `entries` (`limit`: the `cpus=N` of the command line). Returns what
/// the MADT holds and how it was used, and how many CPUs are online, the
/// BSP included.
pub fn start_aps<I: Iterator<Item = MadtCpu>>(
    entries: impl Fn() -> I,
    limit: Option<usize>,
) -> (Census, usize) {
    let bsp = lapic::id();
    APIC_ID[0].store(bsp as u64, Ordering::Relaxed);
    ONLINE[0].store(bsp as u64 + 1, Ordering::Relaxed);
    record::emit(kind::CPU, |r| {
        r.u64("cpu", 0).u64("apic", bsp as u64).str("state", "bsp");
    });
    trampoline::AP_CR3.store(paging::pml4_phys(), Ordering::Relaxed);
    trampoline::set_ap_main(ap_main);
    // INIT every AP to start whose id an xAPIC-mode CPU cannot mistake,
    // then the MP specification's 10 ms once (the others: `start_one`).
    let x2apic = lapic::is_x2apic();
    trampoline::AP_X2APIC.store(x2apic as u64, Ordering::Relaxed);
    let mut inits = 0usize;
    cpus::select(&entries, bsp, x2apic, limit, MAX_CPUS, |e, fate| {
        if fate == Fate::Start && e.apic_id < cpus::XAPIC_BROADCAST {
            init(e.apic_id);
            inits += 1;
        }
    });
    if inits > 0 {
        tsc::delay_us(10_000);
    }
    let mut next = 1usize;
    let mut lost = false;
    let census = cpus::select(
        entries,
        bsp,
        x2apic,
        limit,
        MAX_CPUS,
        |e, fate| match fate {
            // After a lost AP no index is safe to hand out: the rest stay
            // down (`up` falls short of `expected` in the `cpus` record).
            Fate::Start if !lost => match start_one(next, e.apic_id) {
                Start::Up => {
                    next += 1;
                    COUNT.store(next, Ordering::Release);
                }
                // A CPU that did not come up leaves its index to the next.
                Start::Revoked => {}
                Start::Lost => lost = true,
            },
            Fate::Unaddressable => record::emit(kind::CPU, |r| {
                r.u64("apic", e.apic_id as u64)
                    .str("state", "unaddressable");
            }),
            _ => {}
        },
    );
    // Release: the CPUs' slots above before the flag that lets a sync
    // round address them all at once.
    ALL_ONLINE.store(next == census.listed, Ordering::Release);
    (census, next)
}

/// How one AP's start went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// It came online.
    Up,
    /// It did not claim its ticket in time; the ticket was revoked, so its
    /// index can go to the next AP.
    Revoked,
    /// It claimed its ticket but did not come online in time: it may be
    /// running on its index's stack, which no other AP may get.
    Lost,
}

/// INIT (assert, then de-assert in xAPIC mode) to APIC id `id`.
fn init(id: u32) {
    let _ = lapic::send(Dest::Apic(id), Delivery::InitAssert);
    if !lapic::is_x2apic() {
        let _ = lapic::send(Dest::Apic(id), Delivery::InitDeassert);
    }
}

/// Starts the AP with APIC id `id` as CPU `index` (a `cpu` record says how
/// it went). An id below 0xFF was sent INIT at least 10 ms ago; a higher
/// one (x2APIC mode) gets its INIT and 10 ms here, just before its
/// STARTUPs: an AP still in xAPIC mode matches only the low 8 bits of a
/// destination, and 0xFF as a broadcast, so an IPI for id 255 or for
/// 256 + k also reached it and may have started it on someone else's
/// ticket (it parked); its own INIT puts it back to waiting for STARTUP.
fn start_one(index: usize, id: u32) -> Start {
    if id >= cpus::XAPIC_BROADCAST {
        init(id);
        tsc::delay_us(10_000);
    }
    let ticket = trampoline::ticket(index, id);
    APIC_ID[index].store(id as u64, Ordering::Relaxed);
    ONLINE[index].store(0, Ordering::Relaxed);
    trampoline::AP_TICKET.store(ticket, Ordering::Relaxed);
    // Release: the ticket and the slots above are visible before the AP
    // can run (the IPI itself is not a memory operation the AP can order
    // with); pairs with the AP's locked compare-exchange.
    core::sync::atomic::fence(Ordering::Release);
    let page = (trampoline::TRAMPOLINE >> 12) as u8;
    for _ in 0..2 {
        let _ = lapic::send(Dest::Apic(id), Delivery::Startup(page));
        tsc::delay_us(200);
    }
    // Acquire pairs with the Release store in `ap_main`.
    let online = || ONLINE[index].load(Ordering::Acquire) == id as u64 + 1;
    let wait = |us| {
        let deadline = tsc::deadline_us(us);
        while !online() && !tsc::passed(deadline) {
            core::hint::spin_loop();
        }
        online()
    };
    let how = if wait(AP_ONLINE_TIMEOUT_US) {
        Start::Up
    } else {
        match trampoline::AP_TICKET.compare_exchange(ticket, 0, Ordering::AcqRel, Ordering::Acquire)
        {
            // Revoked before the AP claimed it: if it ever gets that far,
            // it parks. INIT puts it back into wait-for-STARTUP meanwhile.
            Ok(_) => {
                let _ = lapic::send(Dest::Apic(id), Delivery::InitAssert);
                Start::Revoked
            }
            // Claimed: it is on its way through `ap_main`.
            Err(_) if wait(AP_ONLINE_TIMEOUT_US) => Start::Up,
            Err(_) => Start::Lost,
        }
    };
    if how != Start::Up {
        record::count_failure();
    }
    if how == Start::Lost {
        // INIT stops it wherever it is; its index stays taken all the same.
        let _ = lapic::send(Dest::Apic(id), Delivery::InitAssert);
    }
    record::emit(kind::CPU, |r| {
        r.u64("cpu", index as u64).u64("apic", id as u64).str(
            "state",
            match how {
                Start::Up => "up",
                Start::Revoked => "timeout",
                Start::Lost => "lost",
            },
        );
    });
    how
}

/// Where an AP arrives from the trampoline, on its own stack.
extern "C" fn ap_main(index: u64) -> ! {
    let me = index as usize;
    percpu::install(me);
    gdt::init(me);
    idt::load();
    lapic::init_this_cpu(false, false, false);
    // Release pairs with the Acquire in `start_one`.
    ONLINE[me].store(lapic::id() as u64 + 1, Ordering::Release);
    idle(me)
}

fn idle(me: usize) -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        // The lock's Acquire pairs with its Release in `on_cpu_async`. Not
        // waited for: a sender holding it sends its wake-up IPI after, and
        // that IPI ends the HLT below.
        let job = MAIL[me].job.try_lock().and_then(|mut j| j.take());
        if let Some((f, arg)) = job {
            x86_64::instructions::interrupts::enable();
            f(arg);
            // Release: the work's effects are visible to whoever sees busy
            // clear (`wait`).
            MAIL[me].busy.store(false, Ordering::Release);
        } else {
            // STI's shadow covers HLT: a wake-up IPI arriving after the
            // check above still ends the HLT.
            x86_64::instructions::interrupts::enable_and_hlt();
        }
    }
}

/// Runs `f(arg)` on CPU `cpu` (not the caller) without waiting.
pub fn on_cpu_async(cpu: usize, f: fn(u64), arg: u64) {
    let m = &MAIL[cpu];
    m.busy.store(true, Ordering::Relaxed);
    // The lock's Release pairs with its Acquire in `idle`.
    *m.job.lock() = Some((f, arg));
    let _ = lapic::send(Dest::Apic(apic_id(cpu)), Delivery::Fixed(VEC_WAKE));
}

/// Waits until CPU `cpu` has finished its work, or until `deadline` (TSC).
/// Returns whether it finished.
pub fn wait(cpu: usize, deadline: u64) -> bool {
    // Acquire pairs with the Release store of `busy` in `idle`.
    while MAIL[cpu].busy.load(Ordering::Acquire) {
        if tsc::passed(deadline) {
            return false;
        }
        core::hint::spin_loop();
    }
    true
}

/// Runs `f(arg)` on every AP and waits (bounded by `timeout_us`). Returns
/// the number of APs that finished.
pub fn on_aps(f: fn(u64), arg: u64, timeout_us: u64) -> usize {
    for c in 1..count() {
        on_cpu_async(c, f, arg);
    }
    let deadline = tsc::deadline_us(timeout_us);
    (1..count()).filter(|&c| wait(c, deadline)).count()
}

/// An interrupt at or above vector 32, other than the spurious one.
pub fn interrupt(vector: u8) {
    if vector != VEC_WAKE {
        record::count_failure();
        record::emit(kind::FAULT, |r| {
            r.u64("cpu", percpu::index() as u64)
                .u64("vector", vector as u64)
                .str("name", "IRQ")
                .str("err", "none");
        });
    }
}
