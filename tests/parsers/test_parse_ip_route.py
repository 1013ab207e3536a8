from calirules.facts_collectors.parsers.iproute import parse_ip_route
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    line_of,
    quoted,
    random_garbage,
    validate_facts,
)


def main_table(routes):
    return [route for route in routes if route["table"] == "main"]


def test_route_table_all_from_the_lab_node():
    routes = parse_ip_route(lab("ip_route_show_table_all"), "ip_route_show_table_all")
    assert len(routes) == 33  # 34 lines: the multipath head and its 2 nexthops give 2 routes
    main = {route["dst"]: route for route in main_table(routes) if ":" not in route["dst"]}
    assert main["198.18.128.1"] == {
        "table": "main", "type": "unicast", "dst": "198.18.128.1", "dev": "cali1a2b3c4d5e6",
        "scope": "link", "proto": "boot", "onlink": False, "source": "ip_route_show_table_all:7"}
    assert main["198.18.128.0/26"]["type"] == "blackhole"
    assert main["198.18.128.0/26"]["proto"] == "80"
    assert main["198.18.129.0/26"]["onlink"] is True
    assert main["198.18.129.0/26"]["via"] == "198.18.129.0"
    assert main["198.18.129.0/26"]["dev"] == "vxlan.calico"
    assert main["198.18.130.0/26"]["proto"] == "bird"
    assert main["198.18.133.0/24"]["metric"] == 100
    assert main["198.18.0.0/24"]["src"] == "198.18.0.10"
    assert main["198.18.132.0/26"]["type"] == "unreachable"
    validate_facts(routes=routes)


def test_other_tables_and_ipv6():
    routes = parse_ip_route(lab("ip_route_show_table_all"), "r")
    assert {(route["table"], route["type"], route["dst"]) for route in routes if route["table"] in ("1", "200")} == {
        ("1", "unicast", "198.18.129.0/26"), ("200", "unicast", "default"), ("200", "throw", "198.18.134.0/26")}
    local = [route for route in routes if route["table"] == "local"]
    assert {route["type"] for route in local} == {"local", "broadcast", "multicast"}
    assert any(route["dst"] == "fe80::/64" and route["metric"] == 256 for route in routes)


def test_multipath_route_gives_one_route_per_nexthop():
    routes = parse_ip_route(lab("ip_route_show_table_all"), "r")
    multipath = [route for route in routes if route["dst"] == "198.18.131.0/26"]
    assert [(route["via"], route["dev"], line_of(route["source"])) for route in multipath] == [
        ("198.18.0.11", "eth0", 12), ("198.18.0.12", "eth0", 13)]
    assert all(route["proto"] == "80" for route in multipath)


def test_d_form_gives_the_same_facts_as_the_plain_form():
    plain = parse_ip_route(lab("ip_route_show_table_all"), "r")
    detailed = parse_ip_route(lab("ip_-d_route_show_table_all"), "r")
    assert len(plain) == len(detailed)
    for a, b in zip(plain, detailed):
        assert {**a, "source": ""} == {**b, "source": ""}


def test_pod_routes_and_quoted_calico_samples():
    pod = main_table(parse_ip_route(lab("pod1/ip_route_show_table_all"), "pod1/ip_route"))
    assert [(route["dst"], route.get("via"), route["scope"]) for route in pod] == [
        ("default", "169.254.1.1", "global"), ("169.254.1.1", None, "link"), ("fe80::/64", None, "global")]
    felix = parse_ip_route(quoted("ip_route.felix-vxlan-test"), "route")
    assert [route["dst"] for route in felix] == [
        "default", "10.65.0.0/26", "10.65.0.2", "10.65.1.0/26", "10.65.2.0/26", "172.17.0.0/16"]
    bird = parse_ip_route(quoted("ip_route.tigera-docs-bird"), "route")
    assert [(route["type"], route["proto"], route.get("dev")) for route in bird] == [
        ("unicast", "bird", "tunl0"), ("unicast", "bird", "tunl0"), ("blackhole", "bird", None)]
    insights = parse_ip_route(quoted("ip_route_show_table_all.insights-core"), "route")
    assert [route["table"] for route in insights] == ["red_mgmt", "red_mgmt", "main", "local", "local"]
    assert insights[1]["dev"] == "bond0.400"


def test_cut_inside_a_nexthop_drops_the_multipath_route():
    full = parse_ip_route(lab("ip_route_show_table_all"), "r")
    cut = parse_ip_route(cut_inside_line(lab("ip_route_show_table_all"), 13), "r")
    assert cut == full[:10]  # the routes of lines 1-10; 198.18.131.0/26 (lines 11-13) is gone
    assert "198.18.131.0/26" not in {route["dst"] for route in cut}


def test_cut_inside_a_route_line_keeps_the_routes_before():
    full = parse_ip_route(lab("ip_-d_route_show_table_all"), "r")
    cut = parse_ip_route(cut_inside_line(lab("ip_-d_route_show_table_all"), 15, keep=30), "r")
    assert cut == full[:13]
    assert cut[-1]["dst"] == "198.18.132.0/26"


def test_garbage_gives_no_routes():
    assert parse_ip_route(random_garbage(20), "x") == []
    assert parse_ip_route(UNRELATED_TEXT, "x") == []
    assert parse_ip_route(lab("ip_-d_address"), "x") == []
    assert parse_ip_route("Error: ipv4: FIB table does not exist.\nDump terminated\n", "x") == []
