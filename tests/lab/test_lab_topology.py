"""The healthy lab against the real kernel: plumbing, rules, ping, teardown."""

from __future__ import annotations

import pytest
from calirules.lab import Lab, LabError, naming, netns


def test_healthy_ping_works(make_lab, backend):
    lab = make_lab(pods=3, backend=backend)
    assert lab.ping(0, 1)
    assert lab.ping("pod-1", "pod-2")
    assert lab.ping(lab.pods[2], lab.pods[0].ip, count=2)
    # the accepted packets went through Calico's chains and its appended ACCEPT
    assert lab.packet_count("Return if profile accepted") > 0
    assert lab.packet_count("Policy explicitly accepted packet.") > 0
    assert lab.packet_count("Unknown interface") == 0
    # pod -> upstream (egress via the node's default route) works too
    assert lab.ping(0, naming.UPSTREAM_IP)


def test_full_size_df_ping_works_when_healthy(lab):
    assert lab.ping(0, 1, size=lab.pod_mtu - 28, dont_fragment=True)


def test_plumbing_matches_calico(lab):
    node = lab.node_ns
    assert lab.sysctl_get("net.ipv4.ip_forward") == "1"
    routes = netns.ip(node, "-4", "route", "show")
    assert f"default via {naming.UPSTREAM_IP} dev eth0" in routes
    for pod in lab.pods:
        assert lab.host_ifaces[pod.name] == pod.iface == naming.cali_iface(pod.name)
        assert pod.netns in lab.pod_namespaces and lab.pod_ips[pod.name] == pod.ip
        assert f"{pod.ip} dev {pod.iface} scope link" in routes
        link = netns.ip_json(node, "link", "show", "dev", pod.iface)[0]
        assert link["address"] == "ee:ee:ee:ee:ee:ee" and link["mtu"] == lab.pod_mtu
        for key, value in (("conf.{}.proxy_arp", "1"), ("conf.{}.forwarding", "1"),
                           ("neigh.{}.proxy_delay", "0"), ("conf.{}.route_localnet", "1")):
            assert lab.sysctl_get("net.ipv4." + key.format(pod.iface)) == value
        addr = netns.ip_json(pod.netns, "-4", "addr", "show", "dev", "eth0")[0]["addr_info"][0]
        assert (addr["local"], addr["prefixlen"]) == (pod.ip, 32)
        pod_routes = netns.ip(pod.netns, "-4", "route", "show")
        assert "default via 169.254.1.1 dev eth0" in pod_routes
        assert "169.254.1.1 dev eth0 scope link" in pod_routes
    assert netns.ip_json(node, "link", "show", "dev", "eth0")[0]["mtu"] == lab.uplink_mtu


def test_rules_loaded_in_chosen_backend_only(make_lab, backend):
    lab = make_lab(backend=backend)
    other = "nft" if backend == "legacy" else "legacy"
    assert ":cali-FORWARD" in lab.iptables_save()
    assert "cali-" not in lab.iptables_save(backend=other)
    forward = lab.iptables("-S", "FORWARD").splitlines()
    assert forward[1].endswith("-j cali-FORWARD")
    assert "Policy explicitly accepted packet." in forward[-2]


def test_forward_policy_drop_alone_does_not_break_calico(make_lab, backend, lab_tools):
    """Negative control for forward-policy-drop: Docker's DROP policy is harmless while Felix's
    appended ACCEPT is there."""
    lab = make_lab(backend=backend)
    lab.iptables("-P", "FORWARD", "DROP")
    assert lab.ping(0, 1, count=2)
    assert lab_tools.policy_counter(lab.iptables_save(counters=True), "FORWARD") == 0


def test_down_removes_everything_and_is_idempotent(lab_tools):
    lab_tools.skip_unless_lab("legacy")
    lab = Lab(lab_tools.new_prefix(), pods=2).up()
    names = set(lab.namespaces)
    assert names <= set(netns.list_netns())
    assert set(lab.down()) == names
    assert lab.existing_namespaces() == []
    assert not [n for n in netns.list_netns() if n.startswith(lab.prefix + "-")]
    assert lab.down() == []


def test_context_manager_tears_down_on_error(lab_tools):
    lab_tools.skip_unless_lab("nft")
    prefix = lab_tools.new_prefix()
    with pytest.raises(RuntimeError):
        with Lab(prefix, backend="nft") as lab:
            assert lab.ping(0, 1)
            raise RuntimeError("boom")
    assert not [n for n in netns.list_netns() if n.startswith(prefix + "-")]


def test_partial_up_is_cleaned_up(lab_tools, monkeypatch):
    lab_tools.skip_unless_lab("legacy")
    lab = Lab(lab_tools.new_prefix(), pods=2)

    def explode(*_a, **_k):
        raise KeyboardInterrupt  # as if Ctrl-C arrived half-way through up()

    monkeypatch.setattr(lab, "program_iptables", explode)
    with pytest.raises(KeyboardInterrupt):
        lab.up()
    assert lab.existing_namespaces() == []
    assert lab.down() == []


def test_up_refuses_existing_prefix(make_lab):
    lab = make_lab()
    with pytest.raises(LabError, match="already exists"):
        Lab(lab.prefix).up()
    assert lab.ping(0, 1)  # the refused up() did not tear the running lab down


def test_add_pod_and_discover(make_lab):
    lab = make_lab(pods=2, backend="nft")
    new = lab.add_pod()
    assert lab.ping(0, new) and lab.ping(new, 1)
    found = Lab.discover(lab.prefix)
    assert found.backend == "nft"
    assert [(p.name, p.ip, p.iface, p.netns) for p in found.pods] == \
        [(p.name, p.ip, p.iface, p.netns) for p in lab.pods]
