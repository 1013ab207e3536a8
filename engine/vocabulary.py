"""The rule vocabulary: the fact types YAML rules match, their fields and what each means.

Every fact type lists its fields; every declared fact has all of them (None when unknown), so
`exists: false` works and rule files can be checked for typos. A field is None, never a guess,
when the dump section it comes from was not collected: rules must not fire on absent data.
Provenance travels in two extra fields: `source` (one place) and `sources` (per field).

Which dump sections each fact type and field are built from is declared by the combiner that
makes it (calirules.engine.combiners), next to the code that reads them.
"""

from dataclasses import dataclass


# What `calirules probe` adds to an Observation (kind probe); null for other kinds.
PROBE_FIELDS = ("reached", "replied", "last_seen", "last_seen_role", "drop_kind", "drop_backend", "drop_table",
                "drop_chain", "drop_rule", "drop_packets", "drop_detail", "route_verdict", "route_dev",
                "route_error", "proto", "size", "large", "src_ip", "dst_ip", "src_iface", "dst_iface")
# Values of Observation.drop_kind: where the probe saw its packet die.
DROP_KINDS = ("rule", "policy", "route", "neighbor", "rp_filter", "conntrack", "unknown")


@dataclass(frozen=True)
class FactType:
    name: str
    fields: tuple
    doc: str = ""


FACT_TYPES = {t.name: t for t in (
    FactType("Node", ("hostname", "os", "kernel", "symptom", "workloads", "iptables_backends",
                      "all_backends_read", "felix_nftables"),
             doc="The node: identity, the symptom being diagnosed (default same-node), how many cali* workload "
                 "interfaces it has, which iptables backends were read (both: all_backends_read), and whether "
                 "Felix's nftables data plane (Calico v3.29+) is programmed: nft `table ip calico` with chains "
                 "(felix_nftables; then Calico's per-pod rules are not in iptables at all)."),
    FactType("Version", ("component", "version", "minor", "detail"),
             doc="One installed version: calico, kubernetes, kubelet, iptables (detail: legacy/nf_tables), ..."),
    FactType("Compat", ("calico", "kubernetes", "component", "verdict", "tested", "tested_text", "floor",
                        "floor_kind", "minors_outside", "calico_minor", "kubernetes_minor", "matrix_source"),
             doc="Where the Calico/Kubernetes pair sits in the support matrix. verdict: tested, unlisted, "
                 "newer-than-tested, older-than-tested, below-floor, unknown-release."),
    FactType("Sysctl", ("key", "value"),
             doc="One sysctl; only keys that some loaded rule names are declared."),
    FactType("Interface", ("name", "kind", "state", "oper_up", "mtu", "workload", "peer", "addresses"),
             doc="A network interface of the node."),
    FactType("WorkloadPlumbing", ("iface", "state", "oper_up", "mtu", "ips", "route_count", "other_routes",
                                  "forwarding", "proxy_arp", "rp_filter", "route_localnet", "tw_chain",
                                  "fw_chain", "dispatched", "tw_policies", "tw_policy_drop_packets",
                                  "fw_policies", "fw_policy_drop_packets", "tw_invalid_drop_packets",
                                  "fw_invalid_drop_packets", "pod", "pod_ips", "pod_mtu",
                                  "gateway_neighbor", "misrouted", "route_elsewhere", "shared_ips"),
             doc="Everything that connects one host-side cali* interface to its pod: link state, /32 routes, "
                 "per-interface sysctls, Calico chains, dispatch entries and end-of-tier policy drop and "
                 "conntrack-INVALID drop counters, the pod side (IPs, MTU, gateway neighbour), pod IPs routed to "
                 "another interface (misrouted: 'ip dev X'), pod IPs another pod also holds (shared_ips: 'ip "
                 "also on X')."),
    FactType("Mtu", ("workload_max", "workload_min", "workload_spread", "smallest", "largest", "pod_max",
                     "pod_excess", "pod_short", "pod_short_iface", "pod_short_mtu", "uplink", "uplink_mtu", "workload_over_uplink", "tunnels", "tunnel",
                     "tunnel_mtu", "encap_overhead", "path_mtu", "tunnel_over_path", "workload_over_path"),
             doc="MTUs on the node: cali* interfaces (largest, smallest, spread, and which interface has each), "
                 "pod-side eth0 (largest, by how much a pod's MTU exceeds its host-side veth, and the pod whose "
                 "eth0 is most below its veth: pod_short bytes, pod_short_iface, pod_short_mtu), the uplink "
                 "(device of the default route) and by how much the largest workload MTU exceeds it; the Calico "
                 "tunnel devices that are up (tunnels); the one whose MTU most exceeds uplink MTU minus its "
                 "encapsulation overhead (tunnel, tunnel_mtu, encap_overhead: IPIP 20, VXLAN 50, WireGuard 60, "
                 "IPv6 VXLAN 70, IPv6 WireGuard 80) and by how much (tunnel_over_path); path_mtu = uplink MTU "
                 "minus the largest overhead among the tunnels, and by how much the largest workload MTU exceeds "
                 "it (workload_over_path). Null without a tunnel device that is up."),
    FactType("Netfilter", ("backend", "rules", "chains", "calico_chains", "kube_chains", "docker_chains",
                           "other_chains", "forward_policy", "calico_forward", "legacy_warning", "warnings",
                           "unknown_interface_drops", "kube_invalid_drop_packets"),
             doc="One iptables backend (legacy or nft) as a whole. kube_invalid_drop_packets: packets "
                 "kube-proxy's KUBE-FORWARD `ctstate INVALID -j DROP` dropped (null without that rule)."),
    FactType("Chain", ("backend", "table", "name", "policy", "policy_packets", "rules", "builtin",
                       "calico_jump", "accepts_calico_mark", "blocks_before_calico", "first_block",
                       "block_packets"),
             doc="A built-in chain or a top-level cali- chain. blocks_before_calico counts DROP/REJECT rules "
                 "placed ahead of the point where Calico accepts (its mark ACCEPT; all of them when Calico has "
                 "no accept in this chain)."),
    FactType("IptablesBackends", ("backends_read", "legacy_read", "nft_read", "calico_backend",
                                  "legacy_warning", "legacy_tables", "legacy_modules", "legacy_signs",
                                  "host_iptables", "calico_version", "felix_default", "felix_setting",
                                  "felix_log", "felix_expected", "nft_calico_chains", "nft_kube_chains",
                                  "nft_docker_chains", "nft_forward_policy", "nft_forward_drop",
                                  "nft_foreign"),
             doc="The node's iptables backends as a whole, for when one was not read (a plain sosreport): which "
                 "were read and which holds cali-FORWARD (calico_backend); signs that legacy tables exist "
                 "(legacy_warning: iptables-nft's '# Warning: iptables-legacy tables present'; legacy_tables: "
                 "/proc/net/ip_tables_names; legacy_modules: ip_tables/iptable_* loaded; legacy_signs: how many "
                 "of the three); the host's `iptables` (host_iptables: nf_tables/legacy); the backend Felix "
                 "should program (felix_default for this Calico release from engine/data, felix_setting, "
                 "felix_log, felix_expected: legacy/nft, None when auto or unknown); and the nft side: "
                 "Calico/KUBE-/DOCKER chains, FORWARD policy, nft_forward_drop (policy DROP and no jump to "
                 "Calico), nft_foreign (KUBE-/DOCKER chains or that DROP: another agent programs nft)."),
    FactType("Module", ("name", "state"),
             doc="A loaded or built-in kernel module."),
    FactType("Conntrack", ("count", "max", "usage", "insert_failed", "drop", "early_drop", "invalid"),
             doc="Conntrack table fill (usage = count/max) and summed per-CPU counters."),
    FactType("Component", ("name", "ready", "status", "restarts", "message", "age", "age_seconds",
                           "last_restart_seconds", "namespace", "pod", "node"),
             doc="A Calico/Kubernetes component on the node, e.g. calico-node readiness, pod age (as printed and "
                 "in seconds) and seconds since its last restart (None if never restarted or not shown), its "
                 "pod, namespace and node (None when the listing does not show them), or a host service listed by "
                 "systemctl list-units (firewalld, ufw, nm-cloud-setup; ready = unit active)."),
    FactType("Setting", ("component", "key", "value"),
             doc="A configuration value, e.g. felix IptablesBackend."),
    FactType("IpPool", ("name", "cidr", "nat_outgoing", "ipip_mode", "vxlan_mode", "disabled", "node_ip",
                        "contains_node_ip"),
             doc="A Calico IPPool (from settings `ippool/<name>`), and whether its CIDR contains one of the "
                 "node's own addresses (node_ip)."),
    FactType("LogEvent", ("component", "event", "level", "message", "count", "first", "last", "current"),
             doc="A classified log line (with how often it was seen). current: true when an occurrence comes "
                 "from the running calico-node container instance (or is not older than its start), false when every "
                 "occurrence predates it, null when that cannot be told."),
    FactType("HostNetworkManager", ("name", "active", "manages_workloads", "claims", "config"),
             doc="NetworkManager or systemd-networkd on the node: whether it runs (active) and whether its "
                 "configuration claims Calico's devices (manages_workloads: cali* not excluded by "
                 "unmanaged-devices / [device] managed=0, or matched by a .network file without Unmanaged=yes; "
                 "claims: which of cali*, tunl0, vxlan.calico, wireguard.cali), with the deciding setting "
                 "(config)."),
    FactType("Pod", ("name", "namespace", "netns", "host_iface", "addresses", "mtu", "gateway_neighbor"),
             doc="A pod network namespace seen from inside."),
    FactType("IpRule", ("priority", "selector", "action", "table", "table_routes", "table_workload_routes",
                        "catches_pods"),
             doc="One policy-routing rule, with what its table holds: routes, cali* routes, and whether it has a "
                 "route (e.g. a default) that pod addresses would match."),
    FactType("Observation", ("kind", "text", "seen_on", "not_seen_on", "result") + PROBE_FIELDS,
             doc="Something observed on the node: a packet trace or ping a person ran, or `calirules probe` "
                 "(kind probe): whether the probe reached the destination pod (reached) and got its reply "
                 "(replied), the last interface it was seen on (last_seen) and that interface's role "
                 "(last_seen_role: src-pod, src-host, dst-host, dst-pod), what dropped it (drop_kind: rule, "
                 "policy, route, neighbor, rp_filter, conntrack, unknown; the iptables drop site: drop_backend, "
                 "drop_table, drop_chain, drop_rule, drop_packets; drop_detail: one line), the kernel's route "
                 "verdict (route_verdict, its device route_dev or its error route_error), and the probe itself "
                 "(proto, size: IP packet length, large: at least the source pod's MTU with DF, src_ip, dst_ip, "
                 "src_iface, dst_iface). Fields a kind does not report are null."),
)}
