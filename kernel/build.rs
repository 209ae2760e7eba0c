//! Links the kernel with its own script (fixed low address, page-aligned
//! segments, the multiboot2 header first, the PVH note in a PT_NOTE) and a
//! GNU build id (a SHA-1 of the image in `.note.gnu.build-id`, which the
//! kernel reports in its `hello` record and the harness matches to an ELF).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rustc-link-arg-bins=--build-id=sha1");
    println!("cargo:rerun-if-changed={dir}/linker.ld");
}
