"""Offline bundles written from the lab with the real tools' layouts diagnose like the live node.

The sosreport writer follows sos's gating (no host iptables-save; nft ruleset; iptables listings
only for tables nft shows), so a legacy-backend node needs the calirules sos-extras file for its
iptables to be in the report at all: with it, every fault must rank first offline exactly as
live; without it, nothing may be claimed and the missing evidence must say what to collect.
"""

import json

import pytest
import yaml
from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.helpers import REPO, run_cli
from tests.lab.cases import DIAGNOSED, LabCase, symptom_is_real
from tests.lab.support import new_prefix, skip_unless_lab

IPTABLES_FAULTS = {"forward-policy-drop", "host-firewall-rejects", "iptables-backend-mismatch", "calico-chains-missing",
                   "policy-denies", "endpoint-not-programmed"}


def diagnose(*args):
    code, out, err = run_cli("diagnose", *args, "--format", "json")
    assert code in (0, 1), err
    return json.loads(out)


def ranking(report):
    return [(c["id"], c["confidence"]) for c in report["causes"]]


@pytest.mark.parametrize("lab_case", list(DIAGNOSED), indirect=True, ids=str)
def test_sosreport_diagnoses_like_the_live_node(tmp_path, lab_case):
    cause = DIAGNOSED[lab_case.case]
    assert lab_case.symptom_seen  # also what makes the drop counters count
    _, live = lab_case.live()
    directory = lab_case.sosreport(extras=True)
    archive = lab_case.sosreport(archive="xz", extras=True)
    from_dir, from_archive = diagnose("--sosreport", directory), diagnose("--sosreport", archive)
    assert live["causes"][0]["id"] == cause
    assert from_dir["causes"][0]["id"] == cause, ranking(from_dir)
    assert from_archive["causes"][0]["id"] == cause, ranking(from_archive)
    code, _, err = run_cli("collect", "--sosreport", archive, "-o", tmp_path / "facts.yaml")
    assert code == 0, err
    assert ranking(diagnose("--facts", tmp_path / "facts.yaml")) == ranking(from_archive)


# Not iptables-backend-mismatch: its DROP lives in the legacy backend, which a plain sosreport of
# an nft node does not list (that is what the sos-extras file is for).
PLAIN_NFT = sorted(IPTABLES_FAULTS - {"endpoint-not-programmed", "iptables-backend-mismatch"})


@pytest.mark.parametrize("lab_case", [LabCase.of(f, {}, "nft") for f in PLAIN_NFT], indirect=True, ids=str)
def test_plain_sosreport_of_an_nft_node_still_shows_iptables_faults(lab_case):
    assert lab_case.symptom_seen
    report = diagnose("--sosreport", lab_case.sosreport(archive="xz"))
    assert report["causes"][0]["id"] == lab_case.case.fault, ranking(report)


HOST_FIREWALL_LEGACY = [LabCase.of("host-firewall-rejects", {}, "legacy")]


@pytest.mark.parametrize("lab_case", HOST_FIREWALL_LEGACY, indirect=True, ids=str)
def test_plain_sosreport_of_a_legacy_node_claims_nothing_and_asks_for_iptables(lab_case):
    report = diagnose("--sosreport", lab_case.sosreport(archive="gz"))
    assert not [c for c in report["causes"] if c["found"]], ranking(report)
    wanted = {m["collect_with"] for m in report["missing_evidence"]}
    assert "iptables-legacy-save -c" in wanted


@pytest.mark.parametrize("lab_case", HOST_FIREWALL_LEGACY, indirect=True, ids=str)
def test_calicoctl_node_diags_of_a_faulty_node(lab_case):
    bundle = lab_case.calicoctl_diags()
    assert bundle.name.startswith("diags-") and bundle.name.endswith(".tar.gz")
    report = diagnose("--sosreport", bundle)
    assert report["causes"][0]["id"] == "host-firewall-rejects", ranking(report)
    # calicoctl collects no sysctls: what it cannot show is said, not guessed
    assert any("sysctl" in m["collect_with"] for m in report["missing_evidence"])


@pytest.mark.slow  # builds its own labs end to end
def test_cluster_diags_give_one_diagnosis_per_node(tmp_path):
    from calirules.lab.bundles import write_calicoctl_cluster_diags
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as broken, Lab(new_prefix(), pods=2, backend="legacy") as healthy:
        injection = faults.inject(broken, "workload-route-missing")
        assert symptom_is_real(broken, injection)
        # node-b's calico-node log holds the RPF FATAL quoted in the reference (calico-troubleshooting.md 6)
        fatal = (REPO / "tests/fixtures/raw/logs/calico-messages.quoted").read_text().splitlines()[3]
        bundle = write_calicoctl_cluster_diags({"node-a": broken, "node-b": healthy}, tmp_path,
                                               logs={"node-b": f"2026-11-27 09:00:00.000 {fatal}\n"})
    code, out, err = run_cli("diagnose", "--bundle", bundle, "--format", "json")
    assert code == 1, err
    reports = {r["node"]: r for r in json.loads(out)["reports"]}
    assert reports["node-a"]["causes"][0]["id"] == "workload-route-missing"
    assert [c["id"] for c in reports["node-b"]["causes"] if c["found"]] == ["rp-filter-loose"]
    assert reports["node-a"]["causes"][0]["evidence"][0]["source"].startswith("nodes/node-a/")
    code, out, err = run_cli("diagnose", "--bundle", bundle, "--node", "node-b", "--format", "json")
    assert code == 1 and json.loads(out)["node"] == "node-b"
    code, _, err = run_cli("collect", "--bundle", bundle, "--node", "node-a", "-o", tmp_path / "a.yaml")
    versions = yaml.safe_load((tmp_path / "a.yaml").read_text())["versions"]
    assert {"component": "kubernetes", "version": "v1.30.4"}.items() <= versions[0].items()
    assert versions[0]["source"].startswith("cluster/version.yaml:")
    code, _, err = run_cli("collect", "--bundle", bundle, "-o", tmp_path / "x.yaml")
    assert code == 2 and "--node" in err


def _mismatch(report):
    return next(c for c in report["causes"] if c["id"] == "iptables-backend-mismatch")


@pytest.mark.slow  # builds its own labs end to end
def test_guide_case_end_to_end_plain_sosreport_infers_the_backend_split(tmp_path):
    """The source guide's node (lab/guide.py): the ping really fails; a plain sosreport finds the
    version skew and the backend split, the split's evidence labelled inferred."""
    from calirules.lab.guide import write_guide_sosreport
    skip_unless_lab("legacy")
    skip_unless_lab("nft")
    archive, ping_ok = write_guide_sosreport(tmp_path, prefix=new_prefix(), archive="xz")
    assert not ping_ok
    report = diagnose("--sosreport", archive)
    found = {c["id"] for c in report["causes"] if c["found"]}
    assert {"version-skew", "iptables-backend-mismatch"} <= found, ranking(report)
    mismatch = _mismatch(report)
    assert mismatch["rule"] == "iptables-backend-mismatch-inferred"
    assert {e["basis"] for e in mismatch["evidence"] if not e.get("supporting")} == {"inferred"}


@pytest.mark.slow  # builds its own labs end to end
def test_guide_case_end_to_end_with_sos_extras_observes_the_backend_split(tmp_path):
    from calirules.lab.guide import write_guide_sosreport
    skip_unless_lab("legacy")
    skip_unless_lab("nft")
    directory, ping_ok = write_guide_sosreport(tmp_path, prefix=new_prefix(), extras=True)
    assert not ping_ok
    report = diagnose("--sosreport", directory)
    mismatch = _mismatch(report)
    assert mismatch["found"] and mismatch["rule"] == "iptables-backend-mismatch-forward-drop", ranking(report)
    assert {e["basis"] for e in mismatch["evidence"]} == {"observed"}
    assert next(c for c in report["causes"] if c["id"] == "version-skew")["found"]
