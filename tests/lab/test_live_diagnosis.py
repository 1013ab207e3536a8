"""The rules proven against the kernel: inject each fault for real, collect live, diagnose.

For every fault the ping must fail first (the symptom is real), then `calirules diagnose --live
--netns <node>` must rank the injected cause first. A healthy lab must show no likely cause, and
collection must not change the node namespace.
"""

import json

import pytest
from calirules.lab import faults
from calirules.lab.topology import Lab
from conftest import new_prefix, skip_unless_lab
from helpers import run_cli

# (fault id, options, backend, cause expected first)
CASES = [
    ("ip-forwarding-disabled", {}, "legacy", "ip-forwarding-disabled"),
    ("ip-forwarding-disabled", {"per_interface": True}, "legacy", "ip-forwarding-disabled"),
    ("forward-policy-drop", {}, "legacy", "forward-policy-drop"),
    ("forward-policy-drop", {}, "nft", "forward-policy-drop"),
    ("host-firewall-rejects", {}, "legacy", "host-firewall-rejects"),
    ("iptables-backend-mismatch", {}, "legacy", "iptables-backend-mismatch"),
    ("iptables-backend-mismatch", {"mode": "rule"}, "nft", "iptables-backend-mismatch"),
    ("calico-chains-missing", {}, "legacy", "calico-chains-missing"),
    ("policy-denies", {}, "legacy", "policy-denies"),
    ("policy-denies", {"direction": "egress"}, "nft", "policy-denies"),
    ("proxy-arp-disabled", {}, "legacy", "proxy-arp-disabled"),
    ("workload-route-missing", {}, "legacy", "workload-route-missing"),
    ("workload-route-conflict", {}, "legacy", "workload-route-conflict"),
    ("workload-route-conflict", {"target": "other"}, "legacy", "workload-route-conflict"),
    # The leftover veth is UP and unknown to Felix: endpoint-not-programmed fires too, as the
    # mechanism; the route conflict is its root and must rank first.
    ("workload-route-conflict", {"peer_up": True}, "legacy", "workload-route-conflict"),
    ("workload-veth-down", {}, "legacy", "workload-veth-down"),
    ("policy-routing-override", {}, "legacy", "policy-routing-override"),
    ("endpoint-not-programmed", {}, "legacy", "endpoint-not-programmed"),
    ("mtu-mismatch", {}, "legacy", "mtu-mismatch"),
]


def diagnose_live(lab):
    code, out, err = run_cli("diagnose", "--live", "--netns", lab.node_ns, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def symptom_is_real(lab, injection):
    if injection.large_size:
        return lab.ping(injection.src, injection.dst) and not lab.ping(
            injection.src, injection.dst, size=injection.large_size, dont_fragment=True)
    return not lab.ping(injection.src, injection.dst)


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_healthy_lab_has_no_likely_cause(backend):
    skip_unless_lab(backend)
    with Lab(new_prefix(), pods=2, backend=backend) as lab:
        assert lab.ping(0, 1)
        code, report = diagnose_live(lab)
        assert code == 0, [(c["id"], c["confidence"]) for c in report["causes"]]
        assert all(c["confidence"] < 0.5 for c in report["causes"])


@pytest.mark.parametrize("fault_id,options,backend,cause", CASES,
                         ids=[f"{c[0]}{'-' + '-'.join(map(str, c[1].values())) if c[1] else ''}-{c[2]}" for c in CASES])
def test_fault_is_diagnosed_first(fault_id, options, backend, cause):
    skip_unless_lab(backend)
    with Lab(new_prefix(), pods=2, backend=backend) as lab:
        injection = faults.inject(lab, fault_id, **options)
        assert symptom_is_real(lab, injection), f"{fault_id}: the ping still works, the fault is not real"
        code, report = diagnose_live(lab)
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
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        before = snapshot(lab)
        code, _, err = run_cli("collect", "--live", "--netns", lab.node_ns, "-o", tmp_path / "dump.yaml",
                               "--raw-dir", tmp_path / "raw")
        assert code == 0, err
        after = snapshot(lab)
        assert before == after
        assert (tmp_path / "raw" / "sos_commands" / "kernel" / "sysctl_-a").exists()


def test_raw_dir_reads_back_as_a_bundle(tmp_path):
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        faults.inject(lab, "workload-veth-down")
        live_code, live = diagnose_live(lab)
        code, _, err = run_cli("collect", "--live", "--netns", lab.node_ns, "-o", tmp_path / "d.yaml",
                               "--raw-dir", tmp_path / "raw")
        assert code == 0, err
    code, out, err = run_cli("diagnose", "--sosreport", tmp_path / "raw", "--format", "json")
    offline = json.loads(out)
    assert [c["id"] for c in offline["causes"]] == [c["id"] for c in live["causes"]]
    code, out, err = run_cli("diagnose", "--facts", tmp_path / "d.yaml", "--format", "json")
    assert [c["id"] for c in json.loads(out)["causes"]] == [c["id"] for c in live["causes"]]
