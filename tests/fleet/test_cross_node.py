"""Cross-node findings, each shown where it should be and absent where it should not, on reports
of real bundles (the netns lab's captured output, varied per node)."""

import copy

import pytest

from calirules.fleet.findings import cross_node_findings
from tests.fleet.bundles import fleet_json, sosreport


def ids(doc):
    return sorted(f["id"] for f in doc["cluster_findings"])


def finding(doc, finding_id):
    return next(f for f in doc["cluster_findings"] if f["id"] == finding_id)


@pytest.fixture(scope="module")
def agreeing(tmp_path_factory):
    """Three nodes that agree on everything a fleet compares; their reports, once."""
    parent = tmp_path_factory.mktemp("agree")
    for i in (1, 2, 3):
        sosreport(parent, f"n{i}", ip=f"198.18.0.{20 + i}", block=f"198.18.{128 + i}.0/26")
    code, doc, _ = fleet_json(parent, "--jobs", "2")
    return doc


def test_nodes_that_agree_have_no_finding_but_the_shared_cause(agreeing):
    # The capture's own faults (a FORWARD drop policy, an extra ip rule) are on every copy: that
    # is the one thing these nodes share, and it is reported as cluster-wide.
    assert ids(agreeing) == ["cause-on-most-nodes", "cause-on-most-nodes"]
    assert {f["cause"] for f in agreeing["cluster_findings"]} == {"forward-policy-drop", "policy-routing-override"}
    assert all(f["nodes"] == ["n1", "n2", "n3"] for f in agreeing["cluster_findings"])


def test_versions_that_differ(tmp_path):
    sosreport(tmp_path, "n1", ip="198.18.0.21", block="198.18.129.0/26")
    sosreport(tmp_path, "n2", ip="198.18.0.22", block="198.18.130.0/26")
    sosreport(tmp_path, "n3", ip="198.18.0.23", block="198.18.131.0/26", calico="v3.28.2", kubernetes="v1.29.8")
    _, doc, _ = fleet_json(tmp_path)
    assert {"calico-version-differs", "kubernetes-version-differs"} <= set(ids(doc))
    calico = finding(doc, "calico-version-differs")
    assert calico["nodes"] == ["n3"]  # the odd one out, not the majority
    assert calico["evidence"] == ["v3.29.1: n1, n2", "v3.28.2: n3"]
    assert finding(doc, "kubernetes-version-differs")["evidence"] == ["v1.30.4: n1, n2", "v1.29.8: n3"]


def test_mtu_that_differs(tmp_path):
    sosreport(tmp_path, "n1", ip="198.18.0.21", block="198.18.129.0/26")
    sosreport(tmp_path, "n2", ip="198.18.0.22", block="198.18.130.0/26", uplink_mtu=9000)
    _, doc, _ = fleet_json(tmp_path)
    mtu = finding(doc, "mtu-differs")
    assert mtu["nodes"] == ["n1", "n2"]  # a tie: both are shown
    assert any("uplink 9000" in line and line.endswith(": n2") for line in mtu["evidence"])


def test_duplicate_names_and_ips_and_overlapping_blocks(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    sosreport(tmp_path / "a", "n1", ip="198.18.0.21", block="198.18.129.0/26")
    sosreport(tmp_path / "b", "n1", ip="198.18.0.22", block="198.18.130.0/26")  # same name, another machine
    sosreport(tmp_path, "n3", ip="198.18.0.21", block="198.18.129.32/27")  # n1's IP, inside n1's block
    _, doc, _ = fleet_json(tmp_path)
    assert finding(doc, "duplicate-node-name")["nodes"] == ["n1"]
    assert len(finding(doc, "duplicate-node-name")["evidence"][0].split(", ")) == 2
    assert finding(doc, "duplicate-node-ip")["evidence"] == ["198.18.0.21: n1, n3"]
    assert finding(doc, "overlapping-blocks")["evidence"] == ["198.18.129.0/26 on n1 overlaps 198.18.129.32/27 on n3"]


# The rules on node_facts themselves, from one real report's facts varied per node.

@pytest.fixture(scope="module")
def entry(agreeing):
    return next(e for e in agreeing["nodes"] if e["node"] == "n1")


def nodes(entry, count, changes=None):
    out = []
    for i in range(count):
        e = copy.deepcopy(entry)
        e["node"], e["source"] = f"x{i}", f"/b/x{i}"
        e["node_facts"].update(node_ips=[f"10.0.0.{i}"], blocks=[f"10.1.{i}.0/26"])
        for key, value in (changes or {}).get(i, {}).items():
            e["node_facts"][key] = value
        out.append(e)
    return out


def test_encapsulation_differs_only_when_some_node_shows_one(entry):
    assert [f["id"] for f in cross_node_findings(nodes(entry, 3, {2: {"encapsulation": ["ipip"]}}))
            if f["id"] == "encapsulation-differs"] == ["encapsulation-differs"]
    none_seen = nodes(entry, 3, {i: {"encapsulation": []} for i in range(3)})
    assert "encapsulation-differs" not in [f["id"] for f in cross_node_findings(none_seen)]


def test_unknown_values_are_left_out_not_counted_as_different(entry):
    found = cross_node_findings(nodes(entry, 3, {2: {"calico_version": None}}))
    assert "calico-version-differs" not in [f["id"] for f in found]
    legacy = nodes(entry, 2)
    legacy[1]["node_facts"] = None  # a report from before node_facts
    assert {f["id"] for f in cross_node_findings(legacy)} == {"cause-on-most-nodes"}


def test_a_cause_on_most_nodes_needs_half_and_two(entry):
    three = nodes(entry, 4)
    for e in three[:3]:
        e["causes"] = [{"id": "ip-forwarding-disabled", "confidence": 0.9}]
    three[3]["causes"] = []
    found = [f for f in cross_node_findings(three) if f["id"] == "cause-on-most-nodes"]
    assert [(f["cause"], f["nodes"]) for f in found] == [("ip-forwarding-disabled", ["x0", "x1", "x2"])]
    one_of_four = nodes(entry, 4)
    for i, e in enumerate(one_of_four):
        e["causes"] = [{"id": "ip-forwarding-disabled", "confidence": 0.9}] if i == 0 else []
    assert not [f for f in cross_node_findings(one_of_four) if f["id"] == "cause-on-most-nodes"]
    alone = nodes(entry, 1)  # one node: nothing is "most nodes"
    assert not [f for f in cross_node_findings(alone) if f["id"] == "cause-on-most-nodes"]


def test_blocks_that_touch_do_not_overlap_and_ipv6_is_compared_apart(entry):
    fleet = nodes(entry, 3, {0: {"blocks": ["10.1.0.0/26"]}, 1: {"blocks": ["10.1.0.64/26"]},
                               2: {"blocks": ["fd00::/122", "10.1.0.128/26"]}})
    assert "overlapping-blocks" not in [f["id"] for f in cross_node_findings(fleet)]
    fleet[1]["node_facts"]["blocks"] = ["10.1.0.0/24"]
    over = next(f for f in cross_node_findings(fleet) if f["id"] == "overlapping-blocks")
    assert over["nodes"] == ["x0", "x1", "x2"] and len(over["evidence"]) == 2
