#!/usr/bin/env python3
"""Log lines for the cluster gen_cluster.py makes up (same --nodes, --pods and --seed give
the same pods), pushed to a server through Loki's push API (POST /loki/api/v1/push,
JSON): what the dashboard's Logs page and pod pages show in the browser tests and the
screenshots.

Some running pods of every namespace write over the last `--minutes`, each in the style of
its workload: JSON access logs (web, api, gateway, frontend, auth: levels from the
status, 5xx as errors), logfmt (workers, queues, ETL, cron, indexers), Spring Boot lines
with Java stack traces on stderr (backends), Redis-style lines (caches, databases), klog
(kube-proxy) and the kmon agent's own lines; a few pods write much more than the others.
Kubernetes events ({source="kubernetes-events", kind="Pod", ...}) for some pods: pulls,
starts, back-offs, failed scheduling of the Pending ones.

Prints one JSON line: lines and streams pushed, the pods that write, and a few names the
tests look for. Standard library only."""
import argparse
import json
import os
import random
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_cluster import Cluster  # noqa: E402

PATHS = ["/api/v1/cart", "/api/v1/orders", "/api/v1/products", "/api/v1/users/me", "/healthz",
         "/api/v1/search", "/api/v1/checkout", "/static/app.js", "/api/v1/payments"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0", "okhttp/4.12.0", "kube-probe/1.32",
          "python-requests/2.32.3", "Go-http-client/2.0"]
JAVA_TRACE = """java.lang.IllegalStateException: Order {oid} has no payment intent
\tat com.example.shop.orders.OrderService.confirm(OrderService.java:214)
\tat com.example.shop.orders.OrderController.confirm(OrderController.java:88)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(DirectMethodHandleAccessor.java:103)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:885)
\tat org.apache.catalina.core.ApplicationFilterChain.doFilter(ApplicationFilterChain.java:166)
\tat java.base/java.lang.Thread.run(Thread.java:1583)
Caused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.
\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)
\t... 42 more"""


def hexid(rng, n):
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def iso(ns):
    s, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + ".%03dZ" % (frac // 1_000_000)


def style_of(pod):
    base = pod["w"]["name"].split("-")[0]
    if pod["w"]["name"] == "kube-proxy":
        return "klog"
    if pod["w"]["name"] == "kmon-agent":
        return "kmon"
    if base in ("web", "api", "gateway", "frontend", "auth"):
        return "access"
    if base in ("worker", "queue", "etl", "cron", "indexer"):
        return "logfmt"
    if base == "backend":
        return "java"
    return "redis"


def line_for(style, rng, ns_ts, pod):
    """(stream, line) of one record."""
    if style == "access":
        r = rng.random()
        status = 500 if r < 0.02 else 503 if r < 0.03 else 404 if r < 0.08 else 201 if r < 0.2 else 200
        level = "error" if status >= 500 else "warn" if status >= 400 else "info"
        rec = {"ts": iso(ns_ts), "level": level, "msg": "request", "method": rng.choice(["GET"] * 5 + ["POST", "PUT", "DELETE"]),
               "path": rng.choice(PATHS), "status": status, "duration_ms": round(rng.lognormvariate(2.5, 0.8), 2),
               "bytes": rng.randrange(120, 48000), "remote_ip": "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
               "user_agent": rng.choice(AGENTS), "trace_id": hexid(rng, 32)}
        if status >= 500:
            rec["error"] = rng.choice(["upstream connect error or disconnect/reset before headers", "context deadline exceeded", "database is locked"])
        return "stdout", json.dumps(rec, separators=(",", ":"))
    if style == "logfmt":
        r = rng.random()
        if r < 0.03:
            return "stderr", 'ts=%s level=error msg="job failed" job=%s attempt=%d err="dial tcp 10.0.4.12:5432: connect: connection refused"' % (iso(ns_ts), hexid(rng, 8), rng.randrange(1, 5))
        if r < 0.1:
            return "stdout", 'ts=%s level=warn msg="slow batch" batch=%d items=%d duration=%.1fs' % (iso(ns_ts), rng.randrange(1, 99999), rng.randrange(1, 500), rng.uniform(5, 30))
        if r < 0.25:
            return "stdout", 'ts=%s level=debug msg="polled queue" queue=%s depth=%d' % (iso(ns_ts), rng.choice(["orders", "emails", "thumbnails"]), rng.randrange(0, 2000))
        return "stdout", 'ts=%s level=info msg="processed batch" batch=%d items=%d duration=%.3fs' % (iso(ns_ts), rng.randrange(1, 99999), rng.randrange(1, 500), rng.uniform(0.01, 3))
    if style == "java":
        t = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ns_ts // 1_000_000_000)) + ".%03d" % (ns_ts // 1_000_000 % 1000)
        r = rng.random()
        thread = "http-nio-8080-exec-%d" % rng.randrange(1, 11)
        if r < 0.03:
            oid = rng.randrange(100000, 999999)
            return "stderr", "%s ERROR 1 --- [%s] c.e.shop.orders.OrderController : Request failed\n%s" % (t, thread, JAVA_TRACE.format(oid=oid))
        if r < 0.08:
            return "stdout", "%s  WARN 1 --- [%s] com.zaxxer.hikari.pool.HikariPool : HikariPool-1 - Thread starvation or clock leap detected (housekeeper delta=%ds)." % (t, thread, rng.randrange(30, 90))
        return "stdout", "%s  INFO 1 --- [%s] c.e.shop.orders.OrderController : Order %d %s in %d ms" % (t, thread, rng.randrange(100000, 999999), rng.choice(["created", "confirmed", "shipped"]), rng.randrange(3, 400))
    if style == "klog":
        t = time.strftime("%m%d %H:%M:%S", time.gmtime(ns_ts // 1_000_000_000)) + ".%06d" % (ns_ts // 1000 % 1_000_000)
        r = rng.random()
        if r < 0.03:
            return "stderr", 'E%s       1 reflector.go:158] "Unhandled Error" err="k8s.io/client-go/informers/factory.go:160: Failed to watch *v1.EndpointSlice: the server has asked for the client to provide credentials"' % t
        if r < 0.1:
            return "stderr", 'W%s       1 proxier.go:1046] "Syncing iptables rules took long" elapsed="%dms"' % (t, rng.randrange(1000, 4000))
        return "stderr", 'I%s       1 proxier.go:812] "SyncProxyRules complete" elapsed="%.1fms"' % (t, rng.uniform(20, 90))
    if style == "kmon":
        r = rng.random()
        lvl = "warn" if r < 0.05 else "info"
        msg = "shipping is behind: spool holds 3 batches" if lvl == "warn" else rng.choice(["collected node metrics", "shipped batch", "tailing new file"])
        return "stderr", 'ts=%s level=%s component=agent msg="%s" series=%d' % (iso(ns_ts), lvl, msg, rng.randrange(800, 2400))
    # redis-style
    t = time.strftime("%d %b %Y %H:%M:%S", time.gmtime(ns_ts // 1_000_000_000)) + ".%03d" % (ns_ts // 1_000_000 % 1000)
    r = rng.random()
    if r < 0.05:
        return "stdout", "1:M %s # WARNING: Client idle for too long, closing connection" % t
    return "stdout", "1:M %s * %s" % (t, rng.choice(["Background saving started by pid %d" % rng.randrange(100, 9999),
                                                     "DB saved on disk", "%d changes in 60 seconds. Saving..." % rng.randrange(10, 10000)]))


def push(url, streams, cluster):
    body = {"streams": []}
    for labels, values in streams:
        lab = dict(labels)
        if cluster:
            lab["cluster"] = cluster
        body["streams"].append({"stream": lab, "values": [[str(t), line] for t, line in values]})
    data = json.dumps(body).encode()
    req = urllib.request.Request(url.rstrip("/") + "/loki/api/v1/push", data=data,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        if r.status not in (200, 204):
            raise SystemExit(f"push answered {r.status}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--url", required=True, help="the server's base URL")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--pods", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--minutes", type=int, default=60, help="history before now (60)")
    ap.add_argument("--per-namespace", type=int, default=4, help="pods that write, per namespace (4)")
    ap.add_argument("--cluster", default="", help="the cluster label (none)")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    c = Cluster(a.nodes, a.pods, a.seed, a.cluster or None)
    rng = random.Random(a.seed + 99)
    running = [p for p in c.pods if p["phase"] == "Running"]
    writers = []
    for ns in sorted({p["ns"] for p in running}):
        mine = [p for p in running if p["ns"] == ns]
        # the namespace's pods of different styles first
        seen = set()
        ordered = [p for p in mine if not (style_of(p) in seen or seen.add(style_of(p)))] + mine
        for p in ordered:
            if p not in writers and sum(w["ns"] == ns for w in writers) < a.per_namespace:
                writers.append(p)
    now = time.time_ns()
    span = a.minutes * 60 * 1_000_000_000
    lines = streams = 0
    batch, size = [], 0
    for i, p in enumerate(writers):
        style = style_of(p)
        loud = 8 if i % 13 == 0 else 1  # a few pods write much more than the others
        mean_gap = span / (240 * loud) / (1 + rng.random())
        per = {}
        t = now - span + int(rng.random() * mean_gap)
        while t < now - 1_000_000_000:
            stream, line = line_for(style, rng, t, p)
            ct = p["containers"][0]["name"]
            key = (("namespace", p["ns"]), ("pod", p["name"]), ("container", ct), ("node", p["node"]),
                   ("stream", stream), ("app", p["w"]["name"]))
            per.setdefault(key, []).append((t, line))
            lines += 1
            size += len(line) + 40
            t += max(1_000_000, int(rng.expovariate(1 / mean_gap)))
        for key, values in per.items():
            batch.append((key, values))
            streams += 1
        if size > 4 << 20:
            push(a.url, batch, a.cluster)
            batch, size = [], 0
    # Kubernetes events: the writers' starts, some back-offs, the Pending pods' scheduling
    events = 0
    for p in writers[:20] + [p for p in c.pods if p["phase"] == "Pending"][:10]:
        evs = []
        t = now - span + rng.randrange(0, span // 4)
        if p["phase"] == "Pending":
            evs.append(("Warning", "FailedScheduling", t, "0/%d nodes are available: %d Insufficient cpu, %d Insufficient memory. preemption: 0/%d nodes are available: %d No preemption victims found for incoming pod." % (a.nodes, a.nodes // 2, a.nodes // 3, a.nodes, a.nodes)))
        else:
            img = "registry.example.com/%s/%s:1.%d.%d" % (p["ns"], p["w"]["name"].split("-")[0], rng.randrange(1, 30), rng.randrange(0, 9))
            evs += [("Normal", "Scheduled", t, "Successfully assigned %s/%s to %s" % (p["ns"], p["name"], p["node"])),
                    ("Normal", "Pulling", t + 200_000_000, 'Pulling image "%s"' % img),
                    ("Normal", "Pulled", t + 2_400_000_000, 'Successfully pulled image "%s" in 2.2s (2.2s including waiting). Image size: 48213324 bytes.' % img),
                    ("Normal", "Created", t + 2_500_000_000, "Created container %s" % p["containers"][0]["name"]),
                    ("Normal", "Started", t + 2_700_000_000, "Started container %s" % p["containers"][0]["name"])]
            if p["containers"][0]["restarts"] >= 40:
                evs.append(("Warning", "BackOff", t + 600_000_000_000, "Back-off restarting failed container %s in pod %s_%s(%s)" % (p["containers"][0]["name"], p["name"], p["ns"], p["uid"])))
        for typ, reason, ts, msg in evs:
            key = (("source", "kubernetes-events"), ("namespace", p["ns"]), ("kind", "Pod"), ("name", p["name"]),
                   ("reason", reason), ("type", typ))
            batch.append((key, [(ts, msg)]))
            events += 1
            streams += 1
    if batch:
        push(a.url, batch, a.cluster)
    loud = writers[0]
    java = next((p for p in writers if style_of(p) == "java"), None)
    access = next((p for p in writers if style_of(p) == "access"), None)
    print(json.dumps({
        "lines": lines, "events": events, "streams": streams, "seconds": round(time.monotonic() - t0, 1),
        "writers": [[p["ns"], p["name"]] for p in writers],
        "loud_pod": [loud["ns"], loud["name"]],
        "java_pod": [java["ns"], java["name"]] if java else None,
        "access_pod": [access["ns"], access["name"]] if access else None,
    }))


if __name__ == "__main__":
    main()
