"""kubectl listings -> kube_objects (facts_collectors/parsers/kube_objects.py).

The inputs are tests/fixtures/raw/kube files, constructed by this project in kubectl's output
format (tests/fixtures/raw/kube/README.md names the command and version of each).
"""

import pytest
from calirules.facts_collectors.parsers.kube_objects import parse_kubectl_listing
from rawfixtures import (
    RAW,
    UNRELATED_TEXT,
    cut_inside_line,
    random_garbage,
    validate_facts,
)

KUBE = RAW / "kube"


def kube(name):
    return (KUBE / name).read_text(encoding="utf-8")


def test_all_namespaces_pods_one_item_per_component_and_namespace():
    name = "kubectl_get_pods_--all-namespaces_-o_wide.operator-v1.30"
    items = parse_kubectl_listing(kube(name), name)
    assert items == [
        {"kind": "Pod", "component": "calico-kube-controllers", "name": "calico-kube-controllers-5f7c8d9b46-r8nzp",
         "namespace": "calico-system", "count": 1, "source": f"{name}:3"},
        {"kind": "Pod", "component": "calico-node", "name": "calico-node-4kq8z", "namespace": "calico-system",
         "count": 3, "source": f"{name}:4"},
        {"kind": "Pod", "component": "calico-typha", "name": "calico-typha-7b6f5c9d84-p4lmx",
         "namespace": "calico-system", "count": 1, "source": f"{name}:7"},
        {"kind": "Pod", "component": "tigera-operator", "name": "tigera-operator-76c4974c85-jx6vb",
         "namespace": "tigera-operator", "count": 1, "source": f"{name}:11"},
        # a NAMESPACE column: the listing covered every namespace
        {"kind": "List", "of": "Pod", "source": f"{name}:1"},
    ]  # calico-apiserver, csi-node-driver, coredns and kube-proxy are not Calico components
    validate_facts(kube_objects=items)


def test_manifest_cluster_pods_namespaces_and_configmaps():
    name = "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21"  # `pod/` prefixes, other tables follow
    items = parse_kubectl_listing(kube(name), name)
    assert [(i["kind"], i.get("component"), i.get("namespace"), i.get("count")) for i in items] == [
        ("Pod", "calico-kube-controllers", "kube-system", 1), ("Pod", "calico-node", "kube-system", 2),
        ("List", None, None, None)]
    name = "kubectl_get_namespaces.manifest-v1.28"  # no calico or tigera namespace: only the listing
    assert parse_kubectl_listing(kube(name), name) == [{"kind": "List", "of": "Namespace", "source": f"{name}:1"}]
    name = "kubectl_get_--all-namespaces_true_configmaps.manifest-v1.28"
    assert parse_kubectl_listing(kube(name), name) == [
        {"kind": "ConfigMap", "name": "calico-config", "namespace": "kube-system", "source": f"{name}:6"},
        {"kind": "List", "of": "ConfigMap", "source": f"{name}:1"}]


def test_operator_namespaces():
    name = "kubectl_get_namespaces.operator-v1.30"
    items = parse_kubectl_listing(kube(name), name)
    assert [(i["kind"], i.get("name"), i["source"]) for i in items] == [
        ("Namespace", "calico-apiserver", f"{name}:2"), ("Namespace", "calico-system", f"{name}:3"),
        ("Namespace", "tigera-operator", f"{name}:8"), ("List", None, f"{name}:1")]
    validate_facts(kube_objects=items)


def test_one_namespace_listing_needs_the_caller_to_name_it():
    """`kubectl get all -n tigera-operator` (calicoctl cluster diags' tigera-operator.txt) has no
    NAMESPACE column: the caller knows the command and names the namespace."""
    name = "kubectl_get_all_-n_tigera-operator_-o_wide.v1.30"
    items = parse_kubectl_listing(kube(name), name, namespace="tigera-operator", of="Pod")
    assert items == [
        {"kind": "Pod", "component": "tigera-operator", "name": "tigera-operator-76c4974c85-jx6vb",
         "namespace": "tigera-operator", "count": 1, "source": f"{name}:2"},
        {"kind": "List", "of": "Pod", "namespace": "tigera-operator", "source": f"{name}:1"}]
    # Unnamed, the pod still shows an operator runs; the listing's scope is unknown: no List item.
    name = "kubectl_get_pods_-n_tigera-operator.v1.25"
    assert parse_kubectl_listing(kube(name), name) == [
        {"kind": "Pod", "component": "tigera-operator", "name": "tigera-operator-58f95c9b67-vdq8s", "count": 1,
         "source": f"{name}:2"}]


def test_no_resources_found_is_a_listing_of_nothing():
    name = "kubectl_get_all_-n_tigera-operator_-o_wide.no-resources"
    assert parse_kubectl_listing(kube(name), name, namespace="tigera-operator", of="Pod") == [
        {"kind": "List", "of": "Pod", "namespace": "tigera-operator", "source": f"{name}:1"}]
    # the namespace comes from the message when the caller does not know it; older kubectl says less
    assert parse_kubectl_listing(kube(name), name, of="Pod")[0]["namespace"] == "tigera-operator"
    assert parse_kubectl_listing("No resources found.\n", "x", of="Pod") == [
        {"kind": "List", "of": "Pod", "source": "x:1"}]
    # without knowing what was listed, the message says nothing
    assert parse_kubectl_listing(kube(name), name) == []


def test_truncated_listing_keeps_whole_rows_only():
    name = "kubectl_get_pods_--all-namespaces_-o_wide.operator-v1.30"
    cut = parse_kubectl_listing(cut_inside_line(kube(name), 6, keep=30), name)  # inside the third calico-node row
    assert [(i.get("component"), i.get("count")) for i in cut] == [
        ("calico-kube-controllers", 1), ("calico-node", 2), (None, None)]
    # cut inside the header: no table was read, so no listing either
    assert parse_kubectl_listing(cut_inside_line(kube(name), 1, keep=20), name) == []


@pytest.mark.parametrize("odd", [random_garbage(81), UNRELATED_TEXT, "", None, 42, b"\xff\xfe NAME STATUS"])
def test_garbage_gives_nothing(odd):
    assert parse_kubectl_listing(odd, "x") == []
    assert parse_kubectl_listing(odd, "x", namespace="calico-system") == []


def test_other_kubectl_tables_are_not_namespaces():
    for name in ("kubectl_get_nodes.v1.26", "kubectl_get_nodes_-o_wide.v1.30", "kubectl_version.plain-v1.28"):
        assert parse_kubectl_listing(kube(name), name) == []
