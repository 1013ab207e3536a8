"""Kubernetes listings -> `kube_objects`: the Calico objects a cluster has, and what each listing covered.

How Calico is installed (engine/platform.py) shows in objects anywhere in the cluster, not only
on this node: a tigera-operator pod or namespace, calico-node pods in `calico-system` (the
operator's namespace) or `kube-system` (Calico's manifests), the `calico-config` ConfigMap
Calico's manifests create. An object's absence says something only where a listing covered the
place, so every listing read also gives a `List` item naming what it covered.

`parse_kubectl_listing` reads the tables of `kubectl get pods|namespaces|configmaps [-A] [-o
wide]` and `kubectl get all -n <ns> [-o wide]` (calicoctl cluster diags'
`cluster/<ns>/<ns>.txt`), and kubectl's `No resources found in <ns> namespace.` Items:

  {kind: Pod, component, name, namespace, count, source}  Calico component pods (kube.pod_component),
      one item per component and namespace: `name` and `source` are the first row's, `count`
      how many rows (a 1,000-node cluster has 1,000 calico-node pods; this node's own is in
      `components`);
  {kind: Namespace, name, source}  namespaces whose name holds `calico` or `tigera` (calicoctl
      cluster diags collects those namespaces by the same test);
  {kind: ConfigMap, name, namespace, source}  ConfigMaps whose name holds `calico` or `canal`;
  {kind: List, of: Pod|Namespace|ConfigMap, namespace, source}  a listing that was read: without
      `namespace` it covered every namespace (a NAMESPACE column, i.e. `-A`; namespaces are not
      namespaced). `source` is its header line (or the No-resources line).

A table without a NAMESPACE column lists one namespace that the text does not name: the caller
passes it (`namespace=`) when the command is known, else rows keep no namespace and no List item
is given. `of=` names what a listing without a table (No resources found) was a listing of.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import ref, split_lines
from .kube import header, is_pod_header, pod_component, pod_row

_NO_RESOURCES = re.compile(r"^No resources found(?: in (?P<ns>[a-z0-9][a-z0-9.-]*) namespace)?\.?\s*$")
_NAME_OK = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


def _kind_of(columns):
    names = set(columns)
    if is_pod_header(columns):
        return "Pod"
    if {"NAME", "DATA", "AGE"} <= names:
        return "ConfigMap"
    if columns[:1] == ["NAME"] and "STATUS" in names and names <= {"NAME", "STATUS", "AGE", "LABELS"}:
        return "Namespace"
    return None


@parser(Specs.kubectl_listings)
def parse_kubectl_listing(text, source, namespace=None, of=None):
    r"""kube_objects items from one kubectl listing (see the module docstring).

    `kubectl get namespaces` (kubectl 1.30, operator install):

    >>> text = '''\
    ... NAME               STATUS   AGE
    ... calico-apiserver   Active   6d2h
    ... calico-system      Active   6d3h
    ... default            Active   6d3h
    ... kube-node-lease    Active   6d3h
    ... kube-public        Active   6d3h
    ... kube-system        Active   6d3h
    ... tigera-operator    Active   6d3h
    ... '''
    >>> items = parse_kubectl_listing(text, "sos_commands/kubernetes/kubectl_get_namespaces")
    >>> [(item["kind"], item.get("name"), item["source"].rsplit(":", 1)[1]) for item in items]
    [('Namespace', 'calico-apiserver', '2'),
     ('Namespace', 'calico-system', '3'),
     ('Namespace', 'tigera-operator', '8'),
     ('List', None, '1')]

    `kubectl get all -n tigera-operator -o wide` on a cluster without the operator, as calicoctl
    cluster diags keeps it (stderr merged):

    >>> text = '''\
    ... No resources found in tigera-operator namespace.
    ... '''
    >>> parse_kubectl_listing(text, "cluster/tigera-operator/tigera-operator.txt", of="Pod")
    [{'kind': 'List',
      'of': 'Pod',
      'namespace': 'tigera-operator',
      'source': 'cluster/tigera-operator/tigera-operator.txt:1'}]
    """
    items, pods, lists = [], {}, {}
    columns = kind = None
    lines, _cut = split_lines(text)  # a cut row may hold half a name: never read
    for lineno, line in lines:
        names = header(line)
        if names is not None:
            columns, kind = names, _kind_of(names)
            scope = None if "NAMESPACE" in names else namespace
            listed = kind or of
            if listed and (scope is not None or "NAMESPACE" in names or listed == "Namespace"):
                lists.setdefault((listed, scope), ref(source, lineno))
            continue
        message = _NO_RESOURCES.match(line.strip())
        if message and of:
            lists.setdefault((of, message.group("ns") or namespace), ref(source, lineno))
            continue
        if columns is None or kind is None or not line.split():
            continue
        row = _row(kind, columns, line.split())
        if row is None:
            continue
        row_namespace = row.get("namespace") or (namespace if kind != "Namespace" else None)
        if kind == "Pod":
            key = (row["component"], row_namespace)
            if key in pods:
                pods[key]["count"] += 1
                continue
            pods[key] = item = {"kind": "Pod", "component": row["component"], "name": row["name"]}
        else:
            item = {"kind": kind, "name": row["name"]}
        if row_namespace and kind != "Namespace":
            item["namespace"] = row_namespace
        if kind == "Pod":
            item["count"] = 1
        item["source"] = ref(source, lineno)
        items.append(item)
    for (listed, scope), where in lists.items():
        entry = {"kind": "List", "of": listed}
        if scope and listed != "Namespace":
            entry["namespace"] = scope
        entry["source"] = where
        items.append(entry)
    return items


def _row(kind, columns, tokens):
    """{name, namespace, component} of a row worth keeping, else None."""
    if kind == "Pod":
        values = pod_row(columns, tokens)
        if values is None:
            return None
        name = values["NAME"].partition("/")[2] if "/" in values["NAME"] else values["NAME"]
        if "/" in values["NAME"] and values["NAME"].partition("/")[0] not in ("pod", "pods"):
            return None
        component = pod_component(name)
        return {"name": name, "namespace": values.get("NAMESPACE"), "component": component} if component else None
    values = dict(zip(columns, tokens))
    name = values.get("NAME", "")
    if not _NAME_OK.match(name) or len(tokens) < len(columns) - (1 if "LABELS" in columns else 0):
        return None
    wanted = ("calico", "tigera") if kind == "Namespace" else ("calico", "canal")
    if not any(word in name for word in wanted):
        return None
    if kind == "Namespace" and values.get("STATUS") not in ("Active", "Terminating"):
        return None
    return {"name": name, "namespace": values.get("NAMESPACE")}
