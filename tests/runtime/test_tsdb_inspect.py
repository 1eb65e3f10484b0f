"""`kmon tsdb inspect DIR`: the report on a real data directory (written through the tsdb
library by tests/tools/tsdb_fill), its JSON for scripts, checksum verification, damaged
blocks and WAL segments, and that inspecting never changes the directory."""
import json
import os
import subprocess

import pytest

from conftest import run, tree

FILL = os.environ.get("KMON_TSDB_FILL",
                      os.path.join(os.path.dirname(__file__), "../../build/tests/tools/tsdb_fill"))
T0 = 1763769600000  # 2025-11-22T00:00:00Z
STEP = 15000
HOUR = 3600000


def fill(d, series, samples, start, mode):
    p = subprocess.run([FILL, str(d), str(series), str(samples), str(start), str(STEP), mode],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr


def inspect_json(d, *flags):
    p = run("tsdb", "inspect", "--format", "json", *flags, str(d))
    return p, json.loads(p.stdout) if p.stdout else None


def block_dirs(d):
    return sorted(os.path.join(d, "blocks", b) for b in os.listdir(os.path.join(d, "blocks")))


@pytest.fixture
def db(tmp_path):
    """Two blocks of the same 200 series (an hour each) and 150 series in the head."""
    d = tmp_path / "data"
    fill(d, 200, 240, T0, "flush")
    fill(d, 200, 240, T0 + HOUR, "flush")
    fill(d, 150, 20, T0 + 2 * HOUR, "head")
    return d


def test_json_report_counts_everything_once(db):
    p, r = inspect_json(db)
    assert p.returncode == 0, p.stderr
    assert r["ok"] is True and r["verified"] is True and r["problems"] == 0
    assert len(r["blocks"]) == 2
    # Totals count everything the directory holds: series in blocks and head once (the
    # head's 150 are among the blocks' 200), samples of both, bytes of blocks and WAL.
    assert r["series"] == 200
    assert r["samples"] == 2 * 200 * 240 + 150 * 20
    on_disk = sum(os.path.getsize(os.path.join(b, f)) for b in block_dirs(db)
                  for f in os.listdir(b))
    assert r["bytes"] == on_disk + r["wal"]["bytes"]
    assert r["bytes_per_sample"] == pytest.approx(r["bytes"] / r["samples"])
    assert r["min_time"] == "2025-11-22T00:00:00Z"
    assert r["max_time"] == "2025-11-22T02:04:45Z"
    # The blocks' part: series held by both blocks count once; samples add up; bytes
    # are what the blocks take on disk.
    bt = r["blocks_total"]
    assert bt["series"] == 200
    assert bt["samples"] == 2 * 200 * 240
    assert sum(b["samples"] for b in r["blocks"]) == bt["samples"]
    assert bt["bytes"] == on_disk
    assert bt["bytes"] == sum(b["bytes"] for b in r["blocks"])
    assert bt["index_bytes"] + bt["data_bytes"] < bt["bytes"]
    assert bt["bytes_per_sample"] == pytest.approx(bt["bytes"] / bt["samples"])
    assert bt["data_bytes_per_sample"] == pytest.approx(bt["data_bytes"] / bt["samples"])
    assert bt["index_bytes_per_series"] == pytest.approx(bt["index_bytes"] / bt["series"])
    assert bt["min_time"] == "2025-11-22T00:00:00Z"
    assert bt["max_time"] == "2025-11-22T01:59:45Z"
    # Nothing from the future here.
    assert r["future_blocks"] == 0 and r["wal"]["future_samples"] == 0
    assert r["future_bound"] > r["now"]
    first, second = r["blocks"]
    assert first["min_time_ms"] == T0 and first["max_time_ms"] == T0 + HOUR - STEP
    assert second["min_time_ms"] == T0 + HOUR
    for b in r["blocks"]:
        assert b["readable"] and b["verified"] and b["error"] is None
        assert b["series"] == 200 and b["samples"] == 48000 and b["level"] == 1
        assert os.path.isdir(b["dir"])
    # The head is what the WAL replay rebuilds.
    assert r["head"]["series"] == 150
    assert r["head"]["samples"] == 150 * 20
    assert r["head"]["min_time"] == "2025-11-22T02:00:00Z"
    assert r["wal"]["segments"] >= 1 and r["wal"]["bytes"] > 0
    assert r["wal"]["corruptions"] == 0


def test_series_spread_over_blocks_count_once(tmp_path):
    # Blocks holding overlapping sets of series: 0..199, 0..299, 0..99 and, on its own
    # range, 0..49 again. The merge must count 300.
    d = tmp_path / "data"
    for i, n in enumerate((200, 300, 100, 50)):
        fill(d, n, 8, T0 + i * HOUR, "flush")
    p, r = inspect_json(d)
    assert p.returncode == 0, p.stderr
    assert len(r["blocks"]) == 4
    assert [b["series"] for b in r["blocks"]] == [200, 300, 100, 50]
    assert r["series"] == 300
    assert r["samples"] == 8 * (200 + 300 + 100 + 50)


def test_text_report(db):
    p = run("tsdb", "inspect", str(db))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for b in block_dirs(db):
        assert os.path.basename(b) in out
    assert "Total:    200 series, 99000 samples" in out
    assert "Series:   200 (each counted once)" in out
    assert "Samples:  96000" in out
    assert "Per sample:" in out and "bytes per series" in out
    assert "Head (rebuilt from the WAL): 150 series, 3000 samples" in out
    assert "Verified: every block checksum and chunk is good." in out
    # Progress of the verification goes to the log, not the report.
    assert "verifying block 1 of 2" in p.stderr


def test_inspect_changes_nothing(db):
    # A torn tail on the newest WAL segment: the server would cut it; inspect only reports.
    wal = os.path.join(db, "wal")
    seg = max(f for f in os.listdir(wal) if f.isdigit())
    with open(os.path.join(wal, seg), "ab") as f:
        f.write(b"\x01\x02\x03")
    before = tree(db)
    p, r = inspect_json(db)
    assert p.returncode == 0, p.stderr
    assert r["wal"]["torn_tails"] == 1
    assert r["head"]["samples"] == 3000
    assert tree(db) == before


def test_damaged_chunk_fails_verification(db):
    b = block_dirs(db)[1]
    path = os.path.join(b, "chunks")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x55]))
    p, r = inspect_json(db)
    assert p.returncode == 1
    assert r["ok"] is False and r["verified"] is False and r["problems"] == 1
    bad = [x for x in r["blocks"] if x["error"]]
    assert len(bad) == 1 and bad[0]["id"] == os.path.basename(b)
    assert bad[0]["readable"] is True and bad[0]["verified"] is False
    assert "checksum" in bad[0]["error"] or "corrupt" in bad[0]["error"]
    # The other block is still reported in full.
    good = [x for x in r["blocks"] if not x["error"]]
    assert len(good) == 1 and good[0]["verified"]
    text = run("tsdb", "inspect", str(db))
    assert text.returncode == 1
    assert "FAILED" in text.stdout and "PROBLEMS: 1" in text.stdout
    # Without verification the damage inside a frame goes unseen, as documented.
    p, r = inspect_json(db, "--no-verify")
    assert p.returncode == 0 and r["verified"] is False
    assert all(not x["verified"] for x in r["blocks"])


def test_truncated_index_is_listed_unreadable(db):
    b = block_dirs(db)[0]
    path = os.path.join(b, "index")
    os.truncate(path, os.path.getsize(path) // 2)
    before = tree(db)
    p, r = inspect_json(db)
    assert p.returncode == 1
    bad = [x for x in r["blocks"] if not x["readable"]]
    assert len(bad) == 1 and bad[0]["id"] == os.path.basename(b) and bad[0]["error"]
    # Block totals cover the readable block only.
    assert r["blocks_total"]["samples"] == 48000 and r["blocks_total"]["series"] == 200
    assert r["samples"] == 48000 + 3000
    assert r["problems"] == 1 and r["ok"] is False
    assert "UNREADABLE" in run("tsdb", "inspect", str(db)).stdout
    # Read-only: the server would set the block aside as .corrupt; inspect does not.
    assert tree(db) == before
    # Opened for writing, the database sets the block aside; inspect keeps reporting it.
    fill(db, 10, 4, T0 + 3 * HOUR, "head")
    assert os.path.isdir(b + ".corrupt")
    p, r = inspect_json(db)
    assert p.returncode == 1
    bad = [x for x in r["blocks"] if not x["readable"]]
    assert len(bad) == 1 and bad[0]["id"] == os.path.basename(b) + ".corrupt"
    assert "set aside" in bad[0]["error"]


def test_corrupt_wal_is_a_problem(db):
    wal = os.path.join(db, "wal")
    segs = sorted(f for f in os.listdir(wal) if f.isdigit())
    path = os.path.join(wal, segs[-1])
    size = os.path.getsize(path)
    assert size > 64
    with open(path, "r+b") as f:
        f.seek(size // 3)
        f.write(b"\xff" * 8)
    p, r = inspect_json(db)
    assert p.returncode == 1
    assert r["wal"]["corruptions"] >= 1 and r["ok"] is False
    assert "CORRUPTION" in run("tsdb", "inspect", str(db)).stdout


def test_head_only_counts_in_totals(tmp_path):
    # After a graceful stop everything may still be in the head and the WAL: the totals
    # count it, and bytes per sample are the WAL's.
    d = tmp_path / "data"
    fill(d, 50, 40, T0, "head")
    p, r = inspect_json(d)
    assert p.returncode == 0, p.stderr
    assert r["blocks"] == [] and r["blocks_total"]["samples"] == 0
    assert r["series"] == 50 and r["samples"] == 2000
    assert r["bytes"] == r["wal"]["bytes"] > 0
    assert r["bytes_per_sample"] == pytest.approx(r["bytes"] / 2000)
    assert r["min_time"] == "2025-11-22T00:00:00Z"
    assert "Total:    50 series, 2000 samples" in run("tsdb", "inspect", str(d)).stdout


def test_future_samples_and_blocks_are_reported(tmp_path):
    # A directory as an older version left it after taking samples dated 2099: a block
    # and WAL samples beyond the future bound. Inspect says so and changes nothing.
    d = tmp_path / "data"
    t2099 = 4070908800000  # 2099-01-01T00:00:00Z
    fill(d, 20, 10, T0, "flush")
    fill(d, 5, 4, t2099, "flush")
    fill(d, 3, 2, t2099 + HOUR, "head")
    before = tree(d)
    p, r = inspect_json(d)
    assert p.returncode == 0, p.stderr
    assert r["future_blocks"] == 1
    assert r["wal"]["future_samples"] == 6
    assert r["wal"]["future_min_time"] == "2099-01-01T01:00:00Z"
    assert r["wal"]["future_max_time"] == "2099-01-01T01:00:15Z"
    assert r["head"]["samples"] == 0
    out = run("tsdb", "inspect", str(d)).stdout
    assert "FUTURE:   1 block(s)" in out and "FUTURE: 6 samples" in out
    assert tree(d) == before


def test_empty_database(tmp_path):
    d = tmp_path / "data"
    os.makedirs(d / "blocks")
    p, r = inspect_json(d)
    assert p.returncode == 0, p.stderr
    assert r["series"] == 0 and r["samples"] == 0 and r["bytes"] == 0
    assert r["bytes_per_sample"] is None and r["blocks"] == []
    assert "none yet" in run("tsdb", "inspect", str(d)).stdout


def test_usage_errors(tmp_path):
    p = run("tsdb", "inspect")
    assert p.returncode == 2 and "give the data directory" in p.stderr
    p = run("tsdb", "inspect", str(tmp_path), str(tmp_path))
    assert p.returncode == 2 and "one data directory" in p.stderr
    p = run("tsdb", "inspect", "--format", "xml", str(tmp_path))
    assert p.returncode == 2 and "xml" in p.stderr
    p = run("tsdb", "inspect", str(tmp_path / "missing"))
    assert p.returncode == 1 and "cannot read" in p.stderr and p.stdout == ""
    p = run("tsdb", "inspect", str(tmp_path))
    assert p.returncode == 1 and "not a kmon data directory" in p.stderr
    f = tmp_path / "file"
    f.write_text("x")
    p = run("tsdb", "inspect", str(f))
    assert p.returncode == 1 and "not a directory" in p.stderr
    p = run("tsdb", "frobnicate")
    assert p.returncode == 2 and "unknown command" in p.stderr
    for args in (("tsdb", "--help"), ("tsdb", "inspect", "--help"), ("help", "tsdb")):
        p = run(*args)
        assert p.returncode == 0 and "Usage: kmon tsdb" in p.stdout
    assert "tsdb" in run("--help").stdout
