from calirules.facts_collectors.parsers.iproute import parse_ip_addr, parse_ip_link
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    quoted,
    random_garbage,
    validate_facts,
)

NODE_INTERFACES = ["lo", "eth0", "vxlan.calico", "crpbr0", "crptap0", "cali1a2b3c4d5e6", "cali9f8e7d6c5b4"]


def by_name(interfaces):
    return {interface["name"]: interface for interface in interfaces}


def test_ip_d_address_gives_kinds_peers_masters_and_addresses():
    interfaces = parse_ip_addr(lab("ip_-d_address"), "ip_-d_address")
    assert [interface["name"] for interface in interfaces] == NODE_INTERFACES
    named = by_name(interfaces)
    assert named["cali1a2b3c4d5e6"] == {
        "name": "cali1a2b3c4d5e6", "index": 6, "kind": "veth", "state": "UP",
        "flags": ["BROADCAST", "MULTICAST", "UP", "LOWER_UP"], "mtu": 1500,
        "mac": "ee:ee:ee:ee:ee:ee", "peer": "if2",
        "addresses": ["fe80::ecee:eeff:feee:eeee/64"], "source": "ip_-d_address:28"}
    assert named["vxlan.calico"]["kind"] == "vxlan"
    assert named["vxlan.calico"]["mtu"] == 1450
    assert named["vxlan.calico"]["addresses"] == ["198.18.128.0/32", "fe80::646b:b1ff:fe00:1/64"]
    assert "peer" not in named["vxlan.calico"]
    assert named["eth0"]["addresses"][0] == "198.18.0.10/24"
    assert named["crpbr0"]["kind"] == "bridge"
    # A tap device enslaved to a bridge: the kind line, then the `bridge_slave` line.
    assert named["crptap0"]["kind"] == "tun"
    assert named["crptap0"]["master"] == "crpbr0"
    assert named["lo"]["kind"] == "loopback"
    validate_facts(interfaces=interfaces)


def test_ip_s_d_link_ignores_the_statistics_lines():
    interfaces = parse_ip_link(lab("ip_-s_-d_link"), "ip_-s_-d_link")
    assert [interface["name"] for interface in interfaces] == NODE_INTERFACES
    named = by_name(interfaces)
    assert named["eth0"]["kind"] == "veth"
    assert named["eth0"]["source"] == "ip_-s_-d_link:7"
    assert all(interface["addresses"] == [] for interface in interfaces)


def test_without_d_the_kind_comes_from_the_link_type():
    for name in ("ip_link", "ip_-o_link"):
        named = by_name(parse_ip_link(lab(name), name))
        assert named["cali9f8e7d6c5b4"]["kind"] == "ether"
        assert named["cali9f8e7d6c5b4"]["peer"] == "if2"
        assert named["lo"]["kind"] == "loopback"
        assert named["crptap0"]["master"] == "crpbr0"
    assert by_name(parse_ip_link(lab("ip_-o_link"), "ip_-o_link"))["vxlan.calico"]["source"] == "ip_-o_link:3"


def test_ip_o_addr_merges_the_lines_of_one_interface():
    interfaces = parse_ip_addr(lab("ip_-o_addr"), "ip_-o_addr")
    named = by_name(interfaces)
    assert list(named) == ["lo", "eth0", "vxlan.calico", "cali1a2b3c4d5e6", "cali9f8e7d6c5b4"]
    assert named["eth0"] == {"name": "eth0", "index": 2,
                             "addresses": ["198.18.0.10/24", "fe80::5054:ff:fe12:10/64"],
                             "source": "ip_-o_addr:3"}
    pod = by_name(parse_ip_addr(lab("pod1/ip_-o_addr"), "pod1/ip_-o_addr"))
    assert pod["eth0"]["addresses"] == ["198.18.128.1/32", "fe80::858:c6ff:fe12:8001/64"]
    validate_facts(interfaces=interfaces)


def test_quoted_one_line_and_bond_samples():
    links = by_name(parse_ip_link(quoted("ip_-o_link.walinuxagent"), "ip_link"))
    assert links["docker0"]["kind"] == "bridge"  # `-o -d`: the type line is a `\`-segment
    assert links["docker0"]["state"] == "DOWN"
    addresses = by_name(parse_ip_addr(quoted("ip_-o_addr.walinuxagent"), "ip_addr"))
    assert addresses["lo"]["addresses"] == ["127.0.0.1/8", "::1/128"]
    bond = by_name(parse_ip_link(quoted("ip_-s_-d_link.insights-core"), "ip_link"))
    assert bond["enp1s0"]["master"] == "bond0"
    assert bond["enp1s0"]["kind"] == "ether"  # `bond_slave` is slave info, not the kind


def test_cut_inside_an_interface_drops_that_interface_only():
    # Line 30 is the `veth ...` type line of cali1a2b3c4d5e6 (interface 6 of 7).
    interfaces = parse_ip_addr(cut_inside_line(lab("ip_-d_address"), 30), "ip_-d_address")
    assert [interface["name"] for interface in interfaces] == NODE_INTERFACES[:5]
    assert interfaces == parse_ip_addr(lab("ip_-d_address"), "ip_-d_address")[:5]


def test_cut_inside_a_header_or_a_one_line_record_keeps_the_records_before():
    # Line 33 is the header of cali9f8e7d6c5b4: everything before it is whole.
    interfaces = parse_ip_addr(cut_inside_line(lab("ip_-d_address"), 33, keep=12), "x")
    assert [interface["name"] for interface in interfaces] == NODE_INTERFACES[:6]
    one_line = parse_ip_link(cut_inside_line(lab("ip_-o_link"), 5, keep=40), "x")
    assert [interface["name"] for interface in one_line] == NODE_INTERFACES[:4]


def test_garbage_gives_no_interfaces():
    assert parse_ip_link(random_garbage(10), "x") == []
    assert parse_ip_link(UNRELATED_TEXT, "x") == []
    assert parse_ip_link(lab("nft_-a_list_ruleset"), "x") == []
    assert parse_ip_link(lab("ip_route_show_table_all"), "x") == []
    assert parse_ip_link(b"\xff\xfe 1: \x00", "x") == []
