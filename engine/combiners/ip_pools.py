"""IpPool facts: each Calico IP pool, and whether its CIDR contains one of the node's own addresses."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.devices import WORKLOAD_PREFIX
from calirules.engine.ip_pools import ip_pools
from calirules.engine.routing import ip_in

FLAGS = {"true": True, "false": False}
# Devices whose addresses are not the node's own: workloads, loopback, Calico's tunnels.
NOT_NODE_ADDRESSES = (WORKLOAD_PREFIX, "lo", "tunl", "vxlan")


def combine(dump, out):
    interfaces = dump.get("interfaces")
    node_ips = None if interfaces is None else [
        a.split("/")[0] for i in interfaces if not i["name"].startswith(NOT_NODE_ADDRESSES)
        for a in i.get("addresses") or () if ":" not in a]
    for name, fields in ip_pools(dump.get("settings")).items():
        cidr = fields.get("cidr", {}).get("value")
        inside = None if node_ips is None or not cidr else [ip for ip in node_ips if ip_in(ip, cidr)]
        sources = {k: v["source"] for k, v in fields.items()}
        out.add("IpPool", fields.get("cidr", next(iter(fields.values())))["source"], sources, name=name, cidr=cidr,
                nat_outgoing=FLAGS.get(fields.get("natOutgoing", {}).get("value", "").lower()),
                ipip_mode=fields.get("ipipMode", {}).get("value"),
                vxlan_mode=fields.get("vxlanMode", {}).get("value"),
                disabled=FLAGS.get(fields.get("disabled", {}).get("value", "false").lower()),
                node_ip=inside[0] if inside else None,
                contains_node_ip=None if inside is None else bool(inside))


COMBINER = Combiner(combine, makes=(FactInputs("IpPool", "settings", {
    "node_ip": "interfaces", "contains_node_ip": "interfaces"}),))
