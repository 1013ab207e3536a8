"""The Mtu fact: workload, pod, uplink and tunnel MTUs on the node, and how far each exceeds its path."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.devices import admin_up, is_workload

# Encapsulation overhead of Calico's tunnel devices, in bytes: felix/dataplane/linux/int_dataplane.go
# (ipipMTUOverhead 20, vxlanMTUOverhead 50, vxlanV6MTUOverhead 70, wireguardMTUOverhead 60,
# wireguardV6MTUOverhead 80; projectcalico/calico 87c15906), the same table as Calico's docs
# "Configure MTU to maximize network performance". Felix sets each device's MTU to host MTU minus
# this and gives pods the smallest MTU of the enabled encapsulations.
TUNNEL_OVERHEAD = {"tunl0": 20, "vxlan.calico": 50, "vxlan-v6.calico": 70, "wireguard.cali": 60, "wg-v6.cali": 80}


def combine(dump, out):
    interfaces = {i["name"]: i for i in dump.get("interfaces") or ()}
    workloads = [i for i in interfaces.values() if is_workload(i["name"]) and i.get("mtu")]
    if not workloads:
        return
    tunnels = [interfaces[n] for n in TUNNEL_OVERHEAD if n in interfaces and interfaces[n].get("mtu")
               and admin_up(interfaces[n])]
    largest = max(workloads, key=lambda i: i["mtu"])
    smallest = min(workloads, key=lambda i: i["mtu"])
    values = {"workload_max": largest["mtu"], "workload_min": smallest["mtu"],
              "workload_spread": largest["mtu"] - smallest["mtu"], "smallest": smallest["name"],
              "largest": largest["name"]}
    sources = {"workload_max": largest["source"], "workload_min": smallest["source"],
               "workload_spread": smallest["source"], "smallest": smallest["source"],
               "largest": largest["source"]}
    pods = dump.get("pods")
    if pods is not None:
        pod_mtus = [p for p in pods if p.get("mtu")]
        values["pod_max"] = max((p["mtu"] for p in pod_mtus), default=None)
        excess = [p["mtu"] - interfaces[p["host_iface"]]["mtu"] for p in pod_mtus
                  if interfaces.get(p.get("host_iface"), {}).get("mtu")]
        values["pod_excess"] = max(excess, default=0)
        # The other direction: a pod's eth0 smaller than its veth. The node sends it frames up to the
        # veth's MTU and the veth drops every one larger than the pod's end, without an ICMP error.
        short = [(interfaces[p["host_iface"]]["mtu"] - p["mtu"], p) for p in pod_mtus
                 if interfaces.get(p.get("host_iface"), {}).get("mtu")]
        worst = max(short, key=lambda pair: pair[0], default=(0, None))
        values["pod_short"] = max(worst[0], 0)
        if worst[0] > 0:
            values["pod_short_iface"], values["pod_short_mtu"] = worst[1]["host_iface"], worst[1]["mtu"]
            sources["pod_short"] = sources["pod_short_iface"] = sources["pod_short_mtu"] = worst[1]["source"]
    routes = dump.get("routes")
    if routes is not None:
        default = next((r for r in routes if r["dst"] == "default" and r.get("table", "main") == "main"
                        and r.get("dev") in interfaces), None)
        if default and interfaces[default["dev"]].get("mtu"):
            values["uplink"], values["uplink_mtu"] = default["dev"], interfaces[default["dev"]]["mtu"]
            values["workload_over_uplink"] = largest["mtu"] - values["uplink_mtu"]
            sources["uplink"] = sources["uplink_mtu"] = default["source"]
    values["tunnels"] = [t["name"] for t in tunnels]
    if tunnels:
        _tunnel_values(tunnels, largest, values, sources)
    out.add("Mtu", smallest["source"], sources, **values)


def _tunnel_values(tunnels, largest, values, sources):
    uplink_mtu = values.get("uplink_mtu")

    def excess(tunnel):
        return tunnel["mtu"] - (uplink_mtu - TUNNEL_OVERHEAD[tunnel["name"]]) if uplink_mtu else None
    # the tunnel that exceeds its path most (ties: the larger overhead); no uplink: the larger overhead
    worst = max(tunnels, key=lambda t: (excess(t) or 0, TUNNEL_OVERHEAD[t["name"]]))
    values["tunnel"], values["tunnel_mtu"] = worst["name"], worst["mtu"]
    values["encap_overhead"] = TUNNEL_OVERHEAD[worst["name"]]
    sources["tunnel"] = sources["tunnel_mtu"] = sources["encap_overhead"] = worst["source"]
    if uplink_mtu:
        values["tunnel_over_path"] = excess(worst)
        # pods must fit the most expensive encapsulation in use
        values["path_mtu"] = uplink_mtu - max(TUNNEL_OVERHEAD[t["name"]] for t in tunnels)
        values["workload_over_path"] = largest["mtu"] - values["path_mtu"]
        sources["tunnel_over_path"] = worst["source"]
        sources["path_mtu"] = sources["uplink_mtu"]
        sources["workload_over_path"] = largest["source"]


COMBINER = Combiner(combine, makes=(FactInputs("Mtu", "interfaces", {
    "pod_max": "pods", "pod_excess": "pods", "pod_short": "pods", "pod_short_iface": "pods",
    "pod_short_mtu": "pods", "uplink": "routes", "uplink_mtu": "routes",
    "workload_over_uplink": "routes", "path_mtu": "routes", "tunnel_over_path": "routes",
    "workload_over_path": "routes"}),))
