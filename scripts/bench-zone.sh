#!/usr/bin/env bash
# Signed transfers through JSON-RPC into a local 4-validator zone (release
# build of kawased); prints committed tx/s, block interval and latency.
# Tunables: VALIDATORS, SENDERS, TXS_PER_SENDER, IN_FLIGHT, TIMEOUT_COMMIT.
#
#   scripts/bench-zone.sh              # the bench starts its own 4-validator zone
#   scripts/bench-zone.sh --localnet   # starts scripts/localnet.sh (4 + 4 validators
#                                      # and the relayer, release build), loads its
#                                      # FZ, then stops it
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--localnet" ]]; then
    shift
    cargo build --release --workspace --bins --locked
    export LOCALNET_DIR="${LOCALNET_DIR:-$PWD/target/localnet-bench}"
    export KAWASED="$PWD/target/release/kawased"
    scripts/localnet.sh reset >/dev/null
    scripts/localnet.sh start
    trap 'scripts/localnet.sh stop' EXIT
    cargo bench -p kawase-node --bench zone_load "$@"
    exit 0
fi
exec cargo bench -p kawase-node --bench zone_load "$@"
