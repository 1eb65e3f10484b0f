#!/bin/bash
# Configures and builds one build directory, showing only what a person needs: cmake's
# configure report (kept in DIR/configure.log, printed whole if configuring fails) and
# make's chatter (directories entered, "Built target", dependency scans) are left out, so
# an up-to-date build prints nothing; compile and link lines, warnings and errors stay.
#   scripts/build.sh DIR BUILD_TYPE [--target NAME] [cmake -D options...]
# JOBS sets the parallelism (default: the number of CPUs); CC picks the compiler of a
# new build directory, as with cmake.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 DIR BUILD_TYPE [--target NAME] [cmake options...]" >&2
    exit 2
fi
dir=$1
type=$2
shift 2
target=()
if [ "${1:-}" = --target ]; then
    target=(--target "$2")
    shift 2
fi

cd "$(dirname "$0")/.."
mkdir -p "$dir"
if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE="$type" "$@" >"$dir/configure.log" 2>&1; then
    cat "$dir/configure.log" >&2
    echo "build: configuring $dir failed (log above, also in $dir/configure.log)" >&2
    exit 1
fi
cmake --build "$dir" -j "${JOBS:-$(nproc)}" "${target[@]}" -- --no-print-directory 2>&1 |
    sed -u -e '/: Entering directory /d' -e '/: Leaving directory /d' \
        -e '/\] Built target /d' -e '/\] kmon revision$/d' \
        -e '/^Scanning dependencies of target /d' \
        -e '/^Consolidate compiler generated dependencies of target /d'
