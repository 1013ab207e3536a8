"""Rule files and remediation templates in a --rules-dir, damaged, through `calirules diagnose`
(with the dump that makes the rule fire, so its templates render) and `calirules rules lint`:
exit 0, 1 or 2 with one line (lint: one line per problem), never exit 3, never a traceback, and
nothing read outside the rules dir."""

import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from tests.fuzz.contract import assert_contract, assert_lint_contract, run_within
from tests.fuzz.mutations import damaged_text, mutated_tree, render
from tests.fuzz.rulesdir import RULE_FILES, renamed_rule_file, write_rules_dir
from tests.helpers import EXAMPLES

CANARY = "fuzzcanary91b4"

# Template damage that is not a resource bomb (those are the regression cases in test_known_cases):
# broken syntax, undefined names, wrong types, exceptions, sandbox escapes, includes of what is not
# there or is outside the rules dir.
TEMPLATE_SNIPPETS = [
    "{{ node.hostname }}", "{{ nosuch }}", "{{ nosuch.attr.deeper }}", "{{ nosuch() }}", "{{ node.nosuch() }}",
    "{% if %}", "{% endif %}", "{% for x in %}", "{% endfor %}", "{{", "}}", "{%", "%}", "{#", "{% raw %}",
    "{{ 1/0 }}", "{{ none|length }}", "{{ 'abc'|truncate(-5) }}", "{{ node|nosuchfilter }}", "{{ [1, 'a']|sort }}",
    "{{ '%d'|format('x') }}", "{{ 'x'|int }}", "{{ 9 ** 9999 }}", "{{ {}|first }}", "{{ ''|attr('__class__') }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}", "{{ cycler.__init__.__globals__.os }}",
    "{{ self.__init__.__globals__ }}", "{{ lipsum.__globals__ }}", "{{ range.__self__ }}",
    "{% include 'nosuch.j2' %}", "{% extends 'nosuch.j2' %}", "{% import 'nosuch.j2' as x %}",
    "{% include '../../outside/secret' %}", "{% include '/etc/hostname' %}", "{% include 'link.j2' %}",
    "{% import '_calico.j2' as c %}{{ c.nosuch() }}", "{% macro m() %}{% endmacro %}{{ m(1, 2, 3) }}",
    "{% set x = 1 %}{{ x.y.z }}", "{{ self }}", "{{ dict(a=1)|dictsort }}", "{{ 'x' * 1000 }}",
    "{% filter upper %}", "{% endfilter %}", "{% block b %}", "{% endblock %}", "\udcff".encode("utf-8", "surrogateescape").decode("latin-1"),
]


def outside_and_link(tmp):
    """A canary file outside the rules dir, and the link to it a template could include."""
    outside = tmp / "outside"
    outside.mkdir()
    # Rendered, it names the canary (an undefined name, or its text); only read, it stays silent.
    (outside / "secret").write_text(f"{{{{ {CANARY}.x }}}}\n{CANARY}\n")
    return outside / "secret"


def run_rules_dir(rules_dir, rule_name, command):
    if command == "lint":
        result = run_within("rules", "lint", rules_dir)
        assert_lint_contract(*result)
    else:
        result = run_within("diagnose", "--facts", EXAMPLES / rule_name, "--format", "json",
                            "--rules-dir", rules_dir)
        assert_contract(*result)
    assert CANARY not in result[1] and CANARY not in result[2], "a file outside the rules dir was read"


@st.composite
def damaged_rule_file(draw, name, secret):
    document, templates = renamed_rule_file(name)
    kind = draw(st.sampled_from(["tree", "text", "remediation-path"]))
    if kind == "tree":
        return render(draw(mutated_tree(document))), templates
    if kind == "text":
        return draw(damaged_text(render(document))), templates
    rule = document["rules"][draw(st.integers(0, len(document["rules"]) - 1))]
    rule["remediation"] = draw(st.sampled_from([str(secret), "../outside/secret", "../../outside/secret",
                                                "link.j2", "templates", "", ".", "nosuch.j2"]))
    return render(document), templates


@fuzz_settings(15)
@given(data=st.data(), name=st.sampled_from(RULE_FILES), command=st.sampled_from(["diagnose"] * 3 + ["lint"]))
def test_rule_file_damaged(data, name, command):
    with tempfile.TemporaryDirectory() as tmp:
        secret = outside_and_link(Path(tmp))
        text, templates = data.draw(damaged_rule_file(name, secret))
        rules_dir = write_rules_dir(Path(tmp) / "rules", name, text, templates)
        (rules_dir / "templates" / "link.j2").symlink_to(secret)
        run_rules_dir(rules_dir, name, command)


@st.composite
def damaged_template(draw, text):
    kind = draw(st.sampled_from(["snippet", "snippet", "truncate", "garbage"]))
    at = draw(st.integers(0, len(text)))
    if kind == "snippet":
        return text[:at] + draw(st.sampled_from(TEMPLATE_SNIPPETS)) + text[at:]
    if kind == "truncate":
        return text[:at]
    return text[:at] + draw(st.text(max_size=40)) + text[at:]


@fuzz_settings(15)
@given(data=st.data(), name=st.sampled_from(RULE_FILES), command=st.sampled_from(["diagnose"] * 3 + ["lint"]))
def test_template_damaged(data, name, command):
    document, templates = renamed_rule_file(name)
    if templates:
        target = data.draw(st.sampled_from(sorted(templates)), label="template")
        templates[target] = data.draw(damaged_template(templates[target]), label="text")
    with tempfile.TemporaryDirectory() as tmp:
        secret = outside_and_link(Path(tmp))
        rules_dir = write_rules_dir(Path(tmp) / "rules", name, render(document), templates)
        (rules_dir / "templates" / "link.j2").symlink_to(secret)
        run_rules_dir(rules_dir, name, command)
