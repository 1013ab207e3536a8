"""All parsers together on the lab node: one valid facts dump, every source pointing at its line."""

import pytest
from calirules.facts_collectors.parsers import (
    conntrack,
    iproute,
    iptables,
    modules,
    nft,
    sysctl,
    system,
)
from rawfixtures import LAB, lab, validate_facts


@pytest.fixture(scope="module")
def dump():
    node = {}
    for part in (system.parse_uname_a(lab("uname_-a"), "uname_-a"),
                 system.parse_os_release(lab("os-release"), "os-release"),
                 system.parse_hostname(lab("hostname"), "hostname")):
        node["sources"] = {**node.get("sources", {}), **part.pop("sources")}
        node.update(part)
    proc_sys = ["proc/sys/net/ipv4/ip_forward", "proc/sys/net/ipv4/conf/vxlan.calico/rp_filter"]
    nft_ruleset = nft.parse_nft_ruleset(lab("nft_-a_list_ruleset"), "nft_-a_list_ruleset")
    count = conntrack.parse_nf_conntrack_count(lab("proc/sys/net/netfilter/nf_conntrack_count"),
                                               "proc/sys/net/netfilter/nf_conntrack_count")
    stats = conntrack.parse_conntrack_S(lab("conntrack_-S"), "conntrack_-S")
    return validate_facts(
        node=node,
        sysctls=sysctl.parse_sysctl_a(lab("sysctl_-a"), "sysctl_-a")
        + [fact for path in proc_sys for fact in sysctl.parse_proc_sys_file(path, lab(path))],
        interfaces=iproute.parse_ip_link(lab("ip_-d_address"), "ip_-d_address"),
        routes=iproute.parse_ip_route(lab("ip_-d_route_show_table_all"), "ip_-d_route_show_table_all"),
        ip_rules=iproute.parse_ip_rule(lab("ip_-4_rule_list"), "ip_-4_rule_list"),
        netfilter=[
            {"backend": "legacy", "source": "iptables-legacy-save_-c",
             **iptables.parse_iptables_save(lab("iptables-legacy-save_-c"), "iptables-legacy-save_-c")},
            {"backend": "nft", "source": "nft_-a_list_ruleset", "warnings": nft_ruleset["warnings"],
             "tables": nft_ruleset["iptables_tables"] + nft_ruleset["calico_tables"]},
        ],
        kernel_modules=modules.parse_lsmod(lab("lsmod"), "lsmod"),
        conntrack={**stats, **count, "sources": {"stats": stats["source"], **count["sources"]}},
        pods=[{"name": "pod1", "netns": "crp-pod1", "host_iface": "cali1a2b3c4d5e6",
               "addresses": iproute.parse_ip_addr(lab("pod1/ip_-o_addr"), "pod1/ip_-o_addr")[1]["addresses"],
               "routes": iproute.parse_ip_route(lab("pod1/ip_route_show_table_all"), "pod1/ip_route_show_table_all"),
               "neighbors": iproute.parse_ip_neigh(lab("pod1/ip_-s_-s_neigh_show"), "pod1/ip_-s_-s_neigh_show"),
               "source": "pod1"}],
    )


def sources(value):
    """Every `source`/`sources` string in a facts document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "source" and isinstance(item, str):
                yield item
            elif key == "sources" and isinstance(item, dict):
                yield from item.values()
            else:
                yield from sources(item)
    elif isinstance(value, list):
        for item in value:
            yield from sources(item)


def test_dump_is_valid_and_covers_every_section(dump):
    assert dump["node"]["hostname"] == "crp-node1"
    assert dump["node"]["os"] == "Debian GNU/Linux 12 (bookworm)"
    assert len(dump["sysctls"]) == 1327
    assert len(dump["interfaces"]) == 7 and len(dump["routes"]) == 33 and len(dump["ip_rules"]) == 6
    assert dump["kernel_modules"] == []
    assert dump["conntrack"]["count"] == 4 and dump["conntrack"]["stats"]["invalid"] == 8
    assert dump["pods"][0]["addresses"] == ["198.18.128.1/32", "fe80::858:c6ff:fe12:8001/64"]


def test_every_line_source_names_a_fixture_line_that_holds_text(dump):
    checked = 0
    for source in sources(dump):
        path, _, line = source.rpartition(":")
        if not line.isdigit():
            continue  # a whole-file source (`pod1`, a netfilter entry's file)
        lines = (LAB / path).read_text(encoding="utf-8").split("\n")
        assert 1 <= int(line) <= len(lines) and lines[int(line) - 1].strip(), source
        checked += 1
    assert checked > 1400
