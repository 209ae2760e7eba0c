//! COM1, shared by every CPU: the report's records go out through
//! [`lock`], human lines through [`say!`].
//!
//! One lock serialises whole lines, so records from different CPUs never
//! interleave. The lock remembers its owner: a CPU that faults while holding
//! it (say, inside a serial write) can still report, and a watchdog that
//! finds a stuck CPU holding it can break it ([`break_lock`]); the record
//! written after a break says so.
//!
//! Every wait is bounded: a UART that never drains (no cable on a real
//! machine with flow control, a broken device) costs at most
//! [`SPINS_PER_BYTE`] polls a byte and then the byte is dropped; the run goes
//! on.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use uart_16550::{backend::PioBackend, Config, Uart16550};

/// COM1's I/O base.
const COM1: u16 = 0x3f8;
/// Polls of the line status before a byte is given up.
const SPINS_PER_BYTE: u32 = 1_000_000;
/// Polls of the lock before it is taken anyway (about a second or more).
const SPINS_FOR_LOCK: u64 = 2_000_000_000;

/// 0 when free, else the owner's CPU index + 1.
static OWNER: AtomicU32 = AtomicU32::new(0);
/// Set when the lock was broken; the next record says so.
static BROKEN: AtomicBool = AtomicBool::new(false);
/// Whether [`init`] found a UART.
static PRESENT: AtomicBool = AtomicBool::new(false);

struct Port(core::cell::UnsafeCell<Option<Uart16550<PioBackend>>>);
// SAFETY: the UART inside is touched only by the CPU that owns `OWNER`
// (see `Guard`), or before any AP runs (`init`). Two CPUs writing at once
// would interleave bytes on the wire, which the record CRCs would catch.
unsafe impl Sync for Port {}
static PORT: Port = Port(core::cell::UnsafeCell::new(None));

/// Sets up COM1 at 115200 8N1, FIFOs on, no interrupts. Called once by the
/// BSP before anything else runs.
pub fn init() {
    // SAFETY: 0x3f8..0x400 are COM1's registers on every PC; nothing else
    // in this kernel uses those ports.
    let Ok(mut uart) = (unsafe { Uart16550::new_port(COM1) }) else {
        return;
    };
    let mut config = Config::DEFAULT;
    config.baud_rate = uart_16550::BaudRate::Baud115200;
    if uart.init(config).is_ok() {
        // SAFETY: no AP runs yet and nothing else holds a reference.
        unsafe { *PORT.0.get() = Some(uart) };
        PRESENT.store(true, Ordering::Release);
    }
}

/// Exclusive use of COM1 until dropped.
pub struct Guard {
    reentrant: bool,
}

/// Takes the lock (bounded). A CPU that already holds it (it faulted while
/// writing) gets it again, marked re-entrant.
pub fn lock() -> Guard {
    let me = super::percpu::index() + 1;
    if OWNER.load(Ordering::Relaxed) == me {
        return Guard { reentrant: true };
    }
    let mut spins = 0u64;
    // Acquire pairs with the Release in `Guard::drop`: the previous owner's
    // UART accesses happen before ours.
    while OWNER
        .compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
        spins += 1;
        if spins == SPINS_FOR_LOCK {
            break_lock();
        }
    }
    Guard { reentrant: false }
}

/// Frees the lock whoever holds it. Only for a CPU that has found the owner
/// stuck (the watchdog) or waited far too long; the next record carries
/// `lock_broken=1`.
pub fn break_lock() {
    BROKEN.store(true, Ordering::Relaxed);
    OWNER.store(0, Ordering::Release);
}

/// Frees the lock if this CPU holds it, as [`break_lock`] does (the next
/// record says so): for a CPU about to abandon the frames that took it (a
/// fault recovered inside an interrupt that came in the middle of a
/// record), whose guard will never drop.
pub fn abandon_if_mine() {
    if OWNER.load(Ordering::Relaxed) == super::percpu::index() + 1 {
        break_lock();
    }
}

/// The CPU holding the lock, if any.
pub fn owner() -> Option<u32> {
    OWNER.load(Ordering::Relaxed).checked_sub(1)
}

/// Whether the lock was broken since the last call (and clears the flag).
pub fn take_broken() -> bool {
    BROKEN.swap(false, Ordering::Relaxed)
}

impl Guard {
    /// Writes bytes, each wait bounded.
    pub fn write(&mut self, bytes: &[u8]) {
        if !PRESENT.load(Ordering::Acquire) {
            return;
        }
        // SAFETY: we hold OWNER (or re-entered it on the same CPU, which
        // can only interleave with our own interrupted write), so no other
        // CPU touches the UART.
        let Some(uart) = (unsafe { &mut *PORT.0.get() }) else {
            return;
        };
        for &b in bytes {
            let mut spins = 0;
            while uart.try_send_byte(b).is_err() {
                core::hint::spin_loop();
                spins += 1;
                if spins == SPINS_PER_BYTE {
                    break;
                }
            }
        }
    }
}

impl core::fmt::Write for Guard {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.reentrant {
            // Release pairs with the Acquire in `lock`.
            OWNER.store(0, Ordering::Release);
        }
    }
}

/// Writes a human-readable line (never a record).
macro_rules! say {
    ($($arg:tt)*) => {{
        use core::fmt::Write as _;
        let mut port = $crate::arch::serial::lock();
        let _ = write!(port, $($arg)*);
        port.write(b"\n");
    }};
}
pub(crate) use say;
