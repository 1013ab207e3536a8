"""The DaemonSet's log as `kubectl logs --prefix` hands it over (a real sample, made in the lab by
tests/k8s/make_daemonset_logs.py): every line is a prefix and one calirules/report/v1 document,
and `calirules fleet` reads the folder as a fleet, newest report per node."""

import json
import re

import jsonschema_rs
import pytest

from tests.helpers import REPO, run_cli

LOGS = REPO / "tests" / "fixtures" / "k8s" / "daemonset-logs"
PREFIX = re.compile(r"^\[pod/(?P<pod>[a-z0-9-]+)/(?P<container>[a-z0-9-]+)\] (?P<line>.*)$")
SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/report-v1.schema.json").read_text()))


def _entries():
    for path in sorted(LOGS.glob("*.log")):
        for line in path.read_text().splitlines():
            match = PREFIX.match(line)
            assert match, line[:120]
            yield match["pod"], match["container"], match["line"]


def test_every_line_is_one_prefixed_report():
    entries = list(_entries())
    assert len(entries) == 4
    for _pod, container, line in entries:
        assert container == "calirules"
        report = json.loads(line)
        SCHEMA.validate(report)


def test_newest_report_per_node_is_the_nodes_state():
    newest = {}
    for pod, _container, line in _entries():
        report = json.loads(line)
        if report["node"] not in newest or report["generated_at"] > newest[report["node"]]["generated_at"]:
            newest[report["node"]] = report
    assert {node: r["verdict"] for node, r in newest.items()} == {"ck4-worker-a": "healthy", "ck4-worker-b": "found"}
    assert [c["id"] for c in newest["ck4-worker-b"]["causes"] if c["found"]] == ["forward-policy-drop"]


def test_fleet_reads_the_daemonset_logs():
    pytest.importorskip("calirules.fleet", reason="calirules fleet is not on this branch")
    code, out, err = run_cli("fleet", LOGS, "--format", "json")
    assert code in (0, 1), err
    fleet = json.loads(out)
    assert fleet["schema"] == "calirules/fleet/v1"
    verdicts = {n["node"]: n["verdict"] for n in fleet["nodes"]}
    assert verdicts == {"ck4-worker-a": "healthy", "ck4-worker-b": "found"}
    broken = next(n for n in fleet["nodes"] if n["node"] == "ck4-worker-b")
    assert "forward-policy-drop" in [c["id"] for c in broken["causes"]]
