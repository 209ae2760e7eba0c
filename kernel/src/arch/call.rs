//! Calls that must be exactly one `call` instruction, made from assembly:
//! the executors' call through a site (registers in and out as the site's
//! stub and target use them), and the baseline's direct call, which the
//! compiler can neither inline nor drop.

/// Calls the code at `addr` with EAX = `eax` and EDX = `edx`, the stack 8
/// bytes lower when `low`; returns EAX and EDX as the code left them.
/// Every register the C ABI lets a callee clobber is taken as clobbered,
/// and R14 too.
///
/// # Safety
/// `addr` must be mapped executable code that returns to its return
/// address with the stack as it found it, keeps RBX, RBP, R12, R13 and
/// R15, and writes no memory the caller owns (it may write below RSP: the
/// kernel has no red zone).
#[inline(always)]
pub unsafe fn with_eax_edx(addr: u64, eax: u32, edx: u32, low: bool) -> (u32, u32) {
    let (eax_out, edx_out): (u32, u32);
    if low {
        // SAFETY: the caller vouches for the code at `addr`; every
        // caller-saved register and R14 are clobbered, and with no red zone
        // the pushed return address hits nothing live; RSP is restored
        // after the call.
        unsafe {
            core::arch::asm!(
                "sub rsp, 8",
                "call {a}",
                "add rsp, 8",
                a = in(reg) addr,
                inout("eax") eax => eax_out,
                inout("edx") edx => edx_out,
                out("r14") _,
                clobber_abi("C"),
            );
        }
    } else {
        // SAFETY: as above, without moving RSP.
        unsafe {
            core::arch::asm!(
                "call {a}",
                a = in(reg) addr,
                inout("eax") eax => eax_out,
                inout("edx") edx => edx_out,
                out("r14") _,
                clobber_abi("C"),
            );
        }
    }
    (eax_out, edx_out)
}

/// Calls `f(arg)` with an `asm!` `call`, which the compiler can neither
/// inline nor drop.
#[inline(always)]
pub fn direct<T>(f: extern "C" fn(&T), arg: &T) {
    // SAFETY: `f` is a safe `extern "C"` function whose one argument (RDI)
    // is a reference, live for the call; `clobber_abi("C")` covers every
    // caller-saved register, and with no red zone the pushed return
    // address overwrites nothing live.
    unsafe {
        core::arch::asm!(
            "call {f}",
            f = in(reg) f as usize,
            in("rdi") arg as *const T,
            clobber_abi("C"),
        );
    }
}
