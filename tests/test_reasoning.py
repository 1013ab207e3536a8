"""Expert reasoning: counter-evidence, causal links (root over mechanism), anomalies, verdict, --explain.

The examples are lab sosreports (examples/regenerate_reasoning.py): chains where a root cause and
its mechanism are both present, and red herrings where a healthy node carries a noisy signal.
"""

import copy
import functools
import json
import textwrap

import jsonschema_rs
import pytest

from tests.helpers import EXAMPLES, REPO, run_cli

REASONING = EXAMPLES / "reasoning"

# example -> (root cause ranked first, mechanisms it must list as "caused by" it); together they
# demonstrate every causal link of the catalog (test_every_catalog_link_has_a_chain_example).
CHAINS = {
    "chain-nm-route-missing": ("network-manager-interference", ["workload-route-missing"]),
    "chain-nm-veth-down": ("network-manager-interference", ["workload-veth-down"]),
    "chain-felix-down-endpoint": ("calico-node-not-ready", ["endpoint-not-programmed"]),
    "chain-felix-down-route-missing": ("calico-node-not-ready", ["workload-route-missing"]),
    "chain-felix-down-chains-missing": ("calico-node-not-ready", ["calico-chains-missing"]),
    "chain-stale-route-conflict": ("workload-route-conflict", ["endpoint-not-programmed", "proxy-arp-disabled"]),
    "chain-bird-cross-node": ("bgp-not-established", ["calico-node-not-ready"]),
    "chain-ipset-felix-down": ("ipset-incompatible", ["calico-node-not-ready"]),
    "chain-rpf-felix-down": ("rp-filter-loose", ["calico-node-not-ready"]),
    "chain-module-felix-down": ("kernel-module-missing", ["calico-node-not-ready"]),
    "chain-bpf-felix-down": ("bpf-dataplane-failed", ["calico-node-not-ready"]),
    "chain-kernel-bpf": ("kernel-unsupported", ["bpf-dataplane-failed"]),
    "chain-autodetect-bgp": ("node-ip-autodetect-wrong", ["bgp-not-established"]),
    "chain-split-firewall-reject": ("iptables-backend-mismatch", ["host-firewall-rejects"]),
    # examples/ (not reasoning/): the guide's plain sosreport and the lab's route-conflict example
    "../iptables-backend-mismatch-guide": ("iptables-backend-mismatch", ["forward-policy-drop", "calico-chains-missing"]),
    "../workload-route-conflict": ("workload-route-conflict", ["workload-veth-down"]),
    "../ip-forwarding-disabled-per-interface": ("ip-forwarding-disabled", ["proxy-arp-disabled"]),
}
# red herring -> (the cause whose rule must fire on the noisy signal, weakened below 0.5, or None
# where the signal must not fire a rule at all), and the causal links (root, mechanism) whose
# noisy signal it carries on a node where nothing is wrong.
HERRINGS = {
    "herring-bird-only-same-node": ("bgp-not-established", [("bgp-not-established", "calico-node-not-ready")]),
    "herring-old-rpf-fatal": ("rp-filter-loose", [("rp-filter-loose", "calico-node-not-ready")]),
    "herring-loose-rpf-running-felix": ("rp-filter-loose", [("rp-filter-loose", "calico-node-not-ready")]),
    "herring-other-backend-drop-ping-ok": ("iptables-backend-mismatch", [
        ("iptables-backend-mismatch", "forward-policy-drop"), ("iptables-backend-mismatch", "host-firewall-rejects")]),
    "herring-legacy-table-calico-nft": (None, [("iptables-backend-mismatch", "calico-chains-missing")]),
    "herring-old-ipset-error": ("ipset-incompatible", [("ipset-incompatible", "calico-node-not-ready")]),
    "herring-old-module-error": ("kernel-module-missing", [("kernel-module-missing", "calico-node-not-ready")]),
    "herring-old-bpf-error": ("bpf-dataplane-failed", [("bpf-dataplane-failed", "calico-node-not-ready")]),
    "herring-old-kernel-bpf": ("kernel-unsupported", [("kernel-unsupported", "bpf-dataplane-failed")]),
    "herring-old-autodetect": ("node-ip-autodetect-wrong", [("node-ip-autodetect-wrong", "bgp-not-established")]),
    "herring-startup-probe-failures": ("calico-node-not-ready", [
        ("calico-node-not-ready", "endpoint-not-programmed"), ("calico-node-not-ready", "workload-route-missing"),
        ("calico-node-not-ready", "calico-chains-missing")]),
    "herring-managers-keep-away": (None, [("network-manager-interference", "workload-route-missing"),
                                          ("network-manager-interference", "workload-veth-down")]),
    "herring-leftover-cali-veth": ("workload-veth-down", [
        ("workload-route-conflict", "workload-veth-down"), ("workload-route-conflict", "proxy-arp-disabled"),
        ("workload-route-conflict", "endpoint-not-programmed"), ("ip-forwarding-disabled", "proxy-arp-disabled")]),
}


def diagnose(path, *extra, fmt="json"):
    if not extra and fmt == "json":  # each example is diagnosed once per session; tests get a copy
        code, report, err = _diagnose_once(path)
        return code, copy.deepcopy(report), err
    code, out, err = run_cli("diagnose", "--facts", path, "--format", fmt, *extra)
    assert "Traceback" not in err
    return code, (json.loads(out) if fmt == "json" and out else out), err


@functools.cache
def _diagnose_once(path):
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "json")
    assert "Traceback" not in err
    return code, (json.loads(out) if out else out), err


def test_every_reasoning_example_is_tested():
    assert {p.stem for p in REASONING.glob("*.yaml")} == {n for n in CHAINS if "/" not in n} | set(HERRINGS)


def test_every_catalog_link_has_a_red_herring():
    from calirules.engine.rulebook import causal_links
    guarded = {link for _, links in HERRINGS.values() for link in links}
    missing = {(link.root, link.mechanism) for link in causal_links([])} - guarded
    assert not missing, f"causal links with no healthy example carrying their noisy signal: {missing}"


def test_every_catalog_link_has_a_chain_example():
    from calirules.engine.rulebook import causal_links
    shown = {(root, mechanism) for root, mechanisms in CHAINS.values() for mechanism in mechanisms}
    missing = {(link.root, link.mechanism) for link in causal_links([])} - shown
    assert not missing, f"causal links with no example where root and mechanism are both present: {missing}"


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_root_ranks_first_and_the_report_shows_the_chain(name):
    root, mechanisms = CHAINS[name]
    code, report, err = diagnose(REASONING / f"{name}.yaml")
    assert code == 1, err
    ids = [c["id"] for c in report["causes"]]
    assert ids[0] == root, ids
    by_id = {c["id"]: c for c in report["causes"]}
    for mechanism in mechanisms:
        assert root in by_id[mechanism]["caused_by"]
        assert ids.index(mechanism) > ids.index(root)
        assert mechanism in [link["cause"] for link in by_id[root]["leads_to"]]
    # The root explains the mechanisms' anomalies; the text shows the chain.
    explained = {a["id"] for a in report["anomalies"] if root in a["explained_by"]}
    assert {a["id"] for a in report["anomalies"] if a["cause"] in mechanisms} <= explained
    _, text, _ = diagnose(REASONING / f"{name}.yaml", fmt="text")
    for mechanism in mechanisms:
        assert f"How it breaks: {root} -> {mechanism}" in text


def test_a_mechanism_more_certain_than_its_root_still_ranks_below_it():
    _, report, _ = diagnose(REASONING / "chain-nm-route-missing.yaml")
    root, mechanism = report["causes"][0], report["causes"][1]
    assert mechanism["confidence"] > root["confidence"] and mechanism["caused_by"] == [root["id"]]


@pytest.mark.parametrize("name", sorted(HERRINGS))
def test_red_herring_finds_nothing(name):
    code, report, err = diagnose(REASONING / f"{name}.yaml")
    assert code == 0, (err, [(c["id"], c["confidence"]) for c in report["causes"]])
    assert report["verdict"] in ("healthy", "inconclusive")
    assert all(c["confidence"] < 0.5 for c in report["causes"])
    noisy, _ = HERRINGS[name]
    if noisy:  # the signal is there: its rule fired, and the report says why it counts less
        cause = next((c for c in report["causes"] if c["id"] == noisy), None)
        assert cause is not None, f"{noisy} did not fire: the example does not carry its signal"
        assert any(e.get("against") for e in cause["evidence"]) or not cause["explains_symptom"], cause


def test_counter_evidence_is_shown_with_its_weight():
    _, report, _ = diagnose(REASONING / "herring-loose-rpf-running-felix.yaml")
    rpf = next(c for c in report["causes"] if c["id"] == "rp-filter-loose")
    against = [e for e in rpf["evidence"] if e.get("against")]
    assert against and against[0]["weight"] == 0.85 and "Ready for 2h13m with 0 restarts" in against[0]["text"]
    assert against[0]["source"].startswith("sos_commands/kubernetes/")
    assert rpf["confidence"] == pytest.approx(0.75 * (1 - 0.85), abs=1e-4)  # c * prod(1 - w)


def test_bird_only_readiness_is_not_a_same_node_cause():
    _, report, _ = diagnose(REASONING / "herring-bird-only-same-node.yaml")
    ready = next(c for c in report["causes"] if c["id"] == "calico-node-not-ready")
    assert ready["confidence"] < 0.2 and any("BIRD alone" in e["text"] for e in ready["evidence"] if e.get("against"))


def test_reports_follow_the_published_schema():
    validator = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/report-v1.schema.json").read_text()))
    for path in sorted(REASONING.glob("*.yaml")):
        _, report, _ = diagnose(path)
        validator.validate(report)
        assert report["verdict"] in ("found", "healthy", "inconclusive")


# --- verdict ---------------------------------------------------------------------------------

def _diagnosis(dump):
    from calirules.engine.rulebook import load_rulebook
    from calirules.engine.runner import diagnose as run
    from calirules.facts_collectors.dump import normalise
    return run(normalise(dump), load_rulebook())


def test_verdict_healthy_and_inconclusive():
    from calirules.authoring.ruletests import base_dump
    assert _diagnosis(base_dump()).verdict == "healthy"
    unread = base_dump()
    unread.pop("netfilter")  # iptables not collected: a quiet report proves nothing
    assert _diagnosis(unread).verdict == "inconclusive"


def test_inconclusive_is_the_first_statement_of_the_text_report(tmp_path):
    import yaml
    dump = yaml.safe_load((EXAMPLES / "healthy.yaml").read_text())
    dump.pop("netfilter")
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump(dump))
    code, text, _ = diagnose(path, fmt="text")
    assert code == 0 and text.splitlines()[1].startswith("Verdict: inconclusive")


# --- --explain -------------------------------------------------------------------------------

def test_explain_shows_the_arithmetic_of_a_weakened_cause():
    code, text, _ = diagnose(REASONING / "herring-loose-rpf-running-felix.yaml", "--explain", "rp-filter-loose",
                             fmt="text")
    assert code == 0
    assert "rule rp-filter-loose-old-felix (constant 0.75): fired" in text
    assert "x (1 - 0.85) against: calico-node is Ready for 2h13m with 0 restarts" in text
    assert "= 0.1125" in text
    assert "rule rp-filter-loose-fatal (constant 0.95): did not match" in text


def test_explain_says_why_not_with_the_failing_field_and_its_source():
    code, doc, _ = diagnose(EXAMPLES / "healthy.yaml", "--explain", "ip-forwarding-disabled")
    assert code == 0 and doc["found"] is False and doc["confidence"] == 0.0
    rule = next(r for r in doc["rules"] if r["rule"] == "ip-forwarding-disabled-global")
    assert rule["status"] == "did not match"
    closest = rule["patterns"][0]["closest"]
    assert closest["failed"][0]["field"] == "value" and closest["failed"][0]["value"] == "1"
    assert closest["source"].startswith("proc/sys/net/ipv4/") or "sysctl" in closest["source"]


def test_explain_names_missing_sections_and_links():
    _, doc, _ = diagnose(REASONING / "chain-nm-route-missing.yaml", "--explain", "workload-route-missing")
    assert doc["links"]["caused_by"][0]["root"] == "network-manager-interference"
    assert doc["combination"]["noisy_or"] == doc["rules"][0]["confidence"]
    _, doc, _ = diagnose(EXAMPLES / "healthy.yaml", "--explain", "calico-node-not-ready")
    assert any(r["status"] == "not evaluated" and "components" in r["missing_sections"] for r in doc["rules"])


@pytest.mark.parametrize("args,message", [(("--explain", "no-such-cause"), "unknown cause"),
                                          (("--explain", "rp-filter-loose", "--format", "html"), "text or json")])
def test_explain_bad_usage_is_exit_2(args, message):
    code, out, err = run_cli("diagnose", "--facts", EXAMPLES / "healthy.yaml", *args)
    assert code == 2 and message in err and out == ""


# --- lint: links and counter-evidence are checked -------------------------------------------

RULE = """\
apiVersion: calirules/rules/v1
rules:
  - id: my-rule
    cause: proxy-arp-disabled
    confidence: 0.8
    when:
      - fact: WorkloadPlumbing
        as: w
        where: {{proxy_arp: "0"}}
{extra}
    remediation: proxy-arp-disabled.j2
    tests:
      - {{name: fires, expect: fire, facts: {{sysctls: [{{key: net.ipv4.conf.calif0e1d2c3b4a.proxy_arp, value: "0", source: user}}]}}}}
      - {{name: quiet, expect: no-fire, facts: {{}}}}
"""


def lint(tmp_path, extra):
    path = tmp_path / "rule.yaml"
    path.write_text(RULE.format(extra=textwrap.indent(textwrap.dedent(extra), "    ")))
    return run_cli("rules", "lint", path)


@pytest.mark.parametrize("extra,message", [
    ("leads_to: [{cause: no-such-cause, scope: node}]", "unknown cause 'no-such-cause'"),
    # the catalog says workload-route-conflict -> proxy-arp-disabled; this closes the loop
    ("leads_to: [{cause: workload-route-conflict, scope: interface}]", "cycle"),
    ("leads_to: [{cause: proxy-arp-disabled, scope: node}]", "cycle"),
    ("against: [{fact: NoSuchFact, weight: 0.5, says: x}]", "unknown fact type 'NoSuchFact'"),
    ("against: [{fact: Component, where: {uptime: 5}, weight: 0.5, says: x}]", "Component has no field 'uptime'"),
    ("against: [{of: nobody, where: {mtu: 1500}, weight: 0.5, says: x}]", "names no `when` pattern"),
    ("against: [{of: w, where: {no_field: 1}, weight: 0.5, says: x}]", "WorkloadPlumbing has no field 'no_field'"),
    ("against: [{fact: Component, weight: 1, says: x}]", "weight"),
    # a binding named like a template context key would hide it from the remediation
    ("against: [{fact: Component, as: calico, weight: 0.5, says: x}]", "would hide the template context's 'calico'"),
    ("support: [{fact: Interface, where: {name: $install}, weight: 0.5, says: x}]", "would hide the template context's 'install'"),
])
def test_lint_rejects_bad_links_and_counter_evidence(tmp_path, extra, message):
    code, out, err = lint(tmp_path, extra)
    assert code == 2 and message in err, err


def test_lint_accepts_good_links_and_counter_evidence(tmp_path):
    extra = """\
    leads_to: [{cause: workload-route-missing, scope: interface, says: a link of our own}]
    against:
      - {of: w, where: {oper_up: false}, weight: 0.5, says: "{{ w.iface }} is down anyway"}
      - {fact: Component, as: c, where: {name: calico-node, ready: true}, weight: 0.2, says: "ready"}
    """
    code, out, err = lint(tmp_path, extra)
    assert code == 0, err


def test_catalog_links_form_no_cycle_and_name_known_causes():
    from calirules.engine.rulebook import catalog, causal_links, check_links
    links = causal_links([])
    assert len(links) >= 15
    check_links(links, catalog())


def test_of_narrows_the_bound_fact(tmp_path):
    """`of: w` adds conditions to the fact `w` itself, not to any other fact of its type."""
    from calirules.engine.rulebook import load_rulebook
    from calirules.engine.runner import diagnose as run
    from calirules.facts_collectors.dump import normalise

    from calirules.authoring.ruletests import dump_for_test
    rule = tmp_path / "rules" / "r.yaml"
    rule.parent.mkdir()
    rule.write_text(RULE.format(extra=textwrap.indent(
        "against: [{of: w, where: {forwarding: \"1\"}, weight: 0.5, says: forwarding is on}]", "    ")))
    book = load_rulebook([rule.parent])
    dump = dump_for_test({"facts": {"sysctls": [
        {"key": "net.ipv4.conf.calif0e1d2c3b4a.proxy_arp", "value": "0", "source": "user"}]}})
    found = next(f for f in run(normalise(dump), book).findings if f.cause.id == "proxy-arp-disabled")
    mine = next(r for r in found.results if r.rule.id == "my-rule")
    assert mine.confidence == pytest.approx(0.4)  # calif0e1d2c3b4a forwards: 0.8 * (1 - 0.5)
    dump["sysctls"] = [s for s in dump["sysctls"] if s["key"] != "net.ipv4.conf.calif0e1d2c3b4a.forwarding"]
    found = next(f for f in run(normalise(dump), book).findings if f.cause.id == "proxy-arp-disabled")
    assert next(r for r in found.results if r.rule.id == "my-rule").confidence == pytest.approx(0.8)


def _firing(**fields):
    from calirules.engine.compiler import Firing
    return Firing("r", "main", (), facts={"x": fields})


@pytest.mark.parametrize("scope,root,mechanism,covered", [
    ("interface", {"message": "device (cali83dbd022cd5): state change"}, {"iface": "cali83dbd022cd5"}, True),
    ("interface", {"message": "device (cali83dbd022cd5): state change"}, {"iface": "calif0e1d2c3b4a"}, False),
    ("interface", {"message": "NetworkManager started"}, {"iface": "calif0e1d2c3b4a"}, True),  # node-wide root
    ("interface", {"misrouted": ["198.18.8.11 dev cali0d4884f7488"]}, {"iface": "cali0d4884f7488"}, True),
    ("interface", {"message": "calico-node is not ready; cali-FORWARD"}, {"iface": "cali0d4884f7488"}, True),
    ("backend", {"backend": "nft"}, {"backend": "nft"}, True),
    ("backend", {"backend": "nft"}, {"backend": "legacy"}, False),
    ("node", {"backend": "nft"}, {"iface": "cali0d4884f7488"}, True),
])
def test_link_scope_decides_what_a_root_covers(scope, root, mechanism, covered):
    from calirules.engine.ranking import _covered, covers
    from calirules.engine.rulebook import Link
    link = Link("a", "b", scope)
    root_firing, mechanism_firing = _firing(**root), _firing(**mechanism)
    assert covers(link, root_firing, mechanism_firing) is covered
    assert bool(_covered(link, [root_firing], [mechanism_firing])) is covered


def test_rule_tests_require_every_against_pattern_shown_at_work(tmp_path):
    """`rules test` fails a rule whose counter-evidence no red-herring test exercises."""
    path = tmp_path / "rule.yaml"
    path.write_text(RULE.format(extra=textwrap.indent(textwrap.dedent("""\
    against:
      - {fact: Component, as: c, where: {name: calico-node, ready: true}, weight: 0.7, says: "calico-node is Ready"}
    """), "    ")))
    code, out, err = run_cli("rules", "test", path)
    assert code != 0 and "against[0] is shown at work" in out + err
    herring = ('      - {name: ready node, expect: fire, confidence: {lt: 0.5}, facts: {sysctls: [{key: '
               'net.ipv4.conf.calif0e1d2c3b4a.proxy_arp, value: "0", source: user}], components: [{name: calico-node, '
               'ready: true, status: Running, restarts: 0, source: user}]}}\n')
    path.write_text(path.read_text() + herring)
    code, out, err = run_cli("rules", "test", path)
    assert code == 0, out + err


def test_a_legacy_backend_without_a_filter_table_is_known_to_filter_nothing():
    """/proc/net/ip_tables_names listing only nat (a stray legacy table on an nft node, from the lab)
    proves the legacy filter table does not exist: the backend counts as read and empty, so the
    verdict is healthy, not inconclusive for want of iptables-legacy-save."""
    import yaml
    dump = yaml.safe_load((REASONING / "herring-legacy-table-calico-nft.yaml").read_text())
    legacy = next(b for b in dump["netfilter"] if b["backend"] == "legacy")
    assert legacy["tables"] == [] and "no legacy filter table" in legacy["warnings"][0]
    assert [t["table"] for t in dump["legacy_tables"]] == ["nat"]
    _, report, _ = diagnose(REASONING / "herring-legacy-table-calico-nft.yaml")
    assert report["verdict"] == "healthy"
