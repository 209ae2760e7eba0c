//! A small client of GDB's remote serial protocol, enough to stop a QEMU
//! guest, read its vCPUs' registers and memory, write one byte, and let
//! it go: `$payload#cs` packets acknowledged with `+`, `?`,
//! `qfThreadInfo`/`qsThreadInfo`, `Hg`, `g`, `m`, `M`, `D`.
//!
//! The framing, checksums and reply parsers are pure functions
//! ([`frame`], [`Decoder`], [`parse_thread_list`], [`parse_x86_64_regs`],
//! [`decode_hex`]); [`Client`] does the I/O on a Unix socket, every read
//! under a timeout.
//!
//! QEMU's gdbstub stops the whole VM when a debugger connects, and `D`
//! (detach) lets it run again: a [`Client`] is one short stop.

use anyhow::{bail, Context as _, Result};
use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    time::{Duration, Instant},
};

/// The protocol's checksum: the sum of the payload's bytes, modulo 256.
pub fn checksum(payload: &[u8]) -> u8 {
    payload.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// `$payload#cs`, with `#`, `$`, `}` and `*` escaped (`}` then the byte
/// xor 0x20); the checksum covers the escaped bytes, as sent.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(payload.len());
    for &b in payload {
        if matches!(b, b'#' | b'$' | b'}' | b'*') {
            body.push(b'}');
            body.push(b ^ 0x20);
        } else {
            body.push(b);
        }
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(b'$');
    out.extend_from_slice(&body);
    out.extend_from_slice(format!("#{:02x}", checksum(&body)).as_bytes());
    out
}

/// What the stub sent, one unit at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// `+`: our packet arrived intact.
    Ack,
    /// `-`: our packet arrived damaged; send it again.
    Nack,
    /// A packet whose checksum held: its payload, unescaped and with run
    /// lengths expanded.
    Packet(Vec<u8>),
    /// A packet whose checksum did not hold (answer `-`).
    Damaged,
}

/// Splits the stub's byte stream into [`Received`] units.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Takes more bytes; returns every unit now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Received> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            // Drop noise before the next unit.
            let start = self
                .buf
                .iter()
                .position(|&b| matches!(b, b'+' | b'-' | b'$'));
            let Some(start) = start else {
                self.buf.clear();
                break;
            };
            self.buf.drain(..start);
            match self.buf[0] {
                b'+' => {
                    self.buf.remove(0);
                    out.push(Received::Ack);
                }
                b'-' => {
                    self.buf.remove(0);
                    out.push(Received::Nack);
                }
                _ => {
                    let Some(hash) = self.buf.iter().position(|&b| b == b'#') else {
                        break;
                    };
                    if self.buf.len() < hash + 3 {
                        break;
                    }
                    let body = self.buf[1..hash].to_vec();
                    let cs = std::str::from_utf8(&self.buf[hash + 1..hash + 3])
                        .ok()
                        .and_then(|s| u8::from_str_radix(s, 16).ok());
                    self.buf.drain(..hash + 3);
                    out.push(match cs {
                        Some(cs) if cs == checksum(&body) => Received::Packet(unescape(&body)),
                        _ => Received::Damaged,
                    });
                }
            }
        }
        out
    }
}

/// A packet body as sent, made plain: `}x` is `x ^ 0x20`, and `c*n`
/// repeats `c` a further `n - 29` times (run-length encoding).
pub fn unescape(body: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            b'}' if i + 1 < body.len() => {
                out.push(body[i + 1] ^ 0x20);
                i += 2;
            }
            b'*' if i + 1 < body.len() && !out.is_empty() => {
                let last = out[out.len() - 1];
                let n = usize::from(body[i + 1]).saturating_sub(29);
                out.extend(std::iter::repeat_n(last, n));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Hex text as bytes (`"e9e3"` is `[0xe9, 0xe3]`); `None` if it is not.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Bytes as lowercase hex text.
pub fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The thread ids of a `qfThreadInfo`/`qsThreadInfo` reply: `m1,2` gives
/// `Some(["1", "2"])` and more may follow; `l` is the end (`Some([])`);
/// anything else is `None`.
pub fn parse_thread_list(reply: &str) -> Option<Vec<String>> {
    if reply == "l" {
        return Some(Vec::new());
    }
    let list = reply.strip_prefix('m')?;
    let ids: Vec<String> = list.split(',').map(str::to_string).collect();
    ids.iter()
        .all(|id| {
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b'p' || b == b'-')
        })
        .then_some(ids)
}

/// Serializes an address as `0x...` text (JSON numbers lose 64-bit
/// addresses' low bits in most readers).
pub fn ser_hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// [`ser_hex`] for an optional address.
pub fn ser_opt_hex<S: serde::Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_hex(v, s),
        None => s.serialize_none(),
    }
}

/// The registers the livelock check reads, of one x86_64 vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Regs {
    /// The instruction pointer.
    #[serde(serialize_with = "ser_hex")]
    pub rip: u64,
    /// The stack pointer.
    #[serde(serialize_with = "ser_hex")]
    pub rsp: u64,
    /// RFLAGS (bit 9: interrupts enabled).
    pub eflags: u32,
}

/// RIP, RSP and EFLAGS from a `g` reply of QEMU's x86_64 target in long
/// mode: 16 general registers of 8 bytes (RAX, RBX, RCX, RDX, RSI, RDI,
/// RBP, RSP, R8..R15), RIP (8 bytes), EFLAGS (4 bytes), little-endian,
/// in hex.
pub fn parse_x86_64_regs(hex: &str) -> Option<Regs> {
    let bytes = decode_hex(hex.get(..(17 * 8 + 4) * 2)?)?;
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
    Some(Regs {
        rsp: u64_at(7 * 8),
        rip: u64_at(16 * 8),
        eflags: u32::from_le_bytes(bytes[136..140].try_into().ok()?),
    })
}

/// How long one reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to QEMU's gdbstub on a Unix socket. Connecting stops the
/// VM; [`Client::detach`] lets it run.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    decoder: Decoder,
    pending: Vec<Received>,
    /// Every packet sent and received, for the evidence.
    pub log: Vec<String>,
}

impl Client {
    /// Connects to the gdbstub at `path`, trying until `within` has passed
    /// (QEMU creates the socket as it starts).
    pub fn connect(path: &Path, within: Duration) -> Result<Client> {
        let until = Instant::now() + within;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= until => {
                    return Err(e).with_context(|| {
                        format!("connecting to QEMU's gdbstub at {}", path.display())
                    })
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .context("setting the gdbstub socket's read timeout")?;
        Ok(Client {
            stream,
            decoder: Decoder::default(),
            pending: Vec::new(),
            log: Vec::new(),
        })
    }

    fn next(&mut self, until: Instant) -> Result<Received> {
        loop {
            if !self.pending.is_empty() {
                return Ok(self.pending.remove(0));
            }
            if Instant::now() >= until {
                bail!("QEMU's gdbstub did not answer within {REPLY_TIMEOUT:?}");
            }
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("QEMU's gdbstub closed the connection"),
                Ok(n) => self.pending = self.decoder.push(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e).context("reading from QEMU's gdbstub"),
            }
        }
    }

    /// Sends `payload` and returns the reply's payload as text.
    pub fn request(&mut self, payload: &str) -> Result<String> {
        let until = Instant::now() + REPLY_TIMEOUT;
        let framed = frame(payload.as_bytes());
        self.log.push(format!("-> {payload}"));
        let mut sends = 0;
        'send: loop {
            sends += 1;
            if sends > 3 {
                bail!("QEMU's gdbstub refused `{payload}` three times (bad checksum)");
            }
            self.stream
                .write_all(&framed)
                .context("writing to QEMU's gdbstub")?;
            loop {
                match self.next(until)? {
                    Received::Ack => break,
                    Received::Nack => continue 'send,
                    // A stop reply left over from before: ack and drop it.
                    Received::Packet(_) | Received::Damaged => {
                        self.stream.write_all(b"+").ok();
                    }
                }
            }
            loop {
                match self.next(until)? {
                    Received::Packet(p) => {
                        self.stream.write_all(b"+").context("acknowledging")?;
                        let text = String::from_utf8_lossy(&p).into_owned();
                        self.log.push(format!("<- {}", clip(&text)));
                        return Ok(text);
                    }
                    Received::Damaged => {
                        self.stream.write_all(b"-").context("asking again")?;
                    }
                    Received::Ack | Received::Nack => {}
                }
            }
        }
    }

    /// The stop reason (`?`): a `T`/`S` reply once the VM is stopped.
    pub fn stop_reason(&mut self) -> Result<String> {
        let r = self.request("?")?;
        if !(r.starts_with('T') || r.starts_with('S')) {
            bail!("`?` answered `{}`, not a stop reply", clip(&r));
        }
        Ok(r)
    }

    /// The vCPUs' thread ids.
    pub fn threads(&mut self) -> Result<Vec<String>> {
        let mut all = Vec::new();
        let mut q = "qfThreadInfo";
        loop {
            let r = self.request(q)?;
            let ids =
                parse_thread_list(&r).with_context(|| format!("`{q}` answered `{}`", clip(&r)))?;
            if ids.is_empty() {
                break;
            }
            all.extend(ids);
            if all.len() > 1024 {
                bail!("the gdbstub lists more than 1024 threads");
            }
            q = "qsThreadInfo";
        }
        if all.is_empty() {
            bail!("the gdbstub lists no threads");
        }
        Ok(all)
    }

    fn ok(&mut self, payload: &str) -> Result<()> {
        let r = self.request(payload)?;
        if r != "OK" {
            bail!("`{}` answered `{}`", clip(payload), clip(&r));
        }
        Ok(())
    }

    /// Selects thread `id` for `g`, `m` and `M`, and reads its registers.
    pub fn regs(&mut self, id: &str) -> Result<Regs> {
        self.ok(&format!("Hg{id}"))?;
        let r = self.request("g")?;
        parse_x86_64_regs(&r).with_context(|| format!("`g` of thread {id}: `{}`", clip(&r)))
    }

    /// Reads `len` bytes at virtual address `addr` (through the selected
    /// vCPU's page tables).
    pub fn read(&mut self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let r = self.request(&format!("m{addr:x},{len:x}"))?;
        match decode_hex(&r) {
            Some(b) if b.len() == len => Ok(b),
            _ => bail!("reading {len} bytes at {addr:#x}: `{}`", clip(&r)),
        }
    }

    /// Writes `bytes` at `addr`. QEMU writes guest memory for a debugger
    /// as a device would, and drops its translations of what it wrote.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<()> {
        self.ok(&format!(
            "M{addr:x},{:x}:{}",
            bytes.len(),
            encode_hex(bytes)
        ))
    }

    /// Detaches: the VM runs again.
    pub fn detach(mut self) -> Result<Vec<String>> {
        self.ok("D")?;
        Ok(self.log)
    }
}

fn clip(s: &str) -> String {
    if s.len() <= 80 {
        s.to_string()
    } else {
        format!("{}...", &s[..s.floor_char_boundary(80)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_framed_with_its_modulo_256_checksum() {
        // The protocol's own examples: `$?#3f`, `$g#67`.
        assert_eq!(frame(b"?"), b"$?#3f");
        assert_eq!(frame(b"g"), b"$g#67");
        assert_eq!(frame(b"qfThreadInfo"), b"$qfThreadInfo#bb");
    }

    #[test]
    fn special_bytes_are_escaped_and_the_checksum_covers_the_escape() {
        let f = frame(b"a#b");
        assert_eq!(&f[..5], b"$a}\x03b");
        assert_eq!(f[5], b'#');
        assert_eq!(
            std::str::from_utf8(&f[6..]).unwrap(),
            format!("{:02x}", checksum(b"a}\x03b"))
        );
    }

    #[test]
    fn the_decoder_yields_acks_and_checked_packets_across_split_reads() {
        let mut d = Decoder::default();
        assert_eq!(d.push(b"+$O"), vec![Received::Ack]);
        assert_eq!(d.push(b"K#9"), vec![]);
        assert_eq!(
            d.push(b"a-"),
            vec![Received::Packet(b"OK".to_vec()), Received::Nack]
        );
    }

    #[test]
    fn a_packet_with_a_wrong_checksum_is_damaged_not_believed() {
        let mut d = Decoder::default();
        assert_eq!(d.push(b"$OK#00"), vec![Received::Damaged]);
    }

    #[test]
    fn run_lengths_and_escapes_are_expanded() {
        // `0* ` is "0" and 32 - 29 = 3 more: "0000".
        assert_eq!(unescape(b"0* "), b"0000");
        assert_eq!(unescape(b"}\x03"), b"#");
    }

    #[test]
    fn hex_round_trips_and_odd_or_bad_hex_is_refused() {
        assert_eq!(decode_hex("e9e3000000"), Some(vec![0xe9, 0xe3, 0, 0, 0]));
        assert_eq!(encode_hex(&[0xcc, 0x0f]), "cc0f");
        assert_eq!(decode_hex("e9e"), None);
        assert_eq!(decode_hex("zz"), None);
    }

    #[test]
    fn thread_lists_continue_until_l() {
        assert_eq!(
            parse_thread_list("m01,02"),
            Some(vec!["01".to_string(), "02".to_string()])
        );
        assert_eq!(parse_thread_list("l"), Some(vec![]));
        assert_eq!(parse_thread_list("E01"), None);
        assert_eq!(parse_thread_list("m"), None);
    }

    #[test]
    fn rip_rsp_and_eflags_are_read_from_their_places_in_a_g_reply() {
        let mut regs = vec![0u8; 17 * 8 + 4 + 6 * 4];
        regs[7 * 8..8 * 8].copy_from_slice(&0xffff_c900_0037_b880u64.to_le_bytes());
        regs[16 * 8..17 * 8].copy_from_slice(&0xffff_ffff_81c0_0ba0u64.to_le_bytes());
        regs[136..140].copy_from_slice(&0x46u32.to_le_bytes());
        let r = parse_x86_64_regs(&encode_hex(&regs)).unwrap();
        assert_eq!(r.rip, 0xffff_ffff_81c0_0ba0);
        assert_eq!(r.rsp, 0xffff_c900_0037_b880);
        assert_eq!(r.eflags, 0x46);
        assert_eq!(parse_x86_64_regs("0011"), None);
    }
}
