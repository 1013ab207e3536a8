"""Rule files that would crash or stall the engine are refused: regexes beyond the limits,
reserved derived-field names, unjoined patterns on one fact type, and (at run time) a rule whose
patterns build more partial matches than the engine's budget. Each is exit 2 with one stderr line
naming the rule file and line, in `rules lint` and in `diagnose --rules-dir`."""

import re
import time

import pytest
from calirules.base.errors import InputError
from calirules.engine import compiler
from calirules.engine.rulebook import load_rulebook, regex_problem
from calirules.engine.vocabulary import FACT_TYPES

from calirules.authoring.remediation_matrix import reusable_engine
from tests.helpers import EXAMPLES, run_cli

HEALTHY = EXAMPLES / "healthy.yaml"

HEADER = "apiVersion: calirules/rules/v1\nrules:\n"


def rule_dir(tmp_path, body):
    directory = tmp_path / "rules"
    directory.mkdir()
    (directory / "hostile.yaml").write_text(HEADER + body)
    return directory


def line_of(directory, needle):
    text = (directory / "hostile.yaml").read_text()
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


def assert_one_line_error(code, out, err, directory, line):
    assert code == 2, (code, err)
    assert "Traceback" not in err + out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    path = directory / "hostile.yaml"
    assert re.search(rf"{re.escape(str(path))}:{line}(:\d+)?: rule ", lines[0]), lines[0]
    return lines[0]


def both_commands(directory):
    """(exit, stdout, stderr) of `rules lint DIR` and of a diagnosis with `--rules-dir DIR`."""
    return [run_cli("rules", "lint", directory),
            run_cli("diagnose", "--facts", HEALTHY, "--rules-dir", directory)]


def when_regex(regex):
    return ("  - id: hostile-regex\n    cause: proxy-arp-disabled\n    when:\n"
            f"      - fact: WorkloadPlumbing\n        where: {{iface: {{regex: '{regex}'}}}}\n")


@pytest.mark.parametrize(("regex", "says"), [
    ("(" * 1000 + "a" + ")" * 1000, "longer than 1000 characters"),
    ("(" * 300 + "a" + ")" * 300, "nests groups deeper than 20"),
    ("(a+)+b", "repeats a group that itself repeats"),
    ("(x|cali[0-9]*)*$", "repeats a group that itself repeats"),
    ("a{99999999999}", "does not compile within limits"),
    ("cali(", "invalid regular expression"),
])
def test_regex_beyond_limits_is_the_rules_error(tmp_path, regex, says):
    directory = rule_dir(tmp_path, when_regex(regex))
    for result in both_commands(directory):
        started = time.monotonic()
        message = assert_one_line_error(*result, directory, line_of(directory, "regex:"))
        assert says in message
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("regex", [
    "on (matching )?interface (docker|virbr|br-)",  # a shipped rule's
    r"^cali[0-9a-f]{11}$", r"\(a+\)+", "[(]+x", "(?:ab|cd){2,3}", "((a)b)*",
])
def test_ordinary_regexes_pass(regex):
    assert regex_problem(regex) is None


@pytest.mark.parametrize("name", ["__factid__", "__dict__", "source", "sources"])
def test_reserved_derived_field_is_refused(tmp_path, name):
    directory = rule_dir(tmp_path, (
        "  - id: hostile-derive\n    derive:\n      fact: Hostile\n"
        f"      fields:\n        {name}: $i\n"
        "    when:\n      - fact: WorkloadPlumbing\n        where: {iface: $i}\n"))
    for result in both_commands(directory):
        message = assert_one_line_error(*result, directory, line_of(directory, f"{name}: $i"))
        assert "is reserved" in message


THREE_UNJOINED = """  - id: hostile-cross
    cause: proxy-arp-disabled
    when:
      - fact: WorkloadPlumbing
        as: a
      - fact: WorkloadPlumbing
        as: b
        where: {proxy_arp: "0"}
      - fact: WorkloadPlumbing
        as: c
"""


def test_unjoined_patterns_on_one_fact_type_are_refused(tmp_path):
    directory = rule_dir(tmp_path, THREE_UNJOINED)
    for result in both_commands(directory):
        message = assert_one_line_error(*result, directory, line_of(directory, "as: b") - 1)
        assert "WorkloadPlumbing with no join" in message
        assert "bind a field with the same `$name` in both patterns" in message


def test_an_unjoined_support_item_is_refused(tmp_path):
    directory = rule_dir(tmp_path, (
        "  - id: hostile-support\n    cause: proxy-arp-disabled\n    when:\n"
        "      - fact: Pod\n        where: {name: $p}\n"
        "    support:\n      - fact: Pod\n        where: {mtu: 1500}\n        weight: 0.5\n        says: a pod\n"))
    for result in both_commands(directory):
        message = assert_one_line_error(*result, directory, line_of(directory, "where: {mtu: 1500}") - 1)
        assert "support[0] and when[0] both match Pod" in message


def test_patterns_joined_directly_or_through_another_pass(tmp_path):
    directory = rule_dir(tmp_path, (
        "  - id: joined-through-pod\n    cause: proxy-arp-disabled\n    when:\n"
        "      - fact: WorkloadPlumbing\n        where: {pod: $p, proxy_arp: \"0\"}\n"
        "      - fact: Pod\n        where: {name: $p, host_iface: $i}\n"
        "      - fact: WorkloadPlumbing\n        where: {iface: $i}\n"
        "      - fact: Node\n      - fact: Node\n"))  # a node has one Node fact: no join needed
    code, _out, err = run_cli("diagnose", "--facts", HEALTHY, "--rules-dir", directory)
    assert code in (0, 1), err


def test_ne_alone_is_not_a_join(tmp_path):
    directory = rule_dir(tmp_path, (
        "  - id: ne-only\n    cause: proxy-arp-disabled\n    when:\n"
        "      - fact: Interface\n        where: {name: $n}\n"
        "      - fact: Interface\n        where: {name: {ne: $n}}\n"))
    code, _out, err = run_cli("rules", "lint", directory)
    assert code == 2 and "Interface with no join" in err


# Unjoined patterns on different fact types pass the load checks (rules legitimately pair a
# Component with a LogEvent), so the run-time budget is what stops this one.
THREE_TYPES = """  - id: hostile-budget
    cause: proxy-arp-disabled
    when:
      - fact: Sysctl
        where: {key: {startswith: "net."}}
      - fact: Interface
      - fact: Chain
"""


def test_a_runaway_match_stops_at_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(compiler.DiagnosisEngine, "match_budget", 5_000)
    directory = rule_dir(tmp_path, THREE_TYPES)
    started = time.monotonic()
    code, out, err = run_cli("diagnose", "--facts", HEALTHY, "--rules-dir", directory)
    message = assert_one_line_error(code, out, err, directory, line_of(directory, "id: hostile-budget"))
    assert "rule hostile-budget: more than 5,000 partial matches" in message
    assert time.monotonic() - started < 5


def test_the_budget_is_counted_afresh_for_each_run(tmp_path, monkeypatch):
    """A reused engine (lint and `rules test` build one network) starts every run at zero."""
    monkeypatch.setattr(compiler.DiagnosisEngine, "match_budget", 50)
    directory = rule_dir(tmp_path, "  - id: down-interface\n    cause: workload-veth-down\n    when:\n"
                                   "      - fact: Interface\n        where: {oper_up: false}\n")
    book = load_rulebook([directory], include_package=False, with_tests=False)
    engine = reusable_engine(compiler.compile_engine(book))
    fields = dict.fromkeys(FACT_TYPES["Interface"].fields)
    facts = [("Interface", dict(fields, name=f"cali{i}", oper_up=False)) for i in range(60)]
    for _ in range(20):
        assert len(compiler.run_engine(engine, facts[:10])) == 10
    with pytest.raises(InputError, match="rule down-interface: more than 50 partial matches"):
        compiler.run_engine(engine, facts)
