"""Facts dumps drawn from the facts schema itself (the subset of JSON Schema it uses: type, const,
enum, properties, required, additionalProperties, items, pattern, minLength, minimum, $ref).

Strings and integers are drawn half the time from the values real dumps hold for the same field
name (examples/*.yaml), so generated dumps reach the rules instead of only the schema check."""

import json
from functools import cache

import yaml
from hypothesis import strategies as st

from tests.helpers import EXAMPLES, REPO

SCHEMA_PATH = REPO / "facts_collectors" / "schema" / "facts-v1.schema.json"
# A few dumps with different faults: enough field values, cheap to parse once.
VOCABULARY_DUMPS = ("ip-pool-misconfigured.yaml", "mtu-mismatch.yaml", "version-skew.yaml",
                    "policy-routing-override.yaml", "rp-filter-loose.yaml")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def load_example(name):
    return yaml.load((EXAMPLES / name).read_text(), Loader=_LOADER)


@cache
def vocabulary():
    """Field name -> sorted real values (strings and ints) seen under that name."""
    seen = {}

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, (str, int)) and not isinstance(value, bool):
                    seen.setdefault(key, set()).add(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for name in VOCABULARY_DUMPS:
        walk(load_example(name))
    return {key: sorted(values, key=repr)[:80] for key, values in seen.items()}


class _Builder:
    def __init__(self, schema):
        self.schema = schema
        self.vocabulary = vocabulary()

    def resolve(self, node):
        while "$ref" in node:
            node = self.schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def build(self, node, name=None):
        node = self.resolve(node)
        if "const" in node:
            return st.just(node["const"])
        if "enum" in node:
            return st.sampled_from(node["enum"])
        types = node.get("type")
        if isinstance(types, list):
            return st.one_of([self.build(dict(node, type=t), name) for t in types])
        if types == "object" or "properties" in node:
            return self.object(node)
        if types == "array":
            return st.lists(self.build(node.get("items", {}), name), max_size=4)
        if types == "string":
            return self.string(node, name)
        if types == "integer":
            return self.integer(node, name)
        if types == "number":
            return st.floats(allow_nan=False, allow_infinity=False)
        if types == "boolean":
            return st.booleans()
        return st.none()

    def real(self, name, kind):
        values = [v for v in self.vocabulary.get(name, ()) if isinstance(v, kind) and not isinstance(v, bool)]
        return st.sampled_from(values) if values else None

    def string(self, node, name):
        if "pattern" in node:
            drawn = st.from_regex(node["pattern"], fullmatch=True)
        else:
            drawn = st.text(min_size=node.get("minLength", 0), max_size=30)
        real = self.real(name, str)
        if real is not None:
            minimum = node.get("minLength", 0)
            drawn = st.one_of(real.filter(lambda v: len(v) >= minimum), drawn)
        return drawn

    def integer(self, node, name):
        # the dump format bounds integers to 20 digits (docs/facts-format.md), beyond the schema
        drawn = st.integers(min_value=node.get("minimum", -(10 ** 20) + 1), max_value=node.get("maximum", 10 ** 20 - 1))
        real = self.real(name, int)
        if real is not None:
            minimum = node.get("minimum")
            drawn = st.one_of(real.filter(lambda v: minimum is None or v >= minimum), drawn)
        return drawn

    def object(self, node):
        properties = node.get("properties", {})
        required = set(node.get("required", ()))
        fixed = {key: self.build(value, key) for key, value in properties.items() if key in required}
        optional = {key: self.build(value, key) for key, value in properties.items() if key not in required}
        drawn = st.fixed_dictionaries(fixed, optional=optional)
        extra = node.get("additionalProperties", True)
        if isinstance(extra, dict) and not properties:
            return st.dictionaries(st.text(min_size=1, max_size=20), self.build(extra), max_size=4)
        return drawn


@cache
def facts_dumps():
    """A strategy for facts dumps the schema accepts (as Python values, ready to mutate and dump)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    return _Builder(schema).build(schema)
