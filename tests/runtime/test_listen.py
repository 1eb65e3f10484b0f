"""Where kmon listens, as a user meets it: each command has its own listen variable (one
setting never makes the agent, the server and the demo collide), an address in use
says how to pick another, the server says when it listens beyond loopback without
authentication, and the help promises only what exists."""
import os
import socket

import pytest

from conftest import Proc, free_port, run, wait_http


def user_env(**extra):
    # Not run from make either (CI runs the tests under `make test`): demo words its
    # advice for make when MAKELEVEL says it was started by make.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KMON_") and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env.update(extra)
    return env


@pytest.fixture
def taken_port():
    """A port something else is listening on."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("command,extra,env_name", [
    ("server", ("--data", "{tmp}/data"), "KMON_SERVER_LISTEN"),
    ("agent", (), "KMON_AGENT_LISTEN"),
    ("demo", ("--data", "{tmp}/data"), "KMON_DEMO_LISTEN"),
])
def test_address_in_use_says_how_to_pick_another(tmp_path, taken_port, command, extra,
                                                 env_name):
    addr, other = f"127.0.0.1:{taken_port}", f"127.0.0.1:{taken_port + 1}"
    args = [command, "--listen", addr, *(a.format(tmp=tmp_path) for a in extra)]
    r = run(*args, timeout=60, env=user_env())
    assert r.returncode != 0
    assert f"cannot listen on {addr}: Address already in use" in r.stderr, r.stderr
    assert f"Pick another address with --listen {other}, or {env_name}={other}" in r.stderr, \
        r.stderr


def test_make_demo_is_told_the_make_command_line(tmp_path, taken_port):
    other = f"127.0.0.1:{taken_port + 1}"
    r = run("demo", "--data", str(tmp_path / "data"), timeout=60,
            env=user_env(MAKELEVEL="1", KMON_DEMO_LISTEN=f"127.0.0.1:{taken_port}"))
    assert r.returncode != 0
    assert f"make demo ARGS='--listen {other}', or KMON_DEMO_LISTEN={other} make demo" \
        in r.stderr, r.stderr


def test_each_command_has_its_own_listen_variable(tmp_path):
    """One environment holding all three settings: agent, server and demo each take
    their own and all run side by side."""
    ports = {c: free_port() for c in ("agent", "server", "demo")}
    env = user_env(**{f"KMON_{c.upper()}_LISTEN": f"127.0.0.1:{p}" for c, p in ports.items()})
    procs = [Proc(["agent", "--interval", "1s"], env=env),
             Proc(["server", "--data", str(tmp_path / "server")], env=env),
             Proc(["demo", "--data", str(tmp_path / "demo")], env=env)]
    try:
        for proc, port in zip(procs, ports.values()):
            wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        for proc in procs:
            assert proc.stop() == 0, proc.log()
    finally:
        for proc in procs:
            proc.close()


@pytest.mark.parametrize("command", ["agent", "server", "demo"])
def test_shared_kmon_listen_is_refused(tmp_path, command):
    r = run(command, timeout=30, env=user_env(KMON_LISTEN="127.0.0.1:1",
                                              KMON_DATA=str(tmp_path / "data")))
    assert r.returncode == 2
    want = f"set KMON_{command.upper()}_LISTEN for kmon {command} instead"
    assert "KMON_LISTEN would give every kmon command the same --listen" in r.stderr, r.stderr
    assert want in r.stderr, r.stderr


def test_server_warns_only_beyond_loopback(server_factory):
    proc, _, _ = server_factory()  # 127.0.0.1
    assert "without authentication" not in proc.log()
    port = free_port()
    proc, _, _ = server_factory("--listen", f":{port}", port=port)
    log = proc.log()
    assert f"listening on :{port} without authentication: anyone who can reach this port " \
           "can write and read metrics" in log, log
    assert f"--listen 127.0.0.1:{port}" in log


def test_help_promises_only_what_exists():
    r = run("--help")
    assert r.returncode == 0
    # What the help promises exists: each command it names answers --help.
    for command in ("agent", "server", "demo", "query", "tsdb", "rules"):
        assert f"  {command} " in r.stdout, r.stdout
        assert run(command, "--help").returncode == 0
    for command in ("agent", "server", "demo"):
        r = run(command, "--help")
        assert f"[env KMON_{command.upper()}_LISTEN]" in r.stdout, r.stdout
    server = run("server", "--help").stdout
    for flag in ("--rules", "--alertmanager", "--alert-webhook", "--default-rules"):
        assert flag in server, server
