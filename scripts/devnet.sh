#!/usr/bin/env bash
# The README's run command: installs what a fresh machine lacks
# (scripts/setup.sh), builds kawased and kawase-relayer, and runs
# `kawased devnet` (a local FZ + BZ + relayer) until Ctrl-C. Extra
# arguments go to `kawased devnet` (`scripts/devnet.sh --reset`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/first-build.sh
first_build_watch
cargo build --workspace --locked
first_build_done
exec target/debug/kawased devnet "$@"
