#!/usr/bin/env bash
# Builds a SIZE_MIB archive into 1 MiB fragments with the MD5 package digest and the
# per-fragment SHA-256 (split-package), and compares it in the same run with `md5sum`
# and `sha256sum` on the same file.
#
# Target (issue): wall time at most 1.2x md5sum + sha256sum, peak memory under 64 MiB.
#
#   SIZE_MIB=1024 benches/split_vs_coreutils.sh
#
# Environment: SIZE_MIB (default 1024), WORK_DIR (default: a new temp dir; an existing
# random.bin of the right size there is reused), RUNS (default 3, best of), MAX_RATIO
# (default 1.2), MAX_RSS_KIB (default 65536), SPLIT_ARGS (extra split-package arguments).
set -euo pipefail

SIZE_MIB=${SIZE_MIB:-1024}
RUNS=${RUNS:-3}
MAX_RATIO=${MAX_RATIO:-1.2}
MAX_RSS_KIB=${MAX_RSS_KIB:-65536}
SPLIT_ARGS=${SPLIT_ARGS:-}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

if [[ -n ${WORK_DIR:-} ]]; then
    mkdir -p "$WORK_DIR"
else
    WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/split-bench.XXXXXX")
fi
FILE=$WORK_DIR/random.bin
OUT=$WORK_DIR/out
cleanup() { rm -rf "$OUT"; }
trap cleanup EXIT

want=$((SIZE_MIB * 1024 * 1024))
if [[ ! -f $FILE || $(stat -c %s "$FILE") -ne $want ]]; then
    echo "making $FILE ($SIZE_MIB MiB of random bytes)" >&2
    head -c "$want" /dev/urandom >"$FILE"
fi

echo "building split-package (release)" >&2
(cd "$ROOT" && cargo build --quiet --release -p ocs-deploy-benches --bin split-package)
BIN=$ROOT/target/release/split-package

# Warm the page cache so every tool reads from memory.
cat "$FILE" >/dev/null

# best_of NAME CMD...: runs CMD $RUNS times, records the best wall time (s) and the peak
# RSS (KiB) of that run in BEST_S / BEST_KIB.
best_of() {
    local name=$1
    shift
    BEST_S=
    BEST_KIB=
    local i stats s kib
    for ((i = 1; i <= RUNS; i++)); do
        rm -rf "$OUT"
        mkdir -p "$OUT"
        stats=$(mktemp)
        /usr/bin/time -f '%e %M' -o "$stats" "$@" >/dev/null
        read -r s kib <"$stats"
        rm -f "$stats"
        echo "  $name run $i: ${s}s ${kib} KiB" >&2
        if [[ -z $BEST_S ]] || awk -v a="$s" -v b="$BEST_S" 'BEGIN { exit !(a < b) }'; then
            BEST_S=$s
            BEST_KIB=$kib
        fi
    done
}

best_of md5sum md5sum "$FILE"
MD5_S=$BEST_S MD5_KIB=$BEST_KIB
best_of sha256sum sha256sum "$FILE"
SHA_S=$BEST_S SHA_KIB=$BEST_KIB
# shellcheck disable=SC2086 # SPLIT_ARGS is a list of words
best_of split-package "$BIN" --out "$OUT" $SPLIT_ARGS "$FILE"
OURS_S=$BEST_S OURS_KIB=$BEST_KIB

# Check the result once: same digest as md5sum, the right number of fragments.
rm -rf "$OUT"
mkdir -p "$OUT"
# shellcheck disable=SC2086
line=$("$BIN" --out "$OUT" $SPLIT_ARGS "$FILE")
ours_md5=${line%% *}
ref_md5=$(md5sum "$FILE" | cut -d' ' -f1)
frags=$(find "$OUT" -type f | wc -l)
if [[ $ours_md5 != "$ref_md5" ]]; then
    echo "FAIL: split-package digest $ours_md5, md5sum $ref_md5" >&2
    exit 1
fi
first=$(find "$OUT" -type f -name '*-1')
if [[ $(sha256sum <"$first" | cut -d' ' -f1) != $(head -c 1048576 "$FILE" | sha256sum | cut -d' ' -f1) ]]; then
    echo "FAIL: fragment 1 differs from the first MiB of the file" >&2
    exit 1
fi

RATIO=$(awk -v o="$OURS_S" -v a="$MD5_S" -v b="$SHA_S" 'BEGIN { printf "%.3f", o / (a + b) }')
echo
echo "file: $SIZE_MIB MiB, best of $RUNS, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %10s %14s\n' tool "wall (s)" "peak RSS (KiB)"
printf '%-28s %10s %14s\n' "md5sum" "$MD5_S" "$MD5_KIB"
printf '%-28s %10s %14s\n' "sha256sum" "$SHA_S" "$SHA_KIB"
printf '%-28s %10s %14s\n' "md5sum + sha256sum" "$(awk -v a="$MD5_S" -v b="$SHA_S" 'BEGIN { printf "%.2f", a + b }')" "-"
printf '%-28s %10s %14s\n' "split-package $SPLIT_ARGS" "$OURS_S" "$OURS_KIB"
echo "fragments: $frags, digest: $ours_md5 (same as md5sum)"
echo "ratio split-package / (md5sum + sha256sum): $RATIO (target <= $MAX_RATIO)"
echo "split-package peak memory: $OURS_KIB KiB (target < $MAX_RSS_KIB KiB)"

status=0
if awk -v r="$RATIO" -v m="$MAX_RATIO" 'BEGIN { exit !(r > m) }'; then
    echo "FAIL: ratio $RATIO > $MAX_RATIO" >&2
    status=1
fi
if ((OURS_KIB >= MAX_RSS_KIB)); then
    echo "FAIL: peak memory $OURS_KIB KiB >= $MAX_RSS_KIB KiB" >&2
    status=1
fi
exit $status
