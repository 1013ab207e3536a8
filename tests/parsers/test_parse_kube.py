import random
import re

import jsonschema_rs
import pytest
from calirules.facts_collectors.dump import FACTS_SCHEMA
from calirules.facts_collectors.parsers.kube import (
    calico_version_from_image_ref,
    calico_version_from_images,
    parse_crictl_images,
    parse_crictl_ps,
    parse_image_refs,
    parse_kubectl_nodes,
    parse_kubectl_pods,
    parse_kubectl_version,
    parse_kubelet_version,
    pod_component,
)
from rawfixtures import RAW, UNRELATED_TEXT, cut_inside_line, line_of, random_garbage

KUBE = RAW / "kube"


def kube(name):
    return (KUBE / name).read_text(encoding="utf-8")


def assert_items_valid(section, items):
    """Each item validates against the facts schema's `properties.<section>.items`."""
    facts = FACTS_SCHEMA.document
    item_schema = dict(facts["properties"][section]["items"], definitions=facts["definitions"])
    validator = jsonschema_rs.validator_for(item_schema)
    for item in items:
        validator.validate(item)


def garbage_inputs():
    return [random_garbage(70), UNRELATED_TEXT, "", None, 42, b"\xff\xfe\x00 NAME READY"]


# --- kubectl version -------------------------------------------------------------------------

@pytest.mark.parametrize("name, version, line", [
    ("kubectl_version.info-v1.24", "v1.24.17", 4),
    ("kubectl_version.info-v1.21", "v1.21.14", 2),
    ("kubectl_version_--short.info-v1.21", "v1.21.14", 2),
    ("kubectl_version_--short.deprecated-v1.27", "v1.27.13", 4),
    ("kubectl_version.plain-v1.28", "v1.28.15", 3),
    ("kubectl_version_-o_yaml.v1.30", "v1.30.6", 17),
    ("kubectl_version_-o_json.prerelease-v1.30", "v1.30.0-alpha.2.118+05834df67a63a1", 17),
])
def test_kubectl_version_reports_the_server_in_every_form(name, version, line):
    items = parse_kubectl_version(kube(name), name)
    assert items == [{"component": "kubernetes", "version": version, "source": f"{name}:{line}"}]
    assert_items_valid("versions", items)


def test_kubectl_version_ignores_the_client_version():
    # info-v1.24: client v1.26.9, server v1.24.17; plain-v1.28: client v1.31.4, server v1.28.15;
    # the yaml fixture: client v1.31.2, server v1.30.6.
    versions = [item["version"] for name in ("kubectl_version.info-v1.24",
                                             "kubectl_version.plain-v1.28",
                                             "kubectl_version_-o_yaml.v1.30")
                for item in parse_kubectl_version(kube(name), name)]
    assert versions == ["v1.24.17", "v1.28.15", "v1.30.6"]
    name = "kubectl_version_--client_-o_json.windows-v1.29"
    assert '"gitVersion": "v1.29.6"' in kube(name)
    assert parse_kubectl_version(kube(name), name) == []


def test_kubectl_version_rejects_unstamped_builds():
    name = "kubectl_version.unstamped-build"
    assert 'GitVersion:"v0.0.0-master+$Format:%H$"' in kube(name)
    assert parse_kubectl_version(kube(name), name) == []


def test_kubectl_version_cut_drops_the_cut_record():
    yaml_name = "kubectl_version_-o_yaml.v1.30"
    assert parse_kubectl_version(cut_inside_line(kube(yaml_name), 17, keep=9), "v") == []
    json_name = "kubectl_version_-o_json.prerelease-v1.30"  # cut before the object closes
    assert parse_kubectl_version(cut_inside_line(kube(json_name), 21, keep=8), "j") == []
    text_name = "kubectl_version.info-v1.24"
    assert parse_kubectl_version(cut_inside_line(kube(text_name), 4, keep=60), "t") == []
    # Cut in the WARNING line after it: the server line is whole.
    kept = parse_kubectl_version(cut_inside_line(kube(text_name), 5, keep=20), "t")
    assert [item["version"] for item in kept] == ["v1.24.17"]
    plain_name = "kubectl_version.plain-v1.28"
    assert parse_kubectl_version(cut_inside_line(kube(plain_name), 3, keep=20), "p") == []


def test_kubectl_version_garbage_gives_nothing():
    for odd in garbage_inputs() + [kube("kubectl_get_nodes.v1.26")]:
        assert parse_kubectl_version(odd, "x") == []


def test_kubelet_version():
    for name, version in (("kubelet_--version.v1.31", "v1.31.3"),
                          ("kubelet_--version.v1.25", "v1.25.16")):
        items = parse_kubelet_version(kube(name), name)
        assert items == [{"component": "kubelet", "version": version, "source": f"{name}:1"}]
        assert_items_valid("versions", items)
    # Constructed: a paste that keeps the shell prompt and command before the output.
    pasted = "[admin@node-b ~]$ kubelet --version\nKubernetes v1.25.16\n"
    assert parse_kubelet_version(pasted, "p") == [
        {"component": "kubelet", "version": "v1.25.16", "source": "p:2"}]
    assert parse_kubelet_version("Kubernetes v1.25", "cut") == []  # no newline: cut
    for odd in garbage_inputs():
        assert parse_kubelet_version(odd, "x") == []


# --- kubectl get pods ------------------------------------------------------------------------

def test_pods_get_all_wide_with_namespace_and_node():
    name = "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21"
    items = parse_kubectl_pods(kube(name), name)
    assert items == [
        {"name": "calico-kube-controllers", "ready": False, "status": "CrashLoopBackOff",
         "restarts": 188, "message": "pod kube-system/calico-kube-controllers-6c9d8f7b5d-rx4kz on node-b",
         "namespace": "kube-system", "pod": "calico-kube-controllers-6c9d8f7b5d-rx4kz", "node": "node-b",
         "source": f"{name}:2", "age": "16h", "age_seconds": 57600},
        {"name": "calico-node", "ready": False, "status": "Running", "restarts": 131,
         "message": "pod kube-system/calico-node-w7g2m on node-b", "namespace": "kube-system",
         "pod": "calico-node-w7g2m", "node": "node-b", "source": f"{name}:3",
         "age": "16h", "age_seconds": 57600},
        {"name": "calico-node", "ready": False, "status": "Running", "restarts": 129,
         "message": "pod kube-system/calico-node-lq9tn on node-a", "namespace": "kube-system",
         "pod": "calico-node-lq9tn", "node": "node-a", "source": f"{name}:4",
         "age": "16h", "age_seconds": 57600},
    ]  # the service, daemonset and deployment tables that follow add nothing
    assert_items_valid("components", items)
    on_node_a = parse_kubectl_pods(kube(name), name, node="node-a")
    assert [item["message"] for item in on_node_a] == ["pod kube-system/calico-node-lq9tn on node-a"]


def test_pods_restarts_with_last_restart_age():
    name = "kubectl_get_pods_-A.operator-v1.28"
    items = parse_kubectl_pods(kube(name), name)
    assert [(item["name"], item["restarts"], line_of(item["source"])) for item in items] == [
        ("calico-kube-controllers", 0, 4), ("calico-node", 0, 5), ("calico-node", 5, 6),
        ("calico-node", 12, 7), ("calico-node", 0, 8), ("calico-typha", 0, 9),
        ("calico-typha", 0, 10), ("tigera-operator", 0, 14),
    ]  # calico-apiserver (`3 (4m12s ago)`), csi-node-driver and coredns pods are not components
    assert items[2]["message"] == "pod calico-system/calico-node-9xw4f"
    assert all(item["ready"] and item["status"] == "Running" for item in items)
    assert_items_valid("components", items)
    # No NODE column: the node filter cannot apply, so nothing is dropped.
    assert parse_kubectl_pods(kube(name), name, node="node-z") == items


def test_pods_without_namespace_column_and_operator_pod():
    name = "kubectl_get_pods_-n_kube-system_-o_wide.manifest-v1.20"
    items = parse_kubectl_pods(kube(name), name, node="node-b")
    assert [(item["name"], item["ready"], item["status"], item["restarts"], item["message"])
            for item in items] == [
        ("calico-kube-controllers", False, "CrashLoopBackOff", 37,
         "pod calico-kube-controllers-7d4f9b6c58-xk2jp on node-b"),
        ("calico-node", True, "Running", 0, "pod calico-node-tn4wr on node-b"),
    ]
    name = "kubectl_get_pods_-n_tigera-operator.v1.25"
    assert parse_kubectl_pods(kube(name), name) == [
        {"name": "tigera-operator", "ready": True, "status": "Running", "restarts": 212,
         "message": "pod tigera-operator-58f95c9b67-vdq8s", "pod": "tigera-operator-58f95c9b67-vdq8s",
         "source": f"{name}:2",
         "age": "11d", "age_seconds": 11 * 86400, "last_restart_seconds": 3 * 3600 + 52 * 60}]
    name = "kubectl_get_pods_-n_kube-system.metrics-unavailable-v1.26"  # klog lines first
    items = parse_kubectl_pods(kube(name), name)
    assert [(item["name"], item["restarts"], line_of(item["source"])) for item in items] == [
        ("calico-kube-controllers", 164, 4), ("calico-node", 0, 5), ("calico-node", 1, 6),
        ("calico-node", 0, 7)]
    # A line outside the grammar after the rows (a paste's elision mark) is skipped too.
    assert parse_kubectl_pods(kube(name) + "...\n", name) == items


def test_pods_namespace_pod_and_node_fields_as_the_table_shows_them():
    """Explicit fields, so nothing downstream parses `message`; a column the table lacks (no
    NAMESPACE with `-n`, no NODE without `-o wide`) or `<none>` (not scheduled) leaves its field out."""
    def where(name, **options):
        return [(item["name"], item.get("namespace"), item.get("pod"), item.get("node"))
                for item in parse_kubectl_pods(kube(name), name, **options)]
    assert where("kubectl_get_pods_-A.operator-v1.28")[1] == (
        "calico-node", "calico-system", "calico-node-2bqzl", None)
    assert where("kubectl_get_pods_-n_kube-system_-o_wide.manifest-v1.20", node="node-b") == [
        ("calico-kube-controllers", None, "calico-kube-controllers-7d4f9b6c58-xk2jp", "node-b"),
        ("calico-node", None, "calico-node-tn4wr", "node-b")]
    assert where("kubectl_get_pods_-n_calico-system_-o_wide.pending-v1.29")[0] == (
        "calico-kube-controllers", None, "calico-kube-controllers-7c4b8d5f96-hg2rm", None)  # NODE <none>


def test_pods_pending_unscheduled_and_typha():
    name = "kubectl_get_pods_-n_calico-system_-o_wide.pending-v1.29"
    items = parse_kubectl_pods(kube(name), name)
    assert [(item["name"], item["ready"], item["status"], item["message"]) for item in items] == [
        ("calico-kube-controllers", False, "Pending", "pod calico-kube-controllers-7c4b8d5f96-hg2rm"),
        ("calico-node", False, "Running", "pod calico-node-bx5sd on node-a"),
        ("calico-node", False, "Running", "pod calico-node-z7mkq on node-b"),
        ("calico-typha", True, "Running", "pod calico-typha-6f9d4c7b85-tl8wn on node-b"),
    ]  # csi-node-driver pods are not components
    on_node_b = parse_kubectl_pods(kube(name), name, node="node-b")
    assert [item["name"] for item in on_node_b] == ["calico-node", "calico-typha"]
    name = "kubectl_get_pods_-n_calico-system_-o_wide.trimmed-v1.26"  # header ends at NODE
    items = parse_kubectl_pods(kube(name), name, node="node-c")
    assert [(item["message"], item["source"]) for item in items] == [
        ("pod calico-node-rw5jn on node-c", f"{name}:3")]


def test_pods_age_and_last_restart():
    name = "kubectl_get_pods_-A.operator-v1.28"
    items = parse_kubectl_pods(kube(name), name)
    assert [(item["name"], item["age"], item["age_seconds"], item.get("last_restart_seconds"))
            for item in items[:4]] == [
        ("calico-kube-controllers", "44m", 2640, None),
        ("calico-node", "43m", 2580, None),  # 0 restarts: no last restart
        ("calico-node", "43m", 2580, 120),  # `5 (2m ago)`
        ("calico-node", "43m", 2580, 7 * 60 + 31),  # `12 (7m31s ago)`
    ]
    name = "kubectl_get_pods_-n_kube-system.metrics-unavailable-v1.26"
    items = parse_kubectl_pods(kube(name), name)
    assert [(item["age_seconds"], item.get("last_restart_seconds")) for item in items] == [
        (9 * 86400, 5 * 3600 + 2 * 60), (9 * 86400, None), (9 * 86400, 8 * 86400), (9 * 86400, None)]
    assert_items_valid("components", items)


@pytest.mark.parametrize("text, seconds", [
    ("47s", 47), ("5m", 300), ("5m30s", 330), ("2h13m", 7980), ("2h", 7200), ("5d", 432000), ("3d4h", 273600),
    ("2y15d", 2 * 365 * 86400 + 15 * 86400), ("<invalid>", None), ("<unknown>", None), ("", None), ("13", None),
    ("2h13", None), ("m", None), ("-5m", None), (None, None)])
def test_kubectl_durations(text, seconds):
    from calirules.facts_collectors.parsers.kube import duration_seconds
    assert duration_seconds(text) == seconds


def test_pods_age_missing_or_garbled_is_left_out():
    """A paste that lost the AGE column, or an age kubectl could not compute, gives no age fields."""
    name = "kubectl_get_pods_-n_tigera-operator.v1.25"
    no_age = "\n".join(line.rsplit(None, 1)[0] for line in kube(name).splitlines()) + "\n"
    (item,) = parse_kubectl_pods(no_age, name)
    assert "age" not in item and "age_seconds" not in item and item["last_restart_seconds"] == 13920
    (item,) = parse_kubectl_pods(kube(name).replace("   11d", " <invalid>").replace("(3h52m ago)", "(x ago)"), name)
    assert "age" not in item and "last_restart_seconds" not in item and item["restarts"] == 212
    cut = cut_inside_line(kube("kubectl_get_pods_-A.operator-v1.28"), 6, keep=84)  # inside `5 (2m ago)`
    assert [item.get("last_restart_seconds") for item in parse_kubectl_pods(cut, "x")] == [None, None]


def test_pods_survive_lost_alignment():
    """Constructed from the operator-v1.28 fixture with every run of spaces collapsed to one,
    as a paste through a chat tool leaves it; the rows are read by token, so nothing changes."""
    name = "kubectl_get_pods_-A.operator-v1.28"
    collapsed = re.sub(r" +", " ", kube(name))
    assert parse_kubectl_pods(collapsed, name) == parse_kubectl_pods(kube(name), name)


def test_pods_cut_mid_line_keeps_complete_rows():
    name = "kubectl_get_all_--all-namespaces_-o_wide.crashloop-v1.21"
    items = parse_kubectl_pods(cut_inside_line(kube(name), 4, keep=40), name)
    assert [line_of(item["source"]) for item in items] == [2, 3]
    name = "kubectl_get_pods_-A.operator-v1.28"  # cut inside `5 (2m ago)`
    cut = cut_inside_line(kube(name), 6, keep=84)
    assert cut.endswith("5 (2")
    assert [line_of(item["source"]) for item in parse_kubectl_pods(cut, name)] == [4, 5]


def test_pods_garbage_gives_nothing():
    for odd in garbage_inputs() + [kube("kubectl_get_nodes_-o_wide.v1.30"),
                                   kube("crictl_ps_-a.pod-namespace-columns")]:
        assert parse_kubectl_pods(odd, "x") == []


def test_pod_component_names():
    assert pod_component("calico-node-w7g2m") == "calico-node"
    assert pod_component("calico-kube-controllers-6c9d8f7b5d-rx4kz") == "calico-kube-controllers"
    assert pod_component("calico-typha-6f9d4c7b85-tl8wn") == "calico-typha"
    assert pod_component("tigera-operator-58f95c9b67-vdq8s") == "tigera-operator"
    for other in ("calico-node-windows-w7g2m", "calicoctl", "calico-apiserver-7b9c5d8f46-hx2vm",
                  "csi-node-driver-6vjfp", "calico-node", None):
        assert pod_component(other) is None


# --- kubectl get nodes -----------------------------------------------------------------------

def test_nodes_wide_all_and_one():
    name = "kubectl_get_nodes_-o_wide.v1.30"
    items = parse_kubectl_nodes(kube(name), name)
    assert items == [{
        "component": "kubelet", "version": "v1.30.5",
        "detail": "nodes node-a, node-b, node-c, node-d, node-e",
        "source": f"{name}:2"}]
    assert_items_valid("versions", items)
    one = parse_kubectl_nodes(kube(name), name, node="node-d")
    assert one == [{"component": "kubelet", "version": "v1.30.5", "detail": "node node-d",
                    "source": f"{name}:5"}]
    cordoned = parse_kubectl_nodes(kube(name), name, node="node-e")  # Ready,SchedulingDisabled
    assert [item["source"] for item in cordoned] == [f"{name}:6"]
    assert parse_kubectl_nodes(kube(name), name, node="not-a-node") == []
    name = "kubectl_get_nodes.k3s-v1.31"
    assert [item["version"] for item in parse_kubectl_nodes(kube(name), name)] == ["v1.31.4+k3s1"]


def test_nodes_one_item_per_distinct_version():
    """Two constructed tables (v1.26.15, then v1.27.16 with a NotReady node) in one text,
    standing in for a cluster in the middle of an upgrade."""
    text = kube("kubectl_get_nodes.v1.26") + kube("kubectl_get_nodes.v1.27")
    items = parse_kubectl_nodes(text, "mixed")
    assert [(item["version"], item["source"]) for item in items] == [
        ("v1.26.15", "mixed:2"), ("v1.27.16", "mixed:6")]
    assert items[0]["detail"] == "nodes node-a, node-b, node-c"
    assert items[1]["detail"] == "nodes node-d, node-e, node-f, node-g"


def test_nodes_cut_and_garbage():
    name = "kubectl_get_nodes_-o_wide.v1.30"
    items = parse_kubectl_nodes(cut_inside_line(kube(name), 3, keep=30), name)
    assert [item["detail"] for item in items] == ["node node-a"]
    for odd in garbage_inputs() + [kube("kubectl_get_pods_-A.operator-v1.28")]:
        assert parse_kubectl_nodes(odd, "x") == []


# --- crictl ps -----------------------------------------------------------------------------------

def test_crictl_ps_calico_containers():
    name = "crictl_ps_-a.pod-namespace-columns"
    items = parse_crictl_ps(kube(name), name)
    assert items == [
        {"name": "calico-node", "ready": True, "status": "Running", "restarts": 1,
         "message": "container calico-node (72358508a62a4) in pod calico-system/calico-node-gk7tw",
         "namespace": "calico-system", "pod": "calico-node-gk7tw", "source": f"{name}:3"},
        {"name": "calico-csi", "ready": True, "status": "Running", "restarts": 1,
         "message": "container calico-csi (b3094aaead44d) in pod calico-system/csi-node-driver-pn5dl",
         "namespace": "calico-system", "pod": "csi-node-driver-pn5dl", "source": f"{name}:4"},
        {"name": "install-cni", "ready": False, "status": "Exited", "restarts": 1,
         "message": "container install-cni (e79b8087f2f38) in pod calico-system/calico-node-gk7tw",
         "namespace": "calico-system", "pod": "calico-node-gk7tw", "source": f"{name}:7"},
        {"name": "flexvol-driver", "ready": False, "status": "Exited", "restarts": 1,
         "message": "container flexvol-driver (e2d390c46d4bb) in pod calico-system/calico-node-gk7tw",
         "namespace": "calico-system", "pod": "calico-node-gk7tw", "source": f"{name}:8"},
    ]
    assert_items_valid("components", items)


def test_crictl_ps_keeps_the_latest_attempt():
    # `speaker` is listed twice: attempt 3 Running (line 2) and attempt 2 Exited (line 9).
    name = "crictl_ps_-a.pod-namespace-columns"
    items = parse_crictl_ps(kube(name), name, names={"speaker"})
    assert [(item["status"], item["restarts"], item["source"]) for item in items] == [
        ("Running", 3, f"{name}:2")]
    # The same rows in the other order (oldest first): still the latest attempt, from its line.
    lines = kube(name).splitlines(keepends=True)
    reordered = lines[0] + lines[8] + "".join(lines[1:8])
    items = parse_crictl_ps(reordered, "r", names={"speaker"})
    assert [(item["status"], item["restarts"], item["source"]) for item in items] == [
        ("Running", 3, "r:3")]


def test_crictl_ps_old_header_without_pod_column():
    name = "crictl_ps.container-id-header"
    assert parse_crictl_ps(kube(name), name) == []  # no Calico containers on that node
    items = parse_crictl_ps(kube(name), name, names={"kube-proxy"})
    assert items == [{"name": "kube-proxy", "ready": True, "status": "Running", "restarts": 3,
                      "message": "container kube-proxy (d31297dfe5d10) in pod sandbox baab424bb0f01",
                      "source": f"{name}:4"}]


def test_crictl_ps_cut_and_garbage():
    name = "crictl_ps_-a.pod-namespace-columns"
    items = parse_crictl_ps(cut_inside_line(kube(name), 4, keep=120), name)
    assert [item["name"] for item in items] == ["calico-node"]
    for odd in garbage_inputs() + [kube("kubectl_get_pods_-A.operator-v1.28")]:
        assert parse_crictl_ps(odd, "x") == []


# --- images and the Calico version -------------------------------------------------------------

def test_crictl_images_calico_version():
    name = "crictl_images.calico-v3.28"
    images = parse_crictl_images(kube(name), name)
    assert len(images) == 9
    assert images[2] == {"ref": "docker.io/calico/node:v3.28.2", "repository": "docker.io/calico/node",
                         "tag": "v3.28.2", "source": f"{name}:4"}
    items = calico_version_from_images(images)
    assert items == [{"component": "calico", "version": "v3.28.2",
                      "detail": "image docker.io/calico/node:v3.28.2", "source": f"{name}:4"}]
    assert_items_valid("versions", items)


def test_crictl_img_ls_rke2_hardened_calico():
    name = "crictl_img_ls.k3s-hardened-calico"  # starts with DEBU lines, has a `<none>` image
    images = parse_crictl_images(kube(name), name)
    assert [image["repository"] for image in images] == [
        "docker.io/rancher/hardened-calico", "docker.io/rancher/hardened-flannel",
        "docker.io/rancher/klipper-helm", "docker.io/rancher/local-path-provisioner",
        "docker.io/rancher/mirrored-coredns-coredns", "docker.io/rancher/mirrored-pause"]
    assert calico_version_from_images(images) == [
        {"component": "calico", "version": "v3.28.1",
         "detail": "image docker.io/rancher/hardened-calico:v3.28.1-build20240911",
         "source": f"{name}:4"}]


def test_calico_version_from_image_ref():
    # Constructed references in the shapes pod descriptions and image listings use: with and
    # without a registry, Rancher's mirrored-calico-* and hardened-calico, a `crictl images`
    # row (repository and tag apart), and a tag pinned by digest.
    assert calico_version_from_image_ref("docker.io/calico/cni:v3.27.3") == "v3.27.3"
    assert calico_version_from_image_ref("calico/node:v3.24.6") == "v3.24.6"
    assert calico_version_from_image_ref("quay.io/calico/node:v3.29.2") == "v3.29.2"
    assert calico_version_from_image_ref("registry.example:5000/calico/node:v3.26.5") == "v3.26.5"
    assert calico_version_from_image_ref("docker.io/rancher/mirrored-calico-node:v3.27.2") == "v3.27.2"
    assert calico_version_from_image_ref(
        "docker.io/rancher/hardened-calico:v3.29.3-build20250306") == "v3.29.3"
    assert calico_version_from_image_ref("docker.io/calico/node v3.28.2") == "v3.28.2"
    assert calico_version_from_image_ref(
        "docker.io/calico/node:v3.30.2@sha256:" + "5e" * 32) == "v3.30.2"
    for not_calico in ("quay.io/tigera/operator:v1.36.7", "docker.io/calico/cni:master",
                       "docker.io/calico/cni@sha256:9b3e41c07d2a5f68e4b1d0c7a3f95e26d8c4b17a0e5f3d92c6b8a174e0d5f3c1",
                       "registry.k8s.io/kube-proxy:v1.30.5", "docker.io/rancher/hardened-flannel:v0.25.6",
                       "docker.io/calico/cni:v3.28.2 docker.io/calico/node:v3.28.2", "", None, 3):
        assert calico_version_from_image_ref(not_calico) is None


def test_image_refs_from_jsonpath_output():
    """Constructed in the format of kubectl -o jsonpath='{..image}', which prints every image of
    every pod on one line: a calico-node pod's cni and node images, the operator image and the
    pause image, joined as kubectl joins them."""
    line = ("docker.io/calico/cni:v3.29.2 docker.io/calico/cni:v3.29.2 docker.io/calico/node:v3.29.2 "
            "quay.io/tigera/operator:v1.36.5 registry.k8s.io/pause:3.10\n")
    images = parse_image_refs(line, "images")
    assert len(images) == 5
    assert images[2] == {"ref": "docker.io/calico/node:v3.29.2", "repository": "docker.io/calico/node",
                         "tag": "v3.29.2", "source": "images:1"}
    assert calico_version_from_images(images) == [
        {"component": "calico", "version": "v3.29.2", "detail": "image docker.io/calico/node:v3.29.2",
         "source": "images:1"}]
    # A digest-pinned reference keeps its whole text as `ref`; the tag is read before the `@`.
    digest = "docker.io/calico/node:v3.29.2@sha256:" + "7c" * 32 + "\n"
    (pinned,) = parse_image_refs(digest, "d")
    assert (pinned["repository"], pinned["tag"]) == ("docker.io/calico/node", "v3.29.2")
    assert [item["version"] for item in calico_version_from_images([pinned])] == ["v3.29.2"]


def test_calico_version_falls_back_and_lists_every_cached_release():
    """Constructed image lists: without a node image the other Calico images decide; an image
    store that still holds the previous release's node image yields both versions."""
    cni_only = [{"ref": "docker.io/calico/cni:v3.28.2", "repository": "docker.io/calico/cni",
                 "tag": "v3.28.2", "source": "i:2"},
                {"ref": "quay.io/tigera/operator:v1.34.5", "repository": "quay.io/tigera/operator",
                 "tag": "v1.34.5", "source": "i:3"}]
    assert [item["version"] for item in calico_version_from_images(cni_only)] == ["v3.28.2"]
    upgraded = [{"repository": "docker.io/calico/node", "tag": tag, "source": f"i:{line}",
                 "ref": f"docker.io/calico/node:{tag}"}
                for line, tag in ((2, "v3.29.1"), (3, "v3.28.2"), (4, "v3.29.1"))]
    assert [(item["version"], item["source"]) for item in calico_version_from_images(upgraded)] == [
        ("v3.29.1", "i:2"), ("v3.28.2", "i:3")]
    assert calico_version_from_images(None) == []
    assert calico_version_from_images([{"repository": "docker.io/calico/node", "tag": "v3.1.0"}]) == []


def test_images_cut_and_garbage():
    name = "crictl_images.calico-v3.28"
    images = parse_crictl_images(cut_inside_line(kube(name), 4, keep=30), name)
    assert calico_version_from_images(images) == [  # the node row was cut: cni decides
        {"component": "calico", "version": "v3.28.2", "detail": "image docker.io/calico/cni:v3.28.2",
         "source": f"{name}:2"}]
    for odd in garbage_inputs() + [kube("crictl_ps_-a.pod-namespace-columns")]:
        assert parse_crictl_images(odd, "x") == []
        assert calico_version_from_images(parse_image_refs(odd, "x")) == []


def test_every_parser_survives_damaged_fixtures():
    """Prefixes of every kube fixture, some with one character replaced, never raise."""
    parsers = [parse_kubectl_version, parse_kubelet_version, parse_kubectl_pods, parse_kubectl_nodes,
               parse_crictl_ps, parse_crictl_images, parse_image_refs,
               lambda text, source: parse_kubectl_pods(text, source, node="node-a"),
               lambda text, source: parse_kubectl_nodes(text, source, node="node-a")]
    spice = ['"', "{", "(", ")", "/", ":", "\t", "\n", "NAME READY STATUS RESTARTS\n", "<none>"]
    runs = 0
    for number, path in enumerate(path for path in sorted(KUBE.iterdir()) if path.suffix != ".md"):
        generator = random.Random(number)
        text = path.read_text(encoding="utf-8")
        for _ in range(3):
            prefix = text[:generator.randrange(len(text) + 1)]
            at = generator.randrange(len(prefix) + 1)
            for damaged in (prefix, prefix[:at] + generator.choice(spice) + prefix[at + 1:]):
                for parse in parsers:
                    assert isinstance(parse(damaged, "damaged"), list)
                    runs += 1
                assert isinstance(calico_version_from_images(parse_crictl_images(damaged, "d")), list)
    assert runs > 500
    for odd in (None, 42, [], {}, "a b c", ":", "@"):
        assert calico_version_from_image_ref(odd) is None
        assert calico_version_from_images(odd) == []
