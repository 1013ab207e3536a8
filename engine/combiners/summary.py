"""The node summary: what reports and remediation templates need to know about the node, taken
from the facts the other combiners made (run after them) and from the dump where no fact holds it.
It makes no rule facts."""

import ipaddress
from dataclasses import dataclass, field

from calirules.engine import platform
from calirules.engine.combiners.base import Combiner
from calirules.engine.combiners.shared import route_index
from calirules.engine.devices import is_workload
from calirules.engine.routing import host_ip


@dataclass
class NodeSummary:
    node: dict  # the dump's `node` record: hostname, kernel, os, ...
    versions: dict  # component -> version
    install: dict  # how Calico is installed and runs here: engine.platform.describe
    uplink: str  # the device of the main table's default route, or None
    workloads: list  # [{iface, ip}] for each cali* host route of the main table, in route order
    pod_cidrs: list  # IPv4 CIDRs of the enabled IP pools
    calico_backend: str  # the iptables backend with the most cali- chains (the first read on a tie), or None
    notes: list  # what the collector noted about the collection
    # What comparing nodes needs (calirules fleet): {"node_ips", "mtu": {"uplink", "workloads",
    # "tunnels"}, "blocks"}; see _network.
    network: dict = field(default_factory=dict)


def combine(dump, out):
    chains = {f["backend"]: f["calico_chains"] for f in out.of("Netfilter")}
    backend = max(chains, key=chains.get, default=None)
    index = dump.shared(route_index)
    main_routes = index.by_table.get("main", ()) if index is not None else ()
    out.summary = NodeSummary(
        node=dump["node"],
        versions={f["component"]: f["version"] for f in out.of("Version")},
        install=platform.describe(dump),
        uplink=next((r.get("dev") for r in main_routes if r.get("dst") == "default" and r.get("dev")), None),
        workloads=[{"iface": r["dev"], "ip": ip} for r in main_routes
                   if is_workload(r.get("dev") or "") and (ip := host_ip(r.get("dst") or ""))],
        pod_cidrs=[f["cidr"] for f in out.of("IpPool") if f["cidr"] and ":" not in f["cidr"] and f["disabled"] is not True],
        calico_backend=backend if backend and chains[backend] else None,
        notes=list((dump.get("collection") or {}).get("notes") or ()),
        network=_network(dump, main_routes))


TUNNEL_DEVICES = ("tunl0", "vxlan.calico", "vxlan-v6.calico", "wireguard.cali", "wg-v6.cali")


def _network(dump, main_routes):
    """The node's own addresses (global ones on the uplink, else on every device that is not a
    workload, a tunnel or loopback), MTUs (uplink, the distinct cali* values, each tunnel) and the
    IPAM blocks it holds: Calico installs a blackhole route for each block this node owns."""
    uplink = next((r.get("dev") for r in main_routes if r.get("dst") == "default" and r.get("dev")), None)
    interfaces = dump.get("interfaces") or ()
    own = [i for i in interfaces if i.get("name") == uplink] or [
        i for i in interfaces if i.get("name") and not is_workload(i["name"]) and i["name"] not in TUNNEL_DEVICES
        and i.get("kind") != "loopback" and i["name"] != "lo"]
    node_ips = []
    for iface in own:
        for address in iface.get("addresses") or ():
            try:
                ip = ipaddress.ip_interface(address).ip
            except ValueError:
                continue
            if not (ip.is_link_local or ip.is_loopback) and str(ip) not in node_ips:
                node_ips.append(str(ip))
    mtu = {"uplink": next((i.get("mtu") for i in interfaces if uplink and i.get("name") == uplink), None),
           "workloads": sorted({i["mtu"] for i in interfaces
                                if is_workload(i.get("name") or "") and isinstance(i.get("mtu"), int)}),
           "tunnels": {i["name"]: i["mtu"] for i in interfaces
                       if i.get("name") in TUNNEL_DEVICES and isinstance(i.get("mtu"), int)}}
    blocks = sorted({r["dst"] for r in dump.get("routes") or ()
                     if r.get("type") == "blackhole" and r.get("dst") and r["dst"] != "default"})
    return {"node_ips": node_ips, "mtu": mtu, "blocks": blocks}


COMBINER = Combiner(combine, reads_facts=("Netfilter", "Version", "IpPool"), also_reads=(
    "node", "routes", "collection",
    # engine.platform.describe's evidence for the install method, data plane and encapsulation
    "components", "kube_objects", "settings", "nft_tables", "netfilter", "log_events", "interfaces"))
