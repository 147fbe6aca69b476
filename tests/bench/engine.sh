#!/usr/bin/env bash
# Benchmark flashcrowd's engine against wrk, oha and Goose, side by side, in one run.
#
# A local nginx (pinned to one CPU) serves a two-byte body on 127.0.0.1; each
# load generator in turn is pinned to the other CPU and runs for the same
# duration. Two modes:
#   open   - a fixed arrival rate: flashcrowd vs `oha -q`
#   closed - maximum throughput on 64 connections: wrk and oha vs flashcrowd
#            with `load: { users: 64 }` (the closed model), and the same
#            scenario through Goose (`run --engine goose`)
# Prints one table: requests/s, CPU seconds per 100k requests, p50/p99.
#
# Usage: tests/bench/engine.sh            (see tests/bench/README.md)
# Settings (environment):
#   FLASHCROWD_BENCH_DURATION=10          seconds per measured run
#   FLASHCROWD_BENCH_ROUNDS=3             rounds of all runs; the table shows medians
#   FLASHCROWD_BENCH_RATE=40000           open-model rate, requests/s
#   FLASHCROWD_BENCH_OVERDRIVE_RATE=400000  rate asked of flashcrowd in closed mode
#   FLASHCROWD_BENCH_CONNECTIONS=64       connections for every tool
#   FLASHCROWD_BENCH_CLOSED=users         or `overdriven` (an open-model rate far above capacity)
#   FLASHCROWD_BENCH_OHA=0                1: `cargo install oha --locked` if missing
#   FLASHCROWD_BENCH_GOOSE=1              0: skip the Goose engine (and build without it)
#   FLASHCROWD_BENCH_INSTALL=1            0: never call apt-get or cargo install
#   FLASHCROWD_BENCH_GEN_CPU=0            CPUs for the load generators (taskset -c list)
#   FLASHCROWD_BENCH_TARGET_CPU=1         CPUs for nginx
#   FLASHCROWD_BENCH_QUIET_WAIT=30        seconds to wait for an idle machine before each run
#   FLASHCROWD_BENCH_RETRIES=2            reruns of a run during which other processes were busy
#   FLASHCROWD_BENCH_OUT=                 directory to keep raw outputs and results.tsv
set -euo pipefail

# How flashcrowd is measured in closed mode. `users`: `load: { users: N }`,
# the closed model, like wrk's connections. `overdriven`: an open-model rate
# far above capacity, reporting sent/elapsed.
CLOSED_MODE=${FLASHCROWD_BENCH_CLOSED:-users}
DURATION=${FLASHCROWD_BENCH_DURATION:-10}
ROUNDS=${FLASHCROWD_BENCH_ROUNDS:-3}
RATE=${FLASHCROWD_BENCH_RATE:-40000}
OVERDRIVE_RATE=${FLASHCROWD_BENCH_OVERDRIVE_RATE:-400000}
CONNS=${FLASHCROWD_BENCH_CONNECTIONS:-64}
WANT_OHA=${FLASHCROWD_BENCH_OHA:-0}
WANT_GOOSE=${FLASHCROWD_BENCH_GOOSE:-1}
INSTALL=${FLASHCROWD_BENCH_INSTALL:-1}
GEN_CPU=${FLASHCROWD_BENCH_GEN_CPU:-0}
TARGET_CPU=${FLASHCROWD_BENCH_TARGET_CPU:-1}
QUIET_WAIT=${FLASHCROWD_BENCH_QUIET_WAIT:-30}
RETRIES=${FLASHCROWD_BENCH_RETRIES:-2}
OUT=${FLASHCROWD_BENCH_OUT:-}

# Every measured process is killed if it outlives its duration by this much.
SLACK=60

say() { printf '%s\n' "bench: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

for v in DURATION ROUNDS RATE OVERDRIVE_RATE CONNS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive whole number, not '${!v}'"
done
for v in QUIET_WAIT RETRIES; do
  [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
done
for v in GEN_CPU TARGET_CPU; do
  [[ ${!v} =~ ^[0-9]+([,-][0-9]+)*$ ]] || die "$v must be a CPU list for taskset -c, not '${!v}'"
done
[[ $GEN_CPU != "$TARGET_CPU" ]] || say "warning: generator and target share CPU $GEN_CPU"
case $CLOSED_MODE in
  overdriven | users) ;;
  *) die "FLASHCROWD_BENCH_CLOSED must be 'overdriven' or 'users', not '$CLOSED_MODE'" ;;
esac
[[ $(uname -s) == Linux ]] || die "this benchmark needs Linux (taskset, /proc)"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

# ---------------------------------------------------------------- install --
install_packages() {
  local missing=()
  command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
  [[ -x /usr/bin/time ]] || missing+=(time)
  command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
  command -v python3 >/dev/null 2>&1 || missing+=(python3)
  command -v pgrep >/dev/null 2>&1 || missing+=(procps)
  ((${#missing[@]} > 0)) || return 0
  if [[ $INSTALL != 1 ]]; then
    say "not installing (FLASHCROWD_BENCH_INSTALL=$INSTALL); missing: ${missing[*]}"
  elif [[ $(id -u) -ne 0 ]]; then
    say "not root, so not installing; missing: ${missing[*]}"
  else
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || say "apt-get update failed; trying the install anyway"
    timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}
install_packages
PATH=$PATH:/usr/sbin:/sbin
for c in cargo nginx wrk taskset python3 timeout pgrep; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' is required and not installed"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time (package 'time') is required"

if ! command -v oha >/dev/null 2>&1 && [[ -x ${CARGO_HOME:-$HOME/.cargo}/bin/oha ]]; then
  PATH=$PATH:${CARGO_HOME:-$HOME/.cargo}/bin
fi
if ! command -v oha >/dev/null 2>&1 && [[ $WANT_OHA == 1 && $INSTALL == 1 ]]; then
  say "installing oha (cargo install oha --locked; a few minutes)"
  timeout 1800 cargo install oha --locked --quiet || say "cargo install oha failed"
  PATH=$PATH:${CARGO_HOME:-$HOME/.cargo}/bin
fi
HAVE_OHA=0
if command -v oha >/dev/null 2>&1; then
  HAVE_OHA=1
else
  say "note: oha is not installed, its rows are skipped (FLASHCROWD_BENCH_OHA=1 installs it)"
fi

cpus=$(nproc --all)
((cpus >= 2)) || say "warning: $cpus CPU; generator and target will share it"
for c in "$GEN_CPU" "$TARGET_CPU"; do
  taskset -c "$c" true 2>/dev/null || die "cannot pin to CPU $c (this machine has $cpus)"
done

[[ $WANT_GOOSE == 0 || $WANT_GOOSE == 1 ]] || die "FLASHCROWD_BENCH_GOOSE must be 0 or 1, not '$WANT_GOOSE'"
BUILD_FLAGS=(--release --locked --quiet)
((WANT_GOOSE)) && BUILD_FLAGS+=(--features goose)
say "building flashcrowd (cargo build ${BUILD_FLAGS[*]})"
timeout 1800 cargo build "${BUILD_FLAGS[@]}"
FLASHCROWD=${CARGO_TARGET_DIR:-$ROOT/target}/release/flashcrowd
[[ -x $FLASHCROWD ]] || die "built binary not found at $FLASHCROWD"

# ---------------------------------------------------------------- cleanup --
WORK=$(mktemp -d "${TMPDIR:-/tmp}/flashcrowd-bench.XXXXXX")
NGINX_PID=
CHILD_PID=
# stop PID: SIGTERM, then SIGKILL after 5 s (to its process group if it
# leads one, as `timeout` does).
stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then
    kill -KILL -- "-$1" 2>/dev/null || kill -KILL "$1" 2>/dev/null || true
  fi
  wait "$1" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # A measured run still going (interrupted): timeout passes SIGTERM on.
  [[ -z $CHILD_PID ]] || stop "$CHILD_PID"
  [[ -z $NGINX_PID ]] || stop "$NGINX_PID"
  if [[ -n $OUT ]]; then
    mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/ && say "raw outputs kept in $OUT"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT
trap 'say terminated; exit 143' TERM

# ------------------------------------------------------------------ nginx --
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

probe() { # probe URL -> 0 if it answers "ok"
  python3 - "$1" <<'PY'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=1) as r:
        sys.exit(0 if r.status == 200 and r.read() == b"ok" else 1)
except Exception:
    sys.exit(1)
PY
}

start_nginx() {
  local dir=$WORK/nginx port
  mkdir -p "$dir/tmp"
  port=$(free_port)
  cat >"$dir/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events {
    worker_connections $((CONNS * 2 + 64));
}
http {
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path $dir/tmp;
    proxy_temp_path $dir/tmp;
    fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp;
    scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$port;
        location / {
            default_type text/plain;
            return 200 "ok";
        }
    }
}
EOF
  taskset -c "$TARGET_CPU" nginx -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" \
    >"$dir/stdout.log" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 50); do
    if probe "http://127.0.0.1:$port/"; then
      URL=http://127.0.0.1:$port
      return 0
    fi
    kill -0 "$NGINX_PID" 2>/dev/null || break
    sleep 0.1
  done
  stop "$NGINX_PID"
  NGINX_PID=
  say "nginx did not come up on port $port:"
  tail -n 5 "$dir/error.log" "$dir/stdout.log" >&2 || true
  return 1
}

URL=
for attempt in 1 2 3; do
  start_nginx && break
  ((attempt < 3)) || die "could not start nginx"
done
[[ $URL == http://127.0.0.1:* ]] || die "target is not on loopback: $URL"
say "nginx $(nginx -v 2>&1 | sed 's/.*\///') on $URL (CPU $TARGET_CPU); generators on CPU $GEN_CPU"

# --------------------------------------------------------------- measured --
# Busy time of the whole machine, in clock ticks (user, nice, system, irq,
# softirq, steal).
host_busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# CPU time of nginx (master and workers), in clock ticks.
nginx_busy() {
  local p t=0 u s
  for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID"); do
    # Fields 14 and 15 (utime, stime); the command name has no spaces.
    read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat" 2>/dev/null || echo 0 0)
    t=$((t + u + s))
  done
  echo "$t"
}
CLK_TCK=$(getconf CLK_TCK)

# Machine CPU time not spent by the generator or nginx, as a share of one
# CPU, above which a run is taken to have shared the machine. The kernel's own
# threads account for a few percent.
OTHER_LOAD_MAX=0.10

# Wait (at most QUIET_WAIT s) until the machine is idle: other work on it
# would be measured along with the generators.
quiet_wait() {
  local waited=0 b0 b1 limit
  limit=$(awk -v m="$OTHER_LOAD_MAX" -v hz="$CLK_TCK" 'BEGIN{print int(m * hz)}')
  while :; do
    b0=$(host_busy)
    sleep 1
    b1=$(host_busy)
    ((b1 - b0 > limit)) || return 0
    if ((waited == 0)); then
      say "the machine is busy ($(((b1 - b0) * 100 / CLK_TCK))% of a CPU); waiting up to ${QUIET_WAIT} s"
    fi
    waited=$((waited + 1))
    if ((waited >= QUIET_WAIT)); then
      say "still busy after ${QUIET_WAIT} s; measuring anyway (the run will be flagged)"
      return 0
    fi
  done
}

# Share of one CPU used by neither the generator nor nginx during run NAME.
other_load() {
  awk 'NR == FNR { h = $1; n = $2; w = $4 - $3; hz = $5; next }
       { u = $1; s = $2 }
       END { if (w > 0) printf "%.3f\n", ((h - n) / hz - u - s) / w; else print 0 }' \
    "$WORK/$1.host" <(tail -n 1 "$WORK/$1.time" 2>/dev/null || echo 0 0)
}

# measure NAME CMD... : run CMD pinned to the generator CPU, bounded in time,
# recording its output, exit code, CPU seconds (user + system), and how busy
# nginx and the machine as a whole were meanwhile. A run during which other
# processes were busy is repeated, up to RETRIES times.
measure() {
  local name=$1 attempt other
  shift
  for ((attempt = 0; attempt <= RETRIES; attempt++)); do
    quiet_wait
    measure_once "$name" "$@"
    other=$(other_load "$name")
    awk -v o="$other" -v m="$OTHER_LOAD_MAX" 'BEGIN{exit !(o > m)}' || return 0
    ((attempt < RETRIES)) || break
    say "other processes used $(awk -v o="$other" 'BEGIN{printf "%.0f", o * 100}')% of a CPU during $name; running it again"
  done
}

measure_once() {
  local name=$1 rc=0 host0 ngx0 t0
  shift
  say "running $name: $*"
  host0=$(host_busy) ngx0=$(nginx_busy) t0=$(date +%s.%N)
  # In the background so that an interrupt reaches the trap at once.
  timeout -k 5 $((DURATION + SLACK)) \
    /usr/bin/time -f '%U %S %e' -o "$WORK/$name.time" \
    taskset -c "$GEN_CPU" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
  CHILD_PID=$!
  wait "$CHILD_PID" || rc=$?
  CHILD_PID=
  echo "$rc" >"$WORK/$name.rc"
  echo "$(($(host_busy) - host0)) $(($(nginx_busy) - ngx0)) $t0 $(date +%s.%N) $CLK_TCK" \
    >"$WORK/$name.host"
  if ((rc == 124 || rc == 137)); then
    say "$name did not finish within $((DURATION + SLACK)) s and was killed"
  fi
}

# scenario FILE LOAD : one phase, one GET of `/` expecting 200.
scenario() {
  local file=$1 name
  name=$(basename "$file" .yaml)
  cat >"$file" <<EOF
# Generated by tests/bench/engine.sh.
name: bench-$name
target: $URL
seed: 1
defaults:
  timeout: 10s
phases:
  - name: bench
    duration: ${DURATION}s
    load: { $2 }
    flow: hit
flows:
  hit:
    - { name: root, get: /, expect: 200 }
EOF
}

run_flashcrowd() { # NAME LOAD [EXTRA FLAGS...]
  local name=$1 load=$2
  shift 2
  scenario "$WORK/$name.yaml" "$load"
  measure "$name" "$FLASHCROWD" run "$WORK/$name.yaml" --target "$URL" \
    --connections "$CONNS" --out "$WORK/$name.report" --quiet "$@"
}

OHA_OUT_FLAGS=()
if ((HAVE_OHA)); then
  if oha --help 2>&1 | grep -q -- '--output-format'; then
    OHA_OUT_FLAGS=(--output-format json)
  else
    OHA_OUT_FLAGS=(--json)
  fi
fi

# Warm nginx and the loopback path up; not reported.
measure_once warmup wrk -t1 -c"$CONNS" -d2s "$URL/"

# The tools take turns within each round, so drift on a noisy machine hits
# them alike; the table reports medians over the rounds.
for round in $(seq "$ROUNDS"); do
  say "round $round of $ROUNDS"
  # Mode (b): open model at a fixed rate.
  run_flashcrowd "fc-open-r$round" "rate: ${RATE}/s"
  if ((HAVE_OHA)); then
    measure "oha-open-r$round" oha -q "$RATE" -z "${DURATION}s" -c "$CONNS" --no-tui \
      --latency-correction "${OHA_OUT_FLAGS[@]}" "$URL/"
  fi
  # Mode (a): closed loop, maximum throughput.
  measure "wrk-closed-r$round" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$URL/"
  if ((HAVE_OHA)); then
    measure "oha-closed-r$round" oha -z "${DURATION}s" -c "$CONNS" --no-tui \
      "${OHA_OUT_FLAGS[@]}" "$URL/"
  fi
  if [[ $CLOSED_MODE == users ]]; then
    run_flashcrowd "fc-closed-r$round" "users: $CONNS"
  else
    run_flashcrowd "fc-closed-r$round" "rate: ${OVERDRIVE_RATE}/s"
  fi
  # The same closed-model scenario through Goose: one user (and one HTTP
  # client) per connection.
  if ((WANT_GOOSE)); then
    run_flashcrowd "goose-closed-r$round" "users: $CONNS" --engine goose
  fi
done

# ----------------------------------------------------------------- report --
echo
python3 - "$WORK" "$ROUNDS" "$RATE" "$DURATION" "$CONNS" "$CLOSED_MODE" "$OVERDRIVE_RATE" \
  "$OTHER_LOAD_MAX" <<'PY'
import json
import os
import re
import statistics
import sys

work = sys.argv[1]
rounds, rate, duration, conns = (int(x) for x in sys.argv[2:6])
closed_mode, overdrive = sys.argv[6], int(sys.argv[7])
OTHER_LOAD_WARN = float(sys.argv[8])
planned = rate * duration
OPEN = f"open {rate}/s"
CLOSED = f"closed c={conns}"
if closed_mode != "users":
    CLOSED_FC = f"{CLOSED} (open model overdriven)"
else:
    CLOSED_FC = CLOSED


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def read(name, ext):
    try:
        with open(os.path.join(work, f"{name}.{ext}")) as f:
            return f.read()
    except OSError:
        return None


def cpu_seconds(name):
    # /usr/bin/time may put a note ("Command exited with non-zero status 3")
    # before its own line: "user system elapsed".
    lines = (read(name, "time") or "").strip().splitlines()
    try:
        user, system = lines[-1].split()[:2]
        return float(user) + float(system)
    except (IndexError, ValueError):
        return None


def failure(name):
    rc = (read(name, "rc") or "?").strip()
    err = " | ".join((read(name, "err") or "").strip().splitlines()[-3:])
    return f"exit {rc}: {err or 'no output'}"


def to_us(value, unit):
    return float(value) * {"us": 1.0, "ms": 1e3, "s": 1e6}[unit]


def flashcrowd(name, mode):
    try:
        with open(os.path.join(work, f"{name}.report", "report.json")) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None, failure(name)
    t, g = r["totals"], r["generator"]
    lat = r["steps"][0]["latency_us"] if r["steps"] else {}
    elapsed = r["duration_s"]
    rps = t["sent"] / elapsed if elapsed else 0.0
    if mode == OPEN:
        kept = t["sent"] >= 0.995 * planned and rps >= 0.995 * rate and t["dropped"] == 0
        note = (f"{rps:,.0f}/s = {rps / rate:.1%} of the rate, {'kept' if kept else 'NOT kept'}; "
                f"sent {t['sent']:,} of {planned:,} planned in {elapsed:.2f} s, "
                f"{t['late']:,} late, {t['dropped']:,} dropped; "
                f"dispatch lag p99 {g['dispatch_lag_p99_ms']:.2f} ms, "
                f"start delay p99 {g['start_delay_p99_ms']:.1f} ms; verdict {r['verdict']}")
        p50, p99 = lat.get("p50"), lat.get("p99")
    elif closed_mode == "users":
        note = f"{rps:,.0f}/s, {t['errors']:,} errors; verdict {r['verdict']}"
        p50, p99 = lat.get("p50"), lat.get("p99")
    else:
        note = (f"asked {overdrive:,}/s: scheduled {t['scheduled']:,}, sent {t['sent']:,} "
                f"in {elapsed:.2f} s (with the backlog drain), dropped {t['dropped']:,}")
        # Latency from intended start of an overdriven run is queueing time.
        p50 = p99 = None
    res = dict(rps=rps, requests=t["sent"], p50=p50, p99=p99, note=note,
               errors=t["errors"], kept=kept if mode == OPEN else None)
    return res, None


def wrk(name, mode):
    out = read(name, "out") or ""
    m_rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    m_n = re.search(r"(\d+) requests in", out)
    if not (m_rps and m_n):
        return None, failure(name)
    pct = {k: to_us(v, u) for k, v, u in
           re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)}
    errs = "; ".join(re.findall(r"(Socket errors:.*|Non-2xx or 3xx responses:.*)", out))
    rps = float(m_rps.group(1))
    return dict(rps=rps, requests=int(m_n.group(1)), p50=pct.get("50"), p99=pct.get("99"),
                note=f"{rps:,.0f}/s" + (f"; {errs}" if errs else ""), errors=None, kept=None), None


def oha(name, mode):
    try:
        j = json.loads(read(name, "out") or "")
    except ValueError:
        return None, failure(name)
    rps = float(j.get("summary", {}).get("requestsPerSec") or 0.0)
    pct = j.get("latencyPercentiles", {})
    n = sum(int(v) for v in j.get("statusCodeDistribution", {}).values())
    errs = j.get("errorDistribution", {})
    note = f"{rps:,.0f}/s"
    kept = None
    if mode == OPEN:
        kept = rps >= 0.995 * rate
        note += f" = {rps / rate:.1%} of the rate, {'kept' if kept else 'NOT kept'}"
    if errs:
        note += "; " + ", ".join(f"{k}: {v}" for k, v in errs.items())
    p50, p99 = pct.get("p50"), pct.get("p99")
    return dict(rps=rps, requests=n, p50=None if p50 is None else p50 * 1e6,
                p99=None if p99 is None else p99 * 1e6, note=note, errors=None, kept=kept), None


def host_load(name, tool_cpu):
    try:
        host, ngx, t0, t1, hz = (read(name, "host") or "").split()
        host, ngx, wall, hz = int(host), int(ngx), float(t1) - float(t0), int(hz)
    except ValueError:
        return None, None
    if wall <= 0:
        return None, None
    nginx = ngx / hz / wall
    other = None if tool_cpu is None else max(0.0, (host - ngx) / hz - tool_cpu) / wall
    return nginx, other


busy_runs = []
def goose(name, mode):
    # `run --engine goose` writes flashcrowd's report; its users are the
    # closed model whatever FLASHCROWD_BENCH_CLOSED says.
    try:
        with open(os.path.join(work, f"{name}.report", "report.json")) as f:
            r = json.load(f)
    except (OSError, ValueError):
        return None, failure(name)
    t = r["totals"]
    lat = r["steps"][0]["latency_us"] if r["steps"] else {}
    rps = t["sent"] / r["duration_s"] if r["duration_s"] else 0.0
    note = f"{rps:,.0f}/s, {t['errors']:,} errors; verdict {r['verdict']}"
    return dict(rps=rps, requests=t["sent"], p50=lat.get("p50"), p99=lat.get("p99"), note=note,
                errors=t["errors"], kept=None), None


plan = [("flashcrowd", OPEN, "fc-open", flashcrowd), ("oha", OPEN, "oha-open", oha),
        ("wrk", CLOSED, "wrk-closed", wrk), ("oha", CLOSED, "oha-closed", oha),
        ("flashcrowd", CLOSED_FC, "fc-closed", flashcrowd), ("goose", CLOSED, "goose-closed", goose)]
groups, problems = [], []
for tool, mode, stem, parse in plan:
    runs = []
    for r in range(1, rounds + 1):
        name = f"{stem}-r{r}"
        if read(name, "rc") is None:
            continue  # not run (oha absent)
        res, err = parse(name, mode)
        if err:
            problems.append(f"{tool} ({mode}) round {r} failed, {err}")
            continue
        cpu = cpu_seconds(name)
        res["cpu"] = cpu
        res["per100k"] = cpu / res["requests"] * 1e5 if cpu is not None and res["requests"] else None
        if cpu is not None:
            res["note"] += f"; CPU {cpu:.2f} s = {fmt(res['per100k'], '.3f')} s/100k"
        res["nginx"], res["other"] = host_load(name, cpu)
        if res["nginx"] is not None:
            res["note"] += f"; nginx {res['nginx']:.0%} of a CPU"
        if res["other"] is not None:
            res["note"] += f", everything else {res['other']:.0%}"
            if res["other"] > OTHER_LOAD_WARN:
                busy_runs.append(f"{tool} {mode} #{r}: {res['other']:.0%}")
        runs.append(res)
    if runs:
        groups.append(dict(tool=tool, mode=mode, runs=runs))


def med(runs, key):
    vals = [x[key] for x in runs if x[key] is not None]
    return statistics.median(vals) if vals else None


for g in groups:
    for key in ("rps", "requests", "cpu", "per100k", "p50", "p99", "nginx"):
        g[key] = med(g["runs"], key)
    rps = [x["rps"] for x in g["runs"]]
    g["range"] = f"{min(rps):,.0f}–{max(rps):,.0f}"


def fmt_us(v):
    if v is None:
        return "-"
    if v < 1e3:
        return f"{v:.0f} µs"
    return f"{v / 1e3:.2f} ms" if v < 1e6 else f"{v / 1e6:.2f} s"


head = ["tool", "mode", "requests/s", "range", "CPU s", "CPU s/100k", "p50", "p99", "nginx CPU"]
table = [[g["tool"], g["mode"], fmt(g["rps"], ",.0f"), g["range"], fmt(g["cpu"], ".2f"),
          fmt(g["per100k"], ".3f"), fmt_us(g["p50"]), fmt_us(g["p99"]), fmt(g["nginx"], ".0%")]
         for g in groups]
widths = [max(len(x) for x in col) for col in zip(head, *table)]


def line(cells):
    return "  " + "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(cells, widths)))


unit = "median of" if rounds > 1 else "one run of"
print(f"  {unit} {rounds} round(s) of {duration} s each; range = requests/s min–max over rounds")
print(line(head))
print("  " + "─" * (sum(widths) + 2 * (len(widths) - 1)))
for t in table:
    print(line(t))

print()
print("  ratios, flashcrowd ÷ other (requests/s: higher is better; CPU per 100k: lower is better)")
for prefix in ("open", "closed"):
    me = next((g for g in groups if g["tool"] == "flashcrowd" and g["mode"].startswith(prefix)), None)
    for other in ("wrk", "oha", "goose"):
        o = next((g for g in groups if g["tool"] == other and g["mode"].startswith(prefix)), None)
        if not (me and o):
            continue
        rps = me["rps"] / o["rps"] if o["rps"] else None
        cpu = me["per100k"] / o["per100k"] if me["per100k"] and o["per100k"] else None
        print(f"    {prefix:6}  flashcrowd/{other}:  requests/s ×{fmt(rps, '.2f')}"
              f"   CPU per 100k ×{fmt(cpu, '.2f')}")

print()
print("  per run")
for g in groups:
    for i, x in enumerate(g["runs"], 1):
        print(f"    {g['tool']} {g['mode']} #{i}: {x['note']}")
notes = []
if any(g["mode"] == OPEN for g in groups):
    notes.append("open-model latency is measured from each request's intended start "
                 "(flashcrowd always; oha with --latency-correction)")
if any(g["tool"] == "goose" for g in groups):
    notes.append("goose: flashcrowd's `run --engine goose`, the same scenario through Goose "
                 "0.19 (a user and an HTTP client per connection); latency to the response "
                 "headers, from Goose's buckets (within 0.8%)")
if closed_mode != "users":
    notes.append("flashcrowd has no closed-loop load yet: its closed row is an open-model run "
                 f"asked for {overdrive:,}/s on {conns} connections, sent/elapsed; "
                 "its latency would be queueing time, so none is shown")
notes.append("nginx CPU: the target's CPU time over the run's wall time; near 100% "
             "means the target, not the generator, set the pace")
for n in notes:
    print(f"  note: {n}")
if busy_runs:
    print(f"  WARNING: other processes used more than {OTHER_LOAD_WARN:.0%} of a CPU during "
          f"{len(busy_runs)} run(s), even after retries ({'; '.join(busy_runs)}); "
          "their figures are not trustworthy: rerun on a quiet machine")
for p in problems:
    print(f"  problem: {p}")

with open(os.path.join(work, "results.tsv"), "w") as f:
    keys = ("tool", "mode", "rps", "requests", "cpu", "per100k", "p50", "p99", "nginx")
    f.write("\t".join(("tool", "mode", "requests_per_s", "requests", "cpu_s",
                       "cpu_s_per_100k", "p50_us", "p99_us", "nginx_cpu")) + "\n")
    for g in groups:
        f.write("\t".join("" if g[k] is None else str(g[k]) for k in keys) + "\n")
sys.exit(1 if problems else 0)
PY
