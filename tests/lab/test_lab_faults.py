"""Every fault breaks the pod-to-pod ping for real, and leaves the evidence a diagnosis would use."""

from __future__ import annotations

import pytest
from calirules.lab import LabError, UnknownFault, inject, naming, netns
from calirules.lab.faults import LARGE_DF_PING_FAILS

from tests.lab.cases import LabCase


def _sysctl_is(key_fmt, value, who="src"):
    def check(lab, inj, tools):
        pod = lab.pod(inj.src if who == "src" else inj.dst)
        assert lab.sysctl_get(key_fmt.format(iface=pod.iface)) == value
    return check


def _counter(needle, backend=None):
    def check(lab, inj, tools):
        assert lab.packet_count(needle, backend=backend) > 0
    return check


def _policy_hit(chain="FORWARD", other_backend=False):
    def check(lab, inj, tools):
        be = ("nft" if lab.backend == "legacy" else "legacy") if other_backend else None
        assert tools.policy_counter(lab.iptables_save(backend=be, counters=True), chain) > 0
    return check


def _gateway_unresolved(lab, inj, tools):
    neigh = netns.ip(lab.pod(inj.dst).netns, "neigh", "show", naming.GATEWAY_IP)
    assert "FAILED" in neigh or "INCOMPLETE" in neigh, neigh


def _route_not_via(lab, inj, tools):
    dst = lab.pod(inj.dst)
    assert f"dev {dst.iface}" not in netns.ip(lab.node_ns, "route", "get", dst.ip)


def _no_cali_chains(lab, inj, tools):
    assert "cali-" not in lab.iptables_save()
    _policy_hit()(lab, inj, tools)


def _check_rule_gone(lab, inj, tools):
    assert "Policy explicitly accepted packet." not in lab.iptables("-S", "FORWARD")
    _policy_hit()(lab, inj, tools)


def _ip_rule(lab, inj, tools):
    assert "lookup 30400" in netns.ip(lab.node_ns, "rule", "show")


def _link_down(lab, inj, tools):
    link = netns.ip_json(lab.node_ns, "link", "show", "dev", lab.pod(inj.dst).iface)[0]
    assert "UP" not in link["flags"]


# (fault id, options, backend, evidence check)
CASES = [
    ("ip-forwarding-disabled", {}, "legacy", _sysctl_is("net.ipv4.ip_forward", "0")),
    ("ip-forwarding-disabled", {"per_interface": True}, "legacy",
     _sysctl_is("net.ipv4.conf.{iface}.forwarding", "0")),
    ("forward-policy-drop", {}, "legacy", _check_rule_gone),
    ("forward-policy-drop", {}, "nft", _check_rule_gone),
    ("forward-policy-drop", {"variant": "allow-action-return"}, "nft", _policy_hit()),
    ("host-firewall-rejects", {}, "legacy", _counter("icmp-host-prohibited")),
    ("host-firewall-rejects", {}, "nft", _counter("icmp-host-prohibited")),
    ("iptables-backend-mismatch", {}, "legacy", _policy_hit(other_backend=True)),
    ("iptables-backend-mismatch", {}, "nft", _policy_hit(other_backend=True)),
    ("iptables-backend-mismatch", {"mode": "rule"}, "legacy", None),
    ("calico-chains-missing", {}, "legacy", _no_cali_chains),
    ("calico-chains-missing", {}, "nft", _no_cali_chains),
    ("policy-denies", {}, "legacy", _counter("End of tier default. Drop if no policies passed")),
    ("policy-denies", {}, "nft", _counter("End of tier default. Drop if no policies passed")),
    ("policy-denies", {"direction": "egress"}, "legacy",
     _counter("End of tier default. Drop if no policies passed")),
    ("proxy-arp-disabled", {}, "legacy", _gateway_unresolved),
    ("proxy-arp-disabled", {"side": "src"}, "nft", None),
    ("workload-route-missing", {}, "legacy", _route_not_via),
    ("workload-route-conflict", {}, "legacy", _route_not_via),
    ("workload-route-conflict", {"target": "other"}, "nft", _route_not_via),
    ("workload-veth-down", {}, "legacy", _link_down),
    ("policy-routing-override", {}, "nft", _ip_rule),
    ("endpoint-not-programmed", {}, "legacy", _counter("Unknown interface")),
    ("endpoint-not-programmed", {}, "nft", _counter("Unknown interface")),
    ("endpoint-not-programmed", {"pod": "pod-1"}, "legacy", _counter("Unknown interface")),
]


EVIDENCE = {LabCase.of(f, o, b): evidence for f, o, b, evidence in CASES}


# Only `lab_case` is parametrized (indirect, so it keeps its session scope): a direct argument
# beside it would make pytest scope the case to the test function and rebuild the lab per test.
@pytest.mark.parametrize("lab_case", list(EVIDENCE), indirect=True, ids=str)
def test_fault_breaks_ping(lab_case, lab_tools):
    evidence = EVIDENCE[lab_case.case]
    lab, inj, fault_id = lab_case.lab, lab_case.injection, lab_case.case.fault
    assert lab_case.healthy_before, "lab must be healthy before the fault"
    assert inj.expect != LARGE_DF_PING_FAILS
    # the symptom ping the case ran right after the injection: not lab.ping(inj.src, inj.dst)
    assert lab_case.symptom_seen, f"{fault_id} did not break {inj.src} -> {inj.dst}"
    if evidence:
        evidence(lab, inj, lab_tools)
    assert lab.injected[-1]["fault_id"] == fault_id


@pytest.mark.parametrize("where,large_nodf_passes", [("veth", True), ("cali", False), ("pod", False)])
def test_mtu_mismatch_small_passes_large_df_fails(make_lab, where, large_nodf_passes):
    lab = make_lab()
    assert lab.ping(0, 1, size=lab.pod_mtu - 28, dont_fragment=True)
    inj = inject(lab, "mtu-mismatch", where=where)
    assert inj.expect == LARGE_DF_PING_FAILS and inj.large_size == lab.pod_mtu - 28
    assert lab.ping(inj.src, inj.dst)
    assert not lab.ping(inj.src, inj.dst, size=inj.large_size, dont_fragment=True)
    # 'veth' is a clean smaller path MTU: the node fragments non-DF packets; a one-sided veth
    # mismatch silently drops full-size frames on the receiving end whatever the DF bit.
    assert lab.ping(inj.src, inj.dst, size=inj.large_size) is large_nodf_passes


def test_two_faults_at_once(make_lab):
    lab = make_lab(pods=3)
    assert lab.ping(0, 1) and lab.ping(0, 2)
    first = inject(lab, "ip-forwarding-disabled")
    second = inject(lab, "workload-route-missing", dst="pod-2")
    assert [i["fault_id"] for i in lab.injected] == ["ip-forwarding-disabled", "workload-route-missing"]
    assert not lab.ping(first.src, first.dst)
    assert not lab.ping(second.src, second.dst)
    # each fault is independently sufficient: repair the first, the second still breaks pod-2
    lab.sysctl_set({"net.ipv4.ip_forward": 1})
    assert lab.ping(0, 1)
    assert not lab.ping(second.src, second.dst)
    pod2 = lab.pod("pod-2")
    lab.node_ip("route", "add", f"{pod2.ip}/32", "dev", pod2.iface, "scope", "link")
    assert lab.ping(0, 2)


def test_two_iptables_faults_compose(make_lab):
    lab = make_lab(backend="nft")
    inject(lab, "policy-denies")
    inject(lab, "host-firewall-rejects")
    assert not lab.ping(0, 1)
    save = lab.iptables_save()
    assert "cali-pi-default.allow-admin" in save and "icmp-host-prohibited" in save


def test_unknown_fault_and_option_are_rejected(lab):
    with pytest.raises(UnknownFault):
        inject(lab, "no-such-fault")
    with pytest.raises(LabError, match="no option"):
        inject(lab, "workload-veth-down", colour="red")
    assert lab.ping(0, 1) and lab.injected == []
