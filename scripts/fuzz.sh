#!/usr/bin/env bash
# The long run of the hostile-input and determinism property tests (CI runs
# the same tests with a few hundred cases and a fixed seed). Each run uses a
# fresh seed unless KAWASE_FUZZ_SEED is given; a failure prints the seed and
# proptest's minimal case, and `KAWASE_FUZZ_SEED=<seed> scripts/fuzz.sh`
# replays it.
#
#   scripts/fuzz.sh                    # 20,000 cases per property, random seed
#   PROPTEST_CASES=2000 scripts/fuzz.sh
#   KAWASE_FUZZ_SEED=42 scripts/fuzz.sh tx   # one target: tx packets rpc gossip blocks determinism
set -euo pipefail
cd "$(dirname "$0")/.."

export PROPTEST_CASES="${PROPTEST_CASES:-20000}"
export KAWASE_FUZZ_SEED="${KAWASE_FUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}"
echo "fuzz: PROPTEST_CASES=$PROPTEST_CASES KAWASE_FUZZ_SEED=$KAWASE_FUZZ_SEED"

run() {
    echo "== $*"
    cargo test --locked "$@" -- --nocapture --test-threads=1
}

targets=("${@:-tx packets rpc gossip blocks determinism}")
for t in ${targets[*]}; do
    case "$t" in
        tx) run --workspace --test hostile_tx ;;
        packets) run --workspace --test hostile_packets ;;
        rpc) run --workspace --test hostile ;;
        gossip) run --workspace --test hostile_gossip ;;
        blocks) run --workspace --test hostile_blocks ;;
        # Seeds 0..N of the generated block sequence, five nodes each: a
        # case is ~24 blocks x 5 runs x 2 zones, so use far fewer.
        determinism) PROPTEST_CASES="$((PROPTEST_CASES / 200 + 1))" run --workspace --test determinism ;;
        *) echo "unknown target $t" >&2; exit 2 ;;
    esac
done
echo "fuzz: all targets passed (KAWASE_FUZZ_SEED=$KAWASE_FUZZ_SEED)"
