"""Kubernetes evidence laid out where sos and calicoctl write it, from the tests/fixtures/raw/kube
listings (shared by the install-method and platform tests)."""

import shutil

from tests.helpers import REPO

KUBE = REPO / "tests" / "fixtures" / "raw" / "kube"
SOS_KUBECTL = "sos_commands/kubernetes/cluster-info/kubectl_--kubeconfig_.etc.kubernetes.admin.conf"


def put(root, relpath, fixture=None, text=None):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    if fixture:
        shutil.copy(KUBE / fixture, path)
    else:
        path.write_text(text)



def cluster_diags(tmp_path):
    root = tmp_path / "calico-diagnostics-20261101_100000"
    put(root, "cluster/version.yaml", text="serverVersion:\n  gitVersion: v1.30.4\n")
    put(root, "cluster/kubernetes/pods.txt", "kubectl_get_pods_--all-namespaces_-o_wide.operator-v1.30")
    put(root, "cluster/kubernetes/namespaces.txt", "kubectl_get_namespaces.operator-v1.30")
    put(root, "cluster/tigera-operator/tigera-operator.txt", "kubectl_get_all_-n_tigera-operator_-o_wide.v1.30")
    put(root, "cluster/crd/installations.operator.tigera.io.yaml", "kubectl_get_installations_-A_-o_yaml.nftables-v1.36")
    put(root, "cluster/crd/felixconfigurations.crd.projectcalico.org.yaml",
        "kubectl_get_felixconfigurations_-A_-o_yaml.v3.29")
    for node in ("node-a", "node-b"):
        put(root, f"nodes/{node}/ip-route.txt", text="default via 198.18.0.1 dev eth0\n")
    return root
