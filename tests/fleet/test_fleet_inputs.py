"""`calirules fleet` over real bundles and dumps: every kind of PATH, errors as rows, exit status."""

import json
import tarfile

import jsonschema_rs
import pytest

from tests.fleet.bundles import cluster_diags, dump, fleet_json, sosreport
from tests.helpers import EXAMPLES, REPO, run_cli

FLEET_SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/fleet-v1.schema.json").read_text()))
REPORT_SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/report-v1.schema.json").read_text()))


def by_node(doc):
    return {(e["node"], e["source"]): e for e in doc["nodes"]}


def test_every_kind_of_path_and_every_error_is_a_row(tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    sos = sosreport(good, "n1")
    cluster = cluster_diags(good, {"c1": {"ip": "198.18.0.31", "block": "198.18.129.0/26"},
                                   "c2": {"ip": "198.18.0.32", "block": "198.18.130.0/26"}})
    facts = dump(good, "healthy.yaml", "d1", ip="198.19.0.9")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.tar.gz").write_bytes(b"\x1f\x8b\x08\x00 this is not a gzip stream")
    empty_sos = bad / "sosreport-empty"
    (empty_sos / "sos_commands").mkdir(parents=True)
    (empty_sos / "version.txt").write_text("sos report: 4.12.0\n")
    (bad / "garbage.yaml").write_text("apiVersion: [unclosed\n")
    code, doc, err = fleet_json(good, bad, tmp_path / "missing", "--jobs", "2")
    FLEET_SCHEMA.validate(doc)
    rows = {e["source"]: e for e in doc["nodes"]}
    assert {e["node"] for e in doc["nodes"] if e["verdict"] != "error"} == {"n1", "c1", "c2", "d1"}
    assert rows[str(sos)]["verdict"] == "found"
    assert rows[f"{cluster} (node c1)"]["node"] == "c1"
    assert rows[str(facts)]["verdict"] == "healthy" and rows[str(facts)]["causes"] == []
    errors = {e["source"]: e["error"] for e in doc["nodes"] if e["verdict"] == "error"}
    assert set(errors) == {str(bad / "broken.tar.gz"), str(empty_sos), str(bad / "garbage.yaml"),
                           str(tmp_path / "missing")}
    assert "found none of network interfaces, routes, sysctls" in errors[str(empty_sos)]
    assert errors[str(tmp_path / "missing")] == "no such file or directory"
    assert all("\n" not in reason and reason for reason in errors.values())
    assert doc["summary"] == {"nodes": 8, "found": 3, "healthy": 1, "inconclusive": 0, "error": 4}
    assert code == 1  # a cause was found on some node; the errors do not fail the run


def test_exit_0_when_no_node_has_a_cause(tmp_path):
    paths = [dump(tmp_path, "healthy.yaml", f"h{i}", ip=f"198.19.0.{i + 10}") for i in range(2)]
    code, doc, _ = fleet_json(*paths)
    assert code == 0 and [e["verdict"] for e in doc["nodes"]] == ["healthy", "healthy"]


def test_exit_2_when_no_path_yields_a_node(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here\n")
    code, doc, err = fleet_json(tmp_path / "notes.txt", tmp_path / "missing")
    assert code == 2 and "no PATH gave a node" in err
    assert [e["verdict"] for e in doc["nodes"]] == ["error", "error"]  # still says why, row by row


def test_a_worker_that_dies_fails_only_its_own_node(tmp_path, monkeypatch):
    """A real process death (as the OOM killer would cause), not an exception: the pool forks
    after the patch, so the worker runs it."""
    import os

    from calirules.fleet import pool, worker
    from calirules.fleet.inputs import Job
    crash = dump(tmp_path, "healthy.yaml", "crash")
    fine = dump(tmp_path, "healthy.yaml", "fine", ip="198.19.0.7")
    real = worker._run

    def dying(job):
        if job.path == str(crash):
            os._exit(9)
        return real(job)

    monkeypatch.setattr(worker, "_run", dying)
    if "fork" not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip("needs fork to carry the patch into the workers")
    results = {job.path: result for job, result in
               pool.run_jobs([Job("facts", str(crash)), Job("facts", str(fine)), Job("facts", str(fine))], 2, ())}
    assert results[str(crash)] == {"error": "the diagnosis process died (exit status 9)"}
    assert results[str(fine)]["report"]["node"] == "fine"


def test_cluster_diags_is_a_fleet_and_diagnose_still_reads_it(tmp_path):
    cluster = cluster_diags(tmp_path, {"c1": {"ip": "198.18.0.31"}, "c2": {"ip": "198.18.0.32"}})
    code, doc, _ = fleet_json(cluster, "--jobs", "2")
    assert sorted(e["node"] for e in doc["nodes"]) == ["c1", "c2"] and code == 1
    code, out, err = run_cli("diagnose", "--bundle", cluster, "--format", "json")
    assert code == 1, err
    assert [r["node"] for r in json.loads(out)["reports"]] == ["c1", "c2"]


def test_a_cluster_diags_directory_is_one_fleet_not_a_folder_to_walk(tmp_path):
    cluster = cluster_diags(tmp_path, {"c1": {"ip": "198.18.0.31"}, "c2": {"ip": "198.18.0.32"}}, archive=False)
    code, doc, _ = fleet_json(tmp_path)
    assert sorted((e["node"], e["source"]) for e in doc["nodes"]) == [
        ("c1", f"{cluster} (node c1)"), ("c2", f"{cluster} (node c2)")]


def test_report_json_carries_node_facts(tmp_path):
    sos = sosreport(tmp_path, "n1", calico="v3.29.1", kubernetes="v1.30.4")
    code, out, err = run_cli("diagnose", "--sosreport", sos, "--format", "json")
    report = json.loads(out)
    REPORT_SCHEMA.validate(report)
    facts = report["node_facts"]
    assert facts["hostname"] == "n1" and facts["node_ips"] == ["198.18.0.10"]
    assert facts["calico_version"] == "v3.29.1" and facts["kubernetes_version"] == "v1.30.4"
    assert facts["blocks"] == ["198.18.128.0/26"]
    assert facts["mtu"]["uplink"] == 1500 and facts["mtu"]["tunnels"] == {"vxlan.calico": 1450}
    assert facts["encapsulation"] == ["vxlan"]


def test_an_archive_sosreport_is_one_node(tmp_path):
    root = sosreport(tmp_path, "arch1")
    archive = tmp_path / "sosreport-arch1.tar.xz"
    with tarfile.open(archive, "w:xz") as tar:
        tar.add(root, arcname=root.name)
    code, doc, _ = fleet_json(archive)
    assert [(e["node"], e["verdict"]) for e in doc["nodes"]] == [("arch1", "found")]


def test_bad_usage(tmp_path):
    path = dump(tmp_path, "healthy.yaml", "h1")
    assert run_cli("fleet")[0] == 2
    code, _, err = run_cli("fleet", path, "-o", "json")
    assert code == 2 and "--format json" in err
    assert run_cli("fleet", path, "--jobs", "0")[0] == 2
    assert run_cli("fleet", path, "--rules-dir", tmp_path / "nope")[0] == 2


def test_a_symlink_loop_in_a_walked_folder_is_walked_once(tmp_path):
    dump(tmp_path, "healthy.yaml", "h1")
    (tmp_path / "loop").symlink_to(tmp_path)
    code, doc, _ = fleet_json(tmp_path)
    assert [e["node"] for e in doc["nodes"]] == ["h1"] and code == 0
