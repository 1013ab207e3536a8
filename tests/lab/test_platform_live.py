"""Live collection on a lab node reads the data plane Felix's nftables mode leaves in the kernel.

Felix's nftables data plane (Calico v3.29+) is one `table ip calico` whose chains carry the
iptables table as prefix (felix/dataplane/linux/int_dataplane.go, nftables.NewTable("calico", 4,
...); shape as in projectcalico/calico felix/fv/cali-nftables-dump.txt). The kernel holds it for
real here; `describe` must find it through `calirules collect --live --netns`.
"""

from calirules.engine.platform import describe
from calirules.facts_collectors.live import collect_live
from calirules.lab import calico_rules, netns

FELIX_NFT_TABLE = """table ip calico {
	chain filter-cali-FORWARD {
		iifname "cali*" counter accept comment "cali:tAzwBLPaV-j53OOZ;"
	}
	chain filter-FORWARD {
		type filter hook forward priority filter; policy accept;
		counter jump filter-cali-FORWARD comment "cali:dpfqBgJrpRwlrqw1;"
	}
}
"""


def test_felix_nft_table_is_the_nftables_data_plane(lab):
    netns.exec_in(lab.node_ns, ["nft", "-f", "-"], input=FELIX_NFT_TABLE)
    # With Calico's iptables chains still in place the node shows both: no guess.
    both = describe(collect_live(lab.node_ns))
    assert both["dataplane"] is None and "both programmed" in both["conflicts"][0]
    # Felix in nftables mode removes its iptables rules: the table alone is the data plane.
    lab.iptables_restore(calico_rules.render_empty_filter_table(forward_policy="ACCEPT"), noflush=False)
    assert lab.ping(0, 1)
    dump = collect_live(lab.node_ns)
    found = describe(dump)
    (table,) = [t for t in dump["nft_tables"] if t["name"] == "calico"]
    assert (table["family"], table["chains"], table["rules"]) == ("ip", 2, 2)
    assert (found["dataplane"], found["iptables_backend"]) == ("nftables", None)
    assert found["sources"]["dataplane"] == table["source"]
    assert table["source"].startswith("sos_commands/firewall_tables/nft_-a_list_ruleset:")
