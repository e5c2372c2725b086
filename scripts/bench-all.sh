#!/usr/bin/env bash
# bench-all: every benchmark of the performance work, in one run, into one
# JSON file and the tables of docs/performance.md.
#
#   scripts/bench-all.sh                       # full run (state growth up to 10^6 accounts)
#   QUICK=1 scripts/bench-all.sh               # skips the 10^6-account run (~5-10 min on 2 cores)
#   LABEL=after BEFORE=target/bench-all/before.json scripts/bench-all.sh
#                                              # and a before/after comparison
#
# It builds the release benches once (`cargo bench --workspace --no-run`,
# which also builds the release kawased and kawase-relayer the process
# benches start), then runs, in order:
#   1. ceiling         signature verifications/s on 1 thread and all cores
#   2. state machine   FinalizeBlock + Commit: mixed keys, ed25519 only, secp256k1 only
#   3. state growth    the mixed run with KAWASE_BENCH_ACCOUNTS = 10^4, 10^5 (and 10^6 unless QUICK=1)
#   4. disk growth     state-store bytes per million transactions, pruned and
#                      archive (skipped with QUICK=1)
#   5. zone            kawased validators over JSON-RPC: 1, 2 and 4 validators
#   6. settlement      FZ + BZ + relayer, BZ payments settled: loaded with one
#                      relayer and with two (shares of the path), then light
#                      load (one transaction of payments in flight) for latency
# Every `BENCH_JSON {...}` line they print goes into target/bench-all/$LABEL.json
# (the machine at the top), the whole output into target/bench-all/$LABEL.log,
# and scripts/bench-report.py writes docs/performance.md and docs/perf/*.svg.
#
# Env: LABEL (default "run"), QUICK=1, BEFORE (an earlier JSON to compare
# with), ZONE_VALIDATORS (default "1 2 4"), GROWTH_ACCOUNTS (default
# "10000 100000 1000000"), BENCH_CARGO_FLAGS (default "--locked --offline").
# The benches' own knobs (SENDERS, TXS_PER_SENDER, IN_FLIGHT, PAYMENTS,
# KAWASE_BENCH_TXS, KAWASE_CEILING_SECS, ...) pass through.
# Run it on a quiet machine: every figure is CPU-bound.
set -euo pipefail
cd "$(dirname "$0")/.."

LABEL="${LABEL:-run}"
QUICK="${QUICK:-0}"
read -r -a CARGO_FLAGS <<<"${BENCH_CARGO_FLAGS:---locked --offline}"
read -r -a ZONE_VALIDATORS <<<"${ZONE_VALIDATORS:-1 2 4}"
read -r -a GROWTH_ACCOUNTS <<<"${GROWTH_ACCOUNTS:-10000 100000 1000000}"

out_dir=target/bench-all
mkdir -p "$out_dir"
json="$out_dir/$LABEL.json"
log="$out_dir/$LABEL.log"
lines="$out_dir/$LABEL.lines"
stage_out="$out_dir/$LABEL.stage"
: >"$log"
: >"$lines"
failed=()
began=$SECONDS

# The commit checked out, read from .git without running git ("unknown"
# outside a checkout).
git_rev() {
    local dir=.git head ref
    if [[ -f .git ]]; then
        dir=$(sed -n 's/^gitdir: //p' .git)
    fi
    if [[ ! -f "$dir/HEAD" ]]; then
        echo unknown
        return
    fi
    head=$(<"$dir/HEAD")
    if [[ "$head" != ref:* ]]; then
        echo "$head"
        return
    fi
    ref=${head#ref: }
    if [[ -f "$dir/$ref" ]]; then
        cat "$dir/$ref"
    elif [[ -f "$dir/packed-refs" ]] && awk -v r="$ref" '$2 == r { print $1; found = 1; exit } END { exit !found }' "$dir/packed-refs"; then
        :
    else
        echo "unknown ($ref)"
    fi
}

json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# stage NAME [VAR=VALUE ...] -- BENCH: runs one bench binary and keeps its
# BENCH_JSON lines, each tagged with the stage and its settings. A failing
# stage is recorded and the run goes on.
stage() {
    local name=$1
    shift
    local envs=()
    while [[ "$1" != "--" ]]; do
        envs+=("$1")
        shift
    done
    shift
    local bench=$1
    local t0=$SECONDS
    echo "== $name: $bench ${envs[*]:-}" | tee -a "$log"
    if env ${envs[@]+"${envs[@]}"} cargo bench "${CARGO_FLAGS[@]}" --bench "$bench" 2>&1 | tee "$stage_out" | tee -a "$log"; then
        local settings=""
        local kv
        for kv in ${envs[@]+"${envs[@]}"}; do
            settings+=", $(json_str "${kv%%=*}"): $(json_str "${kv#*=}")"
        done
        PREFIX="{\"stage\": $(json_str "$name"), \"settings\": {${settings#, }}, " \
            awk 'index($0, "BENCH_JSON {") == 1 { print ENVIRON["PREFIX"] substr($0, 13) }' "$stage_out" >>"$lines"
        echo "== $name done in $((SECONDS - t0)) s" | tee -a "$log"
    else
        failed+=("$name $bench ${envs[*]:-}")
        echo "== $name FAILED after $((SECONDS - t0)) s (see $log)" | tee -a "$log"
    fi
}

echo "== build: cargo bench --workspace --no-run ${CARGO_FLAGS[*]}" | tee -a "$log"
cargo bench --workspace --no-run "${CARGO_FLAGS[@]}" 2>&1 | tee -a "$log"
build_secs=$((SECONDS - began))

stage ceiling -- ceiling
stage state_machine -- finalize_block
for n in "${GROWTH_ACCOUNTS[@]}"; do
    if [[ "$QUICK" == 1 && "$n" -ge 1000000 ]]; then
        echo "== growth: KAWASE_BENCH_ACCOUNTS=$n skipped (QUICK=1)" | tee -a "$log"
        continue
    fi
    stage growth KAWASE_BENCH_ACCOUNTS="$n" KAWASE_BENCH_SENDERS=mixed -- finalize_block
done
if [[ "$QUICK" == 1 ]]; then
    echo "== disk growth skipped (QUICK=1)" | tee -a "$log"
else
    stage disk_growth -- disk_growth
fi
for v in "${ZONE_VALIDATORS[@]}"; do
    stage zone VALIDATORS="$v" -- zone_load
done
stage settlement -- settlement_load
stage settlement RELAYERS=2 -- settlement_load
stage settlement PAYMENTS=100 IN_FLIGHT=1 -- settlement_load
rm -f "$stage_out"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)
mem_kb=$(sed -n 's/^MemTotal:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/meminfo 2>/dev/null | head -n1)
failed_json=""
for f in ${failed[@]+"${failed[@]}"}; do
    failed_json+="${failed_json:+, }$(json_str "$f")"
done
{
    printf '{\n'
    printf '  "label": %s,\n' "$(json_str "$LABEL")"
    printf '  "machine": {\n'
    printf '    "nproc": %s,\n' "$(nproc)"
    printf '    "cpu": %s,\n' "$(json_str "${cpu:-unknown}")"
    printf '    "mem_bytes": %s,\n' "$((${mem_kb:-0} * 1024))"
    printf '    "kernel": %s,\n' "$(json_str "$(uname -sr)")"
    printf '    "rustc": %s,\n' "$(json_str "$(rustc --version 2>/dev/null || echo unknown)")"
    printf '    "date": %s,\n' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")"
    printf '    "git_rev": %s\n' "$(json_str "$(git_rev)")"
    printf '  },\n'
    printf '  "quick": %s,\n' "$([[ "$QUICK" == 1 ]] && echo true || echo false)"
    printf '  "build_secs": %s,\n' "$build_secs"
    printf '  "total_secs": %s,\n' "$((SECONDS - began))"
    printf '  "failed": [%s],\n' "$failed_json"
    printf '  "results": [\n'
    sed -e '$!s/$/,/' -e 's/^/    /' "$lines"
    printf '  ]\n'
    printf '}\n'
} >"$json"
rm -f "$lines"
echo "== wrote $json ($((SECONDS - began)) s in all)" | tee -a "$log"

if [[ -n "${BEFORE:-}" ]]; then
    python3 scripts/bench-report.py "$BEFORE" "$json"
else
    python3 scripts/bench-report.py "$json"
fi

if ((${#failed[@]})); then
    echo "== failed stages:" >&2
    printf '   %s\n' "${failed[@]}" >&2
    exit 1
fi
