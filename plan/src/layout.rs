//! Where the object under test lives in virtual memory.
//!
//! The object under test is made of *keys*; each key has up to
//! [`MAX_SITES_PER_KEY`] call *sites* and up to [`MAX_TARGETS_PER_KEY`]
//! *targets*, and retargeting a key rewrites the `rel32` operand of every
//! site of the key (or, out of line, of the key's one trampoline). All of it
//! lives far from the kernel, in a window that holds nothing else, so that a
//! torn destination (see [`crate::planner`]) can only land on padding that
//! traps or on a page that is not mapped.
//!
//! # The window
//!
//! ```text
//! GUARD_START = SITE_BASE - 2 GiB   -+
//!   ...  unmapped                    |
//! SITE_BASE   = 0x20_0000_0000       |  site arena, 1 MiB, int3 except stubs
//!   ...  unmapped                    |  and trampolines
//! TARGET_BASE = SITE_BASE + 1 GiB    |  target region, 1 GiB: only the
//!   ...                              |  target pages are mapped
//! SITE_BASE + 2 GiB                  |
//!   ...  unmapped                    |
//! GUARD_END   = SITE_BASE + 3 GiB   -+
//! ```
//!
//! The kernel guarantees that nothing but the site arena and the target
//! pages is mapped in `[GUARD_START, GUARD_END)`. Any `rel32` from the site
//! arena, torn or not, lands inside this window (±2 GiB around the arena), so
//! the planner only has to reason about what the window holds. The kernel's
//! own identity map ends below 4 GiB, far below `GUARD_START` (126 GiB).
//!
//! # The site arena
//!
//! 256 pages at [`SITE_BASE`], all `int3` except:
//!
//! | page | holds |
//! |---|---|
//! | `24 key + index`, `index` 0..=15 | the stub of site `index` of `key` (a *paged* slot: a page of its own) |
//! | `24 key + 16 + d / 31`, `d` = `index - 16` | the stub of site `index` ≥ 16 of `key` (a *dense* slot), in line `1 + 2 (d mod 31)` |
//! | 192 | `__static_call_return0` ([`RET0_ADDR`], shape `ret0` only) |
//! | 193 | nothing (int3) |
//! | 194 + 2 * `key` | the trampoline of `key` (out-of-line only) |
//! | 195 + 2 * `key` | the tail of a cross-page trampoline |
//! | 210..=255 | nothing (int3) |
//!
//! So each key owns 24 pages and its sites lie in ascending address order,
//! key after key (the sorted table of `int3-batch`). The first
//! [`PAGED_SITES_PER_KEY`] sites of a key have a page each; the dense ones,
//! up to [`MAX_SITES_PER_KEY`], share pages, one stub in every other line
//! (odd lines 1..=61), so that a `cross-line` stub's tail runs into an even
//! line that holds nothing. A `cross-page` stub needs a page boundary of its
//! own, so that class holds only the paged sites
//! ([`SiteClass::max_sites_per_key`]); [`crate::planner::plan`] refuses more.
//!
//! Within its page a paged stub sits in line [`slot_line`]`(16 key + index)`
//! = 1 + (7 n mod 62), never line 0 (where the previous slot's cross-page tail is) nor line 63
//! (so that a cross-line operand never leaves the page). The class fixes the
//! byte offset; the operand is the 4 bytes after the opcode:
//!
//! | class | opcode at | operand bytes | AMD-atomic? |
//! |---|---|---|---|
//! | [`SiteClass::Qword`] | line + 7 | line + 8 .. + 12, one aligned qword | yes |
//! | [`SiteClass::Line`] | line + 5 | line + 6 .. + 10, crosses qword line+8 | no |
//! | [`SiteClass::CrossLine`] | line + 61 | line + 62 .. + 66, crosses the next line | no |
//! | [`SiteClass::CrossPage`] | page + 4093 | page + 4094 .. + 4098, crosses the page | no |
//!
//! Under shape `jump` each site also has a jump label ([`label_addr`]): a
//! [`TARGET_BODY_LEN`]-byte target body at byte [`LABEL_OFFSET`] of the line
//! after the stub's opcode line (for a `cross-page` stub, line 0 of the next
//! page). That line holds at most the 7-byte tail of a `cross-line` or
//! `cross-page` stub, in bytes 0..7, and no other stub's opcode, so a label
//! shares no byte with any stub of any class.
//!
//! A stub is [`STUB_LEN`] bytes (the call, then the tail that marks the
//! return path, [`encode`]); a `cross-line` stub's tail reaches into the
//! next line, a `cross-page` one's into line 0 of the next page. So every
//! stub has a 64-byte line of its own (cross-page ones a page boundary of
//! their own), and no two stubs or trampolines share a byte, whatever the
//! class. Addresses depend only on key, index and class, never
//! on how many keys or sites an experiment uses.
//!
//! # The target region
//!
//! [`TARGET_BASE`] is 1 GiB above the arena; each target has a 4 KiB page of
//! its own, `int3` except its [`TARGET_BODY_LEN`]-byte body. Where in the
//! region each target goes is the planner's choice ([`crate::planner`]).

use crate::encode::{self, SiteMark, JMP_LEN, STUB_LEN, TARGET_BODY_LEN};

/// Size of a page.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a cache line (the unit of the `line` and `cross-line` classes).
pub const LINE_SIZE: u64 = 64;
/// Size of the naturally aligned block AMD allows to be modified atomically.
pub const QWORD_SIZE: u64 = 8;

/// Start of the site arena: 128 GiB, far above the kernel's identity map.
pub const SITE_BASE: u64 = 0x20_0000_0000;
/// Size of the site arena.
pub const SITE_ARENA_SIZE: u64 = 1 << 20;
/// Number of pages in the site arena.
pub const SITE_ARENA_PAGES: u64 = SITE_ARENA_SIZE / PAGE_SIZE;
/// Start of the target region.
pub const TARGET_BASE: u64 = SITE_BASE + (1 << 30);
/// Size of the target region; only target pages are mapped in it.
pub const TARGET_REGION_SIZE: u64 = 1 << 30;
/// Start of the window in which only the site arena and the target pages
/// may be mapped.
pub const GUARD_START: u64 = SITE_BASE - (2 << 30);
/// End (exclusive) of that window.
pub const GUARD_END: u64 = SITE_BASE + (3 << 30);

/// Most keys in one plan.
pub const MAX_KEYS: usize = 8;
/// Most sites per key (in a class that holds that many:
/// [`SiteClass::max_sites_per_key`]).
pub const MAX_SITES_PER_KEY: usize = 256;
/// Sites of each key that have a page of their own (every class holds
/// them); the others are dense, one per other line of shared pages.
pub const PAGED_SITES_PER_KEY: usize = 16;
/// Dense stubs in one page: the odd lines 1..=61.
pub const DENSE_PER_PAGE: usize = 31;
/// Pages of the site arena owned by each key: its paged slots, then its
/// dense pages.
pub const KEY_PAGES: usize =
    PAGED_SITES_PER_KEY + (MAX_SITES_PER_KEY - PAGED_SITES_PER_KEY).div_ceil(DENSE_PER_PAGE);
/// Most targets per key.
pub const MAX_TARGETS_PER_KEY: usize = 4;
/// Most sites in one plan (one slot each).
pub const MAX_SITES: usize = MAX_KEYS * MAX_SITES_PER_KEY;

/// Page of the site arena that holds the trampoline of key 0.
pub const TRAMPOLINE_FIRST_PAGE: u64 = (MAX_KEYS * KEY_PAGES) as u64 + 2;

// The window must be far above the kernel's identity map (below 4 GiB).
const _: () = assert!(GUARD_START > 4 << 30);
// The map above must fit in the arena, and slot lines must stay in 1..=62.
const _: () = assert!(TRAMPOLINE_FIRST_PAGE + 2 * MAX_KEYS as u64 <= SITE_ARENA_PAGES);

named_enum! {
    /// Where the 4 operand bytes of a patched instruction lie.
    ///
    /// This is the property the hardware rules are about: AMD allows
    /// asynchronous modification by one store inside an aligned 8-byte
    /// block; a store across a line or a page is the case that crashed
    /// Nehalem in the LKML thread.
    pub enum SiteClass {
        /// Inside one naturally aligned 8-byte block (AMD's rule).
        Qword = "qword",
        /// Inside one 64-byte line, across an 8-byte boundary.
        Line = "line",
        /// Across a 64-byte line boundary, inside one page.
        CrossLine = "cross-line",
        /// Across a 4 KiB page boundary.
        CrossPage = "cross-page",
    }
}

impl SiteClass {
    /// Offset of the opcode from the start of its line (for
    /// [`SiteClass::CrossPage`]: from the start of its page).
    pub const fn opcode_offset(self) -> u64 {
        match self {
            SiteClass::Qword => 7,
            SiteClass::Line => 5,
            SiteClass::CrossLine => 61,
            SiteClass::CrossPage => PAGE_SIZE - 3,
        }
    }

    /// Most sites per key a plan of this class can hold: a `cross-page`
    /// stub needs a page boundary of its own, so only the paged slots.
    pub const fn max_sites_per_key(self) -> usize {
        match self {
            SiteClass::CrossPage => PAGED_SITES_PER_KEY,
            _ => MAX_SITES_PER_KEY,
        }
    }
}

/// The class of the `rel32` instruction whose opcode is at `insn_addr`,
/// from where its operand bytes `[insn_addr + 1, insn_addr + 5)` lie.
pub const fn classify(insn_addr: u64) -> SiteClass {
    let first = insn_addr.wrapping_add(1);
    let last = first.wrapping_add(3);
    if first / PAGE_SIZE != last / PAGE_SIZE {
        SiteClass::CrossPage
    } else if first / LINE_SIZE != last / LINE_SIZE {
        SiteClass::CrossLine
    } else if first / QWORD_SIZE != last / QWORD_SIZE {
        SiteClass::Line
    } else {
        SiteClass::Qword
    }
}

/// The page of the site arena and the line within it of site `index` of
/// `key` (see the module doc).
///
/// # Panics
/// If `key` or `index` is out of range.
pub const fn site_page_line(key: usize, index: usize) -> (u64, u64) {
    assert!(key < MAX_KEYS && index < MAX_SITES_PER_KEY);
    let first = (key * KEY_PAGES) as u64;
    if index < PAGED_SITES_PER_KEY {
        (
            first + index as u64,
            slot_line(key * PAGED_SITES_PER_KEY + index),
        )
    } else {
        let d = index - PAGED_SITES_PER_KEY;
        (
            first + (PAGED_SITES_PER_KEY + d / DENSE_PER_PAGE) as u64,
            1 + 2 * (d % DENSE_PER_PAGE) as u64,
        )
    }
}

/// The site whose stub's opcode line is line `line` of arena page `page`,
/// if the layout puts one there (the inverse of [`site_page_line`], up to
/// the class's offset).
pub const fn site_at_page_line(page: u64, line: u64) -> Option<(usize, usize)> {
    let page = page as usize;
    if page >= MAX_KEYS * KEY_PAGES {
        return None;
    }
    let (key, within) = (page / KEY_PAGES, page % KEY_PAGES);
    if within < PAGED_SITES_PER_KEY {
        return Some((key, within));
    }
    if line.is_multiple_of(2) || line > 2 * DENSE_PER_PAGE as u64 - 1 {
        return None;
    }
    let d = (within - PAGED_SITES_PER_KEY) * DENSE_PER_PAGE + (line as usize - 1) / 2;
    let index = PAGED_SITES_PER_KEY + d;
    if index < MAX_SITES_PER_KEY {
        Some((key, index))
    } else {
        None
    }
}

/// The line (within its page) of the stub in slot `slot`: 1..=62.
pub const fn slot_line(slot: usize) -> u64 {
    1 + (slot as u64 * 7) % 62
}

/// Address of an instruction of `class` in page `page` of the site arena,
/// in line `line` unless the class is [`SiteClass::CrossPage`].
const fn place(page: u64, line: u64, class: SiteClass) -> u64 {
    let page_addr = SITE_BASE + page * PAGE_SIZE;
    match class {
        SiteClass::CrossPage => page_addr + class.opcode_offset(),
        _ => page_addr + line * LINE_SIZE + class.opcode_offset(),
    }
}

/// Address of the stub of site `index` of `key` (its `call` opcode).
///
/// # Panics
/// If `key` or `index` is out of range, or `index` beyond what `class`
/// holds ([`SiteClass::max_sites_per_key`]).
pub const fn site_addr(key: usize, index: usize, class: SiteClass) -> u64 {
    assert!(index < class.max_sites_per_key());
    let (page, line) = site_page_line(key, index);
    place(page, line, class)
}

/// The mark the tail of site `index` of `key` writes into DX after its call
/// ([`encode`]'s checked return path): `0x40 + (key + index / 16) mod 16`,
/// `0x40 + index mod 16`. For the paged sites (index < 16) that is
/// `0x40 + key`, `0x40 + index`, unique over the whole arena; two REX bytes
/// say no more than 256 marks, so beyond, a mark is unique within its key
/// (a return into another key's dense stub may go unseen).
///
/// # Panics
/// If `key` or `index` is out of range.
pub const fn site_mark(key: usize, index: usize) -> SiteMark {
    assert!(key < MAX_KEYS && index < MAX_SITES_PER_KEY);
    let hi = ((key + index / 16) % 16) as u8;
    let lo = (index % 16) as u8;
    match SiteMark::new(0x40 + hi, 0x40 + lo) {
        Some(m) => m,
        None => panic!("marks are REX prefixes"),
    }
}

// Within a key the marks tell every site apart.
const _: () = assert!(MAX_SITES_PER_KEY <= 256 && MAX_KEYS <= 16);

/// Address of the trampoline (`jmp rel32`) of `key`.
///
/// # Panics
/// If `key` is out of range.
pub const fn trampoline_addr(key: usize, class: SiteClass) -> u64 {
    assert!(key < MAX_KEYS);
    let page = TRAMPOLINE_FIRST_PAGE + 2 * key as u64;
    place(page, slot_line(MAX_KEYS * PAGED_SITES_PER_KEY + key), class)
}

/// Where `__static_call_return0` lies (shape `ret0`): line 1 of arena page
/// 192, which holds nothing else.
pub const RET0_ADDR: u64 = SITE_BASE + 192 * PAGE_SIZE + LINE_SIZE;

// Page 192 is past every key's pages and before the trampolines.
const _: () = assert!(((MAX_KEYS * KEY_PAGES) as u64) <= 192 && 192 < TRAMPOLINE_FIRST_PAGE);

/// Byte of its line at which a jump label lies (shape `jump`): clear of
/// the 7 bytes a stub's tail can run into the line.
pub const LABEL_OFFSET: u64 = 32;

/// Address of the jump label of the stub whose opcode is at `site` (shape
/// `jump`): byte [`LABEL_OFFSET`] of the next line (see the module doc).
pub const fn label_addr(site: u64) -> u64 {
    (site & !(LINE_SIZE - 1)) + LINE_SIZE + LABEL_OFFSET
}

/// The id the jump label of site `index` of `key` returns in `EAX`
/// (above [`encode::LABEL_ID_BASE`]).
///
/// # Panics
/// If `key` or `index` is out of range.
pub const fn label_id(key: usize, index: usize) -> u32 {
    assert!(key < MAX_KEYS && index < MAX_SITES_PER_KEY);
    encode::LABEL_ID_BASE | (key as u32) << 8 | index as u32
}

/// Start of the page that holds `addr`.
pub const fn page_of(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

/// Whether `addr` is in the site arena.
pub const fn in_site_arena(addr: u64) -> bool {
    addr >= SITE_BASE && addr - SITE_BASE < SITE_ARENA_SIZE
}

/// One piece of code in the window: what the kernel writes, and what a torn
/// destination must never reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CodeRef {
    /// The stub (`call; mov dh; mov dl; ret`) of site `index` of `key`.
    Stub {
        /// The key.
        key: usize,
        /// The site's index within the key.
        index: usize,
    },
    /// The trampoline (`jmp`) of `key` (out-of-line plans only).
    Trampoline {
        /// The key.
        key: usize,
    },
    /// The body (`mov eax, id; ret`) of target `target` of `key`.
    Target {
        /// The key.
        key: usize,
        /// The target's index within the key.
        target: usize,
    },
}

impl core::fmt::Display for CodeRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            CodeRef::Stub { key, index } => write!(f, "stub {index} of key {key}"),
            CodeRef::Trampoline { key } => write!(f, "trampoline of key {key}"),
            CodeRef::Target { key, target } => write!(f, "target {target} of key {key}"),
        }
    }
}

/// A byte range `[addr, addr + len)` of code, and what it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRange {
    /// What the code is.
    pub what: CodeRef,
    /// First byte.
    pub addr: u64,
    /// Length in bytes.
    pub len: u64,
}

impl CodeRange {
    /// Whether `addr` is one of the range's bytes.
    pub const fn contains(&self, addr: u64) -> bool {
        addr >= self.addr && addr - self.addr < self.len
    }
}

/// The complete placement of one experiment's object under test: every
/// stub, trampoline and target, with the target ids.
///
/// Built and checked by [`crate::planner::plan`]; [`crate::planner::verify`]
/// re-checks any plan. Fixed-size, no allocation: the kernel keeps one on
/// its stack or in a static.
///
/// Key `k`'s target 0 is the one its stubs (or trampoline) call at first;
/// generation 0 of its window history ([`crate::window`]) is
/// `target_id(k, 0)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    pub(crate) keys: usize,
    pub(crate) sites_per_key: usize,
    pub(crate) targets_per_key: usize,
    pub(crate) class: SiteClass,
    pub(crate) outofline: bool,
    pub(crate) labels: bool,
    pub(crate) short_labels: bool,
    pub(crate) ret0: bool,
    pub(crate) sites: [[u64; MAX_SITES_PER_KEY]; MAX_KEYS],
    pub(crate) trampolines: [u64; MAX_KEYS],
    pub(crate) targets: [[u64; MAX_TARGETS_PER_KEY]; MAX_KEYS],
    pub(crate) ids: [[u32; MAX_TARGETS_PER_KEY]; MAX_KEYS],
}

impl ArenaPlan {
    /// Number of keys.
    pub const fn keys(&self) -> usize {
        self.keys
    }

    /// Number of sites of each key.
    pub const fn sites_per_key(&self) -> usize {
        self.sites_per_key
    }

    /// Number of targets of each key.
    pub const fn targets_per_key(&self) -> usize {
        self.targets_per_key
    }

    /// The class of every patched instruction (the sites, or out of line
    /// the trampolines).
    pub const fn class(&self) -> SiteClass {
        self.class
    }

    /// Whether the sites call a trampoline and only the trampoline is
    /// patched.
    pub const fn outofline(&self) -> bool {
        self.outofline
    }

    /// Whether each site is a jump label (shapes `jump`, `jump8`): its
    /// point moves between `jmp` to its own label and the NOP
    /// ([`ArenaPlan::with_jump_labels`]).
    pub const fn labels(&self) -> bool {
        self.labels
    }

    /// Whether the jump labels are the 2-byte form (shape `jump8`).
    pub const fn short_labels(&self) -> bool {
        self.short_labels
    }

    /// The plan for shape `jump` (Linux's jump labels, each site branching
    /// to its own out-of-line code): the same sites, each with a label at
    /// [`label_addr`] that returns [`label_id`]; target 0 now stands for
    /// "enabled", every point a `jmp` to its own site's label, and
    /// [`ArenaPlan::null_target`], now 1, for "disabled", the NOP. So one
    /// batch sends its sites to as many destinations as it has sites.
    /// `short`: the 2-byte form Linux uses where the label is in reach
    /// (`jmp rel8` <-> `66 90`, shape `jump8`), each followed by
    /// [`encode::NOP3`] so that the point is 5 bytes of which 2 change.
    /// Only for in-line plans: out of line `None`.
    pub fn with_jump_labels(mut self, short: bool) -> Option<ArenaPlan> {
        if self.outofline {
            return None;
        }
        self.labels = true;
        self.short_labels = short;
        self.targets_per_key = 1;
        Some(self)
    }

    /// Whether the key's other instruction is `__static_call_return0`'s
    /// ([`ArenaPlan::with_ret0`]) rather than the NOP.
    pub const fn ret0(&self) -> bool {
        self.ret0
    }

    /// The plan for shape `ret0` (`static_call_update(key,
    /// __static_call_return0)`): [`ArenaPlan::null_target`] now stands for
    /// `__static_call_return0`, written at a point as [`encode::XOR5RAX`]
    /// and emulated as a call to [`RET0_ADDR`], Linux's way. Only for
    /// in-line plans: out of line `None`.
    pub fn with_ret0(mut self) -> Option<ArenaPlan> {
        if self.outofline {
            return None;
        }
        self.ret0 = true;
        Some(self)
    }

    /// `__static_call_return0`'s address and body, for a `ret0` plan.
    pub fn ret0_body(&self) -> Option<(u64, [u8; 3])> {
        self.ret0.then_some((RET0_ADDR, encode::RET0_BODY))
    }

    /// The jump labels (shape `jump`): for each site, its key, index, the
    /// label's address and its body. Empty for other plans.
    pub fn jump_labels(
        &self,
    ) -> impl Iterator<Item = (usize, usize, u64, [u8; TARGET_BODY_LEN])> + '_ {
        let keys = if self.labels { self.keys } else { 0 };
        (0..keys).flat_map(move |k| {
            (0..self.sites_per_key).map(move |i| {
                let at = label_addr(self.sites[k][i]);
                (k, i, at, encode::target_body(label_id(k, i)))
            })
        })
    }

    /// Addresses of the stubs of `key`, by index. Executors call these.
    pub fn sites(&self, key: usize) -> &[u64] {
        &self.sites[key][..self.sites_per_key]
    }

    /// Address of the trampoline of `key`, if the plan is out of line.
    pub fn trampoline(&self, key: usize) -> Option<u64> {
        self.outofline.then(|| self.trampolines[key])
    }

    /// Addresses of the targets of `key`, by index.
    pub fn targets(&self, key: usize) -> &[u64] {
        &self.targets[key][..self.targets_per_key]
    }

    /// Ids of the targets of `key`, by index: what each returns in `EAX`.
    pub fn ids(&self, key: usize) -> &[u32] {
        &self.ids[key][..self.targets_per_key]
    }

    /// The index that stands for NULL among a key's targets (shapes
    /// `null`, and `jump`'s "disabled"): one past the last target.
    /// [`ArenaPlan::insn_bytes`] gives its [`encode::NOP5`],
    /// [`ArenaPlan::id`] the id of no target, and [`ArenaPlan::dest`] the
    /// instruction after the point. In a `ret0` plan it stands for
    /// `__static_call_return0` instead: [`encode::XOR5RAX`],
    /// [`encode::RET0_ID`], and a call to [`RET0_ADDR`].
    pub const fn null_target(&self) -> usize {
        self.targets_per_key
    }

    /// The id a call through a point of `key` returns in `EAX` when the
    /// point holds target `target`'s instruction: its id, or for NULL
    /// [`encode::POISON_EAX`], which no target returns (a NOP site's
    /// call runs no target, and the caller's poison stays).
    pub fn id(&self, key: usize, target: usize) -> u32 {
        if target == self.null_target() && self.ret0 {
            encode::RET0_ID
        } else if target == self.null_target() {
            encode::POISON_EAX
        } else {
            self.ids(key)[target]
        }
    }

    /// Where a CPU that executes the point at `insn_addr` of `key`, holding
    /// target `target`'s instruction, goes next, and whether it goes
    /// without a return address (`jmp`): the target (a `call`, or out of
    /// line a `jmp`), or for NULL the next instruction, as a NOP does.
    pub fn dest(&self, key: usize, insn_addr: u64, target: usize) -> (u64, bool) {
        if target == self.null_target() && self.ret0 {
            (RET0_ADDR, false)
        } else if target == self.null_target() && self.short_labels {
            // The 2-byte NOP emulated: on to the [`encode::NOP3`].
            (insn_addr + encode::NOP2.len() as u64, true)
        } else if target == self.null_target() {
            (insn_addr + encode::REL32_INSN_LEN as u64, true)
        } else if self.labels {
            (label_addr(insn_addr), true)
        } else {
            (self.targets(key)[target], self.outofline)
        }
    }

    /// The `(key, target)` whose id is `id`.
    pub fn target_of_id(&self, id: u32) -> Option<(usize, usize)> {
        (0..self.keys).find_map(|k| self.ids(k).iter().position(|&i| i == id).map(|t| (k, t)))
    }

    /// The instructions rewritten when `key` is retargeted: its sites'
    /// `call`s, or out of line its trampoline's `jmp`. In ascending address
    /// order, and so are the keys (a sorted table for `int3-batch`).
    pub fn patch_points(&self, key: usize) -> &[u64] {
        if self.outofline {
            core::slice::from_ref(&self.trampolines[key])
        } else {
            self.sites(key)
        }
    }

    /// The patch point whose opcode is at `insn_addr`, if any: a stub (in
    /// line) or a trampoline (out of line). O(1), from the slot map; for a
    /// #BP handler, `insn_addr` is the trapping RIP minus 1.
    ///
    /// Out of line the stubs are not patch points: a #BP at a stub is
    /// stray.
    pub fn patch_point_at(&self, insn_addr: u64) -> Option<CodeRef> {
        if !in_site_arena(insn_addr) {
            return None;
        }
        let page = (insn_addr - SITE_BASE) / PAGE_SIZE;
        let line = (insn_addr - SITE_BASE) % PAGE_SIZE / LINE_SIZE;
        if !self.outofline && page < (MAX_KEYS * KEY_PAGES) as u64 {
            let (key, index) = site_at_page_line(page, line)?;
            let here = key < self.keys
                && index < self.sites_per_key
                && self.sites[key][index] == insn_addr;
            here.then_some(CodeRef::Stub { key, index })
        } else if self.outofline
            && page >= TRAMPOLINE_FIRST_PAGE
            && (page - TRAMPOLINE_FIRST_PAGE).is_multiple_of(2)
        {
            let key = ((page - TRAMPOLINE_FIRST_PAGE) / 2) as usize;
            let here = key < self.keys && self.trampolines[key] == insn_addr;
            here.then_some(CodeRef::Trampoline { key })
        } else {
            None
        }
    }

    /// Opcode of the patched instructions: `call`, or out of line (or
    /// enabled jump labels) `jmp`.
    pub const fn patch_opcode(&self) -> u8 {
        if self.outofline || self.labels {
            encode::JMP_OPCODE
        } else {
            encode::CALL_OPCODE
        }
    }

    /// The 5 bytes of the patch point at `insn_addr` when `key` is retargeted
    /// to its target `target` (in line, [`ArenaPlan::null_target`] is the
    /// 5-byte NOP).
    ///
    /// # Panics
    /// If the target is out of `rel32` reach, which a plan from
    /// [`crate::planner::plan`] rules out.
    pub fn insn_bytes(&self, key: usize, insn_addr: u64, target: usize) -> [u8; 5] {
        if target == self.null_target() && !self.outofline {
            return if self.ret0 {
                encode::XOR5RAX
            } else if self.short_labels {
                encode::NOP2_POINT
            } else {
                encode::NOP5
            };
        }
        if self.short_labels {
            return encode::jmp8_point(insn_addr, label_addr(insn_addr))
                .expect("a label is within 2 lines of its site");
        }
        if self.labels {
            return encode::jmp_rel32(insn_addr, label_addr(insn_addr))
                .expect("a label is 2 lines from its site");
        }
        let dest = self.targets[key][target];
        let bytes = if self.outofline {
            encode::jmp_rel32(insn_addr, dest)
        } else {
            encode::call_rel32(insn_addr, dest)
        };
        bytes.expect("a verified plan keeps every target in rel32 reach")
    }

    /// The initial bytes of the stub of site `index` of `key`: a call to
    /// target 0, or out of line to the key's trampoline (with jump labels a
    /// `jmp` to the site's label), then the tail that
    /// writes the site's mark ([`site_mark`]), then `ret`.
    ///
    /// # Panics
    /// As [`ArenaPlan::insn_bytes`].
    pub fn stub_bytes(&self, key: usize, index: usize) -> [u8; STUB_LEN] {
        let site = self.sites[key][index];
        if self.labels {
            return encode::stub_with(self.insn_bytes(key, site, 0), site_mark(key, index));
        }
        let dest = if self.outofline {
            self.trampolines[key]
        } else {
            self.targets[key][0]
        };
        encode::site_stub(site, dest, site_mark(key, index))
            .expect("a verified plan keeps stubs in rel32 reach")
    }

    /// The mark of the site at `site` (its stub's address), if it is one of
    /// the plan's.
    pub fn mark_of(&self, site: u64) -> Option<SiteMark> {
        (0..self.keys).find_map(|k| {
            self.sites(k)
                .iter()
                .position(|&s| s == site)
                .map(|i| site_mark(k, i))
        })
    }

    /// The initial bytes of the trampoline of `key` (a `jmp` to target 0),
    /// if the plan is out of line.
    pub fn trampoline_bytes(&self, key: usize) -> Option<[u8; JMP_LEN]> {
        let t = self.trampoline(key)?;
        Some(self.insn_bytes(key, t, 0))
    }

    /// The body of target `target` of `key`.
    pub fn target_body(&self, key: usize, target: usize) -> [u8; TARGET_BODY_LEN] {
        encode::target_body(self.ids[key][target])
    }

    /// Every piece of code the plan puts in the window: stubs, trampolines
    /// (out of line) and target bodies. Everything else in a mapped page of
    /// the window is `int3`.
    pub fn code(&self) -> impl Iterator<Item = CodeRange> + '_ {
        let stubs = (0..self.keys).flat_map(move |key| {
            (0..self.sites_per_key).map(move |index| CodeRange {
                what: CodeRef::Stub { key, index },
                addr: self.sites[key][index],
                len: STUB_LEN as u64,
            })
        });
        let trampolines = (0..self.keys).filter_map(move |key| {
            Some(CodeRange {
                what: CodeRef::Trampoline { key },
                addr: self.trampoline(key)?,
                len: JMP_LEN as u64,
            })
        });
        let targets = (0..self.keys).flat_map(move |key| {
            (0..self.targets_per_key).map(move |target| CodeRange {
                what: CodeRef::Target { key, target },
                addr: self.targets[key][target],
                len: TARGET_BODY_LEN as u64,
            })
        });
        stubs.chain(trampolines).chain(targets)
    }

    /// The pages the kernel maps in the target region (one per target),
    /// each filled with `int3` before its body is written.
    pub fn target_pages(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.keys).flat_map(move |k| self.targets(k).iter().map(|&t| page_of(t)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_contains_everything_a_rel32_from_the_arena_can_reach() {
        let lowest = SITE_BASE + 5 - (1u64 << 31);
        let highest = SITE_BASE + SITE_ARENA_SIZE + 5 + i32::MAX as u64;
        assert!(
            GUARD_START <= lowest,
            "window starts at {GUARD_START:#x}, reach at {lowest:#x}"
        );
        assert!(
            highest < GUARD_END,
            "window ends at {GUARD_END:#x}, reach at {highest:#x}"
        );
    }

    #[test]
    fn every_placed_site_has_the_class_it_was_placed_for() {
        for &class in SiteClass::ALL {
            for key in 0..MAX_KEYS {
                for index in 0..class.max_sites_per_key() {
                    let s = site_addr(key, index, class);
                    assert_eq!(classify(s), class, "site {index} of key {key} at {s:#x}");
                }
                let t = trampoline_addr(key, class);
                assert_eq!(classify(t), class, "trampoline of key {key} at {t:#x}");
            }
        }
    }

    #[test]
    fn the_canonical_offsets_are_the_documented_ones() {
        let line = |a: u64| a % LINE_SIZE;
        assert_eq!(
            (line(site_addr(0, 0, SiteClass::Qword)) + 1) % 8,
            0,
            "qword operand aligned"
        );
        assert_eq!(line(site_addr(0, 0, SiteClass::Line)) + 1, 6);
        assert_eq!(line(site_addr(0, 0, SiteClass::CrossLine)) + 1, 62);
        assert_eq!(site_addr(3, 5, SiteClass::CrossPage) % PAGE_SIZE + 1, 4094);
    }

    #[test]
    fn classify_follows_the_definition_at_every_offset_of_a_page() {
        for off in 0..PAGE_SIZE {
            let a = SITE_BASE + off;
            let first = (off + 1) % PAGE_SIZE; // operand start, page-relative
            let want = if first > PAGE_SIZE - 4 {
                SiteClass::CrossPage
            } else if first % LINE_SIZE > LINE_SIZE - 4 {
                SiteClass::CrossLine
            } else if first % 8 > 4 {
                SiteClass::Line
            } else {
                SiteClass::Qword
            };
            assert_eq!(classify(a), want, "opcode at page offset {off}");
        }
    }

    #[test]
    fn no_two_stubs_or_trampolines_of_any_classes_share_a_line_or_a_byte() {
        for &class in SiteClass::ALL {
            let mut all = [(0u64, 0u64); MAX_SITES + MAX_KEYS];
            let mut n = 0;
            for key in 0..MAX_KEYS {
                for index in 0..class.max_sites_per_key() {
                    all[n] = (site_addr(key, index, class), STUB_LEN as u64);
                    n += 1;
                }
                all[n] = (trampoline_addr(key, class), JMP_LEN as u64);
                n += 1;
            }
            for (i, &(a, al)) in all[..n].iter().enumerate() {
                assert!(
                    in_site_arena(a) && in_site_arena(a + al - 1),
                    "{class}: {a:#x} out of the arena"
                );
                for &(b, bl) in &all[i + 1..n] {
                    // No shared line: the first and last line of each range are
                    // lines no other range touches.
                    let (a0, a1) = (a / LINE_SIZE, (a + al - 1) / LINE_SIZE);
                    let (b0, b1) = (b / LINE_SIZE, (b + bl - 1) / LINE_SIZE);
                    assert!(
                        a1 < b0 || b1 < a0,
                        "{class}: {a:#x}+{al} and {b:#x}+{bl} share a line"
                    );
                }
            }
        }
    }

    #[test]
    fn no_stub_of_one_class_overlaps_the_cross_page_tail_of_another_slot() {
        for key in 0..MAX_KEYS {
            for index in 0..PAGED_SITES_PER_KEY {
                let cross = site_addr(key, index, SiteClass::CrossPage);
                let tail = (cross + 1, cross + STUB_LEN as u64);
                for &class in &SiteClass::ALL[..3] {
                    for k2 in 0..MAX_KEYS {
                        for i2 in 0..class.max_sites_per_key() {
                            let s = site_addr(k2, i2, class);
                            let e = s + STUB_LEN as u64;
                            assert!(
                                e <= cross || s >= tail.1,
                                "{class} stub at {s:#x} overlaps {cross:#x}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_site_is_found_again_from_its_page_and_line_and_keys_stay_in_address_order() {
        let mut last = 0;
        for key in 0..MAX_KEYS {
            for index in 0..MAX_SITES_PER_KEY {
                let (page, line) = site_page_line(key, index);
                assert!(
                    (1..=62).contains(&line),
                    "site {index} of key {key}: line {line}"
                );
                assert_eq!(site_at_page_line(page, line), Some((key, index)));
                let a = site_addr(key, index, SiteClass::Qword);
                assert!(
                    a > last,
                    "site {index} of key {key} at {a:#x} not above {last:#x}"
                );
                last = a;
            }
        }
        assert!(last < SITE_BASE + TRAMPOLINE_FIRST_PAGE * PAGE_SIZE);
        assert_eq!(
            site_at_page_line(16, 2),
            None,
            "even lines of dense pages are empty"
        );
    }

    #[test]
    fn marks_tell_the_sites_of_a_key_apart_and_the_paged_sites_of_all_keys() {
        for key in 0..MAX_KEYS {
            let mut seen = [false; 256];
            for index in 0..MAX_SITES_PER_KEY {
                let m = site_mark(key, index);
                let n = usize::from(m.hi - 0x40) << 4 | usize::from(m.lo - 0x40);
                assert!(!seen[n], "mark {m:?} twice in key {key}");
                seen[n] = true;
            }
        }
        for k in 0..MAX_KEYS {
            for i in 0..PAGED_SITES_PER_KEY {
                assert_eq!(
                    site_mark(k, i),
                    SiteMark::new(0x40 + k as u8, 0x40 + i as u8).unwrap()
                );
            }
        }
    }
}
