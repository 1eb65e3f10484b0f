"""The filesystem collector against real mounts: a hung FUSE mount (its daemon stopped
with SIGSTOP, so statvfs() blocks in the kernel) costs one timeout, is reported with
node_filesystem_device_error 1, and does not hang the agent or hide the other mounts."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import http_get, parse_exposition, run, value

# LeakSanitizer stops every thread at exit to scan memory, and a thread blocked inside a
# FUSE request cannot be stopped: sanitized builds would hang there (the kernel still
# ends the plain build's stuck thread at exit). Leak checking of the same code paths
# without a hung mount is done by every other test.
NO_LSAN = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:" + os.environ.get("ASAN_OPTIONS", ""))


def can_fuse():
    return os.geteuid() == 0 and os.path.exists("/dev/fuse") and shutil.which("bindfs")


@pytest.fixture
def stopped_fuse_mount():
    if not can_fuse():
        pytest.skip("needs root, /dev/fuse and bindfs (scripts/install-deps.sh test installs it)")
    src = tempfile.mkdtemp(prefix="kmon-fuse-src-")
    mnt = tempfile.mkdtemp(prefix="kmon-fuse-mnt-")
    r = subprocess.run(["bindfs", src, mnt], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"bindfs could not mount here: {r.stderr.strip()}")
    pid = int(subprocess.check_output(["pgrep", "-n", "-f", f"bindfs {src}"]).split()[0])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield mnt
    finally:
        os.kill(pid, signal.SIGCONT)
        subprocess.run(["umount", "-l", mnt], capture_output=True)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        time.sleep(0.2)
        os.rmdir(mnt)
        shutil.rmtree(src, ignore_errors=True)


def test_hung_mount_does_not_hang_once(stopped_fuse_mount):
    t0 = time.monotonic()
    r = run("agent", "--once", "--interval", "500ms", "--format", "prom",
            "--collector.filesystem.mount-timeout", "1s", timeout=60, env=NO_LSAN)
    elapsed = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    # Two collections: one timeout of 1 s for the first, none for the second (the mount
    # is known to hang), plus the interval. Generous bound for slow sanitizer builds.
    assert elapsed < 20, f"--once took {elapsed:.1f}s"
    samples, _, _ = parse_exposition(r.stdout)
    assert value(samples, "node_filesystem_device_error", mountpoint=stopped_fuse_mount) == 1
    assert value(samples, "node_filesystem_device_error", mountpoint="/") == 0
    assert value(samples, "node_filesystem_size_bytes", mountpoint="/") > 0
    assert value(samples, "kmon_agent_collect_errors_total", collector="filesystem") >= 1


def test_hung_mount_keeps_the_agent_serving(stopped_fuse_mount, agent_factory):
    proc, base = agent_factory("--collector.filesystem.mount-timeout", "500ms",
                               interval="300ms", env=NO_LSAN)
    # Scrapes keep answering quickly and collections keep counting while the mount hangs.
    samples, _, _ = parse_exposition(http_get(base + "/metrics")[2])
    n0 = value(samples, "kmon_agent_collections_total")
    time.sleep(2)
    t0 = time.monotonic()
    samples, _, _ = parse_exposition(http_get(base + "/metrics", timeout=5)[2])
    assert time.monotonic() - t0 < 2
    assert value(samples, "kmon_agent_collections_total") >= n0 + 3
    assert value(samples, "node_filesystem_device_error", mountpoint=stopped_fuse_mount) == 1
    assert proc.stop() == 0  # shuts down even with a worker stuck in the kernel
