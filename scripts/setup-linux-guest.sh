#!/usr/bin/env bash
# Unpacks a real Linux guest for `harness linux`, without touching the
# system:
#
#   bash scripts/setup-linux-guest.sh
#
# Debian bookworm's own kernel (linux-image-6.1.0-N-amd64-unsigned, the
# newest N in bookworm's lists, about 70 MB) and busybox-static are fetched with
# `apt-get download` through a private apt state under build/apt-linux-guest/
# (its own sources list, package lists and cache; the system's apt sources,
# lists and dpkg database are never written) and unpacked with `dpkg -x`.
# build/linux-guest/ then holds:
#
#   vmlinuz         the kernel
#   initramfs.cpio  busybox, its applet links and /init (newc format, made
#                   with busybox's own cpio applet: no host cpio needed)
#   version         the kernel package and version, busybox's version
#
# The kernel package's System.map is a one-line placeholder (the real one
# is in the 850 MB debug package), so the guest names its own addresses:
# /init first writes the text symbols of /proc/kallsyms to the second
# serial port (ttyS1), which `harness linux` sends to a file of the run.
#
# /init reads its parameters from the kernel command line (lg.key=,
# lg.flips=, lg.workers=): it starts busy workers pinned to CPUs 1..N-1
# (fork/exec and sleep/wake loops: the scheduler paths), flips
# /proc/sys/kernel/KEY between 1 and 0 from CPU 0, prints `lg: flip I` per
# flip and `lg: end flips=N` at the end, and powers off.
#
# Idempotent and quick: when every file is there and the init is the one
# below, it does nothing (the initramfs is rebuilt when the init changes).
#
# Environment:
#   SETUP_DRY_RUN=1   say what would be fetched, fetch nothing
set -euo pipefail

say() { printf 'setup-linux-guest: %s\n' "$*"; }
die() { printf 'setup-linux-guest: error: %s\n' "$*" >&2; exit 2; }

[[ $# -eq 0 ]] || die "usage: $0 (no arguments)"
readonly SUITE=bookworm MIRROR=http://deb.debian.org/debian
readonly DRY_RUN=${SETUP_DRY_RUN:-0}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly DEST=$ROOT/build/linux-guest
readonly APT_DIR=$ROOT/build/apt-linux-guest

# The guest's /init. The harness reads its lines (harness/src/linux/console.rs):
# keep `lg: start`, `lg: flip I` and `lg: end flips=N` in step with it.
INIT=$(cat <<'EOF'
#!/bin/sh
# /init of the linux-guest initramfs (scripts/setup-linux-guest.sh).
# Kernel command line: lg.key=NAME (under /proc/sys/kernel/, or a path
# under /proc/sys/), lg.flips=N, lg.workers=N (default: CPUs - 1).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null

key=sched_schedstats flips=1000 workers=
for w in $(cat /proc/cmdline); do
    case $w in
        lg.key=*) key=${w#lg.key=} ;;
        lg.flips=*) flips=${w#lg.flips=} ;;
        lg.workers=*) workers=${w#lg.workers=} ;;
    esac
done
case $key in
    /proc/sys/*) path=$key ;;
    */*) path=/proc/sys/$key ;;
    *) path=/proc/sys/kernel/$key ;;
esac
cpus=$(grep -c '^processor' /proc/cpuinfo)
[ -n "$workers" ] || workers=$((cpus - 1))

fail() {
    echo "lg: error: $*"
    poweroff -f
    sleep 5
}
[ -w "$path" ] || fail "$path is not a writable file"
case $flips in ''|*[!0-9]*) fail "lg.flips=$flips is not a number" ;; esac
case $workers in ''|*[!0-9]*) fail "lg.workers=$workers is not a number" ;; esac

# CPU 0 flips; the workers run on CPUs 1..cpus-1, round robin. Each worker
# forks and execs (fork, exit, wait: enqueue and dequeue on both sides) and
# sleeps briefly (sleep and wake-up through the timer).
taskset -p 1 $$ >/dev/null
i=0
while [ $i -lt "$workers" ]; do
    cpu=0
    [ "$cpus" -le 1 ] || cpu=$((1 + i % (cpus - 1)))
    taskset -c $cpu sh -c 'while :; do /bin/true; usleep 200; done' &
    i=$((i + 1))
done

# The text symbols of the running kernel, for the harness to name
# addresses with (the kernel package has no System.map); then one line
# saying how many, so the harness knows the file is complete.
syms=$(grep -c ' [tTwW] ' /proc/kallsyms)
grep ' [tTwW] ' /proc/kallsyms >/dev/ttyS1 || fail "writing /proc/kallsyms to ttyS1"
echo "lg: symbols $syms"
orig=$(cat "$path")
echo "lg: start key=$path flips=$flips workers=$workers cpus=$cpus value=$orig"
n=0
while [ $n -lt "$flips" ]; do
    n=$((n + 1))
    echo $((n % 2)) >"$path" || fail "writing $((n % 2)) to $path"
    echo "lg: flip $n"
done
echo "$orig" >"$path"
echo "lg: end flips=$n"
kill $(jobs -p) 2>/dev/null
poweroff -f
EOF
)
readonly INIT

# Whether everything is unpacked and the initramfs holds this init.
ready() {
    [[ -s $DEST/vmlinuz && -s $DEST/initramfs.cpio &&
        -s $DEST/version && -f $DEST/init.sha256 ]] &&
        [[ $(sha256sum <<<"$INIT" | cut -d' ' -f1) == "$(cat "$DEST/init.sha256")" ]]
}

if ready; then
    exit 0
fi

for cmd in apt-get apt-cache dpkg-deb sha256sum; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: this script needs Debian's apt and dpkg"
done

# Builds initramfs.cpio in $1 from busybox at $2: busybox, one link per
# applet, /init. Busybox's own cpio applet writes the archive.
make_initramfs() {
    local dir=$1 busybox=$2
    local tree=$dir/initramfs
    rm -rf "$tree"
    mkdir -p "$tree"/{bin,dev,proc,sys,tmp}
    cp "$busybox" "$tree/bin/busybox"
    local applet
    for applet in $("$busybox" --list); do
        [[ $applet == busybox ]] || ln -sf busybox "$tree/bin/$applet"
    done
    ln -sf bin "$tree/sbin"
    printf '%s\n' "$INIT" >"$tree/init"
    chmod +x "$tree/init"
    "$busybox" cpio --help 2>&1 | grep -q -- '-o' ||
        die "this busybox's cpio applet cannot create archives (-o)"
    # Sorted for a reproducible archive; `.` first so the root comes first.
    (cd "$tree" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc) >"$dir/initramfs.cpio.tmp" 2>"$dir/cpio.log" ||
        die "busybox cpio failed: see $dir/cpio.log"
    mv "$dir/initramfs.cpio.tmp" "$dir/initramfs.cpio"
    sha256sum <<<"$INIT" | cut -d' ' -f1 >"$dir/init.sha256"
}

# Only the init changed: rebuild the archive from the busybox already here.
if [[ -s $DEST/vmlinuz && -x $DEST/busybox && -s $DEST/version ]]; then
    say "rebuilding build/linux-guest/initramfs.cpio (its /init changed)"
    [[ $DRY_RUN == 1 ]] && exit 0
    make_initramfs "$DEST" "$DEST/busybox"
    rm -rf "$DEST/initramfs"
    ready || die "the initramfs was not rebuilt"
    say "ready: build/linux-guest/ ($(head -n1 "$DEST/version"))"
    exit 0
fi

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

say "fetching the package lists of $SUITE into build/apt-linux-guest/"
if [[ $DRY_RUN == 1 ]]; then
    say "dry run: would run apt-get update and download linux-image-6.1.0-N-amd64-unsigned and busybox-static from $SUITE"
    exit 0
fi
apt-get "${APT[@]}" -q update >"$APT_DIR/update.log" 2>&1 ||
    die "apt-get update of $SUITE failed (is $MIRROR reachable?): see $APT_DIR/update.log"

# The newest ABI N of linux-image-6.1.0-N-amd64-unsigned in those lists.
kernel_pkg=$(apt-cache "${APT[@]}" pkgnames linux-image-6.1.0- |
    grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' |
    sort -t- -k4,4n | tail -n1)
[[ -n $kernel_pkg ]] || die "$SUITE lists no linux-image-6.1.0-N-amd64-unsigned"

say "downloading $kernel_pkg and busybox-static"
rm -f "$APT_DIR/debs"/*.deb
(cd "$APT_DIR/debs" &&
    apt-get "${APT[@]}" -q download "$kernel_pkg" busybox-static >"$APT_DIR/download.log" 2>&1) ||
    die "apt-get download failed: see $APT_DIR/download.log"

# Unpack beside the destination, then swap: an interrupted run never leaves
# a half-made guest that looks ready.
tmp=$ROOT/build/.linux-guest.tmp
rm -rf "$tmp"
mkdir -p "$tmp/root"
dpkg-deb -x "$APT_DIR"/debs/"$kernel_pkg"_*.deb "$tmp/root"
dpkg-deb -x "$APT_DIR"/debs/busybox-static_*.deb "$tmp/root"
vmlinuz=$(ls "$tmp"/root/boot/vmlinuz-6.1.0-*-amd64 2>/dev/null | head -n1)
[[ -n $vmlinuz ]] || die "$kernel_pkg holds no boot/vmlinuz-6.1.0-*-amd64"
[[ -x $tmp/root/bin/busybox ]] || die "busybox-static holds no bin/busybox"
cp "$vmlinuz" "$tmp/vmlinuz"
cp "$tmp/root/bin/busybox" "$tmp/busybox"
{
    echo "$kernel_pkg $(dpkg-deb -f "$APT_DIR"/debs/"${kernel_pkg}"_*.deb Version) ($(basename "$vmlinuz"))"
    echo "busybox-static $(dpkg-deb -f "$APT_DIR"/debs/busybox-static_*.deb Version)"
} >"$tmp/version"
make_initramfs "$tmp" "$tmp/busybox"
rm -rf "$tmp/root" "$tmp/initramfs"
rm -rf "$DEST"
mv "$tmp" "$DEST"

ready || die "build/linux-guest/ is not complete"
say "ready: build/linux-guest/ ($(head -n1 "$DEST/version"))"
