from calirules.facts_collectors.parsers.iproute import parse_ip_neigh, parse_ip_rule
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    quoted,
    random_garbage,
    validate_facts,
)


def test_ip_rule_list_from_the_lab_node():
    rules = parse_ip_rule(lab("ip_-4_rule_list"), "ip_-4_rule_list")
    assert [rule["priority"] for rule in rules] == [0, 99, 100, 101, 32766, 32767]
    assert rules[1] == {"priority": 99, "selector": "not from all fwmark 0x100000/0x100000",
                        "action": "lookup", "table": "1", "source": "ip_-4_rule_list:2"}
    assert rules[2]["selector"] == "from 198.18.136.0/24"
    assert rules[2]["table"] == "200"
    assert rules[3] == {"priority": 101, "selector": "from all to 198.18.135.0/24",
                        "action": "prohibit", "source": "ip_-4_rule_list:4"}
    assert rules[4]["table"] == "main"
    validate_facts(ip_rules=rules)


def test_ip_rule_cut_mid_line_keeps_the_rules_before():
    rules = parse_ip_rule(cut_inside_line(lab("ip_-4_rule_list"), 3, keep=12), "r")
    assert [rule["priority"] for rule in rules] == [0, 99]


def test_ip_rule_garbage():
    assert parse_ip_rule(random_garbage(30), "x") == []
    assert parse_ip_rule(UNRELATED_TEXT, "x") == []
    assert parse_ip_rule(lab("ip_route_show_table_all"), "x") == []
    assert parse_ip_rule("12: hello world\n", "x") == []


def test_ip_s_s_neigh_from_the_lab_node():
    text = lab("ip_-s_-s_neigh_show")
    # The kernel lists neighbours in hash order, which changes from one capture to the next.
    line_starting = {line.split()[0]: number for number, line in enumerate(text.splitlines(), start=1)}
    neighbours = {n["ip"]: n for n in parse_ip_neigh(text, "ip_-s_-s_neigh_show")}
    assert set(neighbours) == {"198.18.0.11", "198.18.129.0", "198.18.0.1", "198.18.128.1",
                               "198.18.128.2", "198.18.0.99"}
    assert neighbours["198.18.129.0"] == {"ip": "198.18.129.0", "dev": "vxlan.calico",
                                          "lladdr": "66:6b:b1:00:00:02", "state": "PERMANENT",
                                          "source": f"ip_-s_-s_neigh_show:{line_starting['198.18.129.0']}"}
    # `198.18.0.99 dev eth0  used 4/64/1probes 6 FAILED`: no lladdr, statistics ignored.
    assert neighbours["198.18.0.99"] == {"ip": "198.18.0.99", "dev": "eth0", "state": "FAILED",
                                         "source": f"ip_-s_-s_neigh_show:{line_starting['198.18.0.99']}"}
    assert neighbours["198.18.128.1"]["state"] == "DELAY"
    assert neighbours["198.18.128.2"]["lladdr"] == "0a:58:c6:12:80:02"
    assert neighbours["198.18.0.11"]["state"] == "STALE"


def test_pod_neighbour_is_the_proxy_arp_gateway():
    neighbours = parse_ip_neigh(lab("pod1/ip_-s_-s_neigh_show"), "pod1/neigh")
    assert neighbours == [{"ip": "169.254.1.1", "dev": "eth0", "lladdr": "ee:ee:ee:ee:ee:ee",
                           "state": "REACHABLE", "source": "pod1/neigh:1"}]
    validate_facts(pods=[{"name": "pod1", "neighbors": neighbours, "source": "pod1/neigh"}])


def test_quoted_neighbours():
    neighbours = parse_ip_neigh(quoted("ip_neigh_show.insights-core"), "neigh")
    assert [(n["dev"], n.get("lladdr"), n["state"]) for n in neighbours] == [
        ("bond0.101", "00:90:fa:7f:b0:78", "STALE"), ("bond0.102", "0c:c4:7a:8f:44:02", "DELAY"),
        ("bond0.102", None, "INCOMPLETE")]


def test_neigh_cut_mid_line_keeps_the_entries_before():
    full = parse_ip_neigh(lab("ip_-s_-s_neigh_show"), "n")
    cut = parse_ip_neigh(cut_inside_line(lab("ip_-s_-s_neigh_show"), 4, keep=40), "n")
    assert cut == full[:3]


def test_neigh_garbage():
    assert parse_ip_neigh(random_garbage(31), "x") == []
    assert parse_ip_neigh(UNRELATED_TEXT, "x") == []
    assert parse_ip_neigh(lab("ip_-o_addr"), "x") == []
