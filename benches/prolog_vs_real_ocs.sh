#!/usr/bin/env bash
# PROLOG contacts per second against the real OCS Inventory NG server (Apache mod_perl +
# MariaDB, `../shared/tools/real-ocs-server.sh`) and `ocs-deploy-server serve` (SQLite in
# its data directory), both holding the same fleet: COMPUTERS computers with PACKAGES
# packages activated and affected to every one of them. Same load generator, same
# concurrency, same User-Agent (the Unix agent's), same DEVICEIDs, in one run.
#
# Two measurements, each on both servers:
# - first contacts: every request is a computer's first PROLOG since the affectation
#   (devices taken in order from the fleet, each once): every package goes from waiting
#   to notified, the most a contact writes;
# - repeat contacts: the first REPEAT_DEVICES computers, all notified beforehand (an
#   untimed pass), contacted over and over: every package is offered again.
# Every reply is checked: 200, zlib, a REPLY with a RESPONSE and exactly PACKAGES package
# offers.
#
# Target (issue): at least 10x the real server's contacts per second.
#
#   benches/prolog_vs_real_ocs.sh
#
# Environment: COMPUTERS (100000), PACKAGES (50), CONCURRENCY (16: the real server's
# Apache runs MaxRequestWorkers 16), DURATION (10 s per measurement), REPEAT_DEVICES
# (1000), WORK_DIR (default: a new temp dir; an ours/ data dir already filled there is
# reused), OCS_TOOL (default ../shared/tools/real-ocs-server.sh), REFILL_REAL=1 to
# refill the real server's database even when it already holds the fleet, KEEP_REAL=1 to
# leave the fleet in it afterwards (default: its rows are removed at the end, since other
# tests use the same server; a fill takes about a minute), MIN_RATIO (10).
# Needs root (the real server's script does).
set -euo pipefail

COMPUTERS=${COMPUTERS:-100000}
PACKAGES=${PACKAGES:-50}
CONCURRENCY=${CONCURRENCY:-16}
DURATION=${DURATION:-10}
REPEAT_DEVICES=${REPEAT_DEVICES:-1000}
MIN_RATIO=${MIN_RATIO:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OCS_TOOL=${OCS_TOOL:-$ROOT/../shared/tools/real-ocs-server.sh}
OCS_HTTP_PORT=${OCS_HTTP_PORT:-18180}
UA=OCS-NG_unified_unix_agent_v2.10.0
FIRST_FILEID=1700000000

if [[ -n ${WORK_DIR:-} ]]; then
    mkdir -p "$WORK_DIR"
else
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/prolog-bench.XXXXXX")
fi
OURS=$WORK_DIR/ours

PIDS=()
REAL_FILLED=0
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if ((REAL_FILLED)) && [[ ${KEEP_REAL:-0} != 1 ]]; then
        echo "removing the fleet from the real server's database (KEEP_REAL=1 keeps it)" >&2
        remove_fleet || true
    fi
}
trap cleanup EXIT

echo "building ocs-deploy-server, prolog-fill and http-load (release)" >&2
(cd "$ROOT" && cargo build --quiet --release -p ocs-deploy-server -p ocs-deploy-benches \
    --bin ocs-deploy-server --bin prolog-fill --bin http-load)
SERVER=$ROOT/target/release/ocs-deploy-server
FILL=$ROOT/target/release/prolog-fill
LOAD=$ROOT/target/release/http-load

# The fleet's DEVICEIDs (the same on both sides).
DEVICES=$WORK_DIR/devices.txt
seq -f 'pc%07.0f-2026-01-01-00-00-00' 0 $((COMPUTERS - 1)) >"$DEVICES"
head -n "$REPEAT_DEVICES" "$DEVICES" >"$WORK_DIR/repeat-devices.txt"

# ---- the real server
"$OCS_TOOL" up >&2
# shellcheck disable=SC2086 # OCS_DB_ADMIN is a list of client arguments
raw() { mysql ${OCS_DB_ADMIN:--uroot} -N -B "${OCS_DB_NAME:-ocsweb}" -e "$1"; }
# Only this benchmark's rows: its computers and its packages (other tests may use the
# same server).
OURS_HW="SELECT ID FROM hardware WHERE DEVICEID LIKE 'pc%-2026-01-01-00-00-00'"
OURS_ENABLE="SELECT ID FROM download_enable WHERE FILEID BETWEEN '$FIRST_FILEID' AND '$((FIRST_FILEID + PACKAGES - 1))'"
remove_fleet() {
    raw "DELETE FROM devices WHERE HARDWARE_ID IN ($OURS_HW);
         DELETE FROM accountinfo WHERE HARDWARE_ID IN ($OURS_HW);
         DELETE FROM download_history WHERE HARDWARE_ID IN ($OURS_HW);
         DELETE FROM prolog_conntrack WHERE DEVICEID IN (SELECT DEVICEID FROM hardware WHERE ID IN ($OURS_HW));
         DELETE FROM hardware WHERE DEVICEID LIKE 'pc%-2026-01-01-00-00-00';
         DELETE FROM download_enable WHERE FILEID BETWEEN '$FIRST_FILEID' AND '$((FIRST_FILEID + PACKAGES - 1))';
         DELETE FROM download_available WHERE FILEID BETWEEN '$FIRST_FILEID' AND '$((FIRST_FILEID + PACKAGES - 1))';"
}
REAL_FILLED=1
have=$(raw "SELECT COUNT(*) FROM hardware WHERE DEVICEID LIKE 'pc%-2026-01-01-00-00-00'")
affected=$(raw "SELECT COUNT(*) FROM devices WHERE NAME='DOWNLOAD' AND IVALUE IN ($OURS_ENABLE)")
if [[ ${REFILL_REAL:-0} == 1 || $have != "$COMPUTERS" || $affected != $((COMPUTERS * PACKAGES)) ]]; then
    echo "filling the real server's database: $COMPUTERS computers, $PACKAGES packages affected to each" >&2
    t0=$SECONDS
    # What an inventory leaves (hardware + accountinfo rows), and what add-package and
    # affect write (download_available, download_enable, devices NAME='DOWNLOAD' with
    # TVALUE NULL), in bulk.
    remove_fleet
    raw "INSERT INTO hardware (DEVICEID, NAME, IPADDR, OSNAME, LASTDATE, LASTCOME, USERAGENT)
         SELECT CONCAT('pc', LPAD(seq, 7, '0'), '-2026-01-01-00-00-00'), CONCAT('pc', LPAD(seq, 7, '0')),
                CONCAT('10.', seq >> 16, '.', (seq >> 8) & 255, '.', seq & 255), 'Linux', NOW(), NOW(), '$UA'
         FROM seq_0_to_$((COMPUTERS - 1));
         INSERT INTO accountinfo (HARDWARE_ID, TAG) SELECT ID, 'NA' FROM hardware
           WHERE DEVICEID LIKE 'pc%-2026-01-01-00-00-00';"
    for ((p = 0; p < PACKAGES; p++)); do
        id=$((FIRST_FILEID + p))
        raw "INSERT INTO download_available (FILEID, NAME, PRIORITY, FRAGMENTS, SIZE, OSNAME, COMMENT)
               VALUES ('$id', 'package $p', 5, 0, 0, 'LINUX', 'prolog_vs_real_ocs.sh');
             INSERT INTO download_enable (FILEID, INFO_LOC, PACK_LOC, CERT_PATH, CERT_FILE)
               VALUES ('$id', 'ocs.example.com/download', 'ocs.example.com/download', 'INSTALL_PATH', 'INSTALL_PATH/cacert.pem');"
    done
    raw "INSERT INTO devices (HARDWARE_ID, NAME, IVALUE, TVALUE, COMMENTS)
         SELECT h.ID, 'DOWNLOAD', e.ID, NULL, NULL FROM hardware h CROSS JOIN download_enable e
         WHERE h.ID IN ($OURS_HW) AND e.ID IN ($OURS_ENABLE);"
    echo "real server filled in $((SECONDS - t0)) s" >&2
else
    echo "the real server already holds the fleet; resetting every affectation to waiting" >&2
    raw "UPDATE devices SET TVALUE=NULL, COMMENTS=NULL
         WHERE NAME='DOWNLOAD' AND TVALUE IS NOT NULL AND IVALUE IN ($OURS_ENABLE);"
fi
REAL_URL=http://127.0.0.1:$OCS_HTTP_PORT/ocsinventory

# ---- ours
if [[ ! -s $OURS/ocs-deploy.db || ! -s $WORK_DIR/ours-filled ]]; then
    rm -rf "$OURS"
    t0=$SECONDS
    "$FILL" --data-dir "$OURS" --computers "$COMPUTERS" --packages "$PACKAGES" >&2
    echo "$COMPUTERS $PACKAGES" >"$WORK_DIR/ours-filled"
    echo "ours filled in $((SECONDS - t0)) s" >&2
elif [[ $(cat "$WORK_DIR/ours-filled") != "$COMPUTERS $PACKAGES" ]]; then
    echo "FAIL: $OURS holds another fleet; remove it or use another WORK_DIR" >&2
    exit 1
fi
# A data dir is measured once: its first contacts are spent after one run.
cp -a "$OURS" "$WORK_DIR/ours-run"
sync
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$SERVER" --data-dir "$WORK_DIR/ours-run" serve --http "127.0.0.1:$PORT" >"$WORK_DIR/ours.out" 2>"$WORK_DIR/ours.err" &
PIDS+=("$!")
for _ in $(seq 1 100); do
    grep -q '^http ' "$WORK_DIR/ours.out" 2>/dev/null && break
    sleep 0.1
done
OURS_URL=http://127.0.0.1:$PORT/ocsinventory

# measure NAME URL DEVICES [--once]: appends "NAME rps p99 median requests" to results.
measure() {
    local name=$1 url=$2 devices=$3
    shift 3
    local out
    out=$("$LOAD" --connections "$CONCURRENCY" --duration "$DURATION" --label "$name" \
        prolog --url "$url" --devices-file "$devices" --expect-packages "$PACKAGES" --user-agent "$UA" "$@") || {
        echo "FAIL: $name: $out" >&2
        exit 1
    }
    echo "  $out" >&2
    local rps p99 median requests
    rps=$(sed -n 's/.* rps=\([0-9.]*\).*/\1/p' <<<"$out")
    p99=$(sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    median=$(sed -n 's/.* median_ms=\([0-9.]*\).*/\1/p' <<<"$out")
    requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$out")
    echo "$name $rps $p99 $median $requests" >>"$WORK_DIR/results"
}
# prepare URL: the repeat set's first contacts (untimed; a computer already contacted gets
# a repeat), so that every later contact of the set is a repeat.
prepare() {
    "$LOAD" --connections "$CONCURRENCY" --duration 600 --label prepare prolog --url "$1" \
        --devices-file "$WORK_DIR/repeat-devices.txt" --expect-packages "$PACKAGES" --user-agent "$UA" --once >&2
}

rm -f "$WORK_DIR/results"
echo "load before the runs: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
sync
measure real-first "$REAL_URL" "$DEVICES" --once
measure ours-first "$OURS_URL" "$DEVICES" --once
prepare "$REAL_URL"
prepare "$OURS_URL"
measure real-repeat "$REAL_URL" "$WORK_DIR/repeat-devices.txt"
measure ours-repeat "$OURS_URL" "$WORK_DIR/repeat-devices.txt"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# Both servers recorded the first contacts: as many notified rows as contacts x packages.
real_notified=$(raw "SELECT COUNT(*) FROM devices WHERE NAME='DOWNLOAD' AND TVALUE='NOTIFIED' AND IVALUE IN ($OURS_ENABLE)")
echo "real server: $real_notified affectations notified after the runs" >&2

echo
echo "$COMPUTERS computers x $PACKAGES packages affected to each, $CONCURRENCY concurrent keep-alive connections, ${DURATION}s per run, $(nproc) cores, load after: $LOAD_AFTER"
printf '%-12s %12s %10s %10s %10s\n' run "contacts/s" "p99 (ms)" "median" requests
while read -r name rps p99 median requests; do
    printf '%-12s %12s %10s %10s %10s\n' "$name" "$rps" "$p99" "$median" "$requests"
done <"$WORK_DIR/results"
ratio() { awk -v a="$(awk -v n="$1" '$1 == n { print $2 }' "$WORK_DIR/results")" \
    -v b="$(awk -v n="$2" '$1 == n { print $2 }' "$WORK_DIR/results")" 'BEGIN { printf "%.1f", a / b }'; }
FIRST=$(ratio ours-first real-first)
REPEAT=$(ratio ours-repeat real-repeat)
echo "ratio ours / real OCS, contacts/s: first contacts ${FIRST}x, repeat contacts ${REPEAT}x (target >= ${MIN_RATIO}x)"
status=0
for r in "$FIRST" "$REPEAT"; do
    if awk -v r="$r" -v m="$MIN_RATIO" 'BEGIN { exit !(r < m) }'; then
        echo "BELOW TARGET: $r < $MIN_RATIO" >&2
        status=1
    fi
done
exit $status
