#!/usr/bin/env bash
# Boots an ISO in QEMU the way a real machine boots it (firmware, then GRUB or
# Limine, then the kernel's multiboot2 entry) and copies COM1 to stdout.
#
#   scripts/qemu-iso.sh [--firmware bios|uefi] [--iso ISO] [--smp N]
#                       [--timeout SECS] [--log FILE]
#
# Defaults: SeaBIOS, out/static-call.iso, 2 CPUs, 600 s (GRUB boots its
# default entry after 5 s: the whole suite, a few minutes under TCG). --log
# also keeps the serial transcript in FILE (feed it to `harness parse FILE`).
#
# A quick look for people and for checking images; `harness run --boot
# iso-bios|iso-uefi` is the judge (it reads the records, not this script's
# status). Exit status: 0 the kernel wrote the pass code to isa-debug-exit,
# 1 it wrote the fail code, 3 timeout, 2 anything else.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
firmware=bios
iso=$root/out/static-call.iso
smp=2
timeout_s=600
log=

die() { printf 'qemu-iso: error: %s\n' "$*" >&2; exit 2; }

while (($#)); do
    case $1 in
        --firmware) firmware=${2:?}; shift 2 ;;
        --iso) iso=${2:?}; shift 2 ;;
        --smp) smp=${2:?}; shift 2 ;;
        --timeout) timeout_s=${2:?}; shift 2 ;;
        --log) log=${2:?}; shift 2 ;;
        -h | --help) sed -n '2,15s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

[[ -f $iso ]] || die "no image at $iso: run 'make iso' first"
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 not found: run scripts/setup.sh"

fw_args=()
case $firmware in
    bios) ;; # QEMU's default firmware is SeaBIOS
    uefi)
        ovmf=
        for candidate in /usr/share/ovmf/OVMF.fd /usr/share/qemu/OVMF.fd \
            $(dpkg -L ovmf 2>/dev/null | grep '/OVMF\.fd$' || true); do
            [[ -f $candidate ]] && { ovmf=$candidate; break; }
        done
        [[ -n $ovmf ]] || die "OVMF.fd not found (Debian package ovmf): run scripts/setup.sh"
        fw_args=(-bios "$ovmf")
        ;;
    *) die "--firmware must be bios or uefi, not '$firmware'" ;;
esac

# Exit codes that the kernel writes to isa-debug-exit (report::exit) and
# what QEMU makes of them: (code << 1) | 1.
readonly QEMU_PASS=$(((0x10 << 1) | 1)) QEMU_FAIL=$(((0x11 << 1) | 1))

# shellcheck disable=SC2054 # the commas belong to QEMU's option values
cmd=(qemu-system-x86_64
    -machine q35 -accel tcg,thread=multi -smp "$smp" -m 256M
    "${fw_args[@]}"
    -cdrom "$iso" -boot d
    -display none -monitor none -serial stdio -no-reboot
    -device isa-debug-exit,iobase=0xf4,iosize=0x04)
printf 'qemu-iso: %s\n' "${cmd[*]}" >&2

status=0
if [[ -n $log ]]; then
    timeout --foreground -k 5 "$timeout_s" "${cmd[@]}" </dev/null | tee "$log" || status=${PIPESTATUS[0]}
else
    timeout --foreground -k 5 "$timeout_s" "${cmd[@]}" </dev/null || status=$?
fi

case $status in
    "$QEMU_PASS") echo "qemu-iso: the kernel reported pass" >&2; exit 0 ;;
    "$QEMU_FAIL") echo "qemu-iso: the kernel reported fail" >&2; exit 1 ;;
    124 | 137) echo "qemu-iso: no exit after ${timeout_s}s" >&2; exit 3 ;;
    *) echo "qemu-iso: QEMU exited with status $status" >&2; exit 2 ;;
esac
