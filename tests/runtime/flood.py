"""Slow HTTP clients and a probe loop: the flood the server's probes must survive.

Used by test_server_http.py, and by hand to measure (see bench/README.md):

    python3 tests/runtime/flood.py --port 5000 --conns 2000 --seconds 20
    python3 tests/runtime/flood.py --port 5000 --conns 30000 --sources 16 --seconds 30

SlowClients holds `conns` connections open from the given source addresses, each with
half a request sent and one more header byte every `trickle` seconds (a slow-loris);
a connection the server closes is opened again, at most `reconnect_per_s` a second, so
the flood keeps its size for as long as it runs. Probe sends what the kubelet sends
(one GET, Connection: close) from its own source address and times the answer. All
sockets are closed by stop(); nothing outlives the with-block.
"""
import argparse
import errno
import resource
import selectors
import socket
import threading
import time

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: kmon\r\nX-Slow: "


def raise_nofile(n):
    """Let this process hold n more descriptors (soft limit up to the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 256


class SlowClients:
    def __init__(self, port, conns, sources=("127.0.0.1",), host="127.0.0.1", trickle=1.0,
                 reconnect_per_s=2000):
        self.addr = (host, port)
        self.conns = min(conns, raise_nofile(conns))
        self.sources = list(sources)
        self.trickle = trickle
        self.reconnect_per_s = reconnect_per_s
        self.sel = selectors.DefaultSelector()
        self.socks = {}  # socket -> next send time
        self.opened = 0  # connections made
        self.closed_by_server = 0
        self.failed = 0  # connect() refused or timed out
        self.max_open = 0
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(30)
            assert not self._thread.is_alive(), "slow clients did not stop"
        for s in list(self.socks):
            self._drop(s)
        self.sel.close()

    def open_now(self):
        return len(self.socks)

    def _drop(self, s):
        try:
            self.sel.unregister(s)
        except (KeyError, ValueError):
            pass
        self.socks.pop(s, None)
        s.close()

    def _open_one(self, now):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((self.sources[self.opened % len(self.sources)], 0))
            rc = s.connect_ex(self.addr)
        except OSError:
            s.close()
            self.failed += 1
            return
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            self.failed += 1
            return
        self.opened += 1
        self.socks[s] = now + self.trickle * (0.2 + (self.opened % 100) / 125)
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, "new")

    def _events(self):
        for key, ev in self.sel.select(timeout=0.05):
            s = key.fileobj
            if key.data == "new" and ev & selectors.EVENT_WRITE:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    self.failed += 1
                    self._drop(s)
                    continue
                try:
                    s.send(PARTIAL)
                except OSError:
                    self.closed_by_server += 1
                    self._drop(s)
                    continue
                self.sel.modify(s, selectors.EVENT_READ, "held")
            elif ev & selectors.EVENT_READ:
                try:
                    got = s.recv(4096)
                except OSError:
                    got = b""
                if not got:  # closed (or refused after accept): open another
                    self.closed_by_server += 1
                    self._drop(s)

    def _trickle(self, now):
        for s, due in list(self.socks.items()):
            if due > now:
                continue
            self.socks[s] = now + self.trickle
            try:
                s.send(b"a")
            except BlockingIOError:
                pass
            except OSError:
                self.closed_by_server += 1
                self._drop(s)

    def _run(self):
        budget, last = 0.0, time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            budget = min(budget + (now - last) * self.reconnect_per_s, self.reconnect_per_s)
            last = now
            while len(self.socks) < self.conns and budget >= 1:
                self._open_one(now)
                budget -= 1
            self._events()
            self._trickle(now)
            self.max_open = max(self.max_open, len(self.socks))


def probe(port, source, path="/healthz", host="127.0.0.1", timeout=5.0):
    """(seconds, status or None) of one kubelet-like GET from `source`."""
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout,
                                      source_address=(source, 0)) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: kmon\r\nUser-Agent: kube-probe/1.29\r\n"
                      b"Connection: close\r\n\r\n" % path.encode())
            data = b""
            while True:
                got = s.recv(4096)
                if not got:
                    break
                data += got
    except OSError:
        return time.monotonic() - t0, None
    took = time.monotonic() - t0
    if not data.startswith(b"HTTP/1."):
        return took, None
    return took, int(data.split(b" ", 2)[1])


def probe_loop(port, source, seconds, every=0.1, path="/healthz"):
    """Probe for `seconds`; the list of (seconds, status) answers."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(probe(port, source, path))
        time.sleep(every)
    return out


def summary(results):
    lat = sorted(t for t, _ in results)
    ok = sum(1 for _, st in results if st == 200)

    def q(p):
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return (f"{len(results)} probes, {ok} answered 200, latency ms p50 {q(0.5):.1f} "
            f"p99 {q(0.99):.1f} max {q(1.0):.1f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=2000)
    ap.add_argument("--sources", type=int, default=1,
                    help="flood from 127.0.0.1 .. 127.0.0.N")
    ap.add_argument("--probe-from", default="127.0.0.200")
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    sources = [f"127.0.0.{i}" for i in range(1, a.sources + 1)]
    with SlowClients(a.port, a.conns, sources) as flood:
        time.sleep(2)
        results = probe_loop(a.port, a.probe_from, a.seconds)
        print(f"flood: {flood.conns} wanted, {flood.open_now()} open now (max {flood.max_open}),"
              f" {flood.opened} opened, {flood.closed_by_server} closed by the server,"
              f" {flood.failed} failed to connect")
    print(summary(results))


if __name__ == "__main__":
    main()
