//! Field value escaping.
//!
//! A value is written byte by byte: bytes in `[A-Za-z0-9]` and the
//! punctuation in [`is_written_plain`] stand for themselves; every other
//! byte (space, `*`, `%`, `=`, `@`, controls, non-ASCII) is written `%XX`
//! with two upper-case hex digits. Decoding is the reverse, and also takes
//! a plain `@` (see [`is_plain`]); a `%` not followed by two hex digits
//! makes the value invalid.

/// Whether `b` stands for itself in a value being decoded: what
/// [`is_written_plain`] writes so, and `@`, which kernels before the
/// `%40` escape wrote as itself (an Intel brand string holds one).
pub const fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b','
                | b':'
                | b';'
                | b'/'
                | b'_'
                | b'-'
                | b'+'
                | b'('
                | b')'
                | b'['
                | b']'
                | b'#'
                | b'@'
                | b'!'
                | b'?'
                | b'<'
                | b'>'
                | b'|'
                | b'~'
                | b'^'
                | b'\''
        )
}

/// Whether `b` is written as itself. Not `@`: a value must never hold
/// [`MAGIC`](crate::MAGIC), since the parser takes the last `@SC1` of a
/// line as the start of its record (so that noise before a record does not
/// hide it), and a value holding one made its record unreadable.
pub const fn is_written_plain(b: u8) -> bool {
    is_plain(b) && b != b'@'
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Calls `out` with the escaped form of `value`, one piece at a time.
pub fn escape_into(value: &[u8], mut out: impl FnMut(&[u8])) {
    for &b in value {
        if is_written_plain(b) {
            out(&[b]);
        } else {
            out(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
    }
}

/// Why a value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadEscape {
    /// Byte offset of the offending `%` or byte in the value.
    pub at: usize,
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes an escaped value, calling `out` with each decoded byte.
pub fn unescape_into(value: &str, mut out: impl FnMut(u8)) -> Result<(), BadEscape> {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = b.get(i + 1).copied().and_then(hex_val);
            let lo = b.get(i + 2).copied().and_then(hex_val);
            match (hi, lo) {
                (Some(h), Some(l)) => out(h << 4 | l),
                _ => return Err(BadEscape { at: i }),
            }
            i += 3;
        } else if is_plain(b[i]) {
            out(b[i]);
            i += 1;
        } else {
            return Err(BadEscape { at: i });
        }
    }
    Ok(())
}
