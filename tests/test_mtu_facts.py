"""The Mtu fact's tunnel fields (the mtu combiner), from real `ip -d address` output."""

import shutil

from calirules.engine.combiners import build_facts
from calirules.engine.combiners.mtu import TUNNEL_OVERHEAD
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.parsers import iproute
from calirules.facts_collectors.source import DirectorySource

from tests.helpers import REPO

LAB = REPO / "tests" / "fixtures" / "raw" / "netns-lab"


def mtu_fact(dump):
    return next(f for name, f in build_facts(dump) if name == "Mtu")


def test_overheads_are_felix_constants():
    # felix/dataplane/linux/int_dataplane.go: ipipMTUOverhead, vxlanMTUOverhead, vxlanV6MTUOverhead,
    # wireguardMTUOverhead, wireguardV6MTUOverhead
    assert TUNNEL_OVERHEAD == {"tunl0": 20, "vxlan.calico": 50, "vxlan-v6.calico": 70, "wireguard.cali": 60,
                               "wg-v6.cali": 80}


def test_lab_node_vxlan_device_fits_and_its_1500_pods_do_not(tmp_path):
    root = tmp_path / "sosreport-lab"
    for raw, target in (("ip_-d_address", "sos_commands/networking/ip_-d_address"),
                        ("ip_route_show_table_all", "sos_commands/networking/ip_route_show_table_all")):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(LAB / raw, root / target)
    fact = mtu_fact(read_bundle(DirectorySource(root)))
    assert fact["tunnels"] == ["vxlan.calico"] and fact["tunnel_mtu"] == 1450
    assert (fact["uplink_mtu"], fact["encap_overhead"], fact["path_mtu"]) == (1500, 50, 1450)
    assert fact["tunnel_over_path"] == 0
    assert fact["workload_max"] == 1500 and fact["workload_over_path"] == 50
    assert fact["sources"]["tunnel_mtu"].startswith("sos_commands/networking/ip_-d_address:")


def test_a_tunl0_left_down_by_the_ipip_module_is_not_a_tunnel_in_use():
    # insights-core IP_ADDR_TEST, as quoted in shared/reference/bundle-layouts.md section 2.3
    links = iproute.parse_ip_link("3: tunl0: <NOARP> mtu 1480 qdisc noop state DOWN \n"
                                  "    link/ipip 0.0.0.0 brd 0.0.0.0\n", "ip_addr")
    assert links and links[0]["name"] == "tunl0"
    lab = iproute.parse_ip_link((LAB / "ip_-d_address").read_text(), "ip_-d_address")
    dump = {"node": {"hostname": "n"}, "interfaces": [i for i in lab if i["name"] != "vxlan.calico"] + links,
            "routes": iproute.parse_ip_route((LAB / "ip_route_show_table_all").read_text(), "r")}
    fact = mtu_fact(dump)
    assert fact["tunnels"] == [] and fact["workload_over_path"] is None and fact["tunnel"] is None
