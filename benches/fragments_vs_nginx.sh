#!/usr/bin/env bash
# Serves a package's 1 MiB fragments to CONNECTIONS concurrent keep-alive connections
# with `ocs-deploy-server serve` (its `--files` listener, sendfile: "files"; and its
# plain-HTTP axum listener: "axum") and with nginx (sendfile) serving the same folder, in
# the same run, ROUNDS rounds (the order alternating between rounds); prints requests/s,
# median and p99 of each, the ratio ours (files) / nginx of the best rounds (and axum /
# nginx) and of the rounds' means, and each server's RSS (start, peak, end, sampled every
# 0.5 s) to show memory stays flat. Both of ours are one process.
#
# Target (issue): at least 1.0x nginx, memory flat.
#
#   benches/fragments_vs_nginx.sh
#
# Environment: SIZE_MIB (default 256: the package, so 256 fragments), CONNECTIONS (256),
# DURATION (10 s per measurement), WARMUP (2 s), ROUNDS (2), WORK_DIR (default: a new temp
# dir; a package already built there is reused), MIN_RATIO (1.0).
# Installs nginx with apt-get if it is missing (needs root; services are not started).
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-256}
CONNECTIONS=${CONNECTIONS:-256}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-2}
MIN_RATIO=${MIN_RATIO:-1.0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -n ${WORK_DIR:-} ]]; then
    mkdir -p "$WORK_DIR"
else
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fragments-bench.XXXXXX")
fi
DATA=$WORK_DIR/data
NGINX_DIR=$WORK_DIR/nginx

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

if ! command -v nginx >/dev/null; then
    echo "installing nginx (apt-get)" >&2
    made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        # Keep apt from starting the system nginx on port 80.
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light >&2 ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx >&2
    ((made_policy)) && rm -f /usr/sbin/policy-rc.d
fi
NGINX=$(command -v nginx)

echo "building ocs-deploy-server and http-load (release)" >&2
(cd "$ROOT" && cargo build --quiet --release -p ocs-deploy-server -p ocs-deploy-benches --bin ocs-deploy-server --bin http-load)
SERVER=$ROOT/target/release/ocs-deploy-server
LOAD=$ROOT/target/release/http-load

# The package: SIZE_MIB of random bytes into 1 MiB fragments (the content does not matter
# to serving; a Store package takes any file).
if [[ ! -s $WORK_DIR/package-id ]]; then
    rm -rf "$DATA"
    head -c $((SIZE_MIB * 1024 * 1024)) /dev/urandom >"$WORK_DIR/payload.bin"
    "$SERVER" --data-dir "$DATA" package build "$WORK_DIR/payload.bin" --name fragments-bench \
        --action store --command INSTALL_PATH/bench --fragment-size 1048576 >"$WORK_DIR/package-id"
    rm -f "$WORK_DIR/payload.bin"
fi
ID=$(cat "$WORK_DIR/package-id")
PKG=$DATA/packages/$ID
FRAGS=$(find "$PKG" -name "$ID-*" | wc -l)
echo "package $ID: $FRAGS fragments in $PKG" >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Our server, plain HTTP (axum) and the files listener.
OURS_PORT=$(free_port)
FILES_PORT=$(free_port)
"$SERVER" --data-dir "$DATA" serve --http "127.0.0.1:$OURS_PORT" --files "127.0.0.1:$FILES_PORT" \
    >"$WORK_DIR/ours.out" 2>"$WORK_DIR/ours.err" &
OURS_PID=$!
PIDS+=("$OURS_PID")

# nginx: same folder, sendfile, keep-alive, no access log (ours logs no request either).
NGINX_PORT=$(free_port)
mkdir -p "$NGINX_DIR"
cat >"$NGINX_DIR/nginx.conf" <<EOF
worker_processes auto;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $NGINX_DIR/tmp;
    proxy_temp_path $NGINX_DIR/tmp;
    fastcgi_temp_path $NGINX_DIR/tmp;
    uwsgi_temp_path $NGINX_DIR/tmp;
    scgi_temp_path $NGINX_DIR/tmp;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /download/ { alias $DATA/packages/; }
    }
}
EOF
mkdir -p "$NGINX_DIR/tmp"
"$NGINX" -c "$NGINX_DIR/nginx.conf" -g 'daemon off;' 2>"$NGINX_DIR/stderr" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

wait_port() {
    local i
    for i in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$1/download/$ID/$ID-1" && return 0
        sleep 0.1
    done
    echo "FAIL: nothing serves http://127.0.0.1:$1/download/$ID/$ID-1" >&2
    exit 1
}
wait_port "$OURS_PORT"
wait_port "$FILES_PORT"
wait_port "$NGINX_PORT"
# Same bytes from all three.
for port in "$OURS_PORT" "$FILES_PORT"; do
    if ! cmp -s <(curl -sf "http://127.0.0.1:$port/download/$ID/$ID-2") \
        <(curl -sf "http://127.0.0.1:$NGINX_PORT/download/$ID/$ID-2"); then
        echo "FAIL: port $port and nginx send different bytes for fragment 2" >&2
        exit 1
    fi
done

for n in $(seq 1 "$FRAGS"); do echo "http://127.0.0.1:$OURS_PORT/download/$ID/$ID-$n"; done >"$WORK_DIR/urls-axum.txt"
for n in $(seq 1 "$FRAGS"); do echo "http://127.0.0.1:$FILES_PORT/download/$ID/$ID-$n"; done >"$WORK_DIR/urls-files.txt"
for n in $(seq 1 "$FRAGS"); do echo "http://127.0.0.1:$NGINX_PORT/download/$ID/$ID-$n"; done >"$WORK_DIR/urls-nginx.txt"
# Page cache warm for both.
cat "$PKG"/* >/dev/null

# rss_kib PID...: summed VmRSS of the processes (nginx: master and workers).
rss_kib() {
    local total=0 pid kib
    for pid in "$@"; do
        kib=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}
nginx_pids() { echo "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); }

# measure NAME URLS PIDS...: one load run; appends "NAME rps p99 median start peak end"
# to $WORK_DIR/results.
measure() {
    local name=$1 urls=$2
    shift 2
    local pids=("$@") start peak end now out sampler
    start=$(rss_kib "${pids[@]}")
    echo "$start" >"$WORK_DIR/rss-$name"
    (
        while true; do
            rss_kib "${pids[@]}" >>"$WORK_DIR/rss-$name"
            sleep 0.5
        done
    ) &
    sampler=$!
    out=$("$LOAD" --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
        --label "$name" get --urls-file "$urls" --expect-len 1048576) || {
        kill "$sampler"
        echo "FAIL: $name load run reported errors: $out" >&2
        exit 1
    }
    kill "$sampler"
    wait "$sampler" 2>/dev/null || true
    sleep 1
    end=$(rss_kib "${pids[@]}")
    peak=$(sort -n "$WORK_DIR/rss-$name" | tail -1)
    ((end > peak)) && peak=$end
    echo "  $out" >&2
    local rps p99 median
    rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$out")
    p99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    median=$(sed -n 's/.* median_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    echo "$name $rps $p99 $median $start $peak $end" >>"$WORK_DIR/results"
}

rm -f "$WORK_DIR/results"
echo "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r" >&2
    # The order alternates between rounds (nginx first in odd rounds, last in even ones),
    # so neither side always runs right after the other.
    if ((r % 2 == 1)); then
        # shellcheck disable=SC2046 # nginx_pids is a list of words
        measure nginx "$WORK_DIR/urls-nginx.txt" $(nginx_pids)
        measure files "$WORK_DIR/urls-files.txt" "$OURS_PID"
        measure axum "$WORK_DIR/urls-axum.txt" "$OURS_PID"
    else
        measure axum "$WORK_DIR/urls-axum.txt" "$OURS_PID"
        measure files "$WORK_DIR/urls-files.txt" "$OURS_PID"
        # shellcheck disable=SC2046 # nginx_pids is a list of words
        measure nginx "$WORK_DIR/urls-nginx.txt" $(nginx_pids)
    fi
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "$FRAGS fragments of 1 MiB, $CONNECTIONS keep-alive connections, ${DURATION}s per run after ${WARMUP}s warm-up, $ROUNDS rounds, $(nproc) cores, load after: $LOAD_AFTER"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), worker_processes auto, sendfile on"
printf '%-6s %10s %10s %10s %12s %12s %12s\n' server "req/s" "p99 (ms)" "median" "RSS start" "RSS peak" "RSS end"
while read -r name rps p99 median start peak end; do
    printf '%-6s %10s %10s %10s %9s KiB %8s KiB %8s KiB\n' "$name" "$rps" "$p99" "$median" "$start" "$peak" "$end"
done <"$WORK_DIR/results"
# Best round of each.
best() { awk -v n="$1" '$1 == n && $2 > b { b = $2; p = $3 } END { print b, p }' "$WORK_DIR/results"; }
read -r OURS_RPS OURS_P99 <<<"$(best files)"
read -r AXUM_RPS AXUM_P99 <<<"$(best axum)"
read -r NGINX_RPS NGINX_P99 <<<"$(best nginx)"
RATIO=$(awk -v a="$OURS_RPS" -v b="$NGINX_RPS" 'BEGIN { printf "%.3f", a / b }')
P99_RATIO=$(awk -v a="$OURS_P99" -v b="$NGINX_P99" 'BEGIN { printf "%.3f", a / b }')
AXUM_RATIO=$(awk -v a="$AXUM_RPS" -v b="$NGINX_RPS" 'BEGIN { printf "%.3f", a / b }')
echo "best round: files $OURS_RPS req/s (p99 $OURS_P99 ms), axum $AXUM_RPS req/s (p99 $AXUM_P99 ms), nginx $NGINX_RPS req/s (p99 $NGINX_P99 ms)"
echo "ratio files / nginx, requests/s: $RATIO (target >= $MIN_RATIO); p99 files / nginx: $P99_RATIO (lower is better); axum / nginx: $AXUM_RATIO"
# Every round counted: the mean requests/s of each server.
mean() { awk -v n="$1" '$1 == n { s += $2; c++ } END { printf "%.1f", s / c }' "$WORK_DIR/results"; }
echo "mean of the rounds: files $(mean files) req/s, nginx $(mean nginx) req/s, ratio $(awk -v a="$(mean files)" -v b="$(mean nginx)" 'BEGIN { printf "%.3f", a / b }')"

if awk -v r="$RATIO" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
    echo "BELOW TARGET: ratio $RATIO < $MIN_RATIO" >&2
    exit 1
fi
