"""The dashboard's files as the server serves them: a browser asking for / is sent to
/ui/ while API clients keep the health document; every page path under /ui/ gets the
app (deep links); files carry an ETag (304 on revalidation), are gzip-compressed when
the client takes it, and come with a Content-Security-Policy; nothing outside the
embedded files can be read; --ui-dir serves a working copy from disk (server and demo)."""
import gzip
import http.client
import json
import os
import signal
import subprocess
import time

from conftest import KMON, free_port, http_request

WEB_SRC = os.path.join(os.path.dirname(__file__), "..", "..", "web", "src")


def raw(base, path, method="GET", headers=None):
    """(status, headers with lower-case names, body) without following redirects."""
    host = base.split("//", 1)[1]
    c = http.client.HTTPConnection(host, timeout=10)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_root_sends_browsers_to_the_dashboard(server_factory):
    _, base, _ = server_factory()
    st, h, _ = raw(base, "/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert st == 302 and h["location"] == "/ui/"
    # curl and API clients: the health document, as before.
    st, h, body = raw(base, "/", headers={"Accept": "*/*"})
    assert st == 200 and json.loads(body)["service"] == "kmon"
    st, h, body = raw(base, "/", headers={"Accept": "application/json"})
    assert st == 200 and json.loads(body)["status"] == "ok"
    st, h, _ = raw(base, "/ui")
    assert st == 302 and h["location"] == "/ui/"


def test_pages_files_and_headers(server_factory):
    _, base, _ = server_factory()
    st, h, index = raw(base, "/ui/")
    assert st == 200 and h["content-type"].startswith("text/html")
    assert b"<html" in index.lower() or b"<!doctype html" in index.lower()
    csp = h["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == "no-cache" and h["etag"].startswith('"')
    # A page of the app (no dot in its last segment) is the app itself: a shared link to
    # /ui/pods/default/web-1 opens.
    for page in ("/ui/nodes", "/ui/pods/default/web-1", "/ui/explore"):
        st, h2, body = raw(base, page)
        assert st == 200 and body == index and h2["etag"] == h["etag"], page
    # Revalidation.
    st, _, body = raw(base, "/ui/", headers={"If-None-Match": h["etag"]})
    assert st == 304 and body == b""
    st, _, _ = raw(base, "/ui/", headers={"If-None-Match": 'W/"x", ' + h["etag"]})
    assert st == 304
    st, _, _ = raw(base, "/ui/", headers={"If-None-Match": '"not-it"'})
    assert st == 200
    # The chart library, gzip-compressed for clients that take it, as is otherwise.
    st, h, plain = raw(base, "/ui/vendor/uPlot.esm.js")
    assert st == 200 and h["content-type"].startswith("text/javascript")
    assert "content-encoding" not in h and b"uPlot" in plain
    st, h, packed = raw(base, "/ui/vendor/uPlot.esm.js", headers={"Accept-Encoding": "gzip, br"})
    assert st == 200 and h["content-encoding"] == "gzip" and "accept-encoding" in h["vary"].lower()
    assert gzip.decompress(packed) == plain and len(packed) < len(plain) / 2
    st, h, _ = raw(base, "/ui/vendor/uPlot.esm.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in h
    st, h, body = raw(base, "/ui/vendor/uPlot.esm.js", method="HEAD")
    assert st == 200 and body == b"" and int(h["content-length"]) == len(plain)


def test_nothing_else_can_be_read(server_factory):
    _, base, _ = server_factory()
    for path in ("/ui/../etc/passwd", "/ui/%2e%2e/etc/passwd", "/ui/vendor/../../kmon",
                 "/ui/no-such-file.js", "/ui/a\\b.js", "/ui/" + "x" * 300 + ".js"):
        st, h, body = raw(base, path)
        assert st == 404, path
        assert "error" in json.loads(body)
    st, _, _ = raw(base, "/ui/api/v1/query", method="POST")
    assert st == 404  # a client with /ui as its base URL: no such endpoint


def test_ui_dir_serves_a_working_copy(server_factory, tmp_path):
    src = tmp_path / "src"
    (src / "vendor").mkdir(parents=True)
    (src / "index.html").write_text("<!doctype html><title>working copy</title>")
    (src / "app.js").write_text("export const x = 1;\n")
    _, base, _ = server_factory("--ui-dir", str(src))
    st, h, body = raw(base, "/ui/nodes/n1")
    assert st == 200 and b"working copy" in body and "content-security-policy" in h
    st, h, body = raw(base, "/ui/app.js")
    assert st == 200 and body == b"export const x = 1;\n"
    assert h["content-type"].startswith("text/javascript")
    st, _, _ = raw(base, "/ui/app.js", headers={"If-None-Match": h["etag"]})
    assert st == 304
    (src / "app.js").write_text("export const x = 2;\n")  # edited: seen at once
    st, _, body = raw(base, "/ui/app.js", headers={"If-None-Match": h["etag"]})
    assert st == 200 and body == b"export const x = 2;\n"
    st, _, _ = raw(base, "/ui/missing.js")
    assert st == 404
    # vendor/ falls back to the npm package beside the source directory: absent here.
    st, _, _ = raw(base, "/ui/vendor/uPlot.esm.js")
    assert st == 404


def test_server_knows_its_files_size(server_factory):
    _, base, _ = server_factory()
    st, _, body = http_request(base + "/metrics")
    text = body.decode()
    assert st == 200
    gz = [line for line in text.splitlines() if line.startswith("kmon_ui_bytes{")]
    assert any('encoding="gzip"' in line for line in gz), gz


def test_demo_points_at_the_dashboard_and_takes_a_working_copy(tmp_path):
    """`kmon demo` names the dashboard first in what it prints, and --ui-dir works there as
    on the server (the way to work on the dashboard against this machine's data)."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "index.html").write_text("<!doctype html><title>demo working copy</title>")
    port = free_port()
    p = subprocess.Popen([KMON, "demo", "--listen", f"127.0.0.1:{port}", "--data",
                          str(tmp_path / "data"), "--ui-dir", str(src)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                st, _, body = raw(base, "/ui/")
                break
            except OSError:
                assert p.poll() is None and time.monotonic() < deadline, p.stderr.read()
                time.sleep(0.2)
        assert st == 200 and b"demo working copy" in body
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
        assert p.returncode == 0, err
        lines = [x for x in out.splitlines() if base in x]
        assert lines and lines[0].split()[0] == f"{base}/ui/", out
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
