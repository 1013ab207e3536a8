"""JSON Schema validation for the documents users write: facts dumps and rule files.

Schemas live beside the code that owns the format (facts_collectors/schema, engine/data) and are
compiled once per process with jsonschema-rs. A failure becomes one InputError that names the
file, the line and column of the offending value, the field path and what was expected.
"""

import copy
import json
from functools import lru_cache
from importlib import resources

import jsonschema_rs

from calirules.errors import InputError
from calirules.yamlio import dotted, locate, locate_key

SCHEMAS = {
    "facts": ("calirules.facts_collectors", "schema/facts-v1.schema.json"),
    "rule": ("calirules.engine", "data/rule-v1.schema.json"),
}

_TYPE_NAMES = {
    bool: "boolean", int: "integer", float: "number", str: "string",
    list: "list", dict: "mapping", type(None): "null",
}


@lru_cache(maxsize=None)
def schema(name):
    if name == "rule-without-tests":  # diagnose loads rules with their inline tests emptied
        return _without_tests(schema("rule"))
    package, relpath = SCHEMAS[name]
    return json.loads(resources.files(package).joinpath(relpath).read_text(encoding="utf-8"))


def _without_tests(rule_schema):
    lean = copy.deepcopy(rule_schema)
    lean["definitions"]["rule"]["properties"]["tests"] = {"type": "array", "maxItems": 0}
    return lean


@lru_cache(maxsize=None)
def _validator(name):
    return jsonschema_rs.validator_for(schema(name))


def validate(doc, name, text=None, path=None):
    """Raise InputError for the first schema violation in `doc` (a parsed YAML document)."""
    try:
        _validator(name).validate(doc)
    except jsonschema_rs.ValidationError as exc:
        parts = list(exc.instance_path)
        message, key = _explain(exc, parts, name)
        line = column = None
        if text is not None:
            line, column = locate_key(text, parts, key) if key else locate(text, parts)
        raise InputError(message, path, line, column) from None


def _describe(value):
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"a {kind}"
    return f"{value!r}" if isinstance(value, str) else f"{kind} {value!r}"


def _explain(exc, parts, schema_name):
    """Turn a jsonschema-rs error into (message, offending key or None)."""
    where = dotted(parts)
    kind, value = exc.kind, exc.instance
    rule = kind.name
    if rule == "type":
        expected = " or ".join({"object": "mapping", "array": "list"}.get(t, t) for t in kind.types)
        return f"{where}: expected {expected}, got {_describe(value)}", None
    if rule == "const":
        if parts == ["apiVersion"]:
            return f"apiVersion: unknown {value!r}, expected {kind.expected_value!r}", None
        return f"{where}: expected {kind.expected_value!r}, got {_describe(value)}", None
    if rule == "enum":
        choices = ", ".join(repr(c) for c in kind.options)
        return f"{where}: expected one of {choices}, got {_describe(value)}", None
    if rule == "required":
        return f"{where}: missing required field {kind.property!r}", None
    if rule == "additionalProperties":
        extra = sorted(kind.unexpected)[0]
        known = _known_fields(schema_name, exc.schema_path)
        hint = f" (known fields: {', '.join(sorted(known))})" if known else ""
        return f"{dotted(parts + [extra])}: unknown field{hint}", extra
    if rule in ("minimum", "maximum", "minLength", "pattern", "minItems", "exclusiveMinimum"):
        bound = getattr(kind, "limit", None) if rule != "pattern" else kind.pattern
        wanted = {"minimum": f"at least {bound}", "maximum": f"at most {bound}",
                  "exclusiveMinimum": f"more than {bound}", "minLength": "a non-empty string",
                  "pattern": f"a string matching {bound}", "minItems": f"at least {bound} item(s)"}[rule]
        return f"{where}: expected {wanted}, got {_describe(value)}", None
    if rule == "anyOf" and isinstance(value, dict):
        return f"{where}: {_explain_condition(value)}", None
    return f"{where}: {exc.message}", None


def _known_fields(schema_name, schema_path):
    """The `properties` of the schema object whose additionalProperties rejected a key."""
    root = node = schema(schema_name)
    try:
        for step in list(schema_path)[:-1]:
            if step == "$ref":  # follow "#/definitions/x" to where the keywords really are
                target = root
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                node = target
            else:
                node = node[step]
    except (KeyError, IndexError, TypeError):
        return []
    return list(node.get("properties", {})) if isinstance(node, dict) else []

def _explain_condition(value):
    """A rule condition mapping that matched no form: name the operator that is wrong."""
    operators = schema("rule")["definitions"]["where"]["additionalProperties"]["anyOf"][1]["properties"]
    for op, arg in value.items():
        if op not in operators:
            return f"unknown operator {op!r} (operators: {', '.join(operators)})"
        expected = operators[op].get("type")
        kinds = {"number": (int, float), "string": str, "array": list, "boolean": bool}
        if expected and not isinstance(arg, kinds[expected]) or (expected == "number" and isinstance(arg, bool)):
            return f"operator {op} expects a {expected}, got {_describe(arg)}"
    return "expected a value, a $variable or a mapping of operators"
