#!/usr/bin/env bash
# A multi-process local network in the background: an FZ and a BZ with 4
# validators each (VALIDATORS=N to change) and the relayer, all started by
# `kawased devnet`, each process with its own log.
#
#   scripts/localnet.sh start     # builds if needed, starts, waits until ready
#   scripts/localnet.sh status    # processes and each zone's height
#   scripts/localnet.sh logs      # where the logs are; `logs relayer` tails one
#   scripts/localnet.sh stop      # Ctrl-C to the devnet: stops every process
#   scripts/localnet.sh reset     # stop and delete the data
#
# Settings (environment): LOCALNET_DIR (default target/localnet), VALIDATORS
# (4), FZ_PORT (26657), BZ_PORT (27657), KAWASED (default target/debug/kawased,
# built with `cargo build --workspace` when missing).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${LOCALNET_DIR:-$root/target/localnet}"
validators="${VALIDATORS:-4}"
fz_port="${FZ_PORT:-26657}"
bz_port="${BZ_PORT:-27657}"
kawased="${KAWASED:-$root/target/debug/kawased}"
pidfile="$dir/devnet.pid"
log="$dir/devnet.log"

running() { [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

# The devnet serves TLS with its own CA (net/tls/ca.crt).
ca="$dir/net/tls/ca.crt"

height() {
    curl -sf --cacert "$ca" "https://127.0.0.1:$1/status" | sed -n 's/.*"latest_block_height":"\([0-9]*\)".*/\1/p'
}

start() {
    if running; then
        echo "localnet already running (pid $(cat "$pidfile")); \`$0 stop\` first" >&2
        exit 1
    fi
    if [[ ! -x "$kawased" || ! -x "$(dirname "$kawased")/kawase-relayer" ]]; then
        (cd "$root" && cargo build --workspace --locked)
    fi
    mkdir -p "$dir"
    # setsid: the devnet gets its own session, so this shell's Ctrl-C or
    # exit doesn't reach it; `stop` sends it SIGINT itself.
    setsid "$kawased" devnet --data-dir "$dir/net" --validators "$validators" \
        --fz-port "$fz_port" --bz-port "$bz_port" >"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 1 600); do
        if grep -qx "devnet ready" "$log" 2>/dev/null; then
            sed -n '/^Kawase devnet/,/^Ctrl-C/p' "$log"
            echo "localnet ready (pid $(cat "$pidfile")); stop it with: $0 stop"
            return 0
        fi
        if ! running; then
            echo "error: the devnet exited; last lines of $log:" >&2
            tail -n 20 "$log" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "error: not ready after 300 s; see $log" >&2
    exit 1
}

stop() {
    if ! running; then
        echo "localnet not running"
        rm -f "$pidfile"
        return 0
    fi
    local pid
    pid="$(cat "$pidfile")"
    kill -INT "$pid"
    for _ in $(seq 1 120); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pidfile"
            echo "localnet stopped"
            return 0
        fi
        sleep 0.5
    done
    echo "error: devnet $pid did not stop within 60 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    exit 1
}

status() {
    if running; then
        echo "localnet running (pid $(cat "$pidfile")), data in $dir/net"
    else
        echo "localnet not running"
    fi
    for i in $(seq 0 $((validators - 1))); do
        echo "FZ node$i  https://127.0.0.1:$((fz_port + 10 * i))  height $(height $((fz_port + 10 * i)) || echo -)"
    done
    for i in $(seq 0 $((validators - 1))); do
        echo "BZ node$i  https://127.0.0.1:$((bz_port + 10 * i))  height $(height $((bz_port + 10 * i)) || echo -)"
    done
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
status) status ;;
logs)
    if [[ -n "${2:-}" ]]; then
        exec tail -f "$dir/net/logs/$2.log"
    fi
    echo "devnet: $log"
    ls -1 "$dir/net/logs/"*.log 2>/dev/null || true
    ;;
reset)
    stop
    rm -rf "$dir"
    echo "removed $dir"
    ;;
*)
    echo "usage: $0 start|stop|status|logs [NAME]|reset" >&2
    exit 2
    ;;
esac
