#!/bin/sh
# run.sh — what each HTTP client stack the agent could use costs in memory (bench/README.md,
# "What the agent's HTTP client costs"). Builds bench/httpc-rss/httpc_rss.c once per
# stack, runs each against a local HTTPS (or HTTP) server for 20 kept-alive GETs and
# prints one JSON line per stack with the process's VmHWM, VmRSS, RssAnon and RssFile (KiB).
# Stacks whose libraries are not installed here are skipped with a line on stderr.
#
#   bench/httpc-rss/run.sh [KMON_BIN]     (KMON_BIN: also measure `kmon agent` idle)
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
KMON=${1:-}
LIB=/usr/lib/x86_64-linux-gnu
WORK=$(mktemp -d)
trap 'kill $HTTPS_PID $HTTP_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

serve() { # serve PORTFILE [CERT KEY]
    python3 - "$@" <<'PY' &
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b"x" * 2048
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
PY
}
serve "$WORK/https.port" "$WORK/cert.pem" "$WORK/key.pem"
HTTPS_PID=$!
serve "$WORK/http.port"
HTTP_PID=$!
while [ ! -s "$WORK/https.port" ] || [ ! -s "$WORK/http.port" ]; do sleep 0.1; done
HTTPS_PORT=$(cat "$WORK/https.port")
HTTP_PORT=$(cat "$WORK/http.port")

# stack NAME TLS(yes|no) CC-ARGS...
stack() {
    name=$1 tls=$2
    shift 2
    if ! cc -O2 -o "$WORK/$name" "$HERE/httpc_rss.c" "$@" 2>"$WORK/$name.log"; then
        echo "httpc-rss: $name skipped (does not build here: $(head -1 "$WORK/$name.log"))" >&2
        return 0
    fi
    if [ "$tls" = yes ]; then
        out=$("$WORK/$name" 127.0.0.1 "$HTTPS_PORT" "$WORK/cert.pem")
    else
        out=$("$WORK/$name" 127.0.0.1 "$HTTP_PORT")
    fi
    echo "{\"stack\":\"$name\",${out#\{}"
}

stack plain-http no
stack plain-http-static no -static
stack gnutls yes -DUSE_GNUTLS -lgnutls
# GnuTLS and the libraries Debian ships as .a linked in; p11-kit and libunistring have no
# static archive in Debian, so they stay shared.
stack gnutls-static-libs yes -DUSE_GNUTLS -Wl,-Bstatic -lgnutls -lhogweed -lnettle -lgmp \
    -ltasn1 -lidn2 -Wl,-Bdynamic "$LIB/libp11-kit.so.0" "$LIB/libunistring.so.2"
# Mbed TLS (libmbedtls-dev, not a kmon dependency: installed by hand for this comparison).
stack mbedtls yes -DUSE_MBEDTLS -lmbedtls -lmbedx509 -lmbedcrypto
stack mbedtls-static yes -DUSE_MBEDTLS -static -lmbedtls -lmbedx509 -lmbedcrypto
[ -e "$LIB/libcurl-gnutls.so.4" ] && stack curl-gnutls yes -DUSE_CURL "$LIB/libcurl-gnutls.so.4"
[ -e "$LIB/libcurl-gnutls.so.4" ] && stack curl-gnutls-http no -DUSE_CURL "$LIB/libcurl-gnutls.so.4"
[ -e "$LIB/libcurl.so.4" ] && stack curl-openssl yes -DUSE_CURL "$LIB/libcurl.so.4"

if [ -n "$KMON" ]; then
    "$KMON" agent --listen 127.0.0.1:0 --server "http://127.0.0.1:$HTTP_PORT" --log-level error \
        >"$WORK/agent.log" 2>&1 &
    AGENT=$!
    sleep 12
    awk -v n=kmon-agent-idle '/^(VmHWM|VmRSS|RssAnon|RssFile):/{v[$1]=$2}
        END{printf "{\"stack\":\"%s\",\"hwm_kb\":%d,\"rss_kb\":%d,\"rss_anon_kb\":%d,\"rss_file_kb\":%d}\n",
            n, v["VmHWM:"], v["VmRSS:"], v["RssAnon:"], v["RssFile:"]}' "/proc/$AGENT/status"
    kill "$AGENT"
    wait "$AGENT" 2>/dev/null || true
fi
