"""A rule's `predicts:` block: compiled into support and against items on Observation {kind: probe},
checked when rules load (file:line errors), and carried through the combiner from the dump."""

import textwrap

import pytest
from calirules.authoring.lint import lint_rules
from calirules.base.errors import InputError
from calirules.engine import predictions
from calirules.engine.combiners import build_facts
from calirules.engine.compiler import compile_engine, run_engine
from calirules.engine.rulebook import load_rulebook
from calirules.engine.vocabulary import FACT_TYPES, PROBE_FIELDS

TESTS = """\
tests:
  - {name: a, expect: fire, facts: {}}
  - {name: b, expect: no-fire, facts: {}}
"""


def write(tmp_path, rule_body):
    path = tmp_path / "r.yaml"
    rule = "- id: fwd\n  cause: forward-policy-drop\n" + textwrap.indent(textwrap.dedent(rule_body), "  ")
    path.write_text("apiVersion: calirules/rules/v1\nrules:\n" + textwrap.indent(rule, "  ")
                    + textwrap.indent(TESTS, "    "))
    return path


WHEN = """\
when:
  - fact: Chain
    as: fwd
    where: {backend: $b, name: FORWARD, policy: DROP}
"""


def book_with(tmp_path, predicts):
    return load_rulebook([write(tmp_path, WHEN + predicts)], include_package=False)


def test_compile_items_defaults():
    support, against = predictions.compile_items({"drop": ["policy"]})
    assert support == [{"fact": "Observation", "as": "probe", "weight": 0.6, "says": predictions.MATCH_SAYS,
                        "where": {"kind": "probe", "replied": False, "drop_kind": "policy"}, "predicted": "match"}]
    works, other = against
    assert works["where"] == {"kind": "probe", "replied": True} and works["weight"] == 0.85
    assert other["where"] == {"kind": "probe", "drop_kind": {"not_in": ["policy", "unknown"]}}
    assert other["weight"] == 0.6 and "not to the policy drop" in other["says"]


def test_compile_items_where_weights_says_and_spares_small():
    support, against = predictions.compile_items({
        "drop": ["route", "unknown"], "spares_small": True, "where": {"drop_chain": "FORWARD"},
        "says": "saw {{ probe.text }}", "weights": {"match": 0.3, "other_drop": 0.2}})
    assert support[0]["where"] == {"kind": "probe", "replied": False, "drop_kind": {"in": ["route", "unknown"]},
                                   "large": True, "drop_chain": "FORWARD"}
    assert support[0]["weight"] == 0.3 and support[0]["says"] == "saw {{ probe.text }}"
    works, other = against
    assert works["where"] == {"kind": "probe", "replied": True, "large": True} and works["weight"] == 0.85
    assert works["says"] == predictions.LARGE_PASSES_SAYS
    assert other["where"]["drop_kind"] == {"not_in": ["route", "unknown"]} and other["weight"] == 0.2


def test_the_rulebook_appends_the_items_once(tmp_path):
    book = book_with(tmp_path, "predicts: {drop: [policy], where: {drop_backend: $b}}\n")
    rule = book.rules[0]
    assert [item["predicted"] for item in rule.support + rule.against] == ["match", "path_works", "other_drop"]
    assert rule.support[0]["where"]["drop_backend"] == "$b"
    predictions.compile_into(rule)  # a second pass adds nothing
    assert len(rule.support) == 1 and len(rule.against) == 2
    assert "Observation" in book.fact_types()


def chain(backend="legacy"):
    return ("Chain", dict(backend=backend, table="filter", name="FORWARD", policy="DROP", policy_packets=3, rules=1,
                          builtin=True, calico_jump=True, accepts_calico_mark=False, blocks_before_calico=0,
                          first_block=None, block_packets=0, source="x:1", sources={}))


def probe(**values):
    fields = dict.fromkeys(FACT_TYPES["Observation"].fields)
    fields.update(kind="probe", seen_on=[], not_seen_on=[], source="calirules probe", sources={})
    fields.update(values)
    return ("Observation", fields)


@pytest.mark.parametrize("observation,kinds", [
    (probe(replied=False, drop_kind="policy", drop_backend="legacy"), ["main", "support"]),
    (probe(replied=False, drop_kind="policy", drop_backend="nft"), ["main"]),  # outside the where: $b is legacy
    (probe(replied=True, reached=True), ["main", "against"]),
    (probe(replied=False, drop_kind="route"), ["main", "against"]),
    (probe(replied=False, drop_kind="unknown"), ["main"]),  # an unknown drop contradicts nothing
    (probe(replied=None, drop_kind=None), ["main"]),  # a probe that saw nothing says nothing
    (("Observation", dict(probe()[1], kind="ping", result="ok", replied=True)), ["main"]),
])
def test_compiled_items_fire_on_the_probe_they_name(tmp_path, observation, kinds):
    book = book_with(tmp_path, "predicts: {drop: [policy], where: {drop_backend: $b}}\n")
    firings = run_engine(compile_engine(book), [chain(), observation])
    assert sorted(f.kind for f in firings) == sorted(kinds)


@pytest.mark.parametrize("predicts,message,line", [
    ("predicts: {drop: [polcy]}\n", "rules[0].predicts.drop[0]: expected one of 'rule', 'policy'", 9),
    ("predicts:\n  drop: [policy]\n  where: {drop_chian: FORWARD}\n", "predicts: Observation has no field 'drop_chian'", 11),
    ("predicts:\n  drop: [policy]\n  where: {drop_kind: route}\n", "`where` may not set 'drop_kind'", 11),
    ("predicts:\n  drop: [policy]\n  where: {drop_backend: $other}\n", "variable $other is not bound", 11),
    ("predicts:\n  drop: [policy]\n  where: {drop_chain: {regex: '(a+)+'}}\n", "repeats a group", 11),
    ("predicts:\n  drop: [policy]\n  bogus: 1\n", "rules[0].predicts.bogus: unknown field", 11),
])
def test_lint_rejects_a_bad_prediction_at_its_line(tmp_path, predicts, message, line):
    path = write(tmp_path, WHEN + predicts)
    problems = lint_rules([path])
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}:{line}:") and message in problems[0], problems[0]


def test_probe_is_the_observations_name(tmp_path):
    path = write(tmp_path, WHEN.replace("as: fwd", "as: probe") + "predicts: {drop: [policy]}\n")
    with pytest.raises(InputError, match="`probe` names the probe's observation"):
        load_rulebook([path], include_package=False)


def test_a_derive_rule_predicts_nothing(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent("""\
        apiVersion: calirules/rules/v1
        rules:
          - id: d
            derive: {fact: Dropping, fields: {b: $b}}
            when:
              - fact: Chain
                where: {backend: $b}
            predicts: {drop: [policy]}
        """))
    with pytest.raises(InputError, match="`predicts` belongs to a rule that names a `cause`") as caught:
        load_rulebook([path], include_package=False)
    assert f"{path}:8:" in str(caught.value)


def test_the_combiner_copies_every_probe_field():
    values = {"reached": True, "replied": False, "last_seen": "caliA", "last_seen_role": "dst-host",
              "drop_kind": "policy", "drop_backend": "nft", "drop_table": "filter", "drop_chain": "FORWARD",
              "drop_rule": None, "drop_packets": 3, "drop_detail": "FORWARD policy DROP (nft, table filter), +3 packets",
              "route_verdict": "198.18.8.3 from 198.18.8.2 dev caliB", "route_dev": "caliB", "route_error": None,
              "proto": "icmp", "size": 84, "large": False, "src_ip": "198.18.8.2", "dst_ip": "198.18.8.3",
              "src_iface": "caliA", "dst_iface": "caliB"}
    assert set(values) == set(PROBE_FIELDS)
    dump = {"node": {"hostname": "n"}, "observations": [
        dict(kind="probe", text="echo request seen on caliA, not on caliB", source="calirules probe", **values),
        {"kind": "ping", "text": "ping worked", "result": "ok", "source": "user"}]}
    facts = [fields for name, fields in build_facts(dump) if name == "Observation"]
    probe_fact, ping = facts
    assert {k: probe_fact[k] for k in values} == values
    assert all(ping[k] is None for k in PROBE_FIELDS) and ping["result"] == "ok"


def test_without_a_probe_the_engine_leaves_the_predicted_items_out(tmp_path):
    book = book_with(tmp_path, "predicts: {drop: [policy]}\n")
    compiled = compile_engine(book)
    full, light = compiled.engine_class(True), compiled.engine_class(False)
    rules_of = lambda cls: {name for name in vars(cls) if name.startswith("r0_")}  # noqa: E731
    assert rules_of(full) - rules_of(light) == {"r0_support0", "r0_against0", "r0_against1"}
    assert compiled.engine_class(False) is light  # built once
    ping = ("Observation", dict(probe()[1], kind="ping", result="ok"))
    assert [f.kind for f in run_engine(compiled, [chain(), ping])] == ["main"]
    assert sorted(f.kind for f in run_engine(compiled, [chain(), probe(replied=True)])) == ["against", "main"]
