"""The DaemonSet's own command line (taken from `calirules k8s manifests`, not retyped), run in a
lab node namespace as the container sees it (tests/k8s/node_view.py), with only the capabilities
the manifest declares: a healthy node is Ready and logs a healthy report; an injected fault makes
it NotReady and the cause is in its report. Dropping any one declared capability loses the
evidence that capability is there for: the list is enough, and each entry is needed."""

import json

import jsonschema_rs
import pytest
from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.helpers import REPO
from tests.k8s.lab_support import PREFIX, agent_lines
from tests.k8s.node_view import run_agent_on_lab
from tests.lab.support import skip_unless_lab

pytestmark = pytest.mark.lab

REPORT_SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/report-v1.schema.json").read_text()))


def _report(run):
    (line,) = run.stdout.splitlines()  # one run before SIGTERM: exactly one line
    report = json.loads(line)
    REPORT_SCHEMA.validate(report)
    assert report["schema"] == "calirules/report/v1"
    return report


def test_healthy_node_is_ready_with_a_healthy_report(tmp_path):
    skip_unless_lab("legacy")
    agent, probe, capabilities = agent_lines()
    with Lab(f"{PREFIX}-ok", pods=2, backend="legacy") as lab:
        assert lab.ping(0, 1)
        run = run_agent_on_lab(lab, agent, probe, capabilities, tmp_path, hostname="ck4-worker")
    report = _report(run)
    assert report["verdict"] == "healthy" and report["node"] == "ck4-worker"
    assert not [c["id"] for c in report["causes"] if c["found"]]
    assert run.status == "ready healthy\n" and run.probe_code == 0
    assert run.agent_code == 0 and run.stderr == ""  # SIGTERM: a clean exit
    # nothing the declared capabilities should read went missing
    missing = " ".join(m.get("reason", "") for m in report["missing_evidence"])
    assert "ermission" not in missing and "not permitted" not in missing


def test_fault_makes_the_node_not_ready_with_the_cause(tmp_path):
    skip_unless_lab("nft")
    agent, probe, capabilities = agent_lines()
    with Lab(f"{PREFIX}-drop", pods=2, backend="nft") as lab:
        faults.inject(lab, "forward-policy-drop")
        assert not lab.ping(0, 1)
        run = run_agent_on_lab(lab, agent, probe, capabilities, tmp_path)
    report = _report(run)
    assert report["verdict"] == "found"
    assert report["causes"][0]["id"] == "forward-policy-drop" and report["causes"][0]["found"]
    assert run.status.startswith("not-ready found: forward-policy-drop")
    assert run.probe_code != 0 and run.agent_code == 0


# capability -> the evidence lost without it (what the collection reports missing)
NEEDED_FOR = {"NET_RAW": "iptables-legacy-save", "NET_ADMIN": "iptables-nft-save",
              "SYS_ADMIN": "pod-side addresses, routes and neighbours"}


def test_each_declared_capability_is_needed(tmp_path):
    skip_unless_lab("legacy")
    agent, probe, capabilities = agent_lines()
    assert sorted(capabilities) == sorted(NEEDED_FOR)
    with Lab(f"{PREFIX}-caps", pods=2, backend="legacy") as lab:
        for dropped in capabilities:
            scratch = tmp_path / dropped
            scratch.mkdir()
            kept = [c for c in capabilities if c != dropped]
            report = _report(run_agent_on_lab(lab, agent, probe, kept, scratch))
            missing = [m["what"] for m in report["missing_evidence"]]
            assert any(NEEDED_FOR[dropped] in what for what in missing), (dropped, missing)


def test_without_pod_namespaces_the_smaller_set_is_enough_for_the_node(tmp_path):
    skip_unless_lab("legacy")
    agent, probe, capabilities = agent_lines("--no-pod-namespaces")
    assert "SYS_ADMIN" not in capabilities
    with Lab(f"{PREFIX}-nopods", pods=2, backend="legacy") as lab:
        faults.inject(lab, "forward-policy-drop")
        report = _report(run_agent_on_lab(lab, agent, probe, capabilities, tmp_path))
    assert report["causes"][0]["id"] == "forward-policy-drop" and report["causes"][0]["found"]
