#!/usr/bin/env bash
# Signed transfers through JSON-RPC into a local 4-validator zone (release
# build of kawased); prints committed tx/s, block interval and latency.
# Tunables: VALIDATORS, SENDERS, TXS_PER_SENDER, IN_FLIGHT, TIMEOUT_COMMIT.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p kawase-node --bench zone_load "$@"
