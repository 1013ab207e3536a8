"""The facts dump: the documented interchange format between collectors and the engine.

`calirules diagnose --facts FILE` starts here. The format is the JSON Schema shipped in this
package as schema/facts-v1.schema.json, which every dump is checked against.
"""

import re

import yaml
from calirules.base import yamlio
from calirules.base.errors import InputError
from calirules.base.schemas import Schema

API_VERSION = "calirules/v1"
KIND = "NodeFacts"
FACTS_SCHEMA = Schema("calirules.facts_collectors", "schema/facts-v1.schema.json")


def load_dump(path):
    """Read, parse and validate a facts dump; returns the document with values normalised."""
    doc, text = yamlio.load_data_file(path, what="calirules facts dump")
    if not isinstance(doc, dict):
        raise InputError(f"expected a mapping with apiVersion: {API_VERSION}, got {type(doc).__name__}", path, 1, 1)
    if "apiVersion" not in doc:
        raise InputError(f"missing apiVersion (expected apiVersion: {API_VERSION})", path, 1, 1)
    FACTS_SCHEMA.validate(doc, text, path)
    return normalise(doc)


def normalise(doc):
    """People write `value: 0`; the engine compares sysctl values as the strings the kernel prints."""
    for sysctl in doc.get("sysctls", ()):
        sysctl["value"] = str(sysctl["value"])
    return doc


def dump_text(doc):
    """Serialise a facts document: block style for structure, flow style for leaf records."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=200, allow_unicode=True)


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
    pass


# PyYAML writes YAML 1.1, and the dump is read back as YAML 1.2 (core schema): a string that is
# plain text in 1.1 but a number, bool or null in 1.2 (`1e5`, `0o17`, `.5`) must be quoted, or
# `diagnose --facts` would refuse the dump `collect` wrote.
_YAML12_NON_STRING = re.compile(
    r"~|null|Null|NULL|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)")


def _represent_str(dumper, data):
    if _YAML12_NON_STRING.fullmatch(data):
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="'")
    return dumper.represent_str(data)


_Dumper.add_representer(str, _represent_str)
