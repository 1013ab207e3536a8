"""Ways to damage a parsed YAML document (a tree of dicts, lists and scalars) or its text.

Huge numbers are written into the text after dumping (Python itself refuses to turn an int of
more than 4,300 digits into a string): a tree mutation leaves a HUGE_TOKEN that `render` expands."""

import re

import yaml
from hypothesis import strategies as st

HUGE_TOKEN = "FUZZHUGE{:05d}ZZ"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_HUGE = re.compile(r"FUZZHUGE(\d{5})ZZ")

# Plain text, but never a lone surrogate (no YAML emitter can write one, and no file holds one).
TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)

ODD_STRINGS = st.sampled_from([
    "", " ", "0", "-1", "yes", "no", "on", "null", "~", "1e999", "-1e999", ".nan", ".inf", "0x1F", "0o17",
    "1_000", "2026-11-01", "12:30:00", "v99999999999999999999.1", "!!", "&a", "*a", "%", "@", "`", "|", ">",
    "\t", "\r\n", "\x00", "\x1b[31m", "\u202e", "\ufeff", "\U0001F600", "é", "ǅ", "Ⅻ", "١٢٣", "x" * 5000,
    "../../etc/passwd", "{{ node }}", "{% raw %}", "calirules: error: x:1: fake", "Traceback",
])

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.integers(min_value=-(2 ** 80), max_value=2 ** 80),
    st.floats(), TEXT, ODD_STRINGS,
)

# Up to 6,000 digits: past Python's 4,300-digit int-string limit, which every loader must bound.
HUGE_DIGITS = st.one_of(st.sampled_from([20, 309, 4300, 4301, 5000]), st.integers(min_value=19, max_value=6000))

ODD_KEYS = st.one_of(
    TEXT, ODD_STRINGS, st.sampled_from(["<<", "__factid__", "source", "$ref", "a.b", "k" * 1000]),
    st.integers(), st.none(), st.booleans(), st.floats(allow_nan=False),
    st.tuples(TEXT, TEXT),  # a complex key, `? [a, b]`
)


def nested(depth, leaf="x", kind="list"):
    value = leaf
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def _containers(tree):
    """Every (parent, key) place in the tree, root first, in a stable order."""
    places = [(None, None)]
    stack = [tree]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            places.append((node, key))
            if isinstance(child, (dict, list)):
                stack.append(child)
    return places


@st.composite
def replacement(draw):
    """A value to put where another was: another type, a huge number, deep nesting, an empty container."""
    kind = draw(st.sampled_from(["scalar", "huge", "nested", "empty", "odd-dict"]))
    if kind == "scalar":
        return draw(SCALARS)
    if kind == "huge":
        return HUGE_TOKEN.format(draw(HUGE_DIGITS))
    if kind == "nested":
        return nested(draw(st.integers(1, 120)), draw(SCALARS), draw(st.sampled_from(["list", "dict"])))
    if kind == "empty":
        return draw(st.sampled_from([[], {}, "", None]))
    return {draw(ODD_KEYS): draw(SCALARS)}


@st.composite
def mutated_tree(draw, tree):
    """`tree` (a fresh copy the caller may lose) with one place damaged, sometimes two or three
    (one is usual: a second injury is often refused first and hides the effect of the other)."""
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        places = _containers(tree)
        parent, key = places[draw(st.integers(0, len(places) - 1))]
        if parent is None:  # the document itself
            if isinstance(tree, dict):
                tree[draw(ODD_KEYS)] = draw(replacement())
            else:
                tree = draw(replacement())
            continue
        action = draw(st.sampled_from(["replace", "delete", "add-key", "rename-key", "duplicate"]))
        node = parent[key]
        if action == "replace":
            parent[key] = draw(replacement())
        elif action == "delete":
            del parent[key]
        elif action == "add-key" and isinstance(node, dict):
            node[draw(ODD_KEYS)] = draw(replacement())
        elif action == "rename-key" and isinstance(parent, dict):
            parent[draw(ODD_KEYS)] = parent.pop(key)
        elif action == "duplicate" and isinstance(node, list) and node:
            node.append(node[draw(st.integers(0, len(node) - 1))])
        else:
            parent[key] = draw(replacement())
    return tree


def render(tree, flow=None):
    """YAML text of `tree`, with every HUGE_TOKEN expanded into its run of digits."""
    text = yaml.dump(tree, Dumper=_DUMPER, default_flow_style=flow, allow_unicode=True, sort_keys=False, width=200)
    return _HUGE.sub(lambda m: "9" * int(m.group(1)), text)


YAML_FRAGMENTS = st.sampled_from([
    "&a ", "*a", "*nosuch", "<<: *a\n", "!!python/object/apply:os.system ['true']", "!!binary x", "!!int 0x",
    "!!float", "!!timestamp 2001-13-45", "!!set {a}", "!!omap [a]", "? ", "- ", ": ", "{", "}", "[", "]", ",",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "---\n", "...\n", "\t", "\ufeff", "\x00", "\r", "'", '"', "#", "|\n",
    ">-\n", "\\", "\u2028", "\x85",
])


@st.composite
def damaged_text(draw, text):
    """`text` (str) as bytes with one textual injury: cut short, garbage spliced in, a YAML fragment
    spliced in, a digit run grown past any sane length, or a deep block-nested key appended."""
    data = text.encode()
    kind = draw(st.sampled_from(["truncate", "garbage", "fragment", "huge-digits", "grow-number", "deep-block"]))
    at = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return data[:at]
    if kind == "garbage":
        return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
    if kind == "fragment":
        return data[:at] + draw(YAML_FRAGMENTS).encode() + data[at:]
    digits = b"9" * draw(HUGE_DIGITS)
    if kind == "huge-digits":
        return data[:at] + digits + data[at:]
    if kind == "grow-number":
        runs = [m.span() for m in re.finditer(rb"\d+", data)]
        if not runs:
            return data + digits
        start, end = runs[draw(st.integers(0, len(runs) - 1))]
        return data[:start] + digits + data[end:]
    depth = draw(st.integers(1, 400))  # block style: the form a recursive composer must bound
    return data + b"\nzz_deep:\n" + b"".join(b" " * (2 * i + 2) + b"a:\n" for i in range(depth)) + \
        b" " * (2 * depth + 2) + b"x\n"
