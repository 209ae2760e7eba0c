//! Links the kernel with its own script (fixed low address, page-aligned
//! segments, the multiboot2 header first, the PVH note in a PT_NOTE).
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rerun-if-changed={dir}/linker.ld");
}
