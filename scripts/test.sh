#!/usr/bin/env bash
# The README's test command: installs what a fresh machine lacks
# (scripts/setup.sh), then runs every test, system tests included.
# Extra arguments go to cargo test (e.g. `scripts/test.sh -- faults`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ ! -d target/debug/build ]; then
    echo "kawase: first build: RocksDB's C++ and ~400 crates; about 25 minutes on 2 cores, then the tests (~7 min)" >&2
fi
exec cargo test --workspace --locked "$@"
