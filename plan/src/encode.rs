//! The few x86 encodings the object under test is made of.
//!
//! Everything the kernel writes into the site and target arenas is built
//! here, so that the host tests see exactly the bytes the CPUs execute:
//!
//! | what | bytes | length |
//! |---|---|---|
//! | site stub | `E8 rel32` `C3` (`call target; ret`) | [`STUB_LEN`] |
//! | trampoline (out-of-line) | `E9 rel32` (`jmp target`) | [`JMP_LEN`] |
//! | target body | `B8 id32` `C3` (`mov eax, id; ret`) | [`TARGET_BODY_LEN`] |
//! | padding | `CC` (`int3`) everywhere else | |
//!
//! `rel32` is little-endian and relative to the address of the *next*
//! instruction, `insn_addr + 5`. Every function here that can fail because a
//! destination is out of the ±2 GiB reach of a `rel32` returns `None` rather
//! than a wrapped (and therefore wrong, but plausible) encoding.

/// Opcode of `call rel32`.
pub const CALL_OPCODE: u8 = 0xE8;
/// Opcode of `jmp rel32`.
pub const JMP_OPCODE: u8 = 0xE9;
/// `int3`, the one-byte breakpoint; also the padding of every arena.
pub const INT3: u8 = 0xCC;
/// `ret` (near).
pub const RET: u8 = 0xC3;
/// `ud2`, the architecturally undefined instruction.
pub const UD2: [u8; 2] = [0x0F, 0x0B];
/// Opcode of `mov eax, imm32`.
pub const MOV_EAX_IMM32: u8 = 0xB8;

/// Length of `call rel32` and of `jmp rel32`: opcode plus 4 operand bytes.
pub const REL32_INSN_LEN: usize = 5;
/// Length of `jmp rel32` (a trampoline).
pub const JMP_LEN: usize = REL32_INSN_LEN;
/// Length of a site stub: `call rel32; ret`.
pub const STUB_LEN: usize = REL32_INSN_LEN + 1;
/// Length of a target body: `mov eax, imm32; ret`.
pub const TARGET_BODY_LEN: usize = 6;

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

/// A site stub at `site`: `call target; ret`.
pub fn site_stub(site: u64, target: u64) -> Option<[u8; STUB_LEN]> {
    let c = call_rel32(site, target)?;
    Some([c[0], c[1], c[2], c[3], c[4], RET])
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

/// The body of the target with id `id`: `mov eax, id; ret`.
///
/// A call through a site returns the id of the target it reached in `EAX`;
/// the executor checks it against the generation window ([`crate::window`]).
pub const fn target_body(id: u32) -> [u8; TARGET_BODY_LEN] {
    let b = id.to_le_bytes();
    [MOV_EAX_IMM32, b[0], b[1], b[2], b[3], RET]
}

/// The id a target body returns, or `None` if `bytes` is no target body.
pub const fn decode_target_body(bytes: &[u8; TARGET_BODY_LEN]) -> Option<u32> {
    if bytes[0] == MOV_EAX_IMM32 && bytes[5] == RET {
        Some(u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
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
    fn a_site_stub_is_a_call_followed_by_ret() {
        let s = site_stub(0x1000, 0x2000).unwrap();
        assert_eq!(&s[..5], &call_rel32(0x1000, 0x2000).unwrap());
        assert_eq!(s[5], RET);
    }

    #[test]
    fn a_target_body_is_mov_eax_imm32_ret_and_decodes_back() {
        let b = target_body(0x5C03_0102);
        assert_eq!(b, [0xB8, 0x02, 0x01, 0x03, 0x5C, 0xC3]);
        assert_eq!(decode_target_body(&b), Some(0x5C03_0102));
        assert_eq!(decode_target_body(&[INT3; 6]), None);
    }
}
