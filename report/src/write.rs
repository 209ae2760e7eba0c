//! Building one record in a fixed buffer, without allocation (the kernel's
//! side).

use crate::{crc::crc32, escape::escape_into, MAGIC};
use core::fmt::{self, Write};

/// The most bytes one record line may take, newline included. A field that
/// does not fit is cut and the record gets a `trunc=1` field. (An `exp`
/// record takes about 800 with everyday counters; the harness's tests hold
/// every field of it, each with a 10-digit value, the longest name and a
/// long error, under this. The buffer lives on the emitting CPU's stack,
/// 32 KiB on an AP.)
pub const RECORD_CAPACITY: usize = 2048;

/// Room kept free for ` trunc=1 *xxxxxxxx\n`.
const TAIL: usize = 20;

/// One record being built.
///
/// ```
/// let mut r = report::RecordBuf::new(3, report::kind::CPU);
/// r.u64("cpu", 1).u64("apic", 2).str("state", "up");
/// let line = r.finish();
/// assert!(line.starts_with("@SC1 3 cpu cpu=1 apic=2 state=up *"));
/// assert!(report::parse_line(line.trim_end()).is_ok());
/// ```
pub struct RecordBuf {
    buf: [u8; RECORD_CAPACITY],
    len: usize,
    truncated: bool,
}

impl RecordBuf {
    /// Starts record number `seq` of kind `kind`.
    pub fn new(seq: u32, kind: &str) -> Self {
        let mut r = RecordBuf {
            buf: [0; RECORD_CAPACITY],
            len: 0,
            truncated: false,
        };
        let _ = write!(r.raw(), "{MAGIC} {seq} {kind}");
        r
    }

    /// Adds the boot id ([`crate::boot_id`]), as the first field: `boot_id=`
    /// and 8 lower-case hex digits.
    pub fn boot_id(&mut self, id: u32) -> &mut Self {
        if self.key(crate::boot_id::KEY) {
            let _ = write!(self.raw(), "{id:08x}");
        }
        self
    }

    fn raw(&mut self) -> RawWriter<'_> {
        RawWriter(self)
    }

    fn push(&mut self, bytes: &[u8]) -> bool {
        if self.len + bytes.len() > RECORD_CAPACITY - TAIL {
            self.truncated = true;
            return false;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        true
    }

    fn key(&mut self, key: &str) -> bool {
        debug_assert!(key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        // A key is written only with room for at least a short value.
        if self.len + key.len() + 4 > RECORD_CAPACITY - TAIL {
            self.truncated = true;
            return false;
        }
        self.push(b" ") && self.push(key.as_bytes()) && self.push(b"=")
    }

    /// Adds `key=value` with `value` in decimal.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        if self.key(key) {
            let _ = write!(self.raw(), "{value}");
        }
        self
    }

    /// Adds `key=0x...` with `value` in lower-case hex.
    pub fn hex(&mut self, key: &str, value: u64) -> &mut Self {
        if self.key(key) {
            let _ = write!(self.raw(), "{value:#x}");
        }
        self
    }

    /// Adds `key=value`, escaping `value`.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.bytes_escaped(key, value.as_bytes())
    }

    /// Adds `key=value` where `value` is formatted with `Display`, escaped.
    pub fn display(&mut self, key: &str, value: impl fmt::Display) -> &mut Self {
        if self.key(key) {
            let _ = write!(EscapeWriter(self), "{value}");
        }
        self
    }

    /// Adds `key=value`, escaping arbitrary bytes.
    pub fn bytes_escaped(&mut self, key: &str, value: &[u8]) -> &mut Self {
        if self.key(key) {
            let mut ok = true;
            escape_into(value, |piece| {
                if ok {
                    ok = self.push(piece);
                }
            });
        }
        self
    }

    /// Adds `key=` followed by `value` as lower-case hex digits, two a byte.
    pub fn hexbytes(&mut self, key: &str, value: &[u8]) -> &mut Self {
        if self.key(key) {
            for b in value {
                let _ = write!(self.raw(), "{b:02x}");
            }
        }
        self
    }

    /// Closes the record (`trunc=1` if anything was cut, then the CRC and a
    /// newline) and returns the whole line.
    pub fn finish(&mut self) -> &str {
        if self.truncated {
            let t = b" trunc=1";
            self.buf[self.len..self.len + t.len()].copy_from_slice(t);
            self.len += t.len();
        }
        let crc = crc32(&self.buf[..self.len]);
        let mut tail = [0u8; 11];
        tail[0] = b' ';
        tail[1] = b'*';
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for i in 0..8 {
            tail[2 + i] = HEX[((crc >> (28 - 4 * i)) & 15) as usize];
        }
        tail[10] = b'\n';
        self.buf[self.len..self.len + 11].copy_from_slice(&tail);
        self.len += 11;
        // Every byte pushed is ASCII: the magic, digits, keys checked above,
        // escaped values and hex.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

struct RawWriter<'a>(&'a mut RecordBuf);

impl Write for RawWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.0.push(s.as_bytes()) {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

struct EscapeWriter<'a>(&'a mut RecordBuf);

impl Write for EscapeWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut ok = true;
        escape_into(s.as_bytes(), |piece| {
            if ok {
                ok = self.0.push(piece);
            }
        });
        if ok {
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}
