#!/usr/bin/env bash
# Applies blocks of signed transfers through FinalizeBlock + Commit on RocksDB
# and prints transfers/s (release build; signature checks included).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p kawase-app --bench finalize_block "$@"
