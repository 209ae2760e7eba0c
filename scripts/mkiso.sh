#!/usr/bin/env bash
# Builds the bootable image: a hybrid ISO (CD and USB stick; BIOS and UEFI)
# in which GRUB boots the kernel through its multiboot2 header.
#
#   scripts/mkiso.sh [--kernel ELF] [--out ISO] [--cmdline "WORDS"] [--default N]
#
# Defaults: the release kernel of `make kernel`, out/static-call.iso, no
# extra words. The kernel ELF is kept beside the image (the ISO's name with
# .elf: out/static-call.elf), so that `harness parse` of a log from a machine
# booted off it finds the symbols by the log's build id. The GRUB menu
# (scripts/grub.cfg, entries from `harness iso-menu`): the default suite
# (booted after the timeout; --cmdline words join it), each own-boot
# experiment, the platform only, each sabotage; --default N makes entry N
# (from 0, in menu order) the one booted unattended.
# Works offline, from Debian's grub-pc-bin, grub-efi-amd64-bin, xorriso and
# mtools (scripts/setup.sh installs them). The harness is run as $HARNESS
# when set (a command, e.g. target/release/harness), else through cargo.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
kernel=$target_dir/x86_64-unknown-none/release/kernel
out=$root/out/static-call.iso
cmdline=
default_entry=0

die() { printf 'mkiso: error: %s\n' "$*" >&2; exit 2; }

while (($#)); do
    case $1 in
        --kernel) kernel=${2:?--kernel needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a path}; shift 2 ;;
        --cmdline) cmdline=${2?--cmdline needs a value}; shift 2 ;;
        --default) default_entry=${2:?--default needs an entry number}; shift 2 ;;
        -h | --help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;;
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
# The words land in grub.cfg, each in single quotes: nothing in them may end
# the quote or the line (globs and comma lists are fine: `exp=naive/*,*/self`).
# The harness checks them again, and that the kernel knows every word.
[[ $cmdline =~ ^[A-Za-z0-9=,._:/*?\ -]*$ ]] ||
    die "command line '$cmdline' has characters GRUB would interpret; allowed: letters, digits, = , . _ : / - * ? and spaces"
if [[ -n ${HARNESS:-} ]]; then
    read -r -a harness <<<"$HARNESS"
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found to run the harness (or set HARNESS): run scripts/setup.sh"
    harness=(cargo run --quiet --release --manifest-path "$root/Cargo.toml" -p harness --)
fi

# --- the tree that becomes the ISO ------------------------------------------

mkdir -p "$(dirname "$out")" "$root/build"
staging=$(mktemp -d "$root/build/iso-root.XXXXXX")
partial="$out.partial"
elf=${out%.iso}.elf
# The menu is made beside the staging tree, so that ISOs made at once (a
# matrix's Bochs rows) never read each other's.
menu=$staging.menu
trap 'rm -rf "$staging" "$menu" "$partial" "$elf.partial"' EXIT

mkdir -p "$staging/boot/grub"
cp "$kernel" "$staging/boot/kernel"
# The menu, generated from the registry, in place of the @MENU@ line.
"${harness[@]}" iso-menu --loader grub --cmdline "$cmdline" >"$menu" ||
    die "the harness could not generate the menu (its error above)"
grub_cfg=$staging/boot/grub/grub.cfg
sed -e "/^@MENU@\$/{r $menu" -e 'd}' -e "s/^set default=0\$/set default=$default_entry/" \
    "$root/scripts/grub.cfg" >"$grub_cfg"
grep -q '^menuentry ' "$grub_cfg" && ! grep -q '^@MENU@$' "$grub_cfg" ||
    die "$root/scripts/grub.cfg has no @MENU@ line for the entries"
entries=$(grep -c '^menuentry ' "$grub_cfg")
[[ $default_entry =~ ^[0-9]+$ ]] && ((default_entry < entries)) ||
    die "--default $default_entry: the menu has entries 0 to $((entries - 1))"
grep -q "^set default=$default_entry\$" "$grub_cfg" ||
    die "$root/scripts/grub.cfg has no 'set default=0' line to change"
if command -v grub-script-check >/dev/null 2>&1; then
    grub-script-check "$grub_cfg" || die "GRUB refuses the generated $grub_cfg (kept in $menu)"
fi

# grub-mkrescue writes GRUB's BIOS El Torito image, a FAT EFI system
# partition holding BOOTX64.EFI, and the hybrid MBR/GPT that lets the same
# file be dd'ed to a USB stick. No fonts, locales or themes: the menu is text
# (on the serial line and the screen) and the image stays small.
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

# The ELF the image boots, beside it: the symbols of its logs.
cp "$staging/boot/kernel" "$elf.partial"
mv "$partial" "$out"
mv "$elf.partial" "$elf"
printf 'mkiso: %s (%s, BIOS+UEFI, %s menu entries; default: %s), its kernel as %s\n' \
    "${out#"$root"/}" "$(du -h "$out" | cut -f1)" "$entries" \
    "$(sed -n "s/^menuentry '\(.*\)' {\$/\1/p" "$grub_cfg" | sed -n "$((default_entry + 1))p")" \
    "${elf#"$root"/}"
