//! How a run ends under QEMU: the kernel writes a code to the
//! `isa-debug-exit` device, and QEMU exits with `(code << 1) | 1`.
//!
//! That encoding is ambiguous on its own (QEMU itself exits 1 on many
//! errors, and a guest can write any value), so it only *confirms* the
//! in-band [`crate::kind::END`] record, which is the source of truth.

/// I/O port of QEMU's `isa-debug-exit` device (`-device
/// isa-debug-exit,iobase=0xf4,iosize=0x04`).
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Width of the write the kernel makes to [`DEBUG_EXIT_PORT`], in bytes.
pub const DEBUG_EXIT_IOSIZE: u16 = 4;

/// The code the kernel writes when its verdict is `pass`.
pub const CODE_PASS: u32 = 0x10;
/// The code the kernel writes when its verdict is `fail`.
pub const CODE_FAIL: u32 = 0x11;

/// What QEMU's exit status says about how the guest ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QemuExit {
    /// The kernel wrote [`CODE_PASS`].
    KernelPass,
    /// The kernel wrote [`CODE_FAIL`].
    KernelFail,
    /// Any other status: QEMU ended for a reason of its own (or a guest
    /// wrote an unknown code).
    Other(i32),
}

/// QEMU's process exit status for a guest that wrote `code`.
pub const fn qemu_status(code: u32) -> i32 {
    ((code << 1) | 1) as i32
}

/// Decodes QEMU's process exit status.
pub const fn decode(status: i32) -> QemuExit {
    if status == qemu_status(CODE_PASS) {
        QemuExit::KernelPass
    } else if status == qemu_status(CODE_FAIL) {
        QemuExit::KernelFail
    } else {
        QemuExit::Other(status)
    }
}
