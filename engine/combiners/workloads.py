"""Interface facts, and WorkloadPlumbing: everything that connects one cali* veth to its pod.

Per workload interface: link state, its /32 routes, per-interface sysctls, Calico's endpoint
chains and dispatch entries, and the pod side read inside the pod's network namespace.
"""

from calirules.engine import netfilter
from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.combiners.shared import (
    felix_nft_table,
    route_index,
    sysctls_by_key,
)
from calirules.engine.devices import gateway_neighbor, is_workload, oper_up
from calirules.engine.routing import host_ip

SYSCTL_KNOBS = ("forwarding", "proxy_arp", "rp_filter", "route_localnet")
ENDPOINT_FIELDS = ("tw_chain", "fw_chain", "dispatched", "tw_policies", "tw_policy_drop_packets", "fw_policies",
                   "fw_policy_drop_packets", "tw_invalid_drop_packets", "fw_invalid_drop_packets")
POD_FIELDS = ("pod", "pod_ips", "pod_mtu", "gateway_neighbor", "misrouted", "route_elsewhere", "shared_ips")


def combine(dump, out):
    index = dump.shared(route_index)
    sysctls = dump.shared(sysctls_by_key)
    # In Felix's nftables mode the per-pod chains live in nft's calico table, which is not indexed:
    # whether an endpoint is programmed is then unknown, not "no chain".
    endpoints = None if dump.shared(felix_nft_table) else netfilter.endpoint_index(dump.get("netfilter"))
    pods = dump.get("pods")
    pods_by_iface = {p["host_iface"]: p for p in pods or () if p.get("host_iface")}
    ip_holders = {}  # pod IP -> host interfaces of the pods holding it
    for pod in pods_by_iface.values():
        for address in pod.get("addresses") or ():
            ip_holders.setdefault(address.split("/")[0], []).append(pod["host_iface"])
    for iface in dump.get("interfaces") or ():
        name = iface["name"]
        up = oper_up(iface)
        workload = is_workload(name)
        out.add("Interface", iface["source"], name=name, kind=iface.get("kind"), state=iface.get("state"),
                oper_up=up, mtu=iface.get("mtu"), workload=workload, peer=iface.get("peer"),
                addresses=iface.get("addresses") or [])
        if workload:
            pod = pods_by_iface.get(name) if pods is not None else None
            _workload(out, iface, up, sysctls, index, endpoints, pod, pods is not None, ip_holders)


def _workload(out, iface, up, sysctls, index, endpoints, pod, pods_collected, ip_holders):
    name = iface["name"]
    sources = {"state": iface["source"], "mtu": iface["source"], "oper_up": iface["source"]}
    values = {"iface": name, "state": iface.get("state"), "oper_up": up, "mtu": iface.get("mtu")}
    for knob in SYSCTL_KNOBS:
        item = sysctls.get(f"net.ipv4.conf.{name}.{knob}")
        values[knob], sources[knob] = (item["value"], item["source"]) if item else (None, None)
    if index is not None:
        mine = index.by_dev.get(name, [])
        values["ips"] = [ip for ip in (host_ip(r["dst"]) for r in mine) if ip]
        values["route_count"] = len(values["ips"])
        values["other_routes"] = [r["dst"] for r in mine if not host_ip(r["dst"])]
        host_routes = [r for r in mine if host_ip(r["dst"])]
        if host_routes:
            sources["route"] = sources["ips"] = sources["route_count"] = host_routes[0]["source"]
        elif index.routes:
            # No line proves an absence: name the file that was searched.
            sources["ips"] = sources["route_count"] = index.routes[0]["source"].rsplit(":", 1)[0] + " (no /32 route)"
    if endpoints is not None:
        _endpoint_values(name, endpoints, values, sources)
    if pod is not None:
        values["pod"] = pod.get("name") or pod.get("netns")
        values["pod_ips"] = [a.split("/")[0] for a in pod.get("addresses") or ()]
        values["pod_mtu"] = pod.get("mtu")
        values["gateway_neighbor"] = gateway_neighbor(pod)
        for key in ("pod", "pod_ips", "pod_mtu", "gateway_neighbor", "shared_ips"):
            sources[key] = pod["source"]
        values["shared_ips"] = [f"{ip} also on {other}" for ip in values["pod_ips"]
                                for other in ip_holders.get(ip, ()) if other != name]
        if index is not None:
            elsewhere = [(ip, r) for ip in values["pod_ips"] for r in index.host_routes.get(ip, ())
                         if r["dev"] != name]
            values["misrouted"] = [f"{ip} dev {r['dev']}" for ip, r in elsewhere]
            values["route_elsewhere"] = bool(elsewhere)
            if elsewhere:
                sources["misrouted"] = sources["route_elsewhere"] = elsewhere[0][1]["source"]
    elif pods_collected and index is not None:
        values["route_elsewhere"] = False  # pod side read, no pod behind this veth: nothing to misroute
    out.add("WorkloadPlumbing", iface["source"], sources, **values)


def _endpoint_values(name, endpoints, values, sources):
    for kind in ("tw", "fw"):
        chain = endpoints[kind].get(name)
        values[f"{kind}_chain"] = chain is not None
        sources[f"{kind}_chain"] = chain["source"] if chain else endpoints["source"]
        if chain:
            values[f"{kind}_policies"] = chain["policies"]
            values[f"{kind}_policy_drop_packets"] = chain["policy_drop_packets"]
            sources[f"{kind}_policy_drop_packets"] = chain["policy_drop_source"] or chain["source"]
            values[f"{kind}_invalid_drop_packets"] = chain["invalid_drop_packets"]
            sources[f"{kind}_invalid_drop_packets"] = chain["invalid_drop_source"] or chain["source"]
    if endpoints["has_dispatch"]:
        values["dispatched"] = name in endpoints["dispatched"]
        sources["dispatched"] = endpoints["dispatched"].get(name) or endpoints["source"]


COMBINER = Combiner(
    combine,
    makes=(FactInputs("Interface", "interfaces"),
           FactInputs("WorkloadPlumbing", "interfaces", {
               "ips": "routes", "route_count": "routes", "other_routes": "routes",
               **dict.fromkeys(SYSCTL_KNOBS, "sysctls"), **dict.fromkeys(ENDPOINT_FIELDS, "netfilter"),
               **dict.fromkeys(POD_FIELDS, "pods")})),
    # Felix's nftables table makes the endpoint fields unknown (None), never required.
    also_reads=("nft_tables",))
