#!/usr/bin/env bash
# Builds a second bootable image in which Limine (not GRUB) boots the kernel
# through its multiboot2 header: a hybrid ISO for BIOS and UEFI.
#
#   scripts/mkiso-limine.sh [--kernel ELF] [--out ISO] [--cmdline "WORDS"]
#                           [--limine-dir DIR]
#
# Limine's binaries come from no Debian package. They are looked for in
#   1. --limine-dir DIR, or the LIMINE_DIR environment variable;
#   2. build/limine, fetched there on first use (where a network allows) with
#        git clone --branch=$LIMINE_BRANCH --depth=1 $LIMINE_REPO build/limine
#      (LIMINE_BRANCH defaults to v8.x-binary; LIMINE_FETCH=0 skips the fetch).
# The directory must hold limine-bios.sys, limine-bios-cd.bin,
# limine-uefi-cd.bin and BOOTX64.EFI, and either the host tool `limine` or its
# source limine.c (built here with cc); a `limine` on PATH also serves.
#
# Default output: out/static-call-limine.iso. The GRUB image (scripts/mkiso.sh)
# is the primary one; nothing else depends on this one.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
kernel=$target_dir/x86_64-unknown-none/release/kernel
out=$root/out/static-call-limine.iso
cmdline=
limine_dir=${LIMINE_DIR:-}
readonly LIMINE_REPO=${LIMINE_REPO:-https://github.com/limine-bootloader/limine.git}
readonly LIMINE_BRANCH=${LIMINE_BRANCH:-v8.x-binary}
readonly LIMINE_FETCH=${LIMINE_FETCH:-1}
readonly REQUIRED=(limine-bios.sys limine-bios-cd.bin limine-uefi-cd.bin BOOTX64.EFI)

say() { printf 'mkiso-limine: %s\n' "$*"; }
die() { printf 'mkiso-limine: error: %s\n' "$*" >&2; exit 2; }

while (($#)); do
    case $1 in
        --kernel) kernel=${2:?--kernel needs a path}; shift 2 ;;
        --out) out=${2:?--out needs a path}; shift 2 ;;
        --cmdline) cmdline=${2?--cmdline needs a value}; shift 2 ;;
        --limine-dir) limine_dir=${2:?--limine-dir needs a path}; shift 2 ;;
        -h | --help) sed -n '2,20s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

# --- preconditions: kernel and tools -----------------------------------------

command -v xorriso >/dev/null 2>&1 || die "xorriso not found: run scripts/setup.sh"
[[ -f $kernel ]] || die "no kernel at $kernel: run 'make kernel' first"
[[ -f $root/limine.cfg ]] || die "$root/limine.cfg is missing"
[[ $cmdline =~ ^[A-Za-z0-9=,._:/\ -]*$ ]] ||
    die "command line '$cmdline' has unexpected characters; allowed: letters, digits, = , . _ : / - and spaces"

# --- Limine's binaries ---------------------------------------------------------

missing_files() {
    local f
    for f in "${REQUIRED[@]}"; do
        [[ -f $1/$f ]] || printf '%s ' "$f"
    done
}

if [[ -z $limine_dir ]]; then
    limine_dir=$root/build/limine
    if [[ -n $(missing_files "$limine_dir") && $LIMINE_FETCH == 1 ]]; then
        command -v git >/dev/null 2>&1 || die "Limine's binaries are not in $limine_dir and git is not installed to fetch them"
        say "fetching Limine ($LIMINE_BRANCH) from $LIMINE_REPO"
        rm -rf "$limine_dir.partial"
        mkdir -p "$root/build"
        if timeout 120 git clone --quiet --branch="$LIMINE_BRANCH" --depth=1 \
            "$LIMINE_REPO" "$limine_dir.partial" </dev/null; then
            rm -rf "$limine_dir"
            mv "$limine_dir.partial" "$limine_dir"
        else
            rm -rf "$limine_dir.partial"
            say "could not fetch $LIMINE_REPO (branch $LIMINE_BRANCH): no network to it?"
        fi
    fi
fi

missing=$(missing_files "$limine_dir")
if [[ -n $missing ]]; then
    die "Limine's binaries are missing from $limine_dir: ${missing% }.
  Get Limine's binary release (branch $LIMINE_BRANCH of $LIMINE_REPO) where a
  network allows, then point LIMINE_DIR at it:
      git clone --branch=$LIMINE_BRANCH --depth=1 $LIMINE_REPO /path/to/limine
      make iso-limine LIMINE_DIR=/path/to/limine
  The GRUB image (make iso) does not need Limine."
fi

# The host tool writes the BIOS boot code into the image (`limine bios-install`).
if [[ -x $limine_dir/limine && ! -d $limine_dir/limine ]]; then
    limine_tool=$limine_dir/limine
elif [[ -f $limine_dir/limine.c ]]; then
    # Built every time (about a second): a tool left from another
    # LIMINE_DIR must not be used by mistake.
    limine_tool=$root/build/limine-host
    command -v cc >/dev/null 2>&1 || die "cc not found to build $limine_dir/limine.c: run scripts/setup.sh"
    mkdir -p "$root/build"
    say "building the limine host tool from $limine_dir/limine.c"
    cc -O2 -pipe -std=c99 -o "$limine_tool" "$limine_dir/limine.c" ||
        die "could not build $limine_dir/limine.c"
elif command -v limine >/dev/null 2>&1; then
    limine_tool=$(command -v limine)
else
    die "the limine host tool is missing: neither $limine_dir/limine, nor $limine_dir/limine.c to build it from, nor 'limine' on PATH"
fi

# --- the tree that becomes the ISO ------------------------------------------

mkdir -p "$(dirname "$out")" "$root/build"
staging=$(mktemp -d "$root/build/limine-root.XXXXXX")
partial="$out.partial"
trap 'rm -rf "$staging" "$partial"' EXIT

mkdir -p "$staging/boot/limine" "$staging/EFI/BOOT"
cp "$kernel" "$staging/boot/kernel"
cp "$root/limine.cfg" "$staging/boot/limine/limine.conf"
if [[ -n $cmdline ]]; then
    # The entry is the last thing in limine.cfg: the option joins it.
    printf '    cmdline: %s\n' "$cmdline" >>"$staging/boot/limine/limine.conf"
fi
cp "$limine_dir"/limine-bios.sys "$limine_dir"/limine-bios-cd.bin \
    "$limine_dir"/limine-uefi-cd.bin "$staging/boot/limine/"
cp "$limine_dir/BOOTX64.EFI" "$staging/EFI/BOOT/"
if [[ -f $limine_dir/BOOTIA32.EFI ]]; then
    cp "$limine_dir/BOOTIA32.EFI" "$staging/EFI/BOOT/"
fi

# El Torito: Limine's BIOS CD stage, and its FAT image holding the UEFI
# loader, exposed as an EFI system partition for USB sticks as well.
xorriso -as mkisofs -R -r -J -V STATIC_CALL \
    -b boot/limine/limine-bios-cd.bin \
    -no-emul-boot -boot-load-size 4 -boot-info-table \
    --efi-boot boot/limine/limine-uefi-cd.bin \
    -efi-boot-part --efi-boot-image --protective-msdos-label \
    "$staging" -o "$partial" >"$root/build/xorriso-limine.log" 2>&1 || {
    cat "$root/build/xorriso-limine.log" >&2
    die "xorriso failed (log above)"
}
"$limine_tool" bios-install "$partial" >>"$root/build/xorriso-limine.log" 2>&1 || {
    cat "$root/build/xorriso-limine.log" >&2
    die "'$limine_tool bios-install' failed (log above)"
}

# --- postconditions ----------------------------------------------------------

torito=$(xorriso -indev "$partial" -report_el_torito plain 2>/dev/null)
grep -Eq 'El Torito boot img : +[0-9]+ +BIOS' <<<"$torito" ||
    die "the image has no BIOS boot entry:"$'\n'"$torito"
grep -Eq 'El Torito boot img : +[0-9]+ +UEFI' <<<"$torito" ||
    die "the image has no UEFI boot entry:"$'\n'"$torito"

mv "$partial" "$out"
say "${out#"$root"/} ($(du -h "$out" | cut -f1), BIOS+UEFI, cmdline \"$cmdline\")"
