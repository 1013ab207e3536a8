"""Templates from a rules dir are input: whatever they do ends in exit 2 with one line naming the
template and its line, within a time and memory budget, and they read nothing outside the template
folders. Each payload below was found by fuzzing (exit 3, hours of CPU, gigabytes, /etc/passwd in a
report) and is kept here as a regression test."""

import os
import subprocess
import sys
import time

import pytest
from calirules.base import templating
from calirules.base.errors import InputError
from calirules.base.template_limits import MAX_TEXT

from tests.helpers import EXAMPLES, REPO, run_cli

RULE = """\
apiVersion: calirules/rules/v1
rules:
  - id: my-rule
    cause: proxy-arp-disabled
    confidence: 0.8
    when:
      - fact: WorkloadPlumbing
        as: w
        where: {proxy_arp: "0"}
    evidence:
      - about: w.proxy_arp
        text: "EVIDENCE"
    remediation: REMEDIATION
    tests:
      - {name: fires, expect: fire, facts: {sysctls: [{key: net.ipv4.conf.calif0e1d2c3b4a.proxy_arp, value: "0", source: user}]}}
      - {name: quiet, expect: no-fire, facts: {}}
"""
FIRING_DUMP = EXAMPLES / "proxy-arp-disabled.yaml"  # its node fires my-rule


def rules_dir(tmp_path, template="fix", remediation="fix.j2", evidence="proxy_arp = 0"):
    (tmp_path / "templates").mkdir(parents=True)
    (tmp_path / "rule.yaml").write_text(RULE.replace("REMEDIATION", remediation).replace("EVIDENCE", evidence))
    if template is not None:
        (tmp_path / "templates" / "fix.j2").write_text(template + "\n")
    return tmp_path


# payload -> what the one error line says about it
PAYLOADS = {
    "division by zero": ("{{ 1/0 }}", "fix.j2:1: ZeroDivisionError: division by zero"),
    "length of none": ("{{ none|length }}", "fix.j2:1: TypeError: object of type 'NoneType' has no len()"),
    "recursive macro": ("{% macro f(n) %}{{ f(n+1) }}{% endmacro %}{{ f(0) }}", "fix.j2:1: calls nest too deeply"),
    "truncate(-5)": ("{{ 'abcdef'|truncate(-5) }}", "fix.j2:1: AssertionError: expected length >= 3, got -5"),
    "nested ranges printing": ("{% for i in range(100000) %}{% for j in range(100000) %}{{ i }}{% endfor %}{% endfor %}",
                               f"output passed {MAX_TEXT:,} characters"),
    "nested ranges silent": ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
                             "fix.j2:1: ran past 2 s of CPU time"),
    "huge precision": ("{{ '%.1000000000f'|format(1.0) }}", "fix.j2:1: the filter format: about 1,000,000,"),
    "huge repeat": ("{{ 'a'*300000000 }}", "fix.j2:1: `*`: about 300,000,000 characters"),
    "memory growth": ("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}"
                      "{% set ns.l = ns.l + ['a' * 1000000 ~ i] %}{% endfor %}", "fix.j2:1: grew memory by more than"),
    "self include": ("{% include 'fix.j2' %}", "fix.j2:1: calls nest too deeply"),
}


def _one_error_line(code, out, err):
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1, (code, out[-300:], err[-600:])
    assert "Traceback" not in err
    return lines[0]


# (the two nested-range payloads run in a process of their own below)
@pytest.mark.parametrize("payload", [p for p in PAYLOADS if not p.startswith("nested ranges")])
def test_a_template_payload_is_the_templates_error_in_diagnose(tmp_path, payload):
    template, says = PAYLOADS[payload]
    line = _one_error_line(*run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir", rules_dir(tmp_path, template)))
    assert line.startswith("calirules: error: template error in ") and says in line, line


@pytest.mark.parametrize("payload", ["division by zero", "length of none", "recursive macro", "truncate(-5)",
                                     "huge precision", "huge repeat", "nested ranges silent"])
def test_a_template_payload_is_one_lint_problem(tmp_path, payload):
    """Lint renders the template in 18 cells: one line for all of them, and a template that ran out
    of time once is not run again (the whole lint stays near the 2 s budget)."""
    template, says = PAYLOADS[payload]
    started = time.process_time()
    line = _one_error_line(*run_cli("rules", "lint", rules_dir(tmp_path, template)))
    assert "fix.j2 [every Calico version; every install method]: does not render: template error in " in line
    assert says in line, line
    assert time.process_time() - started < 10


def test_an_evidence_text_payload_names_the_rule(tmp_path):
    line = _one_error_line(*run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir",
                                    rules_dir(tmp_path, "fix", evidence="{{ 'x' * 10**9 }}")))
    assert "template error in rule my-rule evidence:1: `*`: about 1,000,000,000 characters" in line, line


# --- time and memory of the process, as a user runs it ----------------------------------------

# Runs the command and writes its peak resident memory (KiB) and CPU seconds to a file: the
# rusage of this one child, not of every process the test session has waited for.
_MEASURED = ("import resource, subprocess, sys\n"
             "code = subprocess.call(sys.argv[2:])\n"
             "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
             "open(sys.argv[1], 'w').write(f'{usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}')\n"
             "sys.exit(code)\n")


@pytest.mark.parametrize("payload", ["nested ranges printing", "nested ranges silent", "huge precision",
                                     "huge repeat", "memory growth"])
def test_a_resource_payload_stays_within_seconds_and_far_under_a_gibibyte(tmp_path, payload):
    template, says = PAYLOADS[payload]
    usage = tmp_path / "usage"
    proc = subprocess.run([sys.executable, "-c", _MEASURED, usage, sys.executable, "-m", "calirules", "diagnose",
                           "--facts", FIRING_DUMP, "--rules-dir", rules_dir(tmp_path / "rules", template)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert says in _one_error_line(proc.returncode, proc.stdout, proc.stderr)
    peak_kib, cpu_s = usage.read_text().split()
    assert int(peak_kib) < 512 * 1024 and float(cpu_s) < 5, (peak_kib, cpu_s)


# --- includes and remediation are confined to the template folders ----------------------------

@pytest.fixture
def outside_file(tmp_path):
    secret = tmp_path / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:SECRET\n")
    return secret


@pytest.mark.parametrize("how", ["include", "import", "extends", "remediation"])
def test_a_link_out_of_the_templates_folder_is_never_read(tmp_path, outside_file, how):
    template = {"include": "{% include 'link.j2' %}", "import": "{% import 'link.j2' as m %}",
                "extends": "{% extends 'link.j2' %}", "remediation": None}[how]
    rules = rules_dir(tmp_path / "rules", template, remediation="link.j2" if how == "remediation" else "fix.j2")
    os.symlink(outside_file, rules / "templates" / "link.j2")
    for args in (("diagnose", "--facts", FIRING_DUMP, "--rules-dir", rules), ("rules", "lint", rules)):
        code, out, err = run_cli(*args)
        line = _one_error_line(code, out, err)
        assert "link.j2 is a link to a file outside the templates folders" in line, line
        assert "SECRET" not in out + err


def test_a_name_climbing_out_of_the_folder_is_not_found(tmp_path, outside_file):
    rules = rules_dir(tmp_path / "rules", "{% include '../../outside/secret.txt' %}")
    code, out, err = run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir", rules)
    assert "no template ../../outside/secret.txt" in _one_error_line(code, out, err)
    assert "SECRET" not in out


def test_an_absolute_remediation_path_is_looked_up_inside_the_folders(tmp_path, outside_file):
    rules = rules_dir(tmp_path / "rules", remediation=str(outside_file))
    code, out, err = run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir", rules)
    assert f"no template {outside_file} in " in _one_error_line(code, out, err)
    assert "SECRET" not in out


def test_links_inside_the_folders_and_a_linked_rules_dir_still_work(tmp_path):
    rules = rules_dir(tmp_path / "rules", "{% include 'parts/part.j2' %}")
    (rules / "templates" / "real").mkdir()
    (rules / "templates" / "real" / "part.j2").write_text("LINKED PART")
    os.symlink(rules / "templates" / "real", rules / "templates" / "parts")
    os.symlink(rules, tmp_path / "rules-link")
    code, out, err = run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir", tmp_path / "rules-link")
    assert code == 1 and "LINKED PART" in out, err


def test_a_fifo_template_is_refused_without_being_opened(tmp_path):
    rules = rules_dir(tmp_path / "rules", "{% include 'pipe.j2' %}")
    os.mkfifo(rules / "templates" / "pipe.j2")
    line = _one_error_line(*run_cli("diagnose", "--facts", FIRING_DUMP, "--rules-dir", rules))
    assert "pipe.j2 is not a regular file" in line, line


# --- the limits, one operation at a time; and what a template may still do ----------------------

@pytest.fixture
def env(tmp_path):
    return templating.rule_environment([tmp_path])


@pytest.mark.parametrize("source, says", [
    ("{{ 'x'.center(10**9) }}", "a width: about 1,000,000,000 characters"),
    ("{{ '{:>1000000000}'.format(1) }}", "str.format: about 1,000,000,"),
    ("{{ '%*d' % (10**9, 1) }}", "`%`: about 1,000,000,"),
    ("{{ 2 ** 100000000 }}", "`**`: a number of about"),
    ("{{ range(100000)|join('x' * 1000000) }}", "the filter join: about"),
    ("{{ 'a'|indent(10**9, true) }}", "the filter indent: about"),
    ("{{ [1]|batch(10**9, 'x')|list }}", "the filter batch: 1,000,000,000 items"),
    ("{{ range(1000)|list|tojson(10**6) }}", "the filter tojson: about"),
    ("{{ ('a ' * 500000)|wordwrap(1, wrapstring='x' * 1000) }}", "the filter wordwrap: about"),
    ("{{ ('a' * 1000000)|replace('a', 'bb') }}", "the filter replace: about 2,000,000 characters"),
    ("{{ 'ab'.replace('', 'x' * 1000000) }}", "replace: about 3,000,002 characters"),
    ("{{ ([range(100000)|list] * 100)|sum(start=[]) }}", "the filter sum: 10,000,000 items"),
    ("{{ [1] * 10**6 }}", "`*`: 1,000,000 items"),
    ("{% set s = 'a' * 1000000 %}{{ s ~ s }}", "`~`: about 2,000,"),
    ("{% set s = 'a' * 1000000 %}{{ [s, s] }}", "printing a value: about 2,000,"),
    ("{% set s = 'a' * 1000000 %}{{ [s, s]|string }}", "the filter string: about 2,000,"),
    ("{{ lipsum(10**6) }}", "'lipsum' is undefined"),
    ("{% set l = [] %}{{ l.append(1) }}", "unsafe"),
])
def test_each_multiplying_operation_is_estimated_before_it_runs(env, source, says):
    with pytest.raises(InputError) as caught:
        templating.render_inline(env, source, {}, "payload")
    assert says in caught.value.message and "\n" not in caught.value.message, caught.value.message


def test_a_limit_met_once_is_not_run_again_in_the_same_environment(env):
    source = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    for attempt in range(3):
        started = time.process_time()
        with pytest.raises(InputError, match="ran past 2 s of CPU time"):
            templating.render_inline(env, source, {}, "payload")
        spent = time.process_time() - started
        assert spent < (4 if attempt == 0 else 0.1), (attempt, spent)


def test_what_a_remediation_template_may_still_do(env):
    source = """\
{% macro item(x) %}[{{ x }}]{% endmacro %}
{% set ns = namespace(n=0) %}
{% for x in xs recursive %}{% if x is iterable %}{{ loop(x) }}{% else %}{% set ns.n = ns.n + x %}{{ item(x) }}{% endif %}{% endfor %}
{{ ns.n }} {{ 'a' ~ 1 }} {{ '-'.join(['a', 'b']) }} {{ '%5d|%-3s' % (3, 'x') }} {{ '{:>4}'.format(7) }}
{{ names|join(', ') }} {{ names|map('upper')|list }} {{ 'x'|center(5) }}| {{ 'ab' * 3 }} {{ 2 ** 10 }}
{{ pods|selectattr('up')|map(attribute='name')|join(' ') }} {{ range(3)|sum }} {{ {'k': 1}|tojson }}"""
    context = {"xs": [1, [2, [3]], 4], "names": ["a", "b"],
               "pods": [{"name": "p1", "up": True}, {"name": "p2", "up": False}]}
    assert templating.render_inline(env, source, context, "ok").splitlines() == [
        "[1][2][3][4]10 a1 a-b     3|x      7",  # trim_blocks takes the newline after a block tag
        "a, b ['A', 'B']   x  | ababab 1024",
        'p1 3 {"k": 1}',
    ]
