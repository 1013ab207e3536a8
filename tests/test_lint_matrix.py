"""`rules lint` renders remediation in every cell of the matrix (Calico versions x install methods) and
checks its commands: for the shipped rules (tests/test_rules.py) and for a rule author's own."""

import textwrap

import pytest
from calirules.engine import compiler, platform
from calirules.engine.rulebook import load_rulebook
from calirules.facts_collectors.dump import normalise

from calirules.authoring.remediation_matrix import (
    CALICO_VERSIONS,
    INSTALL_METHODS,
    cell_dump,
    renderings,
    reusable_engine,
)
from calirules.authoring.ruletests import dump_for_test
from tests.helpers import run_cli

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
    remediation: my-fix.j2
    tests:
      - {name: fires, expect: fire, facts: {sysctls: [{key: net.ipv4.conf.calif0e1d2c3b4a.proxy_arp, value: "0", source: user}]}}
      - {name: quiet, expect: no-fire, facts: {}}
"""

PARTS = "What to change:\n  x\nCommands:\n{commands}\nMake it persistent:\n  x\nVerify:\n  x\n"


def rules_dir(tmp_path, commands):
    (tmp_path / "rule.yaml").write_text(RULE)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "my-fix.j2").write_text(PARTS.format(commands=textwrap.dedent(commands)))
    return tmp_path


def test_an_authors_template_with_good_commands_passes(tmp_path):
    commands = """\
      $ sysctl -w net.ipv4.conf.{{ w.iface }}.proxy_arp=1
      $ calicoctl get workloadendpoints --all-namespaces -o wide | grep {{ w.iface }}
    {% if install.namespace %}
      $ kubectl get pods -n {{ install.namespace }} -l k8s-app=calico-node -o wide
    {% endif %}
    """
    code, out, err = run_cli("rules", "lint", rules_dir(tmp_path, commands))
    assert (code, out.strip(), err) == (0, "rules ok", "")


def test_an_authors_template_is_checked_in_every_cell(tmp_path):
    commands = """\
      $ kubectl logs -A -l k8s-app=calico-node -c calico-node
    {% if calico.version is not none and install.method == 'manifest' %}
      $ calicoctl get wep -A -o wide
    {% endif %}
    """
    code, out, err = run_cli("rules", "lint", rules_dir(tmp_path, commands))
    assert code == 2 and out == ""
    calicoctl, kubectl = err.splitlines()  # one line per problem, with the cells it occurs in
    assert "rule.yaml:3: rule my-rule: my-fix.j2 [every Calico version; every install method]: " \
           "$ kubectl logs -A -l k8s-app=calico-node -c calico-node: kubectl logs: no flag -A (KUBECTL" in kubectl
    assert "my-fix.j2 [Calico v3.11.3, v3.17.0; manifest install]: $ calicoctl get wep -A -o wide: " \
           "calicoctl get: flag -A is only in Calico v3.18 and later" in calicoctl


def test_a_template_that_fails_to_render_in_a_cell_is_an_error(tmp_path):
    commands = "  $ kubectl get pods -n {{ install.namespace.upper() }}\n"
    code, _out, err = run_cli("rules", "lint", rules_dir(tmp_path, commands))
    assert code == 2
    assert "my-fix.j2 [every Calico version; unknown install]: does not render: template error in my-fix.j2" in err


def test_cells_lay_the_version_and_install_method_over_the_test():
    test = {"name": "t", "expect": "fire", "facts": {}}
    base = dump_for_test(test)
    seen = {}
    for method, namespace in INSTALL_METHODS.items():
        dump = normalise(cell_dump(base, "v3.17.0", method, namespace))
        install = platform.describe(dump)
        seen[method] = (install["method"], install["namespace"], install["pod"])
        assert [v["version"] for v in dump["versions"] if v["component"] == "calico"] == ["v3.17.0"]
    assert seen == {"operator": ("operator", "calico-system", "calico-node-abcde"),
                    "manifest": ("manifest", "kube-system", "calico-node-abcde"),
                    "unknown": (None, None, None)}
    assert base["versions"][0]["version"] == "v3.26.4"  # the test's own dump is left alone


# A rule using no cell fact; one whose `against` uses Component (calico-node Ready); one whose `when`
# uses Version (diagnosed per cell: it fires before v3.12 only).
@pytest.mark.parametrize("rule_id", ["proxy-arp-disabled", "bpf-dataplane-failed", "rp-filter-loose-old-felix"])
def test_diagnosing_once_renders_what_diagnosing_every_cell_renders(rule_id):
    """Rules whose `when`/`unless` use no versions/components fact are diagnosed once per test."""
    book = load_rulebook()
    engine = reusable_engine(compiler.compile_engine(book))
    rule = next(r for r in book.rules if r.id == rule_id)
    fast, full = renderings(rule, book, engine), renderings(rule, book, engine, every_cell=True)
    assert fast == full and len({(r.version, r.method) for r in fast}) > 1


def test_the_matrix_is_the_one_remediation_must_support():
    assert CALICO_VERSIONS == ("v3.11.3", "v3.17.0", "v3.22.0", "v3.26.0", "v3.29.0", "v3.32.0")
    assert list(INSTALL_METHODS) == ["operator", "manifest", "unknown"]
