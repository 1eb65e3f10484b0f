"""A deliberately wrong "kmon" for the suite's self-test: an HTTP proxy in front of a real
Prometheus that perturbs a deterministic share of the answers it relays (one request in
`every`, chosen by a hash of the request), and records what it did, so that the self-test
can check that the comparer flags exactly the perturbed answers.

Perturbations (a kind is picked per request from those that apply to the answer):
  value      the first sample's value off by 1e-6 relative (NaN -> 0, ±Inf -> 1)
  drop       the last series (or list item) dropped
  label      a label value of the first series changed
  timestamp  the first sample's timestamp 1 ms later
  format     the first value written another way that parses to the same float
  reorder    a matrix's series reversed (Prometheus sorts them)
  shuffle    an unordered instant vector's series reversed: must NOT be flagged
  errortype  an error's errorType changed
  message    an error's message changed
  status     the HTTP status changed
Requests from clients other than Python's urllib (promtool) are relayed untouched.
"""
import http.server
import json
import threading
import urllib.error
import urllib.parse
import urllib.request
import zlib

import compare
import corpus


def request_key(method, path, params):
    return (method, path, tuple(sorted(params)))


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.done = {}  # key -> (kind, should_fail)

    def put(self, key, kind, should_fail):
        with self.lock:
            self.done[key] = (kind, should_fail)


def _first_point(result, rtype):
    if rtype == "vector" and result:
        return result[0]["value"]
    if rtype == "matrix":
        for s in result:
            if s["values"]:
                return s["values"][0]
    if rtype == "scalar":
        return result
    return None


def _other_format(v):
    """The same float written differently."""
    if v == "NaN":
        return "nan"
    if v in ("+Inf", "-Inf"):
        return v.lower()
    if "e" in v:
        return str(float(v)).replace("e+", "E+") if "e+" in v else v.upper()
    return v + ".0" if "." not in v else v + "0"


def perturb(status, body, params, path, choice):
    """(status, body, kind, should_fail) for one answer; kind None: untouched."""
    try:
        j = json.loads(body, parse_float=compare.Raw, parse_int=compare.Raw)
    except ValueError:
        return status, body, None, False
    kinds = []
    if j.get("status") == "error":
        kinds = ["errortype", "message", "status"]
    elif path.endswith("/format_query"):
        kinds = ["drop"]
    elif path.endswith(("/series", "/labels", "/values")):
        if j.get("data"):
            kinds = ["drop"]
    elif path.endswith(("/query", "/query_range")):
        d = j["data"]
        rtype, res = d["resultType"], d["result"]
        point = _first_point(res, rtype)
        if point is not None:
            kinds += ["value", "timestamp", "format"]
        if rtype in ("vector", "matrix") and res:
            kinds += ["drop", "label"]
        if rtype == "matrix" and len(res) >= 2:
            kinds.append("reorder")
        q = dict(params).get("query", "")
        if rtype == "vector" and len(res) >= 2 and not corpus.auto_ordered(q):
            kinds.append("shuffle")
    if not kinds:
        return status, body, None, False
    kind = kinds[choice % len(kinds)]
    should_fail = True
    if kind == "errortype":
        j["errorType"] = "internal" if j.get("errorType") != "internal" else "bad_data"
    elif kind == "message":
        j["error"] = j.get("error", "") + " (perturbed)"
    elif kind == "status":
        status = 500 if status != 500 else 400
    elif kind == "drop":
        if isinstance(j["data"], str):
            j["data"] = j["data"] + " "
        elif isinstance(j["data"], list):
            j["data"] = j["data"][:-1]
        else:
            j["data"]["result"] = j["data"]["result"][:-1]
    elif kind == "label":
        m = j["data"]["result"][0]["metric"]
        k = sorted(m)[-1] if m else "extra"
        m[k] = m.get(k, "") + "x"
    elif kind == "value":
        p = _first_point(j["data"]["result"], j["data"]["resultType"])
        f = float(p[1])
        if f != f:
            p[1] = "0"
        elif f in (float("inf"), float("-inf")):
            p[1] = "1"
        else:
            scalar = j["data"]["resultType"] == "scalar"
            nv = f * (1 + 1e-6) if f != 0 else 1e-6
            if nv == f:  # too small to move by a relative step
                nv = f + 1 if f + 1 != f else 0.0
            p[1] = compare.go_format(nv, scalar)
    elif kind == "timestamp":
        p = _first_point(j["data"]["result"], j["data"]["resultType"])
        t = float(p[0]) + 0.001
        p[0] = compare.Raw(f"{t:.3f}")
    elif kind == "format":
        p = _first_point(j["data"]["result"], j["data"]["resultType"])
        p[1] = _other_format(p[1])
    elif kind == "reorder":
        j["data"]["result"].reverse()
    elif kind == "shuffle":
        j["data"]["result"].reverse()
        should_fail = False
    # Raw numbers were kept as their text: written back unquoted.
    return status, "".join(_encode(j)).encode(), kind, should_fail


def _encode(o):
    if isinstance(o, compare.Raw):
        yield str(o)
    elif isinstance(o, str):
        yield json.dumps(o, ensure_ascii=False)
    elif isinstance(o, dict):
        yield "{"
        for i, (k, v) in enumerate(o.items()):
            if i:
                yield ","
            yield json.dumps(k, ensure_ascii=False) + ":"
            yield from _encode(v)
        yield "}"
    elif isinstance(o, list):
        yield "["
        for i, v in enumerate(o):
            if i:
                yield ","
            yield from _encode(v)
        yield "]"
    else:
        yield json.dumps(o)


class Fake:
    def __init__(self, upstream, every=5, port=0):
        """every: perturb one request in `every` (0: none, a faithful relay)."""
        self.upstream = upstream
        self.every = every
        self.rec = Recorder()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _relay(self, method):
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/readyz":  # as a kmon server answers it
                    self.send_response(200)
                    self.send_header("Content-Length", "3")
                    self.end_headers()
                    self.wfile.write(b"ok\n")
                    return
                body = b""
                form = self.headers.get("Content-Type", "").startswith(
                    "application/x-www-form-urlencoded")
                params = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
                if method == "POST":
                    body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                    if form:
                        params = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
                req = urllib.request.Request(fake.upstream + self.path,
                                             data=body if method == "POST" else None,
                                             method=method)
                for h in ("Content-Type", "Content-Encoding",
                          "X-Prometheus-Remote-Write-Version"):
                    if self.headers.get(h):
                        req.add_header(h, self.headers[h])
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        status, out = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, out = e.code, e.read()
                ua = self.headers.get("User-Agent", "")
                key = request_key(method, u.path, params)
                h = zlib.crc32(repr(key).encode())
                if fake.every and ua.startswith("Python-urllib") and h % fake.every == 0:
                    status, out, kind, should_fail = perturb(status, out, params, u.path,
                                                             h // fake.every)
                    if kind:
                        fake.rec.put(key, kind, should_fail)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self._relay("GET")

            def do_POST(self):
                self._relay("POST")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
