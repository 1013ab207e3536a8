"""Rule test files (`x.test.yaml` beside `x.yaml`): found, schema-checked with line numbers,
shipped with the rules, and never read by diagnose."""

import ast
import fnmatch
import json
import textwrap

import pytest
from calirules.base.errors import InputError
from calirules.engine.rulebook import (
    _blank_tests,
    load_rulebook,
    package_rules_dir,
    rule_files,
)
from calirules.engine.testfiles import RuleTest

from tests.helpers import REPO

RULE_FILE = textwrap.dedent("""\
    apiVersion: calirules/rules/v1
    rules:
      - id: lab-forwarding-off
        cause: ip-forwarding-disabled
        when:
          - fact: Sysctl
            where: {key: net.ipv4.ip_forward, value: "0"}
    """)


def _write(tmp_path, tests_text, rule_text=RULE_FILE):
    (tmp_path / "lab.yaml").write_text(rule_text)
    (tmp_path / "lab.test.yaml").write_text(textwrap.dedent(tests_text))
    return tmp_path


def _load_error(tmp_path):
    with pytest.raises(InputError) as caught:
        load_rulebook([tmp_path], include_package=False)
    return caught.value


def test_test_file_tests_are_added_to_their_rules_after_the_inline_ones(tmp_path):
    rule_text = RULE_FILE + "    tests:  # more in lab.test.yaml\n      - {name: inline, expect: no-fire}\n"
    _write(tmp_path, """\
        apiVersion: calirules/rule-tests/v1
        tests:
          - {rule: lab-forwarding-off, name: from the file, expect: fire, raw: {sysctl -a: "net.ipv4.ip_forward = 0"}}
        """, rule_text)
    [rule] = load_rulebook([tmp_path], include_package=False).rules
    assert [t["name"] for t in rule.tests] == ["inline", "from the file"]
    assert all(isinstance(t, RuleTest) for t in rule.tests)
    assert [t.where for t in rule.tests] == [f"{tmp_path / 'lab.yaml'}:9", f"{tmp_path / 'lab.test.yaml'}:3"]


def test_test_files_are_not_rule_files(tmp_path):
    _write(tmp_path, "apiVersion: calirules/rule-tests/v1\ntests: [{rule: lab-forwarding-off, name: t, expect: fire}]\n")
    assert rule_files([tmp_path]) == [tmp_path / "lab.yaml"]
    assert rule_files([tmp_path / "lab.test.yaml"]) == [tmp_path / "lab.yaml"]  # names its rule file
    shipped = package_rules_dir() / "ip-forwarding-disabled.yaml"
    assert rule_files([package_rules_dir(), shipped]).count(shipped) == 1


@pytest.mark.parametrize("text,where,message", [
    ("apiVersion: calirules/rule-tests/v1\ntests:\n  - {rule: lab-forwarding-off, name: t, expects: fire}\n",
     ":3:", "missing required field 'expect'"),
    ("apiVersion: calirules/rule-tests/v1\ntests:\n  - {rule: lab-forwarding-off, name: t, expect: fire, fact: {}}\n",
     ":3:", "tests[0].fact: unknown field"),
    ("apiVersion: calirules/rule-tests/v1\ntests:\n  - {rule: lab-forwarding-off, name: t, expect: fire,\n"
     "     raw: {sysctl -a: [not, text]}}\n", ":4:", "expected string"),
    ("apiVersion: calirules/rule-tests/v1\ntests:\n  - {rule: lab-forwarding-off, name: t, expect: fire, evidence: []}\n",
     ":3:", "evidence"),
    ("apiVersion: calirules/rule-tests/v1\ntests:\n  - name: t\n    expect: fire\n    rule: some-other-rule\n",
     ":5:", "'some-other-rule' is not a rule of lab.yaml (its rules: lab-forwarding-off)"),
    ("apiVersion: calirules/rules/v1\ntests: []\n", ":1:", "apiVersion"),
])
def test_test_file_errors_name_file_and_line(tmp_path, text, where, message):
    error = str(_load_error(_write(tmp_path, text)))
    assert error.startswith(f"{tmp_path / 'lab.test.yaml'}{where}") and message in error, error


def test_a_test_file_without_its_rule_file_is_an_error(tmp_path):
    (tmp_path / "gone.test.yaml").write_text("apiVersion: calirules/rule-tests/v1\ntests: []\n")
    (tmp_path / "lab.yaml").write_text(RULE_FILE)
    assert "gone.yaml is not next to it" in str(_load_error(tmp_path))


def test_diagnose_never_opens_test_files(tmp_path):
    _write(tmp_path, "this: [is not: a valid test file\n")
    [rule] = load_rulebook([tmp_path], include_package=False, with_tests=False).rules
    assert rule.tests == []
    assert "invalid YAML" in str(_load_error(tmp_path))


def test_blanking_inline_tests_allows_a_comment_on_the_tests_line():
    text = "rules:\n  - id: a\n    tests:  # more in a.test.yaml\n      - {name: n, expect: fire}\n"
    assert _blank_tests(text) == "rules:\n  - id: a\n    tests: []\n\n"  # line for line


def test_shipped_test_files_are_package_data():
    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    line = next(line for line in section.splitlines() if line.startswith('"calirules.rules" = '))
    patterns = ast.literal_eval(line.split("=", 1)[1].strip())
    shipped = sorted((REPO / "rules").glob("*.test.yaml"))
    assert len(shipped) >= 4
    assert all(any(fnmatch.fnmatch(p.name, pattern) for pattern in patterns) for p in shipped)


def test_shipped_rules_keep_some_tests_in_test_files():
    book = load_rulebook()
    from_files = {t.path.name for r in book.rules for t in r.tests if t.path.name.endswith(".test.yaml")}
    assert from_files == {p.name for p in (REPO / "rules").glob("*.test.yaml")}


def test_test_file_schema_describes_the_same_test_as_the_rule_schema():
    data = REPO / "engine" / "data"
    inline = json.loads((data / "rule-v1.schema.json").read_text())["definitions"]["test"]
    in_file = json.loads((data / "rule-tests-v1.schema.json").read_text())["definitions"]["test"]
    assert in_file["properties"].pop("rule") and in_file["required"].remove("rule") is None
    assert inline == in_file
