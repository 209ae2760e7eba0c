//! The few x86 encodings the object under test is made of.
//!
//! Everything the kernel writes into the site and target arenas is built
//! here, so that the host tests see exactly the bytes the CPUs execute:
//!
//! | what | bytes | length |
//! |---|---|---|
//! | site stub | `E8 rel32` `B6 hi` `B2 lo` `C3` (`call target; mov dh, hi; mov dl, lo; ret`) | [`STUB_LEN`] |
//! | trampoline (out-of-line) | `E9 rel32` (`jmp target`) | [`JMP_LEN`] |
//! | target body | `B8 id32` `31 D2` `C3` (`mov eax, id; xor edx, edx; ret`) | [`TARGET_BODY_LEN`] |
//! | padding | `CC` (`int3`) everywhere else | |
//! | NULL site (shape `null`), disabled jump label (shape `jump`) | [`NOP5`] in place of the `call` | 5 |
//! | enabled jump label (shape `jump`) | `E9 rel32` (`jmp label`) in place of the `call` | 5 |
//! | 2-byte jump label (shape `jump8`) | `EB rel8` (`jmp label`) or [`NOP2`], then [`NOP3`] | 2 + 3 |
//! | `__static_call_return0` site (shape `ret0`) | [`XOR5RAX`] in place of the `call` | 5 |
//! | `__static_call_return0` (shape `ret0`) | [`RET0_BODY`] (`xor eax, eax; ret`) | 3 |
//!
//! `rel32` is little-endian and relative to the address of the *next*
//! instruction, `insn_addr + 5`. Every function here that can fail because a
//! destination is out of the ±2 GiB reach of a `rel32` returns `None` rather
//! than a wrapped (and therefore wrong, but plausible) encoding.
//!
//! # The checked return path
//!
//! A bare `call target; ret` cannot tell a correct emulated call from a
//! wrong one: `jmp target` ends the same, and so does any return address
//! that lands on the `ret`. So after the call the stub does site-specific
//! work that the caller checks: it writes the site's [`SiteMark`] into DX
//! (`mov dh, hi; mov dl, lo`), and the target, which runs before, clears
//! EDX. The caller loads a poison into EAX and EDX before the call; after
//! it, EDX must be exactly the site's mark and EAX a target id:
//!
//! | what went wrong | EAX | EDX |
//! |---|---|---|
//! | nothing | the target's id | the mark |
//! | the callee was skipped (returned straight to `site + 5`) | poison | `0xffff_0000` + mark |
//! | the call was emulated as a `jmp` (no return address) | id | 0 |
//! | the tail ran before the target (return address and target swapped) | id | 0 |
//! | return address one byte long (`site + 6`) or any other byte of the tail | id | not the mark |
//! | return address one byte short (`site + 4`) | id | not the mark |
//!
//! Under shape `null` the second row is also what a NOP site gives; the
//! window then says whether the site was NULL during the call. Under shape
//! `jump` a site's `jmp` goes to the site's own label, a target body with
//! the label's id ([`crate::layout::label_id`]) that returns to the
//! caller: EAX the label's id and EDX 0 is the right result there, and any
//! other label's id, or the mark beside a label's id (the `jmp` emulated as
//! a `call`, so the label returned into the tail), is wrong.
//!
//! The last two rows hold because both mark bytes are REX prefixes
//! (`0x40..=0x4F`, [`SiteMark`]) and, for the keys the kernel uses, so is
//! the top operand byte ([`crate::planner`]: `0x40 + 2g`): entered inside
//! the tail the CPU runs REX prefixes into `mov dl` or `ret`, never
//! `mov dh`; entered one byte short it runs `REX mov dh, hi`, and with any
//! REX prefix opcode `B6` writes SIL or R14B instead of DH. The tests run
//! every entry point through a small model of these instructions.

/// Opcode of `call rel32`.
pub const CALL_OPCODE: u8 = 0xE8;
/// Opcode of `jmp rel32`.
pub const JMP_OPCODE: u8 = 0xE9;
/// `int3`, the one-byte breakpoint; also the padding of every arena.
pub const INT3: u8 = 0xCC;
/// `ret` (near).
pub const RET: u8 = 0xC3;
/// The 5-byte NOP (`nopl 0x0(%rax,%rax,1)`) a NULL static call becomes,
/// as Linux writes it (`x86_nops[5]`). No byte is `CC`, so a byte read at
/// a NOP site never looks like a cover.
pub const NOP5: [u8; 5] = [0x0F, 0x1F, 0x44, 0x00, 0x00];
/// Opcode of `jmp rel8`.
pub const JMP8_OPCODE: u8 = 0xEB;
/// The 2-byte NOP (`xchg ax, ax`) a disabled 2-byte jump label holds, as
/// Linux writes it.
pub const NOP2: [u8; 2] = [0x66, 0x90];
/// The 3-byte NOP (`nopl (%rax)`) that follows a 2-byte jump label in this
/// kernel's stubs (shape `jump8`), so that the patch point stays 5 bytes,
/// of which only the first 2 ever change.
pub const NOP3: [u8; 3] = [0x0F, 0x1F, 0x00];

/// `jmp target` in 2 bytes at `insn_addr`, then [`NOP3`]: a 2-byte jump
/// label as a 5-byte point. `None` if `target` is out of `rel8` reach.
pub fn jmp8_point(insn_addr: u64, target: u64) -> Option<[u8; 5]> {
    let rel = i8::try_from(i128::from(target) - i128::from(insn_addr) - 2).ok()?;
    Some([JMP8_OPCODE, rel as u8, NOP3[0], NOP3[1], NOP3[2]])
}

/// A disabled 2-byte jump label as a 5-byte point: [`NOP2`], then
/// [`NOP3`].
pub const NOP2_POINT: [u8; 5] = [NOP2[0], NOP2[1], NOP3[0], NOP3[1], NOP3[2]];

/// Where the `jmp` that begins `bytes` (at `insn_addr`) goes: `jmp rel32`
/// or `jmp rel8`. `None` for anything else.
pub fn decode_jmp_dest(bytes: &[u8; 5], insn_addr: u64) -> Option<u64> {
    match bytes[0] {
        JMP_OPCODE => decode_rel32_dest(bytes, insn_addr).map(|(_, d)| d),
        JMP8_OPCODE => Some(
            insn_addr
                .wrapping_add(2)
                .wrapping_add(bytes[1] as i8 as i64 as u64),
        ),
        _ => None,
    }
}

/// What Linux writes at a call site updated to `__static_call_return0`:
/// `cs cs cs xor eax, eax`, one 5-byte instruction that clears RAX. A
/// CPU that traps on the site while it is being patched is sent through
/// an emulated call to [`RET0_BODY`] instead (Linux's `emulate` differs
/// from its `code` there). No byte is `CC`.
pub const XOR5RAX: [u8; 5] = [0x2E, 0x2E, 0x2E, 0x31, 0xC0];
/// `__static_call_return0`: `xor eax, eax; ret`.
pub const RET0_BODY: [u8; 3] = [0x31, 0xC0, RET];
/// `ud2`, the architecturally undefined instruction.
pub const UD2: [u8; 2] = [0x0F, 0x0B];
/// Opcode of `mov eax, imm32`.
pub const MOV_EAX_IMM32: u8 = 0xB8;
/// Opcode of `mov dh, imm8` (with any REX prefix: `mov sil` or `mov r14b`).
pub const MOV_DH_IMM8: u8 = 0xB6;
/// Opcode of `mov dl, imm8` (with REX.B: `mov r10b`).
pub const MOV_DL_IMM8: u8 = 0xB2;
/// `xor edx, edx`: a target clears the mark register before the stub's
/// tail writes it.
pub const XOR_EDX_EDX: [u8; 2] = [0x31, 0xD2];
/// The REX prefixes: a byte in this range, executed, only modifies the next
/// instruction.
pub const REX: core::ops::RangeInclusive<u8> = 0x40..=0x4F;

/// Length of `call rel32` and of `jmp rel32`: opcode plus 4 operand bytes.
pub const REL32_INSN_LEN: usize = 5;
/// Length of `jmp rel32` (a trampoline).
pub const JMP_LEN: usize = REL32_INSN_LEN;
/// Length of a site stub: `call rel32; mov dh, hi; mov dl, lo; ret`.
pub const STUB_LEN: usize = REL32_INSN_LEN + 5;
/// Offset of the stub's tail (what the call returns to).
pub const STUB_TAIL: usize = REL32_INSN_LEN;
/// Length of a target body: `mov eax, imm32; xor edx, edx; ret`.
pub const TARGET_BODY_LEN: usize = 8;

/// What a site's tail writes into DX after its call returned: two bytes,
/// each a REX prefix (see the module doc), so 256 sites can be told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SiteMark {
    /// Written into DH.
    pub hi: u8,
    /// Written into DL.
    pub lo: u8,
}

impl SiteMark {
    /// The mark from its two bytes, if both are REX prefixes.
    pub const fn new(hi: u8, lo: u8) -> Option<SiteMark> {
        if *REX.start() <= hi && hi <= *REX.end() && *REX.start() <= lo && lo <= *REX.end() {
            Some(SiteMark { hi, lo })
        } else {
            None
        }
    }

    /// EDX after a correct call through the site: the target cleared it,
    /// then the tail wrote DH and DL.
    pub const fn edx(self) -> u32 {
        (self.hi as u32) << 8 | self.lo as u32
    }
}

/// What a caller loads into EAX before calling a site: no target has this
/// id ([`crate::planner::target_id`] ids all have `0x5C` on top), so EAX
/// still holding it after the call means no target ran.
pub const POISON_EAX: u32 = 0x0BAD_CA11;
/// What a caller loads into EDX before calling a site: neither 0 (a target
/// ran last) nor a mark (a tail ran last).
pub const POISON_EDX: u32 = 0xFFFF_0000;

// The poison is no target id (all have 0x5C on top), and EDX's is neither
// 0 nor a mark (which fits in DX).
const _: () = assert!(POISON_EAX >> 24 != 0x5C && POISON_EDX > 0xFFFF);

/// The high byte of every jump label's id (shape `jump`); the rest is
/// `key << 8 | index` ([`crate::layout::label_id`]). Target ids have
/// `0x5C` there, and the poison `0x0B`, so a label's id is told from both
/// by its top byte.
pub const LABEL_ID_BASE: u32 = 0x5D00_0000;

const _: () = assert!(POISON_EAX >> 24 != LABEL_ID_BASE >> 24 && LABEL_ID_BASE >> 24 != 0x5C);

/// What a call that returned 0 through [`XOR5RAX`] or [`RET0_BODY`]
/// stands for in a key's window (shape `ret0`): no target's id, no
/// label's, not the poison.
pub const RET0_ID: u32 = 0x5E00_0000;

/// What a call through a site returned, from EAX and EDX after it (the
/// checked return path of the module doc), before the window judges it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returned {
    /// A target ran, then the site's tail: EAX the target's id, EDX the
    /// mark. Not under shape `jump`, whose sites call no target.
    Target(u32),
    /// No target ran, and the site's tail did: the poison in EAX, the mark
    /// over the poisoned EDX. A NOP site's result under the shapes with a
    /// NOP ([`ReturnRules::nop`]); the callee skipped under `call`.
    NoTarget,
    /// `__static_call_return0` ran, in place or emulated, then the tail:
    /// EAX 0, the mark over the poisoned EDX (shape `ret0`).
    Ret0,
    /// A jump label ran and returned straight to the caller: EAX a label's
    /// id, EDX cleared (shape `jump`). Whose label it was is the caller's
    /// to judge: only the site's own stands for its key's target.
    Label(u32),
    /// Anything else: the return path went wrong (`bad_return`).
    Bad,
}

/// What the running shape allows a call to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReturnRules {
    /// The site's points may hold the NOP (shapes `null`, `jump`).
    pub nop: bool,
    /// The site's point is a `jmp` to a label when not the NOP (shape
    /// `jump`).
    pub labels: bool,
    /// The site's point may return 0 (shape `ret0`).
    pub ret0: bool,
}

/// Reads what a call through the site whose mark is `mark` returned in
/// `eax` and `edx`, under `rules`. The caller loaded [`POISON_EAX`] and
/// [`POISON_EDX`] before the call.
pub const fn returned(eax: u32, edx: u32, mark: SiteMark, rules: ReturnRules) -> Returned {
    let no_target = eax == POISON_EAX && edx == (POISON_EDX & 0xFFFF_0000) | mark.edx();
    let label = eax & 0xFF00_0000 == LABEL_ID_BASE && edx == 0;
    let zero = eax == 0 && edx == (POISON_EDX & 0xFFFF_0000) | mark.edx();
    if zero && rules.ret0 {
        Returned::Ret0
    } else if no_target && rules.nop {
        Returned::NoTarget
    } else if rules.labels {
        if label {
            Returned::Label(eax)
        } else {
            Returned::Bad
        }
    } else if edx == mark.edx() && eax != POISON_EAX {
        Returned::Target(eax)
    } else {
        Returned::Bad
    }
}

/// The displacement of a `rel32` instruction at `insn_addr` that reaches
/// `target`, or `None` if `target` is out of reach.
///
/// The displacement is taken from the end of the 5-byte instruction.
pub fn rel32(insn_addr: u64, target: u64) -> Option<i32> {
    let next = i128::from(insn_addr) + REL32_INSN_LEN as i128;
    i32::try_from(i128::from(target) - next).ok()
}

/// The destination of a `rel32` instruction at `insn_addr` whose operand is
/// `rel`: `insn_addr + 5 + rel`, sign-extended, wrapping like the CPU.
pub const fn rel32_dest(insn_addr: u64, rel: i32) -> u64 {
    insn_addr
        .wrapping_add(REL32_INSN_LEN as u64)
        .wrapping_add(rel as i64 as u64)
}

/// The 5 bytes of `opcode rel32` at `insn_addr` reaching `target`.
fn rel32_insn(opcode: u8, insn_addr: u64, target: u64) -> Option<[u8; 5]> {
    let rel = rel32(insn_addr, target)?.to_le_bytes();
    Some([opcode, rel[0], rel[1], rel[2], rel[3]])
}

/// `call target`, encoded for address `site`.
pub fn call_rel32(site: u64, target: u64) -> Option<[u8; 5]> {
    rel32_insn(CALL_OPCODE, site, target)
}

/// `jmp target`, encoded for address `insn_addr`.
pub fn jmp_rel32(insn_addr: u64, target: u64) -> Option<[u8; 5]> {
    rel32_insn(JMP_OPCODE, insn_addr, target)
}

/// A site stub at `site`: `call target; mov dh, hi; mov dl, lo; ret`.
pub fn site_stub(site: u64, target: u64, mark: SiteMark) -> Option<[u8; STUB_LEN]> {
    Some(stub_with(call_rel32(site, target)?, mark))
}

/// A site stub whose patched instruction is `insn` (a `call`, a `jmp` to
/// the site's jump label, or the NOP), then the tail: `mov dh, hi; mov dl,
/// lo; ret`.
pub const fn stub_with(insn: [u8; 5], mark: SiteMark) -> [u8; STUB_LEN] {
    [
        insn[0],
        insn[1],
        insn[2],
        insn[3],
        insn[4],
        MOV_DH_IMM8,
        mark.hi,
        MOV_DL_IMM8,
        mark.lo,
        RET,
    ]
}

/// Decodes a `call rel32` or `jmp rel32` read back from `insn_addr`: its
/// opcode and destination, or `None` if the first byte is neither opcode
/// (for example `int3` in the middle of a patch).
pub fn decode_rel32_dest(bytes: &[u8; 5], insn_addr: u64) -> Option<(u8, u64)> {
    match bytes[0] {
        CALL_OPCODE | JMP_OPCODE => {
            let rel = i32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
            Some((bytes[0], rel32_dest(insn_addr, rel)))
        }
        _ => None,
    }
}

/// The body of the target with id `id`: `mov eax, id; xor edx, edx; ret`.
///
/// A call through a site returns the id of the target it reached in `EAX`;
/// the executor checks it against the generation window ([`crate::window`]).
/// Clearing EDX makes the order visible: the stub's tail must run after it.
pub const fn target_body(id: u32) -> [u8; TARGET_BODY_LEN] {
    let b = id.to_le_bytes();
    [
        MOV_EAX_IMM32,
        b[0],
        b[1],
        b[2],
        b[3],
        XOR_EDX_EDX[0],
        XOR_EDX_EDX[1],
        RET,
    ]
}

/// The id a target body returns, or `None` if `bytes` is no target body.
pub const fn decode_target_body(bytes: &[u8; TARGET_BODY_LEN]) -> Option<u32> {
    if bytes[0] == MOV_EAX_IMM32
        && bytes[5] == XOR_EDX_EDX[0]
        && bytes[6] == XOR_EDX_EDX[1]
        && bytes[7] == RET
    {
        Some(u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_call_to_the_next_instruction_has_a_zero_operand() {
        assert_eq!(call_rel32(0x1000, 0x1005), Some([0xE8, 0, 0, 0, 0]));
    }

    #[test]
    fn a_backward_call_encodes_a_negative_little_endian_operand() {
        // call to itself: rel = -5 = 0xFFFF_FFFB.
        assert_eq!(
            call_rel32(0x1000, 0x1000),
            Some([0xE8, 0xFB, 0xFF, 0xFF, 0xFF])
        );
        assert_eq!(
            jmp_rel32(0x1000, 0x1000),
            Some([0xE9, 0xFB, 0xFF, 0xFF, 0xFF])
        );
    }

    #[test]
    fn the_reach_of_rel32_ends_exactly_at_the_i32_limits() {
        let site = 0x20_0000_0000u64;
        let next = site + 5;
        assert_eq!(rel32(site, next + i32::MAX as u64), Some(i32::MAX));
        assert_eq!(rel32(site, next + i32::MAX as u64 + 1), None);
        assert_eq!(rel32(site, next - (1u64 << 31)), Some(i32::MIN));
        assert_eq!(rel32(site, next - (1u64 << 31) - 1), None);
    }

    #[test]
    fn out_of_reach_is_none_even_across_the_ends_of_the_address_space() {
        assert_eq!(rel32(0, u64::MAX), None, "wrap-around is not reach");
        assert_eq!(rel32(u64::MAX - 2, 0), None);
        assert_eq!(call_rel32(0, 1 << 40), None);
    }

    #[test]
    fn decoding_an_encoded_call_or_jmp_gives_back_opcode_and_destination() {
        let site = 0x20_0000_1007u64;
        for target in [
            site,
            site + 5,
            site - 0x7000_0000,
            site + 0x4000_1234,
            site + 5 + i32::MAX as u64,
        ] {
            let c = call_rel32(site, target).unwrap();
            assert_eq!(
                decode_rel32_dest(&c, site),
                Some((CALL_OPCODE, target)),
                "call to {target:#x} from {site:#x}: bytes {c:02x?}"
            );
            let j = jmp_rel32(site, target).unwrap();
            assert_eq!(decode_rel32_dest(&j, site), Some((JMP_OPCODE, target)));
        }
    }

    #[test]
    fn a_breakpoint_over_the_opcode_does_not_decode_as_a_call() {
        let mut c = call_rel32(0x1000, 0x2000).unwrap();
        c[0] = INT3;
        assert_eq!(decode_rel32_dest(&c, 0x1000), None);
    }

    #[test]
    fn a_site_stub_is_a_call_then_the_mark_then_ret() {
        let mark = SiteMark::new(0x41, 0x4F).unwrap();
        let s = site_stub(0x1000, 0x2000, mark).unwrap();
        assert_eq!(&s[..5], &call_rel32(0x1000, 0x2000).unwrap());
        assert_eq!(
            &s[STUB_TAIL..],
            &[MOV_DH_IMM8, 0x41, MOV_DL_IMM8, 0x4F, RET],
            "wanted mov dh, hi; mov dl, lo; ret after the call"
        );
        assert_eq!(mark.edx(), 0x414F);
    }

    #[test]
    fn a_mark_is_made_of_rex_prefixes_only() {
        assert!(SiteMark::new(0x40, 0x4F).is_some());
        assert_eq!(SiteMark::new(0x3F, 0x40), None);
        assert_eq!(SiteMark::new(0x40, 0x50), None);
    }

    #[test]
    fn a_target_body_is_mov_eax_imm32_xor_edx_ret_and_decodes_back() {
        let b = target_body(0x5C03_0102);
        assert_eq!(b, [0xB8, 0x02, 0x01, 0x03, 0x5C, 0x31, 0xD2, 0xC3]);
        assert_eq!(decode_target_body(&b), Some(0x5C03_0102));
        assert_eq!(decode_target_body(&[INT3; TARGET_BODY_LEN]), None);
    }

    /// What the CPU does from byte `at` of `code` on, for the instructions
    /// a stub's tail is made of: REX prefixes, `mov r8, imm8` (B0..B7) and
    /// `ret`. Returns EDX at the `ret` (EDX was 0: the target cleared it),
    /// or `None` when it meets anything else (the `int3` padding, say).
    pub(crate) fn run_tail(code: &[u8], mut at: usize) -> Option<u32> {
        let mut edx = 0u32;
        let mut rex: Option<u8> = None;
        while let Some(&b) = code.get(at) {
            match b {
                b if REX.contains(&b) => {
                    rex = Some(b);
                    at += 1;
                    continue;
                }
                0xB0..=0xB7 => {
                    let imm = u32::from(*code.get(at + 1)?);
                    let rex_b = rex.is_some_and(|r| r & 1 != 0);
                    match (b & 7, rex, rex_b) {
                        (2, _, false) => edx = (edx & !0xFF) | imm,
                        // AH..BH exist only without a REX prefix.
                        (6, None, _) => edx = (edx & !0xFF00) | imm << 8,
                        _ => {} // another register
                    }
                    at += 2;
                }
                RET => return Some(edx),
                _ => return None,
            }
            rex = None;
        }
        None
    }

    #[test]
    fn only_a_return_to_the_tail_itself_writes_the_mark() {
        for hi in REX {
            for lo in REX {
                let mark = SiteMark::new(hi, lo).unwrap();
                for top in REX {
                    let mut code = [INT3; STUB_LEN + 4];
                    let stub = site_stub(0x1000, 0x2000, mark).unwrap();
                    code[..STUB_LEN].copy_from_slice(&stub);
                    code[4] = top; // the top operand byte, a REX prefix
                    assert_eq!(run_tail(&code, STUB_TAIL), Some(mark.edx()));
                    for at in (4..STUB_LEN).filter(|&a| a != STUB_TAIL) {
                        assert_ne!(
                            run_tail(&code, at),
                            Some(mark.edx()),
                            "entered at site+{at} (top byte {top:#x}) the tail must not write the mark {mark:?}"
                        );
                    }
                }
            }
        }
    }

    const MARK: SiteMark = SiteMark { hi: 0x43, lo: 0x45 };
    const CALL: ReturnRules = ReturnRules {
        nop: false,
        labels: false,
        ret0: false,
    };
    const NULL: ReturnRules = ReturnRules {
        nop: true,
        labels: false,
        ret0: false,
    };
    const JUMP: ReturnRules = ReturnRules {
        nop: true,
        labels: true,
        ret0: false,
    };
    const RET0: ReturnRules = ReturnRules {
        nop: false,
        labels: false,
        ret0: true,
    };

    #[test]
    fn zero_and_then_the_tail_is_return0_under_the_ret0_shape_only() {
        let zero = (POISON_EDX & 0xFFFF_0000) | MARK.edx();
        assert_eq!(returned(0, zero, MARK, RET0), Returned::Ret0);
        assert_eq!(returned(0, zero, MARK, CALL), Returned::Bad);
        assert_eq!(returned(0, zero, MARK, NULL), Returned::Bad);
        // A return0 body that returned past the tail, or a target that
        // cleared EDX: not return0.
        assert_eq!(returned(0, 0, MARK, RET0), Returned::Bad);
        assert_eq!(returned(0, POISON_EDX, MARK, RET0), Returned::Bad);
        // Emulated as a NOP, the site leaves the poison: bad under ret0.
        assert_eq!(returned(POISON_EAX, zero, MARK, RET0), Returned::Bad);
        // Its calls are still calls.
        assert_eq!(
            returned(0x5C00_0001, MARK.edx(), MARK, RET0),
            Returned::Target(0x5C00_0001)
        );
    }

    #[test]
    fn a_target_and_then_the_tail_is_a_call_under_the_call_shapes_only() {
        let id = 0x5C00_0102;
        assert_eq!(returned(id, MARK.edx(), MARK, CALL), Returned::Target(id));
        assert_eq!(returned(id, MARK.edx(), MARK, NULL), Returned::Target(id));
        // A jump label site calls no target: a target's id there is wrong.
        assert_eq!(returned(id, MARK.edx(), MARK, JUMP), Returned::Bad);
    }

    #[test]
    fn the_tail_alone_is_a_nop_site_where_the_shape_has_a_nop_and_a_skipped_callee_elsewhere() {
        let tail_only = (POISON_EDX & 0xFFFF_0000) | MARK.edx();
        assert_eq!(returned(POISON_EAX, tail_only, MARK, CALL), Returned::Bad);
        assert_eq!(
            returned(POISON_EAX, tail_only, MARK, NULL),
            Returned::NoTarget
        );
        assert_eq!(
            returned(POISON_EAX, tail_only, MARK, JUMP),
            Returned::NoTarget
        );
        // Another site's tail is no NOP of this one.
        let other = (POISON_EDX & 0xFFFF_0000) | SiteMark::new(0x43, 0x46).unwrap().edx();
        assert_eq!(returned(POISON_EAX, other, MARK, JUMP), Returned::Bad);
    }

    #[test]
    fn a_label_that_returned_straight_to_the_caller_is_a_label_and_one_that_ran_the_tail_is_not() {
        let label = LABEL_ID_BASE | 0x0203;
        assert_eq!(returned(label, 0, MARK, JUMP), Returned::Label(label));
        // A `jmp` emulated as a call: the label returned into the tail.
        assert_eq!(returned(label, MARK.edx(), MARK, JUMP), Returned::Bad);
        // A call shape has no labels: EDX 0 is a call emulated as a `jmp`.
        assert_eq!(returned(label, 0, MARK, NULL), Returned::Bad);
        assert_eq!(returned(0x5C00_0000, 0, MARK, JUMP), Returned::Bad);
    }
}
