"""Kubernetes and container-runtime output -> `versions` and `components` facts.

Accepts the forms found in sosreports (`sos_commands/kubernetes/...`, `sos_commands/crio/...`),
in `calicoctl cluster diags` bundles (`cluster/version.yaml`, `cluster/kubernetes/pods.txt`) and
pasted by people:
  - `kubectl version` in every release's text form (`Server Version: v1.27.6`, the older
    `Server Version: version.Info{... GitVersion:"v1.19.16" ...}`) and `-o yaml` / `-o json`;
  - `kubelet --version` (`Kubernetes v1.27.6`);
  - `kubectl get pods [-A] [-o wide]` and `kubectl get all` tables (`pod/<name>` rows);
  - `kubectl get nodes [-o wide]`;
  - `crictl ps [-a]` (with or without the POD and NAMESPACE columns of newer crictl);
  - `crictl images` / `crictl img ls` and image references (`kubectl -o jsonpath='{..image}'`).

Tables are read by their header: a header line (upper-case names only) starts a table, and a
header of another shape ends it (`kubectl get all` prints one table per kind). Rows are split on
whitespace, not cut at the header's character positions, so output whose alignment was lost when
it was pasted still parses; the one value with spaces (`5 (2m ago)` under RESTARTS) is joined
back. Lines outside the grammar (stderr, shell prompts, `<snip>`) are skipped.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import NUMBER, ref, split_lines, to_int

# `v1.27.6`, `v1.29.3+k3s1`, `v1.28.3-eks-4f4795d`, `v1.9.0-alpha.1.487+550c3cab4fe267`; not the
# placeholders of a build without version stamping (`{gitVersion}`, `v0.0.0-master+$Format:%h$`).
_VERSION = re.compile(r"^v?\d+\.\d+(?:\.\d+)?(?:[-+.][0-9A-Za-z][0-9A-Za-z.+_~-]*)?$")


def _version_item(component, version, source, detail=None):
    item = {"component": component, "version": version}
    if detail:
        item["detail"] = detail
    item["source"] = source
    return item


# --- kubectl version / kubelet --version -----------------------------------------------------

_SERVER_LINE = re.compile(r"^\s*Server Version:\s*(.*?)\s*$")
_GIT_VERSION_INFO = re.compile(r'GitVersion:"([^"]*)"')
_YAML_SERVER = re.compile(r"^serverVersion:\s*$")
_YAML_GIT_VERSION = re.compile(r"""^\s+gitVersion:\s*["']?([^"'\s]+)["']?\s*$""")
_JSON_SERVER = re.compile(r'"serverVersion"\s*:\s*\{([^{}]*)\}')
_JSON_GIT_VERSION = re.compile(r'"gitVersion"\s*:\s*"([^"]*)"')


@parser(Specs.kubectl_version)
def parse_kubectl_version(text, source):
    r"""The cluster's Kubernetes version from `kubectl version` output.

    Returns versions items {component: "kubernetes", version, source}, one per distinct server
    version found (normally one). Only the server version is kept: the client version is that of
    the kubectl binary on whatever machine ran the command (an admin laptop, a CI image), which
    says nothing about the cluster. Output without a server part (`--client`, or the server was
    unreachable) gives [].

    `kubectl version` (kubectl 1.31, server v1.28):

    >>> text = '''\
    ... Client Version: v1.31.4
    ... Kustomize Version: v5.4.2
    ... Server Version: v1.28.15
    ... WARNING: version difference between client (1.31) and server (1.28) exceeds the supported minor version skew of +/-1
    ... '''
    >>> parse_kubectl_version(text, "sos_commands/kubernetes/kubectl_version")
    [{'component': 'kubernetes',
      'version': 'v1.28.15',
      'source': 'sos_commands/kubernetes/kubectl_version:3'}]

    With no server to ask, there is no cluster version (kubectl 1.32 on a machine without one):

    >>> text = '''\
    ... Client Version: v1.32.4-dispatcher
    ... Kustomize Version: v5.5.0
    ... The connection to the server localhost:8080 was refused - did you specify the right host or port?
    ... '''
    >>> parse_kubectl_version(text, "kubectl_version")
    []
    """
    lines, _cut = split_lines(text)
    found = {}  # version -> source; first occurrence wins

    def add(version, lineno):
        if version and _VERSION.match(version) and version not in found:
            found[version] = ref(source, lineno)

    in_yaml_server = False
    for lineno, line in lines:
        match = _SERVER_LINE.match(line)
        if match:
            value = match.group(1)
            if value.startswith(("version.Info{", "&version.Info{")):
                info = _GIT_VERSION_INFO.search(value)
                if info and value.endswith("}"):
                    add(info.group(1), lineno)
            elif " " not in value:
                add(value, lineno)
            continue
        # -o yaml: `serverVersion:` then indented `gitVersion: v1.26.5`.
        if _YAML_SERVER.match(line):
            in_yaml_server = True
            continue
        if in_yaml_server:
            if line[:1] not in (" ", "\t"):
                in_yaml_server = False
            else:
                match = _YAML_GIT_VERSION.match(line)
                if match:
                    add(match.group(1), lineno)
    # -o json: the serverVersion object has no nested objects, so it ends at the first `}`. Only
    # whole lines are searched: an object cut by truncation has no closing brace and is dropped.
    body = "\n".join(line for _lineno, line in lines)
    for match in _JSON_SERVER.finditer(body):
        git = _JSON_GIT_VERSION.search(match.group(1))
        if git:
            position = match.start(1) + git.start(1)
            add(git.group(1), body.count("\n", 0, position) + 1)
    return [_version_item("kubernetes", version, where) for version, where in found.items()]


_KUBELET_VERSION = re.compile(r"^\s*Kubernetes\s+(v\S+)\s*$")


@parser(Specs.kubelet_version)
def parse_kubelet_version(text, source):
    r"""`kubelet --version` prints `Kubernetes v1.27.6`: [{component: "kubelet", version, source}].

    >>> text = '''\
    ... Kubernetes v1.31.3
    ... '''
    >>> parse_kubelet_version(text, "sos_commands/kubernetes/kubelet_--version")
    [{'component': 'kubelet',
      'version': 'v1.31.3',
      'source': 'sos_commands/kubernetes/kubelet_--version:1'}]
    """
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        match = _KUBELET_VERSION.match(line)
        if match and _VERSION.match(match.group(1)):
            return [_version_item("kubelet", match.group(1), ref(source, lineno))]
    return []


# --- tables ----------------------------------------------------------------------------------

_HEADER_WORD = re.compile(r"^[A-Z][A-Z0-9-]*$")
# Header names that are two words; each is one column.
_TWO_WORD_COLUMNS = {
    ("NOMINATED", "NODE"), ("READINESS", "GATES"), ("CONTAINER", "ID"), ("POD", "ID"),
    ("IMAGE", "ID"),
}


def header(line):
    """The column names of a table header line, or None when the line is not one.

    >>> header("NAME     STATUS   ROLES           AGE   VERSION")
    ['NAME', 'STATUS', 'ROLES', 'AGE', 'VERSION']
    >>> header("CONTAINER ID   IMAGE   CREATED   STATE   NAME   ATTEMPT   POD ID")
    ['CONTAINER ID', 'IMAGE', 'CREATED', 'STATE', 'NAME', 'ATTEMPT', 'POD ID']
    >>> header("node-a   Ready    control-plane   41d   v1.30.5") is None
    True
    """
    words = line.split()
    if not words or not all(_HEADER_WORD.match(word) for word in words):
        return None
    columns, position = [], 0
    while position < len(words):
        pair = tuple(words[position:position + 2])
        if pair in _TWO_WORD_COLUMNS:
            columns.append(" ".join(pair))
            position += 2
        else:
            columns.append(words[position])
            position += 1
    return columns


def tables(text, is_wanted):
    r"""Yield (lineno, columns, tokens) for each row of the tables whose header `is_wanted`.

    `kubectl get nodes -o wide` (a cut):

    >>> text = '''\
    ... NAME     STATUS                     ROLES           AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE             KERNEL-VERSION     CONTAINER-RUNTIME
    ... node-a   Ready                      control-plane   41d   v1.30.5   198.18.0.11   <none>        Ubuntu 24.04.1 LTS   6.8.0-45-generic   containerd://1.7.22
    ... node-e   Ready,SchedulingDisabled   <none>          6d    v1.30.5   198.18.0.15   <none>        Ubuntu 24.04.1 LTS   6.8.0-48-generic   containerd://1.7.22
    ... '''
    >>> for lineno, columns, tokens in tables(text, lambda columns: "VERSION" in columns):
    ...     print(lineno, dict(zip(columns, tokens))["VERSION"], tokens[:2])
    2 v1.30.5 ['node-a', 'Ready']
    3 v1.30.5 ['node-e', 'Ready,SchedulingDisabled']
    """
    lines, _cut = split_lines(text)  # the cut line is never a row: its values may be partial
    columns = None
    for lineno, line in lines:
        names = header(line)
        if names is not None:
            columns = names if is_wanted(names) else None
            continue
        tokens = line.split()
        if columns is not None and tokens:
            yield lineno, columns, tokens


# --- kubectl get pods --------------------------------------------------------------------------

_READY = re.compile(rf"^({NUMBER})/({NUMBER})$")
# Pod names of the Calico workloads: a DaemonSet pod is `<ds>-<5 chars>`, a Deployment pod
# `<deploy>-<pod-template-hash>-<5 chars>`. Exact shapes keep `calico-node-windows-xxxxx` and
# `calicoctl` out.
_POD_COMPONENTS = (
    ("calico-kube-controllers", re.compile(r"^calico-kube-controllers-[a-z0-9]{1,10}-[a-z0-9]{5}$")),
    ("calico-typha", re.compile(r"^calico-typha-[a-z0-9]{1,10}-[a-z0-9]{5}$")),
    ("tigera-operator", re.compile(r"^tigera-operator-[a-z0-9]{1,10}-[a-z0-9]{5}$")),
    ("calico-node", re.compile(r"^calico-node-[a-z0-9]{5}$")),
)


def pod_component(pod_name):
    """`calico-node-4hkzb` -> `calico-node`; None for a pod that is not a Calico component.

    >>> pod_component("calico-node-2bqzl"), pod_component("calico-typha-5c7d9b8f4b-jw6qs")
    ('calico-node', 'calico-typha')
    >>> pod_component("calico-apiserver-7b9c5d8f46-hx2vm") is None
    True
    """
    for component, pattern in _POD_COMPONENTS:
        if pattern.match(pod_name or ""):
            return component
    return None


# kubectl prints ages with apimachinery's HumanDuration: `47s`, `5m30s`, `2h13m`, `5d`, `3d4h`,
# `2y15d` (`<invalid>` for a clock in the future, `<unknown>` without a timestamp).
_DURATION = re.compile(rf"^(?:({NUMBER})y)?(?:({NUMBER})d)?(?:({NUMBER})h)?(?:({NUMBER})m)?(?:({NUMBER})s)?$")
_DURATION_UNITS = (365 * 86400, 86400, 3600, 60, 1)
_LAST_RESTART = re.compile(r"^\((\S+) ago\)$")


def duration_seconds(text):
    """`2h13m` -> 7980; None for anything that is not a kubectl duration.

    >>> duration_seconds("4m12s"), duration_seconds("6d3h"), duration_seconds("<invalid>")
    (252, 529200, None)
    """
    match = _DURATION.match(text or "")
    if not match or not any(match.groups()):
        return None
    return sum(int(value) * unit for value, unit in zip(match.groups(), _DURATION_UNITS) if value)


def _where(namespace, pod, node):
    """`namespace`, `pod` and `node` fields of a components item, for the ones that are known."""
    fields = {"namespace": namespace, "pod": pod, "node": node}
    return {k: v for k, v in fields.items() if v and v not in ("<none>", "<unknown>")}


def is_pod_header(columns):
    """True for the columns of a pod table: NAME, READY, STATUS and RESTARTS among them.

    >>> is_pod_header(header("NAMESPACE   NAME   READY   STATUS   RESTARTS   AGE"))
    True
    >>> is_pod_header(header("NAME   STATUS   AGE"))
    False
    """
    return {"NAME", "READY", "STATUS", "RESTARTS"} <= set(columns)


def pod_row(columns, tokens):
    """Map a row's tokens to its columns; None when the row does not fit the header.

    A row of `kubectl get pods -A` (kubectl 1.28) under its header; `5 (2m ago)` is one cell:

    >>> columns = header("NAMESPACE          NAME                                       READY   STATUS    RESTARTS         AGE")
    >>> pod_row(columns, "calico-system      calico-node-9xw4f                          1/1     Running   5 (2m ago)       43m".split())
    {'NAMESPACE': 'calico-system',
     'NAME': 'calico-node-9xw4f',
     'READY': '1/1',
     'STATUS': 'Running',
     'RESTARTS': '5',
     'LAST RESTART': '(2m ago)',
     'AGE': '43m'}
    """
    values, position = {}, 0
    for column in columns:
        if position >= len(tokens):
            break  # a pasted row missing its last cells: keep what is there
        values[column] = tokens[position]
        position += 1
        if column == "RESTARTS" and position < len(tokens) and tokens[position].startswith("("):
            # kubectl >= 1.22 writes `5 (2m ago)`: the count, then the time of the last restart.
            end = position
            while end < len(tokens) and not tokens[end].endswith(")"):
                end += 1
            if end == len(tokens):
                return None
            values["LAST RESTART"] = " ".join(tokens[position:end + 1])
            position = end + 1
    if position != len(tokens) or not {"NAME", "READY", "STATUS", "RESTARTS"} <= values.keys():
        return None
    if not _READY.match(values["READY"]) or to_int(values["RESTARTS"]) is None:
        return None
    return values


@parser(Specs.kubectl_pods)
def parse_kubectl_pods(text, source, node=None):
    r"""Calico pods from `kubectl get pods [-A|--all-namespaces] [-o wide]` or `kubectl get all`.

    Returns components items {name, ready, status, restarts, message, source} for the pods of
    calico-node, calico-kube-controllers, calico-typha and tigera-operator: `name` is the
    component (`calico-node` for pod `calico-node-4hkzb`), `ready` is READY n/m with n == m,
    `status` the STATUS column, `restarts` the RESTARTS count (`5 (2m ago)` -> 5), `age` the
    AGE column as printed with `age_seconds` its value (`2h13m` -> 7980), `last_restart_seconds`
    how long ago the last restart was (`(2m ago)` -> 120; kubectl >= 1.22 and only after a
    restart; absent otherwise, like age when the column is missing or unreadable), `message`
    `pod <ns>/<pod> on <node>` (namespace and node only when the table has those columns and
    the pod is scheduled), and the same as fields: `pod`, `namespace` and `node` (each only when
    the table shows it). With `node`, only the pods on that node are kept, when the table has a
    NODE column (without one, every pod is kept: the table cannot tell).

    `kubectl get pods -A` (kubectl 1.28, operator install; a cut):

    >>> text = '''\
    ... NAMESPACE          NAME                                       READY   STATUS    RESTARTS         AGE
    ... calico-apiserver   calico-apiserver-7b9c5d8f46-hx2vm          1/1     Running   3 (4m12s ago)    41m
    ... calico-system      calico-kube-controllers-69f4d8b7c5-m5tkw   1/1     Running   0                44m
    ... calico-system      calico-node-2bqzl                          1/1     Running   0                43m
    ... calico-system      calico-node-9xw4f                          1/1     Running   5 (2m ago)       43m
    ... calico-system      calico-node-fv6rn                          1/1     Running   12 (7m31s ago)   43m
    ... '''
    >>> for pod in parse_kubectl_pods(text, "sos_commands/kubernetes/kubectl_get_pods_-A"):
    ...     print(pod["name"], pod["pod"], pod["ready"], pod["status"], pod["restarts"],
    ...           pod.get("last_restart_seconds"), pod["source"])
    calico-kube-controllers calico-kube-controllers-69f4d8b7c5-m5tkw True Running 0 None sos_commands/kubernetes/kubectl_get_pods_-A:3
    calico-node calico-node-2bqzl True Running 0 None sos_commands/kubernetes/kubectl_get_pods_-A:4
    calico-node calico-node-9xw4f True Running 5 120 sos_commands/kubernetes/kubectl_get_pods_-A:5
    calico-node calico-node-fv6rn True Running 12 451 sos_commands/kubernetes/kubectl_get_pods_-A:6
    """
    items = []
    for lineno, columns, tokens in tables(text, is_pod_header):
        values = pod_row(columns, tokens)
        if values is None:
            continue
        name = values["NAME"]
        if "/" in name:  # `kubectl get all` prefixes the kind: `pod/calico-node-4hkzb`
            kind, _slash, name = name.partition("/")
            if kind not in ("pod", "pods"):
                continue
        component = pod_component(name)
        if component is None:
            continue
        pod_node = values.get("NODE")
        if node is not None and "NODE" in columns and pod_node != node:
            continue
        namespace = values.get("NAMESPACE")
        message = f"pod {namespace}/{name}" if namespace else f"pod {name}"
        if pod_node and pod_node != "<none>":
            message += f" on {pod_node}"
        ready, total = _READY.match(values["READY"]).groups()
        item = {
            "name": component,
            "ready": int(ready) == int(total),
            "status": values["STATUS"],
            "restarts": to_int(values["RESTARTS"]),
            "message": message,
        }
        # The same facts as fields, for code that must not parse `message` (engine/platform.py).
        item.update(_where(namespace, name, pod_node))
        item["source"] = ref(source, lineno)
        age = duration_seconds(values.get("AGE"))
        if age is not None:
            item["age"], item["age_seconds"] = values["AGE"], age
        last = _LAST_RESTART.match(values.get("LAST RESTART", ""))
        if last and duration_seconds(last.group(1)) is not None:
            item["last_restart_seconds"] = duration_seconds(last.group(1))
        items.append(item)
    return items


# --- kubectl get nodes -------------------------------------------------------------------------

_NODE_STATUS = re.compile(r"^[A-Za-z]+(,[A-Za-z]+)*$")  # Ready, NotReady, Ready,SchedulingDisabled


def _is_node_header(columns):
    return columns[:1] == ["NAME"] and {"STATUS", "VERSION"} <= set(columns)


@parser(Specs.kubectl_nodes)
def parse_kubectl_nodes(text, source, node=None):
    r"""kubelet versions from `kubectl get nodes [-o wide]` (the VERSION column).

    With `node`: [{component: "kubelet", version, detail: "node <node>", source}] for that node,
    or [] when it is not listed. Without: one item per distinct version, in the order first seen,
    with the nodes running it in `detail` (`nodes a, b`) and the first such row as source. The
    columns up to VERSION never contain spaces, so they are read by position.

    `kubectl get nodes -o wide` (Kubernetes v1.30; a cut):

    >>> text = '''\
    ... NAME     STATUS                     ROLES           AGE   VERSION   INTERNAL-IP   EXTERNAL-IP   OS-IMAGE             KERNEL-VERSION     CONTAINER-RUNTIME
    ... node-a   Ready                      control-plane   41d   v1.30.5   198.18.0.11   <none>        Ubuntu 24.04.1 LTS   6.8.0-45-generic   containerd://1.7.22
    ... node-b   Ready                      <none>          41d   v1.30.5   198.18.0.12   <none>        Ubuntu 24.04.1 LTS   6.8.0-45-generic   containerd://1.7.22
    ... node-e   Ready,SchedulingDisabled   <none>          6d    v1.30.5   198.18.0.15   <none>        Ubuntu 24.04.1 LTS   6.8.0-48-generic   containerd://1.7.22
    ... '''
    >>> parse_kubectl_nodes(text, "kubectl_get_nodes")
    [{'component': 'kubelet',
      'version': 'v1.30.5',
      'detail': 'nodes node-a, node-b, node-e',
      'source': 'kubectl_get_nodes:2'}]
    >>> parse_kubectl_nodes(text, "kubectl_get_nodes", node="node-e")
    [{'component': 'kubelet',
      'version': 'v1.30.5',
      'detail': 'node node-e',
      'source': 'kubectl_get_nodes:4'}]
    """
    by_version = {}  # version -> (first lineno, [node names])
    for lineno, columns, tokens in tables(text, _is_node_header):
        name_at, status_at, version_at = (columns.index(c) for c in ("NAME", "STATUS", "VERSION"))
        if len(tokens) <= version_at:
            continue
        name, status, version = tokens[name_at], tokens[status_at], tokens[version_at]
        if not _NODE_STATUS.match(status) or not _VERSION.match(version):
            continue
        if node is not None:
            if name == node:
                return [_version_item("kubelet", version, ref(source, lineno), f"node {name}")]
            continue
        _first, names = by_version.setdefault(version, (lineno, []))
        if name not in names:
            names.append(name)
    items = []
    for version, (lineno, names) in by_version.items():
        label = "node" if len(names) == 1 else "nodes"
        items.append(_version_item("kubelet", version, ref(source, lineno),
                                   f"{label} {', '.join(names)}"))
    return items


# --- crictl ps -----------------------------------------------------------------------------------

# Containers of the Calico pods (calico-node's init containers included) and of the operator.
CALICO_CONTAINERS = frozenset({
    "calico-node", "calico-kube-controllers", "calico-typha", "install-cni", "upgrade-ipam",
    "flexvol-driver", "mount-bpffs", "ebpf-bootstrap", "calico-csi", "calico-apiserver",
    "tigera-operator",
})
# crictl prints the CRI state without its prefix (`Running`); very old releases printed it whole.
_RUNNING_STATES = {"Running", "CONTAINER_RUNNING"}
_CRICTL_STATES = _RUNNING_STATES | {
    "Exited", "Created", "Unknown", "CONTAINER_EXITED", "CONTAINER_CREATED", "CONTAINER_UNKNOWN",
}
_CONTAINER_ID = re.compile(r"^[0-9a-f]{6,64}$")


def _is_crictl_ps_header(columns):
    return (columns[:1] in (["CONTAINER"], ["CONTAINER ID"])
            and {"STATE", "NAME", "ATTEMPT", "POD ID"} <= set(columns))


@parser(Specs.crictl_ps)
def parse_crictl_ps(text, source, names=None):
    r"""Calico containers from `crictl ps [-a]`.

    Columns: CONTAINER IMAGE CREATED STATE NAME ATTEMPT POD ID [POD] [NAMESPACE] (older crictl
    says `CONTAINER ID` and has no POD/NAMESPACE). CREATED holds spaces (`About an hour ago`), so a
    row is read from both ends around the STATE word. Returns components items {name, ready,
    status, restarts, message, source} for containers whose NAME is in `names` (default
    CALICO_CONTAINERS): `ready` = STATE is Running, `status` = STATE, `restarts` = ATTEMPT,
    `pod` and `namespace` from the POD and NAMESPACE columns of newer crictl (no `node`: the
    listing is of one node's runtime and does not name it).
    `-a` also lists the earlier, exited attempts of a restarted container: only the latest
    attempt of each container of a pod is kept, since it is the one running now. Init containers
    (install-cni, flexvol-driver) are `Exited` when they did their job, so `ready` is false for
    them by design.

    `crictl ps -a` (crictl 1.30) on a node whose calico-node pod runs; its init containers have
    exited (a cut):

    >>> text = '''\
    ... CONTAINER           IMAGE                                                              CREATED              STATE               NAME                        ATTEMPT             POD ID              POD                     NAMESPACE
    ... 72358508a62a4       f7101a084765d0234c6755ffaf33c7492ac08ffd52e0f2f5be42eb96e1c08cea   9 minutes ago        Running             calico-node                 1                   67e73fe3abc02       calico-node-gk7tw       calico-system
    ... 90b8b758b978b       653b1039a0e6e9ecbe6757d8f65a491dc4657b7968d7dd06f93ec59ae0844216   10 minutes ago       Running             kube-proxy                  1                   b430344872dcb       kube-proxy-j9vbs        kube-system
    ... e79b8087f2f38       e5da368c5b2a785c54a4af5b194e0f99f2dedf5d5e078ffbc129b6f14fecaaa0   10 minutes ago       Exited              install-cni                 1                   67e73fe3abc02       calico-node-gk7tw       calico-system
    ... '''
    >>> for container in parse_crictl_ps(text, "sos_commands/crio/crictl_ps_-a"):
    ...     print(container["name"], container["ready"], container["status"], container["restarts"],
    ...           container["namespace"], container["pod"])
    calico-node True Running 1 calico-system calico-node-gk7tw
    install-cni False Exited 1 calico-system calico-node-gk7tw
    """
    wanted = CALICO_CONTAINERS if names is None else frozenset(names)
    latest = {}  # (pod id, name) -> (attempt, item)
    for lineno, columns, tokens in tables(text, _is_crictl_ps_header):
        row = _crictl_row(columns, tokens)
        if row is None or row["name"] not in wanted:
            continue
        key = (row["pod_id"], row["name"])
        if key in latest and latest[key][0] >= row["attempt"]:
            continue
        if row.get("pod"):
            where = f"{row['namespace']}/{row['pod']}" if row.get("namespace") else row["pod"]
        else:
            where = f"sandbox {row['pod_id']}"
        item = {
            "name": row["name"],
            "ready": row["state"] in _RUNNING_STATES,
            "status": row["state"],
            "restarts": row["attempt"],
            "message": f"container {row['name']} ({row['id']}) in pod {where}",
            **_where(row.get("namespace"), row.get("pod"), None),
            "source": ref(source, lineno),
        }
        latest[key] = (row["attempt"], item)
    return [item for _attempt, item in latest.values()]


def _crictl_row(columns, tokens):
    if len(tokens) < 7 or not _CONTAINER_ID.match(tokens[0]):
        return None
    state_at = next((at for at in range(3, len(tokens)) if tokens[at] in _CRICTL_STATES), None)
    if state_at is None:
        return None
    tail_columns = columns[columns.index("STATE") + 1:]  # NAME ATTEMPT POD ID [POD] [NAMESPACE]
    tail = tokens[state_at + 1:]
    if len(tail) != len(tail_columns):
        return None
    values = dict(zip(tail_columns, tail))
    attempt = to_int(values.get("ATTEMPT"))
    if attempt is None or "NAME" not in values or "POD ID" not in values:
        return None
    return {
        "id": tokens[0], "state": tokens[state_at], "name": values["NAME"], "attempt": attempt,
        "pod_id": values["POD ID"], "pod": values.get("POD"), "namespace": values.get("NAMESPACE"),
    }


# --- images and the Calico version -------------------------------------------------------------

_IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$")
_CALICO_TAG_VERSION = re.compile(r"^v\d+\.\d+\.\d+")
# Images that carry the version of the Calico release as a whole, best first.
_NODE_IMAGES = ("node", "mirrored-calico-node", "hardened-calico")


def _is_crictl_images_header(columns):
    return columns[:2] == ["IMAGE", "TAG"]


@parser(Specs.crictl_images)
def parse_crictl_images(text, source):
    r"""`crictl images` / `crictl img ls` (optionally `--digests`): the image store of the node.

    Returns plain dicts {ref, repository, tag, source} (not a dump section): `ref` is
    `repository:tag`, `tag` None for an untagged image; `<none>` repositories are skipped.

    `crictl images` (crictl 1.30; a cut):

    >>> text = '''\
    ... IMAGE                                    TAG                 IMAGE ID            SIZE
    ... docker.io/calico/cni                     v3.28.2             e5da368c5b2a7       94.6MB
    ... docker.io/calico/node                    v3.28.2             f7101a084765d       147MB
    ... docker.io/calico/pod2daemon-flexvol      v3.28.2             d123d401f6055       7.19MB
    ... '''
    >>> [(image["ref"], image["tag"], image["source"]) for image in parse_crictl_images(text, "crictl_images")]
    [('docker.io/calico/cni:v3.28.2', 'v3.28.2', 'crictl_images:2'),
     ('docker.io/calico/node:v3.28.2', 'v3.28.2', 'crictl_images:3'),
     ('docker.io/calico/pod2daemon-flexvol:v3.28.2', 'v3.28.2', 'crictl_images:4')]
    """
    images = []
    for lineno, _columns, tokens in tables(text, _is_crictl_images_header):
        if len(tokens) < 4 or tokens[0] == "<none>" or not _IMAGE_REF.match(tokens[0]):
            continue
        repository, tag = tokens[0], (None if tokens[1] == "<none>" else tokens[1])
        images.append({"ref": f"{repository}:{tag}" if tag else repository,
                       "repository": repository, "tag": tag, "source": ref(source, lineno)})
    return images


def parse_image_refs(text, source):
    r"""Image references separated by whitespace, e.g. `kubectl get pods -A -o
    jsonpath='{..image}'` (all on one line) or one per line: dicts as parse_crictl_images gives.
    Tokens that are not image references are skipped.

    `kubectl ... -o jsonpath='{range ..image}{@}{"\n"}{end}'` on a calico-node pod (one reference a line):

    >>> text = '''\
    ... docker.io/calico/node:v3.28.2
    ... docker.io/calico/cni:v3.28.2
    ... '''
    >>> [(image["repository"], image["tag"], image["source"]) for image in parse_image_refs(text, "images")]
    [('docker.io/calico/node', 'v3.28.2', 'images:1'), ('docker.io/calico/cni', 'v3.28.2', 'images:2')]
    """
    images = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        for token in line.split():
            if not _IMAGE_REF.match(token):
                continue
            repository, tag = _split_ref(token)
            images.append({"ref": token, "repository": repository, "tag": tag,
                           "source": ref(source, lineno)})
    return images


def _split_ref(image_ref):
    """`docker.io/calico/node:v3.26.4@sha256:...` -> (`docker.io/calico/node`, `v3.26.4`)."""
    name = image_ref.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    if ":" in last:  # a colon before the last `/` is a registry port, not a tag
        last, _colon, tag = last.partition(":")
        return head + slash + last, (tag or None)
    return name, None


def _calico_repository(repository):
    """The Calico image name (`node`, `cni`, `mirrored-calico-node`, ...) or None.

    Calico's own images live under a `calico/` namespace on any registry (docker.io/calico/node,
    quay.io/calico/node, a mirror's <host>/calico/node). Rancher republishes them as
    `rancher/mirrored-calico-<name>` and, for RKE2, as one `rancher/hardened-calico` image. The
    operator image `quay.io/tigera/operator` versions the operator, not Calico: not counted.
    """
    segments = repository.split("/")
    if len(segments) < 2:
        return None
    namespace, name = segments[-2], segments[-1]
    if namespace == "calico" and name:
        return name
    if namespace == "rancher" and (name.startswith("mirrored-calico-") or name == "hardened-calico"):
        return name
    return None


def calico_version_from_image_ref(image_ref):
    """The Calico version in one image reference, or None.

    Takes `calico/node:v3.26.4`, `docker.io/calico/node:v3.26.4@sha256:...`, or a `crictl images`
    row's `docker.io/calico/node v3.26.4` (repository and tag apart). For kubectl's
    `-o jsonpath='{..image}'`, which prints many references on one line, call it on each (or use
    parse_image_refs). Tags that are not versions (`master`, `latest`) and non-Calico images
    (`quay.io/tigera/operator:v1.30.0`) give None; RKE2's `v3.29.1-build20250110` gives v3.29.1.

    >>> calico_version_from_image_ref("docker.io/calico/node:v3.28.2")
    'v3.28.2'
    >>> calico_version_from_image_ref("docker.io/rancher/hardened-calico v3.28.1-build20240911")
    'v3.28.1'
    >>> calico_version_from_image_ref("quay.io/tigera/operator:v1.36.5") is None
    True
    """
    if not isinstance(image_ref, str):
        return None
    parts = image_ref.split()
    if len(parts) == 2 and ":" not in parts[0].rpartition("/")[2] and "/" not in parts[1]:
        repository, tag = parts
    elif len(parts) == 1:
        repository, tag = _split_ref(parts[0])
    else:
        return None
    if not tag or _calico_repository(repository) is None:
        return None
    match = _CALICO_TAG_VERSION.match(tag)
    return match.group(0) if match else None


def calico_version_from_images(images):
    r"""versions items {component: "calico", version, detail, source} from image dicts.

    `images` as parse_crictl_images / parse_image_refs return. The calico/node image (or its
    Rancher equivalents) decides; other Calico images (cni, kube-controllers, ...) only when no
    node image is there. One item per distinct version in the order seen: an image store keeps
    the images of earlier releases after an upgrade, so more than one version can be listed, and
    `detail` names the image each came from.

    From `crictl images` (crictl 1.30; a cut): the node image decides.

    >>> text = '''\
    ... IMAGE                                    TAG                 IMAGE ID            SIZE
    ... docker.io/calico/cni                     v3.28.2             e5da368c5b2a7       94.6MB
    ... docker.io/calico/node                    v3.28.2             f7101a084765d       147MB
    ... docker.io/calico/pod2daemon-flexvol      v3.28.2             d123d401f6055       7.19MB
    ... '''
    >>> calico_version_from_images(parse_crictl_images(text, "crictl_images"))
    [{'component': 'calico',
      'version': 'v3.28.2',
      'detail': 'image docker.io/calico/node:v3.28.2',
      'source': 'crictl_images:3'}]
    """
    node_images, other_images = [], []
    if not isinstance(images, (list, tuple)):
        return []
    for image in images:
        if not isinstance(image, dict) or not image.get("source"):
            continue
        repository, tag = image.get("repository"), image.get("tag")
        if not isinstance(repository, str) or not isinstance(tag, str):
            continue
        version = calico_version_from_image_ref(f"{repository}:{tag}")
        if version is None:
            continue
        name = _calico_repository(repository)
        (node_images if name in _NODE_IMAGES else other_images).append((version, image))
    items, seen = [], set()
    for version, image in node_images or other_images:
        if version in seen:
            continue
        seen.add(version)
        items.append(_version_item("calico", version, image["source"],
                                   f"image {image.get('ref') or image['repository']}"))
    return items
