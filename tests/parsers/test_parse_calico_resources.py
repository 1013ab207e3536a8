"""IPPools as `kubectl get ippools.crd.projectcalico.org -o yaml` and calicoctl print them.

The inputs are constructed by this project in those tools' output format (no cluster here).
"""

import os

import jsonschema_rs
import pytest
from calirules.facts_collectors.parsers.calico_resources import (
    parse_calico_node_env,
    parse_felixconfigurations,
    parse_installations,
    parse_ippools,
    parse_objects,
)
from rawfixtures import RAW, cut_inside_line, random_garbage, validate_facts

KUBECTL_LIST = """apiVersion: v1
items:
- apiVersion: crd.projectcalico.org/v1
  kind: IPPool
  metadata:
    name: default-ipv4-ippool
  spec:
    blockSize: 26
    cidr: 198.18.64.0/18
    ipipMode: Always
    natOutgoing: true
    vxlanMode: Never
- apiVersion: crd.projectcalico.org/v1
  kind: IPPool
  metadata:
    name: retired
  spec:
    cidr: 198.18.128.0/18
    disabled: true
kind: List
"""
CALICOCTL_SINGLE = """apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: edge
spec:
  cidr: 198.19.32.0/20
  natOutgoing: false
"""


def by(items):
    return {(i["component"], i["key"]): (i["value"], i["source"]) for i in items}


def test_kubectl_list():
    items = by(parse_ippools(KUBECTL_LIST, "ippools.yaml"))
    assert items[("ippool/default-ipv4-ippool", "cidr")] == ("198.18.64.0/18", "ippools.yaml:9")
    assert items[("ippool/default-ipv4-ippool", "natOutgoing")][0] == "true"
    assert items[("ippool/retired", "disabled")] == ("true", "ippools.yaml:19")
    assert ("ippool/retired", "natOutgoing") not in items


def test_calicoctl_single_resource():
    assert by(parse_ippools(CALICOCTL_SINGLE, "p"))[("ippool/edge", "natOutgoing")] == ("false", "p:7")


def test_items_fit_the_settings_schema():
    from calirules.facts_collectors.dump import FACTS_SCHEMA
    dump = {"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "n"},
            "settings": parse_ippools(KUBECTL_LIST, "x")}
    jsonschema_rs.validator_for(FACTS_SCHEMA.document).validate(dump)


@pytest.mark.parametrize("text", ["", "not: [yaml", "- a\n- b\n", "kind: Pod\nmetadata: {name: x}\nspec: {}\n",
                                  os.urandom(300).decode("utf-8", "replace"), None, b"\xff\xfe"])
def test_garbage_gives_nothing(text):
    assert parse_ippools(text, "g") == []


def test_truncated_list_keeps_complete_pools():
    cut = KUBECTL_LIST[:KUBECTL_LIST.index("  metadata:\n    name: retired")]
    items = by(parse_ippools(cut, "c"))
    assert ("ippool/default-ipv4-ippool", "cidr") in items and not any(k[0] == "ippool/retired" for k in items)


# --- Installation, FelixConfiguration, the calico-node DaemonSet's env, any object -------------------
# tests/fixtures/raw/kube files, constructed in the format of `kubectl get <resource> -A -o yaml`
# (calicoctl cluster diags: cluster/crd/<plural>.<group>.yaml, cluster/kubernetes/daemonsets.yaml).

def kube(name):
    return (RAW / "kube" / name).read_text(encoding="utf-8")


def test_installation_linux_dataplane_from_the_spec_else_the_computed_status():
    name = "kubectl_get_installations_-A_-o_yaml.nftables-v1.36"
    items = parse_installations(kube(name), name)
    assert by(items) == {("installation/default", "calicoNetwork.linuxDataplane"): ("Nftables", f"{name}:31"),
                         ("installation/default", "variant"): ("Calico", f"{name}:49")}
    validate_facts(settings=items)  # kubernetesProvider "" (unset) is left out
    name = "kubectl_get_installations_-A_-o_yaml.defaults-v1.34"  # the spec leaves the data plane to the default
    assert by(parse_installations(kube(name), name))[
        ("installation/default", "status.computed.calicoNetwork.linuxDataplane")] == ("Iptables", f"{name}:26")


def test_felixconfigurations_global_and_per_node():
    name = "kubectl_get_felixconfigurations_-A_-o_yaml.v3.29"
    items = parse_felixconfigurations(kube(name), name)
    assert by(items) == {
        ("felixconfiguration/default", "nftablesMode"): ("Enabled", f"{name}:20"),
        ("felixconfiguration/node.node-b", "nftablesMode"): ("Disabled", f"{name}:33"),
        ("felixconfiguration/node.node-b", "bpfEnabled"): ("false", f"{name}:32"),
    }
    validate_facts(settings=items)


def test_calico_node_env_literal_felix_values_only():
    name = "kubectl_get_daemonsets_--all-namespaces_-o_yaml.manifest-v3.29"
    items = parse_calico_node_env(kube(name), name)
    assert [(i["key"], i["value"], i["source"]) for i in items] == [
        ("FELIX_DEFAULTENDPOINTTOHOSTACTION", "ACCEPT", f"{name}:59"), ("FELIX_IPV6SUPPORT", "false", f"{name}:61"),
        ("FELIX_HEALTHENABLED", "true", f"{name}:63"), ("FELIX_IPTABLESBACKEND", "NFT", f"{name}:65")]
    # CALICO_NETWORKING_BACKEND and FELIX_IPINIPMTU come `valueFrom` the calico-config ConfigMap:
    # the DaemonSet does not show their values. kube-proxy's env and the init container's are not Felix's.
    assert {i["component"] for i in items} == {"calico-node"}
    validate_facts(settings=items)


def test_objects_and_the_listing_they_came_in():
    name = "kubectl_get_installations_-A_-o_yaml.nftables-v1.36"
    assert parse_objects(kube(name), name, of="Installation") == [
        {"kind": "List", "of": "Installation", "source": f"{name}:1"},
        {"kind": "Installation", "name": "default", "source": f"{name}:13"}]
    empty = "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
    assert parse_objects(empty, "i", of="Installation") == [{"kind": "List", "of": "Installation", "source": "i:1"}]
    name = "kubectl_get_daemonsets_--all-namespaces_-o_yaml.manifest-v3.29"
    items = parse_objects(kube(name), name)
    assert [(i["kind"], i["name"], i["namespace"]) for i in items] == [
        ("DaemonSet", "calico-node", "kube-system"), ("DaemonSet", "kube-proxy", "kube-system")]
    validate_facts(kube_objects=items)


@pytest.mark.parametrize("parse", [parse_installations, parse_felixconfigurations, parse_calico_node_env, parse_objects])
def test_resources_truncated_or_garbage(parse):
    for name in ("kubectl_get_installations_-A_-o_yaml.nftables-v1.36", "kubectl_get_felixconfigurations_-A_-o_yaml.v3.29",
                 "kubectl_get_daemonsets_--all-namespaces_-o_yaml.manifest-v3.29"):
        text = kube(name)
        for fifth in range(1, 5):
            assert isinstance(parse(text[:len(text) * fifth // 5], name), list)
    for odd in ("", "not: [yaml", random_garbage(9), None, 42, b"\xff\xfe", "kind: List\nitems: 3\n",
                kube("kubectl_get_pods_-A.operator-v1.28")):
        assert parse(odd, "g") == []


def test_a_value_cut_by_truncation_is_not_read():
    """A file cut inside `nftablesMode: Disabled` must not say `Disa`: the cut line is dropped and
    the lines before it are read (line 32, node.node-b's bpfEnabled, is whole)."""
    name = "kubectl_get_felixconfigurations_-A_-o_yaml.v3.29"
    cut = by(parse_felixconfigurations(cut_inside_line(kube(name), 33, keep=21), name))
    assert ("felixconfiguration/node.node-b", "nftablesMode") not in cut
    assert cut[("felixconfiguration/node.node-b", "bpfEnabled")] == ("false", f"{name}:32")
    assert cut[("felixconfiguration/default", "nftablesMode")] == ("Enabled", f"{name}:20")
