"""The table of CLI flags remediation may use (engine/data/cli-flags.yaml), loaded for the checker.

load_table(document) -> {command name: _Node}: each node is a command or subcommand with its flags
(spelling -> _Flag: what it takes, and for calicoctl the Calico releases that have it), its
subcommands (name and aliases -> _Node) and where it was read. The file's header documents the keys.
"""

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from calirules.engine import versions

DATA_FILE = "data/cli-flags.yaml"
TAKES = ("flag", "value", "optional", "rest")
STYLES = ("getopt", "words", "iproute2")


class TableError(ValueError):
    """engine/data/cli-flags.yaml (or a table given to load_table) is malformed."""


@dataclass
class _Flag:
    spelling: str
    takes: str
    since: tuple | None = None
    until: tuple | None = None
    source: str | None = None


@dataclass
class _Node:
    path: str
    source: str
    flags: dict = field(default_factory=dict)
    subcommands: dict = field(default_factory=dict)   # name and aliases -> _Node
    alone: bool = False
    since: tuple | None = None
    until: tuple | None = None
    runs_after_dashdash: bool = False
    # Command-level settings (on the root node only).
    style: str = "getopt"
    flags_everywhere: bool = False
    options_end_at_operand: bool = False
    calico_versions: tuple | None = None


@lru_cache(maxsize=None)
def shipped_table():
    text = resources.files("calirules.engine").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return load_table(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def load_table(document):
    """{command name: root _Node} from the parsed YAML document; TableError names what is wrong."""
    commands = (document or {}).get("commands") if isinstance(document, dict) else None
    if not isinstance(commands, dict):
        raise TableError("the table needs a `commands:` mapping")
    table = {}
    for name, spec in commands.items():
        if isinstance(spec, dict) and "same_as" in spec:
            continue
        table[str(name)] = _node(str(name), spec, None)
    for name, spec in commands.items():
        if isinstance(spec, dict) and "same_as" in spec:
            target = table.get(spec["same_as"])
            if target is None or not spec.get("source"):
                raise TableError(f"{name}: same_as needs a command of the table and a source")
            table[str(name)] = _renamed(target, str(name), spec["source"])
    return table


_NODE_KEYS = {"source", "flags", "subcommands", "aliases", "alone", "since", "until", "runs_after_dashdash"}
_ROOT_KEYS = {"style", "flags_everywhere", "options_end_at_operand", "calico_versions"}


def _node(path, spec, root):
    if not isinstance(spec, dict):
        raise TableError(f"{path}: expected a mapping")
    allowed = _NODE_KEYS | (_ROOT_KEYS if root is None else set())
    unknown = set(spec) - allowed
    if unknown:
        raise TableError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if not spec.get("source"):
        raise TableError(f"{path}: every entry names its source")
    node = _Node(path=path, source=str(spec["source"]), alone=bool(spec.get("alone")),
                 runs_after_dashdash=bool(spec.get("runs_after_dashdash")))
    if root is None:
        root = node
        node.style = spec.get("style", "getopt")
        if node.style not in STYLES:
            raise TableError(f"{path}: style must be one of {', '.join(STYLES)}")
        node.flags_everywhere = bool(spec.get("flags_everywhere"))
        node.options_end_at_operand = bool(spec.get("options_end_at_operand"))
        if "calico_versions" in spec:
            node.calico_versions = tuple(_version(path, v) for v in spec["calico_versions"])
    node.since, node.until = _window(path, spec, root)
    for spellings, flag_spec in (spec.get("flags") or {}).items():
        takes, extra = (flag_spec, {}) if isinstance(flag_spec, str) else ((flag_spec or {}).get("takes"), flag_spec)
        if takes not in TAKES:
            raise TableError(f"{path} {spellings}: takes must be one of {', '.join(TAKES)}")
        since, until = _window(f"{path} {spellings}", extra, root)
        for spelling in str(spellings).split():
            node.flags[spelling] = _Flag(spelling, takes, since, until, extra.get("source"))
    for name, child_spec in (spec.get("subcommands") or {}).items():
        child = _node(f"{path} {name}", child_spec, root)
        for spelling in [str(name)] + [str(a) for a in (child_spec.get("aliases") or ())]:
            node.subcommands[spelling] = child
    return node


def _window(where, spec, root):
    bounds = (spec.get("since"), spec.get("until"))
    if any(bounds) and root.calico_versions is None:
        raise TableError(f"{where}: since/until are Calico versions: only for a command with calico_versions")
    if any(bounds) and not spec.get("source"):
        raise TableError(f"{where}: a versioned entry names its own source")
    return tuple(_version(where, b) if b else None for b in bounds)


def _version(where, text):
    parsed = versions.parse(text)
    if parsed is None:
        raise TableError(f"{where}: {text!r} is not a version")
    return parsed


def _renamed(node, name, source):
    """A copy of `node` under another command name (iptables-nft is iptables), sharing its children."""
    copy = _Node(**{**node.__dict__, "path": name, "source": source})
    return copy
