"""Every shipped rule: lint-clean, with a positive and a negative test (inline or in its rule file's
.test.yaml) that pass."""

import pytest
from calirules.engine.rulebook import load_rulebook

from calirules.authoring.lint import check_remediation, lint
from calirules.authoring.ruletests import run_rule_tests

BOOK = load_rulebook()

@pytest.fixture(scope="module")
def shipped_lint():
    return lint()


@pytest.mark.slow  # the command check of every template in every cell of the matrix
def test_shipped_rules_lint_clean(shipped_lint):
    problems, _failures = shipped_lint
    assert problems == []


@pytest.mark.slow
def test_shipped_templates_pass_the_command_check_in_every_cell(shipped_lint):
    """Every `$ ` line of every shipped remediation, in every Calico version and install method of the
    matrix, runs as printed (the review's kubectl logs -A, calicoctl -A before v3.18, ...: none left)."""
    _problems, failures = shipped_lint
    assert [(f.template, f.version, f.method, f.command, f.reason) for f in failures] == []


@pytest.mark.parametrize("rule", BOOK.rules, ids=lambda r: r.id)
def test_rule_has_positive_and_negative_tests(rule):
    assert {t["expect"] for t in rule.tests} == {"fire", "no-fire"}


@pytest.mark.parametrize("result", run_rule_tests(BOOK), ids=lambda r: f"{r.rule.id}: {r.test['name']}")
def test_rule_test(result):
    assert result.passed, result.describe()


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
    from calirules.engine.vocabulary import FACT_TYPES

    from tests.helpers import REPO
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


def test_disruptive_commands_need_a_warning_first():
    from calirules.authoring.lint import check_warnings
    bare = "Commands:\n  $ kubectl rollout restart daemonset calico-node -n kube-system\n"
    assert check_warnings(bare) and "every node" in check_warnings(bare)[0]
    warned = "Commands:\n  Warning: restarts calico-node on every node.\n  $ kubectl rollout restart daemonset calico-node -n kube-system\n"
    assert check_warnings(warned) == []
    late = "Commands:\n  $ sudo systemctl disable --now firewalld\n  Warning: too late\n"
    assert check_warnings(late)
    assert check_warnings("Commands:\n  $ kubectl get pods -n kube-system\n") == []
