"""The rules proven against the kernel: inject each fault for real, collect live, diagnose.

For every fault the ping must fail first (the symptom is real), then `calirules diagnose --live
--netns <node>` must rank the injected cause first. A healthy lab must show no likely cause, and
collection must not change the node namespace.
"""

import json

import pytest
from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.helpers import run_cli
from tests.lab.cases import DIAGNOSED, LabCase, diagnose_live
from tests.lab.support import new_prefix, skip_unless_lab

HEALTHY = [LabCase.of(None, {}, "legacy"), LabCase.of(None, {}, "nft")]


@pytest.mark.parametrize("lab_case", HEALTHY, indirect=True, ids=str)
def test_healthy_lab_has_no_likely_cause(lab_case):
    assert lab_case.healthy_before  # lab.ping(0, 1) on the healthy lab
    code, report = lab_case.live()
    assert code == 0, [(c["id"], c["confidence"]) for c in report["causes"]]
    assert all(c["confidence"] < 0.5 for c in report["causes"])


@pytest.mark.parametrize("lab_case", list(DIAGNOSED), indirect=True, ids=str)
def test_fault_is_diagnosed_first(lab_case):
    cause = DIAGNOSED[lab_case.case]
    fault_id = lab_case.case.fault
    assert lab_case.symptom_seen, f"{fault_id}: the ping still works, the fault is not real"
    code, report = lab_case.live()
    ranked = [(c["id"], c["confidence"]) for c in report["causes"]]
    assert code == 1 and ranked[0][0] == cause, ranked
    assert report["causes"][0]["confidence"] >= 0.5
    assert all(e["source"] for e in report["causes"][0]["evidence"] if not e.get("missing"))


def test_two_faults_at_once_are_both_in_the_top_three():
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=3, backend="legacy") as lab:
        faults.inject(lab, "proxy-arp-disabled", src=0, dst=1)
        faults.inject(lab, "workload-route-missing", src=0, dst=2)
        assert not lab.ping(0, 1) and not lab.ping(0, 2)
        _, report = diagnose_live(lab)
        top = [c["id"] for c in report["causes"][:3]]
        assert {"proxy-arp-disabled", "workload-route-missing"} <= set(top), top


def snapshot(lab):
    """Everything collection could conceivably change in the node namespace."""
    from calirules.lab import netns
    ns = lab.node_ns
    commands = [("sysctl", "net"), ("ip", "-d", "link"), ("ip", "-d", "address"), ("ip", "-d", "route", "show", "table", "all"),
                ("ip", "rule"), ("iptables-legacy-save",), ("iptables-nft-save",), ("nft", "list", "ruleset")]
    out = {}
    for argv in commands:
        text = netns.exec_in(ns, list(argv), check=False).stdout
        # Counters move with any traffic; compare state, not counters (`-save` without -c, no stats).
        out[" ".join(argv)] = "\n".join(line for line in text.splitlines()
                                        if not line.startswith("# ") and "nf_conntrack_count" not in line)
    return out


def test_collection_changes_nothing(tmp_path):
    # its own fresh lab, not a shared one: the two snapshots must be taken close together, and a
    # shared lab's addresses may still be settling (IPv6 DAD) from whatever ran before
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        before = snapshot(lab)
        code, _, err = run_cli("collect", "--live", "--netns", lab.node_ns, "-o", tmp_path / "dump.yaml",
                               "--raw-dir", tmp_path / "raw")
        assert code == 0, err
        after = snapshot(lab)
        assert before == after
        assert (tmp_path / "raw" / "sos_commands" / "kernel" / "sysctl_-a").exists()


@pytest.mark.parametrize("lab_case", [LabCase.of("workload-veth-down", {}, "legacy")], indirect=True, ids=str)
def test_raw_dir_reads_back_as_a_bundle(lab_case, tmp_path):
    live_code, live = lab_case.live()
    code, _, err = run_cli("collect", "--live", "--netns", lab_case.lab.node_ns, "-o", tmp_path / "d.yaml",
                           "--raw-dir", tmp_path / "raw")
    assert code == 0, err
    code, out, err = run_cli("diagnose", "--sosreport", tmp_path / "raw", "--format", "json")
    offline = json.loads(out)
    assert [c["id"] for c in offline["causes"]] == [c["id"] for c in live["causes"]]
    code, out, err = run_cli("diagnose", "--facts", tmp_path / "d.yaml", "--format", "json")
    assert [c["id"] for c in json.loads(out)["causes"]] == [c["id"] for c in live["causes"]]
