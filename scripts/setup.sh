#!/usr/bin/env bash
# Installs what building, booting and testing need on Debian (bookworm):
#
#   * Debian packages: QEMU, GRUB for BIOS and UEFI, xorriso and mtools (for
#     grub-mkrescue), OVMF (UEFI firmware for QEMU), a C toolchain (the host
#     linker that cargo uses), make;
#   * Rust: stable with the x86_64-unknown-none target, rustfmt and clippy.
#
# Idempotent and quick when everything is present: it only asks dpkg and
# rustup what is installed, and runs `apt-get update` only when a package is
# missing. It prints what it installs, and nothing else but one summary line.
#
#   bash scripts/setup.sh [--qemu 10] [--bochs]
#
# --qemu 10 also unpacks QEMU 10 beside the system's QEMU 7.2, under
# build/qemu-10/ (scripts/setup-qemu.sh: Debian bookworm-backports' packages
# through a private apt state; the system's apt sources and packages are not
# touched). `make test` and `make run QEMU=10` pass it.
#
# Environment:
#   SETUP_DRY_RUN=1   say what would be installed, install nothing
#   RUST_MIN=1.95     oldest rustc accepted before `rustup update stable`
set -euo pipefail

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

QEMU_EXTRA=()
BOCHS=0
while (($#)); do
    case $1 in
        --qemu)
            [[ $# -ge 2 && -n $2 ]] || die "--qemu needs a major version, e.g. --qemu 10"
            QEMU_EXTRA+=("$2")
            shift 2
            ;;
        --qemu=*) QEMU_EXTRA+=("${1#--qemu=}"); shift ;;
        --bochs) BOCHS=1; shift ;;
        *) die "unknown argument '$1' (usage: $0 [--qemu 10] [--bochs])" ;;
    esac
done

readonly PACKAGES=(
    qemu-system-x86     # qemu-system-x86_64 (with SeaBIOS and qboot)
    ovmf                # OVMF.fd: UEFI firmware for QEMU
    grub-common         # grub-mkrescue, grub-file
    grub-pc-bin         # GRUB for BIOS (i386-pc)
    grub-efi-amd64-bin  # GRUB for UEFI (x86_64-efi)
    xorriso             # ISO 9660 writer behind grub-mkrescue
    mtools              # mformat: the EFI system partition inside the ISO
    gcc                 # `cc`: the linker for host crates and build scripts
    libc6-dev           # crt files and libc for that linker
    make
)
# --bochs: Bochs 2.7 with its BIOS and VGA BIOS (`harness run --emulator
# bochs`; Debian's build has the RFB display the harness uses headless).
readonly BOCHS_PACKAGES=(bochs bochsbios vgabios)
readonly RUST_TARGET=x86_64-unknown-none
readonly RUST_COMPONENTS=(rustfmt clippy)
readonly RUST_MIN=${RUST_MIN:-1.95}
readonly DRY_RUN=${SETUP_DRY_RUN:-0}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (run this script as root or install sudo)"
    fi
}

installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# --- Debian packages --------------------------------------------------------

command -v dpkg-query >/dev/null 2>&1 ||
    die "dpkg-query not found: this script supports Debian and its derivatives"

wanted=("${PACKAGES[@]}")
((BOCHS)) && wanted+=("${BOCHS_PACKAGES[@]}")
missing=()
for pkg in "${wanted[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    if [[ $DRY_RUN == 1 ]]; then
        say "dry run: not installing"
    else
        export DEBIAN_FRONTEND=noninteractive
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
        for pkg in "${missing[@]}"; do
            installed "$pkg" || die "apt-get did not install $pkg"
        done
    fi
fi

# --- Rust --------------------------------------------------------------------

# A shell that has not read ~/.profile (CI, cron, `sudo -i` ...) may not have
# ~/.cargo/bin on PATH; rustup's own env file adds it.
if ! command -v cargo >/dev/null 2>&1; then
    env_file=${CARGO_HOME:-$HOME/.cargo}/env
    # shellcheck disable=SC1090
    [[ -f $env_file ]] && . "$env_file"
fi

if ! command -v rustup >/dev/null 2>&1; then
    if command -v cargo >/dev/null 2>&1; then
        die "cargo is $(command -v cargo) but rustup is missing: the $RUST_TARGET target is installed through rustup (https://rustup.rs)"
    fi
    say "installing Rust (stable) with rustup"
    [[ $DRY_RUN == 1 ]] && { say "dry run: not installing"; exit 0; }
    if ! command -v curl >/dev/null 2>&1; then
        say "installing Debian packages: curl ca-certificates"
        as_root apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends curl ca-certificates </dev/null
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --default-toolchain stable ||
        die "could not install Rust from https://sh.rustup.rs; install rustup by hand"
    # shellcheck disable=SC1091
    . "${CARGO_HOME:-$HOME/.cargo}/env"
fi

# Is version $1 (x.y[.z]) at least $2? Both compared as numbers per part.
version_at_least() {
    local -a have want
    local i
    IFS=. read -r -a have <<<"$1"
    IFS=. read -r -a want <<<"$2"
    for i in 0 1 2; do
        local h=${have[i]:-0} w=${want[i]:-0}
        ((h > w)) && return 0
        ((h < w)) && return 1
    done
    return 0
}

rustc_version=$(rustc --version 2>/dev/null | awk '{print $2}') || rustc_version=
rustc_version=${rustc_version%%-*}
if [[ -z $rustc_version ]] || ! version_at_least "$rustc_version" "$RUST_MIN"; then
    say "updating Rust stable (rustc ${rustc_version:-absent}, want >= $RUST_MIN)"
    if [[ $DRY_RUN != 1 ]]; then
        rustup toolchain install stable --profile minimal --no-self-update
        rustc_version=$(rustc --version | awk '{print $2}')
        version_at_least "${rustc_version%%-*}" "$RUST_MIN" ||
            die "rustc is $rustc_version, need >= $RUST_MIN (is a rust-toolchain override or a different default set? see 'rustup show')"
    fi
fi

if ! rustup target list --installed 2>/dev/null | grep -qx "$RUST_TARGET"; then
    say "installing Rust target $RUST_TARGET"
    [[ $DRY_RUN == 1 ]] || rustup target add "$RUST_TARGET"
fi

components=$(rustup component list --installed 2>/dev/null)
for component in "${RUST_COMPONENTS[@]}"; do
    if ! grep -q "^$component" <<<"$components"; then
        say "installing Rust component $component"
        [[ $DRY_RUN == 1 ]] || rustup component add "$component"
    fi
done

# --- other QEMUs, beside the system's -------------------------------------------

qemus=
for major in "${QEMU_EXTRA[@]}"; do
    bash "$(dirname "${BASH_SOURCE[0]}")/setup-qemu.sh" "$major"
    qemus+=", QEMU $major in build/qemu-$major/"
done

say "ready: rustc $rustc_version ($RUST_TARGET), $(qemu-system-x86_64 --version 2>/dev/null | head -n1 || echo 'no QEMU')$qemus"
