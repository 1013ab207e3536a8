"""Every `raw:` block of the shipped rule test files is real tool output, and this says whose.

Each block equals what its origin gives: a file captured on a lab node (tests/fixtures/raw), or a
listing rebuilt line for line from a fault lab's facts dump (examples/) in the exact format the
tool prints (`sysctl -a`: `key = value`; `ip rule list`: `prio:<TAB>selector action table`), with
the dump's own line numbers, so nothing in a rule test is output no tool would print.
"""

import pytest
import yaml

from tests.helpers import EXAMPLES, REPO

RAW = REPO / "tests" / "fixtures" / "raw"


def fixture(relpath):
    return (RAW / relpath).read_text(encoding="utf-8")


def _dump(example):
    return yaml.load((EXAMPLES / example).read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def sysctl_a_lines(example, prefix, containing):
    """The lines of the lab's `sysctl -a` whose key starts with `prefix` and contains `containing`
    (as `sysctl -a | grep` would keep them), rebuilt from the dump that parsed it, in its order."""
    items = _dump(example)["sysctls"]
    assert [int(s["source"].rsplit(":", 1)[1]) for s in items] == list(range(1, len(items) + 1))
    return "".join(f"{s['key']} = {s['value']}\n" for s in items
                   if s["key"].startswith(prefix) and containing in s["key"])


def ip_rule_list(example):
    """The lab's `ip -4 rule list`, rebuilt from the dump that parsed it (every line of it)."""
    rules = _dump(example)["ip_rules"]
    assert [int(r["source"].rsplit(":", 1)[1]) for r in rules] == list(range(1, len(rules) + 1))
    return "".join(f"{r['priority']}:\t{r['selector']} {r['action']} {r['table']}\n" for r in rules)


GUIDE = "lab/guide/"  # the plain sosreport of lab/guide.py's node (tests/fixtures/raw/README.md)
NETNS_LAB = "netns-lab/"

# (test file, rule, test name) -> {raw key: its origin}
ORIGINS = {
    ("network-manager-interference.test.yaml", "networkd-claims-workloads",
     "fires when networkctl shows systemd-networkd configuring the cali* veths"): {
        "networkctl status -a": lambda: fixture("networkd/networkctl_status_-a.configured")},
    ("network-manager-interference.test.yaml", "networkd-claims-workloads",
     "quiet when networkctl shows the cali* veths unmanaged"): {
        "networkctl status -a": lambda: fixture("networkd/networkctl_status_-a.unmanaged")},
    ("ip-forwarding-disabled.test.yaml", "ip-forwarding-disabled-global",
     "fires on the sysctl -a of the ip-forwarding-disabled fault lab"): {
        "sysctl -a": lambda: sysctl_a_lines("ip-forwarding-disabled.yaml", "net.ipv4.", "forward")},
    ("ip-forwarding-disabled.test.yaml", "ip-forwarding-disabled-global",
     "counts less when a same-node ping was observed working (red herring)"): {
        "sysctl -a": lambda: sysctl_a_lines("ip-forwarding-disabled.yaml", "net.ipv4.", "forward")},
    ("ip-forwarding-disabled.test.yaml", "ip-forwarding-disabled-global",
     "quiet on the sysctl -a of the healthy lab"): {
        "sysctl -a": lambda: sysctl_a_lines("healthy.yaml", "net.ipv4.", "forward")},
    ("iptables-backend-mismatch.test.yaml", "iptables-backend-mismatch-inferred",
     "fires on the plain sosreport of the guide's node (Calico in legacy, Docker's FORWARD DROP in nft)"): {
        "nft -a list ruleset": lambda: fixture(GUIDE + "nft_-a_list_ruleset"),
        "iptables -vnxL": lambda: fixture(GUIDE + "iptables_-vnxL"),
        "/proc/net/ip_tables_names": lambda: fixture(GUIDE + "ip_tables_names")},
    ("iptables-backend-mismatch.test.yaml", "iptables-backend-mismatch-inferred",
     "counts less when a same-node ping was observed working (red herring)"): {
        "nft -a list ruleset": lambda: fixture(GUIDE + "nft_-a_list_ruleset"),
        "iptables -vnxL": lambda: fixture(GUIDE + "iptables_-vnxL"),
        "/proc/net/ip_tables_names": lambda: fixture(GUIDE + "ip_tables_names")},
    ("policy-routing-override.test.yaml", "policy-routing-override",
     "fires on the netns lab node's rule 100 (from a pool block, lookup 200: a default route, no cali* route)"): {
        "ip -4 rule list": lambda: fixture(NETNS_LAB + "ip_-4_rule_list"),
        "ip -d route show table all": lambda: fixture(NETNS_LAB + "ip_-d_route_show_table_all"),
        "ip -d address": lambda: fixture(NETNS_LAB + "ip_-d_address")},
    ("policy-routing-override.test.yaml", "policy-routing-override",
     "fires for nm-cloud-setup's rule 30400 to a table with only a default route"): {
        "ip -4 rule list": lambda: ip_rule_list("policy-routing-override.yaml")},
    ("policy-routing-override.test.yaml", "policy-routing-override",
     "quiet on the healthy lab's ip rules (local, main, default only)"): {
        "ip -4 rule list": lambda: ip_rule_list("healthy.yaml")},
    ("mtu-mismatch.test.yaml", "mtu-mismatch-workload-encap",
     "fires on the netns lab node: 1500-byte cali* veths beside vxlan.calico over a 1500 uplink"): {
        "ip -d address": lambda: fixture(NETNS_LAB + "ip_-d_address")},
}

# The probe tests of a rule with `predicts:` repeat the raw output of the rule's first firing test.
PROBE_TESTS = ("lifted when the probe sees the route drop it predicts",
               "counts less when the probe got its reply (red herring)",
               "counts less when the probe was lost to a policy drop, not a route one",
               "unchanged by a route drop outside what it predicts")
for _file, _rule, _base in (
        ("ip-forwarding-disabled.test.yaml", "ip-forwarding-disabled-global",
         "fires on the sysctl -a of the ip-forwarding-disabled fault lab"),
        ("policy-routing-override.test.yaml", "policy-routing-override",
         "fires for nm-cloud-setup's rule 30400 to a table with only a default route")):
    for _name in PROBE_TESTS:
        ORIGINS[(_file, _rule, _name)] = ORIGINS[(_file, _rule, _base)]


def _raw_blocks():
    for path in sorted((REPO / "rules").glob("*.test.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for test in doc["tests"]:
            if test.get("raw"):
                yield path.name, test


@pytest.mark.parametrize("file,test", list(_raw_blocks()), ids=lambda v: v if isinstance(v, str) else v["name"])
def test_raw_block_is_real_output(file, test):
    origin = ORIGINS.get((file, test["rule"], test["name"]))
    assert origin is not None, f"{file}: {test['name']!r}: raw output with no known origin"
    assert set(test["raw"]) == set(origin)
    for key, make in origin.items():
        assert test["raw"][key] == make(), f"{file}: {test['name']!r}: raw {key!r} differs from its origin"


def test_every_origin_is_used():
    used = {(file, test["rule"], test["name"]) for file, test in _raw_blocks()}
    assert set(ORIGINS) <= used, set(ORIGINS) - used

