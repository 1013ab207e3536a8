"""A sosreport directory assembled from the real command output under tests/fixtures/raw, with
every piece of evidence calirules reads from a node where a fixture for it exists."""

import shutil

from calirules.facts_collectors.specs import (
    POD_SPECS,
    Specs,
    all_specs,
    mangle,
    pod_path,
)

from tests.helpers import REPO

RAW = REPO / "tests" / "fixtures" / "raw"
LAB = RAW / "netns-lab"
KUBE = RAW / "kube"

# Evidence the lab fixtures lack, from the kube fixtures (real output) or as the one line it is.
EXTRA_FILES = {
    "sos_commands/kubernetes/cluster-info/kubectl_version": (KUBE / "kubectl_version.plain-v1.28").read_bytes(),
    Specs.kubelet_version.live_path: (KUBE / "kubelet_--version.v1.31").read_bytes(),
    Specs.crictl_images.live_path: (KUBE / "crictl_images.calico-v3.28").read_bytes(),
    Specs.cni_conflist.live_path: (KUBE / "10-calico.conflist.hard-way-v3.27").read_bytes(),
    Specs.iptables_version.live_path: b"iptables v1.8.9 (nf_tables)\n",
    Specs.calico_cni_version.live_path: b"v3.28.1\n",
    "etc/os-release": (LAB / "os-release").read_bytes(),
    "version.txt": b"sos report: 4.12.0\n",
}


def build_sosreport(root):
    """Write the sosreport under `root` (a new directory); return its evidence files, relative."""
    files = {}
    for spec in all_specs():
        if spec.command and spec not in POD_SPECS and (LAB / mangle(spec.command_line)).is_file():
            files[spec.live_path] = (LAB / mangle(spec.command_line)).read_bytes()
    for spec in POD_SPECS:
        if (LAB / "pod1" / mangle(spec.command_line)).is_file():
            files[pod_path("pod1", spec)] = (LAB / "pod1" / mangle(spec.command_line)).read_bytes()
    for path in sorted((LAB / "proc").rglob("*")):
        if path.is_file():
            files[str(path.relative_to(LAB))] = path.read_bytes()
    files.update(EXTRA_FILES)
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return sorted(files)


def copy_sosreport(base, target):
    shutil.copytree(base, target, symlinks=True)
