#!/bin/sh
# Installs the dashboard's npm packages into web/node_modules, exactly as
# web/package-lock.json pins them, when they are missing or the lockfile changed.
#   scripts/web-deps.sh build   the packages the kmon binary embeds (uPlot)
#   scripts/web-deps.sh test    those and the browser tests' driver (playwright-core)
set -eu

cd "$(dirname "$0")/../web"
mode=${1:-build}
case "$mode" in
build) omit="--omit=dev" ;;
test) omit="" ;;
*)
    echo "usage: $0 build|test" >&2
    exit 2
    ;;
esac

# npm records what it installed in node_modules/.package-lock.json: the same packages as
# the lockfile, and the test driver when testing, mean nothing is left to do.
stamp=node_modules/.kmon-web-deps
want="$(cksum <package-lock.json) $mode"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
if [ "$mode" = build ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(cksum <package-lock.json) test" ]; then
    exit 0 # a test install holds the build's packages too
fi
echo "web-deps: npm ci $omit (web/package-lock.json)"
# shellcheck disable=SC2086
npm ci $omit --no-audit --no-fund --loglevel=error
echo "$want" >"$stamp"
