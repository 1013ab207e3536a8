"""Rule tests from raw evidence: `raw:` output read by the real parsers, layered with the base
and `facts:`, provenance naming the raw key and line, and `evidence:` checked against the lines
the report prints."""

import textwrap

import pytest
from calirules.base.errors import InputError
from calirules.engine import runner
from calirules.engine.rulebook import load_rulebook
from calirules.facts_collectors.dump import load_dump, normalise

from calirules.authoring.ruletests import dump_for_test, evidence_lines, run_rule_tests
from calirules.cli import main
from tests.helpers import EXAMPLES

FORWARDING_OFF = "net.ipv4.conf.all.forwarding = 0\nnet.ipv4.ip_forward = 0\n"

RULE_FILE = textwrap.dedent("""\
    apiVersion: calirules/rules/v1
    rules:
      - id: lab-forwarding-off
        cause: ip-forwarding-disabled
        when:
          - fact: Sysctl
            as: fwd
            where: {key: net.ipv4.ip_forward, value: "0"}
        evidence:
          - about: fwd.value
            text: "{{ fwd.key }} = {{ fwd.value }}"
    """)


def _sysctl(dump, key):
    return next(s for s in dump["sysctls"] if s["key"] == key)


def test_raw_output_is_read_by_the_parsers_and_names_its_key_and_line():
    dump = dump_for_test({"raw": {"sysctl -a": FORWARDING_OFF}})
    assert _sysctl(dump, "net.ipv4.ip_forward") == {"key": "net.ipv4.ip_forward", "value": "0", "source": "sysctl -a:2"}


def test_raw_keys_are_matched_by_words_not_spacing():
    dump = dump_for_test({"raw": {"sysctl   -a ": FORWARDING_OFF}})
    assert _sysctl(dump, "net.ipv4.ip_forward")["source"] == "sysctl -a:2"


def test_raw_merges_into_the_base_by_key_and_facts_win_last():
    base_only = "net.ipv4.conf.cali1a2b3c4d5e6.proxy_arp"
    dump = dump_for_test({"raw": {"sysctl -a": FORWARDING_OFF}})
    assert _sysctl(dump, base_only)["value"] == "1"  # the healthy base's cali* sysctls stay
    assert "interfaces" in dump and "collection" not in dump
    dump = dump_for_test({"raw": {"sysctl -a": FORWARDING_OFF},
                          "facts": {"sysctls": [{"key": "net.ipv4.ip_forward", "value": "1", "source": "user"}]}})
    assert _sysctl(dump, "net.ipv4.ip_forward") == {"key": "net.ipv4.ip_forward", "value": "1", "source": "user"}
    assert _sysctl(dump, "net.ipv4.conf.all.forwarding")["source"] == "sysctl -a:1"


def test_raw_replaces_whole_sections_and_adds_node_fields():
    uname = "Linux crp-node1 6.1.0-27-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01) x86_64 GNU/Linux\n"
    routes = "unicast default via 198.18.0.1 dev eth0 table main proto boot scope global \n"
    dump = dump_for_test({"raw": {"uname -a": uname, "ip -d route show table all": routes}})
    assert [r["source"] for r in dump["routes"]] == ["ip -d route show table all:1"]
    node = dump["node"]
    assert node["kernel"] == "6.1.0-27-amd64" and node["hostname"] == "crp-node1"
    assert node["os"] == "Ubuntu 22.04.4 LTS" and node["sources"]["kernel"] == "uname -a:1"


def test_sections_a_reader_writes_for_nothing_do_not_hide_the_base():
    dump = dump_for_test({"raw": {"sysctl -a": FORWARDING_OFF}})
    assert dump["node"]["hostname"] == "test-node"
    assert {v["component"] for v in dump["versions"]} >= {"calico", "kubelet"}


def test_raw_over_an_empty_base_is_the_raw_evidence_alone():
    dump = dump_for_test({"base": "empty", "raw": {"sysctl -a": FORWARDING_OFF}})
    assert set(dump) == {"apiVersion", "kind", "node", "sysctls"}


def test_an_unknown_raw_key_names_the_known_ones():
    with pytest.raises(InputError) as caught:
        dump_for_test({"name": "t", "raw": {"ip a": "1: lo: <LOOPBACK>\n"}})
    assert "no collector reads 'ip a'" in caught.value.message
    assert "sysctl -a" in caught.value.message and "/proc/modules" in caught.value.message


def _rules_dir(tmp_path, tests_yaml, inline=""):
    (tmp_path / "lab.yaml").write_text(RULE_FILE + inline)
    (tmp_path / "lab.test.yaml").write_text("apiVersion: calirules/rule-tests/v1\ntests:\n" + textwrap.dedent(tests_yaml))
    return tmp_path


class _Run:
    def __init__(self, code, output):
        self.exit_code, self.output = code, output


@pytest.fixture
def run_rules_test(capsys):
    """`calirules rules test DIR` in this process: (exit code, stdout and stderr)."""
    def run(path):
        with pytest.raises(SystemExit) as exit_:
            main(["rules", "test", str(path)])
        out = capsys.readouterr()
        return _Run(exit_.value.code, out.out + out.err)
    return run


GOOD_TESTS = """\
  - rule: lab-forwarding-off
    name: fires on sysctl -a output
    expect: fire
    raw:
      sysctl -a: |
        net.ipv4.conf.all.forwarding = 0
        net.ipv4.ip_forward = 0
    evidence: ["- net.ipv4.ip_forward = 0   [sysctl -a:2]"]
  - rule: lab-forwarding-off
    name: quiet on the base
    expect: no-fire
"""


def test_rules_test_runs_a_test_file_and_checks_evidence(tmp_path, run_rules_test):
    result = run_rules_test(_rules_dir(tmp_path, GOOD_TESTS))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("2 passed, 0 failed")


def test_a_failing_test_is_named_by_its_file_and_line(tmp_path, run_rules_test):
    wrong = GOOD_TESTS.replace("[sysctl -a:2]", "[sysctl -a:1]")
    result = run_rules_test(_rules_dir(tmp_path, wrong))
    assert result.exit_code == 1
    fail = next(line for line in result.output.splitlines() if line.startswith("FAIL"))
    assert fail.startswith(f"FAIL {tmp_path / 'lab.test.yaml'}:3: rule lab-forwarding-off: fires on sysctl -a output")
    assert "no evidence line contains '- net.ipv4.ip_forward = 0   [sysctl -a:1]'" in fail
    assert "[sysctl -a:2]" in fail  # the lines it did print


def test_a_failing_inline_test_is_named_by_its_line_in_the_rule_file(tmp_path, run_rules_test):
    inline = "    tests:\n      - {name: wrongly expects a firing, expect: fire}\n"
    result = run_rules_test(_rules_dir(tmp_path, GOOD_TESTS, inline))
    fail = next(line for line in result.output.splitlines() if line.startswith("FAIL"))
    assert fail.startswith(f"FAIL {tmp_path / 'lab.yaml'}:13: rule lab-forwarding-off: wrongly expects a firing "
                           "(expected fire, did not fire)")


def test_an_unknown_raw_key_is_bad_input_at_its_line(tmp_path, run_rules_test):
    result = run_rules_test(_rules_dir(tmp_path, GOOD_TESTS.replace("sysctl -a: |", "sysctl -n -a: |")))
    assert result.exit_code == 2
    assert f"{tmp_path / 'lab.test.yaml'}:7:5: test 'fires on sysctl -a output': raw: no collector reads 'sysctl -n -a'" \
        in result.output


def test_evidence_lines_are_the_lines_the_text_report_prints():
    from calirules.report.build import build_report
    from calirules.report.render import render
    book = load_rulebook()
    for example in ("iptables-backend-mismatch-guide.yaml", "ip-forwarding-disabled.yaml"):
        dump = load_dump(EXAMPLES / example)
        diagnosis = runner.diagnose(dump, book)
        # unwrapped (a width no line reaches): an evidence line is one line of the text layout
        text = render(build_report(diagnosis, book, "x"), "text", width=100_000)
        printed = {line.strip() for line in text.splitlines()}
        found = {result.rule.id for f in diagnosis.findings if f.found for result in f.results}
        lines = [line for rule in found for line in evidence_lines(diagnosis, book, rule)]
        assert lines and all(line in printed for line in lines), [line for line in lines if line not in printed]


def test_old_forms_still_run(tmp_path):
    inline = textwrap.dedent("""\
        tests:
          - name: fires on a facts overlay
            expect: fire
            confidence: {ge: 0.5}
            facts:
              sysctls: [{key: net.ipv4.ip_forward, value: 0, source: user}]
          - {name: quiet without sysctls, expect: no-fire, base: empty, facts: {}}
    """)
    (tmp_path / "lab.yaml").write_text(RULE_FILE + textwrap.indent(inline, "    "))
    book = load_rulebook([tmp_path])
    results = run_rule_tests(book, {"lab-forwarding-off"})
    assert [(r.test["name"], r.passed) for r in results] == [("fires on a facts overlay", True),
                                                             ("quiet without sysctls", True)]


def test_a_raw_test_diagnoses_like_the_dump_it_describes():
    """The dump a raw test builds is an ordinary valid dump: diagnose gives the same answer."""
    book = load_rulebook()
    dump = normalise(dump_for_test({"raw": {"sysctl -a": FORWARDING_OFF}}))
    assert "ip-forwarding-disabled-global" in runner.diagnose(dump, book).fired_rules
