//! From raw serial bytes to lines, records and damage notes.
//!
//! The serial line is a byte stream that may carry anything: a real cable
//! flips and drops bytes, a crash cuts a record in half, firmware prints
//! its own noise. So the bytes are split on `\n` only, each line is decoded
//! lossily (a byte that is not UTF-8 becomes U+FFFD, which then fails the
//! record's CRC), and every line is one of:
//!
//! * a [`Record`] whose CRC checked ([`report::parse_line`]);
//! * a [`Damage`] note: a line that claims to be a record (it holds
//!   [`report::MAGIC`]) but cannot be believed; it is counted and skipped;
//! * human text, which is echoed and otherwise ignored.
//!
//! [`Reader`] does this incrementally, as bytes arrive; [`Transcript`] keeps
//! what it found for the [judge](crate::judge).

use serde::Serialize;

/// The longest line kept whole; a longer run of bytes without `\n` is cut
/// into lines of this size (a stuck or garbled stream must not grow memory
/// without bound).
pub const MAX_LINE: usize = 64 * 1024;

/// One record that passed its CRC, with its field values decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// 1-based line number in the transcript.
    pub line: usize,
    /// The record's sequence number.
    pub seq: u32,
    /// The record's kind ([`report::kind`]).
    pub kind: String,
    /// The fields in order, values unescaped (lossily, as UTF-8).
    #[serde(serialize_with = "fields_as_object")]
    pub fields: Vec<(String, String)>,
}

fn fields_as_object<S: serde::Serializer>(
    fields: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(fields.len()))?;
    for (k, v) in fields {
        match as_number(v) {
            Some(n) => m.serialize_entry(k, &n)?,
            None => m.serialize_entry(k, v)?,
        }
    }
    m.end()
}

/// A field value that is a plain decimal count (`0`, `2596068809`) as a
/// number, so that JSON readers get numbers; anything else (hex addresses,
/// names, `007`) stays a string.
pub fn as_number(v: &str) -> Option<u64> {
    let plain =
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && (v == "0" || !v.starts_with('0'));
    plain.then(|| v.parse().ok()).flatten()
}

impl Record {
    /// Converts a parsed line. A value whose escape is broken (the CRC
    /// matched, so the kernel wrote it so) is kept as written.
    pub fn from_raw(line: usize, raw: &report::RawRecord<'_>) -> Record {
        let fields = raw
            .fields()
            .map(|f| {
                let mut bytes = Vec::new();
                let value = match f.decode(|b| bytes.push(b)) {
                    Ok(()) => String::from_utf8_lossy(&bytes).into_owned(),
                    Err(_) => f.raw.to_string(),
                };
                (f.key.to_string(), value)
            })
            .collect();
        Record {
            line,
            seq: raw.seq,
            kind: raw.kind.to_string(),
            fields,
        }
    }

    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` as a number (decimal, or hex after `0x`).
    pub fn num(&self, key: &str) -> Option<u64> {
        report::parse_num(self.get(key)?)
    }

    /// `kind k=v k=v ...` for people.
    pub fn brief(&self) -> String {
        let mut s = self.kind.clone();
        for (k, v) in &self.fields {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(v);
        }
        s
    }
}

/// A line that looked like a record but could not be believed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// 1-based line number in the transcript.
    pub line: usize,
    /// Why it was not believed ([`report::LineError`]).
    pub reason: String,
    /// The line as received (lossily decoded, cut to 200 characters).
    pub text: String,
}

/// What one line turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Text for people.
    Human(String),
    /// A believed record.
    Record(Record),
    /// A damaged record, counted and skipped.
    Damaged(Damage),
}

/// Classifies one line (without its `\n`) found at 1-based `line_no`.
pub fn classify(line_no: usize, bytes: &[u8]) -> Line {
    let text = String::from_utf8_lossy(bytes);
    match report::parse_line(&text) {
        Ok(raw) => Line::Record(Record::from_raw(line_no, &raw)),
        Err(report::LineError::NotARecord) => Line::Human(text.trim_end_matches('\r').to_string()),
        Err(e) => Line::Damaged(Damage {
            line: line_no,
            reason: e.to_string(),
            text: text.chars().take(200).collect(),
        }),
    }
}

/// Everything learned from one serial transcript.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transcript {
    /// Believed records, in arrival order.
    pub records: Vec<Record>,
    /// Damaged record lines, in arrival order.
    pub damaged: Vec<Damage>,
    /// How many lines were human text.
    pub human_lines: usize,
    /// How many lines there were in all (a last line without `\n` counts).
    pub lines: usize,
    /// How many bytes arrived.
    pub bytes: u64,
    /// Whether the transcript ended in the middle of a line.
    pub cut_mid_line: bool,
}

impl Transcript {
    /// Reads a whole saved transcript.
    pub fn from_bytes(bytes: &[u8]) -> Transcript {
        let mut r = Reader::default();
        r.push(bytes);
        r.finish();
        r.transcript
    }

    /// Whether a believed `end` record has arrived.
    pub fn has_end(&self) -> bool {
        self.records.iter().any(|r| r.kind == report::kind::END)
    }

    /// Moves to [`Transcript::damaged`] the believed records that cannot
    /// all be the boot's own: a record with a valid CRC spliced in from
    /// another boot's log (two captures in one file, a log appended to) is
    /// intact, so only its boot id or its place tells it apart.
    ///
    /// * A record whose boot id ([`report::boot_id`]) is not the id of the
    ///   boot being read is from another boot (see `disbelieve_other_boots`).
    /// * Within one boot, two records with the same sequence number and
    ///   different contents: one is foreign and nothing says which, so
    ///   neither is believed.
    /// * A record whose sequence number is beyond the boot's `end` record's:
    ///   the kernel numbers the end record last.
    ///
    /// Logs of kernels from before the boot id are held to the last two
    /// rules only: there a foreign record that takes the number of a lost
    /// one, arrives before the first `hello` or in a boot without an end
    /// record cannot be told apart, and the run it lands in has lost a
    /// record or its end, so it does not pass all the same.
    pub fn disbelieve_foreign(&mut self) {
        self.disbelieve_other_boots();
        self.disbelieve_conflicts();
    }

    /// Moves to [`Transcript::damaged`] the records whose boot id
    /// ([`report::boot_id`]) says they belong to another boot than the one
    /// being read: the boot of the last believed `hello` (a record numbered
    /// 0). A `hello` starts a boot when a later record carries its id too.
    /// A `hello` that no record of its boot follows is not believed: a
    /// spliced one looks like that, and so does a boot that died right
    /// after its `hello` (under QEMU the harness sees that death by QEMU's
    /// exit; the line stays among the damage notes either way).
    ///
    /// Before the first `hello`, a record's own boot has no `hello` in the
    /// log, so nothing there is believed, and in a log with no `hello` at
    /// all (a capture begun mid-boot) the boot is the id most records carry
    /// (none on a tie: nothing says which is foreign). Records without an
    /// id (a kernel from before the field) are held to this only where the
    /// boot's own records carry one.
    fn disbelieve_other_boots(&mut self) {
        let id = |r: &Record| r.get(report::boot_id::KEY).map(str::to_string);
        if !self.records.iter().any(|r| id(r).is_some()) {
            return;
        }
        /// The boot a record is held to.
        #[derive(PartialEq)]
        enum Boot {
            /// The boot with this id (or of records without one).
            Id(Option<String>),
            /// Before the first `hello`, whose id this is.
            BeforeHello(Option<String>),
            /// No `hello` in the log, and as many records of two ids.
            Tie,
        }
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        let mut current = match self.records.iter().find(|r| r.seq == 0) {
            Some(h) => Boot::BeforeHello(id(h)),
            None => {
                let mut counts: Vec<(Option<String>, usize)> = Vec::new();
                for r in &self.records {
                    let i = id(r);
                    match counts.iter_mut().find(|(k, _)| *k == i) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((i, 1)),
                    }
                }
                counts.sort_by_key(|c| std::cmp::Reverse(c.1));
                match counts.as_slice() {
                    [(_, n), (_, m), ..] if n == m => Boot::Tie,
                    [(top, _), ..] => Boot::Id(top.clone()),
                    [] => Boot::Tie,
                }
            }
        };
        let ids: Vec<Option<String>> = self.records.iter().map(id).collect();
        let last: std::collections::HashMap<&Option<String>, usize> =
            ids.iter().enumerate().map(|(i, v)| (v, i)).collect();
        let mut why: Vec<Option<String>> = vec![None; self.records.len()];
        for (i, (r, rid)) in self.records.iter().zip(&ids).enumerate() {
            if r.seq == 0 && current != Boot::Id(rid.clone()) {
                let follows = |v: &Option<String>| last.get(v).is_some_and(|&l| l > i);
                if follows(rid) {
                    current = Boot::Id(rid.clone());
                    continue;
                }
                if !matches!(&current, Boot::Id(c) if follows(c)) {
                    why[i] = Some(format!(
                        "a hello of boot id {} that no record of its boot follows: not believed",
                        show(rid)
                    ));
                    continue;
                }
            }
            why[i] = match &current {
                Boot::Id(c) if c == rid => None,
                Boot::Id(c) => Some(format!(
                    "record seq {} carries boot id {} in a boot whose records carry {}: it is from another boot",
                    r.seq,
                    show(rid),
                    show(c)
                )),
                Boot::BeforeHello(h) => Some(format!(
                    "record seq {} of boot id {} arrived before the first hello (boot id {}): its own boot's hello is not in the log, so it is not judged",
                    r.seq,
                    show(rid),
                    show(h)
                )),
                Boot::Tie => Some(format!(
                    "record seq {} of boot id {}: the log holds no hello and as many records of another id, so nothing says which boot is foreign",
                    r.seq,
                    show(rid)
                )),
            };
        }
        self.move_to_damaged(why);
    }

    /// Moves the records `why` gives a reason for to [`Transcript::damaged`].
    fn move_to_damaged(&mut self, mut why: Vec<Option<String>>) {
        if why.iter().all(Option::is_none) {
            return;
        }
        let records = std::mem::take(&mut self.records);
        for (i, r) in records.into_iter().enumerate() {
            match why[i].take() {
                Some(reason) => self.damaged.push(Damage {
                    line: r.line,
                    reason,
                    text: format!("seq {} {}", r.seq, r.brief())
                        .chars()
                        .take(200)
                        .collect(),
                }),
                None => self.records.push(r),
            }
        }
        self.damaged.sort_by_key(|d| d.line);
    }

    /// The rules that need no boot id: within one boot (a record numbered
    /// 0 that differs from the boot's own starts the next), two records
    /// with one number and different contents, and records numbered
    /// beyond the `end` record.
    fn disbelieve_conflicts(&mut self) {
        use std::collections::HashMap;
        let mut boot = 0usize;
        let mut first: Option<usize> = None;
        let mut boot_of = Vec::with_capacity(self.records.len());
        for (i, r) in self.records.iter().enumerate() {
            if r.seq == 0 {
                match first {
                    Some(f) if same(&self.records[f], r) => {}
                    Some(_) => {
                        boot += 1;
                        first = Some(i);
                    }
                    None if i > 0 => {
                        boot += 1;
                        first = Some(i);
                    }
                    None => first = Some(i),
                }
            }
            boot_of.push(boot);
        }
        let mut by_seq: HashMap<(usize, u32), Vec<usize>> = HashMap::new();
        for (i, r) in self.records.iter().enumerate() {
            by_seq.entry((boot_of[i], r.seq)).or_default().push(i);
        }
        let mut why: HashMap<usize, String> = HashMap::new();
        for idx in by_seq.values() {
            let r0 = &self.records[idx[0]];
            if idx.iter().any(|&i| !same(&self.records[i], r0)) {
                let lines: Vec<String> = idx
                    .iter()
                    .map(|&i| self.records[i].line.to_string())
                    .collect();
                for &i in idx {
                    why.insert(
                        i,
                        format!(
                            "record seq {} arrived with different contents (lines {}): one is from another boot, so none is believed",
                            r0.seq,
                            lines.join(", ")
                        ),
                    );
                }
            }
        }
        for (i, e) in self.records.iter().enumerate() {
            if e.kind != report::kind::END || why.contains_key(&i) {
                continue;
            }
            for (k, r) in self.records.iter().enumerate() {
                if boot_of[k] == boot_of[i] && r.seq > e.seq {
                    why.entry(k).or_insert_with(|| {
                        format!(
                            "record seq {} is beyond the end record (seq {}, line {}), which the kernel numbers last: it is from another boot",
                            r.seq, e.seq, e.line
                        )
                    });
                }
            }
        }
        let reasons = (0..self.records.len()).map(|i| why.remove(&i)).collect();
        self.move_to_damaged(reasons);
    }

    fn add(&mut self, line: &Line) {
        self.lines += 1;
        match line {
            Line::Human(_) => self.human_lines += 1,
            Line::Record(r) => self.records.push(r.clone()),
            Line::Damaged(d) => self.damaged.push(d.clone()),
        }
    }
}

/// The same record: number, kind and fields.
fn same(a: &Record, b: &Record) -> bool {
    a.seq == b.seq && a.kind == b.kind && a.fields == b.fields
}

/// Splits a byte stream into classified lines as it arrives.
#[derive(Debug, Default)]
pub struct Reader {
    partial: Vec<u8>,
    /// What has been read so far.
    pub transcript: Transcript,
}

impl Reader {
    /// Feeds bytes; returns the lines they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Line> {
        self.transcript.bytes += bytes.len() as u64;
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                out.push(self.complete(&line));
            } else {
                self.partial.push(b);
                if self.partial.len() >= MAX_LINE {
                    let line = std::mem::take(&mut self.partial);
                    out.push(self.complete(&line));
                }
            }
        }
        out
    }

    /// The stream ended: a last line without `\n` is classified too (a
    /// record cut there is damaged), then records that cannot be this
    /// boot's are disbelieved ([`Transcript::disbelieve_foreign`]).
    pub fn finish(&mut self) -> Option<Line> {
        let last = if self.partial.is_empty() {
            None
        } else {
            let line = std::mem::take(&mut self.partial);
            self.transcript.cut_mid_line = true;
            Some(self.complete(&line))
        };
        self.transcript.disbelieve_foreign();
        last
    }

    fn complete(&mut self, bytes: &[u8]) -> Line {
        let line = classify(self.transcript.lines + 1, bytes);
        self.transcript.add(&line);
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_counts_become_json_numbers_and_the_rest_stays_text() {
        let r = Record {
            line: 1,
            seq: 0,
            kind: "tsc".into(),
            fields: [
                ("hz", "2596068809"),
                ("rip", "0x2000"),
                ("zero", "0"),
                ("padded", "007"),
                ("huge", "99999999999999999999999"),
                ("name", "hpet"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        };
        let j = serde_json::to_value(&r).unwrap();
        let f = &j["fields"];
        assert_eq!(f["hz"], serde_json::json!(2596068809u64));
        assert_eq!(f["zero"], serde_json::json!(0));
        assert_eq!(f["rip"], "0x2000");
        assert_eq!(f["padded"], "007");
        assert_eq!(f["huge"], "99999999999999999999999");
        assert_eq!(f["name"], "hpet");
    }

    fn rec(seq: u32, kind: &str, f: impl FnOnce(&mut report::RecordBuf)) -> String {
        let mut r = report::RecordBuf::new(seq, kind);
        f(&mut r);
        r.finish().to_string()
    }

    fn boot_log(extra: &[(usize, String)]) -> Vec<u8> {
        let mut lines = vec![
            rec(0, "hello", |r| {
                r.u64("proto", 1).str("boot", "pvh");
            }),
            rec(1, "tsc", |r| {
                r.u64("hz", 1000);
            }),
            rec(2, "end", |r| {
                r.str("verdict", "pass").u64("records", 2);
            }),
        ];
        for (at, l) in extra.iter().rev() {
            lines.insert(*at, l.clone());
        }
        lines.concat().into_bytes()
    }

    fn kinds(t: &Transcript) -> Vec<(u32, String)> {
        t.records.iter().map(|r| (r.seq, r.kind.clone())).collect()
    }

    /// Record `seq` of boot `id`, as a kernel with boot ids writes it.
    fn in_boot(id: u32, seq: u32, kind: &str, f: impl FnOnce(&mut report::RecordBuf)) -> String {
        let mut r = report::RecordBuf::new(seq, kind);
        r.boot_id(id);
        f(&mut r);
        r.finish().to_string()
    }

    /// A boot `id` with a hello, a cpu record, a lost record 2 (when `gap`),
    /// an exp result and the end.
    fn boot_with_id(id: u32, gap: bool) -> Vec<String> {
        let mut v = vec![
            in_boot(id, 0, "hello", |r| {
                r.u64("proto", 1).str("boot", "pvh");
            }),
            in_boot(id, 1, "cpu", |r| {
                r.u64("cpu", 1).str("state", "up");
            }),
        ];
        if !gap {
            v.push(in_boot(id, 2, "cpu", |r| {
                r.u64("cpu", 2).str("state", "up");
            }));
        }
        v.push(in_boot(id, 3, "end", |r| {
            r.str("verdict", "pass").u64("records", 3);
        }));
        v
    }

    #[test]
    fn a_record_of_another_boot_id_is_foreign_where_no_other_rule_sees_it() {
        let ours = 0x1111_1111;
        let theirs = 0x2222_2222;
        // The byte-identical `cpu 2` record of another boot: filling the
        // number of a lost record, before the first hello, in a log
        // without an end, as a second hello.
        let donor = in_boot(theirs, 2, "cpu", |r| {
            r.u64("cpu", 2).str("state", "up");
        });
        let hello = in_boot(theirs, 0, "hello", |r| {
            r.u64("proto", 1).str("boot", "pvh");
        });
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("fills a lost number", {
                let mut v = boot_with_id(ours, true);
                v.insert(2, donor.clone());
                v
            }),
            ("before the first hello", {
                let mut v = boot_with_id(ours, false);
                v.insert(0, donor.clone());
                v
            }),
            ("in a log without an end", {
                let mut v = boot_with_id(ours, true);
                v.pop();
                v.push(donor.clone());
                v
            }),
            ("a hello in the middle", {
                let mut v = boot_with_id(ours, false);
                v.insert(2, hello.clone());
                v
            }),
        ];
        for (what, lines) in cases {
            let t = Transcript::from_bytes(lines.concat().as_bytes());
            assert!(
                t.records
                    .iter()
                    .all(|r| r.get("boot_id") == Some("11111111")),
                "{what}: a record of boot 22222222 believed: {:#?}",
                t.records
            );
            assert_eq!(t.damaged.len(), 1, "{what}: {:#?}", t.damaged);
            assert!(
                t.damaged[0].reason.contains("boot id 22222222")
                    && !t.damaged[0].reason.contains("boot id 11111111 "),
                "{what}: {:#?}",
                t.damaged
            );
        }
    }

    #[test]
    fn two_boots_with_ids_in_one_capture_are_both_believed() {
        let mut lines = boot_with_id(0xaaaa_aaaa, false);
        lines.extend(boot_with_id(0xbbbb_bbbb, false));
        let t = Transcript::from_bytes(lines.concat().as_bytes());
        assert_eq!(t.records.len(), 8, "{:#?}", t.damaged);
        assert!(t.damaged.is_empty(), "{:#?}", t.damaged);
        // A capture that starts mid-boot: its records are believed too.
        let late: Vec<String> = boot_with_id(0xaaaa_aaaa, false).split_off(1);
        let t = Transcript::from_bytes(late.concat().as_bytes());
        assert_eq!(t.records.len(), 3, "{:#?}", t.damaged);
    }

    #[test]
    fn before_the_first_hello_a_tie_of_ids_believes_neither() {
        let a = in_boot(1, 5, "cpu", |r| {
            r.u64("cpu", 5);
        });
        let b = in_boot(2, 6, "cpu", |r| {
            r.u64("cpu", 6);
        });
        let t = Transcript::from_bytes([a, b].concat().as_bytes());
        assert!(t.records.is_empty(), "{:#?}", t.records);
        assert_eq!(t.damaged.len(), 2);
    }

    #[test]
    fn a_record_of_another_boot_with_a_taken_number_drops_both() {
        let foreign = rec(1, "tsc", |r| {
            r.u64("hz", 2000);
        });
        let t = Transcript::from_bytes(&boot_log(&[(2, foreign)]));
        assert_eq!(kinds(&t), [(0, "hello".into()), (2, "end".into())]);
        assert_eq!(t.damaged.len(), 2, "{:#?}", t.damaged);
        assert!(
            t.damaged[0].reason.contains("different contents"),
            "{:#?}",
            t.damaged
        );
    }

    #[test]
    fn a_record_numbered_beyond_the_end_is_foreign_wherever_it_lands() {
        for at in [1, 2, 3] {
            let foreign = rec(9, "exp", |r| {
                r.str("name", "x").str("outcome", "pass");
            });
            let t = Transcript::from_bytes(&boot_log(&[(at, foreign)]));
            assert_eq!(kinds(&t).len(), 3, "at {at}: {:#?}", t.records);
            assert!(
                t.damaged[0].reason.contains("beyond the end"),
                "{:#?}",
                t.damaged
            );
        }
    }

    #[test]
    fn a_repeated_line_and_a_second_boot_are_not_foreign() {
        let t = Transcript::from_bytes(&boot_log(&[(
            1,
            rec(1, "tsc", |r| {
                r.u64("hz", 1000);
            }),
        )]));
        assert_eq!(t.records.len(), 4);
        assert!(t.damaged.is_empty(), "{:#?}", t.damaged);
        // Two boots in one capture: the same numbers, other contents.
        let mut two = boot_log(&[]);
        two.extend(
            rec(0, "hello", |r| {
                r.u64("proto", 1).str("boot", "multiboot2");
            })
            .as_bytes(),
        );
        two.extend(
            rec(1, "tsc", |r| {
                r.u64("hz", 3000);
            })
            .as_bytes(),
        );
        let t = Transcript::from_bytes(&two);
        assert_eq!(t.records.len(), 5);
        assert!(t.damaged.is_empty(), "{:#?}", t.damaged);
    }

    #[test]
    fn a_record_split_across_reads_is_assembled() {
        let line = rec(0, "hello", |r| {
            r.u64("proto", 1).str("boot", "pvh");
        });
        let mut rd = Reader::default();
        let (a, b) = line.as_bytes().split_at(10);
        assert!(rd.push(a).is_empty(), "wanted no line before the newline");
        let got = rd.push(b);
        assert_eq!(got.len(), 1, "wanted one line, got {got:?}");
        assert!(
            matches!(&got[0], Line::Record(r) if r.kind == "hello" && r.get("boot") == Some("pvh"))
        );
    }

    #[test]
    fn bytes_that_are_not_utf8_do_not_stop_the_lines_after_them() {
        let good = rec(1, "tsc", |r| {
            r.u64("hz", 1000).str("source", "hpet");
        });
        let mut bytes = b"\xff\xfe garbage \xc3\n".to_vec();
        bytes.extend_from_slice(good.as_bytes());
        let t = Transcript::from_bytes(&bytes);
        assert_eq!(t.human_lines, 1, "wanted the garbage as one human line");
        assert_eq!(t.records.len(), 1, "wanted the record after it believed");
    }

    #[test]
    fn a_non_utf8_byte_inside_a_record_makes_it_damaged() {
        let good = rec(1, "tsc", |r| {
            r.u64("hz", 1000).str("source", "hpet");
        });
        let mut bytes = good.into_bytes();
        bytes[12] = 0xff;
        let t = Transcript::from_bytes(&bytes);
        assert_eq!(
            (t.records.len(), t.damaged.len()),
            (0, 1),
            "wanted (0 records, 1 damaged)"
        );
    }

    #[test]
    fn a_last_line_without_newline_is_cut_and_damaged() {
        let line = rec(3, "end", |r| {
            r.str("verdict", "pass").u64("records", 3);
        });
        let cut = &line.as_bytes()[..line.len() - 4];
        let t = Transcript::from_bytes(cut);
        assert!(t.cut_mid_line, "wanted the cut noticed");
        assert_eq!(
            t.damaged.len(),
            1,
            "wanted the cut record counted as damaged"
        );
        assert!(!t.has_end(), "a cut end record must not count");
    }

    #[test]
    fn an_endless_line_is_cut_into_bounded_pieces() {
        let t = Transcript::from_bytes(&vec![b'x'; MAX_LINE * 2 + 5]);
        assert_eq!(t.lines, 3, "wanted 3 lines, got {}", t.lines);
    }

    #[test]
    fn escaped_values_are_decoded() {
        let line = rec(2, "machine", |r| {
            r.str("brand", "QEMU Virtual CPU version 2.5+");
        });
        let t = Transcript::from_bytes(line.as_bytes());
        assert_eq!(
            t.records[0].get("brand"),
            Some("QEMU Virtual CPU version 2.5+")
        );
    }
}
