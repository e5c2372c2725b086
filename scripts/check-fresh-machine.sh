#!/usr/bin/env bash
# Checks the README's set-up step on a fresh Debian without libclang: builds
# a minimal Debian (bookworm) with debootstrap in a scratch folder, runs
# scripts/setup.sh inside it (chroot) and checks that it says libclang is
# missing, installs it with apt-get, finds it afterwards, and is a no-op on
# a second run. Needs root and Debian's mirror; takes a few minutes, mostly
# downloading. Not part of `.ci/run` (it would add minutes to every run);
# run it by hand when scripts/setup.sh changes.
#
#   scripts/check-fresh-machine.sh [SCRATCH_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root="${1:-$(mktemp -d /tmp/kawase-fresh.XXXXXX)}"
if [ "$(id -u)" -ne 0 ]; then
    echo "check-fresh-machine: needs root (debootstrap and chroot)" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "check-fresh-machine: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi
cleanup() {
    umount "$root/proc" 2>/dev/null || true
}
trap cleanup EXIT
if [ ! -x "$root/usr/bin/apt-get" ]; then
    echo "check-fresh-machine: debootstrap bookworm into $root" >&2
    debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp scripts/setup.sh "$root/setup.sh"

if ls "$root"/usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
    echo "check-fresh-machine: FAIL: the fresh root already has libclang" >&2
    exit 1
fi
first=$(chroot "$root" /bin/bash /setup.sh 2>&1) || { echo "$first" >&2; echo "check-fresh-machine: FAIL: setup.sh failed" >&2; exit 1; }
echo "$first"
grep -q "libclang is missing" <<<"$first" || { echo "check-fresh-machine: FAIL: did not say libclang was missing" >&2; exit 1; }
grep -q "libclang installed" <<<"$first" || { echo "check-fresh-machine: FAIL: did not say it installed libclang" >&2; exit 1; }
ls "$root"/usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || { echo "check-fresh-machine: FAIL: no libclang.so after setup" >&2; exit 1; }
second=$(chroot "$root" /bin/bash /setup.sh 2>&1)
[ -z "$second" ] || { echo "$second" >&2; echo "check-fresh-machine: FAIL: second run was not silent" >&2; exit 1; }
echo "check-fresh-machine: ok: setup.sh detected the missing libclang, installed it, and is a no-op once it is there"
