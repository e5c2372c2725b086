#!/usr/bin/env bash
# The README's test command: installs what a fresh machine lacks
# (scripts/setup.sh), then builds and runs every test, system tests
# included. Extra arguments go to cargo test (`scripts/test.sh -- faults`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/first-build.sh
first_build_watch
trap first_build_done EXIT
cargo test --workspace --locked --no-run
first_build_done
cargo test --workspace --locked "$@"
