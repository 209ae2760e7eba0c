#!/usr/bin/env bash
# Writes the ELF fixtures of the harness's build-id tests from kernel.s:
#
#   with-build-id.elf  linked with --build-id=sha1 (a .note.gnu.build-id)
#   no-build-id.elf    the same without a note
#
# The files are kept in git (the tests need no assembler); run this again
# only to change them, and update the build id that harness/src/judge/build_id.rs
# and harness/tests/golden.rs expect (`readelf -n with-build-id.elf`).
# Needs GNU as and ld (binutils).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
as --64 -o "$tmp/kernel.o" kernel.s
# -N: text and note unaligned, so the file stays small; the text at the
# address of a real kernel's #BP handler (the RIP of the golden log).
link() { ld -m elf_x86_64 -N -z noexecstack --no-warn-rwx-segments -Ttext=0x10b000 -e 0x10b000 "$@" "$tmp/kernel.o"; }
link --build-id=sha1 -o with-build-id.elf
link --build-id=none -o no-build-id.elf
readelf -n with-build-id.elf | sed -n 's/^ *Build ID: /with-build-id.elf: build id /p'
