//! The kernel's own GNU build id: the `.note.gnu.build-id` that the linker
//! writes (`--build-id=sha1`, build.rs) and the link script keeps between
//! `__build_id_start` and `__build_id_end`, in the read-only data. The
//! `hello` record sends it, so that a saved log names the ELF that ran.

unsafe extern "C" {
    static __build_id_start: u8;
    static __build_id_end: u8;
}

/// The build id, or `None` when the image carries no note (a link without
/// `--build-id`).
pub fn get() -> Option<&'static [u8]> {
    // The note's bounds: linker-script symbols around the section, in the
    // loaded, read-only image (linker.ld); equal when it is missing.
    let (start, end) = (&raw const __build_id_start, &raw const __build_id_end);
    let len = (end as usize).saturating_sub(start as usize);
    // SAFETY: the `len` bytes from `start` are the note section, which lives
    // for the whole run and is never written; a lost section gives `len` 0.
    let notes = unsafe { core::slice::from_raw_parts(start, len) };
    report::note::gnu_build_id(notes)
}
