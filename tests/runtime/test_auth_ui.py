"""The dashboard of a server with --tokens asks for a token, in a real browser
(tests/ui/auth_prompt.mjs: headless Chromium through playwright-core): prompt, wrong
token, right token kept and sent, the overview and the cluster filter (a read token
limited to cluster a lists only a), sign out."""
import os
import shutil
import subprocess
import time

import pytest

import rwlib
from conftest import http_request
from test_auth import TOKENS, bearer, secret, tokens_yaml

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", ".."))
PLAYWRIGHT = os.path.join(ROOT, "web", "node_modules", "playwright-core")


@pytest.mark.skipif(not (shutil.which("node") and os.path.exists("/usr/bin/chromium")
                         and os.path.isdir(PLAYWRIGHT)),
                    reason="node, Debian's chromium or playwright-core (scripts/web-deps.sh "
                           "test) missing")
def test_dashboard_asks_for_a_token(server_factory, tmp_path):
    f = tmp_path / "tokens.yaml"
    f.write_text(tokens_yaml(TOKENS))
    srv, base, data = server_factory("--tokens", str(f))
    now = int(time.time() * 1000)
    series = [rwlib.series_of("up", now, 1, cluster=c, job="j") for c in ("a", "b")]
    body = rwlib.snappy(rwlib.write_request(series))
    st, _, b = http_request(base + "/api/v1/write", "POST", body,
                            {**rwlib.HEADERS, **bearer("adm")})
    assert st == 204, b
    out = subprocess.run(["node", os.path.join(ROOT, "tests", "ui", "auth_prompt.mjs"), base,
                          secret("r-a"), "a"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr + srv.log()
    assert "secret-" not in srv.log()
