# Sourced by scripts/devnet.sh and scripts/test.sh: on a first build (no
# RocksDB built yet in target/), says what the long steps are and, while
# RocksDB's C++ compiles (most of a cold build, silent in cargo's output),
# a line a minute so nobody takes it for a hang. `first_build_done` stops it.
first_build_watch() {
    if ls target/debug/build/librocksdb-sys-*/output >/dev/null 2>&1; then
        return 0
    fi
    echo "kawase: first build: ~420 crates and RocksDB's C++ (most of the time);" \
        "about 25 minutes on 2 cores, later builds take seconds to minutes" >&2
    (
        start=$(date +%s)
        while sleep 60; do
            if pgrep -f 'cc1plus.*rocksdb' >/dev/null 2>&1; then
                echo "kawase: still compiling RocksDB's C++ ($(( ($(date +%s) - start) / 60 )) min into the build)" >&2
            fi
        done
    ) &
    FIRST_BUILD_WATCH=$!
}

first_build_done() {
    if [ -n "${FIRST_BUILD_WATCH:-}" ]; then
        kill "$FIRST_BUILD_WATCH" 2>/dev/null || true
        wait "$FIRST_BUILD_WATCH" 2>/dev/null || true
        FIRST_BUILD_WATCH=
    fi
}
