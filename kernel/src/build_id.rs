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
    // SAFETY: linker-script symbols around the note section, which lies in
    // the loaded, read-only image (linker.ld) and is never written: the
    // bytes between them live for the whole run. If the script lost the
    // section both symbols would be equal and the slice empty (no id), never
    // out of bounds, as long as the script keeps start before end.
    let notes = unsafe {
        let start = &raw const __build_id_start;
        let end = &raw const __build_id_end;
        core::slice::from_raw_parts(start, (end as usize).saturating_sub(start as usize))
    };
    report::note::gnu_build_id(notes)
}
