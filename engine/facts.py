"""Engine facts: the vocabulary rules are written in, and how a facts dump becomes those facts.

A dump has one record per sysctl, route and iptables rule; declaring each into experta would
make every join an N x M scan. Instead this module combines records into a few facts per
interface, chain and backend (insights-core calls this layer "combiners"), so rules match one
fact where they can and join on small memories where they must.

Every fact type lists its fields; every declared fact has all of them (None when unknown), so
`exists: false` works and rule files can be checked for typos. A field is None, never a guess,
when the dump section it comes from was not collected: rules must not fire on absent data.
Provenance travels in two extra fields: `source` (one place) and `sources` (per field).
"""

import re
from dataclasses import dataclass, field

from calirules.engine import compat_matrix, felix_backend, netfilter, versions
from calirules.engine.routing import RouteIndex, host_ip, ip_in

WORKLOAD_PREFIX = "cali"
IPPOOL_COMPONENT = "ippool/"  # IP pools ride in `settings` as component "ippool/<name>"


def ip_pool_settings(dump):
    """{pool name: {key: settings item}} for the IP pools the dump's settings list."""
    pools = {}
    for item in dump.get("settings") or ():
        if item["component"].startswith(IPPOOL_COMPONENT):
            pools.setdefault(item["component"][len(IPPOOL_COMPONENT):], {})[item["key"]] = item
    return pools
# Encapsulation overhead of Calico's tunnel devices, in bytes: felix/dataplane/linux/int_dataplane.go
# (ipipMTUOverhead 20, vxlanMTUOverhead 50, vxlanV6MTUOverhead 70, wireguardMTUOverhead 60,
# wireguardV6MTUOverhead 80; projectcalico/calico 87c15906), the same table as Calico's docs
# "Configure MTU to maximize network performance". Felix sets each device's MTU to host MTU minus
# this and gives pods the smallest MTU of the enabled encapsulations.
TUNNEL_OVERHEAD = {"tunl0": 20, "vxlan.calico": 50, "vxlan-v6.calico": 70, "wireguard.cali": 60, "wg-v6.cali": 80}
POD_GATEWAY = "169.254.1.1"
# Modules only the legacy (x_tables) iptables backend loads: their presence means legacy tables.
LEGACY_IPTABLES_MODULES = {"ip_tables", "iptable_filter", "iptable_nat", "iptable_mangle", "iptable_raw",
                           "iptable_security"}
# Listings of whatever `iptables` is on the host: sos's `iptables -vnxL`, calicoctl diags' ipv4_tables.
HOST_IPTABLES_LISTINGS = ("sos_commands/firewall_tables/iptables_", "ipv4_tables")
BUILTIN_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}
# Per-endpoint and per-policy chains are folded into WorkloadPlumbing / Netfilter counts.
_PER_ENDPOINT_CHAIN = re.compile(r"^cali-(tw|fw|sm|pi|po|pri|pro|th|fh|thfw|fhfw)-")


@dataclass(frozen=True)
class FactType:
    name: str
    fields: tuple
    section: str  # the dump section this fact cannot exist without
    field_sections: dict = field(default_factory=dict)  # fields that need a further section
    doc: str = ""


FACT_TYPES = {t.name: t for t in (
    FactType("Node", ("hostname", "os", "kernel", "symptom", "workloads", "iptables_backends", "all_backends_read",
                      "felix_nftables"),
             # felix_nftables is deliberately not tied to nft_tables: rules use it only to stand down
             # (unless), and a bundle without the nft ruleset must not silence them.
             "node", {"workloads": "interfaces", "iptables_backends": "netfilter", "all_backends_read": "netfilter"},
             doc="The node: identity, the symptom being diagnosed (default same-node), how many cali* workload "
                 "interfaces it has, which iptables backends were read (both: all_backends_read), and whether "
                 "Felix's nftables data plane (Calico v3.29+) is programmed: nft `table ip calico` with chains "
                 "(felix_nftables; then Calico's per-pod rules are not in iptables at all)."),
    FactType("Version", ("component", "version", "minor", "detail"), "versions",
             doc="One installed version: calico, kubernetes, kubelet, iptables (detail: legacy/nf_tables), ..."),
    FactType("Compat", ("calico", "kubernetes", "component", "verdict", "tested", "tested_text", "floor",
                        "floor_kind", "minors_outside", "calico_minor", "kubernetes_minor", "matrix_source"),
             "versions",
             doc="Where the Calico/Kubernetes pair sits in the support matrix. verdict: tested, unlisted, "
                 "newer-than-tested, older-than-tested, below-floor, unknown-release."),
    FactType("Sysctl", ("key", "value"), "sysctls",
             doc="One sysctl; only keys that some loaded rule names are declared."),
    FactType("Interface", ("name", "kind", "state", "oper_up", "mtu", "workload", "peer", "addresses"),
             "interfaces", doc="A network interface of the node."),
    FactType("WorkloadPlumbing",
             ("iface", "state", "oper_up", "mtu", "ips", "route_count", "other_routes", "forwarding",
              "proxy_arp", "rp_filter", "route_localnet", "tw_chain", "fw_chain", "dispatched",
              "tw_policies", "tw_policy_drop_packets", "fw_policies", "fw_policy_drop_packets",
              "tw_invalid_drop_packets", "fw_invalid_drop_packets",
              "pod", "pod_ips", "pod_mtu", "gateway_neighbor", "misrouted", "route_elsewhere", "shared_ips"),
             "interfaces",
             {"ips": "routes", "route_count": "routes", "other_routes": "routes", "forwarding": "sysctls",
              "proxy_arp": "sysctls", "rp_filter": "sysctls", "route_localnet": "sysctls",
              "tw_chain": "netfilter", "fw_chain": "netfilter", "dispatched": "netfilter",
              "tw_policies": "netfilter", "tw_policy_drop_packets": "netfilter", "fw_policies": "netfilter",
              "fw_policy_drop_packets": "netfilter", "tw_invalid_drop_packets": "netfilter",
              "fw_invalid_drop_packets": "netfilter", "pod": "pods", "pod_ips": "pods", "pod_mtu": "pods",
              "gateway_neighbor": "pods", "misrouted": "pods", "route_elsewhere": "pods", "shared_ips": "pods"},
             doc="Everything that connects one host-side cali* interface to its pod: link state, /32 "
                 "routes, per-interface sysctls, Calico chains, dispatch entries and end-of-tier policy "
                 "drop and conntrack-INVALID drop counters, the pod side (IPs, MTU, gateway neighbour), pod "
                 "IPs routed to another interface (misrouted: 'ip dev X'), pod IPs another pod also holds "
                 "(shared_ips: 'ip also on X')."),
    FactType("Mtu", ("workload_max", "workload_min", "workload_spread", "smallest", "largest", "pod_max", "pod_excess",
                     "uplink", "uplink_mtu", "workload_over_uplink", "tunnels", "tunnel", "tunnel_mtu",
                     "encap_overhead", "path_mtu", "tunnel_over_path", "workload_over_path"), "interfaces",
             {"pod_max": "pods", "pod_excess": "pods", "uplink": "routes", "uplink_mtu": "routes",
              "workload_over_uplink": "routes", "path_mtu": "routes",
              "tunnel_over_path": "routes", "workload_over_path": "routes"},
             doc="MTUs on the node: cali* interfaces (largest, smallest, spread, and which interface has each), pod-side eth0 (largest, and "
                 "by how much a pod's MTU exceeds its host-side veth), the uplink (device of the default "
                 "route) and by how much the largest workload MTU exceeds it; the Calico tunnel devices that "
                 "are up (tunnels); the one whose MTU most exceeds uplink MTU minus its encapsulation overhead "
                 "(tunnel, tunnel_mtu, encap_overhead: IPIP 20, VXLAN 50, WireGuard 60, IPv6 VXLAN 70, IPv6 "
                 "WireGuard 80) and by how much (tunnel_over_path); path_mtu = uplink MTU minus the largest "
                 "overhead among the tunnels, and by how much the largest workload MTU exceeds it "
                 "(workload_over_path). Null without a tunnel device that is up."),
    FactType("Netfilter",
             ("backend", "rules", "chains", "calico_chains", "kube_chains", "docker_chains", "other_chains",
              "forward_policy", "calico_forward", "legacy_warning", "warnings", "unknown_interface_drops",
              "kube_invalid_drop_packets"),
             "netfilter", doc="One iptables backend (legacy or nft) as a whole. kube_invalid_drop_packets: packets "
                              "kube-proxy's KUBE-FORWARD `ctstate INVALID -j DROP` dropped (null without that rule)."),
    FactType("Chain",
             ("backend", "table", "name", "policy", "policy_packets", "rules", "builtin", "calico_jump",
              "accepts_calico_mark", "blocks_before_calico", "first_block", "block_packets"),
             "netfilter",
             doc="A built-in chain or a top-level cali- chain. blocks_before_calico counts DROP/REJECT rules "
                 "placed ahead of the point where Calico accepts (its mark ACCEPT; all of them when Calico "
                 "has no accept in this chain)."),
    FactType("IptablesBackends",
             ("backends_read", "legacy_read", "nft_read", "calico_backend", "legacy_warning", "legacy_tables",
              "legacy_modules", "legacy_signs", "host_iptables", "calico_version", "felix_default", "felix_setting",
              "felix_log", "felix_expected", "nft_calico_chains", "nft_kube_chains", "nft_docker_chains",
              "nft_forward_policy", "nft_forward_drop", "nft_foreign"),
             "netfilter",
             {"legacy_tables": "legacy_tables", "legacy_modules": "kernel_modules", "host_iptables": "versions",
              "calico_version": "versions", "felix_default": "versions", "felix_setting": "settings",
              "felix_log": "log_events"},
             doc="The node's iptables backends as a whole, for when one was not read (a plain sosreport): which "
                 "were read and which holds cali-FORWARD (calico_backend); signs that legacy tables exist "
                 "(legacy_warning: iptables-nft's '# Warning: iptables-legacy tables present'; legacy_tables: "
                 "/proc/net/ip_tables_names; legacy_modules: ip_tables/iptable_* loaded; legacy_signs: how many "
                 "of the three); the host's `iptables` (host_iptables: nf_tables/legacy); the backend Felix "
                 "should program (felix_default for this Calico release from engine/data, felix_setting, "
                 "felix_log, felix_expected: legacy/nft, None when auto or unknown); and the nft side: "
                 "Calico/KUBE-/DOCKER chains, FORWARD policy, nft_forward_drop (policy DROP and no jump to "
                 "Calico), nft_foreign (KUBE-/DOCKER chains or that DROP: another agent programs nft)."),
    FactType("Module", ("name", "state"), "kernel_modules", doc="A loaded or built-in kernel module."),
    FactType("Conntrack", ("count", "max", "usage", "insert_failed", "drop", "early_drop", "invalid"),
             "conntrack", doc="Conntrack table fill (usage = count/max) and summed per-CPU counters."),
    FactType("Component", ("name", "ready", "status", "restarts", "message", "age", "age_seconds",
                           "last_restart_seconds", "namespace", "pod", "node"), "components",
             doc="A Calico/Kubernetes component on the node, e.g. calico-node readiness, pod age (as printed "
                 "and in seconds) and seconds since its last restart (None if never restarted or not shown), "
                 "its pod, namespace and node (None when the listing does not show them), "
                 "or a host service listed by systemctl list-units (firewalld, ufw, nm-cloud-setup; "
                 "ready = unit active)."),
    FactType("Setting", ("component", "key", "value"), "settings",
             doc="A configuration value, e.g. felix IptablesBackend."),
    FactType("IpPool", ("name", "cidr", "nat_outgoing", "ipip_mode", "vxlan_mode", "disabled", "node_ip",
                        "contains_node_ip"), "settings", {"node_ip": "interfaces", "contains_node_ip": "interfaces"},
             doc="A Calico IPPool (from settings `ippool/<name>`), and whether its CIDR contains one of the "
                 "node's own addresses (node_ip)."),
    FactType("LogEvent", ("component", "event", "level", "message", "count", "first", "last", "current"),
             "log_events",
             doc="A classified log line (with how often it was seen). current: true when an occurrence comes "
                 "from the running calico-node container instance (or is not older than its start), false "
                 "when every occurrence predates it, null when that cannot be told."),
    FactType("HostNetworkManager", ("name", "active", "manages_workloads", "claims", "config"), "network_managers",
             doc="NetworkManager or systemd-networkd on the node: whether it runs (active) and whether its "
                 "configuration claims Calico's devices (manages_workloads: cali* not excluded by "
                 "unmanaged-devices / [device] managed=0, or matched by a .network file without "
                 "Unmanaged=yes; claims: which of cali*, tunl0, vxlan.calico, wireguard.cali), with the "
                 "deciding setting (config)."),
    FactType("Pod", ("name", "namespace", "netns", "host_iface", "addresses", "mtu", "gateway_neighbor"), "pods",
             doc="A pod network namespace seen from inside."),
    FactType("IpRule", ("priority", "selector", "action", "table", "table_routes", "table_workload_routes",
                        "catches_pods"), "ip_rules",
             {"table_routes": "routes", "table_workload_routes": "routes", "catches_pods": "routes"},
             doc="One policy-routing rule, with what its table holds: routes, cali* routes, and whether "
                 "it has a route (e.g. a default) that pod addresses would match."),
    FactType("Observation", ("kind", "text", "seen_on", "not_seen_on", "result"), "observations",
             doc="Something a person observed, e.g. a packet trace."),
)}


def sections_present(dump):
    """Dump sections that were collected (an empty list still counts: collected, nothing there)."""
    return {name for name, value in dump.items() if value is not None} | {"node"}


class FactBuilder:
    """Combines one dump into engine facts: a list of (type name, fields dict)."""

    def __init__(self, dump, sysctl_keys=None, symptom=None):
        self.dump = dump
        self.present = sections_present(dump)
        self.sysctl_keys = sysctl_keys
        self.symptom = symptom or dump.get("symptom") or "same-node"
        self.sysctls = {s["key"]: s for s in dump.get("sysctls") or ()}
        self.out = []

    def add(self, type_name, source=None, sources=None, **values):
        spec = FACT_TYPES[type_name]
        record = {name: values.get(name) for name in spec.fields}
        record["source"] = source
        record["sources"] = {k: v for k, v in (sources or {}).items() if v}
        self.out.append((type_name, record))

    def build(self):
        self._node()
        self._versions()
        self._sysctls()
        self._interfaces()
        self._mtu()
        self._netfilter()
        self._iptables_backends()
        self._ip_rules()
        self._simple_sections()
        return self.out

    def _node(self):
        node = self.dump["node"]
        sources = node.get("sources") or {}
        interfaces = self.dump.get("interfaces")
        workloads = None if interfaces is None else sum(1 for i in interfaces if i["name"].startswith(WORKLOAD_PREFIX))
        netfilter_dump = self.dump.get("netfilter")
        backends = None if netfilter_dump is None else sorted({b["backend"] for b in netfilter_dump})
        nft = self.felix_nft_table()
        if nft:
            sources = dict(sources, felix_nftables=nft["source"])
        self.add("Node", sources.get("hostname"), sources, hostname=node["hostname"], os=node.get("os"),
                 kernel=node.get("kernel"), symptom=self.symptom, workloads=workloads, iptables_backends=backends,
                 all_backends_read=None if backends is None else backends == ["legacy", "nft"],
                 felix_nftables=None if self.dump.get("nft_tables") is None else nft is not None)

    def felix_nft_table(self):
        """Felix's nftables data plane table (`table ip calico` with chains), or None."""
        return next((t for t in self.dump.get("nft_tables") or ()
                     if t.get("name") == "calico" and t.get("family") == "ip" and t.get("chains")), None)

    def _versions(self):
        by_component = {}
        for item in self.dump.get("versions") or ():
            by_component.setdefault(item["component"], item)
            self.add("Version", item["source"], component=item["component"], version=item["version"],
                     minor=versions.minor(item["version"]), detail=item.get("detail"))
        calico = by_component.get("calico")
        if not calico:
            return
        for component in ("kubernetes", "kubelet"):
            other = by_component.get(component)
            if not other:
                continue
            verdict = compat_matrix.assess(calico["version"], other["version"])
            self.add("Compat", other["source"], {"calico": calico["source"], component: other["source"]},
                     component=component, tested_text=", ".join(verdict["tested"]), **verdict)

    def _sysctls(self):
        for key, item in self.sysctls.items():
            if self.sysctl_keys is None or key in self.sysctl_keys:
                self.add("Sysctl", item["source"], key=key, value=item["value"])

    def _sysctl(self, key):
        """(value, source) of a sysctl, or (None, None) when not collected."""
        item = self.sysctls.get(key)
        return (item["value"], item["source"]) if item else (None, None)

    def _interfaces(self):
        routes = self.dump.get("routes")
        index = RouteIndex(routes) if routes is not None else None
        # In Felix's nftables mode the per-pod chains live in nft's calico table, which is not indexed:
        # whether an endpoint is programmed is then unknown, not "no chain".
        endpoints = None if self.felix_nft_table() else netfilter.endpoint_index(self.dump.get("netfilter"))
        pods = self.dump.get("pods")
        pods_by_iface = {p["host_iface"]: p for p in pods or () if p.get("host_iface")}
        self.ip_holders = {}  # pod IP -> host interfaces of the pods holding it
        for pod in pods_by_iface.values():
            for address in pod.get("addresses") or ():
                self.ip_holders.setdefault(address.split("/")[0], []).append(pod["host_iface"])
        for iface in self.dump.get("interfaces") or ():
            name = iface["name"]
            oper_up = _oper_up(iface)
            workload = name.startswith(WORKLOAD_PREFIX)
            self.add("Interface", iface["source"], name=name, kind=iface.get("kind"), state=iface.get("state"),
                     oper_up=oper_up, mtu=iface.get("mtu"), workload=workload, peer=iface.get("peer"),
                     addresses=iface.get("addresses") or [])
            if workload:
                pod = pods_by_iface.get(name) if pods is not None else None
                self._workload(iface, oper_up, index, endpoints, pod, pods is not None)

    def _workload(self, iface, oper_up, index, endpoints, pod, pods_collected):
        name = iface["name"]
        sources = {"state": iface["source"], "mtu": iface["source"], "oper_up": iface["source"]}
        values = {"iface": name, "state": iface.get("state"), "oper_up": oper_up, "mtu": iface.get("mtu")}
        for knob in ("forwarding", "proxy_arp", "rp_filter", "route_localnet"):
            values[knob], sources[knob] = self._sysctl(f"net.ipv4.conf.{name}.{knob}")
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
            self._endpoint_values(name, endpoints, values, sources)
        if pod is not None:
            values["pod"] = pod.get("name") or pod.get("netns")
            values["pod_ips"] = [a.split("/")[0] for a in pod.get("addresses") or ()]
            values["pod_mtu"] = pod.get("mtu")
            values["gateway_neighbor"] = _gateway_neighbor(pod)
            for key in ("pod", "pod_ips", "pod_mtu", "gateway_neighbor", "shared_ips"):
                sources[key] = pod["source"]
            values["shared_ips"] = [f"{ip} also on {other}" for ip in values["pod_ips"]
                                    for other in self.ip_holders.get(ip, ()) if other != name]
            if index is not None:
                elsewhere = [(ip, r) for ip in values["pod_ips"] for r in index.host_routes.get(ip, ())
                             if r["dev"] != name]
                values["misrouted"] = [f"{ip} dev {r['dev']}" for ip, r in elsewhere]
                values["route_elsewhere"] = bool(elsewhere)
                if elsewhere:
                    sources["misrouted"] = sources["route_elsewhere"] = elsewhere[0][1]["source"]
        elif pods_collected and index is not None:
            values["route_elsewhere"] = False  # pod side read, no pod behind this veth: nothing to misroute
        self.add("WorkloadPlumbing", iface["source"], sources, **values)

    def _mtu(self):
        interfaces = {i["name"]: i for i in self.dump.get("interfaces") or ()}
        workloads = [i for i in interfaces.values() if i["name"].startswith(WORKLOAD_PREFIX) and i.get("mtu")]
        if not workloads:
            return
        tunnels = [interfaces[n] for n in TUNNEL_OVERHEAD if n in interfaces and interfaces[n].get("mtu")
                   and _admin_up(interfaces[n])]
        largest = max(workloads, key=lambda i: i["mtu"])
        smallest = min(workloads, key=lambda i: i["mtu"])
        values = {"workload_max": largest["mtu"], "workload_min": smallest["mtu"],
                  "workload_spread": largest["mtu"] - smallest["mtu"], "smallest": smallest["name"],
                  "largest": largest["name"]}
        sources = {"workload_max": largest["source"], "workload_min": smallest["source"],
                   "workload_spread": smallest["source"], "smallest": smallest["source"],
                   "largest": largest["source"]}
        pods = self.dump.get("pods")
        if pods is not None:
            pod_mtus = [p for p in pods if p.get("mtu")]
            values["pod_max"] = max((p["mtu"] for p in pod_mtus), default=None)
            excess = [p["mtu"] - interfaces[p["host_iface"]]["mtu"] for p in pod_mtus
                      if interfaces.get(p.get("host_iface"), {}).get("mtu")]
            values["pod_excess"] = max(excess, default=0)
        routes = self.dump.get("routes")
        if routes is not None:
            default = next((r for r in routes if r["dst"] == "default" and r.get("table", "main") == "main"
                            and r.get("dev") in interfaces), None)
            if default and interfaces[default["dev"]].get("mtu"):
                values["uplink"], values["uplink_mtu"] = default["dev"], interfaces[default["dev"]]["mtu"]
                values["workload_over_uplink"] = largest["mtu"] - values["uplink_mtu"]
                sources["uplink"] = sources["uplink_mtu"] = default["source"]
        values["tunnels"] = [t["name"] for t in tunnels]
        if tunnels:
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
        self.add("Mtu", smallest["source"], sources, **values)

    @staticmethod
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

    def _netfilter(self):
        for backend in self.dump.get("netfilter") or ():
            name = backend["backend"]
            counts = {"rules": 0, "chains": 0, "calico_chains": 0, "kube_chains": 0, "docker_chains": 0,
                      "other_chains": 0}
            filter_chains = {}
            for table in backend["tables"]:
                for chain in table["chains"]:
                    cname = chain["name"]
                    counts["chains"] += 1
                    counts["rules"] += len(chain["rules"])
                    kind = ("calico_chains" if cname.startswith("cali-") else "kube_chains" if cname.startswith("KUBE-")
                            else "docker_chains" if cname.startswith("DOCKER") else
                            None if cname in BUILTIN_CHAINS else "other_chains")
                    if kind:
                        counts[kind] += 1
                    if table["name"] == "filter":
                        filter_chains[cname] = chain
            warnings = backend.get("warnings") or []
            unknown = netfilter.endpoint_index([backend])["unknown_drops"]
            kube_invalid = netfilter.invalid_drops(filter_chains.get("KUBE-FORWARD", {}).get("rules") or [])
            self.add("Netfilter", backend["source"],
                     {"kube_invalid_drop_packets": kube_invalid[0]["source"] if kube_invalid else None}, backend=name,
                     kube_invalid_drop_packets=sum(r.get("packets") or 0 for r in kube_invalid) if kube_invalid else None,
                     forward_policy=filter_chains.get("FORWARD", {}).get("policy"),
                     calico_forward="cali-FORWARD" in filter_chains, warnings=warnings,
                     legacy_warning=any("legacy tables present" in w for w in warnings),
                     unknown_interface_drops=unknown, **counts)
            for table in backend["tables"]:
                for chain in table["chains"]:
                    if chain["name"] in BUILTIN_CHAINS or (chain["name"].startswith("cali-")
                                                            and not _PER_ENDPOINT_CHAIN.match(chain["name"])):
                        self._chain(name, table["name"], chain, filter_chains if table["name"] == "filter" else {})

    def _iptables_backends(self):
        """One IptablesBackends fact: what is known, observed or inferred, about both backends."""
        dump_backends = self.dump.get("netfilter")
        if dump_backends is None:
            return
        by_name = {b["backend"]: b for b in dump_backends}
        values, sources = {}, {}
        values["backends_read"] = sorted(by_name)
        values["legacy_read"], values["nft_read"] = "legacy" in by_name, "nft" in by_name
        for name, backend in by_name.items():
            if any(c["name"] == "cali-FORWARD" for t in backend["tables"] for c in t["chains"]):
                values["calico_backend"] = name
                sources["calico_backend"] = backend["source"]
        self._legacy_signs(dump_backends, values, sources)
        self._felix_backend(values, sources)
        nft = by_name.get("nft")
        if nft is not None:
            chains = [c for t in nft["tables"] for c in t["chains"]]
            filter_chains = {c["name"]: c for t in nft["tables"] if t["name"] == "filter" for c in t["chains"]}
            counts = {}
            for kind, prefix in (("calico", "cali-"), ("kube", "KUBE-"), ("docker", "DOCKER")):
                found = [c for c in chains if c["name"].startswith(prefix)]
                counts[kind] = values[f"nft_{kind}_chains"] = len(found)
                sources[f"nft_{kind}_chains"] = found[0]["source"] if found else nft["source"]
            forward = filter_chains.get("FORWARD")
            if forward is not None:
                jumps = any((r.get("target") or "").startswith("cali-") for r in forward["rules"])
                values["nft_forward_policy"] = forward.get("policy")
                values["nft_forward_drop"] = forward.get("policy") == "DROP" and not jumps
                sources["nft_forward_policy"] = sources["nft_forward_drop"] = forward["source"]
            else:
                values["nft_forward_drop"] = False
            values["nft_foreign"] = bool(counts["kube"] or counts["docker"] or values["nft_forward_drop"])
            sources["nft_foreign"] = next((sources[k] for k in ("nft_forward_drop", "nft_docker_chains",
                                                                  "nft_kube_chains") if values.get(k)), nft["source"])
        self.add("IptablesBackends", dump_backends[0]["source"] if dump_backends else None, sources, **values)

    def _legacy_signs(self, dump_backends, values, sources):
        """Signs that the legacy backend holds tables, whether or not it was listed."""
        signs = 0
        warning = next(((w, src) for b in dump_backends for w, src in _warnings(b)
                        if "iptables-legacy tables present" in w), None)
        values["legacy_warning"] = warning is not None
        if warning:
            signs += 1
            sources["legacy_warning"] = warning[1]
        else:  # no line proves an absence: name what was searched
            sources["legacy_warning"] = ", ".join(b["source"] for b in dump_backends) + " (no such warning)"
        legacy_tables = self.dump.get("legacy_tables")
        if legacy_tables is not None:
            values["legacy_tables"] = [t["table"] for t in legacy_tables]
            if legacy_tables:
                signs += 1
                sources["legacy_tables"] = legacy_tables[0]["source"]
            else:
                sources["legacy_tables"] = "proc/net/ip_tables_names (empty or absent)"
        else:
            sources["legacy_tables"] = "proc/net/ip_tables_names (not collected)"
        modules = self.dump.get("kernel_modules")
        if modules is not None:
            loaded = [m for m in modules if m["name"] in LEGACY_IPTABLES_MODULES and m.get("state", "loaded") == "loaded"]
            values["legacy_modules"] = [m["name"] for m in loaded]
            if loaded:
                signs += 1
                sources["legacy_modules"] = loaded[0]["source"]
            else:
                sources["legacy_modules"] = (modules[0]["source"].rsplit(":", 1)[0] if modules else "proc/modules") + \
                    " (no ip_tables/iptable_* module)"
        else:
            sources["legacy_modules"] = "proc/modules, lsmod (not collected)"
        values["legacy_signs"] = signs
        sources["legacy_signs"] = next((sources[k] for k in ("legacy_warning", "legacy_tables", "legacy_modules")
                                        if k in sources), None)

    def _felix_backend(self, values, sources):
        """The host's iptables mode and the backend Felix should use (setting, log, release default)."""
        found = {v["component"]: v for v in self.dump.get("versions") or ()}
        iptables_version = found.get("iptables")
        if iptables_version and iptables_version.get("detail") in ("nf_tables", "legacy"):
            values["host_iptables"] = iptables_version["detail"]
            sources["host_iptables"] = iptables_version["source"]
        else:  # only iptables-nft warns about legacy tables: sos's `iptables` listing that does is nft's
            for backend in self.dump.get("netfilter") or ():
                for warning, source in _warnings(backend):
                    if "iptables-legacy tables present" in warning and source.startswith(HOST_IPTABLES_LISTINGS):
                        values["host_iptables"], sources["host_iptables"] = "nf_tables", source
        if "host_iptables" not in values:
            sources["host_iptables"] = "iptables -V (not collected)"
        calico = found.get("calico")
        expected = None
        if calico:
            values["calico_version"], sources["calico_version"] = calico["version"], calico["source"]
            release = felix_backend.default_for(calico["version"])
            if release:
                values["felix_default"] = release["default"]
                sources["felix_default"] = f"{calico['source']}; engine/data/felix-iptables-backend.yaml: {release['source']}"
                expected = (release["default"], sources["felix_default"])
        for item in self.dump.get("settings") or ():
            if item["component"].lower() in ("felix", "calico-node") and \
                    item["key"].lower() in ("iptablesbackend", "felix_iptablesbackend"):
                values["felix_setting"], sources["felix_setting"] = item["value"].lower(), item["source"]
                expected = (item["value"].lower(), item["source"])
        for event in self.dump.get("log_events") or ():
            if event["event"] == "felix_iptables_backend_mismatch":
                values["felix_log"], sources["felix_log"] = event["message"], event["source"]
        if expected and expected[0] in ("legacy", "nft"):
            values["felix_expected"], sources["felix_expected"] = expected

    def _chain(self, backend, table, chain, filter_chains):
        rules = chain["rules"]
        cali_forward = filter_chains.get("cali-FORWARD")
        accept_at = netfilter.calico_accept_point(chain, cali_forward) if chain["name"] == "FORWARD" else None
        calico_at = next((i for i, r in enumerate(rules) if (r.get("target") or "").startswith("cali-")), None)
        blocks = [r for r in (rules if accept_at is None else rules[:accept_at]) if netfilter.blocks(r)]
        sources = {"policy": chain.get("source")}
        if blocks:
            sources["first_block"] = sources["blocks_before_calico"] = blocks[0]["source"]
        source = chain.get("source") or (rules[0]["source"] if rules else None)
        self.add("Chain", source, sources, backend=backend, table=table, name=chain["name"],
                 policy=chain.get("policy"), policy_packets=chain.get("packets"), rules=len(rules),
                 builtin=chain["name"] in BUILTIN_CHAINS, calico_jump=calico_at is not None,
                 accepts_calico_mark=accept_at is not None, blocks_before_calico=len(blocks),
                 first_block=netfilter.rule_text(blocks[0]) if blocks else None,
                 block_packets=sum(r.get("packets") or 0 for r in blocks))

    def _ip_pools(self):
        pools = ip_pool_settings(self.dump)
        interfaces = self.dump.get("interfaces")
        node_ips = None if interfaces is None else [
            a.split("/")[0] for i in interfaces if not i["name"].startswith((WORKLOAD_PREFIX, "lo", "tunl", "vxlan"))
            for a in i.get("addresses") or () if ":" not in a]
        for name, fields in pools.items():
            cidr = fields.get("cidr", {}).get("value")
            inside = None if node_ips is None or not cidr else [ip for ip in node_ips if ip_in(ip, cidr)]
            flag = {"true": True, "false": False}
            sources = {k: v["source"] for k, v in fields.items()}
            self.add("IpPool", fields.get("cidr", next(iter(fields.values())))["source"], sources, name=name, cidr=cidr,
                     nat_outgoing=flag.get(fields.get("natOutgoing", {}).get("value", "").lower()),
                     ipip_mode=fields.get("ipipMode", {}).get("value"),
                     vxlan_mode=fields.get("vxlanMode", {}).get("value"),
                     disabled=flag.get(fields.get("disabled", {}).get("value", "false").lower()),
                     node_ip=inside[0] if inside else None,
                     contains_node_ip=None if inside is None else bool(inside))

    def _ip_rules(self):
        routes = self.dump.get("routes")
        index = RouteIndex(routes) if routes is not None else None
        probes = [ip for r in routes or () if (r.get("dev") or "").startswith(WORKLOAD_PREFIX)
                  for ip in [host_ip(r["dst"])] if ip][:1] or ["198.18.0.1"]
        for rule in self.dump.get("ip_rules") or ():
            table = rule.get("table")
            summary = (index.table_summary(table, WORKLOAD_PREFIX, probes)
                       if index is not None and table and table not in ("local",) else {})
            self.add("IpRule", rule["source"], priority=rule["priority"], selector=rule["selector"],
                     action=rule.get("action", "lookup"), table=table, table_routes=summary.get("routes"),
                     table_workload_routes=summary.get("workload_routes"), catches_pods=summary.get("catches_pods"))

    def _simple_sections(self):
        for module in self.dump.get("kernel_modules") or ():
            self.add("Module", module["source"], name=module["name"], state=module.get("state", "loaded"))
        conntrack = self.dump.get("conntrack")
        if conntrack is not None:
            stats = conntrack.get("stats") or {}
            count, limit = conntrack.get("count"), conntrack.get("max")
            self.add("Conntrack", conntrack["source"], conntrack.get("sources"), count=count, max=limit,
                     usage=round(count / limit, 4) if count is not None and limit else None,
                     insert_failed=stats.get("insert_failed"), drop=stats.get("drop"),
                     early_drop=stats.get("early_drop"), invalid=stats.get("invalid"))
        for item in self.dump.get("components") or ():
            self.add("Component", item["source"], name=item["name"], ready=item.get("ready"),
                     status=item.get("status"), restarts=item.get("restarts"), message=item.get("message"),
                     age=item.get("age"), age_seconds=item.get("age_seconds"),
                     last_restart_seconds=item.get("last_restart_seconds"), namespace=item.get("namespace"),
                     pod=item.get("pod"), node=item.get("node"))
        for item in self.dump.get("settings") or ():
            self.add("Setting", item["source"], component=item["component"], key=item["key"], value=item["value"])
        self._ip_pools()
        for item in self.dump.get("log_events") or ():
            self.add("LogEvent", item["source"], component=item["component"], event=item["event"],
                     level=item.get("level"), message=item["message"], count=item.get("count", 1),
                     first=item.get("first"), last=item.get("last"), current=item.get("current"))
        for item in self.dump.get("network_managers") or ():
            self.add("HostNetworkManager", item["source"], {"active": item.get("active_source"),
                                                            "manages_workloads": item["source"]},
                     name=item["name"], active=item.get("active"), manages_workloads=item.get("manages_workloads"),
                     claims=item.get("claims") or [], config=item.get("config"))
        for pod in self.dump.get("pods") or ():
            self.add("Pod", pod["source"], name=pod.get("name"), namespace=pod.get("namespace"),
                     netns=pod.get("netns"), host_iface=pod.get("host_iface"), addresses=pod.get("addresses") or [],
                     mtu=pod.get("mtu"), gateway_neighbor=_gateway_neighbor(pod))
        for item in self.dump.get("observations") or ():
            self.add("Observation", item["source"], kind=item["kind"], text=item.get("text"),
                     seen_on=item.get("seen_on") or [], not_seen_on=item.get("not_seen_on") or [],
                     result=item.get("result"))


def build_facts(dump, sysctl_keys=None, symptom=None):
    return FactBuilder(dump, sysctl_keys, symptom).build()


def _warnings(backend):
    """(warning, source) pairs of a netfilter backend; the backend's file when lines were not kept."""
    warnings = backend.get("warnings") or []
    return list(zip(warnings, backend.get("warning_sources") or [backend["source"]] * len(warnings)))


def _oper_up(iface):
    state = (iface.get("state") or "").upper()
    flags = {f.upper() for f in iface.get("flags") or ()}
    if state == "UP":
        return True
    if state in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT", "DORMANT"):
        return False
    if flags:
        return "UP" in flags and "LOWER_UP" in flags
    return None


def _admin_up(iface):
    """A device set up (`UP` flag, or state UP/UNKNOWN when flags were not read): a tunnel device the
    kernel module created but Calico does not use (tunl0 `<NOARP>` DOWN) does not count."""
    flags = {f.upper() for f in iface.get("flags") or ()}
    if flags:
        return "UP" in flags
    return (iface.get("state") or "").upper() in ("UP", "UNKNOWN")


def _gateway_neighbor(pod):
    for neighbor in pod.get("neighbors") or ():
        if neighbor.get("ip") == POD_GATEWAY:
            return neighbor.get("state")
    return None
