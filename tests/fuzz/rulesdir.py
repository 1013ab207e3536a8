"""A --rules-dir holding one shipped rule file, its ids prefixed so they do not collide with the
shipped rules, its remediation templates copied beside it under templates/."""

from functools import cache

import yaml

from tests.helpers import EXAMPLES, REPO

RULES = REPO / "rules"
TEMPLATES = REPO / "templates" / "remediation"
PREFIX = "fuzz-"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Rule files whose example dump makes them fire (so their templates render) and that have no
# separate x.test.yaml (whose rule ids would need the same renaming).
RULE_FILES = tuple(sorted(p.name for p in RULES.glob("*.yaml") if not p.name.endswith(".test.yaml")
                          and not p.with_name(p.stem + ".test.yaml").exists() and (EXAMPLES / p.name).exists()))


@cache
def _parsed(name):
    return yaml.load((RULES / name).read_text(), Loader=_LOADER)


def renamed_rule_file(name):
    """The rule file `name` (a fresh copy) with ids and remediation names prefixed, and the
    templates it names: (document, {template name: text})."""
    document = yaml.load(yaml.safe_dump(_parsed(name)), Loader=_LOADER)  # a deep copy, cheaply
    templates = {}
    for rule in document["rules"]:
        rule["id"] = PREFIX + rule["id"]
        if rule.get("remediation"):
            templates[PREFIX + rule["remediation"]] = (TEMPLATES / rule["remediation"]).read_text()
            rule["remediation"] = PREFIX + rule["remediation"]
    return document, templates


def write_rules_dir(root, rule_name, rule_text, templates):
    (root / "templates").mkdir(parents=True)
    (root / rule_name).write_bytes(rule_text if isinstance(rule_text, bytes) else rule_text.encode())
    for template, text in templates.items():
        (root / "templates" / template).write_text(text)
    return root
