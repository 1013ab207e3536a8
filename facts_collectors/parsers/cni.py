"""CNI network configuration (`/etc/cni/net.d/10-calico.conflist`) -> `settings` facts.

The file is JSON as libcni reads it: no comments, no trailing commas, no NaN. Anything that is
not valid JSON (a half-written or truncated file, the manifest's template with `__CNI_MTU__`
still in it) gives no settings: a conflist that libcni cannot load configures nothing, and
guessing at its content would invent facts. A single-plugin `.conf` (the calico plugin's keys at
the top level) is read the same way as a conflist with one plugin.

json.loads keeps no positions, so each setting's line is found by a small scan of the text that
follows the same structure (objects, arrays, keys) and records the line of every key path; a key
given twice keeps its last line, as json.loads keeps its last value.
"""

import bisect
import json
import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import as_text, ref

# Settings of the calico plugin: (setting key, path inside the plugin object).
_CALICO_KEYS = (
    ("mtu", ("mtu",)),
    ("ipam.type", ("ipam", "type")),
    ("log_file_path", ("log_file_path",)),
    ("nodename", ("nodename",)),
    ("datastore_type", ("datastore_type",)),
    ("container_settings.allow_ip_forwarding", ("container_settings", "allow_ip_forwarding")),
    ("policy.type", ("policy", "type")),
)

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


@parser(Specs.cni_conflist)
def parse_cni_conflist(text, source):
    r"""Settings (component `cni`) from a CNI conflist or conf.

    Items {component: "cni", key, value, source}, values as strings (`1440`, `true`,
    `calico-ipam`), for what the file sets of: the calico plugin's `mtu`, `ipam.type`,
    `log_file_path`, `nodename`, `datastore_type`, `container_settings.allow_ip_forwarding` and
    `policy.type`; the top-level `cniVersion`; and `plugins`, the chained plugin types in order
    (`calico,portmap` - whether portmap/bandwidth/tuning are chained). Keys the file leaves out
    are left out. Returns [] for text that is not a JSON object.

    A hand-written `/etc/cni/net.d/10-calico.conflist` (Calico v3.27, calico + portmap):

    >>> text = '''\
    ... {
    ...   "name": "k8s-pod-network",
    ...   "cniVersion": "0.3.1",
    ...   "plugins": [
    ...     {
    ...       "type": "calico",
    ...       "datastore_type": "kubernetes",
    ...       "log_level": "warning",
    ...       "log_file_path": "/var/log/calico/cni/cni.log",
    ...       "nodename": "node-a",
    ...       "mtu": 1450,
    ...       "ipam": {
    ...         "type": "calico-ipam",
    ...         "assign_ipv4": "true"
    ...       },
    ...       "policy": {
    ...         "type": "k8s"
    ...       },
    ...       "kubernetes": {
    ...         "kubeconfig": "/etc/cni/net.d/calico-kubeconfig"
    ...       }
    ...     },
    ...     {
    ...       "type": "portmap",
    ...       "snat": true,
    ...       "capabilities": {"portMappings": true}
    ...     }
    ...   ]
    ... }
    ... '''
    >>> for setting in parse_cni_conflist(text, "etc/cni/net.d/10-calico.conflist"):
    ...     print(setting["key"], setting["value"], setting["source"])
    cniVersion 0.3.1 etc/cni/net.d/10-calico.conflist:3
    plugins calico,portmap etc/cni/net.d/10-calico.conflist:4
    mtu 1450 etc/cni/net.d/10-calico.conflist:11
    ipam.type calico-ipam etc/cni/net.d/10-calico.conflist:13
    log_file_path /var/log/calico/cni/cni.log etc/cni/net.d/10-calico.conflist:9
    nodename node-a etc/cni/net.d/10-calico.conflist:10
    datastore_type kubernetes etc/cni/net.d/10-calico.conflist:7
    policy.type k8s etc/cni/net.d/10-calico.conflist:17
    """
    text = as_text(text)
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return []
    if not isinstance(document, dict):
        return []
    key_lines = _key_lines(text)

    def setting(key, value, path):
        return {"component": "cni", "key": key, "value": _as_string(value),
                "source": ref(source, key_lines.get(path, 1))}

    settings = []
    if "cniVersion" in document and _is_scalar(document["cniVersion"]):
        settings.append(setting("cniVersion", document["cniVersion"], ("cniVersion",)))
    plugins = document.get("plugins")
    conflist = isinstance(plugins, list)
    if conflist:
        types = [plugin.get("type") for plugin in plugins if isinstance(plugin, dict)]
        settings.append(setting("plugins", ",".join(str(kind) for kind in types if kind),
                                ("plugins",)))
    elif "type" in document:  # a single-plugin .conf
        plugins = [document]
        settings.append(setting("plugins", _as_string(document["type"]), ("type",)))
    else:
        return settings
    for index, plugin in enumerate(plugins):
        if isinstance(plugin, dict) and plugin.get("type") == "calico":
            base = ("plugins", index) if conflist else ()
            for key, path in _CALICO_KEYS:
                value = _lookup(plugin, path)
                if value is not _MISSING and _is_scalar(value):
                    settings.append(setting(key, value, base + path))
            break
    return settings


_MISSING = object()


def _lookup(mapping, path):
    value = mapping
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return _MISSING
        value = value[key]
    return value


def _is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def _as_string(value):
    """JSON scalars as the file spells them: true/false/null, integers without `.0`."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value)


def _key_lines(text):
    """{key path: 1-based line} for every object key of valid JSON text; paths use list indexes
    (`("plugins", 0, "mtu")`)."""
    newlines = [at for at, char in enumerate(text) if char == "\n"]
    lines = {}
    stack = []  # open containers: {"object": bool, "path": tuple, "key": str, "index": int}

    def child_path():
        if not stack:
            return ()
        top = stack[-1]
        return top["path"] + ((top["key"],) if top["object"] else (top["index"],))

    expecting_key = False
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{", "["):
            stack.append({"object": token == "{", "path": child_path(), "key": None, "index": 0})
            expecting_key = token == "{"
        elif token in ("}", "]"):
            if stack:
                stack.pop()
            expecting_key = False
        elif token == ":":
            expecting_key = False
        elif token == ",":
            if stack and stack[-1]["object"]:
                expecting_key = True
            elif stack:
                stack[-1]["index"] += 1
        elif expecting_key and token.startswith('"') and stack:
            key = json.loads(token)
            stack[-1]["key"] = key
            lines[stack[-1]["path"] + (key,)] = bisect.bisect_right(newlines, match.start()) + 1
            expecting_key = False
    return lines


@parser(Specs.calico_cni_version)
def parse_calico_cni_version(text, source):
    """`/opt/cni/bin/calico -v` (the CNI plugin prints its release) -> the Calico `versions` item.

    >>> parse_calico_cni_version("v3.29.1\\n", "calico_-v")
    [{'component': 'calico', 'version': 'v3.29.1', 'source': 'calico_-v:1'}]
    """
    for lineno, line in enumerate(as_text(text).splitlines(), 1):
        words = [w for w in line.split() if w[:1] == "v" and w[1:2].isdigit()]
        if words:
            return [{"component": "calico", "version": words[0], "source": ref(source, lineno)}]
    return []
