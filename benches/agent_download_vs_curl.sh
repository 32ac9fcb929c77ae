#!/usr/bin/env bash
# Deploys a SIZE_MIB Store package (a TAR.GZ of random bytes in 1 MiB fragments) from
# `ocs-deploy-server serve` on loopback with `ocs-deploy-agent --once` (download, per-fragment
# SHA-256, package digest, extraction into the Store folder, result posted), and compares it
# in the same run with curl fetching the same info file and every fragment from the same
# server into sha256sum.
#
# Target (issue): wall time at most 1.3x curl | sha256sum, peak memory under 64 MiB.
#
#   SIZE_MIB=1024 benches/agent_download_vs_curl.sh
#
# Environment: SIZE_MIB (default 1024), WORK_DIR (default: a new temp dir; an existing
# random.bin and package.tar.gz of the right size there are reused), RUNS (default 3, best
# of), MAX_RATIO (default 1.3), MAX_RSS_KIB (default 65536), AGENT_PREFIX (words put before
# the timed agent command, for profiling: AGENT_PREFIX="perf record -g -o /tmp/agent.perf").
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
MAX_RATIO=${MAX_RATIO:-1.3}
MAX_RSS_KIB=${MAX_RSS_KIB:-65536}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ ! -x /usr/bin/time ]]; then
    echo "/usr/bin/time is missing: apt-get install time" >&2
    exit 1
fi
for tool in curl sha256sum gzip tar; do
    command -v "$tool" >/dev/null || {
        echo "$tool is missing" >&2
        exit 1
    }
done

OWN_WORK_DIR=
if [[ -n ${WORK_DIR:-} ]]; then
    mkdir -p "$WORK_DIR"
else
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/agent-bench.XXXXXX")
    OWN_WORK_DIR=1
fi
FILE=$WORK_DIR/random.bin
ARCHIVE=$WORK_DIR/package.tar.gz
DATA=$WORK_DIR/server
STORED=$WORK_DIR/stored
SERVER_PID=
cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA" "$STORED" "$WORK_DIR"/state-*
    # A temporary work folder goes whole (2 GiB); a given one keeps its inputs for reuse.
    if [[ -n $OWN_WORK_DIR ]]; then
        rm -rf "$WORK_DIR"
    fi
}
trap cleanup EXIT

want=$((SIZE_MIB * 1024 * 1024))
if [[ ! -f $FILE || $(stat -c %s "$FILE") -ne $want ]]; then
    echo "making $FILE ($SIZE_MIB MiB of random bytes)" >&2
    head -c "$want" /dev/urandom >"$FILE"
    rm -f "$ARCHIVE"
fi
if [[ ! -f $ARCHIVE ]]; then
    echo "making $ARCHIVE" >&2
    tar -C "$WORK_DIR" -cf - random.bin | gzip -1 >"$ARCHIVE.part"
    mv "$ARCHIVE.part" "$ARCHIVE"
fi
ARCHIVE_SHA=$(sha256sum <"$ARCHIVE" | cut -d' ' -f1)

echo "building ocs-deploy-server and ocs-deploy-agent (release)" >&2
(cd "$ROOT" && cargo build --quiet --release -p ocs-deploy-server -p ocs-deploy-agent)
SERVER=$ROOT/target/release/ocs-deploy-server
AGENT=$ROOT/target/release/ocs-deploy-agent

server() { RUST_LOG=warn "$SERVER" --data-dir "$DATA" "$@"; }

rm -rf "$DATA" "$STORED"
for key in FRAG_LATENCY CYCLE_LATENCY PERIOD_LATENCY; do
    server config set "$key" 0 >/dev/null
done
ID=$(server package build "$ARCHIVE" --name bench --action store --command "$STORED" 2>/dev/null)
ID=${ID//[[:space:]]/}
FRAGMENTS=$(server package list | awk -v id="$ID" '$1 == id { print $3 }')
echo "package $ID: $FRAGMENTS fragments, $(stat -c %s "$ARCHIVE") bytes" >&2

server serve --http 127.0.0.1:0 --https 127.0.0.1:0 >"$WORK_DIR/serve.out" 2>"$WORK_DIR/serve.log" &
SERVER_PID=$!
for _ in $(seq 100); do
    [[ $(wc -l <"$WORK_DIR/serve.out") -ge 2 ]] && break
    sleep 0.1
done
HTTP=$(awk '$1 == "http" { print $2 }' "$WORK_DIR/serve.out")
HTTPS=$(awk '$1 == "https" { print $2 }' "$WORK_DIR/serve.out")
[[ -n $HTTP && -n $HTTPS ]] || {
    echo "the server did not start: $(cat "$WORK_DIR/serve.log")" >&2
    exit 1
}
server package activate "$ID" --info-url "$HTTPS/download" --pack-url "$HTTP/download" \
    --allow-loopback >/dev/null

agent() {
    "$AGENT" --server "https://$HTTPS/ocsinventory" --ca "$DATA/cacert.pem" \
        --state-dir "$1" --once --non-interactive
}

# One agent run: a new state directory registers (untimed), is affected the package, then
# deploys it (timed). Sets RUN_S and RUN_KIB.
agent_run() {
    local state stats device
    state=$WORK_DIR/state-$1
    rm -rf "$state" "$STORED"
    agent "$state" 2>"$WORK_DIR/agent-register.log"
    device=$(cat "$state/device-id")
    server package affect "$ID" --device "$device" >/dev/null
    stats=$(mktemp)
    # shellcheck disable=SC2086 # AGENT_PREFIX is a list of words
    /usr/bin/time -f '%e %M' -o "$stats" ${AGENT_PREFIX:-} "$AGENT" --server "https://$HTTPS/ocsinventory" \
        --ca "$DATA/cacert.pem" --state-dir "$state" --once --non-interactive \
        2>"$WORK_DIR/agent.log"
    read -r RUN_S RUN_KIB <"$stats"
    rm -f "$stats"
    if ! server package status "$ID" | grep -q "^$device SUCCESS$"; then
        echo "the agent did not report SUCCESS: $(server package status "$ID")" >&2
        tail -20 "$WORK_DIR/agent.log" >&2
        exit 1
    fi
    cmp "$FILE" "$STORED/random.bin" || {
        echo "the stored file differs" >&2
        exit 1
    }
    rm -rf "$state"
}

# The same bytes with curl: the info file over HTTPS, then every fragment over one HTTP
# connection (URL range), each stream into sha256sum. Sets RUN_S and RUN_KIB (of curl's
# pipeline: the larger of curl and sha256sum).
curl_run() {
    local stats sums
    stats=$(mktemp)
    sums=$(mktemp)
    /usr/bin/time -f '%e %M' -o "$stats" bash -c '
        curl -sS --fail --cacert "$1" "https://$2/download/$4/info" | sha256sum
        curl -sS --fail "http://$3/download/$4/$4-[1-$5]" | sha256sum
    ' _ "$DATA/cacert.pem" "$HTTPS" "$HTTP" "$ID" "$FRAGMENTS" >"$sums"
    read -r RUN_S RUN_KIB <"$stats"
    local fragments_sha
    fragments_sha=$(sed -n 2p "$sums" | cut -d' ' -f1)
    rm -f "$stats" "$sums"
    if [[ $fragments_sha != "$ARCHIVE_SHA" ]]; then
        echo "curl did not get the archive's bytes" >&2
        exit 1
    fi
}

# Alternate the two, best of RUNS each, so both see the same machine.
BEST_AGENT_S= BEST_AGENT_KIB= BEST_CURL_S= BEST_CURL_KIB= MAX_AGENT_KIB=0
less() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
for ((i = 1; i <= RUNS; i++)); do
    curl_run
    echo "  curl | sha256sum run $i: ${RUN_S}s ${RUN_KIB} KiB" >&2
    if [[ -z $BEST_CURL_S ]] || less "$RUN_S" "$BEST_CURL_S"; then
        BEST_CURL_S=$RUN_S BEST_CURL_KIB=$RUN_KIB
    fi
    agent_run "$i"
    echo "  ocs-deploy-agent run $i: ${RUN_S}s ${RUN_KIB} KiB" >&2
    if [[ -z $BEST_AGENT_S ]] || less "$RUN_S" "$BEST_AGENT_S"; then
        BEST_AGENT_S=$RUN_S BEST_AGENT_KIB=$RUN_KIB
    fi
    ((RUN_KIB > MAX_AGENT_KIB)) && MAX_AGENT_KIB=$RUN_KIB
done

RATIO=$(awk -v a="$BEST_AGENT_S" -v b="$BEST_CURL_S" 'BEGIN { printf "%.2f", a / b }')
echo "size: $SIZE_MIB MiB random, archive $(stat -c %s "$ARCHIVE") bytes in $FRAGMENTS fragments"
echo "curl | sha256sum (best of $RUNS): ${BEST_CURL_S}s, peak RSS ${BEST_CURL_KIB} KiB"
echo "ocs-deploy-agent --once (best of $RUNS): ${BEST_AGENT_S}s, peak RSS ${BEST_AGENT_KIB} KiB (max over runs ${MAX_AGENT_KIB} KiB)"
echo "ratio: ${RATIO}x (target <= ${MAX_RATIO}x); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
if less "$MAX_RATIO" "$RATIO"; then
    echo "MISSED: ratio ${RATIO}x > ${MAX_RATIO}x" >&2
    status=1
fi
if ((MAX_AGENT_KIB >= MAX_RSS_KIB)); then
    echo "MISSED: peak RSS ${MAX_AGENT_KIB} KiB >= ${MAX_RSS_KIB} KiB" >&2
    status=1
fi
exit $status
