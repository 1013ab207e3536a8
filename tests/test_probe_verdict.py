"""The kernel's verdict on the probe packet (route, gateway neighbour, conntrack) and the drop-trace
summary, on answers captured from the fault lab (tests/fixtures/probe/kernel/*/verdict.json and
kfree_skb_events.txt; regenerate.py there rewrites them)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from calirules.base.errors import InputError
from calirules.facts_collectors.probe import trace, verdict
from calirules.facts_collectors.probe.model import ConntrackState, Endpoint, Flow, RouteVerdict

KERNEL = Path(__file__).parent / "fixtures" / "probe" / "kernel"


def answer(scenario: str, name: str) -> dict:
    return json.loads((KERNEL / scenario / "verdict.json").read_text())[name]


def route(scenario: str) -> RouteVerdict:
    got = answer(scenario, "route_get")
    return verdict.parse_route_get(got["stdout"], got["stderr"], got["rc"])


# --- ip route get ------------------------------------------------------------------------------

def test_healthy_route_goes_to_the_destination_veth():
    found = route("legacy-healthy")
    assert (found.dev, found.via, found.table, found.error) == ("cali83dbd022cd5", None, None, None)
    assert found.text == "198.18.8.11 from 198.18.8.10 dev cali83dbd022cd5\n    cache iif calic220f2ba281"


def test_forwarding_off_is_no_route_to_host():
    found = route("legacy-ip-forwarding-disabled")
    assert found == RouteVerdict(text="RTNETLINK answers: No route to host", error="No route to host")


def test_policy_routing_override_names_the_table():
    found = route("legacy-policy-routing-override")
    assert (found.dev, found.via, found.table, found.error) == ("eth0", "198.19.0.2", "30400", None)


@pytest.mark.parametrize("stdout, stderr, rc, expected", [
    ("", "RTNETLINK answers: Invalid cross-device link\n", 2, "Invalid cross-device link"),
    ("", 'Cannot find device "cali0"\n', 1, 'Cannot find device "cali0"'),
    ("", "", 1, "ip route get failed (exit 1)"),
    ("unreachable 198.18.8.11 from 198.18.8.10 dev lo table main\n", "", 0, "unreachable"),
])
def test_route_errors(stdout, stderr, rc, expected):
    assert verdict.parse_route_get(stdout, stderr, rc).error == expected


def test_route_get_on_cut_and_garbage_output():
    text = answer("legacy-policy-routing-override", "route_get")["stdout"]
    whole = verdict.parse_route_get(text)
    for cut in range(len(text) + 1):
        found = verdict.parse_route_get(text[:cut])
        first_line_whole = "\n" in text[:cut]
        assert (found.dev, found.via, found.table) == ((whole.dev, whole.via, whole.table) if first_line_whole
                                                       else (None, None, None)), cut
    rng = random.Random(3)
    for _ in range(50):
        junk = "".join(rng.choice(" dev via table\n\x00ab") for _ in range(rng.randrange(80)))
        assert isinstance(verdict.parse_route_get(junk, junk, rng.choice([0, 2])), RouteVerdict)


def test_route_verdict_without_ip_is_an_input_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    endpoint = Endpoint(ip="198.18.8.10", netns="x", host_iface="cali0")
    with pytest.raises(InputError, match="iproute2"):
        verdict.route_verdict(None, endpoint, endpoint)


# --- gateway neighbours ------------------------------------------------------------------------

def test_neighbour_entries_as_ip_prints_them():
    healthy = verdict.parse_neigh_json(answer("legacy-healthy", "neigh_pod0")["stdout"])
    assert healthy == [{"dst": "169.254.1.1", "dev": None, "state": "REACHABLE", "lladdr": "ee:ee:ee:ee:ee:ee"}]
    broken = verdict.parse_neigh_json(answer("legacy-proxy-arp-disabled", "neigh_pod1")["stdout"])
    assert broken == [{"dst": "169.254.1.1", "dev": None, "state": "INCOMPLETE", "lladdr": None}]
    assert verdict.parse_neigh_json(answer("legacy-forward-policy-drop", "neigh_pod1")["stdout"]) == []


def test_neighbour_parser_on_garbage():
    for text in ["", "[", "{}", "[1, null]", '[{"dst": 5}]', '[{"dst": "x", "state": 3, "lladdr": []}]']:
        assert all(entry["state"] is None for entry in verdict.parse_neigh_json(text))


def test_unknown_namespaces_are_input_errors():
    pod = Endpoint(ip="198.18.8.10", netns="cc2-no-such-pod", host_iface="cali0", gateway="169.254.1.1")
    with pytest.raises(InputError, match="no network namespace named 'cc2-no-such-pod'"):
        verdict.gateway_neighbors([pod])
    with pytest.raises(InputError, match="no network namespace named 'cc2-no-such-node'"):
        verdict.route_verdict("cc2-no-such-node", pod, pod)
    with pytest.raises(InputError, match="no network namespace"):
        verdict.gateway_neighbors([Endpoint(ip="198.18.8.10", netns="", host_iface="cali0")])


# --- conntrack ---------------------------------------------------------------------------------

def test_conntrack_entries_and_unreplied():
    replied = verdict.parse_conntrack_list(answer("legacy-healthy", "conntrack")["stdout"])
    assert len(replied) == 1 and "[UNREPLIED]" not in replied[0] and replied[0].startswith("icmp ")
    unreplied = verdict.parse_conntrack_list(answer("legacy-proxy-arp-disabled", "conntrack")["stdout"])
    assert len(unreplied) == 1 and "[UNREPLIED]" in unreplied[0]
    summary = answer("legacy-healthy", "conntrack")["stderr"]
    assert verdict.parse_conntrack_list(summary) == []


def test_conntrack_without_the_tool_is_a_note(tmp_path, monkeypatch):
    (tmp_path / "cat").symlink_to(_which("cat"))
    monkeypatch.setenv("PATH", str(tmp_path))
    flow = Flow(proto="icmp", src="198.18.8.10", dst="198.18.8.11")
    state = verdict.conntrack_state(None, flow, {"nf_conntrack.invalid": 2}, {"nf_conntrack.invalid": 5})
    assert isinstance(state, ConntrackState) and state.entries == () and not state.unreplied
    assert state.invalid == 3
    assert any("conntrack: command not found (install conntrack (conntrack-tools))" in n for n in state.notes)


def _which(tool):
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if os.access(os.path.join(folder, tool), os.X_OK):
            return os.path.join(folder, tool)
    pytest.skip(f"{tool} not installed")


# --- --trace summary -----------------------------------------------------------------------------

def test_drop_reasons_summary_from_traced_events():
    lines = (KERNEL / "legacy-forward-policy-drop" / "kfree_skb_events.txt").read_text().splitlines()
    summary = trace.summarise(lines)
    assert summary[0] == "NETFILTER_DROP x3 at nf_hook_slow"   # the probe's three pings
    assert all(line.startswith("NETFILTER_DROP x") for line in summary)


def test_drop_summary_without_reasons_and_on_garbage():
    line = ("            ping-1 [001] ..s1. 5.000001: kfree_skb: skbaddr=0000000000000001 protocol=2048 "
            "location=ip_forward+0x1a/0x400")
    assert trace.summarise([line, line], has_reasons=False) == [
        "this kernel's skb:kfree_skb has no drop reasons (they came with Linux 5.17): drop locations only",
        "x2 at ip_forward"]
    assert trace.summarise(["", "kfree_skb:", "\x00" * 10, line[:30]]) == []


def test_trace_keeps_ipv4_only():
    assert trace._is_ipv4("kfree_skb: skbaddr=1 protocol=2048 location=x")
    assert not trace._is_ipv4("kfree_skb: skbaddr=1 protocol=34525 location=x")
