"""JSON Schema validation for the documents users write, with errors that point at the line.

The base knows no schema of its own: each package names its schema files (a `Schema` constant
beside the code that owns the format) and this module compiles each once per process with
jsonschema-rs. A failure becomes one InputError that names the file, the line and column of the
offending value, the field path and what was expected.
"""

import copy
import json
from functools import cached_property
from importlib import resources

import jsonschema_rs
from calirules.base.errors import InputError
from calirules.base.yamlio import dotted, locate, locate_key


class Schema:
    """A JSON Schema shipped in `package` at `relpath`, optionally edited once after loading."""

    def __init__(self, package, relpath, edit=None):
        self.package, self.relpath, self._edit = package, relpath, edit

    @cached_property
    def document(self):
        doc = json.loads(resources.files(self.package).joinpath(self.relpath).read_text(encoding="utf-8"))
        return self._edit(copy.deepcopy(doc)) if self._edit else doc

    @cached_property
    def _validator(self):
        return jsonschema_rs.validator_for(self.document)

    def validate(self, doc, text=None, path=None):
        """Raise InputError for the first schema violation in `doc` (a parsed YAML document)."""
        try:
            self._validator.validate(doc)
        except jsonschema_rs.ValidationError as exc:
            parts = list(exc.instance_path)
            message, key = _explain(exc, parts, self.document)
            line = column = None
            if text is not None:
                line, column = locate_key(text, parts, key) if key else locate(text, parts)
            raise InputError(message, path, line, column) from None


_TYPE_NAMES = {
    bool: "boolean", int: "integer", float: "number", str: "string",
    list: "list", dict: "mapping", type(None): "null",
}


def _describe(value):
    kind = _TYPE_NAMES.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"a {kind}"
    return f"{value!r}" if isinstance(value, str) else f"{kind} {value!r}"


def _explain(exc, parts, root):
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
        known = _node(root, list(exc.schema_path)[:-1]).get("properties", {})
        hint = f" (known fields: {', '.join(sorted(known))})" if known else ""
        return f"{dotted(parts + [extra])}: unknown field{hint}", extra
    if rule in ("minimum", "maximum", "minLength", "pattern", "minItems", "exclusiveMinimum"):
        bound = getattr(kind, "limit", None) if rule != "pattern" else kind.pattern
        wanted = {"minimum": f"at least {bound}", "maximum": f"at most {bound}",
                  "exclusiveMinimum": f"more than {bound}", "minLength": "a non-empty string",
                  "pattern": f"a string matching {bound}", "minItems": f"at least {bound} item(s)"}[rule]
        return f"{where}: expected {wanted}, got {_describe(value)}", None
    if rule == "anyOf" and isinstance(value, dict):
        return f"{where}: {_explain_condition(value, _alternatives(root, list(exc.schema_path)))}", None
    return f"{where}: {exc.message}", None


def _node(root, schema_path):
    """The schema object at `schema_path` ({} if the path leads nowhere), following "#/..." refs."""
    node = root
    try:
        for step in schema_path:
            if step == "$ref":  # follow "#/definitions/x" to where the keywords really are
                target = root
                for part in node["$ref"].lstrip("#/").split("/"):
                    target = target[part]
                node = target
            else:
                node = node[step]
    except (KeyError, IndexError, TypeError):
        return {}
    return node if isinstance(node, dict) else {}


def _alternatives(root, schema_path):
    """The list of forms of the `anyOf` at `schema_path`."""
    if schema_path and schema_path[-1] == "anyOf":
        schema_path = schema_path[:-1]
    return _node(root, schema_path).get("anyOf", [])


def _explain_condition(value, alternatives):
    """A mapping that matched no `anyOf` form: when one form is a mapping of operators (a rule
    condition), name the operator that is wrong."""
    forms = alternatives if isinstance(alternatives, list) else []
    operators = next((f["properties"] for f in forms if isinstance(f, dict) and "properties" in f), None)
    if operators is None:
        return "matches none of the allowed forms"
    for op, arg in value.items():
        if op not in operators:
            return f"unknown operator {op!r} (operators: {', '.join(operators)})"
        expected = operators[op].get("type")
        kinds = {"number": (int, float), "string": str, "array": list, "boolean": bool}
        if expected and not isinstance(arg, kinds[expected]) or (expected == "number" and isinstance(arg, bool)):
            return f"operator {op} expects a {expected}, got {_describe(arg)}"
    return "expected a value, a $variable or a mapping of operators"
