#!/bin/sh
# run-all.sh BUILD_DIR SECONDS — run every libFuzzer target in BUILD_DIR/tests/fuzz for
# SECONDS each over its corpus (tests/fuzz/corpus/<name>/, which libFuzzer grows), then
# minimize each corpus with libFuzzer's merge (-set_cover_merge=1, or -merge=1 where that
# is missing) into a fresh directory and put that in its place, so the checked-in corpus
# stays small. Called by `make fuzz-run` (build with `make fuzz`).
#
# A crash leaves crash-*/leak-*/timeout-*/oom-* files in BUILD_DIR/fuzz-artifacts/<name>/:
# fix the bug, copy the input into the corpus as regress-<sha1> (crash-* is git-ignored),
# where it stays a regression test replayed by ctest in every build, and run again. Exits
# non-zero if any target failed.
set -eu

usage() {
    echo "usage: $0 BUILD_DIR SECONDS" >&2
    exit 2
}

[ $# -eq 2 ] || usage
build=$1
seconds=$2
case $seconds in
'' | *[!0-9]*) usage ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
fuzzdir=$build/tests/fuzz
[ -d "$fuzzdir" ] || {
    echo "$0: no $fuzzdir: build the fuzz targets first (make fuzz)" >&2
    exit 1
}
artifacts=$(cd "$build" && pwd)/fuzz-artifacts
failed=0
ran=0

for bin in "$fuzzdir"/fuzz_*; do
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        continue
    fi
    name=${bin##*/fuzz_}
    corpus=$here/corpus/$name
    mkdir -p "$corpus" "$artifacts/$name"
    ran=$((ran + 1))

    echo "== $name: fuzzing for ${seconds}s over $corpus"
    before=$(find "$corpus" -type f | wc -l)
    if ! "$bin" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$artifacts/$name/" "$corpus" 2>"$artifacts/$name/log"; then
        echo "== $name: FAILED (see $artifacts/$name/log and the crash files beside it)" >&2
        tail -n 40 "$artifacts/$name/log" >&2
        failed=1
        continue
    fi
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|#[0-9]+.*DONE)' \
        "$artifacts/$name/log" || true

    # Minimize: keep only the inputs that add coverage, in a fresh directory, then swap it
    # in. -set_cover_merge (libFuzzer of clang 14+) keeps the same features in about half
    # the files -merge picks. Regressions (regress-<sha1>) are kept whether they add
    # coverage or not, under their own name (the merge names its copy by the SHA-1).
    merge=-merge=1
    if "$bin" -help=1 2>&1 | grep -q set_cover_merge; then
        merge=-set_cover_merge=1
    fi
    fresh=$(mktemp -d "${TMPDIR:-/tmp}/kmon-corpus-$name.XXXXXX")
    if ! "$bin" "$merge" -max_len=8192 "$fresh" "$corpus" 2>>"$artifacts/$name/log"; then
        echo "== $name: merge FAILED (see $artifacts/$name/log)" >&2
        rm -rf "$fresh"
        failed=1
        continue
    fi
    for f in "$corpus"/regress-*; do
        [ -f "$f" ] || continue
        rm -f "$fresh/${f##*/regress-}"
        cp "$f" "$fresh/"
    done
    rm -rf "$corpus"
    mkdir -p "$corpus"
    cp "$fresh"/* "$corpus"/ 2>/dev/null || true
    rm -rf "$fresh"
    after=$(find "$corpus" -type f | wc -l)
    echo "== $name: corpus $before -> $after files after merge"
done

if [ "$ran" -eq 0 ]; then
    echo "$0: no fuzz_* binaries in $fuzzdir" >&2
    exit 1
fi
exit "$failed"
