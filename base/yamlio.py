"""Reading YAML that users hand us (facts dumps, rule files), with errors that name file:line:column.

Facts dumps are large (a 250-pod node is ~3 MiB) and are read with yaml-rs, a YAML 1.2 parser
in Rust that rejects duplicate keys and caps alias expansion; rule files are small and read with
PyYAML's safe loader. Only when something is wrong do we compose a PyYAML node tree to find the
line and column of the offending value, so a valid dump pays nothing for good error messages.

Whatever the parser, a document is bounded before anything walks it (the schema validator, the
engine): string keys only, at most MAX_DEPTH nested collections, at most MAX_EXPANDED_NODES nodes
once aliases are expanded, and integers of at most MAX_INT_DIGITS digits.
"""

import os
import re
import stat

import yaml
from calirules.base.errors import InputError

try:
    import yaml_rs
except ImportError:  # pragma: no cover - exercised only where no wheel exists
    yaml_rs = None

# A facts dump of a 1,000-pod node is about 10 MiB; anything past this is not a dump we wrote.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# A dump nests 4 deep and a rule file about 8; recursive walkers (the schema validator's, Python's)
# give out at a few hundred.
MAX_DEPTH = 100
# What a document may grow to once every alias is replaced by the node it names: a few anchors in
# a rule test file stay far below it; nine aliases of nine aliases of ... ("billion laughs") reach
# 9**levels nodes, which the validator would copy into gigabytes.
MAX_EXPANDED_NODES = 100_000
# The largest number any collector writes is a 64-bit counter (20 digits); a longer integer is not
# a value we wrote, and past 4,300 digits Python refuses to print or parse it.
MAX_INT_DIGITS = 20
_MAX_INT = 10**MAX_INT_DIGITS - 1

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """Safe loader that keeps dates as strings: a dump's `collected_at` stays what was written."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def read_text(path, what="file", max_bytes=MAX_INPUT_BYTES):
    """Read a small UTF-8 text file, refusing directories, huge files and binary data."""
    try:
        # O_NONBLOCK: opening a fifo must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path) from None
    try:
        info = os.fstat(fd)
        mode, size = info.st_mode, info.st_size
        if stat.S_ISDIR(mode):
            raise InputError(f"is a directory, expected a {what}", path)
        if not stat.S_ISREG(mode):
            raise InputError(f"not a regular file (device, fifo or socket), expected a {what}", path)
        if size > max_bytes:
            raise InputError(
                f"file is {size / 2**20:.1f} MiB, larger than the {max_bytes // 2**20} MiB a {what} may be",
                path,
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", path) from None
    finally:
        os.close(fd)
    return decode_text(data, path, what)


def decode_text(data, path, what="file"):
    nul = data.find(b"\0")
    if nul >= 0:
        raise InputError(f"binary data (NUL byte), expected a YAML {what}", path, data.count(b"\n", 0, nul) + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"not UTF-8 text (byte 0x{data[exc.start]:02x}), expected a YAML {what}", path, line) from None
    if not text.strip():
        raise InputError(f"empty file, expected a {what}", path, 1)
    return text


def parse_yaml(text, path, what="file"):
    """Parse one YAML document with the safe loader; syntax errors carry line and column."""
    try:
        check_shape(text, path)
        doc = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise InputError(f"invalid YAML: {problem}", path, line, col) from None
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow; its text has two lines
        line = text.count("\n", 0, exc.position) + 1 if isinstance(exc.position, int) else None
        raise InputError(f"invalid YAML: character {exc.character!r} is not allowed", path, line) from None
    except yaml.YAMLError as exc:
        raise InputError(f"invalid YAML: {' '.join(str(exc).split())}", path) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path) from None
    if doc is None:
        raise InputError(f"empty document, expected a {what}", path, 1)
    return doc


def load_yaml_file(path, what="file"):
    """Read and parse; returns (document, text) so callers can locate later errors."""
    text = read_text(path, what)
    return parse_yaml(text, path, what), text


def load_data_file(path, what="file"):
    """Like load_yaml_file, for large machine-written documents (YAML 1.2, via yaml-rs)."""
    text = read_text(path, what)
    return parse_data_yaml(text, path, what), text


def parse_data_yaml(text, path, what="file"):
    if yaml_rs is None:  # no wheel for this platform: slower, same result for dumps we write
        return parse_yaml(text, path, what)
    try:
        doc = yaml_rs.loads(text, parse_datetime=False)
    except yaml_rs.YAMLDecodeError as exc:
        # PyYAML names the line and column of syntax errors; yaml-rs alone knows some others.
        parse_yaml(text, path, what)
        message = str(exc).splitlines()[-1]
        line, column = _duplicate_key_position(text) if "duplicate" in message else _rs_position(str(exc))
        raise InputError(f"invalid YAML: {message}", path, line, column) from None
    except RecursionError:
        raise InputError("invalid YAML: nested too deeply", path) from None
    if doc is None:
        raise InputError(f"empty document, expected a {what}", path, 1)
    _check_loaded(doc, text, path)
    if isinstance(doc, list) and text.lstrip().startswith("---") and text.count("\n---") >= 1:
        raise InputError(f"several YAML documents, expected one {what}", path, 1)
    return doc


class _KeyResolver(yaml.resolver.Resolver):
    """Tells what type a plain scalar resolves to, as our loader would (a key `1` is an int)."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


_STR_TAG, _INT_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:int"
_COLLECTION_START = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_COLLECTION_END = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def check_shape(text, path):
    """Refuse, from the parser's events alone (nothing is built, nothing recurses), a document
    whose keys are not strings, that nests deeper than MAX_DEPTH, that expands to more than
    MAX_EXPANDED_NODES nodes through aliases or that holds an integer of more than MAX_INT_DIGITS
    digits. Errors name the line and column of the culprit."""
    resolver = _KeyResolver()
    open_collections = []  # [is_mapping, items seen, anchor, node count at its start]
    expanded = {}  # anchor -> how many nodes its alias stands for
    nodes = 0

    def refuse(message, event):
        mark = event.start_mark
        raise InputError(f"invalid YAML: {message}", path, mark.line + 1, mark.column + 1)

    for event in yaml.parse(text, Loader=_Loader):
        if not isinstance(event, (yaml.NodeEvent, *_COLLECTION_END)):
            continue
        parent = open_collections[-1] if open_collections else None
        if parent is not None and not isinstance(event, _COLLECTION_END):
            if parent[0] and parent[1] % 2 == 0:
                _check_key(event, resolver, refuse)
            parent[1] += 1
        if isinstance(event, yaml.AliasEvent):
            nodes += expanded.get(event.anchor, 1)
        elif isinstance(event, yaml.ScalarEvent):
            nodes += 1
            if len(event.value) > MAX_INT_DIGITS and _tag(event, resolver) == _INT_TAG \
                    and len(event.value.lstrip("+-").replace("_", "")) > MAX_INT_DIGITS:
                refuse(f"an integer of more than {MAX_INT_DIGITS} digits", event)
            if event.anchor:
                expanded[event.anchor] = 1
        elif isinstance(event, _COLLECTION_START):
            nodes += 1
            if len(open_collections) >= MAX_DEPTH:
                refuse(f"nested more than {MAX_DEPTH} levels deep", event)
            open_collections.append([isinstance(event, yaml.MappingStartEvent), 0, event.anchor, nodes])
        else:
            _is_mapping, _items, anchor, start = open_collections.pop()
            if anchor:
                expanded[anchor] = nodes - start + 1
        if nodes > MAX_EXPANDED_NODES:
            refuse(f"more than {MAX_EXPANDED_NODES:,} nodes once aliases are expanded (an alias bomb?)", event)


def _check_key(event, resolver, refuse):
    if isinstance(event, yaml.AliasEvent):
        refuse("an alias as a mapping key, expected a string key", event)
    if isinstance(event, _COLLECTION_START):
        refuse("a collection as a mapping key, expected a string key", event)
    tag = _tag(event, resolver)
    if tag != _STR_TAG:
        refuse(f"key {event.value!r} is not a string (it reads as {tag.rpartition(':')[2]}); quote it", event)


def _tag(event, resolver):
    if event.tag is None or event.tag == "!":
        return resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
    return event.tag


def _check_loaded(doc, text, path):
    """check_shape's bounds for a document yaml-rs built, in one pass over it (no recursion, no
    event stream: a fine dump pays only this walk); a document outside them is handed to
    check_shape, which names the line and column."""
    if not _loaded_shape_ok(doc):
        check_shape(text, path)
        raise InputError(f"invalid YAML: a key that is not a string, nesting deeper than {MAX_DEPTH} levels "
                         f"or an integer of more than {MAX_INT_DIGITS} digits", path)


def _loaded_shape_ok(doc):
    """(About a quarter of yaml-rs's own time on a 250-pod dump.)"""
    stack = [(doc, 1)] if type(doc) is dict or type(doc) is list else []
    while stack:  # collections only are pushed: scalars are checked where they sit
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return False
        if type(value) is dict:
            if not all(type(key) is str for key in value):
                return False
            value = value.values()
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif kind is int and not -_MAX_INT <= item <= _MAX_INT:
                return False
    return True


def _rs_position(message):
    match = re.search(r"line (\d+), column (\d+)", message)
    return (int(match.group(1)), int(match.group(2))) if match else (None, None)


def _duplicate_key_position(text):
    """Line and column of the second occurrence of a key in one mapping."""
    root = _compose(text)
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if key.value in seen:
                    return key.start_mark.line + 1, key.start_mark.column + 1
                seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None, None


def _compose(text):
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return None


def _walk(node, parts):
    """Follow keys and list indexes from `node`; returns the deepest node reached and whether it got all the way."""
    for part in parts:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if str(k.value) == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and re.fullmatch(r"\d+", str(part)):
            index = int(part)
            child = node.value[index] if index < len(node.value) else None
        if child is None:
            return node, False
        node = child
    return node, True


def _position(node):
    return (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (None, None)


def locate(text, parts):
    """Line and column (1-based) of the value at `parts` (keys and list indexes) in a YAML text.

    Falls back to the deepest node that exists, so an error about a missing key points at the
    mapping that lacks it.
    """
    root = _compose(text)
    return _position(_walk(root, parts)[0] if root is not None else None)


def locate_key(text, parts, key):
    """Line and column of the key `key` inside the mapping at `parts` (for 'unknown field' errors)."""
    root = _compose(text)
    if root is None:
        return None, None
    node, _ = _walk(root, parts)
    if isinstance(node, yaml.MappingNode):
        key_node = next((k for k, _ in node.value if str(k.value) == str(key)), None)
        return _position(key_node or node)
    return _position(node)


def dotted(parts):
    """['interfaces', 3, 'mtu'] -> 'interfaces[3].mtu'."""
    out = ""
    for part in parts:
        if isinstance(part, int) or re.fullmatch(r"\d+", str(part)):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"
