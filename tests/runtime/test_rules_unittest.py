"""`kmon rules test` judged by the real promtool: every unit-test file under
tests/fixtures/rules/unittest gives the same exit status as `promtool test rules`, and the
same report word for word (test failures, rule-file errors, YAML errors); only where the
two parsers word a broken input series differently is just the failure compared."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import FIXTURES, KMON

PROMTOOL = shutil.which("promtool")
DIR = os.path.join(FIXTURES, "rules", "unittest")
FILES = sorted(glob.glob(os.path.join(DIR, "*_test.yaml")))
WORDED_DIFFERENTLY = {"syntax_test.yaml"}


def run(cmd, path):
    p = subprocess.run([*cmd, os.path.basename(path)], cwd=os.path.dirname(path),
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (apt-get install prometheus)")
@pytest.mark.parametrize("path", FILES, ids=[os.path.basename(f) for f in FILES])
def test_same_as_promtool(path):
    want_rc, want = run([PROMTOOL, "test", "rules"], path)
    got_rc, got = run([KMON, "rules", "test"], path)
    assert got_rc == want_rc, got
    if os.path.basename(path) in WORDED_DIFFERENTLY:
        assert "FAILED" in got
    else:
        assert got == want


def test_the_fixtures_cover_passing_and_failing_files():
    names = {os.path.basename(f) for f in FILES}
    assert {"basic_test.yaml", "basic_failing_test.yaml", "more_test.yaml",
            "broken_rules_test.yaml"} <= names


def test_several_files_and_usage():
    ok = os.path.join(DIR, "basic_test.yaml")
    p = subprocess.run([KMON, "rules", "test", ok, ok], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0 and p.stdout.count("SUCCESS") == 2
    p = subprocess.run([KMON, "rules", "test", ok, "/nonexistent_test.yaml"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "no such file" in p.stderr.lower()
    p = subprocess.run([KMON, "rules", "test"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "give one or more files" in p.stderr
    p = subprocess.run([KMON, "rules", "test", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and "promtool" in p.stdout
