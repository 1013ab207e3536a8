"""Every example ranks its own cause first; the healthy node finds nothing."""

import copy
import functools
import json
import re

import pytest

from tests.helpers import EXAMPLES, REPO, run_cli, run_cli_process

CAUSE_EXAMPLES = sorted(p for p in EXAMPLES.glob("*.yaml") if p.stem != "healthy")


def cause_of(path):
    """examples/<cause-id>[-variant].yaml -> cause id (the longest catalog id that prefixes the name)."""
    from calirules.engine.rulebook import catalog
    return max((c for c in catalog() if path.stem == c or path.stem.startswith(c + "-")), key=len)


def diagnose_json(path, *extra):
    if not extra:  # each example is diagnosed once per session; tests get their own copy
        code, report, err = _diagnose_once(path)
        return code, copy.deepcopy(report), err
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "json", *extra)
    return code, json.loads(out) if out else None, err


@functools.cache
def _diagnose_once(path):
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "json")
    return code, json.loads(out) if out else None, err


def test_there_is_an_example_per_implemented_cause():
    from calirules.engine.rulebook import load_rulebook
    causes = {r.cause for r in load_rulebook().rules if r.cause}
    assert causes <= {cause_of(p) for p in CAUSE_EXAMPLES}


@pytest.mark.parametrize("path", CAUSE_EXAMPLES, ids=lambda p: p.stem)
def test_example_ranks_its_cause_first(path):
    code, report, err = diagnose_json(path)
    assert code == 1, err
    assert report["schema"] == "calirules/report/v1"
    first = report["causes"][0]
    assert first["id"] == cause_of(path)
    assert first["confidence"] >= 0.5 and first["found"]
    assert first["evidence"] and all(e["source"] for e in first["evidence"] if not e.get("missing"))
    assert "Commands:" in first["remediation"]


def test_every_json_report_follows_the_published_schema():
    import jsonschema_rs
    validator = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/report-v1.schema.json").read_text()))
    for path in sorted(EXAMPLES.glob("*.yaml")):
        _, report, err = diagnose_json(path)
        validator.validate(report)


def test_the_installed_cli_finds_the_guides_cause_as_a_process():
    """The README's set-up command, as a user runs it: a fresh process, exit 1, the cause printed."""
    code, out, err = run_cli_process("diagnose", "--facts", EXAMPLES / "version-skew.yaml")
    assert code == 1, err
    assert "1. version-skew" in out and "Traceback" not in err


def test_healthy_node_has_no_likely_cause():
    code, report, err = diagnose_json(EXAMPLES / "healthy.yaml")
    assert code == 0, err
    assert all(c["confidence"] < 0.5 for c in report["causes"])


def test_guides_case_reports_version_skew_with_matrix_evidence():
    code, report, _ = diagnose_json(EXAMPLES / "version-skew.yaml")
    skew = next(c for c in report["causes"] if c["id"] == "version-skew")
    texts = " ".join(e["text"] for e in skew["evidence"])
    assert "v3.11.3" in texts and "v1.19.16" in texts
    assert "1.14, 1.15, 1.16" in texts  # the tested list from the matrix
    assert "requirements.md" in texts  # and where the matrix says so


def load(name):
    import yaml
    # libyaml's loader where present: these dumps are large, and PyYAML's pure-Python one is slow
    return yaml.load((EXAMPLES / name).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def test_remediation_names_this_nodes_interfaces():
    off = [s["key"] for s in load("proxy-arp-disabled.yaml")["sysctls"]
           if s["key"].endswith(".proxy_arp") and s["value"] == "0" and ".cali" in s["key"]]
    assert len(off) == 1
    _, report, _ = diagnose_json(EXAMPLES / "proxy-arp-disabled.yaml")
    assert f"sysctl -w {off[0]}=1" in report["causes"][0]["remediation"]


def test_evidence_points_at_file_and_line():
    dump = load("ip-forwarding-disabled.yaml")
    expected = next(s["source"] for s in dump["sysctls"] if s["key"] == "net.ipv4.ip_forward")
    _, report, _ = diagnose_json(EXAMPLES / "ip-forwarding-disabled.yaml")
    evidence = next(e for e in report["causes"][0]["evidence"] if e["fact"] == "Sysctl.value")
    assert evidence["source"] == expected and re.fullmatch(r"sos_commands/kernel/sysctl_-a:\d+", expected)


def test_symptom_that_a_cause_cannot_produce_ranks_it_lower():
    # proxy-arp-disabled can produce same-node but not cross-node failures per the catalog.
    _, same, _ = diagnose_json(EXAMPLES / "proxy-arp-disabled.yaml")
    _, cross, _ = diagnose_json(EXAMPLES / "proxy-arp-disabled.yaml", "--symptom", "cross-node")
    assert same["causes"][0]["explains_symptom"] is True
    assert cross["causes"][0]["explains_symptom"] is False
    assert cross["causes"][0]["confidence"] < same["causes"][0]["confidence"]


@pytest.mark.parametrize("fmt,marker", [("text", "1. workload-veth-down"), ("markdown", "## 1. `workload-veth-down`"),
                                        ("html", "<h2>1. workload-veth-down")])
def test_other_formats_render(fmt, marker):
    code, out, err = run_cli("diagnose", "--facts", EXAMPLES / "workload-veth-down.yaml", "--format", fmt)
    assert code == 1, err
    assert marker in out


def test_output_file_is_written_and_stdout_stays_empty(tmp_path):
    # a real process: nothing at all on either stream, not even a warning at start-up
    target = tmp_path / "report.json"
    code, out, err = run_cli_process("diagnose", "--facts", EXAMPLES / "healthy.yaml", "--format", "json", "-o", target)
    assert code == 0 and out == "" and err == ""
    assert json.loads(target.read_text())["node"] == load("healthy.yaml")["node"]["hostname"]


def test_every_evidence_item_says_observed_or_inferred():
    for path in CAUSE_EXAMPLES:
        _, report, _ = diagnose_json(path)
        for cause in report["causes"]:
            assert {e.get("basis") for e in cause["evidence"]} <= {"observed", "inferred"}, (path, cause["id"])
            assert all("basis" in e for e in cause["evidence"]), (path, cause["id"])


def test_inferred_evidence_is_labelled_in_every_format(tmp_path):
    """A rule may mark an evidence item `basis: inferred`; the report keeps it and says so."""
    import yaml
    doc = yaml.safe_load((REPO / "rules/ip-forwarding-disabled.yaml").read_text())
    rule = doc["rules"][0]
    rule["id"] = "ip-forwarding-disabled-inferred-copy"
    rule["evidence"] = [dict(item, basis="inferred") for item in rule["evidence"]]
    doc["rules"] = [rule]
    (tmp_path / "copy.yaml").write_text(yaml.safe_dump(doc))
    _, report, err = diagnose_json(EXAMPLES / "ip-forwarding-disabled.yaml", "--rules-dir", tmp_path)
    firing = [e for c in report["causes"] for e in c["evidence"] if e.get("rule") == rule["id"]]
    assert firing and all(e["basis"] == "inferred" for e in firing), err
    others = [e for c in report["causes"] for e in c["evidence"] if e.get("rule") != rule["id"]]
    assert others and all(e["basis"] == "observed" for e in others)
    for fmt, label in (("text", "(inferred) "), ("markdown", "*(inferred)* "), ("html", "<em>(inferred)</em> ")):
        code, out, err = run_cli("diagnose", "--facts", EXAMPLES / "ip-forwarding-disabled.yaml",
                                 "--rules-dir", tmp_path, "--format", fmt)
        assert code == 1 and label in out, (fmt, err)


# --- the source guide's case (lab/guide.py; examples/regenerate.py writes both dumps) ---------

GUIDE_PLAIN = EXAMPLES / "iptables-backend-mismatch-guide.yaml"
GUIDE_EXTRAS = EXAMPLES / "iptables-backend-mismatch-guide-extras.yaml"


def causes_by_id(report):
    return {c["id"]: c for c in report["causes"]}


def test_guide_case_plain_sosreport_finds_the_skew_and_an_inferred_backend_split():
    code, report, err = diagnose_json(GUIDE_PLAIN)
    assert code == 1, err
    found = {c["id"] for c in report["causes"] if c["found"]}
    assert {"version-skew", "iptables-backend-mismatch"} <= found
    mismatch = causes_by_id(report)["iptables-backend-mismatch"]
    assert mismatch["rules"] == ["iptables-backend-mismatch-inferred"]
    assert 0.5 <= mismatch["confidence"] < 0.9  # inferred: below the observed rule's 0.9
    signs = [e for e in mismatch["evidence"] if e["rule"] == "iptables-backend-mismatch-inferred"
             and not e.get("supporting")]
    assert signs and all(e["basis"] == "inferred" for e in signs)
    sources = {e["fact"]: e["source"] for e in signs}
    assert re.fullmatch(r"sos_commands/firewall_tables/iptables_-vnxL:\d+", sources["IptablesBackends.legacy_warning"])
    assert sources["IptablesBackends.legacy_tables"] == "proc/net/ip_tables_names:1"
    assert "iptables-legacy-save -c | grep -c cali-" in mismatch["remediation"]
    assert "calirules sos-extras" in mismatch["remediation"]
    # The split stays what a plain sosreport cannot show: the observed rule must not fire.
    assert "iptables-backend-mismatch-forward-drop" not in mismatch["rules"]


def test_guide_case_with_sos_extras_observes_the_split():
    code, report, err = diagnose_json(GUIDE_EXTRAS)
    assert code == 1, err
    causes = causes_by_id(report)
    assert causes["version-skew"]["found"]
    mismatch = causes["iptables-backend-mismatch"]
    assert mismatch["found"] and mismatch["rule"] == "iptables-backend-mismatch-forward-drop"
    assert "iptables-backend-mismatch-inferred" not in mismatch["rules"]
    assert mismatch["confidence"] >= 0.9
    assert all(e["basis"] == "observed" for e in mismatch["evidence"])


def test_guide_case_carries_the_guides_facts():
    for path in (GUIDE_PLAIN, GUIDE_EXTRAS):
        dump = load(path.name)
        versions = {v["component"]: v["version"] for v in dump["versions"]}
        assert versions["calico"] == "v3.11.3" and versions["kubernetes"] == "v1.19.16"
        assert versions["kubelet"] == "v1.19.16"
        assert dump["node"]["os"].startswith("Ubuntu 22.04")
        assert {"key": "net.ipv4.conf.all.rp_filter", "value": "2"}.items() <= next(
            s for s in dump["sysctls"] if s["key"] == "net.ipv4.conf.all.rp_filter").items()
        node = next(c for c in dump["components"] if c["name"] == "calico-node")
        assert (node["ready"], node["status"], node["restarts"], node["age"], node["age_seconds"]) == \
            (True, "Running", 0, "2h13m", 7980)
        assert "last_restart_seconds" not in node
        calico_chains = {b["backend"]: sum(c["name"].startswith("cali-") for t in b["tables"] for c in t["chains"])
                         for b in dump["netfilter"]}
        assert calico_chains["nft"] == 0
    assert "legacy" not in {b["backend"] for b in load(GUIDE_PLAIN.name)["netfilter"]}
    extras = load(GUIDE_EXTRAS.name)
    assert next(v for v in extras["versions"] if v["component"] == "iptables")["detail"] == "nf_tables"
    assert next(b for b in extras["netfilter"] if b["backend"] == "legacy")["source"].endswith("iptables-legacy-save_-c")


@pytest.mark.parametrize("path", [GUIDE_PLAIN, GUIDE_EXTRAS], ids=["plain", "extras"])
def test_guide_case_top_two_are_version_skew_and_the_backend_split(path):
    """The two causes to act on; a mechanism a found root explains (calico-chains-missing under
    the backend split, listed right after it once causal links exist) is not one of them."""
    _, report, _ = diagnose_json(path)
    roots = [c["id"] for c in report["causes"] if c["found"] and not c.get("caused_by")]
    assert set(roots[:2]) == {"version-skew", "iptables-backend-mismatch"}, roots
    causes = causes_by_id(report)
    assert causes["rp-filter-loose"]["confidence"] < 0.5, "calico-node has run for hours: Felix is not refusing loose RPF"
    for cause in (causes["version-skew"], causes["iptables-backend-mismatch"]):
        assert cause["evidence"] and cause["remediation"], cause["id"]
    chains_missing = causes.get("calico-chains-missing")
    if chains_missing and chains_missing["found"]:
        assert chains_missing["caused_by"] == ["iptables-backend-mismatch"]
