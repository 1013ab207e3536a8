"""engine/platform.py `describe`: how Calico is installed and runs here, from the evidence only.

The first tests read bundles built from tests/fixtures/raw/kube files (kubectl's formats) with the
real bundle reader, as `calirules diagnose --sosreport/--bundle` does; the rest hand `describe` small
dumps holding exactly the evidence under test (each item as a collector writes it).
"""

import pytest
from calirules.engine.platform import describe
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.cluster_diags import ClusterNodeSource
from calirules.facts_collectors.source import DirectorySource

from tests.kube_bundles import SOS_KUBECTL, cluster_diags, put

NODE = {"hostname": "node-a"}


def dump(**sections):
    return {"node": NODE, **sections}


def pod_item(namespace, name, node=None, source="pods:2", component="calico-node"):
    item = {"name": component, "ready": True, "status": "Running", "restarts": 0, "namespace": namespace,
            "pod": name, "source": source}
    if node:
        item["node"] = node
    return item


# --- from bundles ----------------------------------------------------------------------------------

def test_operator_cluster_diags(tmp_path):
    root = cluster_diags(tmp_path)
    found = describe(read_bundle(ClusterNodeSource(DirectorySource(root), "node-b")))
    assert (found["method"], found["namespace"], found["pod"]) == ("operator", "calico-system", "calico-node-h2xvn")
    assert found["sources"]["pod"] == "cluster/kubernetes/pods.txt:5"
    assert found["sources"]["method"].startswith("cluster/kubernetes/pods.txt:5; cluster/kubernetes/pods.txt:4")
    assert "cluster/crd/installations.operator.tigera.io.yaml:13" in found["sources"]["method"]
    # node-b's own FelixConfiguration turns nftables and eBPF off: iptables, whatever the Installation says
    assert found["dataplane"] == "iptables"
    assert found["sources"]["dataplane"] == ("cluster/crd/felixconfigurations.crd.projectcalico.org.yaml:33; "
                                             "cluster/crd/felixconfigurations.crd.projectcalico.org.yaml:32")
    assert found["conflicts"] == []
    other = describe(read_bundle(ClusterNodeSource(DirectorySource(root), "node-a")))
    assert (other["pod"], other["dataplane"]) == ("calico-node-4kq8z", "nftables")  # the global default


def test_manifest_sosreport_with_calico_config(tmp_path):
    root = tmp_path / "sosreport-node-a"
    put(root, "sos_commands/host/hostname", text="node-a\n")
    put(root, f"{SOS_KUBECTL}_get_--all-namespaces_true_pods", "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21")
    put(root, f"{SOS_KUBECTL}_get_--all-namespaces_true_configmaps",
        "kubectl_get_--all-namespaces_true_configmaps.manifest-v1.28")
    found = describe(read_bundle(DirectorySource(root)))
    assert (found["method"], found["namespace"], found["pod"]) == ("manifest", "kube-system", "calico-node-lq9tn")
    assert found["sources"]["method"].startswith(f"{SOS_KUBECTL}_get_--all-namespaces_true_configmaps:6")
    assert found["sources"]["namespace"] == f"{SOS_KUBECTL}_get_--all-namespaces_true_pods:4"


def test_manifest_by_no_operator_anywhere(tmp_path):
    """No calico-config in the bundle: calico-node-xxxxx in kube-system while the namespace list
    has neither tigera-operator nor calico-system."""
    root = tmp_path / "sosreport-node-a"
    put(root, "sos_commands/host/hostname", text="node-a\n")
    put(root, f"{SOS_KUBECTL}_get_--all-namespaces_true_pods", "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21")
    put(root, f"{SOS_KUBECTL}_get_namespaces", "kubectl_get_namespaces.manifest-v1.28")
    found = describe(read_bundle(DirectorySource(root)))
    assert found["method"] == "manifest"
    # the pod that shows kube-system, and the listing that would have shown an operator
    assert found["sources"]["method"] == (f"{SOS_KUBECTL}_get_--all-namespaces_true_pods:4; "
                                          f"{SOS_KUBECTL}_get_--all-namespaces_true_pods:1")


def test_worker_sosreport_knows_the_pod_but_not_the_method(tmp_path):
    root = tmp_path / "sosreport-node-a"
    put(root, "sos_commands/host/hostname", text="node-a\n")
    directory = "var/log/pods/kube-system_calico-node-x7k2p_3f0c2b1e-7d0a-4a8e-9f21-5b6c7d8e9f00"
    put(root, f"{directory}/calico-node/0.log", text="2026-11-01T10:00:00.000000000Z stdout F started\n")
    found = describe(read_bundle(DirectorySource(root)))
    assert (found["method"], found["namespace"], found["pod"]) == (None, "kube-system", "calico-node-x7k2p")
    assert found["sources"] == {"namespace": f"{directory}/", "pod": f"{directory}/"}


# --- install method -------------------------------------------------------------------------------

def test_nothing_known_is_none_everywhere():
    assert describe(dump()) == {"method": None, "namespace": None, "pod": None, "dataplane": None,
                                "iptables_backend": None, "encapsulation": [], "sources": {}, "conflicts": []}


def test_kube_system_alone_says_nothing_about_the_method():
    found = describe(dump(components=[pod_item("kube-system", "calico-node-x7k2p", "node-a")]))
    assert (found["method"], found["namespace"], found["pod"]) == (None, "kube-system", "calico-node-x7k2p")


def test_canal_in_kube_system_is_not_called_a_manifest_install():
    """RKE2's canal runs a calico-node container in pod rke2-canal-xxxxx (crictl shows it): no
    operator anywhere does not make it Calico's manifest."""
    found = describe(dump(
        components=[pod_item("kube-system", "rke2-canal-7xk2p", "node-a", source="crictl_ps_-a:3")],
        kube_objects=[{"kind": "List", "of": "Namespace", "source": "namespaces:1"}]))
    assert (found["method"], found["namespace"], found["pod"]) == (None, "kube-system", "rke2-canal-7xk2p")


def test_operator_namespace_decides_and_fills_the_namespace():
    found = describe(dump(kube_objects=[{"kind": "Namespace", "name": "tigera-operator", "source": "ns:8"}]))
    assert (found["method"], found["namespace"], found["pod"]) == ("operator", "calico-system", None)
    assert found["sources"] == {"method": "ns:8", "namespace": "operator install (ns:8)"}


def test_this_nodes_pod_is_preferred_over_other_nodes():
    components = [pod_item("calico-system", "calico-node-b2", "node-b", "pods:3"),
                  pod_item("calico-system", "calico-node-a1", "node-a", "pods:4")]
    found = describe(dump(components=components))
    assert (found["pod"], found["sources"]["pod"], found["method"]) == ("calico-node-a1", "pods:4", "operator")


def test_listing_without_node_gives_the_namespace_not_the_pod():
    components = [pod_item("kube-system", "calico-node-b2b2b"), pod_item("kube-system", "calico-node-a1a1a")]
    found = describe(dump(components=components))
    assert (found["namespace"], found["pod"], found["method"]) == ("kube-system", None, None)


def test_conflict_operator_pod_beside_a_kube_system_calico_node():
    found = describe(dump(
        components=[pod_item("kube-system", "calico-node-x7k2p", "node-a", "pods:5")],
        kube_objects=[{"kind": "Pod", "component": "tigera-operator", "name": "tigera-operator-1-abcde",
                       "namespace": "tigera-operator", "count": 1, "source": "pods:9"},
                      {"kind": "ConfigMap", "name": "calico-config", "namespace": "kube-system", "source": "cm:6"}]))
    assert found["method"] is None and found["namespace"] == "kube-system"
    assert found["conflicts"] == ["operator evidence (pods:9) and manifest evidence (cm:6)"]


def test_calico_system_pod_wins_over_a_leftover_calico_config():
    found = describe(dump(
        components=[pod_item("calico-system", "calico-node-x7k2p", "node-a", "pods:5")],
        kube_objects=[{"kind": "ConfigMap", "name": "calico-config", "namespace": "kube-system", "source": "cm:6"}]))
    assert found["method"] == "operator" and found["sources"]["method"] == "pods:5"
    assert found["conflicts"] == ["manifest leftovers beside the operator: cm:6"]


def test_this_node_in_two_namespaces_is_no_namespace():
    components = [pod_item("kube-system", "calico-node-old11", "node-a", "pods:3"),
                  pod_item("calico-system", "calico-node-new22", "node-a", "pods:7")]
    found = describe(dump(components=components))
    assert (found["namespace"], found["pod"], found["method"]) == (None, None, None)
    assert found["conflicts"] == ["calico-node pods of this node in kube-system (pods:3) and calico-system (pods:7)"]


def test_operator_managing_a_kube_system_calico_node_is_flagged():
    found = describe(dump(
        components=[pod_item("kube-system", "calico-node-x7k2p", "node-a", "pods:5")],
        settings=[{"component": "installation/default", "key": "variant", "value": "Calico", "source": "inst:20"}]))
    assert (found["method"], found["namespace"]) == ("operator", "kube-system")
    assert "a migration from a manifest install?" in found["conflicts"][0]


# --- data plane -----------------------------------------------------------------------------------

CALICO_TABLE = {"family": "ip", "name": "calico", "chains": 7, "rules": 10, "source": "nft:92"}


def netfilter(backend, *chains, source="save"):
    return {"backend": backend, "source": source, "warnings": [], "tables": [{"name": "filter", "chains": [
        {"name": name, "policy": None, "source": f"{source}:{i + 1}", "rules": []} for i, name in enumerate(chains)]}]}


def setting(component, key, value, source="s:1"):
    return {"component": component, "key": key, "value": value, "source": source}


def event(name, current=None, source="log:1"):
    item = {"component": "felix", "event": name, "message": "m", "count": 1, "source": source}
    if current is not None:
        item["current"] = current
    return item


@pytest.mark.parametrize("sections, expected, source", [
    ({"nft_tables": [CALICO_TABLE]}, "nftables", "nft:92"),
    ({"nft_tables": [dict(CALICO_TABLE, chains=0)]}, None, None),  # an empty table Felix left: nothing runs in it
    ({"nft_tables": [dict(CALICO_TABLE, family="inet")]}, None, None),  # not Felix's family
    ({"netfilter": [netfilter("nft", "FORWARD", "cali-INPUT", "cali-FORWARD")]}, "iptables", "save:3"),
    ({"log_events": [event("felix_bpf_enabled")]}, "bpf", "log:1"),
    ({"log_events": [event("felix_bpf_enabled", current=False)]}, None, None),  # an earlier calico-node's
    ({"settings": [setting("calico-node", "FELIX_BPFENABLED", "true")]}, "bpf", "s:1"),
    ({"settings": [setting("felixconfiguration/default", "nftablesMode", "Enabled")]}, "nftables", "s:1"),
    ({"settings": [setting("felixconfiguration/default", "nftablesMode", "Auto")]}, None, None),
    ({"settings": [setting("felixconfiguration/default", "nftablesMode", "Disabled")]}, None, None),  # BPF?
    ({"settings": [setting("installation/default", "calicoNetwork.linuxDataplane", "BPF")]}, "bpf", "s:1"),
    ({"settings": [setting("installation/default", "calicoNetwork.linuxDataplane", "VPP")]}, None, None),
])
def test_dataplane_evidence(sections, expected, source):
    found = describe(dump(**sections))
    assert found["dataplane"] == expected and found["sources"].get("dataplane") == source


def test_environment_beats_this_nodes_felixconfiguration_beats_the_default():
    settings = [setting("felixconfiguration/default", "nftablesMode", "Enabled", "fc:20"),
                setting("felixconfiguration/node.node-a", "NFTablesMode", "Disabled", "fc:33"),
                setting("felixconfiguration/node.node-a", "bpfEnabled", "false", "fc:32")]
    assert describe(dump(settings=settings))["dataplane"] == "iptables"
    settings.append(setting("calico-node", "FELIX_NFTABLESMODE", "Enabled", "ds:70"))
    found = describe(dump(settings=settings))
    assert (found["dataplane"], found["sources"]["dataplane"]) == ("nftables", "ds:70")
    # another node's FelixConfiguration is not this node's
    other = [setting("felixconfiguration/node.node-b", "nftablesMode", "Enabled")]
    assert describe(dump(settings=other))["dataplane"] is None


def test_what_the_node_shows_beats_what_is_configured():
    found = describe(dump(netfilter=[netfilter("legacy", "cali-FORWARD")],
                          settings=[setting("felixconfiguration/default", "nftablesMode", "Enabled", "fc:20")]))
    assert (found["dataplane"], found["iptables_backend"]) == ("iptables", "legacy")
    assert found["conflicts"] == [("the node runs the iptables data plane (save:1) but the configuration asks for "
                                   "nftables (fc:20): not applied yet")]


def test_both_programmed_needs_the_configuration_to_tell():
    sections = {"nft_tables": [CALICO_TABLE], "netfilter": [netfilter("nft", "cali-FORWARD")]}
    found = describe(dump(**sections))
    assert found["dataplane"] is None
    assert found["conflicts"] == ["Felix's nftables table and cali- iptables chains are both programmed (nft:92; save:1)"]
    found = describe(dump(**sections, settings=[setting("calico-node", "FELIX_NFTABLESMODE", "Enabled", "ds:9")]))
    assert (found["dataplane"], found["iptables_backend"]) == ("nftables", None)  # the chains are leftovers


def test_bpf_refused_by_the_kernel_is_not_the_bpf_data_plane():
    found = describe(dump(log_events=[event("felix_bpf_enabled"), event("felix_bpf_unsupported", source="log:9")],
                          netfilter=[netfilter("legacy", "cali-FORWARD")]))
    assert found["dataplane"] == "iptables"
    assert found["conflicts"][0].endswith("(the kernel lacks support): log:9")


def test_same_level_disagreement_is_none():
    settings = [setting("calico-node", "FELIX_BPFENABLED", "true", "ds:1"),
                setting("calico-node", "FELIX_BPFENABLED", "false", "ds:2")]
    found = describe(dump(settings=settings))
    assert found["dataplane"] is None
    assert found["conflicts"] == ["Felix BPFEnabled set to false and true at the same level (ds:1; ds:2)"]


def test_iptables_backend_from_chains_else_an_explicit_setting():
    found = describe(dump(netfilter=[netfilter("legacy", "INPUT", source="l"),
                                     netfilter("nft", "cali-INPUT", "cali-FORWARD", source="n")]))
    assert (found["iptables_backend"], found["sources"]["iptables_backend"]) == ("nft", "n:2")
    tie = describe(dump(netfilter=[netfilter("legacy", "cali-FORWARD", source="l"),
                                   netfilter("nft", "cali-FORWARD", source="n")]))
    assert tie["iptables_backend"] is None and "both iptables backends" in tie["conflicts"][0]
    explicit = describe(dump(settings=[setting("felix", "IptablesBackend", "NFT", "u:1")]))
    assert (explicit["iptables_backend"], explicit["sources"]["iptables_backend"]) == ("nft", "u:1")
    assert describe(dump(settings=[setting("felix", "IptablesBackend", "Auto")]))["iptables_backend"] is None


# --- encapsulation --------------------------------------------------------------------------------

def iface(name, addresses=(), flags=("UP", "LOWER_UP"), source=None):
    return {"name": name, "flags": list(flags), "addresses": list(addresses), "source": source or f"ip:{name}"}


def test_tunnel_devices_and_pools():
    found = describe(dump(interfaces=[iface("tunl0", flags=("NOARP",)), iface("eth0", ["198.18.0.11/24"])]))
    assert found["encapsulation"] == []  # the ipip module's idle tunl0 is not Calico's IPIP
    found = describe(dump(interfaces=[iface("tunl0", ["198.19.12.128/32"], ("NOARP", "UP", "LOWER_UP")),
                                      iface("vxlan.calico"), iface("wg-v6.cali")]))
    assert found["encapsulation"] == ["ipip", "vxlan", "wireguard"]
    assert found["sources"]["encapsulation"] == "ipip: ip:tunl0; vxlan: ip:vxlan.calico; wireguard: ip:wg-v6.cali"
    pools = [setting("ippool/default-ipv4-ippool", "ipipMode", "CrossSubnet", "pool:7"),
             setting("ippool/default-ipv4-ippool", "vxlanMode", "Never", "pool:9")]
    found = describe(dump(settings=pools))
    assert (found["encapsulation"], found["sources"]["encapsulation"]) == (["ipip"], "ipip: pool:7")
    found = describe(dump(settings=[setting("felixconfiguration/default", "wireguardEnabled", "true", "fc:4")]))
    assert found["encapsulation"] == ["wireguard"]
