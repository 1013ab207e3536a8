"""JSON Schema validation for the documents users write: facts dumps and rule files.

Schemas live beside the code that owns the format (facts_collectors/schema, engine/data) and are
compiled once per process with fastjsonschema. A failure becomes one InputError that names the
file, the line and column of the offending value, the field path and what was expected.
"""

import json
from functools import lru_cache
from importlib import resources

import fastjsonschema

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
    package, relpath = SCHEMAS[name]
    return json.loads(resources.files(package).joinpath(relpath).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _validator(name):
    return fastjsonschema.compile(schema(name))


def validate(doc, name, text=None, path=None):
    """Raise InputError for the first schema violation in `doc` (a parsed YAML document)."""
    try:
        _validator(name)(doc)
    except fastjsonschema.JsonSchemaValueException as exc:
        parts = [p for p in (exc.path or [])[1:]]
        message, key = _explain(exc, parts)
        line = column = None
        if text is not None:
            line, column = locate_key(text, parts, key) if key else locate(text, parts)
        raise InputError(message, path, line, column) from None


def _describe(value):
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"a {kind}"
    return f"{value!r}" if isinstance(value, str) else f"{kind} {value!r}"


def _explain(exc, parts):
    """Turn a fastjsonschema exception into (message, offending key or None)."""
    where = dotted(parts)
    rule, definition, value = exc.rule, exc.definition or {}, exc.value
    if rule == "type":
        expected = definition.get("type")
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        expected = {"object": "mapping", "array": "list"}.get(expected, expected)
        return f"{where}: expected {expected}, got {_describe(value)}", None
    if rule == "const":
        if parts == ["apiVersion"]:
            return f"apiVersion: unknown {value!r}, expected {definition['const']!r}", None
        return f"{where}: expected {definition['const']!r}, got {_describe(value)}", None
    if rule == "enum":
        choices = ", ".join(repr(c) for c in definition["enum"])
        return f"{where}: expected one of {choices}, got {_describe(value)}", None
    if rule == "required" and isinstance(value, dict):
        missing = [k for k in definition.get("required", []) if k not in value]
        return f"{where}: missing required field {missing[0]!r}", None
    if rule == "additionalProperties" and isinstance(value, dict):
        known = definition.get("properties", {})
        extra = sorted(k for k in value if k not in known)
        if extra:
            hint = f" (known fields: {', '.join(sorted(known))})" if known else ""
            return f"{dotted(parts + [extra[0]])}: unknown field{hint}", extra[0]
    if rule in ("minimum", "maximum", "minLength", "pattern", "minItems"):
        bound = definition.get(rule)
        wanted = {"minimum": f"at least {bound}", "maximum": f"at most {bound}",
                  "minLength": "a non-empty string", "pattern": f"a string matching {bound}",
                  "minItems": f"at least {bound} item(s)"}[rule]
        return f"{where}: expected {wanted}, got {_describe(value)}", None
    if rule == "anyOf" and isinstance(value, dict):
        return f"{where}: {_explain_condition(value)}", None
    detail = exc.message.replace("data.", "", 1).replace("data ", "", 1)
    return f"{where}: {detail}", None


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
