"""`calirules probe` against every fault the lab can inject, on both iptables backends.

For each case the probe must name the hop where the packet disappears and the drop site the fault
creates (the rule, the chain policy and its backend, the kernel's routing verdict, the neighbour
failure), and `diagnose --live --probe` must rank the injected cause first with the probe's
observation among its evidence. The healthy lab reports a working path (exit 0); two faults at once
are named in path order; a probe changes nothing in the node namespace but counters (and the
neighbour/conntrack entries its own packets create).
"""

from __future__ import annotations

import json
import os
import re

import pytest
from calirules.lab import faults
from calirules.lab.iptables import other
from calirules.lab.topology import Lab

from tests.helpers import run_cli
from tests.lab.cases import LabCase
from tests.lab.support import new_prefix, skip_unless_lab
from tests.lab.test_live_diagnosis import snapshot as _state

LAB = "lab"      # the drop is in the backend Calico (the lab) programs
OTHER = "other"  # ... in the other one

# (fault, options): (drop kind, backend, chain, role of the last hop the request was seen on,
# cause ranked first by diagnose --probe). Route and neighbour drops have no backend or chain.
EXPECTED = {
    # With forwarding off proxy ARP stays silent too: the request never leaves the source pod.
    ("ip-forwarding-disabled", ()): ("route", None, None, None, "ip-forwarding-disabled"),
    ("ip-forwarding-disabled", (("per_interface", True),)): ("route", None, None, None,
                                                             "ip-forwarding-disabled"),
    ("proxy-arp-disabled", ()): ("neighbor", None, None, "dst-pod", "proxy-arp-disabled"),
    ("proxy-arp-disabled", (("side", "src"),)): ("neighbor", None, None, None, "proxy-arp-disabled"),
    ("workload-route-missing", ()): ("route", None, None, "src-host", "workload-route-missing"),
    ("workload-route-conflict", ()): ("route", None, None, "src-host", "workload-route-conflict"),
    ("workload-route-conflict", (("target", "other"),)): ("route", None, None, "src-host",
                                                          "workload-route-conflict"),
    ("workload-veth-down", ()): ("route", None, None, "src-host", "workload-veth-down"),
    ("policy-routing-override", ()): ("route", None, None, "src-host", "policy-routing-override"),
    ("endpoint-not-programmed", ()): ("rule", LAB, None, "src-host", "endpoint-not-programmed"),
    ("forward-policy-drop", ()): ("policy", LAB, "FORWARD", "src-host", "forward-policy-drop"),
    ("forward-policy-drop", (("variant", "allow-action-return"),)): ("policy", LAB, "FORWARD", "src-host",
                                                                      "forward-policy-drop"),
    ("host-firewall-rejects", ()): ("rule", LAB, "FORWARD", "src-host", "host-firewall-rejects"),
    ("iptables-backend-mismatch", ()): ("policy", OTHER, "FORWARD", "src-host", "iptables-backend-mismatch"),
    ("iptables-backend-mismatch", (("mode", "rule"),)): ("rule", OTHER, "FORWARD", "src-host",
                                                         "iptables-backend-mismatch"),
    ("calico-chains-missing", ()): ("policy", LAB, "FORWARD", "src-host", "calico-chains-missing"),
    ("policy-denies", ()): ("rule", LAB, None, "src-host", "policy-denies"),
    ("policy-denies", (("direction", "egress"),)): ("rule", LAB, None, "src-host", "policy-denies"),
    ("mtu-mismatch", ()): ("route", None, None, "src-host", "mtu-mismatch"),
    # Only the pod's eth0 is smaller: the veth drops the frame silently, no ICMP error says why.
    ("mtu-mismatch", (("where", "pod"),)): ("unknown", None, None, "dst-host", "mtu-mismatch"),
}
CASES = [LabCase(fault, backend, options) for (fault, options) in EXPECTED for backend in ("legacy", "nft")]


def _pods(built):
    lab, injection = built.lab, built.injection
    if injection is None:
        return lab.pod(0), lab.pod(1)
    return lab.pod(injection.src), lab.pod(injection.dst)


def _probe_args(built):
    src, dst = _pods(built)
    args = ["--from", src.ip, "--to", dst.ip, "--netns", built.lab.node_ns]
    if built.injection is not None and built.injection.large_size:
        args += ["--size", str(built.lab.pod_mtu), "--df"]
    return args


def probe_json(built):
    code, out, err = run_cli("probe", *_probe_args(built), "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def diagnosed_with_probe(built):
    """`diagnose --live --probe SRC DST --format json` of the case, run once: (exit code, report). The
    report carries the probe's own document, so one probe serves both tests of a case."""
    def run():
        args = _probe_args(built)
        code, out, err = run_cli("diagnose", "--live", "--netns", built.lab.node_ns, "--probe", args[1], args[3],
                                 *args[6:], "--format", "json")
        assert code in (0, 1), err
        return code, json.loads(out)
    return built._once(("diagnose-probe",), run)


@pytest.mark.parametrize("lab_case", CASES, indirect=True, ids=str)
def test_probe_names_the_drop_site(lab_case):
    _, report = diagnosed_with_probe(lab_case)
    doc = report["probe"]
    kind, backend, chain, last_role, _cause = EXPECTED[(lab_case.case.fault, lab_case.case.options)]
    assert doc["schema"] == "calirules/probe/v1"
    assert not (doc["reached"] and doc["replied"]), doc
    drop = doc["drop"]
    assert drop is not None and drop["kind"] == kind, (drop, doc["summary"])
    if backend is not None:
        lab_backend = lab_case.lab.backend
        assert drop["backend"] == (lab_backend if backend == LAB else other(lab_backend)), drop
    if chain is not None:
        assert drop["chain"] == chain, drop
    if kind in ("rule", "policy"):
        assert drop["packets"] >= 1, drop
    roles = {hop["role"]: hop for hop in doc["hops"]}
    assert doc["last_seen_role"] == last_role, (doc["last_seen_role"], doc["hops"])
    assert doc["last_seen"] == (roles[last_role]["where"] if last_role else None)
    assert drop["detail"] and "\n" not in drop["detail"]


@pytest.mark.parametrize("lab_case", CASES, indirect=True, ids=str)
def test_diagnose_with_probe_ranks_the_injected_cause_first(lab_case):
    expected = EXPECTED[(lab_case.case.fault, lab_case.case.options)][-1]
    code, report = diagnosed_with_probe(lab_case)
    assert code == 1
    first = report["causes"][0]
    assert first["id"] == expected, [(c["id"], c["confidence"]) for c in report["causes"][:4]]
    assert report["reproduced"] is True
    observed = [e for e in first["evidence"] if e.get("probe") and e.get("supporting")]
    assert observed, first["evidence"]
    assert first.get("probe") == "matches"


@pytest.mark.parametrize("lab_case", [LabCase("forward-policy-drop", "nft")], indirect=True, ids=str)
def test_probe_exit_status_and_text_on_a_broken_path(lab_case, tmp_path):
    code, doc = probe_json(lab_case)
    assert code == 1 and doc["drop"]["kind"] == "policy"
    code, _, err = run_cli("probe", *_probe_args(lab_case), "-o", tmp_path / "probe.json")  # format from the name
    assert code == 1 and json.loads((tmp_path / "probe.json").read_text())["drop"]["kind"] == "policy", err
    code, out, _ = run_cli("probe", *_probe_args(lab_case))
    assert code == 1
    assert "Observed: echo request seen on eth0 of" in out and "FORWARD policy DROP (nft)" in out, out


@pytest.mark.parametrize("lab_case", [LabCase(None, "legacy"), LabCase(None, "nft")], indirect=True, ids=str)
def test_healthy_lab_probe_reports_a_working_path(lab_case):
    code, doc = probe_json(lab_case)
    assert code == 0, doc
    assert doc["reached"] and doc["replied"] and doc["drop"] is None
    assert [hop["seen"] for hop in doc["hops"]] == [3, 3, 3, 3]
    assert doc["last_seen_role"] == "src-pod"  # the reply came back to the source's eth0
    code, out, _ = run_cli("probe", *_probe_args(lab_case))
    assert code == 0 and "path works" in out and "the symptom was not reproduced" in out


@pytest.mark.parametrize("lab_case", [LabCase(None, "legacy")], indirect=True, ids=str)
def test_healthy_lab_diagnosis_with_probe_says_config_only(lab_case):
    args = _probe_args(lab_case)
    code, out, err = run_cli("diagnose", "--live", "--netns", lab_case.lab.node_ns, "--probe", args[1], args[3])
    assert code == 0, err
    assert "the symptom was not reproduced" in out


@pytest.mark.parametrize("proto", ["tcp:80", "udp:53"])
def test_tcp_and_udp_probes_on_a_healthy_and_a_broken_path(proto):
    skip_unless_lab("nft")
    with Lab(new_prefix(), pods=2, backend="nft") as lab:
        src, dst = lab.pod(0), lab.pod(1)
        args = ["probe", "--from", src.ip, "--to", dst.ip, "--netns", lab.node_ns, "--proto", proto,
                "--format", "json"]
        code, out, err = run_cli(*args)
        assert code == 0, out + err  # a closed port answers (RST / port unreachable): the path works
        faults.inject(lab, "forward-policy-drop")
        code, out, err = run_cli(*args)
        doc = json.loads(out)
        assert code == 1 and doc["drop"]["kind"] == "policy", doc


# Two faults on one path: the probe names the one the packet meets first.
TWO_FAULTS = [
    (("ip-forwarding-disabled", {}), ("forward-policy-drop", {}), "route"),
    (("proxy-arp-disabled", {"side": "src"}), ("forward-policy-drop", {}), "neighbor"),
    (("forward-policy-drop", {}), ("proxy-arp-disabled", {}), "policy"),
    (("policy-routing-override", {}), ("host-firewall-rejects", {}), "route"),
]


@pytest.mark.parametrize("first,second,kind", TWO_FAULTS, ids=lambda v: v[0] if isinstance(v, tuple) else v)
def test_two_faults_the_first_on_the_path_is_named(first, second, kind):
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        faults.inject(lab, second[0], **second[1])
        faults.inject(lab, first[0], **first[1])
        code, out, err = run_cli("probe", "--from", lab.pod(0).ip, "--to", lab.pod(1).ip, "--netns", lab.node_ns,
                                 "--format", "json")
        doc = json.loads(out)
        assert code == 1 and doc["drop"]["kind"] == kind, doc["summary"]


def snapshot(lab):
    """The node namespace's state without its counters (built-in chains print theirs even without -c)
    and without IPv6, whose duplicate address detection on a fresh lab settles on its own."""
    state = _state(lab)
    state = {key: re.sub(r"\[\d+:\d+\]", "[]", text) for key, text in state.items()}
    state["ip -d address"] = "\n".join(line for line in state["ip -d address"].splitlines() if "inet6" not in line
                                       and "valid_lft" not in line)
    state["ip -d route show table all"] = "\n".join(line for line in state["ip -d route show table all"].splitlines()
                                                   if ":" not in line)
    return state


def test_probe_changes_nothing_but_counters():
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        faults.inject(lab, "forward-policy-drop")
        assert not lab.ping(0, 1)  # the neighbour entries a ping creates exist before the snapshot
        before = snapshot(lab)
        code, _, err = run_cli("probe", "--from", lab.pod(0).ip, "--to", lab.pod(1).ip, "--netns", lab.node_ns)
        assert code == 1, err
        assert snapshot(lab) == before


def test_bad_input_is_one_line_and_exit_2():
    skip_unless_lab("legacy")
    with Lab(new_prefix(), pods=2, backend="legacy") as lab:
        node = lab.node_ns
        for args, needle in [
            (["--from", "198.18.99.99", "--to", lab.pod(1).ip], "198.18.99.99"),
            (["--from", lab.pod(0).ip, "--to", "calinotthere0"], "calinotthere0"),
            (["--from", lab.pod(0).ip, "--to", "198.19.0.2"], "198.19.0.2"),      # the upstream: not a pod here
            (["--from", lab.pod(0).ip, "--to", lab.pod(0).ip], "same pod"),
            (["--from", lab.pod(0).ip, "--to", lab.pod(1).ip, "--proto", "tcp"], "port"),
            (["--from", lab.pod(0).ip, "--to", lab.pod(1).ip, "--count", "0"], "--count"),
        ]:
            code, out, err = run_cli("probe", *args, "--netns", node)
            assert code == 2, (args, out, err)
            assert err.count("\n") == 1 and needle in err and "Traceback" not in err, err
        code, _, err = run_cli("probe", "--from", "a", "--to", "b", "--netns", "no-such-netns-x")
        assert code == 2 and "no-such-netns-x" in err


@pytest.mark.parametrize("lab_case", [LabCase("forward-policy-drop", "legacy")], indirect=True, ids=str)
def test_trace_names_the_kernel_drop_reason_and_leaves_nothing_on(lab_case):
    from tests.lab.test_probe_kernel import tracing_state
    before = tracing_state()
    code, out, err = run_cli("probe", *_probe_args(lab_case), "--trace", "--format", "json")
    assert code == 1, err
    doc = json.loads(out)
    # skb:kfree_skb carries a drop reason from Linux 5.17; older kernels say so in the trace lines
    if tuple(int(p) for p in os.uname().release.split(".")[:2]) >= (5, 17):
        assert any("NETFILTER_DROP" in line for line in doc["trace"]), doc
    else:
        assert any("no drop reasons" in line for line in doc["trace"]), doc
    assert any("skb:kfree_skb" in note for note in doc["notes"])  # it says what it switched on
    assert tracing_state() == before and not before[2]


def test_a_missing_tool_is_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run_cli("probe", "--from", "198.18.8.10", "--to", "198.18.8.11")
    assert code == 2 and "`ip`" in err and "iproute2" in err, err
