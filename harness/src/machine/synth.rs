//! Synthetic serial transcripts, written with the kernel's own
//! [`report::RecordBuf`], for tests and for the golden files in
//! `harness/testdata/`.

use report::{kind, RecordBuf};

/// A transcript being written.
#[derive(Debug, Clone, Default)]
pub struct Synth {
    seq: u32,
    out: Vec<u8>,
}

impl Synth {
    /// An empty transcript.
    pub fn new() -> Synth {
        Synth::default()
    }

    /// The bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }

    /// The next sequence number.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// A human line.
    pub fn human(&mut self, text: &str) -> &mut Self {
        self.out.extend_from_slice(text.as_bytes());
        self.out.push(b'\n');
        self
    }

    /// Raw bytes, as they are.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// A record with the next sequence number.
    pub fn record(&mut self, kind: &str, f: impl FnOnce(&mut RecordBuf)) -> &mut Self {
        let mut r = RecordBuf::new(self.seq, kind);
        f(&mut r);
        self.out.extend_from_slice(r.finish().as_bytes());
        self.seq += 1;
        self
    }

    /// A record that is lost on the way: its sequence number is used, its
    /// bytes never arrive.
    pub fn lose_record(&mut self) -> &mut Self {
        self.seq += 1;
        self
    }

    /// The start of a boot on a QEMU-like machine with `cpus` CPUs, up to
    /// and including the `cpus` record, from a kernel before build ids.
    pub fn boot(&mut self, cpus: u32, cmdline: &str) -> &mut Self {
        self.boot_kernel(cpus, cmdline, None)
    }

    /// [`Synth::boot`] of a kernel whose `hello` names its ELF's build id.
    pub fn boot_with_build_id(&mut self, cpus: u32, cmdline: &str, build_id: &[u8]) -> &mut Self {
        self.boot_kernel(cpus, cmdline, Some(build_id))
    }

    fn boot_kernel(&mut self, cpus: u32, cmdline: &str, build_id: Option<&[u8]>) -> &mut Self {
        self.human("static-call torture test: booting")
            .record(kind::HELLO, |r| {
                r.u64("proto", u64::from(report::PROTOCOL_VERSION))
                    .str("boot", "pvh")
                    .str("cmdline", cmdline);
                if let Some(id) = build_id {
                    r.hexbytes("build_id", id);
                }
            })
            .record(kind::MACHINE, |r| {
                r.str("vendor", "GenuineIntel")
                    .u64("family", 6)
                    .u64("model", 26)
                    .u64("stepping", 3)
                    .str("brand", "Intel Core i7 9xx (Nehalem Class Core i7)")
                    .u64("hypervisor", 1)
                    .str("hv", "TCGTCGTCGTCG")
                    .str("microcode", "na")
                    .str("apic", "xapic")
                    .u64("cpus", u64::from(cpus));
            })
            .record(kind::TSC, |r| {
                r.u64("hz", 2_400_000_000).str("source", "hpet");
            });
        for cpu in 0..cpus {
            self.record(kind::CPU, |r| {
                r.u64("cpu", u64::from(cpu))
                    .u64("apic", u64::from(cpu))
                    .str("state", if cpu == 0 { "bsp" } else { "up" });
            });
        }
        self.human(&format!("cpus: {cpus} of {cpus} up"))
            .record(kind::CPUS, |r| {
                r.u64("up", u64::from(cpus))
                    .u64("expected", u64::from(cpus));
            })
    }

    /// A `check` record.
    pub fn check(&mut self, name: &str, result: &str) -> &mut Self {
        self.record(kind::CHECK, |r| {
            r.str("name", name).str("result", result).str("detail", "-");
        })
    }

    /// A `fault` record.
    pub fn fault(&mut self, cpu: u64, vector: u64, name: &str, rip: u64) -> &mut Self {
        self.record(kind::FAULT, |r| {
            r.u64("cpu", cpu)
                .u64("vector", vector)
                .str("name", name)
                .str("err", "none")
                .hex("rip", rip)
                .hexbytes("bytes", &[0x0f, 0x0b, 0xcc, 0xcc])
                .hex("cr2", 0)
                .hex("rsp", 0x7fff0)
                .u64("tsc", 123_456);
        })
    }

    /// A `control` record.
    pub fn control(&mut self, name: &str, cpu: u64, symbol: &str, vector: &str) -> &mut Self {
        self.record(kind::CONTROL, |r| {
            r.str("name", name)
                .u64("cpu", cpu)
                .str("symbol", symbol)
                .str("vector", vector);
        })
    }

    /// The `end` record (with the right `records` count) and a human
    /// verdict line.
    pub fn end(&mut self, verdict: &str, failures: u64) -> &mut Self {
        let n = self.seq;
        self.record(kind::END, |r| {
            r.str("verdict", verdict)
                .u64("records", u64::from(n))
                .u64("failures", failures);
        })
        .human(&format!("verdict: {verdict}"))
    }
}
