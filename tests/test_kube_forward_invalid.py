"""Netfilter.kube_invalid_drop_packets from real `iptables-nft-save -c` output (the netns lab's
kube-proxy-shaped KUBE-FORWARD chain, tests/fixtures/raw/netns-lab)."""

from calirules.engine.combiners import build_facts
from calirules.facts_collectors.parsers import iptables

from tests.helpers import REPO

LAB = REPO / "tests" / "fixtures" / "raw" / "netns-lab"


def netfilter_facts(text):
    parsed = iptables.parse_iptables_save(text, "iptables-nft-save -c")
    dump = {"node": {"hostname": "n"},
            "netfilter": [{"backend": "nft", "source": "iptables-nft-save -c", "warnings": parsed["warnings"],
                           "tables": parsed["tables"]}]}
    return [f for name, f in build_facts(dump) if name == "Netfilter"]


def test_lab_counter_is_zero_and_a_counted_drop_is_summed():
    text = (LAB / "iptables-nft-save_-c").read_text()
    fact = netfilter_facts(text)[0]
    assert fact["kube_invalid_drop_packets"] == 0
    assert fact["sources"]["kube_invalid_drop_packets"] == "iptables-nft-save -c:24"
    counted = text.replace("[0:0] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
                           "[42:2520] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP")
    assert netfilter_facts(counted)[0]["kube_invalid_drop_packets"] == 42


def test_no_kube_forward_chain_means_unknown():
    text = (LAB / "iptables-nft-save_-c").read_text()
    without = "\n".join(line for line in text.splitlines() if "KUBE-FORWARD" not in line) + "\n"
    facts = netfilter_facts(without)
    assert facts[0]["kube_invalid_drop_packets"] is None
