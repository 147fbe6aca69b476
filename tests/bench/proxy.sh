#!/usr/bin/env bash
# Overhead of flashcrowd's chaos proxy (no toxics) against a direct path.
#
# A local nginx serves a two-byte body on 127.0.0.1 (pinned to one CPU);
# `flashcrowd proxy` forwards a loopback port to it. oha, pinned to the other
# CPU, runs the same load directly and through the proxy, alternating, and
# the script prints medians over the rounds:
#   rate   - a fixed rate (oha -q, latency correction on): achieved req/s
#            and p99, direct vs proxied, and the p99 difference
#   max    - closed loop on 64 connections: req/s ratio proxied / direct
#
# Usage: tests/bench/proxy.sh    (needs nginx, oha, taskset, python3, cargo)
# Settings (environment):
#   FLASHCROWD_BENCH_RATE=10000        fixed rate, requests/s
#   FLASHCROWD_BENCH_DURATION=10       seconds per run
#   FLASHCROWD_BENCH_ROUNDS=3          rounds (direct + proxied each)
#   FLASHCROWD_BENCH_CONNECTIONS=64    connections
#   FLASHCROWD_BENCH_GEN_CPU=0         CPUs for oha
#   FLASHCROWD_BENCH_TARGET_CPU=1      CPUs for nginx
#   FLASHCROWD_BENCH_PROXY_CPU=        CPUs for the proxy (empty: unpinned)
#   FLASHCROWD_BENCH_MAX=1             0: skip the closed-loop maximum runs
set -euo pipefail

RATE=${FLASHCROWD_BENCH_RATE:-10000}
DURATION=${FLASHCROWD_BENCH_DURATION:-10}
ROUNDS=${FLASHCROWD_BENCH_ROUNDS:-3}
CONNS=${FLASHCROWD_BENCH_CONNECTIONS:-64}
GEN_CPU=${FLASHCROWD_BENCH_GEN_CPU:-0}
TARGET_CPU=${FLASHCROWD_BENCH_TARGET_CPU:-1}
PROXY_CPU=${FLASHCROWD_BENCH_PROXY_CPU:-}
MAX=${FLASHCROWD_BENCH_MAX:-1}

say() { echo "proxy-bench: $*" >&2; }
die() { say "$*"; exit 1; }

for c in cargo nginx oha taskset python3 timeout curl; do
  command -v "$c" >/dev/null 2>&1 || [[ $c == nginx && -x /usr/sbin/nginx ]] || die "needs $c"
done
PATH=$PATH:/usr/sbin

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() { # wait_for URL
  for _ in $(seq 50); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  die "$1 did not answer"
}

say "building (release)"
(cd "$ROOT" && cargo build --release --quiet)
BIN=$ROOT/target/release/flashcrowd

NGINX_PORT=$(free_port)
mkdir -p "$WORK/tmp"
cat >"$WORK/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections $((CONNS * 4 + 64)); }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/tmp;
    proxy_temp_path $WORK/tmp;
    fastcgi_temp_path $WORK/tmp;
    uwsgi_temp_path $WORK/tmp;
    scgi_temp_path $WORK/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
CONF
taskset -c "$TARGET_CPU" nginx -e "$WORK/error.log" -p "$WORK" -c "$WORK/nginx.conf" &
PIDS+=($!)
DIRECT=http://127.0.0.1:$NGINX_PORT/
wait_for "$DIRECT"

API_PORT=$(free_port)
LISTEN_PORT=$(free_port)
cat >"$WORK/proxies.json" <<CONF
[{"name": "nginx", "listen": "127.0.0.1:$LISTEN_PORT", "upstream": "127.0.0.1:$NGINX_PORT"}]
CONF
PIN=()
[[ -n $PROXY_CPU ]] && PIN=(taskset -c "$PROXY_CPU")
"${PIN[@]}" "$BIN" proxy --listen "127.0.0.1:$API_PORT" --config "$WORK/proxies.json" \
  >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
PROXIED=http://127.0.0.1:$LISTEN_PORT/
wait_for "$PROXIED"

run_oha() { # run_oha NAME URL [extra oha args]
  local name=$1 url=$2
  shift 2
  timeout $((DURATION + 30)) taskset -c "$GEN_CPU" oha -z "${DURATION}s" -c "$CONNS" \
    --no-tui --output-format json "$@" "$url" >"$WORK/$name.json"
}

say "warm-up"
run_oha warm "$DIRECT" -q 1000
run_oha warm "$PROXIED" -q 1000
for r in $(seq "$ROUNDS"); do
  say "round $r/$ROUNDS: ${RATE}/s and max, direct and proxied, ${DURATION}s each"
  run_oha "rate-direct-$r" "$DIRECT" -q "$RATE" --latency-correction
  run_oha "rate-proxied-$r" "$PROXIED" -q "$RATE" --latency-correction
  if [[ $MAX == 1 ]]; then
    run_oha "max-direct-$r" "$DIRECT"
    run_oha "max-proxied-$r" "$PROXIED"
  fi
done

python3 - "$WORK" "$ROUNDS" "$RATE" "$CONNS" "$MAX" <<'PY'
import json, statistics, sys
work, rounds, rate, conns = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
modes = ("rate", "max") if sys.argv[5] == "1" else ("rate",)
def load(name):
    with open(f"{work}/{name}.json") as f:
        j = json.load(f)
    rps = float(j["summary"]["requestsPerSec"])
    p99 = float(j["latencyPercentiles"]["p99"]) * 1e6
    ok = float(j["summary"].get("successRate") or 0)
    return rps, p99, ok
rows = {}
for mode in modes:
    for path in ("direct", "proxied"):
        runs = [load(f"{mode}-{path}-{r}") for r in range(1, rounds + 1)]
        each = ", ".join(f"{x[1]:.0f}" for x in runs)
        print(f"# {mode} {path}: p99 per round (µs): {each}")
        rows[(mode, path)] = tuple(statistics.median(x[i] for x in runs) for i in range(3))
print(f"{'run':<22}{'req/s':>10}{'p99 µs':>10}{'success':>9}")
for (mode, path), (rps, p99, ok) in rows.items():
    label = f"{rate}/s" if mode == "rate" else f"max, {conns} conns"
    print(f"{label + ' ' + path:<22}{rps:>10.0f}{p99:>10.0f}{ok:>9.1%}")
rd, rp = rows[("rate", "direct")], rows[("rate", "proxied")]
print(f"fixed rate: req/s ratio {rp[0] / rd[0]:.3f}, p99 added {rp[1] - rd[1]:.0f} µs")
if "max" in modes:
    md, mp = rows[("max", "direct")], rows[("max", "proxied")]
    print(f"max: req/s ratio {mp[0] / md[0]:.3f}, p99 added {mp[1] - md[1]:.0f} µs")
PY
