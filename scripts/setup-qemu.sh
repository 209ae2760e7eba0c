#!/usr/bin/env bash
# Unpacks a second QEMU beside the system's, without touching the system:
#
#   bash scripts/setup-qemu.sh 10     (scripts/setup.sh --qemu 10 calls it)
#
# QEMU 10 comes from Debian's bookworm-backports: qemu-system-x86,
# qemu-system-common and qemu-system-data are fetched with `apt-get
# download` through a private apt state under build/apt-qemu-10/ (its own
# sources list, package lists and cache; the system's apt sources, lists and
# dpkg database are never written), unpacked with `dpkg -x` into
# build/qemu-10/root/, and build/qemu-10/qemu-system-x86_64 is a wrapper
# that runs it with its firmware paths (-L): its own data directory, then
# the system's SeaBIOS and iPXE ROMs, which qemu-system-data does not ship
# (the system's qemu-system-x86 brings them: scripts/setup.sh installs it).
#
# Idempotent and quick: when the wrapper exists and reports QEMU 10, it does
# nothing. `harness run --qemu 10` and a matrix row's `qemu = 10` use it.
#
# Environment:
#   SETUP_DRY_RUN=1   say what would be fetched, fetch nothing
set -euo pipefail

say() { printf 'setup-qemu: %s\n' "$*"; }
die() { printf 'setup-qemu: error: %s\n' "$*" >&2; exit 2; }

[[ $# -eq 1 ]] || die "usage: $0 MAJOR (e.g. 10)"
readonly MAJOR=$1
case $MAJOR in
    10) readonly SUITE=bookworm-backports MIRROR=http://deb.debian.org/debian ;;
    *) die "QEMU '$MAJOR': this script fetches QEMU 10 (Debian bookworm-backports) only; the system's QEMU is 7.2 (--qemu qemu-system-x86_64)" ;;
esac
readonly PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data)
readonly DRY_RUN=${SETUP_DRY_RUN:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly DEST=$ROOT/build/qemu-$MAJOR
readonly WRAPPER=$DEST/qemu-system-x86_64
readonly APT_DIR=$ROOT/build/apt-qemu-$MAJOR
# Firmware QEMU looks for by name that qemu-system-data does not ship.
readonly SYSTEM_FIRMWARE=(/usr/share/seabios /usr/lib/ipxe/qemu)

# Whether the wrapper runs and says it is QEMU $MAJOR.x.
ready() {
    [[ -x $WRAPPER ]] &&
        "$WRAPPER" --version 2>/dev/null | head -n1 | grep -q "^QEMU emulator version $MAJOR\."
}

if ready; then
    exit 0
fi

for cmd in apt-get apt-cache dpkg ldd; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: this script needs Debian's apt and dpkg"
done
for d in "${SYSTEM_FIRMWARE[@]}"; do
    [[ -d $d ]] || die "$d is missing: install the system's QEMU first (bash scripts/setup.sh installs qemu-system-x86, which brings SeaBIOS and iPXE)"
done

# --- a private apt state: nothing of the system's apt configuration is written
mkdir -p "$APT_DIR"/{lists/partial,cache/archives/partial,debs}
echo "deb $MIRROR $SUITE main" >"$APT_DIR/sources.list"
APT=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "APT::Sandbox::User=$(id -un)"
)

say "fetching the package lists of $SUITE into build/apt-qemu-$MAJOR/"
if [[ $DRY_RUN == 1 ]]; then
    say "dry run: would run apt-get update and download ${PACKAGES[*]} from $SUITE"
    exit 0
fi
apt-get "${APT[@]}" -q update >"$APT_DIR/update.log" 2>&1 ||
    die "apt-get update of $SUITE failed (is $MIRROR reachable?): see $APT_DIR/update.log"

# The newest $MAJOR.x version of each package in those lists; all three must
# agree (they are built from one source package).
version=
for pkg in "${PACKAGES[@]}"; do
    v=$(apt-cache "${APT[@]}" madison "$pkg" |
        awk -F'|' -v suite="$SUITE" -v major="$MAJOR" '
            { gsub(/ /, "", $2) }
            index($3, suite "/") && $2 ~ ("^([0-9]+:)?" major "\\.") { print $2; exit }')
    [[ -n $v ]] || die "$SUITE has no QEMU $MAJOR.x version of $pkg"
    [[ -z $version || $v == "$version" ]] ||
        die "$SUITE has $pkg $v but ${PACKAGES[0]} $version: try again later"
    version=$v
done

say "downloading ${PACKAGES[*]} $version"
rm -f "$APT_DIR/debs"/*.deb
(cd "$APT_DIR/debs" &&
    apt-get "${APT[@]}" -q download "${PACKAGES[@]/%/=$version}" >"$APT_DIR/download.log" 2>&1) ||
    die "apt-get download failed: see $APT_DIR/download.log"

# Unpack beside the destination, then swap: an interrupted run never leaves a
# half-unpacked QEMU that looks ready.
tmp=$ROOT/build/.qemu-$MAJOR.tmp
rm -rf "$tmp"
mkdir -p "$tmp/root"
for deb in "$APT_DIR/debs"/*.deb; do
    dpkg -x "$deb" "$tmp/root"
done
bin=$tmp/root/usr/bin/qemu-system-x86_64
[[ -x $bin ]] || die "the packages hold no usr/bin/qemu-system-x86_64"
missing=$(ldd "$bin" | awk '/not found/ { print $1 }' | sort -u | tr '\n' ' ')
[[ -z $missing ]] ||
    die "QEMU $version needs libraries this system lacks: $missing(its Debian release is older than $SUITE's)"

firmware_args=
for d in "${SYSTEM_FIRMWARE[@]}"; do
    firmware_args+=" -L $d"
done
cat >"$tmp/qemu-system-x86_64" <<EOF
#!/bin/sh
# QEMU $version from Debian $SUITE, unpacked by scripts/setup-qemu.sh.
# -L: its own data directory first, then the system's SeaBIOS and iPXE ROMs
# (qemu-system-data does not ship them).
here=\$(dirname "\$(readlink -f "\$0")")
exec "\$here/root/usr/bin/qemu-system-x86_64" -L "\$here/root/usr/share/qemu"$firmware_args "\$@"
EOF
chmod +x "$tmp/qemu-system-x86_64"
rm -rf "$DEST"
mv "$tmp" "$DEST"

ready || die "$WRAPPER does not run as QEMU $MAJOR: $("$WRAPPER" --version 2>&1 | head -n1)"
say "ready: $("$WRAPPER" --version | head -n1) at build/qemu-$MAJOR/qemu-system-x86_64"
