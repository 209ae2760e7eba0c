#!/usr/bin/env bash
# Builds the bootable image: a hybrid ISO (CD and USB stick; BIOS and UEFI)
# in which GRUB boots the kernel through its multiboot2 header.
#
#   scripts/mkiso.sh [--kernel ELF] [--out ISO] [--cmdline "WORDS"]
#
# Defaults: the release kernel of `make kernel`, out/static-call.iso, an empty
# command line. Works offline, from Debian's grub-pc-bin, grub-efi-amd64-bin,
# xorriso and mtools (scripts/setup.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
kernel=$target_dir/x86_64-unknown-none/release/kernel
out=$root/out/static-call.iso
cmdline=

die() { printf 'mkiso: error: %s\n' "$*" >&2; exit 2; }

while (($#)); do
    case $1 in
        --kernel) kernel=${2:?--kernel needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a path}; shift 2 ;;
        --cmdline) cmdline=${2?--cmdline needs a value}; shift 2 ;;
        -h | --help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# --- preconditions -----------------------------------------------------------

for tool in grub-mkrescue grub-file xorriso mformat; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: run scripts/setup.sh"
done
for platform in i386-pc x86_64-efi; do
    [[ -d /usr/lib/grub/$platform ]] ||
        die "/usr/lib/grub/$platform missing (grub-pc-bin / grub-efi-amd64-bin): run scripts/setup.sh"
done
[[ -f $kernel ]] || die "no kernel at $kernel: run 'make kernel' first"
grub-file --is-x86-multiboot2 "$kernel" ||
    die "$kernel has no multiboot2 header that GRUB accepts"
# The command line lands in grub.cfg unquoted: keep it to plain words.
[[ $cmdline =~ ^[A-Za-z0-9=,._:/\ -]*$ ]] ||
    die "command line '$cmdline' has characters GRUB would interpret; allowed: letters, digits, = , . _ : / - and spaces"

# --- the tree that becomes the ISO ------------------------------------------

mkdir -p "$(dirname "$out")" "$root/build"
staging=$(mktemp -d "$root/build/iso-root.XXXXXX")
partial="$out.partial"
trap 'rm -rf "$staging" "$partial"' EXIT

mkdir -p "$staging/boot/grub"
cp "$kernel" "$staging/boot/kernel"
sed "s|@CMDLINE@|$cmdline|" "$root/scripts/grub.cfg" >"$staging/boot/grub/grub.cfg"

# grub-mkrescue writes GRUB's BIOS El Torito image, a FAT EFI system
# partition holding BOOTX64.EFI, and the hybrid MBR/GPT that lets the same
# file be dd'ed to a USB stick. No fonts, locales or themes: the menu is
# never shown (timeout 0) and the image stays small.
grub-mkrescue --output="$partial" \
    --fonts= --locales= --themes= \
    "$staging" -- -volid STATIC_CALL >"$root/build/grub-mkrescue.log" 2>&1 || {
    cat "$root/build/grub-mkrescue.log" >&2
    die "grub-mkrescue failed (log above)"
}

# --- postconditions ----------------------------------------------------------

# Both firmware paths must be there: El Torito platform 0x00 (BIOS) and 0xef
# (UEFI).
torito=$(xorriso -indev "$partial" -report_el_torito plain 2>/dev/null)
grep -Eq 'El Torito boot img : +[0-9]+ +BIOS' <<<"$torito" ||
    die "the image has no BIOS boot entry:"$'\n'"$torito"
grep -Eq 'El Torito boot img : +[0-9]+ +UEFI' <<<"$torito" ||
    die "the image has no UEFI boot entry:"$'\n'"$torito"

mv "$partial" "$out"
printf 'mkiso: %s (%s, BIOS+UEFI, cmdline "%s")\n' \
    "${out#"$root"/}" "$(du -h "$out" | cut -f1)" "$cmdline"
