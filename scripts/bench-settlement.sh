#!/usr/bin/env bash
# Cross-zone payment latency (BZ submit -> FZ settled -> BZ payee credited)
# and payments/s through one relayer, with release binaries on loopback.
# Env: PAYMENTS (default 2000), IN_FLIGHT transactions of 25 (default 8).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p kawase-node --bin kawased
cargo build --release -p kawase-relayer --bin kawase-relayer
cargo bench -p kawase-relayer --bench settlement_load
