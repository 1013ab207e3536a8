"""Every shipped rule: lint-clean, with a positive and a negative inline test that pass."""

from collections import defaultdict

import pytest

from calirules.engine.rulebook import load_rulebook
from calirules.lint import check_remediation, describe_cells, lint
from calirules.remediation_matrix import CALICO_VERSIONS, INSTALL_METHODS
from calirules.ruletests import run_rule_tests

BOOK = load_rulebook()
CELL_ORDER = [(v, m) for v in CALICO_VERSIONS for m in INSTALL_METHODS]

_LOGS_200 = "kubectl logs -A -l k8s-app=calico-node -c calico-node --tail=200"
_LOGS_A = "kubectl logs: no flag -A (KUBECTL pkg/cmd/logs/logs.go AddFlags (review #1))"
_CALICOCTL_A = ("calicoctl get: flag -A is only in Calico v3.18 and later (CALICOCTL@v3.18.0 calicoctl/commands/get.go "
                "`-A --all-namespaces`; `-a` @v3.17.0 (review #4))")
_IPAM_CHECK = ("calicoctl ipam check: this subcommand is only in Calico v3.18 and later (CALICOCTL@v3.18.0 "
               "calicoctl/commands/ipam/check.go (no such file @v3.17.0; review #4))")
_PLACEHOLDER = "placeholder {}: a shell reads < and > as redirections; print the value, or describe it in prose"
_EVERY_CELL = "every Calico version; every install method"
_BEFORE_3_18 = "Calico v3.11.3, v3.17.0; every install method"

# TO BE EMPTIED BY THE TEMPLATE REWRITE (issue 8, in main): what `rules lint` rejects in the shipped
# templates today, as (template, command, reason) -> the cells of the remediation matrix it fails in.
# Fixing a template removes its entries here; a new failure is a regression.
KNOWN_TEMPLATE_FAILURES = {
    ("bpf-dataplane-failed.j2", _LOGS_200, _LOGS_A): _EVERY_CELL,
    ("calico-chains-missing.j2",
     "kubectl describe pods -A -l k8s-app=calico-node --field-selector spec.nodeName=test-node",
     ("kubectl describe: no flag --field-selector (KUBECTL pkg/cmd/describe/describe.go "
      "(-f, -R, -k, -l, -A, --show-events; review #2))")): _EVERY_CELL,
    ("calico-chains-missing.j2", _LOGS_200, _LOGS_A): _EVERY_CELL,
    ("conntrack-invalid-drop.j2", "ip route get <peer address>", _PLACEHOLDER.format("<peer address>")): _EVERY_CELL,
    ("duplicate-pod-ip.j2", "calicoctl get workloadendpoints -A -o wide", _CALICOCTL_A): _BEFORE_3_18,
    ("duplicate-pod-ip.j2", "calicoctl ipam check", _IPAM_CHECK): _BEFORE_3_18,
    ("duplicate-pod-ip.j2", "calicoctl ipam check --show-problem-ips", _IPAM_CHECK): _BEFORE_3_18,
    ("endpoint-not-programmed.j2", "calicoctl get workloadendpoints -A -o wide", _CALICOCTL_A): _BEFORE_3_18,
    ("endpoint-not-programmed.j2", _LOGS_200, _LOGS_A): _EVERY_CELL,
    ("ipset-incompatible.j2", _LOGS_200, _LOGS_A): _EVERY_CELL,
    ("kernel-unsupported.j2", "kubectl logs -A -l k8s-app=calico-node -c calico-node --tail=100", _LOGS_A): _EVERY_CELL,
    ("policy-denies.j2", "calicoctl get networkpolicy -A -o wide", _CALICOCTL_A): _BEFORE_3_18,
    ("policy-routing-override.j2", "ip route get <a pod IP on this node>",
     _PLACEHOLDER.format("<a pod IP on this node>")): _EVERY_CELL,
    ("workload-route-conflict.j2", "calicoctl ipam check", _IPAM_CHECK): _BEFORE_3_18,
}


@pytest.fixture(scope="module")
def shipped_lint():
    return lint()


def test_shipped_rules_lint_clean(shipped_lint):
    problems, _failures = shipped_lint
    assert problems == []


def test_shipped_templates_fail_lint_exactly_as_known(shipped_lint):
    _problems, failures = shipped_lint
    cells = defaultdict(list)
    for failure in failures:
        cells[(failure.template, failure.command, failure.reason)].append((failure.version, failure.method))
    found = {key: describe_cells(sorted(set(value), key=CELL_ORDER.index)) for key, value in cells.items()}
    assert found == KNOWN_TEMPLATE_FAILURES


@pytest.mark.parametrize("rule", BOOK.rules, ids=lambda r: r.id)
def test_rule_has_positive_and_negative_tests(rule):
    assert {t["expect"] for t in rule.tests} == {"fire", "no-fire"}


@pytest.mark.parametrize("result", run_rule_tests(BOOK), ids=lambda r: f"{r.rule.id}: {r.test['name']}")
def test_inline_rule_test(result):
    assert result.passed, f"expected {result.test['expect']}, {result.detail}"


def test_every_rule_names_a_catalog_cause():
    from calirules.engine.rulebook import catalog
    assert all(r.cause in catalog() for r in BOOK.rules if r.cause)


def test_remediation_check_catches_made_up_commands():
    text = "What to change:\n x\nCommands:\n  $ iptables-restart\nMake it persistent:\n x\nVerify:\n x\n"
    assert check_remediation(text) == [
        "$ iptables-restart: unknown command 'iptables-restart' (not in engine/data/cli-flags.yaml)"]


def test_remediation_check_wants_all_parts():
    assert any("Verify" in p for p in check_remediation("What to change:\nCommands:\nMake it persistent:\n"))


def test_rule_authors_guide_lists_every_fact_type_and_field():
    from calirules.engine.facts import FACT_TYPES
    from helpers import REPO
    guide = (REPO / "docs" / "writing-rules.md").read_text()
    for spec in FACT_TYPES.values():
        row = next((line for line in guide.splitlines() if line.startswith(f"| `{spec.name}` |")), None)
        assert row is not None, f"{spec.name} missing from docs/writing-rules.md"
        assert all(f"`{field}`" in row for field in spec.fields), f"{spec.name} fields out of date"


def test_log_events_named_by_rules_are_ones_collectors_can_produce():
    from calirules.facts_collectors.parsers.logs import signatures
    produced = {s.event for s in signatures()}
    named = set()
    for rule in BOOK.rules:
        for pattern in rule.when + rule.unless + rule.support:
            if pattern["fact"] == "LogEvent":
                event = (pattern.get("where") or {}).get("event")
                named |= set(event["in"]) if isinstance(event, dict) else {event}
    assert named and named <= produced, named - produced
