"""Saved reports as fleet input: DaemonSet logs (`kubectl logs --prefix`: one compact report per
line behind `[pod/NAME/CONTAINER] `, several runs per node) and `diagnose --format json` files."""

import json

from tests.fleet.bundles import cluster_diags, dump, fleet_json, report
from tests.helpers import run_cli


def line(doc, pod):
    return f"[pod/{pod}/calirules] {json.dumps(doc, separators=(',', ':'))}"


def test_daemonset_logs_newest_run_per_node_wins(tmp_path):
    healthy = report(dump(tmp_path, "healthy.yaml", "ds1", ip="198.19.0.21"))
    broken = report(dump(tmp_path, "ip-forwarding-disabled.yaml", "ds1", ip="198.19.0.21"))
    other = report(dump(tmp_path, "healthy.yaml", "ds2", ip="198.19.0.22"))
    broken["generated_at"], healthy["generated_at"] = "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"
    other["generated_at"] = "2026-12-01T09:00:00Z"
    logs = tmp_path / "logs"
    logs.mkdir()
    # kubectl logs of two pods: the newer healthy run of ds1 comes first in the file, so file order
    # cannot be what decides; log noise and a line cut short are skipped.
    (logs / "calirules.log").write_text("\n".join([
        line(healthy, "calirules-abcde"),
        "[pod/calirules-abcde/calirules] calirules: collecting ...",
        line(broken, "calirules-abcde"),
        line(other, "calirules-fghij")[:-40],
        line(other, "calirules-fghij"),
        ""]))
    code, doc, _ = fleet_json(logs)
    assert [(e["node"], e["verdict"], e["generated_at"]) for e in doc["nodes"]] == [
        ("ds1", "healthy", "2026-12-01T11:00:00Z"), ("ds2", "healthy", "2026-12-01T09:00:00Z")]
    assert doc["nodes"][0]["source"] == str(logs / "calirules.log")
    assert code == 0
    # Without the prefix (kubectl logs without --prefix) the same lines are read the same way.
    plain = tmp_path / "plain.log"
    plain.write_text(json.dumps(broken, separators=(",", ":")) + "\n")
    code, doc, _ = fleet_json(plain)
    assert [(e["node"], e["verdict"]) for e in doc["nodes"]] == [("ds1", "found")] and code == 1


def test_diagnose_json_files_indented_and_of_a_cluster_bundle(tmp_path):
    one = tmp_path / "one.json"
    code, out, _ = run_cli("diagnose", "--facts", dump(tmp_path, "healthy.yaml", "j1"), "--format", "json", "-o", one)
    cluster = cluster_diags(tmp_path, {"c1": {"ip": "198.18.0.31"}, "c2": {"ip": "198.18.0.32"}})
    many = tmp_path / "cluster.json"
    run_cli("diagnose", "--bundle", cluster, "--format", "json", "-o", many)
    code, doc, _ = fleet_json(one, many)
    assert sorted(e["node"] for e in doc["nodes"]) == ["c1", "c2", "j1"]
    assert all(e["node_facts"]["hostname"] == e["node"] for e in doc["nodes"])  # cross-node findings can read them


def test_a_report_that_does_not_fit_its_schema_is_an_error_row(tmp_path):
    doc = report(dump(tmp_path, "healthy.yaml", "s1"))
    doc["causes"] = "none"
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    code, fleet, _ = fleet_json(tmp_path / "bad.json")
    assert code == 2 and fleet["nodes"][0]["verdict"] == "error"
    assert fleet["nodes"][0]["error"].startswith("a calirules report that does not fit its schema")
