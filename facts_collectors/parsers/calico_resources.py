"""Calico resources as YAML (`kubectl get ippools.crd.projectcalico.org -o yaml`, calicoctl -o yaml).

`parse_ippools` -> `settings` items, one per IPPool field that decides routing and NAT:
`{component: "ippool/<name>", key: cidr|natOutgoing|ipipMode|vxlanMode|disabled|blockSize, value, source}`.
Accepts a `List`/`IPPoolList` (items) or a single IPPool; line numbers come from the YAML nodes.
Anything that is not YAML, or not IPPools, yields [].
"""

import yaml

from ._common import as_text

FIELDS = ("cidr", "natOutgoing", "ipipMode", "vxlanMode", "disabled", "blockSize")


def parse_ippools(text, source):
    try:
        root = yaml.compose(as_text(text), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    items = _get(root, "items")
    pools = items.value if isinstance(items, yaml.SequenceNode) else [root]
    out = []
    for pool in pools:
        if not isinstance(pool, yaml.MappingNode) or _scalar(_get(pool, "kind")) not in (None, "IPPool"):
            continue
        name = _scalar(_get(_get(pool, "metadata"), "name"))
        spec = _get(pool, "spec")
        if not name or not isinstance(spec, yaml.MappingNode):
            continue
        for field in FIELDS:
            node = _get(spec, field)
            value = _scalar(node)
            if value is not None:
                out.append({"component": f"ippool/{name}", "key": field, "value": value,
                            "source": f"{source}:{node.start_mark.line + 1}"})
    return out


def _get(node, key):
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def _scalar(node):
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None
