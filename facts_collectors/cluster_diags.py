"""`calicoctl cluster diags` bundles: one node's files seen under the names the bundle reader knows.

Layout (calicoctl/commands/cluster/diags.go in projectcalico/calico, v3.31+): `nodes/<node>/iptables-{legacy,nft}-save.txt`,
`nft-ruleset.txt`, `ip-route.txt`, `ip-rule.txt`, `ip-addr.txt`, `ip-link.txt`, `ip-neigh.txt`, ...
Unlike node diags these files are written even when the command failed, holding the error text:
such a file counts as missing, with that text as the reason. Every node's view also shares
`cluster/version.yaml` (`kubectl version -o yaml`) and sees its calico-node pod's log
(`nodes/<node>/<ns>/calico-node-*.log`, `kubectl logs`).
"""

import re

from calirules.facts_collectors import specs
from calirules.facts_collectors.source import EvidenceSource

# bundle-reader path -> file name under nodes/<node>/ (each spec's `cluster_diags` that is per node)
NODE_FILES = {spec.paths[0]: spec.cluster_diags for spec in specs.all_specs()
              if spec.cluster_diags and not spec.cluster_diags.startswith(specs.CLUSTER_SHARED)}
_FAILED_COMMAND = re.compile(r"^(error:|Error from server|OCI runtime exec failed|command terminated with exit code|"
                             r".*executable file not found)", re.M)


def is_cluster_diags(source):
    return source.exists("cluster/version.yaml") or bool(source.glob("nodes/*/ip-route.txt"))


def node_names(source):
    return sorted({path.split("/")[1] for path in source.glob("nodes/*/*")
                   if path.split("/")[2] in NODE_FILES.values()})


# Cluster-wide files every node's view shares (specs whose `cluster_diags` is under cluster/), and
# the cluster/ files the reader finds by pattern under their own names (pods, namespaces, CRDs,
# DaemonSets); per-node logs (kubectl logs --all-containers) below.
SHARED_FILES = {
    **{spec.paths[0]: spec.cluster_diags for spec in specs.all_specs()
       if spec.cluster_diags and spec.cluster_diags.startswith(specs.CLUSTER_SHARED)},
    **{pattern: pattern for spec in specs.all_specs() for pattern in spec.patterns
       if pattern.startswith(specs.CLUSTER_SHARED) and "*" not in pattern},
}
NODE_LOG = "logs/calico-node.log"  # the bundle reader classifies this as a calico-node log
# `kubectl logs --previous` of a restarted calico-node (after v3.32): the instance before this one
NODE_PREVIOUS_LOG = "logs/calico-node.previous.log"


class ClusterNodeSource(EvidenceSource):
    """A read-only view of one node of a cluster diags bundle."""

    def __init__(self, source, node):
        self.source, self.node = source, node
        self.label = f"{source.label} (node {node})"
        self.notes = []
        self.failed = {}  # reader path -> the error text the bundle holds instead of output

    def _real(self, relpath):
        if relpath in SHARED_FILES:
            return SHARED_FILES[relpath]
        if relpath in (NODE_LOG, NODE_PREVIOUS_LOG):
            logs = [p for p in self.source.glob(f"nodes/{self.node}/*/calico-node-*.log")
                    if p.endswith(".previous.log") == (relpath == NODE_PREVIOUS_LOG)]
            return logs[0] if logs else None
        name = NODE_FILES.get(relpath)
        return f"nodes/{self.node}/{name}" if name else None

    def files(self):
        return [p for p in [*NODE_FILES, *SHARED_FILES, NODE_LOG, NODE_PREVIOUS_LOG] if self.exists(p)]

    def exists(self, relpath):
        real = self._real(relpath)
        return real is not None and self.source.exists(real)

    def read_bytes(self, relpath, max_bytes=None):
        real = self._real(relpath)
        if real is None:
            return None
        data = self.source.read_bytes(real) if max_bytes is None else self.source.read_bytes(real, max_bytes)
        if data is not None and _FAILED_COMMAND.search(data[:2000].decode("utf-8", "replace")):
            first = data.decode("utf-8", "replace").strip().splitlines()[0][:200]
            self.failed[relpath] = first
            return None
        return data

    def display_path(self, relpath):
        return self._real(relpath) or relpath
