//! The kernel's own GNU build id: the `.note.gnu.build-id` that the linker
//! writes (`--build-id=sha1`, build.rs) and the link script keeps between
//! `__build_id_start` and `__build_id_end`, in the read-only data
//! ([`crate::arch::image`] gives its bytes). The `hello` record sends it,
//! so that a saved log names the ELF that ran.

/// The build id, or `None` when the image carries no note (a link without
/// `--build-id`).
pub fn get() -> Option<&'static [u8]> {
    report::note::gnu_build_id(crate::arch::image::build_id_note())
}
