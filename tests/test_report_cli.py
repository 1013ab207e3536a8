"""diagnose's output choices: -o's extension picks the format, bare format words are refused,
--fail-on gates the exit status, and every report says when it ran and when its evidence was taken."""

import json
import re

import pytest

from tests.helpers import EXAMPLES, run_cli
from tests.kube_bundles import cluster_diags

FORWARDING = EXAMPLES / "ip-forwarding-disabled.yaml"  # ip-forwarding-disabled 0.99 critical + proxy-arp 0.55 high
SKEW = EXAMPLES / "version-skew.yaml"


@pytest.mark.parametrize("name,check", [
    ("r.json", lambda text: json.loads(text)["schema"] == "calirules/report/v1"),
    ("r.JSON", lambda text: json.loads(text)["schema"] == "calirules/report/v1"),
    ("r.md", lambda text: text.startswith("# calirules diagnosis")),
    ("r.markdown", lambda text: text.startswith("# calirules diagnosis")),
    ("r.html", lambda text: text.startswith("<!DOCTYPE html>")),
    ("r.htm", lambda text: text.startswith("<!DOCTYPE html>")),
    ("r.txt", lambda text: text.startswith("calirules diagnosis for node")),
    ("r.text", lambda text: text.startswith("calirules diagnosis for node")),
    ("r.log", lambda text: text.startswith("calirules diagnosis for node")),
    ("report", lambda text: text.startswith("calirules diagnosis for node")),
])
def test_output_extension_picks_the_format(tmp_path, name, check):
    target = tmp_path / name
    code, out, err = run_cli("diagnose", "--facts", FORWARDING, "-o", target)
    assert code == 1 and out == "", err
    assert check(target.read_text())


def test_explicit_format_wins_over_the_extension(tmp_path):
    target = tmp_path / "r.html"
    code, _, err = run_cli("diagnose", "--facts", FORWARDING, "--format", "json", "-o", target)
    assert code == 1, err
    assert json.loads(target.read_text())["node"] == "vm"


@pytest.mark.parametrize("word,hint", [("json", "json"), ("yaml", "json"), ("text", "text"), ("html", "html"),
                                       ("markdown", "markdown"), ("md", "markdown"), ("JSON", "json")])
def test_bare_format_word_as_output_is_refused(tmp_path, monkeypatch, word, hint):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("diagnose", "--facts", FORWARDING, "-o", word)
    assert code == 2 and out == ""
    assert f"did you mean --format {hint}?" in err
    assert not (tmp_path / word).exists()


def test_a_path_or_an_existing_file_named_like_a_format_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("diagnose", "--facts", FORWARDING, "-o", "./json")
    assert code == 1, err
    assert (tmp_path / "json").read_text().startswith("calirules diagnosis")
    code, _, err = run_cli("diagnose", "--facts", FORWARDING, "-o", "json")  # exists now: the user means it
    assert code == 1, err


@pytest.mark.parametrize("gate,expected", [
    (None, 1), ("critical", 1), ("CRITICAL", 1), ("high", 1), ("low", 1), ("0.99", 1), ("0.5", 1), ("1", 0),
])
def test_fail_on(gate, expected):
    args = ("--fail-on", gate) if gate else ()
    code, _, err = run_cli("diagnose", "--facts", FORWARDING, *args)
    assert code == expected, (gate, err)


def test_fail_on_severity_below_the_gate_exits_0():
    _, report, _ = run_json(SKEW)
    found = [c for c in report["causes"] if c["found"]]
    assert found and all(c["severity"] == "high" for c in found), found
    assert run_cli("diagnose", "--facts", SKEW, "--fail-on", "critical")[0] == 0
    assert run_cli("diagnose", "--facts", SKEW, "--fail-on", "high")[0] == 1
    top = max(c["confidence"] for c in found)
    assert run_cli("diagnose", "--facts", SKEW, "--fail-on", f"{min(1, top + 0.01):.2f}")[0] == 0
    assert run_cli("diagnose", "--facts", SKEW, "--fail-on", f"{top - 0.01:.2f}")[0] == 1


def test_fail_on_healthy_node_exits_0():
    assert run_cli("diagnose", "--facts", EXAMPLES / "healthy.yaml", "--fail-on", "low")[0] == 0


@pytest.mark.parametrize("bad", ["severe", "1.5", "-0.1", "", "nan"])
def test_fail_on_invalid_value_exits_2_with_a_hint(bad):
    code, out, err = run_cli("diagnose", "--facts", FORWARDING, "--fail-on", bad)
    assert code == 2 and out == ""
    assert "--fail-on high" in err and "critical" in err


def run_json(path, *args):
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "json", *args)
    return code, json.loads(out), err


def test_reports_carry_version_and_times():
    from calirules import __version__
    _, report, _ = run_json(FORWARDING)
    assert report["calirules_version"] == __version__
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", report["generated_at"])
    assert "evidence_collected_at" not in report  # an example dump written before the field: unknown


def test_cluster_diags_directory_name_gives_the_evidence_time(tmp_path):
    bundle = cluster_diags(tmp_path)
    code, out, err = run_cli("diagnose", "--bundle", bundle, "--format", "json")
    assert code in (0, 1), err
    reports = json.loads(out)["reports"]
    assert [r["evidence_collected_at"] for r in reports] == ["2026-11-01T10:00:00"] * 2
    for fmt, needle in (("text", "evidence collected 2026-11-01T10:00:00"),
                        ("html", "evidence collected 2026-11-01T10:00:00"),
                        ("markdown", "evidence collected 2026-11-01T10:00:00")):
        assert needle in run_cli("diagnose", "--bundle", bundle, "--format", fmt)[1], fmt


def test_collected_dump_keeps_the_evidence_time(tmp_path):
    bundle = cluster_diags(tmp_path)
    dump = tmp_path / "node-a.yaml"
    code, _, err = run_cli("collect", "--bundle", bundle, "--node", "node-a", "-o", dump)
    assert code == 0, err
    assert "evidence_collected_at: '2026-11-01T10:00:00'" in dump.read_text()
    _, report, _ = run_json(dump)
    assert report["evidence_collected_at"] == "2026-11-01T10:00:00"


class _Source:
    def __init__(self, files, label, top=None):
        self.files, self.label, self.top = files, label, top

    def read_text(self, path):
        return self.files.get(path)


@pytest.mark.parametrize("files,label,top,expected", [
    ({"sos_reports/manifest.json": json.dumps({"start_time": "2026-10-30 09:15:02.123456"})}, "x", None,
     "2026-10-30T09:15:02"),
    ({"sos_reports/manifest.json": json.dumps({"components": {"report": {"start_time": "Fri Oct 30 09:15:02 2026"}}})},
     "x", None, "2026-10-30T09:15:02"),
    ({"sos_reports/manifest.json": json.dumps({"start_time": "2026-10-30T09:15:02+02:00"})}, "x", None,
     "2026-10-30T07:15:02Z"),
    ({"sos_reports/manifest.json": "not json"}, "/b/sosreport-n1-2026-11-01-abcdefg.tar.xz", None, "2026-11-01"),
    ({}, "/b/bundle.tar.xz", "sosreport-n1-case-2026-11-02-x1y2z3", "2026-11-02"),
    ({}, "/b/sosreport-n1-20200131235959.tar.xz", None, "2020-01-31T23:59:59"),
    ({}, "/b/diags-20261101_100000.tar.gz", None, "2026-11-01T10:00:00"),
    ({}, "/b/bundle-2026-13-45.tar", None, None),   # not a date
    ({}, "/b/bundle.tar", None, None),
])
def test_evidence_time_from_manifest_and_names(files, label, top, expected):
    from calirules.facts_collectors.evidence_time import evidence_time
    assert evidence_time(_Source(files, label, top)) == expected
