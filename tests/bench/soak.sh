#!/usr/bin/env bash
# Soak: does flashcrowd's memory stay flat in a long run? One open-model run
# at a fixed rate (20,000 requests/s for 10 minutes by default) against a
# local nginx (pinned to one CPU, flashcrowd to the other); the generator's
# resident memory (VmRSS) is sampled every 5 s, and the table shows it at
# the end of the first minute, at the end, the growth between the two, and
# the run's own figures (sent, rate kept, p99).
#
# Pass: growth after the first minute under 10% (metric memory is HDR
# histograms per step and per second, streamed to latency.hlog, so it does
# not grow with the number of requests).
#
# Usage: tests/bench/soak.sh                 (root installs nginx if missing)
# Settings (environment):
#   FLASHCROWD_SOAK_RATE=20000      requests/s
#   FLASHCROWD_SOAK_MINUTES=10      length of the run
#   FLASHCROWD_SOAK_CONNECTIONS=64  connections (the generator's --connections)
#   FLASHCROWD_SOAK_OUT=            keep the run directory and RSS samples here
set -euo pipefail

RATE=${FLASHCROWD_SOAK_RATE:-20000}
MINUTES=${FLASHCROWD_SOAK_MINUTES:-10}
CONNS=${FLASHCROWD_SOAK_CONNECTIONS:-64}
OUT=${FLASHCROWD_SOAK_OUT:-}
for v in RATE MINUTES CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "soak: $v must be a positive whole number" >&2; exit 2; }
done
[[ $(uname -s) == Linux ]] || { echo "soak: needs Linux (/proc, taskset)" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PATH=$PATH:/usr/sbin:/sbin
if ! command -v nginx >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  else
    echo "soak: nginx is required (apt-get install nginx-light)" >&2
    exit 2
  fi
fi
cargo build --release --locked --quiet
BIN=$ROOT/target/release/flashcrowd

WORK=$(mktemp -d "${TMPDIR:-/tmp}/flashcrowd-soak.XXXXXX")
NGINX_PID=
RUN_PID=
cleanup() {
  [[ -z $RUN_PID ]] || kill "$RUN_PID" 2>/dev/null || true
  [[ -z $NGINX_PID ]] || kill "$NGINX_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  if [[ -n $OUT ]]; then mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections $((CONNS * 2 + 64)); }
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/nginx/tmp;
    proxy_temp_path $WORK/nginx/tmp;
    fastcgi_temp_path $WORK/nginx/tmp;
    uwsgi_temp_path $WORK/nginx/tmp;
    scgi_temp_path $WORK/nginx/tmp;
    server {
        listen 127.0.0.1:$port;
        location / { default_type text/plain; return 200 "ok"; }
    }
}
EOF
taskset -c 1 nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
NGINX_PID=$!
sleep 1

cat >"$WORK/soak.yaml" <<EOF
name: soak
target: http://127.0.0.1:$port
phases:
  - { name: steady, duration: ${MINUTES}m, load: { rate: $RATE/s }, flow: hit }
flows:
  hit:
    - { name: get, get: /, timeout: 5s }
EOF

taskset -c 0 "$BIN" run "$WORK/soak.yaml" --quiet --connections "$CONNS" \
  --out "$WORK/run" --format json >"$WORK/stdout" 2>"$WORK/stderr" &
RUN_PID=$!
start=$(date +%s)
echo "elapsed_s rss_kib" >"$WORK/rss.tsv"
while kill -0 "$RUN_PID" 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$RUN_PID/status" 2>/dev/null || true)
  [[ -z $rss ]] || echo "$(( $(date +%s) - start )) $rss" >>"$WORK/rss.tsv"
  sleep 5
done
wait "$RUN_PID" || true
RUN_PID=

python3 - "$WORK/rss.tsv" "$WORK/run/report.json" "$RATE" "$MINUTES" <<'PY'
import json, sys
rows = [tuple(map(int, l.split())) for l in open(sys.argv[1]).read().split("\n")[1:] if l.strip()]
rate, minutes = int(sys.argv[3]), int(sys.argv[4])
if not rows:
    sys.exit("soak: no RSS samples")
after_1m = next((r for t, r in rows if t >= 60), rows[-1][1])
peak_after = max(r for t, r in rows if t >= 60) if any(t >= 60 for t, _ in rows) else rows[-1][1]
end = rows[-1][1]
growth = (peak_after - after_1m) / after_1m * 100
r = json.load(open(sys.argv[2]))
t = r["totals"]
step = r["steps"][0]
print(f"soak: {rate}/s for {minutes} min against nginx")
print(f"  sent {t['sent']:,} ({t['sent'] / r['duration_s']:,.0f}/s, {t['errors']} errors, {t['dropped']} dropped), p99 {step['latency_us']['p99'] / 1000:.2f} ms, verdict {r['verdict']}")
print(f"  RSS at 1 min {after_1m / 1024:.1f} MiB, highest after it {peak_after / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB")
print(f"  growth after the first minute: {growth:+.1f}% ({'flat' if growth < 10 else 'GROWING'})")
PY
