//! The kernel's own image as the link script (`kernel/linker.ld`) lays it
//! out: the bounds of its text, read-only data and whole image, and the
//! GNU build-id note.

use core::ops::Range;

unsafe extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
    static __build_id_start: u8;
    static __build_id_end: u8;
}

/// The kernel's text (page-aligned at both ends).
pub fn text() -> Range<u64> {
    &raw const __text_start as u64..&raw const __text_end as u64
}

/// The kernel's read-only data (page-aligned at both ends).
pub fn rodata() -> Range<u64> {
    &raw const __rodata_start as u64..&raw const __rodata_end as u64
}

/// The end of the image (data and bss included).
pub fn end() -> u64 {
    &raw const __kernel_end as u64
}

/// The bytes of the `.note.gnu.build-id` section: empty when the image
/// carries no note (a link without `--build-id`).
pub fn build_id_note() -> &'static [u8] {
    // The note's bounds: linker-script symbols around the section, in the
    // loaded, read-only image; equal when it is missing.
    let (start, end) = (&raw const __build_id_start, &raw const __build_id_end);
    let len = (end as usize).saturating_sub(start as usize);
    // SAFETY: the `len` bytes from `start` are the note section, which lives
    // for the whole run and is never written; a lost section gives `len` 0.
    unsafe { core::slice::from_raw_parts(start, len) }
}
