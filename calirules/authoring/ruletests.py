"""Inline rule tests (`tests:` in a rule file), run by `calirules rules test` and by pytest.

A test's `facts` is a partial facts dump laid over a small healthy node (data/test-base.yaml)
unless it says `base: empty`. Sections listed in MERGED_BY_KEY are merged item by item (so a test
can flip one sysctl); every other section the test gives replaces the base's; `section: null`
removes it (not collected). The result must be
a valid dump (the facts schema is checked), and the rule must fire, or not, as `expect` says;
`confidence: {lt: x}` / `{ge: x}` also bounds the rule's own score after support and
counter-evidence (how a test shows that an `against` pattern weakens a firing).

Every `against` pattern must be shown at work: at least one test of its rule in which the rule
fires, that pattern matches, and the confidence is bounded with `lt` (a red herring). A pattern no
test exercises is reported as a failed test of the rule.
"""

import copy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from calirules.base.errors import InputError
from calirules.engine import compiler, runner
from calirules.facts_collectors.dump import FACTS_SCHEMA, normalise

MERGED_BY_KEY = {"sysctls": "key", "versions": "component", "components": "name", "settings": "key"}


@lru_cache(maxsize=None)
def _base_text():
    return resources.files("calirules.engine").joinpath("data/test-base.yaml").read_text(encoding="utf-8")


def base_dump(kind="healthy"):
    if kind == "empty":
        return {"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "test-node"}}
    return yaml.load(_base_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def dump_for_test(test):
    dump = base_dump(test.get("base", "healthy"))
    for section, value in (test.get("facts") or {}).items():
        key = MERGED_BY_KEY.get(section)
        if value is None:  # `section: null` means "not collected"
            dump.pop(section, None)
        elif key and isinstance(value, list) and isinstance(dump.get(section), list):
            merged = {item[key]: item for item in dump[section]}
            merged.update({item[key]: item for item in value if isinstance(item, dict) and key in item})
            dump[section] = list(merged.values())
        else:
            dump[section] = copy.deepcopy(value)
    return dump


@dataclass
class RuleTestResult:
    rule: object
    test: dict
    passed: bool
    detail: str


def run_rule_tests(rulebook, only=None):
    """Run the inline tests of every rule (or of rules whose id is in `only`)."""
    engine_class = compiler.compile_engine(rulebook)
    results = []
    for rule in rulebook.rules:
        if only and rule.id not in only:
            continue
        exercised = set()
        for index, test in enumerate(rule.tests):
            dump = dump_for_test(test)
            try:
                FACTS_SCHEMA.validate(dump, None, rule.path)
            except InputError as exc:
                raise rule.error(f"test {test['name']!r}: facts are not a valid dump: {exc.message}",
                                 ["tests", index, "facts"]) from None
            diagnosis = runner.diagnose(normalise(dump), rulebook, test.get("symptom"), engine_class)
            fired = rule.id in diagnosis.fired_rules
            expected = test["expect"] == "fire"
            detail = "fired" if fired else "did not fire"
            passed = fired == expected
            bounds = test.get("confidence")
            if bounds and passed:
                score = rule_confidence(diagnosis, rule.id)
                passed = ("lt" not in bounds or score < bounds["lt"]) and ("ge" not in bounds or score >= bounds["ge"])
                detail += f" at confidence {score:.2f}, expected {_bounds_text(bounds)}"
            if passed and fired and bounds and "lt" in bounds:
                exercised |= _against_matched(diagnosis, rule)
            results.append(RuleTestResult(rule, test, passed, detail))
        for index, item in enumerate(rule.against):
            if index not in exercised:
                results.append(RuleTestResult(
                    rule, {"name": f"against[{index}] is shown at work", "expect": "fire"}, False,
                    f"no test fires the rule with this pattern matching and a `confidence: {{lt: ...}}` bound "
                    f"(against[{index}]: {item['says']!r})"))
    return results


def _against_matched(diagnosis, rule):
    """Indexes of the rule's `against` patterns that matched one of its firings."""
    for finding in diagnosis.findings:
        for result in finding.results:
            if result.rule.id == rule.id:
                return {index for index, item in enumerate(rule.against)
                        if any(matched is item for matched, _ in result.against)}
    return set()


def rule_confidence(diagnosis, rule_id):
    """The rule's own score after support and counter-evidence (0 when it did not fire)."""
    for finding in diagnosis.findings:
        for result in finding.results:
            if result.rule.id == rule_id:
                return result.confidence
    return 0.0


def _bounds_text(bounds):
    return " and ".join(f"{'<' if op == 'lt' else '>='} {value}" for op, value in bounds.items())
