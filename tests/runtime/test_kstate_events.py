"""Kubernetes Events as log lines: the cluster-state collector's Events watcher
(src/kstate/events.c) inside the collector (kstate, namespaces only) against the
Kubernetes API double (kubeapi.py serving events.k8s.io/v1, kubeobjects.make_event),
driven by the unit test binary's tool mode (`test_kstate_events --watch KUBECONFIG
CLUSTER REFUSE_FILE`, whose sink prints each line as JSON) until the lead's end-to-end test through `kmon server --cluster-state` and the
Loki API replaces it.

Checked against what this test computes itself from the objects it served: the labels,
the logfmt line and the timestamp of every observation (written once; a repeat or a
change that is not a new observation writes nothing), a relist after 410 Gone writing
nothing new, a restart writing exactly the same (timestamp, line) pairs again, a
forbidden Events list logged once and then recovered from, and a refusing sink losing
nothing."""
import json
import os
import queue
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

from kubeapi import KubeAPI
from kubeobjects import make_event, observe_event

TOOL = os.environ.get("KMON_KSTATE_EVENTS_TOOL", os.path.join(
    os.path.dirname(__file__), "../../build/tests/unit/test_kstate_events"))

pytestmark = pytest.mark.skipif(not os.path.exists(TOOL), reason=f"{TOOL} not built")


# ------------------------------------------------------------------ what is expected


def _logfmt_value(v):
    """go-logfmt's value: bare unless it needs quotes, else Go-quoted."""
    if v and not any(c <= " " or c in '="\\' or c == "\x7f" for c in v):
        return v
    out = []
    for c in v:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif c < " ":
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _ns(ts):
    """Nanoseconds of an RFC 3339 time with up to 6 fractional digits."""
    if "." in ts:
        base, frac = ts[:-1].split(".")
        frac = int(frac.ljust(9, "0"))
    else:
        base, frac = ts[:-1], 0
    dt = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + frac


def expected(ev, cluster="c1"):
    """(labels, ts, line) of an events.k8s.io/v1 Event, computed here."""
    reg = ev.get("regarding", {})
    src = ev.get("deprecatedSource", {})
    series = ev.get("series") or {}
    ns = reg.get("namespace") or ev["metadata"].get("namespace")
    count = series.get("count") or ev.get("deprecatedCount") or 1
    for t in (series.get("lastObservedTime"), ev.get("deprecatedLastTimestamp"),
              ev.get("eventTime"), ev.get("deprecatedFirstTimestamp"),
              ev["metadata"].get("creationTimestamp")):
        if t:
            ts = _ns(t)
            break
    controller = ev.get("reportingController") or src.get("component")
    instance = ev.get("reportingInstance") or src.get("host")
    parts = []
    for k, v in (("type", ev.get("type")), ("reason", ev.get("reason")),
                 ("kind", reg.get("kind")), ("name", reg.get("name")), ("namespace", ns),
                 ("fieldPath", reg.get("fieldPath"))):
        if v:
            parts.append(f"{k}={_logfmt_value(v)}")
    parts.append(f"count={count}")
    for k, v in (("reportingController", controller), ("reportingInstance", instance),
                 ("action", ev.get("action"))):
        if v:
            parts.append(f"{k}={_logfmt_value(v)}")
    parts.append(f"msg={_logfmt_value(ev.get('note') or '')}")
    labels = {"source": "kubernetes-events", "cluster": cluster, "namespace": ns,
              "kind": reg.get("kind"), "name": reg.get("name"), "reason": ev.get("reason"),
              "type": ev.get("type")}
    labels = {k: v for k, v in labels.items() if v}
    return labels, ts, " ".join(parts)


# ------------------------------------------------------------------ the tool


class Watcher:
    def __init__(self, api, tmp_path, cluster="c1", identity=None):
        kc = api.write_kubeconfig(tmp_path / "kubeconfig")
        self.refuse = tmp_path / "refuse"
        self.p = subprocess.Popen([TOOL, "--watch", str(kc), cluster, str(self.refuse)] +
                                  ([identity] if identity else []),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.err = []
        threading.Thread(target=self._read, args=(self.p.stdout, self.lines.put),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.p.stderr, self.err.append),
                         daemon=True).start()

    @staticmethod
    def _read(f, put):
        for line in f:
            put(line.rstrip("\n"))

    def take(self, n, timeout=20):
        """The next n lines written, as (labels, ts, line)."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(out)} of {n} lines: {out}\n{self.err[-5:]}")
            try:
                o = json.loads(self.lines.get(timeout=left))
            except queue.Empty:
                continue
            out.append((o["labels"], int(o["ts"]), o["line"]))
        return out

    def none_within(self, seconds):
        try:
            o = self.lines.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected line: {o}")

    def counters(self, timeout=5):
        """The tool's counters (it prints them for each line on stdin)."""
        before = len(self.err)
        self.p.stdin.write("\n")
        self.p.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.err[before:]:
                if line.startswith("emitted="):
                    return {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
            time.sleep(0.02)
        raise AssertionError(f"no counters: {self.err[-5:]}")

    def metrics(self):
        """The collector's metric lines about Events ({series: value}), fresh."""
        before = len(self.err)
        self.counters()
        time.sleep(0.1)
        out = {}
        for line in self.err[before:]:
            if line.startswith("metric "):
                series, value = line[len("metric "):].rsplit(" ", 1)
                out[series] = float(value)
        return out

    def wait_counter(self, name, atleast, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            c = self.counters()
            if c[name] >= atleast or time.monotonic() > deadline:
                return c
            time.sleep(0.1)

    def stop(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        assert self.p.returncode == 0, self.err[-10:]


@pytest.fixture
def api(tmp_path):
    with KubeAPI(tmp_path / "api", bookmark_interval=1.0) as a:
        yield a


def _events():
    return [
        make_event(("Pod", "shop", "web-1"), "FailedScheduling",
                   "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are "
                   "available: 3 No preemption victims found for incoming pod.",
                   type_="Warning", action="Scheduling", count=3,
                   last="2026-11-20T08:04:00Z"),
        make_event(("Pod", "default", "api-1"), "BackOff",
                   'Back-off restarting failed container app in pod "api-1"',
                   type_="Warning", legacy=True, count=12, last="2026-11-20T08:09:40Z",
                   field_path="spec.containers{app}"),
        make_event(("Node", None, "node-1"), "NodeNotReady",
                   "Node node-1 status is now: NodeNotReady", legacy=True,
                   controller="node-controller", instance=""),
        make_event(("Deployment", "shop", "web"), "ScalingReplicaSet",
                   "Scaled up replica set web-7d9c to 3", controller="deployment-controller"),
    ]


def _key(t):
    return (tuple(sorted(t[0].items())), t[1], t[2])


def test_events_written_once(api, tmp_path):
    evs = [api.add(e) for e in _events()]
    w = Watcher(api, tmp_path)
    try:
        got = w.take(len(evs))
        assert sorted(map(_key, got)) == sorted(_key(expected(e)) for e in evs)
        # a new observation: one line; a change that is not one: none
        web = evs[0]
        again = api.update(observe_event(web, "2026-11-20T08:06:00Z"))
        assert w.take(1) == [expected(again)]
        assert "count=4 " in expected(again)[2]
        api.modify("Event", "shop", web["metadata"]["name"],
                   lambda o: o["metadata"].setdefault("annotations", {}).update(x="y"))
        w.none_within(1.5)
        c = w.counters()
        assert c["duplicate"] >= 1 and c["emitted"] == len(evs) + 1 and c["invalid"] == 0
        m = w.metrics()
        assert m['kmon_kstate_events_total{outcome="emitted"}'] == len(evs) + 1
        assert m['kmon_kstate_events_total{outcome="duplicate"}'] == c["duplicate"]
        assert m['kmon_cluster_state_synced{kind="events"}'] == 1
        assert m['kmon_cluster_state_objects{kind="events"}'] == len(evs)
        # a legacy Event observed again
        back = api.update(observe_event(evs[1], "2026-11-20T08:15:00Z"))
        assert w.take(1) == [expected(back)]
        assert "count=13 " in expected(back)[2]
        # a deleted Event writes nothing
        api.delete("Event", "default", evs[2]["metadata"]["name"])
        w.none_within(1.0)
        # The watch cut; meanwhile an Event comes and the history is compacted past the
        # watcher's version: 410 Gone, a relist, which writes the new Event and nothing
        # it wrote before.
        dup_before = w.counters()["duplicate"]
        late = make_event(("Pod", "shop", "web-2"), "Pulled",
                          'Successfully pulled image "nginx:1.25.3" in 1.2s',
                          controller="kubelet", instance="node-2")
        with api._lock:
            api.drop_watches()
            late = api.add(late)
            api.compact()
        assert w.take(1) == [expected(late)]
        c = w.wait_counter("relists_gone", 1)
        assert c["relists_gone"] >= 1 and c["lists"] >= 2
        assert c["duplicate"] >= dup_before + 3  # the three still held, not written again
        w.none_within(1.5)
    finally:
        w.stop()
    # A restart writes exactly the same (timestamp, line) pairs for what the API holds.
    w2 = Watcher(api, tmp_path)
    try:
        held = api.list("Event")
        got = w2.take(len(held))
        assert sorted(map(_key, got)) == sorted(_key(expected(e)) for e in held)
    finally:
        w2.stop()


def test_events_forbidden_then_allowed(api, tmp_path):
    api.deny("list", "events")
    api.add(_events()[0])
    w = Watcher(api, tmp_path)
    try:
        c = w.wait_counter("forbidden", 1)
        assert c["forbidden"] == 1
        assert w.metrics()['kmon_cluster_state_forbidden{kind="events"}'] == 1
        time.sleep(1.2)  # several probes (every 500 ms here): one warning
        assert sum("forbidden: cannot list events.k8s.io/events" in e for e in w.err) == 1
        api.allow("list", "events")
        [got] = w.take(1)
        assert got == expected(api.list("Event")[0])
        assert w.counters()["forbidden"] == 0
    finally:
        w.stop()


def test_events_sink_refusing(api, tmp_path):
    w = Watcher(api, tmp_path)
    try:
        w.refuse.write_text("")
        evs = [api.add(e) for e in _events()]
        w.none_within(1.0)
        w.refuse.unlink()
        got = w.take(len(evs))
        assert sorted(map(_key, got)) == sorted(_key(expected(e)) for e in evs)
        assert w.counters()["dropped"] == 0
    finally:
        w.stop()


def test_events_leader_takeover(api, tmp_path):
    """Of two replicas only the leader writes; killed, the other takes over and writes
    every Event the API holds (the same lines and times as the old leader's, which a
    store keeps once), the ones it saw while standing by included."""
    evs = [api.add(e) for e in _events()[:2]]
    a = Watcher(api, tmp_path, identity="replica-a")
    b = None
    try:
        got = a.take(len(evs))
        assert sorted(map(_key, got)) == sorted(_key(expected(e)) for e in evs)
        b = Watcher(api, tmp_path, identity="replica-b")
        b.wait_counter("lists", 1)
        late = api.add(_events()[3])
        assert a.take(1) == [expected(late)]
        b.none_within(1.0)
        assert b.counters()["emitted"] == 0
        a.p.kill()  # no release: b waits out the lease
        a.p.wait()
        held = api.list("Event")
        got = b.take(len(held), timeout=30)
        assert sorted(map(_key, got)) == sorted(_key(expected(e)) for e in held)
        b.none_within(1.0)
    finally:
        if a.p.poll() is None:
            a.stop()
        if b:
            b.stop()
