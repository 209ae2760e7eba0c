//! The GNU build id, read from the bytes of an ELF note section.
//!
//! The kernel is linked with `--build-id=sha1`: the linker hashes the
//! whole image and stores the hash in a `.note.gnu.build-id` note. The
//! kernel reads its own note at boot and sends it in its `hello` record
//! (field `build_id`, see [`crate::kind::HELLO`]), so that a saved log names
//! the ELF whose symbols explain its addresses. The reading is here, on the
//! host's side of the fence, so that tests run it.
//!
//! An ELF note (ELF64 and ELF32 alike, little-endian on x86):
//!
//! ```text
//! u32 namesz | u32 descsz | u32 type | name (namesz bytes, padded to 4) | desc (descsz bytes, padded to 4)
//! ```
//!
//! A build id is the note whose name is `GNU\0` and whose type is
//! [`NT_GNU_BUILD_ID`]; its `desc` is the id.

/// The note type of a GNU build id.
pub const NT_GNU_BUILD_ID: u32 = 3;

/// The owner name of GNU notes, with its terminating NUL.
pub const GNU_NAME: &[u8] = b"GNU\0";

/// The longest build id believed: SHA-1 gives 20 bytes, `--build-id=md5`
/// 16, a `0x` id of the linker's command line at most this.
pub const MAX_BUILD_ID: usize = 64;

/// The build id among the notes in `notes` (the bytes of one or more
/// notes, one after the other): the `desc` of the first GNU note of type
/// [`NT_GNU_BUILD_ID`]. `None` when there is none, when it is empty or
/// longer than [`MAX_BUILD_ID`], or when a note runs past the end.
pub fn gnu_build_id(notes: &[u8]) -> Option<&[u8]> {
    let mut rest = notes;
    while rest.len() >= 12 {
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let (namesz, descsz, kind) = (word(0) as usize, word(4) as usize, word(8));
        let name_end = 12usize.checked_add(namesz)?;
        let desc_start = name_end.checked_add(3)? & !3;
        let desc_end = desc_start.checked_add(descsz)?;
        if desc_end > rest.len() {
            return None;
        }
        let (name, desc) = (&rest[12..name_end], &rest[desc_start..desc_end]);
        if name == GNU_NAME && kind == NT_GNU_BUILD_ID {
            return (!desc.is_empty() && desc.len() <= MAX_BUILD_ID).then_some(desc);
        }
        // The next note starts on a 4-byte boundary after this one's desc.
        rest = rest.get((desc_end.checked_add(3)? & !3).min(rest.len())..)?;
    }
    None
}
