"""Saved probe results (real `calirules probe --format json` of fault-lab cases, see the fixtures'
regenerate.py): the document is what its schema says, reads back unchanged, analyses the same way
again, renders in every format, and lifts or lowers causes when given to `diagnose --probe-result`."""

import copy
import json
from pathlib import Path

import jsonschema_rs
import pytest
from calirules.facts_collectors.probe.analyze import analyze, observation
from calirules.facts_collectors.probe.model import result_from_dict
from calirules.report.probe import render_probe

from tests.helpers import REPO, run_cli

RESULTS = REPO / "tests" / "fixtures" / "probe" / "results"
FIXTURES = sorted(RESULTS.glob("*.json"))
SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/probe-v1.schema.json").read_text()))
FACTS_SCHEMA = jsonschema_rs.validator_for(
    json.loads((REPO / "facts_collectors/schema/facts-v1.schema.json").read_text()))


def load(name):
    return json.loads((RESULTS / f"{name}.json").read_text())


def confidences(facts, probe_name=None, tmp_path=None):
    """Causes by id of `diagnose --facts FACTS --format json`, with the saved probe PROBE_NAME given as
    --probe-result when named: (causes, report)."""
    args = ["diagnose", "--facts", facts, "--format", "json"]
    if probe_name:
        path = tmp_path / "probe.json"
        path.write_text(json.dumps(load(probe_name)))
        args += ["--probe-result", path]
    report = json.loads(run_cli(*args)[1])
    return {c["id"]: c for c in report["causes"]}, report


@pytest.fixture(params=FIXTURES, ids=lambda p: p.stem)
def doc(request):
    return json.loads(Path(request.param).read_text())


def test_there_are_broken_and_working_cases():
    outcomes = {path.stem: json.loads(path.read_text())["drop"] is None for path in FIXTURES}
    assert sum(outcomes.values()) >= 2 and len(outcomes) - sum(outcomes.values()) >= 6, outcomes


def test_matches_its_schema(doc):
    SCHEMA.validate(doc)


def test_reads_back_unchanged(doc):
    assert json.loads(json.dumps(result_from_dict(doc).to_dict())) == doc


def test_analysis_is_reproducible(doc):
    """Analysing the saved observations again names the same drop, in the same words."""
    again = analyze(result_from_dict(doc)).to_dict()
    assert (again["drop"], again["summary"], again["last_seen"], again["reached"], again["replied"]) == \
        (doc["drop"], doc["summary"], doc["last_seen"], doc["reached"], doc["replied"])


def test_observation_is_a_valid_dump_item(doc):
    item = observation(result_from_dict(doc), "probe.json")
    FACTS_SCHEMA.validate({"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "n"},
                          "observations": [item]})
    assert item["result"] == ("ok" if doc["drop"] is None else "failed")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_renders_in_every_format(doc, fmt):
    text = render_probe(doc, fmt)
    if fmt == "json":
        assert json.loads(text) == doc
        return
    assert doc["summary"].split(";")[0][:40] in text.replace("&#39;", "'")
    for hop in doc["hops"]:
        assert hop["where"] in text


def test_text_says_whether_the_path_works():
    assert "path works" in render_probe(load("healthy-legacy"), "text")
    broken = render_probe(load("forward-policy-drop-nft"), "text")
    assert "did not reach 198.18.8.11" in broken and "FORWARD policy DROP (nft), +3 packets" in broken


@pytest.mark.parametrize("name,cause", [
    ("forward-policy-drop-legacy", "forward-policy-drop"),
    ("ip-forwarding-disabled-legacy", "ip-forwarding-disabled"),
    ("proxy-arp-disabled-legacy", "proxy-arp-disabled"),
    ("workload-route-missing-legacy", "workload-route-missing"),
    ("policy-denies-nft", "policy-denies"),
])
def test_a_matching_probe_lifts_the_cause(tmp_path, name, cause):
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(load(name)))
    code, out, err = run_cli("diagnose", "--facts", REPO / "examples" / f"{cause}.yaml", "--probe-result", path,
                             "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    first = report["causes"][0]
    assert first["id"] == cause and first["probe"] == "matches", [(c["id"], c.get("probe")) for c in report["causes"]]
    assert report["reproduced"] is True and report["probe"]["summary"] == load(name)["summary"]
    plain = json.loads(run_cli("diagnose", "--facts", REPO / "examples" / f"{cause}.yaml", "--format", "json")[1])
    assert first["confidence"] >= plain["causes"][0]["confidence"]


def test_a_drop_in_the_other_backend_neither_lifts_nor_lowers(tmp_path):
    """The example's Calico and DROP policy are in legacy; a probe that saw an nft FORWARD policy drop
    matches the kind but not the backend the rule binds: no support, no counter-evidence."""
    facts = REPO / "examples" / "forward-policy-drop.yaml"
    plain, _ = confidences(facts)
    probed, _ = confidences(facts, "forward-policy-drop-nft", tmp_path)
    assert "probe" not in probed["forward-policy-drop"]
    assert probed["forward-policy-drop"]["confidence"] == plain["forward-policy-drop"]["confidence"]


@pytest.mark.parametrize("cause", ["forward-policy-drop", "ip-forwarding-disabled", "workload-route-missing"])
def test_a_working_path_lowers_the_cause_and_says_config_only(tmp_path, cause):
    facts = REPO / "examples" / f"{cause}.yaml"
    plain, _ = confidences(facts)
    probed, report = confidences(facts, "healthy-legacy", tmp_path)
    assert report["reproduced"] is False
    assert probed[cause]["probe"] == "contradicts"
    assert probed[cause]["confidence"] < plain[cause]["confidence"]
    _, text, _ = run_cli("diagnose", "--facts", facts, "--probe-result", tmp_path / "probe.json")
    assert "the symptom was not reproduced" in text


def test_a_drop_elsewhere_lowers_a_cause_it_contradicts(tmp_path):
    """A route drop observed: a FORWARD-policy cause cannot have dropped this packet."""
    facts = REPO / "examples" / "forward-policy-drop.yaml"
    plain, _ = confidences(facts)
    probed, _ = confidences(facts, "workload-route-missing-legacy", tmp_path)
    assert probed["forward-policy-drop"]["probe"] == "contradicts"
    assert probed["forward-policy-drop"]["confidence"] < plain["forward-policy-drop"]["confidence"]


@pytest.mark.parametrize("cut", [0.1, 0.5, 0.9])
def test_a_truncated_result_is_refused(tmp_path, cut):
    text = (RESULTS / "forward-policy-drop-nft.json").read_text()
    path = tmp_path / "probe.json"
    path.write_text(text[: int(len(text) * cut)])
    code, _, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--probe-result", path)
    assert code == 2 and str(path) in err and err.count("\n") == 1, err


@pytest.mark.parametrize("damage", [
    lambda d: d.pop("flow"), lambda d: d["hops"].append({"where": "x"}), lambda d: d.update(drop={"kind": "rule"}),
    lambda d: d.update(src="cali1"), lambda d: d["sent"].update(bogus=1), lambda d: d.update(schema=None),
])
def test_a_damaged_result_is_refused(tmp_path, damage):
    doc = copy.deepcopy(load("forward-policy-drop-nft"))
    damage(doc)
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(doc))
    code, _, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--probe-result", path)
    assert code == 2 and "not a calirules probe result" in err and "Traceback" not in err, err


def test_an_unrelated_drop_that_rose_less_than_the_probes_lost_is_not_named():
    """Counters are node-wide: a raw-table DROP that caught one packet of other traffic in the same
    second must not hide the FORWARD policy that took all three probes."""
    doc = copy.deepcopy(load("forward-policy-drop-legacy"))
    noise = {"backend": "legacy", "table": "raw", "chain": "PREROUTING", "rule": "-A PREROUTING -s 203.0.113.9 -j DROP",
             "target": "DROP", "packets": 1, "bytes": 60, "position": 1, "source": "iptables-legacy-save -c"}
    doc["counters"].insert(0, noise)
    result = analyze(result_from_dict(doc))
    assert result.drop.kind == "policy" and result.drop.chain == "FORWARD", result.drop
    doc["counters"] = [noise]  # alone, it is all there is to name
    assert analyze(result_from_dict(doc)).drop.rule == noise["rule"]
