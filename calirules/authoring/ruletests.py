"""Rule tests, run by `calirules rules test` and by pytest.

A test is written under its rule (`tests:`) or in the rule file's companion test file
(`x.test.yaml` beside `x.yaml`, each test naming its `rule`). It builds a facts dump in layers,
each laid over the one before:

1. the base: a small healthy node (data/test-base.yaml), or a bare node with `base: empty`;
2. `raw`: tool output as the engineer saw it, keyed by the command line (`sysctl -a`) or file
   (`/proc/modules`), read by the collectors' own parsers and bundle reader
   (calirules.authoring.rawevidence); provenance names the key and line (`sysctl -a:12`);
3. `facts`: a partial facts dump written by hand.

A layer's sections in MERGED_BY_KEY are merged item by item (so a test can flip one sysctl, and
a raw `sysctl -a` adds to the base's cali* sysctls); raw output adds node fields to the base's
node; every other section a layer gives replaces the one below; `section: null` (in `facts`)
removes it (not collected).
The result must be a valid dump (the facts schema is checked), and the rule must fire, or not,
as `expect` says; `confidence: {lt: x}` / `{ge: x}` also bounds the rule's own score after support
and counter-evidence (how a test shows that an `against` pattern weakens a firing); `evidence:`
lists strings each of which must be part of one evidence line the report prints for the rule's
firings (`evidence_lines`).

Every `against` pattern must be shown at work: at least one test of its rule in which the rule
fires, that pattern matches, and the confidence is bounded with `lt` (a red herring). A pattern no
test exercises is reported as a failed test of the rule.
"""

import copy
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from calirules.authoring.rawevidence import UnknownRawKey, known_keys, sections_from_raw
from calirules.base import templating
from calirules.base.errors import InputError
from calirules.engine import compiler, runner
from calirules.engine.testfiles import RuleTest
from calirules.facts_collectors.dump import FACTS_SCHEMA, normalise
from calirules.report.build import build_report

MERGED_BY_KEY = {"sysctls": "key", "versions": "component", "components": "name", "settings": "key"}


@lru_cache(maxsize=None)
def _base_text():
    return resources.files("calirules.engine").joinpath("data/test-base.yaml").read_text(encoding="utf-8")


def base_dump(kind="healthy"):
    if kind == "empty":
        return {"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "test-node"}}
    return yaml.load(_base_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def valid_dump_for_test(test):
    """dump_for_test, checked against the facts schema: a test's facts of the wrong type are the
    test's own error (file:line), before anything renders or runs with them."""
    dump = dump_for_test(test)
    try:
        FACTS_SCHEMA.validate(dump)
    except InputError as exc:
        raise _error(test, f"the dump it describes is not valid: {exc.message}",
                     ["facts"] if "facts" in test else ["raw"]) from None
    return dump


def dump_for_test(test):
    """The facts dump a test describes: base, then `raw`, then `facts` (see the module's doc)."""
    dump = base_dump(test.get("base", "healthy"))
    if test.get("raw"):
        try:
            raw_sections = sections_from_raw(test["raw"])
        except UnknownRawKey as exc:
            raise _error(test, f"raw: no collector reads {exc.key!r}; a key is a command line or a file "
                               f"(/path) of these: {', '.join(known_keys())}", ["raw"], exc.key) from None
        _lay_over(dump, raw_sections, node_by_field=True)
    _lay_over(dump, copy.deepcopy(test.get("facts") or {}))
    return dump


def _lay_over(dump, sections, node_by_field=False):
    for section, value in sections.items():
        key = MERGED_BY_KEY.get(section)
        if value is None:  # `section: null` means "not collected"
            dump.pop(section, None)
        elif section == "node" and node_by_field:  # `uname -a` tells the kernel, not the OS
            node = dict(dump.get("node") or {})
            sources = dict(node.get("sources") or {}, **(value.get("sources") or {}))
            node.update(value)
            node["sources"] = sources
            dump["node"] = node
        elif key and isinstance(value, list) and isinstance(dump.get(section), list):
            merged = {item[key]: item for item in dump[section]}
            merged.update({item[key]: item for item in value if isinstance(item, dict) and key in item})
            dump[section] = list(merged.values())
        else:
            dump[section] = value


def _error(test, message, parts=(), key=None):
    if isinstance(test, RuleTest):
        return test.error(message, parts, key)
    return InputError(f"test {test.get('name')!r}: {message}")


@dataclass
class RuleTestResult:
    rule: object
    test: dict
    passed: bool
    detail: str
    about: tuple = ()  # for a check of the rule itself (not of one test): the rule part it is about

    @property
    def where(self):
        """`file:line` of the test, or of the rule part a check of the rule is about."""
        if isinstance(self.test, RuleTest):
            return self.test.where
        return f"{self.rule.path}:{self.rule.position(['rules', self.rule.index, *self.about])[0]}"

    def describe(self):
        return (f"{self.where}: rule {self.rule.id}: {self.test['name']} "
                f"(expected {self.test['expect']}, {self.detail})")


def run_rule_tests(rulebook, only=None):
    """Run the tests of every rule (or of rules whose id is in `only`)."""
    from calirules.authoring.remediation_matrix import (
        reusable_engine,  # it imports this module
    )
    # One rete network for every test: experta's reset() (run_engine calls it) clears what a run
    # leaves, and building the network is most of the cost of a diagnosis.
    engine = reusable_engine(compiler.compile_engine(rulebook))
    report_env = None
    results = []
    for rule in rulebook.rules:
        if only and rule.id not in only:
            continue
        exercised = set()
        for test in rule.tests:
            dump = normalise(valid_dump_for_test(test))
            diagnosis = runner.diagnose(dump, rulebook, test.get("symptom"), engine)
            fired = rule.id in diagnosis.fired_rules
            expected = test["expect"] == "fire"
            detail = "fired" if fired else "did not fire"
            passed = fired == expected
            bounds = test.get("confidence")
            if bounds and passed:
                score = rule_confidence(diagnosis, rule.id)
                passed = ("lt" not in bounds or score < bounds["lt"]) and ("ge" not in bounds or score >= bounds["ge"])
                detail += f" at confidence {score:.2f}, expected {_bounds_text(bounds)}"
            if test.get("evidence") and passed:
                report_env = report_env or templating.rule_environment(rulebook.template_dirs)
                lines = evidence_lines(diagnosis, rulebook, rule.id, report_env) if fired else []
                absent = [wanted for wanted in test["evidence"] if not any(wanted in line for line in lines)]
                if absent:
                    passed = False
                    detail += (f"; no evidence line contains {' or '.join(repr(a) for a in absent)}; "
                               f"its evidence lines: {lines}")
            if passed and fired and bounds and "lt" in bounds:
                exercised |= _against_matched(diagnosis, rule)
            results.append(RuleTestResult(rule, test, passed, detail))
        for index, item in enumerate(rule.against):
            if index not in exercised:
                # an item compiled from `predicts:` is named by its part of the prediction
                label, about = ((f"predicts ({item['predicted']})", ("predicts",)) if item.get("predicted")
                                else (f"against[{index}]", ("against", index)))
                results.append(RuleTestResult(
                    rule, {"name": f"{label} is shown at work", "expect": "fire"}, False,
                    f"no test fires the rule with this pattern matching and a `confidence: {{lt: ...}}` bound "
                    f"({label}: {item['says']!r})", about=about))
    return results


def evidence_lines(diagnosis, rulebook, rule_id, env=None):
    """The lines the text report prints under the cause for this rule's firings (without their
    indentation): `- <text>   [<source>]` per evidence item, `+ ` for support, `- against (xF): `
    for counter-evidence, `(inferred) ` before an inferred item's text."""
    report = build_report(diagnosis, rulebook, "rule test", env)
    lines = []
    for cause in report["causes"]:
        for item in cause["evidence"]:
            if item["rule"] != rule_id:
                continue
            mark = (f"- against (x{1 - item['weight']:.2f}): " if item.get("against")
                    else "+ " if item.get("supporting") else "- ")
            inferred = "(inferred) " if item.get("basis") == "inferred" else ""
            source = f"   [{item['source']}]" if item.get("source") else ""
            lines.append(f"{mark}{inferred}{item['text']}{source}")
    return lines


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
