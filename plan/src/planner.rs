//! Target placement, and the check that torn destinations only ever trap.
//!
//! # The property
//!
//! A CPU that fetches a `rel32` operand while another CPU rewrites it may see
//! a *torn* operand: each of the 4 bytes from the old value or from the new
//! one. For every patch point (a site's `call`, or out of line a trampoline's
//! `jmp`), every pair of its key's targets and every torn mix other than old
//! and new themselves, the destination `insn + 5 + mix` must be
//!
//! * on a page that is not mapped (the CPU takes #PF), or
//! * an `int3` byte of padding, in a target page or in the site arena (#BP
//!   at an address that is no patch point),
//!
//! and never a byte of real code: a target body, a stub or a trampoline.
//!
//! Why: the torture test must be able to *fail*. A torn call that reached
//! real code could run it and return a plausible id (a target body entered
//! at its start returns a valid id; entered in its middle it executes the
//! id's bytes as instructions), or corrupt state that is noticed much later
//! or never. A broken protocol would then look fine. With every torn
//! destination trapping, each tear the hardware produces becomes an exception
//! at a known kind of address, which the kernel records as a failure.
//!
//! The same reasoning asks that old and new operands differ in several bytes
//! ([`MIN_DIFFERING_BYTES`]): operands that differ in one byte cannot tear,
//! and a protocol that is broken only for tears would pass unseen. This
//! placement makes all 4 bytes differ for every patch point and pair.
//!
//! # The placement rule
//!
//! Target `j` of key `k` is at [`TARGET_BASE`] + `R`, `R` written as four
//! bytes ("digits") `B D2 D1 D0`, with `g = 4k + j` (its global index):
//!
//! | digit | value | rule it satisfies |
//! |---|---|---|
//! | `B` (16 MiB block) | `2 g` | (1) distinct, even: 0, 2, .., 62 |
//! | `D2` (64 KiB sub-block) | `0x21 + 0x3B j + 2 k` | (2) ≥ 0x11; (3) pairwise ≥ 3 apart mod 256 |
//! | `D1` | `0x12 + 0x44 j + k` | (3) pairwise ≥ 3 apart |
//! | `D0` | `0x40 j + 0x10 (k mod 4)` | (3) within a key, a multiple of 0x40 apart |
//!
//! so the page is `R & !0xFFF` and the body starts at `R & 0xFFF` (at most
//! 0xFF0, so the 8-byte body never crosses its page). Ids are
//! [`target_id`]`(k, j)` = `0x5C00_0000 | k << 8 | j`.
//!
//! # Why the rule works
//!
//! Let `E = insn - SITE_BASE + 5` (< 2^20 + 5: the arena is 1 MiB). The
//! operand of a patch point to `R` is `o = 2^30 + R - E`.
//!
//! * By (2) the low 24 bits of `R` exceed `E`, so `o`'s top byte is exactly
//!   `0x40 + B`: no borrow, whatever the patch point. Every operand, and so
//!   every mix, has a top byte in `0x40..=0x7E`: every destination is in the
//!   target region (never the site arena, never outside the window). For
//!   keys 0 and 1 (`B < 16`) the top byte is a REX prefix, `0x40..=0x4E`:
//!   a return one byte short of a stub's tail runs it as a prefix of the
//!   tail's `mov dh`, which then misses DH ([`crate::encode`]'s checked
//!   return path; the kernel's experiments use these two keys).
//! * A mix's top byte is old's or new's; adding `E` to its low 24 bits
//!   carries at most 1. So a torn destination lies in block `B_old`,
//!   `B_old + 1`, `B_new` or `B_new + 1`. By (1) the odd blocks hold nothing
//!   and the even ones only old's and new's pages: no tear of one pair can
//!   reach the body of any third target, of this key or another.
//! * Byte `i` of `o` is `(digit_i + byte_i(2^30 - E) + carry_i) mod 256` with
//!   a carry in {0, 1}; byte 0 has none, byte 3 is fixed above. So by (3) the
//!   old and new bytes differ, as integers, by `|δ_0| ≥ 64` and `|δ_i| ≥ 2`
//!   for `i ≥ 1`. A mix taking the bytes in a set `M` from new lands at
//!   `T_old + Σ_{i∈M} δ_i 256^i`. If `t = max M ≥ 1`, the lower terms are at
//!   most `256^t - 1` in size, so the sum is at least `256^t + 1 ≥ 257` away
//!   from 0: beyond old's 8-byte body. If `M = {0}`, it is `|δ_0| ≥ 64` away.
//!   The same argument from new's side (the complement of `M`) keeps every
//!   mix off new's body.
//!
//! Hence every torn destination is in an empty block, on an unmapped page of
//! old's or new's block, or on the `int3` padding of old's or new's page.
//! [`verify`] checks this by brute force, without the argument, for any
//! plan; [`plan`] runs it before returning, and the tests run it for every
//! class, mode and count.
//!
//! Addresses depend only on `(k, j)`: every experiment maps the same target
//! pages, up to 32 of them, each in a 16 MiB block of its own.

use crate::encode::{self, STUB_LEN, TARGET_BODY_LEN};
use crate::layout::{
    self, page_of, ArenaPlan, CodeRange, CodeRef, SiteClass, GUARD_END, GUARD_START, MAX_KEYS,
    MAX_SITES_PER_KEY, MAX_TARGETS_PER_KEY, PAGE_SIZE, SITE_ARENA_SIZE, TARGET_BASE,
    TARGET_REGION_SIZE,
};
use core::fmt;
use core::ops::ControlFlow;

/// Fewest operand bytes in which old and new must differ (4 is achieved).
pub const MIN_DIFFERING_BYTES: u32 = 2;

/// The high half of every target id; the low half is `key << 8 | target`.
pub const TARGET_ID_BASE: u32 = 0x5C00_0000;

/// Size of a block of the target region (one target per even block).
pub const BLOCK_SIZE: u64 = 1 << 24;

// The rule needs one even block per target inside the region.
const _: () =
    assert!(2 * (MAX_KEYS * MAX_TARGETS_PER_KEY) as u64 * BLOCK_SIZE <= TARGET_REGION_SIZE);
// Rule (2): the lowest sub-block digit clears the largest `E`.
const _: () = assert!(0x21u64 << 16 > SITE_ARENA_SIZE + 5);

/// Offset of target `target` of `key` from [`TARGET_BASE`] (the rule in the
/// module doc).
///
/// # Panics
/// If `key` or `target` is out of range.
pub const fn target_offset(key: usize, target: usize) -> u64 {
    assert!(key < MAX_KEYS && target < MAX_TARGETS_PER_KEY);
    let (k, j) = (key as u64, target as u64);
    let block = 2 * (k * MAX_TARGETS_PER_KEY as u64 + j);
    let d2 = 0x21 + 0x3B * j + 2 * k;
    let d1 = 0x12 + 0x44 * j + k;
    let d0 = 0x40 * j + 0x10 * (k % 4);
    block << 24 | d2 << 16 | d1 << 8 | d0
}

/// Address of the body of target `target` of `key`.
///
/// # Panics
/// If `key` or `target` is out of range.
pub const fn target_addr(key: usize, target: usize) -> u64 {
    TARGET_BASE + target_offset(key, target)
}

/// The id that target `target` of `key` returns in `EAX`.
///
/// # Panics
/// If `key` or `target` is out of range.
pub const fn target_id(key: usize, target: usize) -> u32 {
    assert!(key < MAX_KEYS && target < MAX_TARGETS_PER_KEY);
    TARGET_ID_BASE | (key as u32) << 8 | target as u32
}

/// Why [`plan`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// `keys` must be in `1..=MAX_KEYS`.
    Keys {
        /// What was asked.
        asked: usize,
    },
    /// `sites_per_key` must be in `1..=MAX_SITES_PER_KEY`.
    SitesPerKey {
        /// What was asked.
        asked: usize,
    },
    /// The class cannot hold that many sites per key (a `cross-page` stub
    /// needs a page boundary of its own): see
    /// [`SiteClass::max_sites_per_key`].
    ClassTooSmall {
        /// The class.
        class: SiteClass,
        /// What was asked.
        asked: usize,
        /// What the class holds.
        most: usize,
    },
    /// `targets_per_key` must be in `2..=MAX_TARGETS_PER_KEY` (one target
    /// cannot be retargeted).
    TargetsPerKey {
        /// What was asked.
        asked: usize,
    },
    /// The placement failed its own check: a bug in this crate.
    Unsafe(PlanViolation),
    /// A shape other than `call` asked of an out-of-line plan, whose one
    /// patched instruction per key is a trampoline's `jmp`.
    OutOfLineShape,
    /// The shape's half of the proof failed ([`verify_shape`]): a bug in
    /// this crate.
    Shape(ShapeViolation),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Keys { asked } => write!(f, "{asked} keys asked, 1..={MAX_KEYS} allowed"),
            PlanError::SitesPerKey { asked } => {
                write!(
                    f,
                    "{asked} sites per key asked, 1..={MAX_SITES_PER_KEY} allowed"
                )
            }
            PlanError::ClassTooSmall { class, asked, most } => write!(
                f,
                "{asked} sites per key asked, class `{class}` holds at most {most} \
                 (a page boundary each)"
            ),
            PlanError::TargetsPerKey { asked } => {
                write!(
                    f,
                    "{asked} targets per key asked, 2..={MAX_TARGETS_PER_KEY} allowed"
                )
            }
            PlanError::Unsafe(v) => write!(f, "the planner built an unsafe plan: {v}"),
            PlanError::OutOfLineShape => {
                write!(f, "only a `call` shape can be planned out of line")
            }
            PlanError::Shape(v) => write!(f, "the shape's proof failed: {v}"),
        }
    }
}

impl core::error::Error for PlanError {}

/// Places `keys` keys of `sites_per_key` sites and `targets_per_key`
/// targets, every patch point of class `class`, and checks the result with
/// [`verify`].
///
/// Out of line (`outofline`), every stub calls its key's trampoline and only
/// the trampolines are patch points (and of class `class`); the stubs are
/// still placed at `class`'s offsets.
pub fn plan(
    keys: usize,
    sites_per_key: usize,
    targets_per_key: usize,
    class: SiteClass,
    outofline: bool,
) -> Result<ArenaPlan, PlanError> {
    if !(1..=MAX_KEYS).contains(&keys) {
        return Err(PlanError::Keys { asked: keys });
    }
    if !(1..=MAX_SITES_PER_KEY).contains(&sites_per_key) {
        return Err(PlanError::SitesPerKey {
            asked: sites_per_key,
        });
    }
    if sites_per_key > class.max_sites_per_key() {
        return Err(PlanError::ClassTooSmall {
            class,
            asked: sites_per_key,
            most: class.max_sites_per_key(),
        });
    }
    if !(2..=MAX_TARGETS_PER_KEY).contains(&targets_per_key) {
        return Err(PlanError::TargetsPerKey {
            asked: targets_per_key,
        });
    }
    let mut p = ArenaPlan {
        keys,
        sites_per_key,
        targets_per_key,
        class,
        outofline,
        labels: false,
        short_labels: false,
        ret0: false,
        sites: [[0; MAX_SITES_PER_KEY]; MAX_KEYS],
        trampolines: [0; MAX_KEYS],
        targets: [[0; MAX_TARGETS_PER_KEY]; MAX_KEYS],
        ids: [[0; MAX_TARGETS_PER_KEY]; MAX_KEYS],
    };
    for k in 0..keys {
        for i in 0..sites_per_key {
            p.sites[k][i] = layout::site_addr(k, i, class);
        }
        if outofline {
            p.trampolines[k] = layout::trampoline_addr(k, class);
        }
        for j in 0..targets_per_key {
            p.targets[k][j] = target_addr(k, j);
            p.ids[k][j] = target_id(k, j);
        }
    }
    verify(&p).map_err(PlanError::Unsafe)?;
    Ok(p)
}

/// What lies at an address of the window, for a given plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Landing {
    /// Not mapped: executing there faults with #PF.
    Unmapped,
    /// An `int3` byte of padding (site arena or target page).
    Trap,
    /// A byte of real code.
    Code(CodeRef),
    /// Outside the window `[GUARD_START, GUARD_END)`: nothing is promised
    /// there (kernel memory may be mapped).
    Outside,
}

/// What a CPU that jumps to `addr` would find, given the plan.
///
/// The kernel can use it to explain a fault or a stray #BP (was RIP a torn
/// destination?): it needs little stack and, on a plan whose stubs are in
/// address order (every plan [`verify`] accepts), a binary search over the
/// stubs, so it is fit for an exception handler. [`verify`] makes the same
/// judgement for every torn mix.
pub fn classify_landing(addr: u64, plan: &ArenaPlan) -> Landing {
    if !(GUARD_START..GUARD_END).contains(&addr) {
        return Landing::Outside;
    }
    if !layout::in_site_arena(addr) && !plan.target_pages().any(|p| p == page_of(addr)) {
        return Landing::Unmapped;
    }
    match code_at(plan, addr) {
        Some(r) => Landing::Code(r.what),
        None => Landing::Trap,
    }
}

/// Stub number `n` of the plan (key after key), as a code range.
fn stub(plan: &ArenaPlan, n: usize) -> CodeRange {
    let (key, index) = (n / plan.sites_per_key, n % plan.sites_per_key);
    CodeRange {
        what: CodeRef::Stub { key, index },
        addr: plan.sites[key][index],
        len: STUB_LEN as u64,
    }
}

/// The piece of code that holds `addr`, if any: a binary search for the
/// last stub that starts at or below it (the stubs must be in ascending
/// address order and disjoint, which [`check_structure`] checks first),
/// then the few trampolines and targets.
fn code_at(plan: &ArenaPlan, addr: u64) -> Option<CodeRange> {
    let n = plan.keys * plan.sites_per_key;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if stub(plan, mid).addr <= addr {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if lo > 0 && stub(plan, lo - 1).contains(addr) {
        return Some(stub(plan, lo - 1));
    }
    others(plan).find(|r| r.contains(addr))
}

/// The code of the plan other than stubs: trampolines and target bodies.
fn others(plan: &ArenaPlan) -> impl Iterator<Item = CodeRange> + '_ {
    plan.code().skip(plan.keys * plan.sites_per_key)
}

/// One torn operand: patch point `insn` of `key` caught between targets
/// `old` and `new`, fetched as `mix`, sending the CPU to `landing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tear {
    /// The key.
    pub key: usize,
    /// Address of the patched instruction.
    pub insn: u64,
    /// Index of the old target.
    pub old: usize,
    /// Index of the new target.
    pub new: usize,
    /// The operand bytes fetched.
    pub mix: [u8; 4],
    /// Where the torn instruction sends the CPU.
    pub landing: u64,
}

impl fmt::Display for Tear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "key {} insn {:#x} between targets {} and {}: operand {:02x?} lands at {:#x}",
            self.key, self.insn, self.old, self.new, self.mix, self.landing
        )
    }
}

/// Why a plan is unsafe or malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanViolation {
    /// The counts are out of range.
    Counts {
        /// Keys.
        keys: usize,
        /// Sites per key.
        sites_per_key: usize,
        /// Targets per key.
        targets_per_key: usize,
    },
    /// A stub or trampoline is not wholly inside the site arena.
    OutsideSiteArena {
        /// The code.
        what: CodeRef,
        /// Its address.
        addr: u64,
    },
    /// A target body is not wholly inside the target region.
    OutsideTargetRegion {
        /// The target.
        what: CodeRef,
        /// Its address.
        addr: u64,
    },
    /// A target body crosses the end of its page.
    BodyCrossesPage {
        /// The target.
        what: CodeRef,
        /// Its address.
        addr: u64,
    },
    /// Two pieces of code share bytes.
    Overlap {
        /// One.
        a: CodeRef,
        /// The other.
        b: CodeRef,
    },
    /// Stub `b` comes after stub `a` in the plan but not above it in
    /// memory: the #BP table of a key's patch points must be sorted.
    Unsorted {
        /// The earlier stub of the plan.
        a: CodeRef,
        /// The next one.
        b: CodeRef,
    },
    /// Two targets share a page.
    SharedTargetPage {
        /// One.
        a: CodeRef,
        /// The other.
        b: CodeRef,
    },
    /// A patch point is not of the plan's class.
    WrongClass {
        /// The patch point.
        what: CodeRef,
        /// The plan's class.
        want: SiteClass,
        /// The class of its address.
        got: SiteClass,
    },
    /// Two targets return the same id: a wrong target would look right.
    DuplicateId {
        /// One.
        a: CodeRef,
        /// The other.
        b: CodeRef,
    },
    /// Old and new operands differ in too few bytes for tearing to show.
    TooFewDifferingBytes {
        /// The key.
        key: usize,
        /// The patch point.
        insn: u64,
        /// Old target.
        old: usize,
        /// New target.
        new: usize,
        /// How many bytes differ.
        differing: u32,
    },
    /// A torn destination is a byte of real code.
    TornLandsOnCode {
        /// The tear.
        tear: Tear,
        /// The code hit.
        hits: CodeRef,
    },
    /// A torn destination is outside the window.
    TornLeavesWindow {
        /// The tear.
        tear: Tear,
    },
}

impl fmt::Display for PlanViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PlanViolation::*;
        match self {
            Counts {
                keys,
                sites_per_key,
                targets_per_key,
            } => write!(
                f,
                "counts out of range: {keys} keys, {sites_per_key} sites and \
                 {targets_per_key} targets per key"
            ),
            OutsideSiteArena { what, addr } => {
                write!(f, "{what} at {addr:#x} is not inside the site arena")
            }
            OutsideTargetRegion { what, addr } => {
                write!(f, "{what} at {addr:#x} is not inside the target region")
            }
            BodyCrossesPage { what, addr } => write!(f, "{what} at {addr:#x} crosses its page"),
            Overlap { a, b } => write!(f, "{a} overlaps {b}"),
            SharedTargetPage { a, b } => write!(f, "{a} and {b} share a page"),
            Unsorted { a, b } => write!(f, "{b} is not above {a} in memory"),
            WrongClass { what, want, got } => write!(f, "{what} is `{got}`, the plan is `{want}`"),
            DuplicateId { a, b } => write!(f, "{a} and {b} return the same id"),
            TooFewDifferingBytes {
                key,
                insn,
                old,
                new,
                differing,
            } => write!(
                f,
                "key {key} insn {insn:#x}: targets {old} and {new} differ in {differing} \
                 operand bytes, at least {MIN_DIFFERING_BYTES} wanted"
            ),
            TornLandsOnCode { tear, hits } => write!(f, "{tear}, on {hits}"),
            TornLeavesWindow { tear } => write!(f, "{tear}, outside the guarded window"),
        }
    }
}

impl core::error::Error for PlanViolation {}

/// The torn mixes of two operands: every value whose each byte is old's or
/// new's, other than old and new themselves, each once (`2^d - 2` values
/// when `d` bytes differ; at most 14).
pub fn torn_mixes(old: [u8; 4], new: [u8; 4]) -> TornMixes {
    let mut differ = 0u8;
    for i in 0..4 {
        if old[i] != new[i] {
            differ |= 1 << i;
        }
    }
    TornMixes {
        old,
        new,
        differ,
        mask: 0,
    }
}

/// Iterator returned by [`torn_mixes`].
#[derive(Clone, Debug)]
pub struct TornMixes {
    old: [u8; 4],
    new: [u8; 4],
    /// Bytes in which old and new differ.
    differ: u8,
    /// The last subset of `differ` taken from new (0 before the first).
    mask: u8,
}

impl Iterator for TornMixes {
    type Item = [u8; 4];

    fn next(&mut self) -> Option<[u8; 4]> {
        // Walk the non-empty proper subsets of `differ` in increasing order.
        self.mask = self.mask.wrapping_sub(self.differ) & self.differ;
        if self.mask == 0 || self.mask == self.differ {
            self.mask = self.differ; // exhausted; stays so
            return None;
        }
        let mut mix = self.old;
        for (i, byte) in mix.iter_mut().enumerate() {
            if self.mask & 1 << i != 0 {
                *byte = self.new[i];
            }
        }
        Some(mix)
    }
}

/// How many of the 4 operand bytes differ.
pub fn differing_bytes(old: [u8; 4], new: [u8; 4]) -> u32 {
    old.iter().zip(&new).filter(|(a, b)| a != b).count() as u32
}

/// The operand of the `rel32` at `insn` that reaches `target`, if in reach.
fn operand(insn: u64, target: u64) -> Option<[u8; 4]> {
    encode::rel32(insn, target).map(i32::to_le_bytes)
}

/// Calls `visit` with every pair of every patch point, its operands, and
/// then every tear of it. Pairs are unordered: the tears of (old, new) and
/// (new, old) are the same set.
fn for_each_pair<B>(
    plan: &ArenaPlan,
    mut visit: impl FnMut(Pair) -> ControlFlow<B>,
) -> ControlFlow<B> {
    for key in 0..plan.keys() {
        for &insn in plan.patch_points(key) {
            let targets = plan.targets(key);
            for old in 0..targets.len() {
                for new in old + 1..targets.len() {
                    visit(Pair {
                        key,
                        insn,
                        old,
                        new,
                        old_op: operand(insn, targets[old]),
                        new_op: operand(insn, targets[new]),
                    })?;
                }
            }
        }
    }
    ControlFlow::Continue(())
}

/// One (patch point, old, new) of a plan, with the two operands (`None`
/// when out of reach).
struct Pair {
    key: usize,
    insn: u64,
    old: usize,
    new: usize,
    old_op: Option<[u8; 4]>,
    new_op: Option<[u8; 4]>,
}

impl Pair {
    fn tears(&self) -> impl Iterator<Item = Tear> + '_ {
        let (old_op, new_op) = (
            self.old_op.unwrap_or_default(),
            self.new_op.unwrap_or_default(),
        );
        torn_mixes(old_op, new_op).map(move |mix| Tear {
            key: self.key,
            insn: self.insn,
            old: self.old,
            new: self.new,
            mix,
            landing: encode::rel32_dest(self.insn, i32::from_le_bytes(mix)),
        })
    }
}

/// Every content a patch point's 5 bytes can have while one pass of the
/// `int3` protocol moves it from `old` to `new`, as an instruction fetch on
/// another CPU may read it: `old`; `CC` over old's first byte; then the 4
/// new operand bytes landing in any order and any tear (each byte old's or
/// new's), still under `CC`; then `new`. Calls `f` with each, 18 in all.
pub fn int3_pass_states(old: [u8; 5], new: [u8; 5], f: &mut dyn FnMut([u8; 5])) {
    f(old);
    for m in 0u8..16 {
        let mut b = old;
        b[0] = encode::INT3;
        for i in 0..4 {
            if m & (1 << i) != 0 {
                b[1 + i] = new[1 + i];
            }
        }
        f(b);
    }
    f(new);
}

/// The first state that `pass` leaves between `old` and `new` that a CPU
/// could decode as something else than `old` or `new`: a state other than
/// those two whose first byte is not `CC`, or one of those two whose first
/// byte is. None when there is none.
pub(crate) fn uncovered_state(
    old: [u8; 5],
    new: [u8; 5],
    pass: impl FnOnce([u8; 5], [u8; 5], &mut dyn FnMut([u8; 5])),
) -> Option<[u8; 5]> {
    let mut bad = None;
    pass(old, new, &mut |b| {
        let ok = if b == old || b == new {
            b[0] != encode::INT3
        } else {
            b[0] == encode::INT3
        };
        if !ok && bad.is_none() {
            bad = Some(b);
        }
    });
    bad
}

/// What breaks the proof for a shape other than `call`
/// ([`verify_shape`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeViolation {
    /// A state of a move between an instruction and the NOP that a CPU
    /// could execute without trapping.
    Uncovered {
        /// The patch point's address.
        point: u64,
        /// The instruction before the move.
        old: [u8; 5],
        /// The instruction after it.
        new: [u8; 5],
        /// The state of the pass that does not begin with `CC`.
        state: [u8; 5],
    },
    /// `__static_call_return0` outside the site arena or on other code.
    Ret0Misplaced {
        /// Where it lies.
        at: u64,
    },
    /// A jump label outside the site arena, across a line, on a byte of
    /// other code or of another label, or not where its site's `jmp` goes.
    LabelMisplaced {
        /// The label's key.
        key: usize,
        /// The label's site.
        index: usize,
        /// Where it lies.
        label: u64,
    },
}

impl core::fmt::Display for ShapeViolation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ShapeViolation::Uncovered {
                point,
                old,
                new,
                state,
            } => write!(
                f,
                "at {point:#x}: {old:02x?} -> {new:02x?} leaves {state:02x?}"
            ),
            ShapeViolation::Ret0Misplaced { at } => {
                write!(f, "__static_call_return0 misplaced at {at:#x}")
            }
            ShapeViolation::LabelMisplaced { key, index, label } => {
                write!(
                    f,
                    "label of site {index} of key {key} misplaced at {label:#x}"
                )
            }
        }
    }
}

/// The proof for the shapes `null` and `jump`, beside [`verify`]'s for
/// calls (shape [`crate::experiment::Shape`]; the strategies they fit are
/// the in-line `int3` ones):
///
/// 1. For every patch point of `plan` and every move between one of its
///    instructions (a target's `call`, or the `jmp` to the site's label)
///    and the NOP, or `ret0`'s [`encode::XOR5RAX`]
///    ([`ArenaPlan::null_target`]), in both directions, every
///    state of the pass ([`int3_pass_states`]) other than the old and the
///    new instruction begins with `CC`, so a CPU that fetches it traps
///    before it decodes any other byte; and neither end has a `CC` first
///    byte, so a point's first byte tells a cover from an instruction
///    (what `plan::stale` and the #BP handler read).
/// 2. With jump labels, each site's `jmp` reaches its own label, which lies
///    in the site arena inside one line and shares no byte with any stub,
///    trampoline, target or other label; with `ret0`,
///    `__static_call_return0` lies in the arena and shares no byte with
///    any stub, trampoline or target.
///
/// Returns the first violation. A `call` plan passes step 1 trivially
/// only if it has no NOP: the kernel runs this for `null` and `jump`.
pub fn verify_shape(plan: &ArenaPlan) -> Result<(), ShapeViolation> {
    if plan.outofline() {
        return Ok(());
    }
    for key in 0..plan.keys() {
        for &pt in plan.patch_points(key) {
            let nop = plan.insn_bytes(key, pt, plan.null_target());
            for t in 0..plan.targets_per_key() {
                let insn = plan.insn_bytes(key, pt, t);
                for (old, new) in [(insn, nop), (nop, insn)] {
                    if let Some(state) = uncovered_state(old, new, int3_pass_states) {
                        return Err(ShapeViolation::Uncovered {
                            point: pt,
                            old,
                            new,
                            state,
                        });
                    }
                }
            }
        }
    }
    // `__static_call_return0` on its own, in the arena.
    if let Some((at, body)) = plan.ret0_body() {
        let last = at + body.len() as u64 - 1;
        let alone = (at..=last).all(|b| code_at(plan, b).is_none())
            && others(plan).all(|r| !(r.addr <= last && at < r.addr + r.len));
        if !(layout::in_site_arena(at) && layout::in_site_arena(last) && alone) {
            return Err(ShapeViolation::Ret0Misplaced { at });
        }
    }
    for (n, (key, index, label, _)) in plan.jump_labels().enumerate() {
        let site = plan.sites(key)[index];
        let last = label + encode::TARGET_BODY_LEN as u64 - 1;
        let jumps_there =
            encode::decode_jmp_dest(&plan.insn_bytes(key, site, 0), site) == Some(label);
        let alone = (label..=last).all(|b| code_at(plan, b).is_none())
            && others(plan).all(|r| !(r.addr <= last && label < r.addr + r.len))
            && plan
                .jump_labels()
                .skip(n + 1)
                .all(|(_, _, other, _)| other / layout::LINE_SIZE != label / layout::LINE_SIZE);
        if !(jumps_there
            && layout::in_site_arena(label)
            && label / layout::LINE_SIZE == last / layout::LINE_SIZE
            && alone)
        {
            return Err(ShapeViolation::LabelMisplaced { key, index, label });
        }
    }
    Ok(())
}

/// Checks a plan, whatever built it: counts, bounds, no overlaps, one page
/// per target, the class of every patch point, distinct ids, and for every
/// patch point, pair of targets and torn mix that the destination traps
/// (see the module doc). The first problem found is returned.
pub fn verify(plan: &ArenaPlan) -> Result<(), PlanViolation> {
    check_structure(plan)?;
    let flow = for_each_pair(plan, |pair| {
        let differing = match (pair.old_op, pair.new_op) {
            (Some(a), Some(b)) => differing_bytes(a, b),
            // Out of reach is ruled out by the bounds checked above; if it
            // ever were not, refuse rather than judge a wrapped operand.
            _ => 0,
        };
        if differing < MIN_DIFFERING_BYTES {
            return ControlFlow::Break(PlanViolation::TooFewDifferingBytes {
                key: pair.key,
                insn: pair.insn,
                old: pair.old,
                new: pair.new,
                differing,
            });
        }
        for tear in pair.tears() {
            match classify_landing(tear.landing, plan) {
                Landing::Unmapped | Landing::Trap => {}
                Landing::Code(hits) => {
                    return ControlFlow::Break(PlanViolation::TornLandsOnCode { tear, hits })
                }
                Landing::Outside => {
                    return ControlFlow::Break(PlanViolation::TornLeavesWindow { tear })
                }
            }
        }
        ControlFlow::Continue(())
    });
    match flow {
        ControlFlow::Break(v) => Err(v),
        ControlFlow::Continue(()) => Ok(()),
    }
}

/// The structural half of [`verify`].
fn check_structure(plan: &ArenaPlan) -> Result<(), PlanViolation> {
    if !(1..=MAX_KEYS).contains(&plan.keys)
        || !(1..=MAX_SITES_PER_KEY).contains(&plan.sites_per_key)
        || plan.sites_per_key > plan.class.max_sites_per_key()
        || !(2..=MAX_TARGETS_PER_KEY).contains(&plan.targets_per_key)
    {
        return Err(PlanViolation::Counts {
            keys: plan.keys,
            sites_per_key: plan.sites_per_key,
            targets_per_key: plan.targets_per_key,
        });
    }
    for r in plan.code() {
        let last = r.addr.wrapping_add(r.len - 1);
        match r.what {
            CodeRef::Stub { .. } | CodeRef::Trampoline { .. } => {
                if !(layout::in_site_arena(r.addr) && layout::in_site_arena(last) && last > r.addr)
                {
                    return Err(PlanViolation::OutsideSiteArena {
                        what: r.what,
                        addr: r.addr,
                    });
                }
            }
            CodeRef::Target { .. } => {
                let region = TARGET_BASE..TARGET_BASE + TARGET_REGION_SIZE;
                if !(region.contains(&r.addr) && region.contains(&last) && last > r.addr) {
                    return Err(PlanViolation::OutsideTargetRegion {
                        what: r.what,
                        addr: r.addr,
                    });
                }
                if page_of(r.addr) != page_of(last) {
                    return Err(PlanViolation::BodyCrossesPage {
                        what: r.what,
                        addr: r.addr,
                    });
                }
            }
        }
    }
    // Stubs in ascending order and disjoint: each against the next.
    for n in 1..plan.keys * plan.sites_per_key {
        let (a, b) = (stub(plan, n - 1), stub(plan, n));
        if b.addr < a.addr + a.len {
            return Err(if b.addr > a.addr {
                PlanViolation::Overlap {
                    a: a.what,
                    b: b.what,
                }
            } else {
                PlanViolation::Unsorted {
                    a: a.what,
                    b: b.what,
                }
            });
        }
    }
    // The few other pieces: against every stub (through the search, byte
    // by byte) and against each other.
    for (n, a) in others(plan).enumerate() {
        for byte in a.addr..a.addr + a.len {
            let hit = code_at(plan, byte).filter(|r| matches!(r.what, CodeRef::Stub { .. }));
            if let Some(s) = hit {
                return Err(PlanViolation::Overlap {
                    a: s.what,
                    b: a.what,
                });
            }
        }
        for b in others(plan).skip(n + 1) {
            if a.addr < b.addr + b.len && b.addr < a.addr + a.len {
                return Err(PlanViolation::Overlap {
                    a: a.what,
                    b: b.what,
                });
            }
            let both_targets = matches!(
                (a.what, b.what),
                (CodeRef::Target { .. }, CodeRef::Target { .. })
            );
            if both_targets && page_of(a.addr) == page_of(b.addr) {
                return Err(PlanViolation::SharedTargetPage {
                    a: a.what,
                    b: b.what,
                });
            }
        }
    }
    for key in 0..plan.keys {
        for (index, &insn) in plan.patch_points(key).iter().enumerate() {
            let got = layout::classify(insn);
            if got != plan.class {
                let what = if plan.outofline {
                    CodeRef::Trampoline { key }
                } else {
                    CodeRef::Stub { key, index }
                };
                return Err(PlanViolation::WrongClass {
                    what,
                    want: plan.class,
                    got,
                });
            }
        }
    }
    let ids = || {
        (0..plan.keys).flat_map(move |key| {
            plan.ids(key)
                .iter()
                .enumerate()
                .map(move |(target, &id)| (CodeRef::Target { key, target }, id))
        })
    };
    for (n, (a, ia)) in ids().enumerate() {
        if let Some((b, _)) = ids().skip(n + 1).find(|&(_, ib)| ib == ia) {
            return Err(PlanViolation::DuplicateId { a, b });
        }
    }
    Ok(())
}

/// Where the tears of a plan land, counted (for reports and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// (patch point, unordered pair) combinations.
    pub pairs: u32,
    /// Torn mixes, over all pairs.
    pub tears: u32,
    /// Tears that land on an unmapped page.
    pub unmapped: u32,
    /// Tears that land on `int3` padding.
    pub trap: u32,
    /// Tears that land on code (0 for a safe plan).
    pub code: u32,
    /// Tears that leave the window (0 for a safe plan).
    pub outside: u32,
    /// Fewest differing operand bytes over all pairs.
    pub min_differing_bytes: u32,
}

/// Counts where every tear of `plan` lands.
pub fn census(plan: &ArenaPlan) -> Census {
    let mut c = Census {
        min_differing_bytes: 4,
        ..Census::default()
    };
    let _ = for_each_pair(plan, |pair| -> ControlFlow<()> {
        c.pairs += 1;
        let differing = match (pair.old_op, pair.new_op) {
            (Some(a), Some(b)) => differing_bytes(a, b),
            _ => 0,
        };
        c.min_differing_bytes = c.min_differing_bytes.min(differing);
        for tear in pair.tears() {
            c.tears += 1;
            match classify_landing(tear.landing, plan) {
                Landing::Unmapped => c.unmapped += 1,
                Landing::Trap => c.trap += 1,
                Landing::Code(_) => c.code += 1,
                Landing::Outside => c.outside += 1,
            }
        }
        ControlFlow::Continue(())
    });
    c
}

// The rule's largest in-page offset (D1's low nibble 0xF, D0 0xF0) leaves
// room for the body before the end of the page.
const _: () = assert!(0xF00 + 0xF0 + TARGET_BODY_LEN as u64 <= PAGE_SIZE);

#[cfg(test)]
mod tests;
