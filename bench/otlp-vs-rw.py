#!/usr/bin/python3
"""OTLP/HTTP ingest next to remote_write on the same data: N series (PODS pods × METRICS
gauges, each pod a resource with service.name, service.instance.id and k8s.* attributes)
× ROUNDS samples, each round one request holding every series once (as an exporter or a
Prometheus remote-writing a scrape would send it), encoded once as an OTLP
ExportMetricsServiceRequest (protobuf, uncompressed) and once as a remote_write
WriteRequest with the label sets the OTLP mapping gives those points (snappy, written as
literals: the server still runs its snappy pass). Each encoding goes to its own fresh
kmon server; the figure is samples stored per CPU-second of the server (utime + stime
from /proc/PID/stat over the requests), with the wall time and the bytes sent. OTLP also
stores one target_info sample per resource and round (counted).

  bench/otlp-vs-rw.py [--pods 200] [--metrics 50] [--rounds 20] [--kmon build/kmon]
"""
import argparse
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "promql"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "runtime"))
import harness  # noqa: E402
import rwlib  # noqa: E402
from rwlib import field, varint  # noqa: E402


# ---- OTLP protobuf (opentelemetry-proto's field numbers; src/otlp/otlp.proto) -----------

def s(x):
    return x.encode() if isinstance(x, str) else x


def any_string(v):
    return field(1, 2, s(v))


def keyvalue(k, v):
    return field(1, 2, s(k)) + field(2, 2, any_string(v))


def fixed64(v):
    return struct.pack("<Q", v)


def gauge_point(t_ns, value, attrs):
    return (b"".join(field(7, 2, keyvalue(k, v)) for k, v in attrs) +
            field(3, 1, fixed64(t_ns)) + field(4, 1, struct.pack("<d", value)))


def gauge_metric(name, points):
    return field(1, 2, s(name)) + field(5, 2, b"".join(field(1, 2, p) for p in points))


def scope_metrics(scope, metrics):
    return field(1, 2, field(1, 2, s(scope))) + b"".join(field(2, 2, m) for m in metrics)


def resource_metrics(attrs, scopes):
    res = b"".join(field(1, 2, keyvalue(k, v)) for k, v in attrs)
    return field(1, 2, res) + b"".join(field(2, 2, sc) for sc in scopes)


def export_metrics(resources):
    return b"".join(field(1, 2, r) for r in resources)


def log_record(t_ns, severity_number, severity_text, body, attrs=(), trace_id=b"",
               span_id=b""):
    out = field(1, 1, fixed64(t_ns)) + field(2, 0, varint(severity_number))
    out += field(3, 2, s(severity_text)) + field(5, 2, any_string(body))
    out += b"".join(field(6, 2, keyvalue(k, v)) for k, v in attrs)
    if trace_id:
        out += field(9, 2, trace_id) + field(10, 2, span_id)
    return out


def export_logs(resources):
    """resources: [(attrs, scope, [record bytes])]."""
    out = b""
    for attrs, scope, records in resources:
        res = b"".join(field(1, 2, keyvalue(k, v)) for k, v in attrs)
        sl = field(1, 2, field(1, 2, s(scope))) + b"".join(field(2, 2, r) for r in records)
        out += field(1, 2, field(1, 2, res) + field(2, 2, sl))
    return out


# ---- the data ------------------------------------------------------------------------------

def pod_attrs(p):
    return [("service.name", "bench"), ("service.instance.id", f"pod-{p}:8080"),
            ("k8s.namespace.name", "ns"), ("k8s.pod.name", f"pod-{p}"),
            ("k8s.node.name", f"node-{p % 10}"), ("k8s.cluster.name", "c1")]


def otlp_round(pods, metrics, t_ns, r):
    return export_metrics([
        resource_metrics(pod_attrs(p), [scope_metrics("bench", [
            gauge_metric(f"bench_m{m}", [gauge_point(t_ns, float(r + m), [("kind", "x")])])
            for m in range(metrics)])])
        for p in range(pods)])


def rw_round(pods, metrics, t_ns, r):
    series = []
    for p in range(pods):
        base = [("cluster", "c1"), ("instance", f"pod-{p}:8080"), ("job", "bench"),
                ("kind", "x"), ("namespace", "ns"), ("node", f"node-{p % 10}"),
                ("otel_scope_name", "bench"), ("pod", f"pod-{p}")]
        for m in range(metrics):
            series.append((sorted(base + [("__name__", f"bench_m{m}")]),
                           [(t_ns // 1000000, float(r + m))]))
    return rwlib.snappy(rwlib.write_request(series))


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def run(kmon, bodies, path, headers):
    wd = harness.Workdir()
    srv = harness.Kmon(kmon, wd.path)
    try:
        c0, w0 = cpu_ticks(srv.p.pid), time.monotonic()
        for i, body in enumerate(bodies):
            status, text = harness.request(srv.base, path, method="POST", body=body,
                                           headers=headers, timeout=300)
            if status // 100 != 2 or text:  # a partial_success answer is not empty
                raise RuntimeError(f"request {i + 1} answered {status}: {text[:500]}")
        wall = time.monotonic() - w0
        cpu = (cpu_ticks(srv.p.pid) - c0) / os.sysconf("SC_CLK_TCK")
        return cpu, wall
    finally:
        srv.stop()
        wd.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pods", type=int, default=200)
    ap.add_argument("--metrics", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--kmon", default=os.path.join(HERE, "..", "build", "kmon"))
    a = ap.parse_args()
    now = time.time_ns()
    times = [now - (a.rounds - r) * 10 * 1000000000 for r in range(a.rounds)]
    n = a.pods * a.metrics * a.rounds
    otlp = [otlp_round(a.pods, a.metrics, t, r) for r, t in enumerate(times)]
    rw = [rw_round(a.pods, a.metrics, t, r) for r, t in enumerate(times)]
    print(f"{a.pods * a.metrics} series x {a.rounds} rounds = {n} samples per protocol")
    results = {}
    for name, bodies, path, headers, stored in (
            ("remote_write", rw, "/api/v1/write", rwlib.HEADERS, n),
            ("otlp", otlp, "/v1/metrics", {"Content-Type": "application/x-protobuf"},
             n + a.pods * a.rounds)):
        cpu, wall = run(a.kmon, bodies, path, headers)
        size = sum(len(b) for b in bodies)
        results[name] = stored / cpu
        print(f"{name:13s} {size / 1e6:8.1f} MB sent  {wall:6.2f} s wall  {cpu:6.2f} s CPU  "
              f"{stored / cpu:12,.0f} samples/CPU-s")
    print(f"otlp / remote_write: {results['otlp'] / results['remote_write']:.2f}")


if __name__ == "__main__":
    main()
