"""The OCI image (scripts/image.sh, `make image`): built from the binary under test, read
back as an OCI layout (and by skopeo, as users copy it to a registry), unpacked by umoci
into a root filesystem, and run there with nothing from the host: `kmon --version` and a
short `kmon demo` as the image's user, in its working directory, in private mount and PID
namespaces whose /proc and /sys are mounted inside, answering /healthz, / and the
dashboard, its agent measuring the machine, stopped by SIGTERM. In the sanitizer build the
image is made of that binary (ldd brings its runtime libraries), so kmon runs in the
image under ASan and UBSan too."""
import json
import os
import shutil
import signal
import stat
import subprocess
import time

import pytest

from conftest import KMON, SANITIZED, free_port, http_get, wait_until

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
IMAGE_SH = os.path.join(REPO, "scripts/image.sh")
UMOCI = shutil.which("umoci")
SKOPEO = shutil.which("skopeo")
MIB = 1 << 20

pytestmark = [
    pytest.mark.skipif(UMOCI is None, reason="umoci is missing (scripts/install-deps.sh test "
                       "installs it): the image cannot be built or unpacked"),
    pytest.mark.skipif(os.geteuid() != 0, reason="running the image needs root: unpacking "
                       "with its owners, mount and PID namespaces, mounting /proc and /sys"),
]


def blob(layout, digest):
    algo, hexd = digest.split(":")
    return os.path.join(layout, "blobs", algo, hexd)


def read_json_blob(layout, digest):
    with open(blob(layout, digest)) as f:
        return json.load(f)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """The image built by scripts/image.sh from KMON_BIN, its layout read back (index,
    manifest, config) and its root unpacked by umoci."""
    d = tmp_path_factory.mktemp("image")
    archive = d / "kmon-image.tar"
    t0 = time.monotonic()
    p = subprocess.run([IMAGE_SH, KMON, str(archive)], capture_output=True, text=True,
                       timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    build_s = time.monotonic() - t0
    layout = d / "oci"
    layout.mkdir()
    subprocess.run(["tar", "-C", str(layout), "-xf", str(archive)], check=True)
    with open(layout / "index.json") as f:
        index = json.load(f)
    assert len(index["manifests"]) == 1, index
    desc = index["manifests"][0]
    tag = desc["annotations"]["org.opencontainers.image.ref.name"]
    manifest = read_json_blob(layout, desc["digest"])
    config = read_json_blob(layout, manifest["config"]["digest"])
    bundle = d / "bundle"
    p = subprocess.run([UMOCI, "unpack", "--image", f"{layout}:{tag}", str(bundle)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    root = bundle / "rootfs"
    for m in ("proc", "sys"):  # mount points, as a container runtime makes them
        (root / m).mkdir(exist_ok=True)
    return {"archive": archive, "layout": layout, "tag": tag, "manifest": manifest,
            "config": config, "root": root, "build_s": build_s, "report": p.stdout}


def run_inside(image, args, **popen):
    """Start the image's entrypoint with args as a runtime would: private mount and PID
    namespaces, /proc and /sys mounted inside them, the root changed to the unpacked image,
    its working directory and its numeric user and group. The host's sh and unshare only
    prepare; kmon and everything it loads come from the image's root."""
    cfg = image["config"]["config"]
    uid, gid = (int(x) for x in cfg["User"].split(":"))
    root = str(image["root"])
    inner = ["unshare", f"--root={root}", f"--wd={cfg['WorkingDir']}", f"--setgid={gid}",
             f"--setuid={uid}", "--", *cfg["Entrypoint"], *args]
    script = (f'mount -t proc proc "{root}/proc" && mount -t sysfs sysfs "{root}/sys" && '
              'exec "$@"')
    return subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                             "sh", "-c", script, "sh", *inner], env={"PATH": "/usr/bin:/bin"},
                            **popen)


def kmon_child(unshare_pid):
    """The host PID of the process unshare forked (kmon, once the exec chain ran)."""
    with open(f"/proc/{unshare_pid}/task/{unshare_pid}/children") as f:
        kids = f.read().split()
    return int(kids[0]) if kids else None


def test_config_runs_kmon_as_a_non_root_user_with_labels(image):
    cfg = image["config"]
    c = cfg["config"]
    assert c["Entrypoint"] == ["/usr/bin/kmon"]
    assert c["Cmd"] == ["server"]
    uid, gid = (int(x) for x in c["User"].split(":"))  # numeric: no lookup in the image
    assert uid != 0 and gid != 0
    assert c["WorkingDir"] == "/var/lib/kmon"
    assert cfg["os"] == "linux" and cfg["architecture"]
    version = subprocess.run([KMON, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                          cwd=REPO, check=True).stdout.strip()
    labels = c["Labels"]
    assert labels["org.opencontainers.image.version"] == version
    assert image["tag"] == version
    assert labels["org.opencontainers.image.revision"] in (head, head + "-dirty")
    assert labels["org.opencontainers.image.title"] == "kmon"
    assert labels["org.opencontainers.image.created"].endswith("Z")
    # One gzip layer whose digest the config's diff_id matches after decompression.
    layers = image["manifest"]["layers"]
    assert len(layers) == 1
    assert layers[0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    raw = subprocess.run(["sh", "-c", f'gzip -dc "{blob(image["layout"], layers[0]["digest"])}"'
                          " | sha256sum"], capture_output=True, text=True, check=True)
    assert cfg["rootfs"]["diff_ids"] == ["sha256:" + raw.stdout.split()[0]]


def test_skopeo_reads_the_archive(image):
    if SKOPEO is None:
        pytest.skip("skopeo is missing (scripts/install-deps.sh test installs it)")
    p = subprocess.run([SKOPEO, "inspect", "--config", f"oci-archive:{image['archive']}"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["config"]["Labels"] == image["config"]["config"]["Labels"]


def test_root_holds_only_kmon_its_libraries_and_files(image):
    root = image["root"]
    files = []
    for d, dirs, names in os.walk(root):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            files.append("/" + os.path.relpath(os.path.join(d, n), root))
    etc = {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/hosts",
           "/etc/ssl/certs/ca-certificates.crt"}
    libdir = ("/usr/lib/", "/usr/lib64/")
    odd = [f for f in files if f not in etc and f != "/usr/bin/kmon" and not f.startswith(libdir)
           and f not in ("/lib", "/lib64", "/lib32", "/libx32")]
    assert not odd, f"files that are not kmon, a library or a known file: {odd}"
    for shell in ("bin/sh", "usr/bin/sh", "bin/bash", "usr/bin/dpkg", "usr/bin/apt-get"):
        assert not os.path.lexists(root / shell), shell
    uid, gid = (int(x) for x in image["config"]["config"]["User"].split(":"))
    st = os.stat(root / "var/lib/kmon")
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert os.stat(root / "tmp").st_mode & 0o7777 == 0o1777
    with open(root / "etc/passwd") as f:
        assert f":{uid}:{gid}:" in f.read()
    with open(root / "etc/group") as f:
        assert f":{gid}:" in f.read()
    compressed = sum(layer["size"] for layer in image["manifest"]["layers"])
    unpacked = subprocess.run(["du", "-sb", str(root)], capture_output=True, text=True,
                              check=True).stdout.split()[0]
    print(f"image: {compressed / MIB:.1f} MiB compressed, {int(unpacked) / MIB:.1f} MiB "
          f"unpacked, built in {image['build_s']:.1f}s")
    # The target is for the optimised build users get; the sanitizer build's image (its
    # runtime libraries, a larger binary) runs the same checks but is about 16 MiB.
    if not SANITIZED:
        assert compressed < 15 * MIB, f"the image is {compressed / MIB:.1f} MiB compressed"


def test_version_runs_inside_the_image(image):
    p = run_inside(image, ["--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   text=True)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert out.startswith("kmon " + image["tag"] + " (revision "), out


def test_demo_runs_inside_the_image(image, tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "demo.log", "w+")
    p = run_inside(image, ["demo", "--listen", f"127.0.0.1:{port}", "--interval", "500ms"],
                   stdout=log, stderr=subprocess.STDOUT)
    pid = None

    def output():
        log.flush()
        return (tmp_path / "demo.log").read_text()

    def health():
        if p.poll() is not None:
            raise AssertionError(f"the demo exited with {p.returncode}:\n{output()}")
        try:
            return http_get(base + "/healthz", timeout=2)
        except OSError:
            return None

    try:
        status, _, body = wait_until(health, timeout=20, what="/healthz answering")
        assert status == 200 and body.strip() == "ok"
        # The process answering is the image's kmon, as the image's user.
        pid = kmon_child(p.pid)
        with open(f"/proc/{pid}/status") as f:
            st = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
        uid, gid = image["config"]["config"]["User"].split(":")
        assert st["Uid"].split()[0] == uid and st["Gid"].split()[0] == gid
        assert st["Groups"].split() in ([], [gid])
        assert os.readlink(f"/proc/{pid}/exe").startswith(str(image["root"]))
        assert os.readlink(f"/proc/{pid}/cwd") == str(image["root"] / "var/lib/kmon")
        status, _, body = http_get(base + "/")
        health_doc = json.loads(body)
        assert status == 200 and health_doc["status"] == "ok"
        assert health_doc["version"] == image["tag"]
        status, headers, body = http_get(base + "/ui/")
        assert status == 200 and "text/html" in headers["Content-Type"]
        assert "<!doctype html>" in body.lower()
        status, headers, _ = http_get(base + "/ui/app.js")
        assert status == 200 and "javascript" in headers["Content-Type"]

        # The agent reads the namespace's /proc and /sys and ships to the server.
        def cpu_series():
            _, _, b = http_get(base + "/api/v1/query?query=count(node_cpu_seconds_total)")
            r = json.loads(b)["data"]["result"]
            return r and int(r[0]["value"][1]) > 0

        wait_until(cpu_series, timeout=20, what="node_cpu_seconds_total stored")
        os.kill(pid, signal.SIGTERM)  # unshare passes no signal on: kmon gets it itself
        assert p.wait(timeout=20) == 0, output()
        data = image["root"] / "var/lib/kmon/data"
        assert os.stat(data).st_uid == int(uid)
        assert stat.S_ISDIR(os.stat(data / "wal").st_mode)
    finally:
        if p.poll() is None:
            # kmon is the PID namespace's init: killing it ends the namespace; unshare,
            # killed alone, would leave it running.
            pid = pid or kmon_child(p.pid)
            if pid:
                os.kill(pid, signal.SIGKILL)
            p.kill()
            p.wait()
        log.close()
