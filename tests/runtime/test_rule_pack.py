"""The default rule pack (rules/default/*.yaml) judged by the real promtool (Debian's
prometheus package): every rule file passes `promtool check rules` (lint included), every
unit-test file under tests/rules passes `promtool test rules`, and every alert the issue
asks for is in the pack with a unit test that sees it fire. The same files go through
`kmon rules check` and, once kmon has it, `kmon rules test`."""
import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import KMON

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACK = os.path.join(ROOT, "rules", "default")
TESTS = os.path.join(ROOT, "tests", "rules")
RULE_FILES = sorted(glob.glob(os.path.join(PACK, "*.yaml")))
TEST_FILES = sorted(glob.glob(os.path.join(TESTS, "*_test.yaml")))
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool is not installed (apt-get install prometheus)"

# The alerts issue 13 names for the pack ("Default rule pack"), with the names kmon gives
# to its own: the agent not reporting is KmonAgentDown; WAL or disk errors are
# KmonWALCorruption and KmonStorageWriteFailures.
REQUIRED_ALERTS = [
    "KubePodCrashLooping",
    "KubePodNotReady",
    "KubeContainerWaiting",
    "KubeDeploymentReplicasMismatch",
    "KubeDeploymentRolloutStuck",
    "KubeStatefulSetReplicasMismatch",
    "KubeDaemonSetRolloutStuck",
    "KubeJobFailed",
    "KubeHpaMaxedOut",
    "KubeNodeNotReady",
    "KubeNodeUnreachable",
    "KubeletTooManyPods",
    "KubeCPUOvercommit",
    "KubeMemoryOvercommit",
    "CPUThrottlingHigh",
    "KubePersistentVolumeFillingUp",
    "NodeFilesystemSpaceFillingUp",
    "NodeFilesystemAlmostOutOfSpace",
    "NodeMemoryHighUtilization",
    "NodeHighNumberConntrackEntriesUsed",
    "KmonAgentDown",
    "Watchdog",
    "KmonIngestRefusing",
    "KmonWALCorruption",
    "KmonStorageWriteFailures",
    "KmonAgentSpoolDropping",
    "KmonDataDirectoryNearlyFull",
    "KmonRuleEvaluationFailures",
]

# Where the runbooks of kmon's own alerts live; the mixin's are on the prometheus-operator
# runbook site.
OWN_RUNBOOKS = os.path.join(ROOT, "docs", "runbooks.md")


def rel(path):
    return os.path.relpath(path, ROOT)


def alert_blocks(path):
    """(name, text of the rule) for each alerting rule of a pack file. The pack's files are
    formatted alike (two-space indent, `- alert:` / `- record:` starting each rule), which
    is all this needs; promtool has already judged them as YAML."""
    with open(path) as f:
        text = f.read()
    starts = [m for m in re.finditer(r"^\s*- (alert|record): *(\S+)", text, re.M)]
    out = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        if m.group(1) == "alert":
            out.append((m.group(2), text[m.start():end]))
    return out


def pack_alerts():
    """{alert name: [(file, rule text), …]} over the whole pack."""
    alerts = {}
    for path in RULE_FILES:
        for name, block in alert_blocks(path):
            alerts.setdefault(name, []).append((path, block))
    return alerts


def fired_in_tests():
    """{alert name: {test file, …}} for each alert_rule_test that expects the alert to be
    firing (a non-empty exp_alerts)."""
    fired = {}
    for path in TEST_FILES:
        with open(path) as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\s*alertname: *(\S+)\s*$", line)
            if not m:
                continue
            rest = [l for l in lines[i + 1:i + 4] if l.strip()]
            if len(rest) >= 2 and re.match(r"^\s*exp_alerts:\s*$", rest[0]) and \
                    re.match(r"^\s*- exp_labels:", rest[1]):
                fired.setdefault(m.group(1), set()).add(path)
    return fired


def test_the_pack_and_its_tests_are_there():
    assert len(RULE_FILES) >= 6, RULE_FILES
    assert len(TEST_FILES) >= 6, TEST_FILES
    for path in RULE_FILES:
        assert path.endswith(".yaml")


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMTOOL)
@pytest.mark.parametrize("path", RULE_FILES, ids=[os.path.basename(p) for p in RULE_FILES])
def test_promtool_check_rules(path):
    p = subprocess.run([PROMTOOL, "check", "rules", path], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout, p.stdout
    # No lint finding either (duplicate rules are reported on stderr with status 0 by
    # some versions).
    assert "lint" not in p.stderr.lower(), p.stderr


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMTOOL)
@pytest.mark.parametrize("path", TEST_FILES, ids=[os.path.basename(p) for p in TEST_FILES])
def test_promtool_test_rules(path):
    # promtool resolves rule_files against the test file's directory.
    p = subprocess.run([PROMTOOL, "test", "rules", os.path.basename(path)],
                       cwd=os.path.dirname(path), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "SUCCESS" in p.stdout and "FAILED" not in p.stdout + p.stderr, p.stdout + p.stderr


def test_every_test_file_reads_pack_files():
    for path in TEST_FILES:
        with open(path) as f:
            text = f.read()
        files = re.findall(r"^\s*- (\.\./\.\./rules/default/\S+\.yaml)\s*$", text, re.M)
        assert files, f"{rel(path)} names no rule file of the pack"
        for name in files:
            assert os.path.exists(os.path.join(TESTS, name)), (rel(path), name)


@pytest.mark.parametrize("name", REQUIRED_ALERTS)
def test_required_alert_is_in_the_pack_with_a_test(name):
    alerts = pack_alerts()
    assert name in alerts, f"{name} is not in rules/default/*.yaml"
    fired = fired_in_tests()
    assert name in fired, f"no test under tests/rules sees {name} fire"


def test_every_alert_of_the_pack_has_a_firing_test():
    fired = fired_in_tests()
    missing = sorted(set(pack_alerts()) - set(fired))
    assert not missing, f"alerts without a firing test: {missing}"


def test_alerts_carry_severity_summary_description_and_runbook():
    with open(OWN_RUNBOOKS) as f:
        runbooks = f.read()
    for name, rules in pack_alerts().items():
        for path, block in rules:
            where = f"{name} in {rel(path)}"
            assert re.search(r"^\s+severity: (critical|warning|info|none)\s*$", block, re.M), where
            assert re.search(r"^\s+summary: \S", block, re.M), where
            assert re.search(r"^\s+description: \S", block, re.M), where
            m = re.search(r"^\s+runbook_url: (\S+)\s*$", block, re.M)
            assert m, where
            url = m.group(1)
            if name.startswith("Kmon"):
                assert url == f"docs/runbooks.md#{name}", (where, url)
                assert f'<a id="{name}"></a>' in runbooks, f"docs/runbooks.md has no {name}"
            else:
                assert re.fullmatch(
                    r"https://runbooks\.prometheus-operator\.dev/runbooks/"
                    r"(kubernetes|node|general)/" + name.lower(), url), (where, url)


def kmon_usable():
    return os.path.exists(KMON) and os.access(KMON, os.X_OK)


@pytest.mark.skipif(not PROMTOOL, reason=NO_PROMTOOL)
@pytest.mark.parametrize("path", RULE_FILES, ids=[os.path.basename(p) for p in RULE_FILES])
def test_kmon_rules_check_agrees_with_promtool(path):
    if not kmon_usable():
        pytest.skip(f"{KMON} is not built")
    want = subprocess.run([PROMTOOL, "check", "rules", os.path.basename(path)], cwd=PACK,
                          capture_output=True, text=True, timeout=60)
    got = subprocess.run([KMON, "rules", "check", os.path.basename(path)], cwd=PACK,
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == want.returncode == 0, got.stdout + got.stderr
    assert got.stdout == want.stdout


@pytest.mark.parametrize("path", TEST_FILES, ids=[os.path.basename(p) for p in TEST_FILES])
def test_kmon_rules_test(path):
    if not kmon_usable():
        pytest.skip(f"{KMON} is not built")
    p = subprocess.run([KMON, "rules", "test", os.path.basename(path)],
                       cwd=os.path.dirname(path), capture_output=True, text=True, timeout=300)
    if 'unknown command "test"' in p.stderr:
        pytest.skip("this kmon has no `kmon rules test` yet")
    assert p.returncode == 0, p.stdout + p.stderr
