"""`kmon rules check` judged by the real promtool (Debian's prometheus package): every
rule file under tests/fixtures/rules gives the same exit status and the same error lines
as `promtool check rules` (promtool repeats some errors from its second decoding pass; the
repeats are not expected of kmon)."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import FIXTURES, KMON

PROMTOOL = shutil.which("promtool")
RULES = os.path.join(FIXTURES, "rules")
FILES = sorted(glob.glob(os.path.join(RULES, "good", "*.yaml")) +
               glob.glob(os.path.join(RULES, "bad", "*.yaml")))


def check(tool, path):
    p = subprocess.run([tool, "check", "rules", os.path.basename(path)], cwd=os.path.dirname(path),
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def error_lines(stderr):
    """The error lines after FAILED:, without promtool's second-pass artefacts (its decoding
    into the unexported rulefmt.ruleGroups repeats what the first pass said)."""
    lines = [l for l in stderr.splitlines() if l.strip() and l.strip() != "FAILED:"]
    return {l for l in lines if "rulefmt.ruleGroups" not in l}


@pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (apt-get install prometheus)")
@pytest.mark.parametrize("path", FILES, ids=[os.path.relpath(f, RULES) for f in FILES])
def test_check_matches_promtool(path):
    want_rc, want_out, want_err = check(PROMTOOL, path)
    got_rc, got_out, got_err = check_kmon(path)
    assert got_rc == want_rc, (got_out, got_err, want_err)
    assert error_lines(got_err) == error_lines(want_err)
    assert got_out == want_out


def check_kmon(path):
    p = subprocess.run([KMON, "rules", "check", os.path.basename(path)],
                       cwd=os.path.dirname(path), capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_good_and_bad_files_are_there():
    assert len(glob.glob(os.path.join(RULES, "good", "*.yaml"))) >= 5
    assert len(glob.glob(os.path.join(RULES, "bad", "*.yaml"))) >= 15


def test_duplicate_rules_are_a_lint_finding_fatal_only_when_asked():
    path = os.path.join(RULES, "good", "duplicates.yaml")
    rc, out, err = check_kmon(path)
    assert rc == 0, err
    assert "2 duplicate rule(s) found." in err
    assert "Metric: r2\nLabel(s):\n\tx: y\n" in err
    p = subprocess.run([KMON, "rules", "check", "--lint-fatal", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 3
    p = subprocess.run([KMON, "rules", "check", "--lint=none", path], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stderr == ""
    assert "SUCCESS: 4 rules found" in p.stdout


def test_several_files_and_a_missing_one():
    good = os.path.join(RULES, "good", "ok.yaml")
    p = subprocess.run([KMON, "rules", "check", good, "/nonexistent/rules.yaml", good],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert p.stdout.count("SUCCESS: 2 rules found") == 2
    assert "/nonexistent/rules.yaml: open /nonexistent/rules.yaml: No such file or directory" \
        in p.stderr


def test_usage_errors_and_help():
    p = subprocess.run([KMON, "rules", "check"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "give one or more files" in p.stderr
    p = subprocess.run([KMON, "rules", "check", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and "kmon rules check" in p.stdout
    p = subprocess.run([KMON, "rules", "--help"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "check" in p.stdout
    p = subprocess.run([KMON, "rules", "nope"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and 'unknown command "nope"' in p.stderr


def test_alias_bomb_is_refused_quickly():
    p = subprocess.run([KMON, "rules", "check", os.path.join(RULES, "bad", "alias-bomb.yaml")],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert "excessive aliasing" in p.stderr
