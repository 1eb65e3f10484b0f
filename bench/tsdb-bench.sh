#!/bin/sh
# tsdb-bench.sh — the embedded TSDB on the side-by-side harness's default dataset
# (../shared/bench: 11 589 series x 240 samples, 1 h at 15 s), in process: builds the
# harness's load generator (rwgen) into BUILD/bench, has it write the dataset as
# OpenMetrics text (1.4 GB, in a temporary directory, removed at the end), runs build/bench/tsdb_bench over it (append by label
# set and by reference, head memory, the block's bytes per sample, a 10 000-series regex
# query from the head and from the block), then `kmon tsdb inspect` on the result.
#
#   bench/tsdb-bench.sh [BUILD_DIR] [THREADS] [BATCH]
set -eu

BUILD=${1:-build}
THREADS=${2:-2}
BATCH=${3:-5000}
here=$(cd "$(dirname "$0")" && pwd)
harness=$here/../../shared/bench
# The harness's default dataset, at a fixed start so every run stores the same samples.
START_MS=1763769600000

[ -x "$BUILD/bench/tsdb_bench" ] && [ -x "$BUILD/kmon" ] || {
    echo "$0: no $BUILD/bench/tsdb_bench or $BUILD/kmon: run make build" >&2
    exit 1
}
[ -f "$harness/rwgen.c" ] || {
    echo "$0: the harness is missing: expected $harness/rwgen.c (../shared beside the repo)" >&2
    exit 1
}
rwgen=$BUILD/bench/rwgen
if [ ! -x "$rwgen" ] || [ "$harness/rwgen.c" -nt "$rwgen" ]; then
    echo "== building rwgen from $harness/rwgen.c" >&2
    gcc -O2 -std=gnu11 -o "$rwgen" "$harness/rwgen.c" -lcurl -lsnappy -lpthread -lm || {
        echo "$0: building rwgen failed: run scripts/install-deps.sh test" >&2
        exit 1
    }
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kmon-tsdb-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
data=$work/default.om
dir=$work/data
echo "== writing the default dataset to $data" >&2
"$rwgen" --openmetrics "$data" --start-ms "$START_MS" --quiet >&2
echo "== tsdb_bench: $THREADS threads, batches of $BATCH" >&2
"$BUILD/bench/tsdb_bench" "$data" "$dir" "$THREADS" "$BATCH" 2>"$work/log" || {
    cat "$work/log" >&2
    exit 1
}
rm -f "$data"
echo "== kmon tsdb inspect $dir" >&2
"$BUILD/kmon" tsdb inspect --log-level warn "$dir"
