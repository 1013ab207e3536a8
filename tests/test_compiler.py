"""The YAML condition language, compiled to experta: each operator, joins, unless, support, derive."""

import textwrap

import pytest
from calirules.base.errors import InputError
from calirules.engine.compiler import compile_engine, run_engine
from calirules.engine.rulebook import load_rulebook


def book_from(tmp_path, rules_yaml, name="r.yaml"):
    path = tmp_path / name
    path.write_text("apiVersion: calirules/rules/v1\nrules:\n" + textwrap.indent(textwrap.dedent(rules_yaml), "  "))
    return load_rulebook([path], include_package=False)


TWO_TESTS = """
tests:
  - {name: a, expect: fire, facts: {}}
  - {name: b, expect: no-fire, facts: {}}
"""
TESTS = textwrap.indent(TWO_TESTS.strip(), "  ")


def rule(where, fact="Interface", extra=""):
    return f"""
- id: probe
  cause: workload-veth-down
  when:
    - fact: {fact}
      as: f
      where: {where}
{textwrap.indent(extra, '  ')}  {TWO_TESTS.strip().replace(chr(10), chr(10) + '  ')}
"""


def fired(book, facts):
    return [f for f in run_engine(compile_engine(book), facts) if f.kind == "main"]


def iface(**values):
    base = dict(name="cali1", kind="veth", state="UP", oper_up=True, mtu=1440, workload=True, peer=None,
                addresses=[], source="x:1", sources={})
    base.update(values)
    return ("Interface", base)


@pytest.mark.parametrize("where,matches,misses", [
    ("{state: UP}", dict(state="UP"), dict(state="DOWN")),
    ("{mtu: {gt: 1450}}", dict(mtu=1500), dict(mtu=1440)),
    ("{mtu: {le: 1440}}", dict(mtu=1440), dict(mtu=None)),
    ("{state: {in: [DOWN, LOWERLAYERDOWN]}}", dict(state="DOWN"), dict(state="UP")),
    ("{state: {not_in: [UP]}}", dict(state="DOWN"), dict(state=None)),
    ("{name: {regex: '^cali[0-9a-f]+$'}}", dict(name="cali1"), dict(name="eth0")),
    ("{name: {not_regex: '^cali'}}", dict(name="eth0"), dict(name="cali1")),
    ("{name: {startswith: cali}}", dict(name="cali1"), dict(name="eth0")),
    ("{addresses: {contains: 198.18.0.1/32}}", dict(addresses=["198.18.0.1/32"]), dict(addresses=[])),
    ("{peer: {exists: false}}", dict(peer=None), dict(peer="if3")),
    ("{addresses: {nonempty: true}}", dict(addresses=["198.18.0.1/32"]), dict(addresses=[])),
    ("{addresses: {nonempty: false}}", dict(addresses=[]), dict(addresses=None)),
    ("{peer: {exists: true}}", dict(peer="if3"), dict(peer=None)),
    ("{state: {ne: UP}}", dict(state="DOWN"), dict(state="UP")),
    ("{kind: {version_ge: '1.2'}}", dict(kind="v1.19.16"), dict(kind="v1.1.9")),
    ("{kind: {version_lt: '1.16'}}", dict(kind="1.15.3"), dict(kind="not-a-version")),
    ("{oper_up: false}", dict(oper_up=False), dict(oper_up=None)),
])
def test_operator(tmp_path, where, matches, misses):
    book = book_from(tmp_path, rule(where))
    assert len(fired(book, [iface(**matches)])) == 1
    assert fired(book, [iface(**misses)]) == []


def test_join_on_shared_variable_and_ne_variable(tmp_path):
    book = book_from(tmp_path, f"""
- id: probe
  cause: iptables-backend-mismatch
  when:
    - fact: Netfilter
      as: cali
      where: {{backend: $cb, calico_forward: true}}
    - fact: Chain
      as: fwd
      where: {{backend: {{ne: $cb}}, name: FORWARD, policy: DROP}}
{TESTS}""")
    nf = lambda b, cf: ("Netfilter", {"backend": b, "calico_forward": cf, "source": b, "sources": {}})
    chain = lambda b, p: ("Chain", {"backend": b, "name": "FORWARD", "policy": p, "source": b, "sources": {}})
    hits = fired(book, [nf("legacy", True), nf("nft", False), chain("legacy", "DROP"), chain("nft", "DROP")])
    assert [(h.bindings["cali"]["backend"], h.bindings["fwd"]["backend"]) for h in hits] == [("legacy", "nft")]
    assert hits[0].variables == {"cb": "legacy"}


def test_unless_blocks_and_support_is_tied_to_its_firing(tmp_path):
    book = book_from(tmp_path, f"""
- id: probe
  cause: workload-veth-down
  when:
    - fact: Interface
      as: f
      where: {{name: $n, state: DOWN}}
  unless:
    - fact: Interface
      where: {{name: $n, kind: ignored}}
  support:
    - fact: Pod
      where: {{host_iface: $n, gateway_neighbor: FAILED}}
      weight: 0.5
      says: not seen
{TESTS}""")
    obs = ("Pod", {"host_iface": "cali2", "gateway_neighbor": "FAILED", "source": "netns", "sources": {}})
    firings = run_engine(compile_engine(book), [iface(name="cali1", state="DOWN"), iface(name="cali2", state="DOWN"),
                                                iface(name="cali3", state="DOWN", kind="ignored"), obs])
    main = sorted(f.bindings["f"]["name"] for f in firings if f.kind == "main")
    support = [f for f in firings if f.kind == "support"]
    assert main == ["cali1", "cali2"]
    assert len(support) == 1 and support[0].bindings["f"]["name"] == "cali2"


def test_derived_facts_chain_into_other_rules(tmp_path):
    book = book_from(tmp_path, f"""
- id: make-down
  derive:
    fact: DownWorkload
    fields: {{iface: $n}}
  when:
    - fact: Interface
      where: {{name: $n, workload: true, oper_up: false}}
{TESTS}
- id: use-down
  cause: workload-veth-down
  when:
    - fact: DownWorkload
      as: d
{TESTS}""")
    hits = fired(book, [iface(name="cali9", oper_up=False)])
    assert [h.bindings["d"]["iface"] for h in hits] == ["cali9"]


@pytest.mark.parametrize("body,message", [
    (rule("{nmae: x}"), "Interface has no field 'nmae'"),
    (rule("{name: x}", fact="Interfase"), "unknown fact type 'Interfase'"),
    (rule("{name: {regex: '('}}"), "invalid regular expression"),
    (rule("{name: {lt: $x}}"), "operator lt expects a number"),
    (rule("{name: {version_lt: banana}}"), "is not a version"),
    (rule("{name: x}").replace("cause: workload-veth-down", "cause: no-such-cause"), "unknown cause 'no-such-cause'"),
    (rule("{name: x}", extra="unless:\n  - fact: Interface\n    where: {name: $nope}\n"), "variable $nope is not bound"),
])
def test_rule_file_errors_name_file_and_line(tmp_path, body, message):
    with pytest.raises(InputError) as info:
        book_from(tmp_path, body)
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path / "r.yaml") + ":")
    assert info.value.line is not None


def test_duplicate_rule_ids_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text("apiVersion: calirules/rules/v1\nrules:\n" + textwrap.indent(rule("{name: x}"), "  "))
    (tmp_path / "b.yaml").write_text("apiVersion: calirules/rules/v1\nrules:\n" + textwrap.indent(rule("{name: y}"), "  "))
    with pytest.raises(InputError, match="duplicate rule id"):
        load_rulebook([tmp_path], include_package=False)


def test_only_literally_named_sysctls_are_declared():
    keys = load_rulebook().sysctl_keys()
    assert "net.ipv4.ip_forward" in keys and len(keys) < 20


def test_diagnose_loads_rules_without_their_tests_and_the_same_rules_otherwise():
    """Skipping inline tests changes nothing else: same rules, same fields, same source lines."""
    full, lean = load_rulebook(), load_rulebook(with_tests=False)
    assert [r.id for r in full.rules] == [r.id for r in lean.rules]
    for a, b in zip(full.rules, lean.rules):
        assert not b.tests and (a.tests or a.derive)
        assert {**vars(a), "tests": None} == {**vars(b), "tests": None}
        assert a.location == b.location


def test_blanking_tests_keeps_line_numbers_and_both_list_styles(tmp_path):
    from calirules.engine.rulebook import _blank_tests
    text = textwrap.dedent("""\
        rules:
          - id: a
            description: >-
              tests: inside folded text is not a key
            tests:
            - name: same-indent list
              expect: fire

          - id: b
            tests:
              - {name: nested list, expect: fire}
            confidence: 0.5
        """)
    blanked = _blank_tests(text)
    assert blanked.count("\n") == text.count("\n")
    assert "name:" not in blanked and "confidence: 0.5" in blanked and "inside folded text" in blanked
    import yaml
    assert [r["tests"] for r in yaml.safe_load(blanked)["rules"]] == [[], []]
