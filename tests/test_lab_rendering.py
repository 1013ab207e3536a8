"""Pure tests of the lab's naming and rule rendering (no root, no namespaces: not marked `lab`)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from calirules.lab import LabError, calico_rules, naming
from calirules.lab.faults import FAULTS

LAB_SPACE = ipaddress.ip_network("198.18.0.0/15")


def test_cali_name_is_calico_style_and_deterministic():
    name = naming.cali_iface("pod-0")
    assert re.fullmatch(r"cali[0-9a-f]{11}", name)
    assert name == naming.cali_iface("pod-0") != naming.cali_iface("pod-1")
    assert len(name) == 15  # IFNAMSIZ - 1


def test_pod_netns_names_look_like_cni_and_are_prefix_scoped():
    ns = naming.pod_netns("crl", "pod-0")
    assert naming.pod_netns_re("crl").match(ns)
    assert naming.lab_netns_re("crl").match(ns)
    # another lab's names never match this prefix's patterns
    for other in (naming.pod_netns("crl-x", "pod-0"), "crl-x-node", "crl-cni-node", "crl2-node"):
        assert not naming.lab_netns_re("crl").match(other)


@pytest.mark.parametrize("bad", ["", "Crl", "1crl", "crl-", "a--b", "a b", "x" * 25, "crl/../x"])
def test_invalid_prefix_rejected(bad):
    with pytest.raises(LabError):
        naming.validate_prefix(bad)


def test_addresses_stay_in_benchmark_space():
    for i in (0, 1, naming.MAX_PODS - 1):
        assert ipaddress.ip_address(naming.pod_ip(i)) in LAB_SPACE
    for addr in (naming.NODE_UPLINK_IP, naming.UPSTREAM_IP):
        assert ipaddress.ip_address(addr) in LAB_SPACE
    with pytest.raises(LabError):
        naming.pod_ip(naming.MAX_PODS)


def test_long_chain_names_are_hashed_to_28_chars():
    assert calico_rules.policy_chain("default.allow-admin", "ingress") == "cali-pi-default.allow-admin"
    long = calico_rules.policy_chain("default.a-very-long-policy-name-indeed", "egress")
    assert long.startswith("cali-po-_") and len(long) == 28


def _rendered():
    eps = [calico_rules.Endpoint(naming.cali_iface("pod-0")),
           calico_rules.Endpoint(naming.cali_iface("pod-1"),
                                 ingress=(calico_rules.Policy("default.deny", ("198.19.255.0/24",)),))]
    return eps, calico_rules.render_filter_table(eps)


def test_rendered_table_has_calico_shape():
    eps, text = _rendered()
    lines = text.splitlines()
    assert lines[0] == "*filter" and lines[-1] == "COMMIT"
    rules = [line for line in lines if line.startswith("-A ")]
    # every rule carries a cali:<16 chars> id, and ids are unique
    ids = [re.search(r'"cali:([A-Za-z0-9_-]{16})"', r).group(1) for r in rules]
    assert len(ids) == len(rules) == len(set(ids))
    forward = [r for r in rules if r.startswith("-A FORWARD ")]
    assert forward[0].endswith("-j cali-FORWARD")
    assert '"Policy explicitly accepted packet."' in forward[-2]
    assert "-m mark --mark 0x10000/0x10000 -j ACCEPT" in forward[-2]
    assert "--set-xmark 0x10000/0x10000" in forward[-1]
    assert any("-i cali+" in r and r.endswith("-j cali-from-wl-dispatch") for r in rules)
    assert any("-o cali+" in r and r.endswith("-j cali-to-wl-dispatch") for r in rules)
    for ep in eps:
        assert any(f"-o {ep.iface} " in r and r.endswith(f"-g cali-tw-{ep.iface}") for r in rules)
        assert any(f"-i {ep.iface} " in r and r.endswith(f"-g cali-fw-{ep.iface}") for r in rules)
    for chain in ("cali-from-wl-dispatch", "cali-to-wl-dispatch"):
        mine = [r for r in rules if r.startswith(f"-A {chain} ")]
        assert '"Unknown interface"' in mine[-1] and mine[-1].endswith("-j DROP")
    tw = [r for r in rules if r.startswith(f"-A cali-tw-{eps[0].iface} ")]
    assert "--ctstate RELATED,ESTABLISHED -j ACCEPT" in tw[0]
    assert "--ctstate INVALID -j DROP" in tw[1]
    assert tw[2].endswith("MARK --set-xmark 0x0/0x10000")
    assert tw[3].endswith("-j cali-pri-kns.default")
    assert '"Return if profile accepted"' in tw[4] and tw[4].endswith("-j RETURN")
    assert '"Drop if no profiles matched"' in tw[5] and tw[5].endswith("-j DROP")
    pri = [r for r in rules if r.startswith("-A cali-pri-kns.default ")]
    assert pri[0].endswith("MARK --set-xmark 0x10000/0x10000")
    tw1 = [r for r in rules if r.startswith(f"-A cali-tw-{eps[1].iface} ")]
    assert any(r.endswith("-j cali-pi-default.deny") for r in tw1)
    assert any('"End of tier default. Drop if no policies passed packet"' in r for r in tw1)
    # chain names within iptables' limit
    for line in lines:
        if line.startswith(":"):
            assert len(line[1:].split()[0]) <= 28


def test_rendering_is_stable():
    assert _rendered()[1] == _rendered()[1]


def test_fault_registry_covers_the_brief():
    expected = {
        "ip-forwarding-disabled", "forward-policy-drop", "host-firewall-rejects",
        "iptables-backend-mismatch", "calico-chains-missing", "policy-denies", "proxy-arp-disabled",
        "workload-route-missing", "workload-route-conflict", "workload-veth-down",
        "policy-routing-override", "endpoint-not-programmed", "mtu-mismatch",
    }
    assert expected <= set(FAULTS)
    for fault in FAULTS.values():
        assert fault.description
