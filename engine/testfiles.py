"""Rule tests as written: inline under a rule (`tests:`), or in the rule file's companion test file.

Long test data (raw tool output an engineer saw on an incident) would bury a rule, so, as with
promtool's rule test files and Semgrep's test targets, tests may live beside the rules they test:
`<stem>.test.yaml` next to `<stem>.yaml` (apiVersion calirules/rule-tests/v1, checked against
data/rule-tests-v1.schema.json) holds tests of that file's rules, each naming its `rule`. Only
rule-author tooling (`calirules rules test`, `rules lint`) reads test files; diagnose never opens
one. What a test means (how `raw`, `facts` and `expect` are run) is calirules.authoring.ruletests'.
"""

from pathlib import Path

from calirules.base import yamlio
from calirules.base.errors import InputError
from calirules.base.schemas import Schema

TESTS_API = "calirules/rule-tests/v1"
TEST_FILE_SCHEMA = Schema("calirules.engine", "data/rule-tests-v1.schema.json")
_RULE_SUFFIXES = (".yaml", ".yml")


class RuleTest(dict):
    """One test's fields as written, and where it was written: the file and the keys leading to it
    in that file's YAML. Lines are looked up only when asked (a failure, an error): composing the
    YAML node tree for positions costs more than running the test."""

    def __init__(self, fields, path, text, parts):
        super().__init__(fields)
        self.path, self.text, self.parts = Path(path), text, tuple(parts)

    def position(self, parts=(), key=None):
        """(line, column) of the test, of a value inside it (`parts`), or of a key (`key`) there."""
        if key is not None:
            return yamlio.locate_key(self.text, [*self.parts, *parts], key)
        return yamlio.locate(self.text, [*self.parts, *parts])

    @property
    def where(self):
        """`file:line` of the test, for a report of its failure."""
        return f"{self.path}:{self.position()[0]}"

    def error(self, message, parts=(), key=None):
        line, column = self.position(parts, key)
        return InputError(f"test {self.get('name')!r}: {message}", self.path, line, column)


def is_test_file(path):
    name = Path(path).name
    return any(name.endswith(".test" + suffix) for suffix in _RULE_SUFFIXES)


def test_file_for(rule_path):
    """The companion test file of a rule file: x.yaml -> x.test.yaml, in the same directory."""
    path = Path(rule_path)
    return path.with_name(f"{path.stem}.test{path.suffix}")


def rule_file_for(test_path):
    """The rule file a test file tests: x.test.yaml -> x.yaml, in the same directory."""
    path = Path(test_path)
    return path.with_name(path.name.replace(".test.", ".", 1))


def inline_tests(raw_tests, path, text, rule_index):
    return [RuleTest(fields, path, text, ["rules", rule_index, "tests", k]) for k, fields in enumerate(raw_tests)]


def attach_test_file(rule_path, rules):
    """Append the tests of `rule_path`'s companion test file, if there is one, to `rules` (that
    file's RuleSpecs). A test naming a rule the file does not hold is an error at its line."""
    path = test_file_for(rule_path)
    if not path.is_file():
        return
    doc, text = yamlio.load_yaml_file(path, "calirules rule test file")
    if not isinstance(doc, dict):
        raise InputError(f"expected a mapping with apiVersion: {TESTS_API}", path, 1, 1)
    TEST_FILE_SCHEMA.validate(doc, text, path)
    by_id = {rule.id: rule for rule in rules}
    for index, fields in enumerate(doc["tests"]):
        rule = by_id.get(fields["rule"])
        if rule is None:
            line, column = yamlio.locate(text, ["tests", index, "rule"])
            raise InputError(f"tests[{index}].rule: {fields['rule']!r} is not a rule of {Path(rule_path).name} "
                             f"(its rules: {', '.join(by_id)})", path, line, column)
        rule.tests.append(RuleTest(fields, path, text, ["tests", index]))


def orphan_test_files(directory):
    """Test files in `directory` with no rule file beside them (a renamed rule file left its tests)."""
    return sorted(p for p in Path(directory).iterdir()
                  if is_test_file(p) and p.is_file() and not rule_file_for(p).is_file())
