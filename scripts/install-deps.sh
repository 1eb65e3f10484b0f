#!/bin/sh
# Installs the Debian 12 packages kmon needs, and only those that are missing, then the
# dashboard's npm packages (scripts/web-deps.sh).
#   scripts/install-deps.sh build   what building and running kmon needs
#   scripts/install-deps.sh image   that, plus what `make image` uses (umoci)
#   scripts/install-deps.sh test    all that, plus what the test suite and benchmarks use
# Runs apt-get as root, or through sudo when started by another user.
set -eu

build_pkgs="build-essential cmake pkg-config
libmicrohttpd-dev libyaml-dev libxxhash-dev libpcre2-dev libzstd-dev libjansson-dev
libprotobuf-c-dev protobuf-c-compiler libsnappy-dev libcurl4-gnutls-dev libgnutls28-dev
zlib1g-dev"

# make image: umoci writes the OCI layout (scripts/image.sh); no container daemon.
image_pkgs="umoci"

# What the tests and benchmarks use (skopeo: the image test reads the archive as users
# do to copy it to their registry; clickhouse-server: the tests of the ClickHouse store
# start their own servers from it, tests/runtime/clickhouse_fixture.py; python3-matplotlib:
# bench/cluster-sim-bench.py draws its curves).
test_pkgs="clang libclang-rt-14-dev clang-format libcmocka-dev
python3 python3-pytest python3-yaml bindfs fuse3 util-linux procps
prometheus-node-exporter curl prometheus prometheus-alertmanager iproute2 openssl chromium
skopeo clickhouse-server python3-matplotlib"

# Node.js and npm build the dashboard (its chart library comes from npm); a machine that
# has them from elsewhere (NodeSource) keeps its own.
node_pkgs=""
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    node_pkgs="nodejs npm"
fi

case "${1:-build}" in
build) want="$build_pkgs $node_pkgs" ;;
image) want="$build_pkgs $node_pkgs $image_pkgs" ;;
test) want="$build_pkgs $node_pkgs $image_pkgs $test_pkgs" ;;
*)
    echo "usage: $0 build|image|test" >&2
    exit 2
    ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing="$missing $p"
    fi
done

# The image embeds the dashboard as the build does: the same npm packages.
web_deps() {
    mode=${1:-build}
    [ "$mode" = image ] && mode=build
    exec "$(dirname "$0")/web-deps.sh" "$mode"
}

if [ -z "$missing" ]; then
    web_deps "$@"
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "install-deps: these packages are missing and I am neither root nor able to sudo:$missing" >&2
    exit 1
fi

echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing

# The package enables and may start a system ClickHouse (ports 8123, 9000, 9009); the
# tests run their own servers on free ports and want no other one using this machine's
# cores. When this script installed it, that service is stopped and disabled (a
# ClickHouse that was already installed is left as it is).
case " $missing " in
*" clickhouse-server "*)
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        $sudo systemctl disable --now clickhouse-server.service >/dev/null 2>&1 || true
    else
        $sudo invoke-rc.d clickhouse-server stop >/dev/null 2>&1 || true
        $sudo update-rc.d clickhouse-server disable >/dev/null 2>&1 || true
    fi
    ;;
esac
web_deps "$@"
