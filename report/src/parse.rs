//! Reading one record line (the harness's side). Nothing here allocates:
//! fields borrow from the line.

use crate::{crc::crc32, escape::unescape_into, MAGIC};

/// Why a line that looked like a record could not be believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// The line does not start with [`MAGIC`]: human text, not a record.
    NotARecord,
    /// No ` *xxxxxxxx` CRC at the end (the line was cut or garbled).
    MissingCrc,
    /// The CRC does not match the bytes.
    BadCrc {
        /// The CRC the line carries.
        stated: u32,
        /// The CRC of the bytes as received.
        computed: u32,
    },
    /// The CRC matched but the header or a field is malformed (a kernel bug,
    /// since damage in transit is caught by the CRC).
    Malformed(&'static str),
}

impl core::fmt::Display for LineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LineError::NotARecord => write!(f, "not a record line"),
            LineError::MissingCrc => write!(f, "record has no CRC (cut off or garbled)"),
            LineError::BadCrc { stated, computed } => {
                write!(
                    f,
                    "CRC mismatch: line says {stated:08x}, bytes give {computed:08x}"
                )
            }
            LineError::Malformed(what) => write!(f, "malformed record: {what}"),
        }
    }
}

/// One record whose CRC checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRecord<'a> {
    /// Sequence number within the boot.
    pub seq: u32,
    /// The record's kind (see [`crate::kind`]).
    pub kind: &'a str,
    fields: &'a str,
}

/// One `key=value` field; `value` is still escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The key.
    pub key: &'a str,
    /// The escaped value (see [`Field::decode`]).
    pub raw: &'a str,
}

impl Field<'_> {
    /// Decodes the value into `out` (bytes; see [`crate::escape`]).
    pub fn decode(&self, out: impl FnMut(u8)) -> Result<(), crate::escape::BadEscape> {
        unescape_into(self.raw, out)
    }
}

/// The fields of a record, in order.
#[derive(Debug, Clone)]
pub struct Fields<'a>(core::str::Split<'a, char>);

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;
    fn next(&mut self) -> Option<Field<'a>> {
        loop {
            let f = self.0.next()?;
            if f.is_empty() {
                continue;
            }
            let (key, raw) = f.split_once('=').unwrap_or((f, ""));
            return Some(Field { key, raw });
        }
    }
}

impl<'a> RawRecord<'a> {
    /// The fields in order.
    pub fn fields(&self) -> Fields<'a> {
        Fields(self.fields.split(' '))
    }

    /// The escaped value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.fields().find(|f| f.key == key).map(|f| f.raw)
    }

    /// The value of `key` as a number: decimal, or hex with `0x`.
    pub fn num(&self, key: &str) -> Option<u64> {
        parse_num(self.get(key)?)
    }
}

/// A number as records write them: decimal, or hex after `0x`.
pub fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses one line (without its newline; trailing `\r`s are allowed: a
/// terminal program that logs a CRLF line can add its own `\r` too).
///
/// The magic may be preceded by garbage (a line on a real serial cable can
/// begin with noise or with the tail of a damaged line): the record starts
/// at the last occurrence of [`MAGIC`] in the line.
pub fn parse_line(line: &str) -> Result<RawRecord<'_>, LineError> {
    let line = line.trim_end_matches('\r');
    let start = line.rfind(MAGIC).ok_or(LineError::NotARecord)?;
    let line = &line[start..];
    let star = line.rfind(" *").ok_or(LineError::MissingCrc)?;
    let body = &line[..star];
    let crc_text = &line[star + 2..];
    if crc_text.len() != 8
        || !crc_text
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(LineError::MissingCrc);
    }
    let stated = u32::from_str_radix(crc_text, 16).map_err(|_| LineError::MissingCrc)?;
    let computed = crc32(body.as_bytes());
    if stated != computed {
        return Err(LineError::BadCrc { stated, computed });
    }
    let rest = body[MAGIC.len()..]
        .strip_prefix(' ')
        .ok_or(LineError::Malformed("no space after magic"))?;
    let (seq, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let seq: u32 = seq
        .parse()
        .map_err(|_| LineError::Malformed("sequence number"))?;
    let (kind, fields) = rest.split_once(' ').unwrap_or((rest, ""));
    if kind.is_empty()
        || !kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(LineError::Malformed("record kind"));
    }
    for f in fields.split(' ').filter(|f| !f.is_empty()) {
        let Some((k, _)) = f.split_once('=') else {
            return Err(LineError::Malformed("field without '='"));
        };
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(LineError::Malformed("field key"));
        }
    }
    Ok(RawRecord { seq, kind, fields })
}
