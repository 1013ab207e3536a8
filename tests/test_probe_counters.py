"""Netfilter and kernel counters of `calirules probe`, on dumps captured from the fault lab.

Fixtures: tests/fixtures/probe/kernel/<scenario>/{before,after}/ (regenerate.py there rewrites
them); each scenario is a 2-pod lab, a fault, and a 3-packet ping from pod-0 to pod-1.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from calirules.base.errors import InputError
from calirules.facts_collectors.probe import counters, kstats
from calirules.facts_collectors.probe.counters import build_snapshot, drops, last_accept_or_jump, moves
from calirules.facts_collectors.probe.model import CounterMove, KernelCounterMove

KERNEL = Path(__file__).parent / "fixtures" / "probe" / "kernel"
PINGS = 3


def dumps(scenario: str, when: str) -> dict[str, str]:
    folder = KERNEL / scenario / when
    return {path.name: path.read_text() for path in folder.iterdir()}


def netfilter(scenario: str, when: str, **override) -> counters.NetfilterSnapshot:
    files = dumps(scenario, when)
    texts = {"legacy_save": files["iptables-legacy-save_-c"], "nft_save": files["iptables-nft-save_-c"],
             "nft_ruleset": files["nft_list_ruleset"]}
    texts.update(override)
    return build_snapshot(texts["legacy_save"], texts["nft_save"], texts["nft_ruleset"])


def scenario_moves(scenario: str) -> list[CounterMove]:
    return moves(netfilter(scenario, "before"), netfilter(scenario, "after"))


# --- iptables and nft counters ------------------------------------------------------------------

@pytest.mark.parametrize("scenario, backend", [("legacy-forward-policy-drop", "legacy"),
                                               ("nft-forward-policy-drop", "nft")])
def test_forward_policy_drop_is_the_only_drop(scenario, backend):
    found = drops(scenario_moves(scenario), PINGS)
    assert found == [CounterMove(backend=backend, table="filter", chain="FORWARD", rule=None, target="DROP",
                                 packets=PINGS, bytes=252, position=None,
                                 source=f"iptables-{backend}-save -c")]


def test_the_last_rule_that_fired_in_forward_is_calicos_jump():
    last = last_accept_or_jump(scenario_moves("legacy-forward-policy-drop"), chain="FORWARD", backend="legacy")
    assert (last.rule, last.target, last.position, last.packets) == (
        '-A FORWARD -m comment --comment "cali:8HPoIbsyGfFil1D7" -j cali-FORWARD', "cali-FORWARD", 1, PINGS)
    assert last_accept_or_jump(scenario_moves("legacy-forward-policy-drop"), chain="FORWARD", backend="nft") is None


def test_healthy_path_drops_nothing_and_ends_in_calicos_accept():
    found = scenario_moves("legacy-healthy")
    assert drops(found, 1) == []
    last = last_accept_or_jump(found, chain="FORWARD")
    assert last.target == "ACCEPT" and "Policy explicitly accepted packet." in last.rule
    # ruleset order: FORWARD's rules, then the chains it jumps to, as the dump lists them
    assert [m.chain for m in found][:2] == ["FORWARD", "FORWARD"]
    assert all(m.backend == "legacy" for m in found)


def test_native_nft_rule_is_counted_once_with_its_text():
    found = scenario_moves("nft-native-drop")
    assert drops(found, PINGS) == [CounterMove(
        backend="nft", table="inet cc2extra", chain="cc2forward",
        rule='ip saddr { 198.18.8.10, 198.18.8.12 } ip daddr 198.18.8.11 counter drop comment "cc2: native drop"',
        target="DROP", packets=PINGS, bytes=252, position=1, source="nft list ruleset")]
    # iptables-nft's table is read through iptables-nft-save only, never again through nft
    assert {m.source for m in found if m.table == "filter"} <= {"iptables-nft-save -c"}
    assert not [c for c in netfilter("nft-native-drop", "after").counters
                if c.source == "nft list ruleset" and c.table != "inet cc2extra"]


def test_without_iptables_nft_save_nft_counts_the_iptables_tables():
    before = netfilter("nft-forward-policy-drop", "before", nft_save=None)
    after = netfilter("nft-forward-policy-drop", "after", nft_save=None)
    assert any("nft's own view" in note for note in after.notes)
    jumps = [m for m in moves(before, after) if m.table == "ip filter" and m.chain == "FORWARD"]
    assert jumps and jumps[0].rule == "counter jump cali-FORWARD" and jumps[0].packets == PINGS


def test_a_table_iptables_nft_cannot_show_is_read_from_nft():
    files = dumps("nft-forward-policy-drop", "after")
    save = files["iptables-nft-save_-c"].replace("*filter", "# Table `filter' is incompatible, use 'nft' tool.\n*filter")
    snap = build_snapshot(None, save, files["nft_list_ruleset"])
    assert {c.table for c in snap.counters if c.source == "nft list ruleset"} == {"ip filter"}


def test_rules_are_matched_by_text_when_felix_inserts_a_rule():
    before = dumps("legacy-forward-policy-drop", "before")["iptables-legacy-save_-c"]
    after = dumps("legacy-forward-policy-drop", "after")["iptables-legacy-save_-c"]
    inserted = '[0:0] -A cali-FORWARD -m comment --comment "cali:new-rule-at-top" -j ACCEPT\n'
    first = after.index("[3:252] -A cali-FORWARD")
    after = after[:first] + inserted + after[first:]
    old, new = build_snapshot(before, None, None), build_snapshot(after, None, None)
    moved = {(m.chain, m.position): m.packets for m in moves(old, new)}
    assert moved[("cali-FORWARD", 2)] == PINGS       # was rule 1; same rule, now one lower
    assert ("cali-FORWARD", 1) not in moved           # the new rule is not compared
    notes = counters.ruleset_changes(old, new)
    assert notes and "1 rules added, 0 removed" in notes[0] and "legacy filter cali-FORWARD" in notes[0]


def test_identical_rules_are_told_apart_by_occurrence():
    text = "*filter\n:FORWARD ACCEPT [0:0]\n[{a}:0] -A FORWARD -j LOG\n[{b}:0] -A FORWARD -j LOG\nCOMMIT\n"
    old = build_snapshot(text.format(a=1, b=5), None, None)
    new = build_snapshot(text.format(a=1, b=9), None, None)
    assert [(m.position, m.packets) for m in moves(old, new)] == [(2, 4)]


def test_a_counter_that_went_down_is_not_a_move():
    text = "*filter\n:FORWARD DROP [{p}:0]\nCOMMIT\n"
    old, new = build_snapshot(text.format(p=9), None, None), build_snapshot(text.format(p=2), None, None)
    assert moves(old, new) == []
    assert "went down" in counters.ruleset_changes(old, new)[0]


def test_nft_rule_spread_over_lines_keeps_one_text():
    ruleset = dumps("nft-native-drop", "after")["nft_list_ruleset"]
    spread = ruleset.replace("{ 198.18.8.10, 198.18.8.12 }", "{ 198.18.8.10,\n\t\t\t     198.18.8.12 }")
    rules = [c.rule for c in counters.counters_from_nft_ruleset(spread, "nft") if c.table == "inet cc2extra"]
    assert rules[0] == 'ip saddr { 198.18.8.10, 198.18.8.12 } ip daddr 198.18.8.11 counter drop comment "cc2: native drop"'
    assert rules[1] == "ip protocol icmp counter"


def test_drops_and_jumps_helpers():
    def move(target, packets, rule="-A X -j Y", chain="FORWARD", backend="legacy"):
        return CounterMove(backend, "filter", chain, rule, target, packets)
    found = [move("cali-FORWARD", 3), move("REJECT", 3), move("DROP", 2), move("ACCEPT", 3, chain="cali-x"),
             move("DROP", 3, rule=None), move("MARK", 3)]
    assert [m.target for m in drops(found, 3)] == ["REJECT", "DROP"]
    assert [m.target for m in drops(found, 1)] == ["REJECT", "DROP", "DROP"]
    assert last_accept_or_jump(found).target == "ACCEPT"
    assert last_accept_or_jump(found, chain="FORWARD").target == "cali-FORWARD"
    assert last_accept_or_jump(found, backend="nft") is None


@pytest.mark.parametrize("name", ["iptables-legacy-save_-c", "iptables-nft-save_-c", "nft_list_ruleset"])
def test_cut_dumps_give_a_subset_and_never_raise(name):
    text = dumps("nft-native-drop", "after")[name] or dumps("legacy-forward-policy-drop", "after")[name]
    whole = _counters_of(name, text)
    for cut in range(0, len(text), max(1, len(text) // 60)):
        part = _counters_of(name, text[:cut])
        assert {c.key for c in part} <= {c.key for c in whole} | {c.key for c in _counters_of(name, text[:cut] + "\n")}
    assert whole


def _counters_of(name, text):
    if name == "nft_list_ruleset":
        return counters.counters_from_nft_ruleset(text, "nft")
    return counters.counters_from_iptables_save(text, "legacy", "iptables-save -c")


def test_garbage_gives_no_counters():
    rng = random.Random(11)
    samples = ["", "\x00\xff" * 40, "table ip x {\n chain y {\n counter packets X bytes 1 drop\n",
               "}}}}{{{ table", "*filter\n:FORWARD DROP [a:b]\n[1:2]\nCOMMIT\n",
               "".join(rng.choice("{}[]:*- \n\"abc123") for _ in range(5000))]
    for text in samples:
        assert isinstance(counters.counters_from_iptables_save(text, "legacy", "s"), list)
        assert isinstance(counters.counters_from_nft_ruleset(text, "s"), list)
    assert counters.counters_from_iptables_save(samples[4], "legacy", "s") == []


def test_snapshot_without_the_modules_reads_nothing(monkeypatch):
    monkeypatch.setattr(counters, "module_present", lambda name: False)
    snap = counters.snapshot(None)
    assert snap.counters == [] and snap.sources == []
    assert len(snap.notes) == 2 and all("reading would load it" in note for note in snap.notes)


def test_snapshot_of_an_unknown_namespace_is_an_input_error():
    with pytest.raises(InputError, match="no network namespace named 'cc2-no-such-node'"):
        counters.snapshot("cc2-no-such-node")
    with pytest.raises(InputError, match="no network namespace named 'cc2-no-such-node'"):
        kstats.kernel_snapshot("cc2-no-such-node", [])


# --- kernel statistics ---------------------------------------------------------------------------

def kernel(scenario: str, when: str) -> dict[str, int]:
    files = dumps(scenario, when)
    values = {}
    values.update(kstats.parse_snmp(files["proc_net_snmp"]))
    values.update(kstats.parse_snmp(files["proc_net_netstat"]))
    values.update(kstats.parse_conntrack_stat(files["proc_net_stat_nf_conntrack"]))
    values.update(kstats.parse_link_stats(files["ip_-s_-j_link_0.json"]))
    return values


def test_snmp_names_are_nstat_like():
    values = kernel("legacy-healthy", "after")
    assert values["Ip.ForwDatagrams"] >= PINGS * 2           # echo requests and replies forwarded
    assert "IpExt.InNoRoutes" in values and "TcpExt.IPReversePathFilter" in values
    assert "Ip.InAddrErrors" in values and "Icmp.OutDestUnreachs" in values


def test_kernel_moves_of_a_forwarded_then_dropped_ping():
    moved = {m.name: m for m in kstats.kernel_moves(kernel("legacy-forward-policy-drop", "before"),
                                                    kernel("legacy-forward-policy-drop", "after"))}
    assert moved["Ip.ForwDatagrams"].delta == PINGS
    assert "Ip.InReceives" in moved and not any(name.startswith("nf_conntrack.") for name in moved)


def test_kernel_moves_only_rises_and_never_gauges():
    before = {"Ip.Forwarding": 1, "Ip.InAddrErrors": 4, "nf_conntrack.entries": 0, "x.rx_dropped": 5,
              "Tcp.CurrEstab": 1}
    after = {"Ip.Forwarding": 2, "Ip.InAddrErrors": 7, "nf_conntrack.entries": 9, "x.rx_dropped": 4,
             "Tcp.CurrEstab": 5, "new.one": 3}
    assert kstats.kernel_moves(before, after) == [KernelCounterMove("Ip.InAddrErrors", 3, "/proc/net/snmp or /proc/net/netstat")]


def test_conntrack_stat_sums_cpus():
    text = ("entries  clashres found new invalid\n"
            "00000004  00000000 00000001 00000002 0000000a\n"
            "00000004  00000000 00000000 00000001 00000001\n")
    assert kstats.parse_conntrack_stat(text) == {"nf_conntrack.entries": 4, "nf_conntrack.clashres": 0,
                                                 "nf_conntrack.found": 1, "nf_conntrack.new": 3,
                                                 "nf_conntrack.invalid": 11}
    real = kstats.parse_conntrack_stat(dumps("legacy-healthy", "after")["proc_net_stat_nf_conntrack"])
    assert real["nf_conntrack.entries"] == 1 and {"nf_conntrack.drop", "nf_conntrack.invalid"} <= set(real)


def test_link_stats():
    values = kstats.parse_link_stats(dumps("legacy-healthy", "after")["ip_-s_-j_link_0.json"])
    assert set(values) == {"calic220f2ba281." + f for f in (
        "rx_dropped", "rx_errors", "rx_over_errors", "tx_dropped", "tx_errors", "tx_carrier_errors")}


@pytest.mark.parametrize("name, parse", [("proc_net_snmp", kstats.parse_snmp), ("proc_net_netstat", kstats.parse_snmp),
                                         ("proc_net_stat_nf_conntrack", kstats.parse_conntrack_stat),
                                         ("ip_-s_-j_link_1.json", kstats.parse_link_stats)])
def test_cut_kernel_files_never_raise_and_never_invent(name, parse):
    text = dumps("legacy-healthy", "after")[name]
    whole = parse(text)
    assert whole
    for cut in range(len(text)):
        part = parse(text[:cut])
        assert set(part) <= set(whole)
        if name != "proc_net_stat_nf_conntrack":
            assert all(part[k] == whole[k] for k in part)   # a cut line is dropped, not misread


def test_kernel_parsers_on_garbage():
    for text in ["", "\x00garbage\n", "Ip: a b\nIp: 1\n", "Ip: a b\nIp: x y\n", "[1, 2", '{"a": 1}', "[{}]",
                 '[{"ifname": "x", "stats64": {"rx": {"dropped": -1, "errors": true}}}]']:
        assert kstats.parse_snmp(text) == {}
        assert kstats.parse_link_stats(text) == {}
        assert kstats.parse_conntrack_stat(text) == {}


def test_kernel_snapshot_names_what_it_could_not_read(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))   # neither cat nor ip: nothing can be read
    snap = kstats.kernel_snapshot(None, ["cali0"])
    assert dict(snap) == {}
    assert any("cat: command not found" in note for note in snap.notes)
    assert any("interface cali0" in note and "ip: command not found" in note for note in snap.notes)
