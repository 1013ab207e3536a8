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

from calirules.engine import compat_matrix, versions

WORKLOAD_PREFIX = "cali"
POD_GATEWAY = "169.254.1.1"
BUILTIN_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}
# Per-endpoint and per-policy chains are folded into WorkloadPlumbing / Netfilter counts.
_PER_ENDPOINT_CHAIN = re.compile(r"^cali-(tw|fw|sm|pi|po|pri|pro|th|fh|thfw|fhfw)-")
_MARK_ACCEPT = re.compile(r"(?:--mark|mark match) (0x[0-9a-f]+)/\1\b")


@dataclass(frozen=True)
class FactType:
    name: str
    fields: tuple
    section: str  # the dump section this fact cannot exist without
    field_sections: dict = field(default_factory=dict)  # fields that need a further section
    doc: str = ""


FACT_TYPES = {t.name: t for t in (
    FactType("Node", ("hostname", "os", "kernel", "symptom"), "node",
             doc="The node: identity and the symptom being diagnosed (default same-node)."),
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
              "pod", "pod_ips", "gateway_neighbor"),
             "interfaces",
             {"ips": "routes", "route_count": "routes", "other_routes": "routes", "forwarding": "sysctls",
              "proxy_arp": "sysctls", "rp_filter": "sysctls", "route_localnet": "sysctls",
              "tw_chain": "netfilter", "fw_chain": "netfilter", "dispatched": "netfilter",
              "pod": "pods", "pod_ips": "pods", "gateway_neighbor": "pods"},
             doc="Everything that connects one host-side cali* interface to its pod: link state, /32 "
                 "routes, per-interface sysctls, Calico chains and dispatch entries, pod-side neighbour."),
    FactType("Netfilter",
             ("backend", "rules", "chains", "calico_chains", "kube_chains", "docker_chains", "other_chains",
              "forward_policy", "calico_forward", "legacy_warning", "warnings"),
             "netfilter", doc="One iptables backend (legacy or nft) as a whole."),
    FactType("Chain",
             ("backend", "table", "name", "policy", "policy_packets", "rules", "builtin", "calico_jump",
              "accepts_calico_mark", "blocks_before_calico", "first_block", "block_packets"),
             "netfilter",
             doc="A built-in chain or a top-level cali- chain. blocks_before_calico counts DROP/REJECT rules "
                 "placed ahead of the first jump into Calico or Calico's mark ACCEPT."),
    FactType("Module", ("name", "state"), "kernel_modules", doc="A loaded or built-in kernel module."),
    FactType("Conntrack", ("count", "max", "usage", "insert_failed", "drop", "early_drop", "invalid"),
             "conntrack", doc="Conntrack table fill (usage = count/max) and summed per-CPU counters."),
    FactType("Component", ("name", "ready", "status", "restarts", "message"), "components",
             doc="A Calico/Kubernetes component on the node, e.g. calico-node readiness."),
    FactType("Setting", ("component", "key", "value"), "settings",
             doc="A configuration value, e.g. felix IptablesBackend."),
    FactType("LogEvent", ("component", "event", "level", "message", "count", "first", "last"), "log_events",
             doc="A classified log line (with how often it was seen)."),
    FactType("Pod", ("name", "namespace", "netns", "host_iface", "addresses", "mtu", "gateway_neighbor"), "pods",
             doc="A pod network namespace seen from inside."),
    FactType("IpRule", ("priority", "selector", "action", "table"), "ip_rules", doc="One policy-routing rule."),
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
        self._netfilter()
        self._simple_sections()
        return self.out

    def _node(self):
        node = self.dump["node"]
        sources = node.get("sources") or {}
        self.add("Node", sources.get("hostname"), sources, hostname=node["hostname"], os=node.get("os"),
                 kernel=node.get("kernel"), symptom=self.symptom)

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
        interfaces = self.dump.get("interfaces") or ()
        routes = self.dump.get("routes")
        routes_by_dev = {}
        for route in routes or ():
            if route.get("table", "main") == "main" and route.get("dev") and route.get("type", "unicast") == "unicast":
                routes_by_dev.setdefault(route["dev"], []).append(route)
        endpoint_chains = self._endpoint_chains()
        pods_by_iface = {p["host_iface"]: p for p in self.dump.get("pods") or () if p.get("host_iface")}
        for iface in interfaces:
            name = iface["name"]
            oper_up = _oper_up(iface)
            workload = name.startswith(WORKLOAD_PREFIX)
            self.add("Interface", iface["source"], name=name, kind=iface.get("kind"), state=iface.get("state"),
                     oper_up=oper_up, mtu=iface.get("mtu"), workload=workload, peer=iface.get("peer"),
                     addresses=iface.get("addresses") or [])
            if workload:
                self._workload(iface, oper_up, routes, routes_by_dev, endpoint_chains, pods_by_iface.get(name))

    def _workload(self, iface, oper_up, routes, routes_by_dev, endpoint_chains, pod):
        name = iface["name"]
        sources = {"state": iface["source"], "mtu": iface["source"], "oper_up": iface["source"]}
        values = {}
        for knob in ("forwarding", "proxy_arp", "rp_filter", "route_localnet"):
            values[knob], sources[knob] = self._sysctl(f"net.ipv4.conf.{name}.{knob}")
        ips = other = None
        if routes is not None:
            mine = routes_by_dev.get(name, [])
            ips = [_host_ip(r["dst"]) for r in mine if _host_ip(r["dst"])]
            other = [r["dst"] for r in mine if not _host_ip(r["dst"])]
            if mine:
                sources["route"] = sources["ips"] = sources["route_count"] = mine[0]["source"]
            elif routes:
                # No line proves an absence: name the file that was searched.
                sources["ips"] = sources["route_count"] = routes[0]["source"].rsplit(":", 1)[0] + " (no route)"
        tw = fw = dispatched = None
        if endpoint_chains is not None:
            tw = name in endpoint_chains["tw"]
            fw = name in endpoint_chains["fw"]
            dispatched = name in endpoint_chains["dispatched"] if endpoint_chains["has_dispatch"] else None
            for key, kind in (("tw_chain", "tw"), ("fw_chain", "fw"), ("dispatched", "dispatched")):
                sources[key] = endpoint_chains["sources"].get((kind, name)) or endpoint_chains["source"]
        pod_ips = gateway = None
        if pod is not None:
            pod_ips = [a.split("/")[0] for a in pod.get("addresses") or ()]
            gateway = _gateway_neighbor(pod)
            sources["pod"] = sources["gateway_neighbor"] = pod["source"]
        self.add("WorkloadPlumbing", iface["source"], sources, iface=name, state=iface.get("state"),
                 oper_up=oper_up, mtu=iface.get("mtu"), ips=ips, route_count=None if ips is None else len(ips),
                 other_routes=other, tw_chain=tw, fw_chain=fw, dispatched=dispatched,
                 pod=pod.get("name") if pod else None, pod_ips=pod_ips, gateway_neighbor=gateway, **values)

    def _endpoint_chains(self):
        """Which cali* interfaces have to-/from-workload chains and dispatch entries, in any backend."""
        if self.dump.get("netfilter") is None:
            return None
        found = {"tw": set(), "fw": set(), "dispatched": set(), "has_dispatch": False, "sources": {},
                 "source": None}
        for backend in self.dump["netfilter"]:
            found["source"] = found["source"] or backend["source"]
            for table in backend["tables"]:
                if table["name"] != "filter":
                    continue
                for chain in table["chains"]:
                    cname = chain["name"]
                    for kind in ("tw", "fw"):
                        prefix = f"cali-{kind}-"
                        if cname.startswith(prefix):
                            found[kind].add(cname[len(prefix):])
                            found["sources"][(kind, cname[len(prefix):])] = chain.get("source")
                    if cname.startswith("cali-to-wl-dispatch") or cname.startswith("cali-from-wl-dispatch"):
                        found["has_dispatch"] = True
                        for rule in chain["rules"]:
                            target = rule.get("target") or ""
                            if target.startswith("cali-tw-") or target.startswith("cali-fw-"):
                                found["dispatched"].add(target[8:])
                                found["sources"][("dispatched", target[8:])] = rule["source"]
        return found

    def _netfilter(self):
        for backend in self.dump.get("netfilter") or ():
            name = backend["backend"]
            counts = {"rules": 0, "chains": 0, "calico_chains": 0, "kube_chains": 0, "docker_chains": 0,
                      "other_chains": 0}
            forward_policy = None
            calico_forward = False
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
                        if cname == "FORWARD":
                            forward_policy = chain.get("policy")
                        calico_forward = calico_forward or cname == "cali-FORWARD"
            warnings = backend.get("warnings") or []
            self.add("Netfilter", backend["source"], backend=name, forward_policy=forward_policy,
                     calico_forward=calico_forward, warnings=warnings,
                     legacy_warning=any("legacy tables present" in w for w in warnings), **counts)
            for table in backend["tables"]:
                for chain in table["chains"]:
                    if chain["name"] in BUILTIN_CHAINS or (chain["name"].startswith("cali-")
                                                            and not _PER_ENDPOINT_CHAIN.match(chain["name"])):
                        self._chain(name, table["name"], chain, filter_chains if table["name"] == "filter" else {})

    def _chain(self, backend, table, chain, filter_chains):
        rules = chain["rules"]
        calico_at = next((i for i, r in enumerate(rules) if _enters_calico(r)), None)
        accepts = any(_accepts_calico_mark(r) for r in rules)
        if chain["name"] == "FORWARD":
            # Before v3.16 Felix accepted inside cali-FORWARD; since then at the end of FORWARD.
            accepts = accepts or any(_accepts_calico_mark(r) for r in filter_chains.get("cali-FORWARD", {}).get("rules", ()))
        blocks = [r for r in (rules if calico_at is None else rules[:calico_at]) if _blocks(r)]
        sources = {"policy": chain.get("source")}
        if blocks:
            sources["first_block"] = sources["blocks_before_calico"] = blocks[0]["source"]
        source = chain.get("source") or (rules[0]["source"] if rules else None)
        self.add("Chain", source, sources, backend=backend, table=table, name=chain["name"], policy=chain.get("policy"),
                 policy_packets=chain.get("packets"), rules=len(rules), builtin=chain["name"] in BUILTIN_CHAINS,
                 calico_jump=calico_at is not None, accepts_calico_mark=accepts,
                 blocks_before_calico=len(blocks), first_block=_rule_text(blocks[0]) if blocks else None,
                 block_packets=sum(r.get("packets") or 0 for r in blocks))

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
                     status=item.get("status"), restarts=item.get("restarts"), message=item.get("message"))
        for item in self.dump.get("settings") or ():
            self.add("Setting", item["source"], component=item["component"], key=item["key"], value=item["value"])
        for item in self.dump.get("log_events") or ():
            self.add("LogEvent", item["source"], component=item["component"], event=item["event"],
                     level=item.get("level"), message=item["message"], count=item.get("count", 1),
                     first=item.get("first"), last=item.get("last"))
        for pod in self.dump.get("pods") or ():
            self.add("Pod", pod["source"], name=pod.get("name"), namespace=pod.get("namespace"),
                     netns=pod.get("netns"), host_iface=pod.get("host_iface"), addresses=pod.get("addresses") or [],
                     mtu=pod.get("mtu"), gateway_neighbor=_gateway_neighbor(pod))
        for rule in self.dump.get("ip_rules") or ():
            self.add("IpRule", rule["source"], priority=rule["priority"], selector=rule["selector"],
                     action=rule.get("action", "lookup"), table=rule.get("table"))
        for item in self.dump.get("observations") or ():
            self.add("Observation", item["source"], kind=item["kind"], text=item.get("text"),
                     seen_on=item.get("seen_on") or [], not_seen_on=item.get("not_seen_on") or [],
                     result=item.get("result"))


def build_facts(dump, sysctl_keys=None, symptom=None):
    return FactBuilder(dump, sysctl_keys, symptom).build()


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


def _host_ip(dst):
    """'198.18.0.5/32' or '198.18.0.5' -> '198.18.0.5'; wider prefixes and 'default' -> None."""
    if dst == "default":
        return None
    address, _, prefix = dst.partition("/")
    if prefix and prefix not in ("32", "128"):
        return None
    return address


def _gateway_neighbor(pod):
    for neighbor in pod.get("neighbors") or ():
        if neighbor.get("ip") == POD_GATEWAY:
            return neighbor.get("state")
    return None


def _enters_calico(rule):
    return (rule.get("target") or "").startswith("cali-") or _accepts_calico_mark(rule)


def _accepts_calico_mark(rule):
    if rule.get("target") != "ACCEPT":
        return False
    if any("Policy explicitly accepted packet" in c for c in rule.get("comments") or ()):
        return True
    return bool(_MARK_ACCEPT.search(rule.get("match") or ""))


def _blocks(rule):
    return rule.get("target") in ("DROP", "REJECT")


def _rule_text(rule):
    text = " ".join(part for part in (rule.get("match"), f"-j {rule.get('target')}") if part)
    return text.strip()
