# The stand-in for a kernel ELF in the harness's build-id tests: one
# function under the name the int3/spin/*/self deadlock must be stuck in,
# at the address of a real kernel's #BP handler. Assembled and linked by
# mkfixtures.sh.
    .text
    .globl "kernel::bp::handle"
    .type "kernel::bp::handle", @function
"kernel::bp::handle":
    .fill 0x800, 1, 0xcc
    .size "kernel::bp::handle", . - "kernel::bp::handle"
