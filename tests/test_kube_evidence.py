"""How Calico is installed, as the bundle reader finds it: `components` pod fields, `kube_objects`,
Felix/Installation `settings`, in sosreports (kubernetes plugin, container logs) and calicoctl
cluster diags (cluster/..., nodes/<node>/...).

Listings and YAML are the tests/fixtures/raw/kube files (constructed in kubectl's formats, see
their README), placed where each tool writes that command's output
(shared/reference/bundle-layouts.md sections 1.6 and 3.2).
"""

from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.cluster_diags import ClusterNodeSource
from calirules.facts_collectors.source import DirectorySource

from tests.kube_bundles import SOS_KUBECTL, cluster_diags, put


def test_sosreport_of_a_manifest_control_plane_node(tmp_path):
    root = tmp_path / "sosreport-node-a-2026-11-01-abcdefg"
    put(root, "sos_commands/host/hostname", text="node-a\n")
    put(root, f"{SOS_KUBECTL}_get_--all-namespaces_true_pods", "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21")
    put(root, f"{SOS_KUBECTL}_get_namespaces", "kubectl_get_namespaces.manifest-v1.28")
    put(root, f"{SOS_KUBECTL}_get_--all-namespaces_true_configmaps",
        "kubectl_get_--all-namespaces_true_configmaps.manifest-v1.28")
    dump = read_bundle(DirectorySource(root))
    node = next(c for c in dump["components"] if c["name"] == "calico-node")
    assert (node["namespace"], node["pod"], node["node"]) == ("kube-system", "calico-node-lq9tn", "node-a")
    objects = [(o["kind"], o.get("of") or o.get("name"), o.get("namespace")) for o in dump["kube_objects"]]
    assert objects == [
        ("Pod", "calico-kube-controllers-6c9d8f7b5d-rx4kz", "kube-system"), ("Pod", "calico-node-w7g2m", "kube-system"),
        ("List", "Pod", None), ("List", "Namespace", None),
        ("ConfigMap", "calico-config", "kube-system"), ("List", "ConfigMap", None)]
    assert dump["kube_objects"][4]["source"] == f"{SOS_KUBECTL}_get_--all-namespaces_true_configmaps:6"


def test_sosreport_of_a_worker_names_the_pod_by_its_log_directory(tmp_path):
    """A worker has no admin.conf, so no kubectl output: the calico-node pod's container log
    directory (sos container_log plugin) still names the pod and its namespace."""
    root = tmp_path / "sosreport-node-b"
    put(root, "sos_commands/host/hostname", text="node-b\n")
    directory = "var/log/pods/calico-system_calico-node-h2xvn_0c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f"
    put(root, f"{directory}/calico-node/3.log",
        text="2026-11-01T10:00:00.000000000Z stdout F 2026-11-01 10:00:00.000 [INFO][9] "
             "startup/startup.go 425: Early log level set to info\n")
    dump = read_bundle(DirectorySource(root))
    assert dump["kube_objects"] == [{"kind": "Pod", "component": "calico-node", "name": "calico-node-h2xvn",
                                     "namespace": "calico-system", "node": "node-b", "source": f"{directory}/"}]
    assert "components" not in dump  # the directory says nothing about readiness


def test_no_kubernetes_evidence_is_missing_evidence(tmp_path):
    root = tmp_path / "sosreport-node-c"
    put(root, "sos_commands/host/hostname", text="node-c\n")
    dump = read_bundle(DirectorySource(root))
    assert "kube_objects" not in dump
    assert any(m["section"] == "kube_objects" for m in dump["collection"]["missing"])


def test_cluster_diags_each_node_sees_its_own_pod_and_the_clusters_objects(tmp_path):
    root = cluster_diags(tmp_path)
    dump = read_bundle(ClusterNodeSource(DirectorySource(root), "node-b"))
    (node,) = [c for c in dump["components"] if c["name"] == "calico-node"]
    assert (node["pod"], node["namespace"], node["node"], node["ready"], node["restarts"]) == (
        "calico-node-h2xvn", "calico-system", "node-b", False, 3)
    assert node["source"] == "cluster/kubernetes/pods.txt:5"
    kinds = [(o["kind"], o.get("component") or o.get("name") or o.get("of"), o["source"]) for o in dump["kube_objects"]]
    assert ("Pod", "tigera-operator", "cluster/kubernetes/pods.txt:11") in kinds
    assert ("Namespace", "tigera-operator", "cluster/kubernetes/namespaces.txt:8") in kinds
    assert ("List", "Pod", "cluster/tigera-operator/tigera-operator.txt:1") in kinds
    assert ("Installation", "default", "cluster/crd/installations.operator.tigera.io.yaml:13") in kinds
    settings = {(s["component"], s["key"]): s["value"] for s in dump["settings"]}
    assert settings[("installation/default", "calicoNetwork.linuxDataplane")] == "Nftables"
    assert settings[("felixconfiguration/node.node-b", "nftablesMode")] == "Disabled"
    other = read_bundle(ClusterNodeSource(DirectorySource(root), "node-a"))
    assert [c["pod"] for c in other["components"] if c["name"] == "calico-node"] == ["calico-node-4kq8z"]


def test_cluster_diags_file_holding_a_kubectl_error_is_no_listing(tmp_path):
    """calicoctl writes the file even when kubectl failed (bundle-layouts.md 3.2)."""
    root = cluster_diags(tmp_path)
    put(root, "cluster/crd/installations.operator.tigera.io.yaml",
        text='error: the server doesn\'t have a resource type "installations"\n')
    dump = read_bundle(ClusterNodeSource(DirectorySource(root), "node-a"))
    assert not any(o["kind"] in ("Installation",) or o.get("of") == "Installation" for o in dump["kube_objects"])
