"""Calico's Kubernetes objects as YAML (`kubectl get <resource> -A -o yaml`, calicoctl -o yaml).

Accepts a `List` (kubectl `items:`) or a single object; line numbers come from the YAML nodes
(`yaml.compose`), so every item says where it was read. Anything that is not YAML, or not the
expected kind, yields []. Only literal values are kept: an env var set `valueFrom` a ConfigMap
is not a value this file shows.

  parse_ippools            IPPool            -> settings `ippool/<name>`: cidr, natOutgoing, ipipMode, ...
  parse_felixconfigurations FelixConfiguration -> settings `felixconfiguration/<name>`: the data plane
                                                knobs (nftablesMode, bpfEnabled, iptablesBackend, ...)
  parse_installations      Installation      -> settings `installation/<name>`: calicoNetwork.linuxDataplane,
                                                variant, kubernetesProvider (tigera-operator's API)
  parse_calico_node_env    DaemonSet         -> settings `calico-node`: the calico-node container's
                                                FELIX_* and CALICO_NETWORKING_BACKEND env vars
  parse_objects            any kind          -> kube_objects items {kind, name, namespace, source}

Sources for the field names: projectcalico/calico api/pkg/apis/projectcalico/v3/felixconfig.go
(v3.29.0: `nftablesMode`, `bpfEnabled`, `iptablesBackend`), tigera/operator api/v1/installation_types.go
(`calicoNetwork.linuxDataplane`: Iptables, BPF, VPP, Nftables; `variant`, `kubernetesProvider`;
`status.computed` holds the spec the operator applied, defaults filled in).
"""

import yaml
from calirules.facts_collectors.specs import Specs, parser

from ._common import as_text

IPPOOL_FIELDS = ("cidr", "natOutgoing", "ipipMode", "vxlanMode", "disabled", "blockSize")
FELIX_FIELDS = ("nftablesMode", "bpfEnabled", "iptablesBackend", "wireguardEnabled", "wireguardEnabledV6")
INSTALLATION_FIELDS = (("calicoNetwork", "linuxDataplane"), ("variant",), ("kubernetesProvider",))
ENV_PREFIXES = ("FELIX_",)
ENV_NAMES = ("CALICO_NETWORKING_BACKEND",)


@parser(Specs.calicoctl_ippools)
def parse_ippools(text, source):
    r"""IPPools (a kubectl List or one calicoctl resource) -> settings `ippool/<name>`:
    cidr, natOutgoing, ipipMode, vxlanMode, disabled, blockSize.

    `kubectl get ippools -o yaml` (a kubectl List of two pools):

    >>> text = '''\
    ... apiVersion: v1
    ... items:
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: IPPool
    ...   metadata:
    ...     name: default-ipv4-ippool
    ...   spec:
    ...     blockSize: 26
    ...     cidr: 198.18.64.0/18
    ...     ipipMode: Always
    ...     natOutgoing: true
    ...     vxlanMode: Never
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: IPPool
    ...   metadata:
    ...     name: retired
    ...   spec:
    ...     cidr: 198.18.128.0/18
    ...     disabled: true
    ... kind: List
    ... '''
    >>> for item in parse_ippools(text, "cluster/crd/ippools.crd.projectcalico.org.yaml"):
    ...     print(item["component"], item["key"], item["value"], item["source"].rsplit(":", 1)[1])
    ippool/default-ipv4-ippool cidr 198.18.64.0/18 9
    ippool/default-ipv4-ippool natOutgoing true 11
    ippool/default-ipv4-ippool ipipMode Always 10
    ippool/default-ipv4-ippool vxlanMode Never 12
    ippool/default-ipv4-ippool blockSize 26 8
    ippool/retired cidr 198.18.128.0/18 18
    ippool/retired disabled true 19
    """
    return [item for obj in _objects(text, "IPPool")
            for item in _fields(obj, f"ippool/{_name(obj)}", [(f,) for f in IPPOOL_FIELDS], source)]


@parser(Specs.kube_yaml, paths=("cluster/crd/felixconfigurations.crd.projectcalico.org.yaml",
                                      "cluster/crd/felixconfigurations.projectcalico.org.yaml"))
def parse_felixconfigurations(text, source):
    r"""`default` is the global FelixConfiguration, `node.<nodename>` one node's (it wins there).

    `kubectl get felixconfigurations -A -o yaml` (Calico v3.29; a cut):

    >>> text = '''\
    ... apiVersion: v1
    ... items:
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: FelixConfiguration
    ...   metadata:
    ...     name: default
    ...   spec:
    ...     nftablesMode: Enabled
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: FelixConfiguration
    ...   metadata:
    ...     name: node.node-b
    ...   spec:
    ...     bpfEnabled: false
    ...     nftablesMode: Disabled
    ... kind: List
    ... '''
    >>> for item in parse_felixconfigurations(text, "felixconfigurations.yaml"):
    ...     print(item["component"], item["key"], item["value"], item["source"])
    felixconfiguration/default nftablesMode Enabled felixconfigurations.yaml:8
    felixconfiguration/node.node-b nftablesMode Disabled felixconfigurations.yaml:15
    felixconfiguration/node.node-b bpfEnabled false felixconfigurations.yaml:14
    """
    return [item for obj in _objects(text, "FelixConfiguration")
            for item in _fields(obj, f"felixconfiguration/{_name(obj)}", [(f,) for f in FELIX_FIELDS], source)]


@parser(Specs.kube_yaml, paths=("cluster/crd/installations.operator.tigera.io.yaml",))
def parse_installations(text, source):
    r"""The Installation's spec; a field the spec leaves unset is taken from `status.computed`
    (what the operator rendered, its defaults included) and its key says so (`status.computed.`).

    `kubectl get installations -A -o yaml` (tigera-operator v1.36; a cut):

    >>> text = '''\
    ... apiVersion: v1
    ... items:
    ... - apiVersion: operator.tigera.io/v1
    ...   kind: Installation
    ...   metadata:
    ...     name: default
    ...   spec:
    ...     calicoNetwork:
    ...       linuxDataplane: Nftables
    ...     variant: Calico
    ... kind: List
    ... '''
    >>> for item in parse_installations(text, "installations.yaml"):
    ...     print(item["component"], item["key"], item["value"], item["source"])
    installation/default calicoNetwork.linuxDataplane Nftables installations.yaml:9
    installation/default variant Calico installations.yaml:10
    """
    items = []
    for obj in _objects(text, "Installation"):
        component = f"installation/{_name(obj)}"
        for path in INSTALLATION_FIELDS:
            found = _fields(obj, component, [path], source)
            if not found:
                found = _fields(_get(_get(obj, "status"), "computed"), component, [path], source,
                                prefix="status.computed.")
            items.extend(found)
    return items


@parser(Specs.kube_yaml, paths=("cluster/kubernetes/daemonsets.yaml",))
def parse_calico_node_env(text, source):
    r"""FELIX_* (and CALICO_NETWORKING_BACKEND) env vars of the calico-node container of each
    calico-node DaemonSet: Felix reads FELIX_<PARAM> before any FelixConfiguration
    (felix/config/env_var_loader.go), so these decide where they are set.

    `kubectl get daemonsets --all-namespaces -o yaml` (Calico v3.29 manifest; a cut):

    >>> text = '''\
    ... apiVersion: v1
    ... items:
    ... - apiVersion: apps/v1
    ...   kind: DaemonSet
    ...   metadata:
    ...     name: calico-node
    ...   spec:
    ...     template:
    ...       spec:
    ...         containers:
    ...         - env:
    ...           - name: CALICO_NETWORKING_BACKEND
    ...             valueFrom:
    ...               configMapKeyRef:
    ...                 key: calico_backend
    ...                 name: calico-config
    ...           - name: FELIX_DEFAULTENDPOINTTOHOSTACTION
    ...             value: ACCEPT
    ...           - name: FELIX_IPTABLESBACKEND
    ...             value: NFT
    ...           name: calico-node
    ... kind: List
    ... '''
    >>> for item in parse_calico_node_env(text, "cluster/kubernetes/daemonsets.yaml"):
    ...     print(item["key"], item["value"], item["source"])
    FELIX_DEFAULTENDPOINTTOHOSTACTION ACCEPT cluster/kubernetes/daemonsets.yaml:18
    FELIX_IPTABLESBACKEND NFT cluster/kubernetes/daemonsets.yaml:20
    """
    items = []
    for obj in _objects(text, "DaemonSet"):
        if _name(obj) != "calico-node":
            continue
        containers = _get(_get(_get(_get(obj, "spec"), "template"), "spec"), "containers")
        for container in _sequence(containers):
            if _scalar(_get(container, "name")) != "calico-node":
                continue
            for env in _sequence(_get(container, "env")):
                name, value = _scalar(_get(env, "name")), _get(env, "value")
                if name and (name.startswith(ENV_PREFIXES) or name in ENV_NAMES) and _scalar(value) is not None:
                    items.append({"component": "calico-node", "key": name, "value": _scalar(value),
                                  "source": f"{source}:{value.start_mark.line + 1}"})
    return items


@parser(Specs.kube_yaml)
def parse_objects(text, source, of=None):
    r"""One kube_objects item per object of any kind: {kind, name, namespace (when namespaced),
    source (its `metadata.name` line)}; with `of`, a List text (kubectl's `items:`, even empty)
    also gives {kind: List, of, source: line 1}: the listing was read, so what it lacks is absent.

    `kubectl get felixconfigurations -A -o yaml` (Calico v3.29; a cut):

    >>> text = '''\
    ... apiVersion: v1
    ... items:
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: FelixConfiguration
    ...   metadata:
    ...     name: default
    ...   spec:
    ...     nftablesMode: Enabled
    ... - apiVersion: crd.projectcalico.org/v1
    ...   kind: FelixConfiguration
    ...   metadata:
    ...     name: node.node-b
    ...   spec:
    ...     bpfEnabled: false
    ...     nftablesMode: Disabled
    ... kind: List
    ... '''
    >>> for item in parse_objects(text, "felixconfigurations.yaml", of="FelixConfiguration"):
    ...     print(item)
    {'kind': 'List', 'of': 'FelixConfiguration', 'source': 'felixconfigurations.yaml:1'}
    {'kind': 'FelixConfiguration', 'name': 'default', 'source': 'felixconfigurations.yaml:6'}
    {'kind': 'FelixConfiguration', 'name': 'node.node-b', 'source': 'felixconfigurations.yaml:12'}
    """
    items = []
    if of and _is_list(text):
        items.append({"kind": "List", "of": of, "source": f"{source}:1"})
    for obj in _objects(text, None):
        kind, name_node = _scalar(_get(obj, "kind")), _get(_get(obj, "metadata"), "name")
        if not kind or _scalar(name_node) is None:
            continue
        item = {"kind": kind, "name": _scalar(name_node)}
        namespace = _scalar(_get(_get(obj, "metadata"), "namespace"))
        if namespace:
            item["namespace"] = namespace
        item["source"] = f"{source}:{name_node.start_mark.line + 1}"
        items.append(item)
    return items


# --- YAML nodes ----------------------------------------------------------------------------------

def _compose(text):
    """The YAML root node, or None. A last line without a newline is where a truncated file was
    cut (`nftablesMode: Disa`): it is dropped, so a cut value is never read as a whole one."""
    text = as_text(text)
    if not text.endswith("\n"):
        text = text[:text.rfind("\n") + 1]
    try:
        return yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError):
        return None


def _objects(text, kind):
    """The objects of a List (or the one object) of `kind` (any kind for None)."""
    root = _compose(text)
    if not isinstance(root, yaml.MappingNode):
        return []
    items = _get(root, "items")
    objects = items.value if isinstance(items, yaml.SequenceNode) else [root]
    return [obj for obj in objects if isinstance(obj, yaml.MappingNode)
            and (kind is None or _scalar(_get(obj, "kind")) in (None, kind)) and _name(obj)]


def _is_list(text):
    root = _compose(text)
    return isinstance(_get(root, "items"), yaml.SequenceNode) and _scalar(_get(root, "kind")) == "List"


def _fields(obj, component, paths, source, prefix=""):
    spec = _get(obj, "spec") if not prefix else obj
    out = []
    for path in paths:
        node = spec
        for key in path:
            node = _get(node, key)
        value = _scalar(node)
        if value is not None:
            out.append({"component": component, "key": prefix + ".".join(path), "value": value,
                        "source": f"{source}:{node.start_mark.line + 1}"})
    return out


def _name(obj):
    return _scalar(_get(_get(obj, "metadata"), "name"))


def _get(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _sequence(node):
    return [item for item in node.value if isinstance(item, yaml.MappingNode)] \
        if isinstance(node, yaml.SequenceNode) else []


def _scalar(node):
    return str(node.value) if isinstance(node, yaml.ScalarNode) and node.value != "" else None
