#!/usr/bin/env bash
# The fault suite's soak: fresh networks (4 FZ validators, 1 BZ, relayers)
# under load and random perturbations, each checked in full (forks, app
# hashes, every transaction exactly once as told, money invariants), one
# run after another until the time is up. Stops by itself.
#
#   scripts/soak.sh              # 30 minutes of the soak profile
#   SOAK_SECS=7200 scripts/soak.sh
#   PROFILE=ci scripts/soak.sh   # any tests/faults/NAME.toml or a path
#
# Homes and logs of a failing run are kept (the path is printed);
# KAWASE_KEEP_TEST_DIRS=1 keeps every run's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
secs="${SOAK_SECS:-1800}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || (( secs > 86400 )); then
    echo "SOAK_SECS must be a number of seconds up to 86400" >&2
    exit 2
fi
bash scripts/setup.sh
# The test finds kawase-relayer next to kawased: build both first, as the
# test build does (`cargo build` unifies features without dev-dependencies,
# so it would rebuild half the tree, and the test build again after it).
# Always the whole workspace: `-p` would resolve features differently too.
cargo test --workspace --locked --no-run
# A run that starts just before the deadline still finishes and is checked:
# the outer bound allows for one more run and its checks.
timeout --signal=INT --kill-after=60 "$((secs + 1200))" \
    env KAWASE_FAULTS_PROFILE="${PROFILE:-soak}" KAWASE_SOAK_SECS="$secs" \
    cargo test --workspace --locked --test faults -- --nocapture the_network_keeps_its_promises
