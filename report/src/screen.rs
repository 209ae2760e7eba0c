//! The verdict screen: what a person in front of the machine sees when a run
//! ends (the VGA text screen after a BIOS boot, the firmware's framebuffer
//! after a UEFI boot).
//!
//! Pure parts, tested on the host: a [`Tally`] that reads the run's own
//! records as they are written and keeps what the summary needs, the
//! summary [`lines`](Tally::lines), and the glyph layout of a pixel screen
//! ([`Layout`]: scale, columns, rows, clipping). The kernel owns the pixel
//! writes.

use crate::parse::RawRecord;
use core::fmt::Write;

/// Columns of a summary line (the VGA text screen's width).
pub const COLS: usize = 80;

/// A fixed-size text that silently drops what does not fit.
#[derive(Clone, Copy)]
pub struct Line {
    buf: [u8; COLS],
    len: usize,
}

impl Line {
    /// An empty line.
    pub const fn new() -> Line {
        Line {
            buf: [0; COLS],
            len: 0,
        }
    }

    /// The text (ASCII; other bytes were written as `?`).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn push(&mut self, b: u8) {
        if self.len < COLS {
            self.buf[self.len] = if (0x20..0x7f).contains(&b) { b } else { b'?' };
            self.len += 1;
        }
    }
}

impl Default for Line {
    fn default() -> Self {
        Line::new()
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.bytes().for_each(|b| self.push(b));
        Ok(())
    }
}

/// What the summary screen shows, gathered from the run's records.
#[derive(Clone, Copy, Default)]
pub struct Tally {
    machine: Line,
    cpus: Option<(u64, u64)>,
    passed: u32,
    failed: u32,
    skipped: u32,
    first_failure: Option<Line>,
}

impl Tally {
    /// Nothing seen yet.
    pub const fn new() -> Tally {
        Tally {
            machine: Line::new(),
            cpus: None,
            passed: 0,
            failed: 0,
            skipped: 0,
            first_failure: None,
        }
    }

    /// Takes note of one record.
    pub fn observe(&mut self, r: &RawRecord) {
        match r.kind {
            crate::kind::MACHINE => {
                self.machine = Line::new();
                decode_into(r.get("brand").unwrap_or("?"), &mut self.machine);
                if r.num("hypervisor") == Some(1) {
                    let _ = self.machine.write_str(" under ");
                    decode_into(r.get("hv").unwrap_or("?"), &mut self.machine);
                }
            }
            crate::kind::CPUS => {
                if let (Some(up), Some(exp)) = (r.num("up"), r.num("expected")) {
                    self.cpus = Some((up, exp));
                }
            }
            crate::kind::EXP => match (r.get("outcome"), r.num("met")) {
                (Some("skip"), _) => self.skipped += 1,
                (_, Some(1)) => self.passed += 1,
                _ => self.failed += 1,
            },
            _ => {}
        }
        if self.first_failure.is_none() && is_failure(r) {
            let mut l = Line::new();
            let _ = l.write_str(r.kind);
            for f in r.fields() {
                let _ = write!(l, " {}=", f.key);
                decode_into(f.raw, &mut l);
            }
            self.first_failure = Some(l);
        }
    }

    /// The summary, one line at a time; the first is the verdict.
    pub fn lines(&self, pass: bool, failures: u32, mut out: impl FnMut(&Line)) {
        let mut l = Line::new();
        let _ = write!(
            l,
            "static-call torture: {} ({failures} failure(s))",
            if pass { "PASS" } else { "FAIL" }
        );
        out(&l);
        let mut l = Line::new();
        let machine = if self.machine.len == 0 {
            "unknown"
        } else {
            self.machine.as_str()
        };
        let _ = write!(l, "machine: {machine}");
        out(&l);
        let mut l = Line::new();
        let _ = match self.cpus {
            Some((up, exp)) => write!(l, "cpus: {up} of {exp} up"),
            None => write!(l, "cpus: not started"),
        };
        out(&l);
        let mut l = Line::new();
        let _ = write!(
            l,
            "experiments: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        );
        out(&l);
        let mut l = Line::new();
        let _ = l.write_str("first failure: ");
        match &self.first_failure {
            Some(f) => {
                let _ = l.write_str(f.as_str());
            }
            None => {
                let _ = l.write_str("none");
            }
        }
        out(&l);
        let mut l = Line::new();
        let _ = l.write_str("full report on COM1");
        out(&l);
    }
}

/// Whether a record reports a failure: a fault, a panic, a failed check, a
/// failure or deadlock inside an experiment, or an experiment that did not
/// meet its expectation.
fn is_failure(r: &RawRecord) -> bool {
    match r.kind {
        crate::kind::FAULT | crate::kind::PANIC | crate::kind::FAILURE | crate::kind::DEADLOCK => {
            true
        }
        crate::kind::CHECK => r.get("result") == Some("fail"),
        crate::kind::EXP => r.get("outcome") != Some("skip") && r.num("met") != Some(1),
        _ => false,
    }
}

fn decode_into(raw: &str, l: &mut Line) {
    let f = crate::parse::Field { key: "", raw };
    if f.decode(|b| l.push(b)).is_err() {
        let _ = l.write_str(raw);
    }
}

/// Where text goes on a pixel screen of 8x16 glyphs: the largest whole
/// scale (1 to 3) at which [`COLS`] columns fit, and how many columns and
/// rows the screen then holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Pixels per glyph pixel, in both directions.
    pub scale: u32,
    /// Columns that fit.
    pub cols: u32,
    /// Rows that fit.
    pub rows: u32,
}

/// Glyph width in pixels at scale 1.
pub const GLYPH_W: u32 = 8;
/// Glyph height in pixels at scale 1.
pub const GLYPH_H: u32 = 16;

impl Layout {
    /// The layout for a screen of `width` x `height` pixels.
    pub fn for_screen(width: u32, height: u32) -> Layout {
        let scale = (1..=3)
            .rev()
            .find(|s| width / (GLYPH_W * s) >= COLS as u32)
            .unwrap_or(1);
        Layout {
            scale,
            cols: width / (GLYPH_W * scale),
            rows: height / (GLYPH_H * scale),
        }
    }

    /// Calls `put(x, y, on)` for every pixel of `text` drawn at text row
    /// `row`, one glyph per byte (`glyph` gives its 16 rows, bit 7 the
    /// leftmost pixel). Text beyond the last column, and rows beyond the
    /// last, are clipped.
    pub fn draw(
        &self,
        row: u32,
        text: &[u8],
        glyph: impl Fn(u8) -> [u8; 16],
        mut put: impl FnMut(u32, u32, bool),
    ) {
        if row >= self.rows {
            return;
        }
        let s = self.scale;
        for (col, &b) in text.iter().enumerate().take(self.cols as usize) {
            let g = glyph(b);
            for (gy, bits) in g.iter().enumerate() {
                for gx in 0..GLYPH_W {
                    let on = bits & (0x80 >> gx) != 0;
                    let x0 = (col as u32 * GLYPH_W + gx) * s;
                    let y0 = (row * GLYPH_H + gy as u32) * s;
                    for dy in 0..s {
                        for dx in 0..s {
                            put(x0 + dx, y0 + dy, on);
                        }
                    }
                }
            }
        }
    }
}

/// A colour packed for an RGB framebuffer whose channels sit at the given
/// bit positions and are `size` bits wide.
pub fn pack_rgb(rgb: (u8, u8, u8), pos: (u8, u8, u8), size: (u8, u8, u8)) -> u32 {
    fn chan(v: u8, pos: u8, size: u8) -> u32 {
        let size = size.min(8);
        (u32::from(v) >> (8 - size))
            .checked_shl(u32::from(pos))
            .unwrap_or(0)
    }
    chan(rgb.0, pos.0, size.0) | chan(rgb.1, pos.1, size.1) | chan(rgb.2, pos.2, size.2)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::parse::parse_line;
    use crate::write::RecordBuf;

    fn rec(seq: u32, kind: &str, fill: impl FnOnce(&mut RecordBuf)) -> RecordBuf {
        let mut r = RecordBuf::new(seq, kind);
        fill(&mut r);
        r
    }

    fn feed(t: &mut Tally, mut r: RecordBuf) {
        let line = r.finish();
        let line = line.trim_end();
        t.observe(&parse_line(line).expect("a record we wrote parses"));
    }

    fn all_lines(t: &Tally, pass: bool, failures: u32) -> std::vec::Vec<std::string::String> {
        let mut v = std::vec::Vec::new();
        t.lines(pass, failures, |l| v.push(l.as_str().into()));
        v
    }

    #[test]
    fn a_clean_run_shows_machine_cpus_and_counts() {
        let mut t = Tally::new();
        feed(
            &mut t,
            rec(0, crate::kind::MACHINE, |r| {
                r.bytes_escaped("brand", b"QEMU Virtual CPU")
                    .u64("hypervisor", 1)
                    .bytes_escaped("hv", b"TCGTCGTCGTCG");
            }),
        );
        feed(
            &mut t,
            rec(1, crate::kind::CPUS, |r| {
                r.u64("up", 4).u64("expected", 4);
            }),
        );
        for (i, outcome) in ["pass", "pass", "skip"].iter().enumerate() {
            feed(
                &mut t,
                rec(2 + i as u32, crate::kind::EXP, |r| {
                    r.str("name", "x")
                        .str("outcome", outcome)
                        .u64("met", u64::from(*outcome == "pass"));
                }),
            );
        }
        let lines = all_lines(&t, true, 0);
        assert_eq!(
            lines,
            [
                "static-call torture: PASS (0 failure(s))",
                "machine: QEMU Virtual CPU under TCGTCGTCGTCG",
                "cpus: 4 of 4 up",
                "experiments: 2 passed, 0 failed, 1 skipped",
                "first failure: none",
                "full report on COM1",
            ]
        );
    }

    #[test]
    fn the_first_failure_is_kept_and_later_ones_are_not() {
        let mut t = Tally::new();
        feed(
            &mut t,
            rec(0, crate::kind::CHECK, |r| {
                r.str("name", "tsc").str("result", "pass");
            }),
        );
        feed(
            &mut t,
            rec(1, crate::kind::FAULT, |r| {
                r.u64("cpu", 1).u64("vector", 6).str("msg", "a b");
            }),
        );
        feed(
            &mut t,
            rec(2, crate::kind::PANIC, |r| {
                r.str("msg", "later");
            }),
        );
        let lines = all_lines(&t, false, 2);
        assert_eq!(lines[0], "static-call torture: FAIL (2 failure(s))");
        assert_eq!(lines[4], "first failure: fault cpu=1 vector=6 msg=a b");
    }

    #[test]
    fn an_experiment_that_misses_its_expectation_counts_as_failed() {
        let mut t = Tally::new();
        feed(
            &mut t,
            rec(0, crate::kind::EXP, |r| {
                r.str("name", "int3/x").str("outcome", "fail").u64("met", 0);
            }),
        );
        let lines = all_lines(&t, false, 1);
        assert_eq!(lines[3], "experiments: 0 passed, 1 failed, 0 skipped");
        assert!(
            lines[4].starts_with("first failure: exp name=int3/x"),
            "wanted the exp record as first failure, got {:?}",
            lines[4]
        );
    }

    #[test]
    fn long_lines_are_cut_at_eighty_columns_and_control_bytes_become_question_marks() {
        let mut l = Line::new();
        let _ = l.write_str("a\tb");
        assert_eq!(l.as_str(), "a?b");
        for _ in 0..100 {
            let _ = l.write_str("x");
        }
        assert_eq!(l.as_str().len(), COLS);
    }

    #[test]
    fn the_scale_is_the_largest_at_which_eighty_columns_fit() {
        assert_eq!(
            Layout::for_screen(640, 480),
            Layout {
                scale: 1,
                cols: 80,
                rows: 30
            }
        );
        assert_eq!(Layout::for_screen(1280, 800).scale, 2);
        assert_eq!(Layout::for_screen(2560, 1600).scale, 3);
        assert_eq!(Layout::for_screen(320, 200).scale, 1);
    }

    #[test]
    fn drawing_clips_columns_and_rows_to_the_screen() {
        let l = Layout::for_screen(16, 32); // 2 columns, 2 rows
        let mut max = (0, 0);
        let mut count = 0;
        l.draw(
            1,
            b"abc",
            |_| [0xff; 16],
            |x, y, on| {
                assert!(on);
                max = (max.0.max(x), max.1.max(y));
                count += 1;
            },
        );
        assert_eq!(max, (15, 31), "pixels stay on the screen");
        assert_eq!(count, 2 * 8 * 16, "two glyphs of the three fit");
        l.draw(
            2,
            b"a",
            |_| [0xff; 16],
            |_, _, _| panic!("row 2 is off screen"),
        );
    }

    #[test]
    fn a_glyph_is_drawn_leftmost_bit_first_and_scaled() {
        let l = Layout {
            scale: 2,
            cols: 1,
            rows: 1,
        };
        let mut on = std::vec::Vec::new();
        let mut g = [0u8; 16];
        g[0] = 0x80;
        l.draw(
            0,
            b"x",
            |_| g,
            |x, y, o| {
                if o {
                    on.push((x, y));
                }
            },
        );
        assert_eq!(on, [(0, 0), (1, 0), (0, 1), (1, 1)]);
    }

    #[test]
    fn colours_pack_into_the_framebuffer_channel_positions() {
        // The usual 32-bit BGRX layout: red at 16, green at 8, blue at 0.
        assert_eq!(
            pack_rgb((0xff, 0x80, 0x01), (16, 8, 0), (8, 8, 8)),
            0x00ff_8001
        );
        // 5:6:5.
        assert_eq!(pack_rgb((0xff, 0xff, 0xff), (11, 5, 0), (5, 6, 5)), 0xffff);
    }
}
