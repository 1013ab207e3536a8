"""Reports without node_facts (an older calirules) are not compared: the fleet says so instead of
claiming that every node agrees."""

import json

from tests.helpers import REPO, run_cli

LOGS = REPO / "tests" / "fixtures" / "k8s" / "daemonset-logs"


def _without_node_facts(tmp_path):
    lines = []
    for line in (LOGS / "nodes.log").read_text().splitlines():
        prefix, brace, rest = line.partition("{")
        doc = json.loads(brace + rest)
        doc.pop("node_facts", None)
        lines.append(prefix + json.dumps(doc, separators=(",", ":")))
    path = tmp_path / "old.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_nodes_without_node_facts_are_listed_as_not_compared(tmp_path):
    path = _without_node_facts(tmp_path)
    code, out, err = run_cli("fleet", path, "--format", "json")
    doc = json.loads(out)
    assert sorted(doc["not_compared"]) == sorted(n["node"] for n in doc["nodes"] if n["verdict"] != "error"), doc
    _, text, _ = run_cli("fleet", path)
    assert "between the nodes compared" in text and "Not compared" in text


def test_nodes_with_node_facts_are_all_compared():
    code, out, err = run_cli("fleet", LOGS, "--format", "json")
    doc = json.loads(out)
    assert all(n.get("node_facts") for n in doc["nodes"]) and doc["not_compared"] == []
