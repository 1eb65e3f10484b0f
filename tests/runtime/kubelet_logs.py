"""Container log files written as containerd and the kubelet write them, for the agent's
log tests and benchmark: CRI lines (`<RFC3339Nano> <stream> <P|F> <text>`), long lines cut
into 16 KiB partials as containerd cuts them, and rotation exactly as the kubelet's
container log manager does it: rename 0.log to 0.log.<YYYYMMDD-hhmmss> while the runtime
still holds the old file (a few more lines land in it before it reopens), a new 0.log,
then every rotated file but the newest gzipped (to .gz.tmp, renamed to .gz, the plain one
removed)."""
import datetime
import gzip
import os
import shutil

CONTAINERD_LINE_MAX = 16 * 1024


def pod_dir(root, ns, pod, uid, container):
    d = os.path.join(root, "var/log/pods", f"{ns}_{pod}_{uid}", container)
    os.makedirs(d, exist_ok=True)
    return d


class Container:
    """One container's log directory and its runtime writer."""

    def __init__(self, root, ns, pod, container, rotate_bytes=0, keep_files=0):
        self.dir = pod_dir(root, ns, pod, f"uid-{pod}", container)
        self.path = os.path.join(self.dir, "0.log")
        self.f = open(self.path, "ab", buffering=1024 * 1024)
        self.rotate_bytes = rotate_bytes
        self.keep_files = keep_files  # 0: never delete rotated files
        self.written = 0
        self.rotations = 0
        self.clock = datetime.datetime(2026, 12, 6, 0, 0, 0)
        self.ns = 0

    def _ts(self):
        self.ns += 1000
        t = datetime.datetime(2026, 12, 6) + datetime.timedelta(microseconds=self.ns // 1000)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}{self.ns % 1000:03d}Z"

    def raw(self, data):
        self.f.write(data)
        self.written += len(data)

    def line(self, text, stream="stdout"):
        """One logical line (bytes), cut into partials past 16 KiB as containerd does."""
        ts = self._ts().encode()
        st = stream.encode()
        pieces = [text[i:i + CONTAINERD_LINE_MAX]
                  for i in range(0, len(text), CONTAINERD_LINE_MAX)] or [b""]
        for k, p in enumerate(pieces):
            tag = b"F" if k == len(pieces) - 1 else b"P"
            self.raw(ts + b" " + st + b" " + tag + b" " + p + b"\n")
        if self.rotate_bytes and self.written >= self.rotate_bytes:
            self.rotate()

    def rotate(self, tail_lines=()):
        """The kubelet's rotation: compress older rotated files, rename, reopen."""
        self.rotations += 1
        self.clock += datetime.timedelta(seconds=1)
        rotated = self.path + "." + self.clock.strftime("%Y%m%d-%H%M%S")
        for name in sorted(os.listdir(self.dir)):
            p = os.path.join(self.dir, name)
            if name.startswith("0.log.") and not name.endswith((".gz", ".tmp")):
                with open(p, "rb") as src, gzip.open(p + ".gz.tmp", "wb", compresslevel=1) as dst:
                    shutil.copyfileobj(src, dst)
                os.rename(p + ".gz.tmp", p + ".gz")
                os.unlink(p)
        if self.keep_files:
            gz = sorted(n for n in os.listdir(self.dir) if n.endswith(".gz"))
            for n in gz[:max(0, len(gz) - self.keep_files)]:
                os.unlink(os.path.join(self.dir, n))
        self.f.flush()
        os.rename(self.path, rotated)
        # The runtime has not reopened yet: these still land in the renamed file.
        for t in tail_lines:
            ts = self._ts().encode()
            self.raw(ts + b" stdout F " + t + b"\n")
        self.f.close()
        self.f = open(self.path, "ab", buffering=1024 * 1024)
        self.written = 0

    def flush(self):
        self.f.flush()

    def close(self):
        self.f.close()
