"""How Calico is installed and runs on this node, from the dump: what remediation must fit.

describe(dump) -> {"method": "operator" | "manifest" | None, "namespace": ..., "pod": ...,
"dataplane": "iptables" | "nftables" | "bpf" | None, "iptables_backend": ..., "encapsulation":
[...], "sources": {key: where it was read}}. None means the bundle does not say; templates then
print each variant with the case it applies to, never a guess.
"""

import re

OPERATOR_NAMESPACE = "calico-system"
MANIFEST_NAMESPACE = "kube-system"
_POD_MESSAGE = re.compile(r"^pod (?:(?P<ns>[^/\s]+)/)?(?P<pod>\S+)")
TUNNELS = {"tunl0": "ipip", "vxlan.calico": "vxlan", "vxlan-v6.calico": "vxlan",
           "wireguard.cali": "wireguard", "wg-v6.cali": "wireguard"}


def describe(dump):
    found = {"method": None, "namespace": None, "pod": None, "dataplane": None, "iptables_backend": None,
             "encapsulation": [], "sources": {}}
    _calico_node_pod(dump, found)
    _dataplane(dump, found)
    found["encapsulation"] = sorted({TUNNELS[i["name"]] for i in dump.get("interfaces") or ()
                                     if i["name"] in TUNNELS})
    return found


def _calico_node_pod(dump, found):
    for component in dump.get("components") or ():
        name = component.get("name")
        match = _POD_MESSAGE.match(component.get("message") or "")
        namespace = component.get("namespace") or (match.group("ns") if match else None)
        if name == "tigera-operator" or namespace == "tigera-operator":
            found["method"] = "operator"
            found["sources"]["method"] = component.get("source")
        if name != "calico-node":
            continue
        found["pod"] = component.get("pod") or (match.group("pod") if match else None)
        if namespace:
            found["namespace"] = namespace
            found["sources"]["namespace"] = component.get("source")
            if found["method"] is None and namespace in (OPERATOR_NAMESPACE, MANIFEST_NAMESPACE):
                found["method"] = "operator" if namespace == OPERATOR_NAMESPACE else "manifest"
                found["sources"]["method"] = component.get("source")
    if found["namespace"] is None and found["method"] is not None:
        found["namespace"] = OPERATOR_NAMESPACE if found["method"] == "operator" else MANIFEST_NAMESPACE


def _dataplane(dump, found):
    backends = {}
    for backend in dump.get("netfilter") or ():
        backends[backend["backend"]] = sum(1 for t in backend["tables"] for c in t["chains"]
                                           if c["name"].startswith("cali-"))
    if backends and max(backends.values()) > 0:
        found["iptables_backend"] = max(backends, key=backends.get)
        found["dataplane"] = "iptables"
    events = {e["event"] for e in dump.get("log_events") or ()}
    if events & {"felix_bpf_program_load_failed", "felix_bpf_endpoint_dirty", "felix_bpf_enabled"}:
        found["dataplane"] = "bpf"
