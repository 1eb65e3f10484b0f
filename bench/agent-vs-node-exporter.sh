#!/bin/sh
# agent-vs-node-exporter.sh — kmon agent and node-exporter 1.5 (Debian's
# prometheus-node-exporter) side by side, in one run, on this machine's real /proc:
# both are scraped the same number of times on loopback; reported per scrape are CPU
# time (all threads' on-CPU nanoseconds from /proc/<pid>/task/*/schedstat), samples and
# bytes, and per process the RSS and its peak (VmHWM). kmon collects on its own
# interval, set equal to the scrape spacing, so each scrape pays for one collection and
# one render — the same work node-exporter does per scrape.
#
#   bench/agent-vs-node-exporter.sh [KMON_BIN] [SCRAPES] [SPACING_S]
set -eu

KMON=${1:-build/kmon}
SCRAPES=${2:-300}
SPACING=${3:-0.2}
NE=/usr/bin/prometheus-node-exporter

[ -x "$KMON" ] || { echo "no kmon binary at $KMON (run make build)" >&2; exit 1; }
[ -x "$NE" ] || { echo "node-exporter missing: run scripts/install-deps.sh test" >&2; exit 1; }

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$1} END{printf "%d", s}'; }
status_kb() { awk -v f="$2:" '$1==f{print $2}' /proc/"$1"/status; }

P_NE=$(port)
P_KM=$(port)
"$NE" --web.listen-address=127.0.0.1:"$P_NE" >/tmp/bench-ne.log 2>&1 &
NE_PID=$!
"$KMON" agent --listen 127.0.0.1:"$P_KM" --interval "${SPACING}s" >/tmp/bench-kmon.log 2>&1 &
KM_PID=$!
trap 'kill $NE_PID $KM_PID 2>/dev/null || true' EXIT INT TERM

for u in "http://127.0.0.1:$P_NE/metrics" "http://127.0.0.1:$P_KM/metrics"; do
    i=0
    until curl -sf "$u" >/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "$u never answered" >&2; exit 1; }
        sleep 0.1
    done
done
sleep 2 # warm-up scrapes done, buffers at size

ne0=$(cpu_ns $NE_PID); km0=$(cpu_ns $KM_PID)
kc0=$(curl -s "http://127.0.0.1:$P_KM/metrics" | awk '/^kmon_agent_collections_total /{print $2}')
n=0
while [ $n -lt "$SCRAPES" ]; do
    curl -s -o /tmp/bench-ne.out "http://127.0.0.1:$P_NE/metrics"
    curl -s -o /tmp/bench-km.out "http://127.0.0.1:$P_KM/metrics"
    n=$((n + 1))
    sleep "$SPACING"
done
ne1=$(cpu_ns $NE_PID); km1=$(cpu_ns $KM_PID)
kc1=$(awk '/^kmon_agent_collections_total /{print $2}' /tmp/bench-km.out)

ne_samples=$(grep -vc '^#' /tmp/bench-ne.out); km_samples=$(grep -vc '^#' /tmp/bench-km.out)
ne_bytes=$(wc -c </tmp/bench-ne.out); km_bytes=$(wc -c </tmp/bench-km.out)
python3 - "$SCRAPES" "$ne0" "$ne1" "$km0" "$km1" "$kc0" "$kc1" \
    "$ne_samples" "$km_samples" "$ne_bytes" "$km_bytes" \
    "$(status_kb $NE_PID VmRSS)" "$(status_kb $NE_PID VmHWM)" \
    "$(status_kb $KM_PID VmRSS)" "$(status_kb $KM_PID VmHWM)" "$("$KMON" --version)" <<'PY'
import sys
(scrapes, ne0, ne1, km0, km1, kc0, kc1, nes, kms, neb, kmb,
 nerss, nehwm, kmrss, kmhwm) = [float(x) for x in sys.argv[1:16]]
version = sys.argv[16]
coll = kc1 - kc0
ne_ms = (ne1 - ne0) / 1e6 / scrapes
km_ms = (km1 - km0) / 1e6 / scrapes
km_coll_ms = (km1 - km0) / 1e6 / max(coll, scrapes)
print(f"| {int(scrapes)} scrapes | node-exporter 1.5.0 | {version} |")
print("|---|---:|---:|")
print(f"| CPU per scrape (ms) | {ne_ms:.2f} | {km_ms:.3f} |")
print(f"| collections during the run | {int(scrapes)} (one per scrape) | {int(coll)} |")
print(f"| CPU per collection+render (ms) | {ne_ms:.2f} | {km_coll_ms:.3f} |")
print(f"| samples per scrape | {int(nes)} | {int(kms)} |")
print(f"| CPU per sample (µs) | {ne_ms*1000/nes:.2f} | {km_coll_ms*1000/kms:.2f} |")
print(f"| bytes per scrape | {int(neb)} | {int(kmb)} |")
print(f"| RSS (MiB) | {nerss/1024:.1f} | {kmrss/1024:.1f} |")
print(f"| peak RSS, VmHWM (MiB) | {nehwm/1024:.1f} | {kmhwm/1024:.1f} |")
print(f"| kmon CPU vs node-exporter | | {km_coll_ms/ne_ms*100:.1f} % |")
PY
