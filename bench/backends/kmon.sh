# shellcheck shell=bash
# Backend: kmon server, for the side-by-side harness in ../shared/bench (see its
# backends/TEMPLATE.sh for the contract). Run from the harness directory:
#   ./run-anchors.sh --backend prometheus --backend victoriametrics \
#       --backend /path/to/kmon/bench/backends/kmon.sh [--skip-queries]
# The binary is this checkout's build (KMON_BIN to override); build it first (make build).
# Like the other backends it stores only what the harness sends: no self-scrape, no
# default rule pack.

KMON_BIN=${KMON_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/kmon}

install() {
    [[ -x "$KMON_BIN" ]] || die "no kmon binary at $KMON_BIN: run 'make build' in the kmon checkout"
}

version() { "$KMON_BIN" --version 2>&1 | head -1; }

start() {
    launch "$LOG_FILE" "$KMON_BIN" server \
        --listen "127.0.0.1:$PORT" \
        --data "$DATA_DIR" \
        --retention "${RETENTION:-15d}" \
        --enable-admin-api \
        --self-scrape-interval 0 \
        --default-rules=false \
        --log-level warn
    SERVER_PID=$LAUNCHED_PID
}

stop() { stop_pid "$SERVER_PID" 60; }

ready_url() { echo "http://127.0.0.1:$PORT/readyz"; }
write_url() { echo "http://127.0.0.1:$PORT/api/v1/write"; }
query_url() { echo "http://127.0.0.1:$PORT"; }

# Cut everything in memory into an on-disk block (and checkpoint the WAL).
flush() {
    curl -sf -XPOST "http://127.0.0.1:$PORT/api/v1/admin/flush" >/dev/null || die "kmon flush failed"
}

# Lines: NAME APPARENT_BYTES ALLOCATED_BYTES [ROLE] (see TEMPLATE.sh). The primary
# figure is the whole data directory (blocks, WAL, lock file); the roles sum the
# blocks' chunk files (sample data) and index files.
disk_usage() {
    local chunks=(0 0) index=(0 0) f a b
    for f in "$DATA_DIR"/blocks/*/chunks; do
        [[ -f "$f" ]] || continue
        read -r a b <<<"$(du_bytes "$f")"
        chunks=($((chunks[0] + a)) $((chunks[1] + b)))
    done
    for f in "$DATA_DIR"/blocks/*/index; do
        [[ -f "$f" ]] || continue
        read -r a b <<<"$(du_bytes "$f")"
        index=($((index[0] + a)) $((index[1] + b)))
    done
    echo "data_dir $(du_bytes "$DATA_DIR") primary"
    echo "chunks ${chunks[0]} ${chunks[1]} samples"
    echo "index ${index[0]} ${index[1]} index"
    echo "blocks $(du_bytes "$DATA_DIR/blocks")"
    echo "wal $(du_bytes "$DATA_DIR/wal")"
}
