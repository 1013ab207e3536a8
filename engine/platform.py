"""How Calico is installed and runs on this node, from the dump: what remediation must fit.

describe(dump) -> {
  "method": "operator" | "manifest" | None,  who manages calico-node's configuration
  "namespace": calico-node's namespace here,  "pod": this node's calico-node pod,
  "dataplane": "iptables" | "nftables" | "bpf" | None,  "iptables_backend": "legacy" | "nft" | None,
  "encapsulation": ["ipip", "vxlan", "wireguard"] in use ([] when nothing shows one),
  "sources": {key: the file:line of the evidence},  "conflicts": [evidence that disagreed, in words]}

Read from dump sections (components, kube_objects, settings, nft_tables, netfilter, log_events,
interfaces; the summary combiner runs it for reports); every value is None unless evidence shows
it, and templates then print each variant with the case it applies to, never a guess. The data
plane half is engine/dataplane.py.

Install method, from the evidence real bundles carry:
  - operator: this node's calico-node runs in `calico-system` (only the operator uses it: tigera/
    operator pkg/common CalicoNamespace), a tigera-operator pod, a `tigera-operator` or
    `calico-system` namespace, an `installation/...` (operator.tigera.io Installation);
  - manifest: the `calico-config` ConfigMap in kube-system (Calico's manifests create it, the
    operator never does), or this node's calico-node DaemonSet pod (`calico-node-xxxxx`) in
    kube-system while a listing that would show an operator shows none. kube-system alone is not
    enough: RKE2 (canal), kubespray and others also run Calico there;
  - both kinds at once (a migration to the operator, a half-removed install): None, unless this
    node's pod is in calico-system, which only the operator uses.
"""

from calirules.engine import dataplane

OPERATOR_NAMESPACE = "calico-system"
MANIFEST_NAMESPACE = "kube-system"
OPERATOR_NAMESPACES = ("tigera-operator", OPERATOR_NAMESPACE)
KEYS = ("method", "namespace", "pod", "dataplane", "iptables_backend")


def describe(dump):
    found = {key: None for key in KEYS}
    found.update(encapsulation=[], sources={}, conflicts=[])
    pods_seen = _calico_node_pod(dump, found)
    _method(dump, found, pods_seen)
    dataplane.dataplane(dump, found, found["conflicts"])
    dataplane.encapsulation(dump, found)
    return found


def _objects(dump, kind):
    return [o for o in dump.get("kube_objects") or () if o.get("kind") == kind]


def _calico_node_pod(dump, found):
    """This node's calico-node pod: named by a listing whose NODE (or node-local view) is this
    node, else by its log directory; else only the namespace, when every calico-node pod listed
    shares one. Returns whether any calico-node pod was seen."""
    hostname = (dump.get("node") or {}).get("hostname")
    components = [c for c in dump.get("components") or () if c["name"] == "calico-node" and c.get("namespace")]
    local = [(c["namespace"], c.get("pod"), c["source"]) for c in components if hostname and c.get("node") == hostname]
    if not local:
        local = [(o["namespace"], o.get("name"), o["source"]) for o in _objects(dump, "Pod")
                 if o.get("component") == "calico-node" and hostname and o.get("node") == hostname and o.get("namespace")]
    if local:
        namespaces, pods = {n for n, _p, _s in local}, {p for _n, p, _s in local if p}
        if len(namespaces) > 1:
            found["conflicts"].append("calico-node pods of this node in " + " and ".join(
                f"{n} ({s})" for n, _p, s in local))
            return True
        found["namespace"], found["sources"]["namespace"] = local[0][0], local[0][2]
        if len(pods) == 1:
            found["pod"], found["sources"]["pod"] = pods.pop(), local[0][2]
        return True
    listed = [(c["namespace"], c["source"]) for c in components] + [
        (o["namespace"], o["source"]) for o in _objects(dump, "Pod")
        if o.get("component") == "calico-node" and o.get("namespace")]
    if len({n for n, _s in listed}) == 1:  # the listing cannot say which pod is this node's
        found["namespace"], found["sources"]["namespace"] = listed[0]
    elif listed:
        found["conflicts"].append("calico-node pods in " + " and ".join(
            f"{n} ({s})" for n, s in dict(listed).items()))
    return bool(listed)


def _method(dump, found, pods_seen):
    operator, manifest = _operator_evidence(dump), _manifest_evidence(dump, found)
    if found["namespace"] == OPERATOR_NAMESPACE:
        method, sources = "operator", [found["sources"]["namespace"]] + operator
    elif operator and manifest:
        found["conflicts"].append(f"operator evidence ({'; '.join(operator)}) and manifest evidence "
                                  f"({'; '.join(manifest)})")
        return
    elif operator or manifest:
        method, sources = ("operator", operator) if operator else ("manifest", manifest)
    else:
        return
    if method == "operator" and manifest:
        found["conflicts"].append(f"manifest leftovers beside the operator: {'; '.join(manifest)}")
    if method == "operator" and found["namespace"] == MANIFEST_NAMESPACE:
        found["conflicts"].append("the operator is there but calico-node runs in kube-system "
                                  f"({found['sources']['namespace']}): a migration from a manifest install?")
    found["method"], found["sources"]["method"] = method, "; ".join(sources)
    if found["namespace"] is None and not pods_seen:
        # Where each method runs calico-node: the operator always in calico-system; Calico's
        # manifests in kube-system.
        found["namespace"] = OPERATOR_NAMESPACE if method == "operator" else MANIFEST_NAMESPACE
        found["sources"]["namespace"] = f"{method} install ({found['sources']['method']})"


def _operator_evidence(dump):
    sources = [o["source"] for o in _objects(dump, "Pod")
               if o.get("component") == "tigera-operator" or (o.get("component") == "calico-node"
                                                              and o.get("namespace") == OPERATOR_NAMESPACE)]
    sources += [c["source"] for c in dump.get("components") or () if c["name"] == "tigera-operator"]
    sources += [o["source"] for o in _objects(dump, "Namespace") if o.get("name") in OPERATOR_NAMESPACES]
    sources += [o["source"] for o in _objects(dump, "Installation")]
    sources += [s["source"] for s in dump.get("settings") or () if s["component"].startswith("installation/")][:1]
    return list(dict.fromkeys(sources))


def _manifest_evidence(dump, found):
    sources = [o["source"] for o in _objects(dump, "ConfigMap")
               if o.get("name") == "calico-config" and o.get("namespace") == MANIFEST_NAMESPACE]
    # Calico's manifests run the calico-node DaemonSet (pods `calico-node-xxxxx`; RKE2's canal
    # pods are `rke2-canal-xxxxx`): a pod named otherwise in kube-system is some other packaging.
    if found["namespace"] == MANIFEST_NAMESPACE and (found["pod"] or "calico-node-").startswith("calico-node-"):
        absent = _no_operator_listing(dump)
        if absent:
            sources += [found["sources"]["namespace"], absent]
    return sources


def _no_operator_listing(dump):
    """The source of a listing that would show an operator and shows none, or None."""
    objects = dump.get("kube_objects") or ()
    for listing in _objects(dump, "List"):
        of, namespace = listing.get("of"), listing.get("namespace")
        if of == "Namespace" and not any(o["kind"] == "Namespace" and o.get("name") in OPERATOR_NAMESPACES
                                         for o in objects):
            return listing["source"]
        if of == "Pod" and namespace in (None, *OPERATOR_NAMESPACES) and not any(
                o["kind"] == "Pod" and (o.get("component") == "tigera-operator"
                                        or o.get("namespace") == OPERATOR_NAMESPACE) for o in objects):
            return listing["source"]
        if of == "Installation" and not _objects(dump, "Installation"):
            return listing["source"]
    return None
