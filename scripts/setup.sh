#!/usr/bin/env bash
# Installs what a fresh Debian machine with only the Rust toolchain lacks to
# build Kawase, saying what and why; a no-op when everything is there.
# Used by scripts/run-devnet.sh, scripts/test.sh and .ci/run.
#
# Today that is one thing: libclang. RocksDB's Rust bindings are generated at
# build time by bindgen, which loads libclang.so (not the clang binary, and
# not libclang-cpp.so, which Debian ships with other LLVM tools).
set -euo pipefail

say() { echo "kawase setup: $*" >&2; }

has_libclang() {
    local dir
    if [ -n "${LIBCLANG_PATH:-}" ]; then
        ls "$LIBCLANG_PATH"/libclang.so* "$LIBCLANG_PATH"/libclang-*.so* >/dev/null 2>&1 && return 0
    fi
    for dir in /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
        # libclang.so, libclang.so.1, libclang-14.so.1 ... but never libclang-cpp.so.
        for f in "$dir"/libclang.so* "$dir"/libclang-[0-9]*.so*; do
            [ -e "$f" ] && return 0
        done
    done
    return 1
}

if has_libclang; then
    exit 0
fi

say "libclang is missing: RocksDB's bindings are generated with bindgen, which needs it."
if ! command -v apt-get >/dev/null 2>&1; then
    say "no apt-get here: install libclang (package libclang-dev or clang) yourself, or set LIBCLANG_PATH to the folder holding libclang.so"
    exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    say "installing libclang-dev needs root: run 'sudo apt-get install libclang-dev' once, then this command again"
    exit 1
fi
say "installing Debian's libclang-dev (about 100 MB, once) ..."
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get update -qq >/dev/null || ! "${sudo[@]}" apt-get install -y -qq libclang-dev >/dev/null; then
    say "apt-get could not install libclang-dev (see above); install it by hand, or set LIBCLANG_PATH"
    exit 1
fi
if ! has_libclang; then
    say "libclang-dev is installed but no libclang.so was found; set LIBCLANG_PATH to the folder holding it"
    exit 1
fi
say "libclang installed."
