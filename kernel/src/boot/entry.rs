//! The 32-bit entry shared by both boot protocols, and the switch to long
//! mode.
//!
//! PVH (QEMU `-kernel`) and multiboot2 (GRUB, Limine) both enter at
//! `_start32` in 32-bit protected mode with paging off, interrupts off and
//! flat segments, with EBX pointing at their boot information. Multiboot2
//! also puts its magic in EAX; PVH leaves EAX undefined (microvm passes
//! garbage), so [`super::BootInfo`] tells them apart by the magic *at EBX*
//! first.
//!
//! The plan:
//! 1. keep EAX/EBX (protocol magic and info pointer) in EDI/ESI, which the
//!    64-bit code receives as the first two C arguments;
//! 2. ask CPUID whether NX exists (a BIOS can hide it on old Intel boards);
//! 3. identity-map the first 4 GiB with 2 MiB pages (boot tables only: the
//!    kernel replaces them with exact-permission tables right after);
//! 4. DR7 cleared, CR4 = PAE, CR3, EFER.LME (and NXE when present), then
//!    CR0 = PG|WP|NE|ET|PE (caches on): long mode;
//! 5. far jump into the 64-bit code segment and call the Rust entry.

use crate::arch::{cpu, stacks};
use pvh::xen_elfnote_phys32_entry;

unsafe extern "C" {
    fn _start32() -> !;
}

xen_elfnote_phys32_entry!(_start32);

core::arch::global_asm!(
    // ---- multiboot2 header: magic, arch (i386), length, checksum, end tag.
    ".section .multiboot2, \"a\"",
    ".balign 8",
    "2:",
    ".long 0xe85250d6",
    ".long 0",
    ".long 3f - 2b",
    ".long 0x100000000 - (0xe85250d6 + (3f - 2b))",
    ".balign 8",
    ".short 0",
    ".short 0",
    ".long 8",
    "3:",

    ".section .text.boot32, \"ax\"",
    ".code32",
    ".global _start32",
    "_start32:",
    "cli",
    "cld",
    // Step 1: protocol magic and info pointer.
    "mov %eax, %edi",
    "mov %ebx, %esi",
    "mov ${stack} + {stack_size} + 4096, %esp",
    // Step 2: EFER bits: LME always, NXE when CPUID.80000001h:EDX[20].
    "mov $0x100, %ebp",
    "mov $0x80000000, %eax",
    "cpuid",
    "cmp $0x80000001, %eax",
    "jb 4f",
    "mov $0x80000001, %eax",
    "cpuid",
    "test $0x100000, %edx",
    "jz 4f",
    "or $0x800, %ebp",
    "4:",
    "mov %ebp, {efer_bits}",
    // Step 3: PML4[0] -> PDPT; PDPT[0..4] -> four page directories of
    // 512 2-MiB pages each (present | writable | huge).
    "mov ${pdpt}, %eax",
    "or $3, %eax",
    "mov %eax, {pml4}",
    "mov ${pd}, %eax",
    "or $3, %eax",
    "xor %ecx, %ecx",
    "5:",
    "mov %eax, {pdpt}(,%ecx,8)",
    "add $0x1000, %eax",
    "inc %ecx",
    "cmp $4, %ecx",
    "jb 5b",
    "xor %ecx, %ecx",
    "6:",
    "mov %ecx, %eax",
    "shl $21, %eax",
    "or $0x83, %eax",
    "mov %eax, {pd}(,%ecx,8)",
    "movl $0, {pd}+4(,%ecx,8)",
    "inc %ecx",
    "cmp $2048, %ecx",
    "jb 6b",
    // Step 4: PAE, CR3, EFER, then paging with write protection. CR0, CR4
    // and DR7 are written whole, not ORed into what the firmware left: a
    // firmware's CR4 bits or armed debug registers must not follow the
    // kernel into the experiments (the APs start from reset values).
    "xor %eax, %eax",
    "mov %eax, %dr7",
    "mov $0x20, %eax",
    "mov %eax, %cr4",
    "mov ${pml4}, %eax",
    "mov %eax, %cr3",
    "mov $0xC0000080, %ecx",
    "rdmsr",
    "or %ebp, %eax",
    "wrmsr",
    "mov ${cr0}, %eax",
    "mov %eax, %cr0",
    // Step 5: 64-bit code segment, then Rust.
    "lgdt {gdtr}",
    "ljmp $0x08, $7f",
    ".code64",
    "7:",
    "mov $0x10, %eax",
    "mov %eax, %ds",
    "mov %eax, %es",
    "mov %eax, %ss",
    "mov %eax, %fs",
    "mov %eax, %gs",
    "mov ${stack} + {stack_size} + 4096, %rsp",
    "mov %edi, %edi",
    "mov %esi, %esi",
    "xor %ebp, %ebp",
    "call {entry}",
    "ud2",
    stack = sym stacks::BOOT_STACK,
    stack_size = const stacks::BOOT_STACK_SIZE,
    efer_bits = sym cpu::BOOT_EFER,
    cr0 = const cpu::CR0_LONG_MODE,
    pml4 = sym BOOT_PML4,
    pdpt = sym BOOT_PDPT,
    pd = sym BOOT_PD,
    gdtr = sym boot_gdtr,
    entry = sym super::entry64,
    options(att_syntax),
);

#[repr(C, align(4096))]
struct Page([u64; 512]);

static mut BOOT_PML4: Page = Page([0; 512]);
static mut BOOT_PDPT: Page = Page([0; 512]);
static mut BOOT_PD: [Page; 4] = [const { Page([0; 512]) }; 4];

unsafe extern "C" {
    /// The pseudo-descriptor of the boot GDT, defined in assembly below.
    static boot_gdtr: u8;
}

// Null, 64-bit code (0x08), data (0x10): enough to reach long mode. The
// pseudo-descriptor holds a 32-bit base, which only assembly can fill in.
core::arch::global_asm!(
    ".section .rodata.boot_gdt, \"a\"",
    ".balign 16",
    "8:",
    ".quad 0",
    ".quad 0x00af9a000000ffff",
    ".quad 0x00cf92000000ffff",
    ".global boot_gdtr",
    "boot_gdtr:",
    ".short 23",
    ".long 8b",
    options(att_syntax),
);
