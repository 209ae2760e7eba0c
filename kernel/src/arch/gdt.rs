//! Per-CPU GDT and TSS.
//!
//! Each CPU gets kernel code (0x08) and data (0x10) segments and its own
//! TSS, whose IST1 holds a separate stack for #DF and #MC: those must run
//! even when the interrupted stack is gone. #BP and NMI deliberately stay on
//! the interrupted stack (the `gap` handler pushes onto it, and a nested NMI
//! on an IST stack would overwrite the outer frame).

use super::percpu::MAX_CPUS;
use x86_64::{
    instructions::{segmentation::Segment, tables::load_tss},
    registers::segmentation::{CS, DS, ES, SS},
    structures::{
        gdt::{Descriptor, GlobalDescriptorTable},
        tss::TaskStateSegment,
    },
    VirtAddr,
};

/// IST slot (1-based in the IDT, 0-based here) for #DF and #MC.
pub const IST_FATAL: u16 = 0;
const IST_SIZE: usize = 16 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_SIZE]);

static mut IST: [IstStack; MAX_CPUS] = [const { IstStack([0; IST_SIZE]) }; MAX_CPUS];
static mut TSS: [TaskStateSegment; MAX_CPUS] = [const { TaskStateSegment::new() }; MAX_CPUS];
static mut GDT: [GlobalDescriptorTable; MAX_CPUS] =
    [const { GlobalDescriptorTable::new() }; MAX_CPUS];

/// Builds and loads CPU `cpu`'s GDT and TSS. Called once on each CPU, by
/// that CPU; built from scratch, since an AP that timed out may have left
/// its tables in the slot that the next AP gets.
pub fn init(cpu: usize) {
    // SAFETY: slot `cpu` is touched only here, by CPU `cpu` itself (the AP
    // that had it before, if any, was parked with INIT); after loading, the
    // CPU reads the tables and we never write them again.
    unsafe {
        let ist_top = core::ptr::addr_of!(IST[cpu]) as u64 + IST_SIZE as u64;
        let tss = &mut *core::ptr::addr_of_mut!(TSS[cpu]);
        *tss = TaskStateSegment::new();
        tss.interrupt_stack_table[IST_FATAL as usize] = VirtAddr::new(ist_top);
        let gdt = &mut *core::ptr::addr_of_mut!(GDT[cpu]);
        *gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(&*core::ptr::addr_of!(TSS[cpu])));
        gdt.load_unsafe();
        CS::set_reg(code);
        SS::set_reg(data);
        DS::set_reg(data);
        ES::set_reg(data);
        load_tss(tss_sel);
    }
}
