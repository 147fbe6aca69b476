#!/usr/bin/env bash
# Overhead of flashcrowd's chaos proxy (no toxics) against a direct path.
#
# A local nginx on 127.0.0.1 serves a two-byte body and a 1 MiB file;
# `flashcrowd proxy` forwards a loopback port to it. oha runs the same load
# directly and through the proxy, alternating, and the script prints medians
# over the rounds:
#   rate   - a fixed rate (oha -q, latency correction on): achieved req/s
#            and p99, direct vs proxied, and the p99 the proxy adds
#   max    - closed loop on 64 connections, two-byte answers: req/s ratio
#   bulk   - closed loop on 4 connections fetching the 1 MiB file: MB/s ratio
# plus the CPU time per request (per MB) of the proxy and of nginx.
#
# When haproxy is installed, the same runs also go through haproxy in TCP
# mode, one thread, pinned like flashcrowd's proxy: a mature C proxy on the
# same CPU is what "as cheap as a user-space proxy gets" looks like here,
# and the script prints flashcrowd's figures against it too.
#
# CPU layout (defaults): oha on CPU 0; nginx and the proxy share CPU 1. The
# generator gets the same CPU in both paths, and the proxy gets no CPU that
# the direct path lacks: it is paid for out of the target's CPU, which is
# what a proxy in front of a saturated service costs.
#
# Usage: tests/bench/proxy.sh    (needs nginx, oha, taskset, python3, cargo)
# Settings (environment):
#   FLASHCROWD_BENCH_RATE=10000        fixed rate, requests/s
#   FLASHCROWD_BENCH_DURATION=10       seconds per fixed-rate run
#   FLASHCROWD_BENCH_MAX_DURATION=5    seconds per max and bulk run
#   FLASHCROWD_BENCH_ROUNDS=3          rounds (each run direct + proxied)
#   FLASHCROWD_BENCH_CONNECTIONS=64    connections, rate and max runs
#   FLASHCROWD_BENCH_BULK_CONNECTIONS=4  connections, bulk runs
#   FLASHCROWD_BENCH_GEN_CPU=0         CPUs for oha
#   FLASHCROWD_BENCH_TARGET_CPU=1      CPUs for nginx
#   FLASHCROWD_BENCH_PROXY_CPU=1       CPUs for the proxy (empty: unpinned)
#   FLASHCROWD_BENCH_PROXY_ARGS=       extra `flashcrowd proxy` flags
#   FLASHCROWD_BENCH_BIN=              a flashcrowd binary to measure instead
#                                      of building this tree (to compare builds)
#   FLASHCROWD_BENCH_MAX=1             0: skip the max runs
#   FLASHCROWD_BENCH_BULK=1            0: skip the bulk runs
#   FLASHCROWD_BENCH_QUIET_WAIT=5      seconds to wait for an idle machine per run
#   FLASHCROWD_BENCH_RETRIES=1         reruns of a run other processes disturbed
#   FLASHCROWD_BENCH_OUT=              directory to keep the raw oha outputs
#   FLASHCROWD_BENCH_HAPROXY=1         0: skip the haproxy runs (also skipped
#                                      when haproxy is not installed)
set -euo pipefail

RATE=${FLASHCROWD_BENCH_RATE:-10000}
DURATION=${FLASHCROWD_BENCH_DURATION:-10}
MAX_DURATION=${FLASHCROWD_BENCH_MAX_DURATION:-5}
ROUNDS=${FLASHCROWD_BENCH_ROUNDS:-3}
CONNS=${FLASHCROWD_BENCH_CONNECTIONS:-64}
BULK_CONNS=${FLASHCROWD_BENCH_BULK_CONNECTIONS:-4}
GEN_CPU=${FLASHCROWD_BENCH_GEN_CPU:-0}
TARGET_CPU=${FLASHCROWD_BENCH_TARGET_CPU:-1}
PROXY_CPU=${FLASHCROWD_BENCH_PROXY_CPU-1}
PROXY_ARGS=${FLASHCROWD_BENCH_PROXY_ARGS:-}
MAX=${FLASHCROWD_BENCH_MAX:-1}
BULK=${FLASHCROWD_BENCH_BULK:-1}
QUIET_WAIT=${FLASHCROWD_BENCH_QUIET_WAIT:-5}
RETRIES=${FLASHCROWD_BENCH_RETRIES:-1}
OUT=${FLASHCROWD_BENCH_OUT:-}
HAPROXY=${FLASHCROWD_BENCH_HAPROXY:-1}

say() { echo "proxy-bench: $*" >&2; }
die() { say "$*"; exit 1; }

for c in cargo nginx oha taskset python3 timeout curl; do
  command -v "$c" >/dev/null 2>&1 || [[ $c == nginx && -x /usr/sbin/nginx ]] || die "needs $c"
done
PATH=$PATH:/usr/sbin
if [[ $HAPROXY == 1 ]] && ! command -v haproxy >/dev/null 2>&1; then
  say "haproxy is not installed: measuring without it (apt-get install haproxy)"
  HAPROXY=0
fi

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n $OUT ]]; then
    mkdir -p "$OUT" && cp "$WORK"/*.json "$WORK"/*.cpu "$OUT"/ 2>/dev/null || true
  fi
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

BIN=${FLASHCROWD_BENCH_BIN:-}
if [[ -z $BIN ]]; then
  say "building (release)"
  (cd "$ROOT" && cargo build --release --quiet)
  BIN=$ROOT/target/release/flashcrowd
fi
[[ -x $BIN ]] || die "no binary at $BIN"

NGINX_PORT=$(free_port)
mkdir -p "$WORK/tmp" "$WORK/www"
head -c $((1024 * 1024)) /dev/urandom >"$WORK/www/bulk"
# nginx's workers run unprivileged and must be able to read the file.
chmod 755 "$WORK" "$WORK/www"
chmod 644 "$WORK/www/bulk"
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
        location = /bulk { root $WORK/www; default_type application/octet-stream; }
    }
}
CONF
taskset -c "$TARGET_CPU" nginx -e "$WORK/error.log" -p "$WORK" -c "$WORK/nginx.conf" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
DIRECT=http://127.0.0.1:$NGINX_PORT
wait_for "$DIRECT/"

API_PORT=$(free_port)
LISTEN_PORT=$(free_port)
cat >"$WORK/proxies.json" <<CONF
[{"name": "nginx", "listen": "127.0.0.1:$LISTEN_PORT", "upstream": "127.0.0.1:$NGINX_PORT"}]
CONF
PIN=()
[[ -n $PROXY_CPU ]] && PIN=(taskset -c "$PROXY_CPU")
# shellcheck disable=SC2086 # PROXY_ARGS is a list of flags
"${PIN[@]}" "$BIN" proxy --listen "127.0.0.1:$API_PORT" --config "$WORK/proxies.json" \
  $PROXY_ARGS >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
PROXIED=http://127.0.0.1:$LISTEN_PORT
wait_for "$PROXIED/"
PATHS=(direct proxied)
URL_direct=$DIRECT
URL_proxied=$PROXIED
HAPROXY_PID=
if [[ $HAPROXY == 1 ]]; then
  HAPROXY_PORT=$(free_port)
  cat >"$WORK/haproxy.cfg" <<CONF
global
    nbthread 1
    maxconn $((CONNS * 4 + 64))
defaults
    mode tcp
    timeout connect 5s
    timeout client 300s
    timeout server 300s
listen nginx
    bind 127.0.0.1:$HAPROXY_PORT
    server nginx 127.0.0.1:$NGINX_PORT
CONF
  "${PIN[@]}" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  PIDS+=("$HAPROXY_PID")
  URL_haproxy=http://127.0.0.1:$HAPROXY_PORT
  wait_for "$URL_haproxy/"
  PATHS+=(haproxy)
fi
for p in "${PATHS[@]}"; do
  url=URL_$p
  url=${!url}/bulk
  size=$(curl -fsS -o /dev/null -w '%{size_download}' "$url") || die "$url failed"
  ((size == 1024 * 1024)) || die "$url sent $size bytes, not 1 MiB"
done

CLK_TCK=$(getconf CLK_TCK)
# Busy time of the whole machine, in clock ticks.
host_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU time of one process and its threads (or of nginx and its workers).
proc_busy() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
nginx_busy() {
  local t=0 p
  for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do t=$((t + $(proc_busy "$p"))); done
  echo "$t"
}

# Waits (at most QUIET_WAIT s) until less than 10% of a CPU is busy: a
# compiler or another benchmark on the machine would be measured too.
quiet_wait() {
  local waited=0 b0
  while ((waited < QUIET_WAIT * 2)); do
    b0=$(host_busy)
    sleep 0.5
    (($(host_busy) - b0 <= CLK_TCK / 20)) && return 0
    waited=$((waited + 1))
  done
  say "the machine is still busy; measuring anyway (the run will be flagged)"
}

# run_oha NAME SECONDS CONNECTIONS URL [extra oha args]: one oha run, pinned, with the
# CPU ticks of the machine, nginx, the proxy of the path (MEASURED, a pid)
# and oha itself around it in NAME.cpu. A run during which other processes used more than 10% of a CPU
# is repeated (RETRIES times at most).
run_oha() {
  local name=$1 secs=$2 conns=$3 url=$4 attempt h0 n0 p0 t0 other ou os
  shift 4
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    quiet_wait
    h0=$(host_busy) n0=$(nginx_busy) p0=$(proc_busy "$MEASURED") t0=$(date +%s.%N)
    timeout $((secs + 30)) /usr/bin/time -f "%U %S" -o "$WORK/$name.time" \
      taskset -c "$GEN_CPU" oha -z "${secs}s" -c "$conns" --no-tui --output-format json \
      "$@" "$url" >"$WORK/$name.json"
    read -r ou os < <(tail -n 1 "$WORK/$name.time")
    echo "$(($(host_busy) - h0)) $(($(nginx_busy) - n0)) $(($(proc_busy "$MEASURED") - p0)) \
$ou $os $t0 $(date +%s.%N) $CLK_TCK" >"$WORK/$name.cpu"
    # Share of a CPU used by anything but oha, nginx and the proxy.
    other=$(awk '{w = $7 - $6; print (w > 0) ? (($1 - $2 - $3) / $8 - $4 - $5) / w : 0}' \
      "$WORK/$name.cpu")
    awk -v o="$other" 'BEGIN{exit !(o > 0.10)}' || return 0
    ((attempt < RETRIES)) || break
    say "other processes used $(awk -v o="$other" 'BEGIN{printf "%.0f", o * 100}')% of a CPU during $name; running it again"
  done
}

say "nginx on CPU $TARGET_CPU, proxy on CPU ${PROXY_CPU:-any}, oha on CPU $GEN_CPU"
# run_path MODE PATH ROUND SECONDS CONNECTIONS URL-SUFFIX [extra oha args]
run_path() {
  local mode=$1 path=$2 round=$3 secs=$4 conns=$5 suffix=$6 url
  shift 6
  url=URL_$path
  MEASURED=$PROXY_PID
  [[ $path == haproxy ]] && MEASURED=$HAPROXY_PID
  run_oha "$mode-$path-$round" "$secs" "$conns" "${!url}$suffix" "$@"
}

say "warm-up"
for p in "${PATHS[@]}"; do run_path warm "$p" 0 1 "$CONNS" / -q 1000; done
for r in $(seq "$ROUNDS"); do
  say "round $r/$ROUNDS"
  for p in "${PATHS[@]}"; do
    run_path rate "$p" "$r" "$DURATION" "$CONNS" / -q "$RATE" --latency-correction
  done
  if [[ $MAX == 1 ]]; then
    for p in "${PATHS[@]}"; do run_path max "$p" "$r" "$MAX_DURATION" "$CONNS" /; done
  fi
  if [[ $BULK == 1 ]]; then
    for p in "${PATHS[@]}"; do run_path bulk "$p" "$r" "$MAX_DURATION" "$BULK_CONNS" /bulk; done
  fi
done

python3 - "$WORK" "$ROUNDS" "$RATE" "$CONNS" "$BULK_CONNS" "$MAX" "$BULK" "${PATHS[@]}" <<'PY'
import json, statistics, sys
work, rounds, rate, conns, bulk_conns = sys.argv[1], int(sys.argv[2]), *sys.argv[3:6]
modes = ["rate"] + (["max"] if sys.argv[6] == "1" else []) + (["bulk"] if sys.argv[7] == "1" else [])
paths = sys.argv[8:]
proxies = [p for p in paths if p != "direct"]
name = {"direct": "direct", "proxied": "flashcrowd", "haproxy": "haproxy"}
med = statistics.median

def load(run):
    with open(f"{work}/{run}.json") as f:
        j = json.load(f)
    with open(f"{work}/{run}.cpu") as f:
        host, nginx, proxy, ou, os_, t0, t1, hz = (float(x) for x in f.read().split())
    s = j["summary"]
    wall = t1 - t0
    secs = float(s["total"])
    return {
        "secs": secs,
        "rps": float(s["requestsPerSec"]),
        "mbps": float(s.get("sizePerSec") or 0) / 1e6,
        "p50": float(j["latencyPercentiles"]["p50"] or 0) * 1e6,
        "p99": float(j["latencyPercentiles"]["p99"] or 0) * 1e6,
        "ok": float(s.get("successRate") or 0),
        "n": float(s["requestsPerSec"]) * secs,
        "nginx": nginx / hz, "proxy": proxy / hz, "oha": ou + os_,
        "other": ((host - nginx - proxy) / hz - ou - os_) / wall if wall > 0 else 0,
    }

runs = {(m, p): [load(f"{m}-{p}-{r}") for r in range(1, rounds + 1)]
        for m in modes for p in paths}
label = {"rate": f"{rate}/s", "max": f"max, {conns} conns", "bulk": f"1 MiB, {bulk_conns} conns"}
print(f"  median of {rounds} round(s)")
print(f"  {'run':<30}{'req/s':>9}{'MB/s':>9}{'p50 µs':>9}{'p99 µs':>9}{'ok':>7}"
      f"{'nginx µs/req':>14}{'proxy µs/req':>14}{'others':>8}")
for (m, p), rs in runs.items():
    per = lambda k: med(x[k] / x["n"] * 1e6 for x in rs) if all(x["n"] for x in rs) else 0
    print(f"  {label[m] + ' ' + name[p]:<30}{med(x['rps'] for x in rs):>9,.0f}"
          f"{med(x['mbps'] for x in rs):>9,.1f}{med(x['p50'] for x in rs):>9,.0f}"
          f"{med(x['p99'] for x in rs):>9,.0f}"
          f"{med(x['ok'] for x in rs):>7.1%}{per('nginx'):>14.1f}"
          f"{per('proxy') if p != 'direct' else 0:>14.1f}{max(x['other'] for x in rs):>8.0%}")
print()
rounds_of = lambda xs, fmt: ", ".join(fmt.format(x) for x in xs)
rd = runs[("rate", "direct")]
for p in proxies:
    rp = runs[("rate", p)]
    added = [b["p99"] - a["p99"] for a, b in zip(rd, rp)]
    added50 = [b["p50"] - a["p50"] for a, b in zip(rd, rp)]
    print(f"  {name[p]}, fixed rate {rate}/s: req/s ratio "
          f"{med(x['rps'] for x in rp) / med(x['rps'] for x in rd):.3f}; "
          f"p99 direct {med(x['p99'] for x in rd):.0f} µs, through {name[p]} {med(x['p99'] for x in rp):.0f} µs")
    print(f"    added p99 per round: {rounds_of(added, '{:.0f}')} µs (median {med(added):.0f}); "
          f"added p50 per round: {rounds_of(added50, '{:.0f}')} µs (median {med(added50):.0f})")
    if "max" in modes:
        md, mp = runs[("max", "direct")], runs[("max", p)]
        ratio = [b["rps"] / a["rps"] for a, b in zip(md, mp)]
        print(f"    max, {conns} connections: {name[p]}/direct req/s per round: "
              f"{rounds_of(ratio, '{:.2f}')} (median ×{med(ratio):.2f})")
    if "bulk" in modes:
        bd, bp = runs[("bulk", "direct")], runs[("bulk", p)]
        ratio = [b["mbps"] / a["mbps"] for a, b in zip(bd, bp) if a["mbps"]]
        mb = lambda x, k: x[k] / (x["mbps"] * x["secs"] or 1)
        print(f"    bulk 1 MiB, {bulk_conns} connections: {name[p]}/direct MB/s per round: "
              f"{rounds_of(ratio, '{:.2f}')} (median ×{med(ratio):.2f}); CPU ms per MB: "
              f"nginx {med(mb(x, 'nginx') for x in bp) * 1e3:.2f}, "
              f"{name[p]} {med(mb(x, 'proxy') for x in bp) * 1e3:.2f}")
if "haproxy" in paths:
    # Side by side, round by round: flashcrowd's proxy against haproxy on
    # the same CPU, in the same rounds.
    print()
    vs = lambda m, k: [a[k] / b[k] for a, b in zip(runs[(m, "proxied")], runs[(m, "haproxy")]) if b[k]]
    cpu = lambda m: [a["proxy"] / a["n"] / (b["proxy"] / b["n"])
                     for a, b in zip(runs[(m, "proxied")], runs[(m, "haproxy")]) if a["n"] and b["n"] and b["proxy"]]
    for m, k, what in (("max", "rps", "req/s"), ("bulk", "mbps", "MB/s")):
        if m in modes:
            r, c = vs(m, k), cpu(m)
            print(f"  flashcrowd/haproxy, {label[m]}: {what} ×{med(r):.2f} ({rounds_of(r, '{:.2f}')})"
                  + (f", proxy CPU per request ×{med(c):.2f}" if c else ""))
    rp, rh = runs[("rate", "proxied")], runs[("rate", "haproxy")]
    print(f"  flashcrowd/haproxy, {rate}/s: p50 {med(x['p50'] for x in rp):.0f} vs {med(x['p50'] for x in rh):.0f} µs, "
          f"p99 {med(x['p99'] for x in rp):.0f} vs {med(x['p99'] for x in rh):.0f} µs")
busy = [f"{m}-{p}-{i + 1}" for (m, p), rs in runs.items() for i, x in enumerate(rs) if x["other"] > 0.10]
if busy:
    print(f"  disturbed by other processes (>10% of a CPU): {', '.join(busy)}")
PY
