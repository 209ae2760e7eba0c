extern crate std;
use crate::*;
use std::{string::String, vec::Vec};

fn unescaped(f: &Field<'_>) -> Vec<u8> {
    let mut v = Vec::new();
    f.decode(|b| v.push(b)).expect("value decodes");
    v
}

#[test]
fn a_written_record_parses_back_with_every_field() {
    let mut r = RecordBuf::new(42, kind::FAULT);
    r.u64("cpu", 3)
        .hex("rip", 0xffff_8000_0010_2030)
        .str("name", "UD")
        .hexbytes("bytes", &[0x0f, 0x0b, 0xcc]);
    let line = String::from(r.finish());
    assert!(line.ends_with('\n'), "a record is one line: {line:?}");
    let rec = parse_line(line.trim_end()).expect("clean record parses");
    assert_eq!(rec.seq, 42);
    assert_eq!(rec.kind, "fault");
    assert_eq!(rec.num("cpu"), Some(3));
    assert_eq!(rec.num("rip"), Some(0xffff_8000_0010_2030));
    assert_eq!(rec.get("bytes"), Some("0f0bcc"));
}

#[test]
fn values_with_spaces_and_specials_survive_escaping() {
    let text = "Intel(R) Xeon(R) CPU  E5520 @ 2.27GHz *=% \t\u{e9}";
    let mut r = RecordBuf::new(0, kind::MACHINE);
    r.str("brand", text);
    let line = String::from(r.finish());
    let rec = parse_line(line.trim_end()).unwrap();
    let f = rec.fields().find(|f| f.key == "brand").unwrap();
    assert_eq!(unescaped(&f), text.as_bytes());
    assert!(!f.raw.contains(' '));
}

#[test]
fn a_value_that_holds_the_magic_does_not_hide_its_record() {
    // A command line or a panic message may hold `@SC1`; the parser takes
    // the last one on a line as the start of the record.
    let text = "exp=@SC1 9 end verdict=pass";
    let mut r = RecordBuf::new(0, kind::HELLO);
    r.str("cmdline", text).u64("proto", 1);
    let line = String::from(r.finish());
    let rec =
        parse_line(line.trim_end()).unwrap_or_else(|e| panic!("wanted {line:?} believed, got {e}"));
    assert_eq!((rec.seq, rec.kind), (0, kind::HELLO));
    let f = rec.fields().find(|f| f.key == "cmdline").unwrap();
    assert_eq!(unescaped(&f), text.as_bytes());
}

#[test]
fn a_plain_at_sign_written_by_older_kernels_still_decodes() {
    let brand = "Intel(R)%20Xeon(R)%20CPU%20E5520%20@%202.27GHz";
    let mut v = Vec::new();
    crate::escape::unescape_into(brand, |b| v.push(b)).expect("a plain @ decodes");
    assert_eq!(v, b"Intel(R) Xeon(R) CPU E5520 @ 2.27GHz");
}

#[test]
fn every_single_bit_flip_in_a_record_is_detected() {
    let mut r = RecordBuf::new(7, kind::CPU);
    r.u64("cpu", 1).u64("apic", 1).str("state", "up");
    let line = String::from(r.finish().trim_end());
    let bytes = line.as_bytes();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.to_vec();
            b[i] ^= 1 << bit;
            let Ok(s) = core::str::from_utf8(&b) else {
                continue;
            };
            if let Ok(rec) = parse_line(s) {
                panic!("flip of bit {bit} of byte {i} gave a believed record {rec:?} from {s:?}");
            }
        }
    }
}

#[test]
fn a_record_cut_anywhere_is_never_believed() {
    let mut r = RecordBuf::new(9, kind::END);
    r.str("verdict", "pass")
        .u64("records", 9)
        .u64("failures", 0);
    let line = String::from(r.finish().trim_end());
    for cut in 0..line.len() {
        assert!(
            parse_line(&line[..cut]).is_err(),
            "prefix of {cut} bytes was believed: {:?}",
            &line[..cut]
        );
    }
}

#[test]
fn noise_before_the_magic_is_skipped() {
    let mut r = RecordBuf::new(1, kind::TSC);
    r.u64("hz", 2_000_000_000).str("source", "hpet");
    let line = std::format!("\u{0}\u{ff}garbage{}", r.finish().trim_end());
    let rec = parse_line(&line).expect("record after noise parses");
    assert_eq!(rec.num("hz"), Some(2_000_000_000));
}

#[test]
fn carriage_returns_at_the_end_are_read_past() {
    // A CRLF line logged by a terminal program that adds its own CR.
    let mut r = RecordBuf::new(1, kind::TSC);
    r.u64("hz", 2_000_000_000);
    let clean = String::from(r.finish().trim_end());
    for tail in ["\r", "\r\r", "\r\r\r"] {
        let line = std::format!("{clean}{tail}");
        let rec = parse_line(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        assert_eq!(rec.num("hz"), Some(2_000_000_000));
    }
}

#[test]
fn human_lines_are_not_records() {
    assert_eq!(parse_line("cpus: 4 of 4 up"), Err(LineError::NotARecord));
}

#[test]
fn an_overlong_value_is_cut_and_marked() {
    let long = "x".repeat(2 * RECORD_CAPACITY);
    let mut r = RecordBuf::new(2, kind::PANIC);
    r.str("msg", &long).u64("cpu", 0);
    let line = String::from(r.finish());
    assert!(line.len() <= RECORD_CAPACITY);
    let rec = parse_line(line.trim_end()).unwrap();
    assert_eq!(rec.get("trunc"), Some("1"));
}

#[test]
fn crc32_matches_the_standard_check_value() {
    assert_eq!(crc::crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn qemu_exit_status_round_trips() {
    assert_eq!(
        exit::decode(exit::qemu_status(exit::CODE_PASS)),
        exit::QemuExit::KernelPass
    );
    assert_eq!(
        exit::decode(exit::qemu_status(exit::CODE_FAIL)),
        exit::QemuExit::KernelFail
    );
    assert_eq!(exit::decode(1), exit::QemuExit::Other(1));
}

/// One ELF note, as a linker lays it out (little-endian, padded to 4).
fn note(name: &[u8], kind: u32, desc: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(name.len() as u32).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&kind.to_le_bytes());
    v.extend_from_slice(name);
    v.resize(v.len().next_multiple_of(4), 0);
    v.extend_from_slice(desc);
    v.resize(v.len().next_multiple_of(4), 0);
    v
}

const SHA1_ID: [u8; 20] = [
    0x8f, 0x3a, 0x01, 0x22, 0x9c, 0x44, 0x5e, 0x60, 0x7b, 0x18, 0xd2, 0x0e, 0xa1, 0x33, 0x47, 0x5f,
    0x90, 0x6c, 0xbe, 0x01,
];

#[test]
fn the_build_id_is_found_in_a_gnu_note() {
    let n = note(note::GNU_NAME, note::NT_GNU_BUILD_ID, &SHA1_ID);
    assert_eq!(note::gnu_build_id(&n), Some(&SHA1_ID[..]));
}

#[test]
fn the_build_id_is_found_after_the_pvh_note() {
    // The kernel's note segment: Xen's PVH entry (a 4-byte desc) first.
    let mut n = note(b"Xen\0", 18, &[0x00, 0x00, 0x10, 0x00]);
    n.extend(note(b"GNU\0", 1, &[0; 16])); // ABI tag: another GNU note
    n.extend(note(note::GNU_NAME, note::NT_GNU_BUILD_ID, &SHA1_ID));
    assert_eq!(note::gnu_build_id(&n), Some(&SHA1_ID[..]));
}

#[test]
fn notes_without_a_build_id_give_none() {
    assert_eq!(note::gnu_build_id(&[]), None);
    assert_eq!(note::gnu_build_id(&note(b"Xen\0", 18, &[1, 2, 3, 4])), None);
    assert_eq!(
        note::gnu_build_id(&note(b"GNU\0", note::NT_GNU_BUILD_ID, &[])),
        None,
        "an empty id is no id"
    );
}

#[test]
fn a_build_id_note_cut_anywhere_is_never_believed() {
    let n = note(note::GNU_NAME, note::NT_GNU_BUILD_ID, &SHA1_ID);
    for cut in 0..n.len() - 3 {
        assert_eq!(
            note::gnu_build_id(&n[..cut]),
            None,
            "a note cut to {cut} of {} bytes gave an id",
            n.len()
        );
    }
}

#[test]
fn a_note_whose_sizes_overflow_is_refused() {
    let mut n = note(b"Xen\0", 18, &[0; 4]);
    n[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
    n.extend(note(note::GNU_NAME, note::NT_GNU_BUILD_ID, &SHA1_ID));
    assert_eq!(note::gnu_build_id(&n), None);
}

#[test]
fn the_hello_record_carries_the_build_id_as_hex() {
    let mut r = RecordBuf::new(0, kind::HELLO);
    r.u64("proto", PROTOCOL_VERSION as u64)
        .str("boot", "pvh")
        .str("cmdline", "exp=naive/* ms=50")
        .u64("vga_text", 0)
        .hexbytes("build_id", &SHA1_ID);
    let line = String::from(r.finish());
    let rec = parse_line(line.trim_end()).expect("hello parses");
    assert_eq!(
        rec.get("build_id"),
        Some("8f3a01229c445e607b18d20ea133475f906cbe01")
    );
    assert_eq!(
        rec.get("vga_text"),
        Some("0"),
        "the fields before it are intact"
    );
}
