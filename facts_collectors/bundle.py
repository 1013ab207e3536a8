"""A bundle's files -> a facts dump (the "combiner" step of collection).

Works on any EvidenceSource: a sosreport (directory or archive), a calicoctl node diags bundle,
or the raw directory a live collection wrote. Each section is read from the first candidate path
in specs.py that exists; what is absent is recorded in `collection.missing` with the command
that would collect it, never guessed.
"""

import re
from datetime import datetime, timedelta, timezone

from calirules.base import __version__
from calirules.facts_collectors import specs
from calirules.facts_collectors.dump import API_VERSION, KIND
from calirules.facts_collectors.parsers import (
    calico_resources,
    cni,
    conntrack,
    hostnet,
    iproute,
    iptables,
    kube,
    kube_objects,
    logs,
    modules,
    nft,
    sysctl,
    system,
)


class BundleReader:
    def __init__(self, source, label=None):
        self.source = source
        self.label = label or source.label
        self.missing = []
        self.notes = list(getattr(source, "notes", ()))
        self.pod_peers = {}  # netns -> (eth0's "ifN" peer, eth0's own index)
        self.manifest = _sos_manifest(source)
        self.nft_tables = None  # set by _netfilter when the bundle has `nft list ruleset`

    def first(self, spec_name):
        """(path, text) of the first candidate that exists, else (None, None)."""
        for path in specs.SPECS[spec_name].paths:
            text = self.source.read_text(path)
            if text is not None:
                entry = self.manifest.get(path)
                if entry and entry.get("truncated"):
                    self.notes.append(f"{path}: truncated by sos (only the tail was kept)")
                return self.source.display_path(path), text
        return None, None

    def lack(self, section, spec_name, reason="not in the bundle"):
        spec = specs.SPECS[spec_name]
        failed = getattr(self.source, "failed", {}).get(spec.live_path)
        if failed:
            reason = f"the bundle holds an error instead of output: {failed}"
        entry = next((self.manifest[p] for p in spec.paths if p in self.manifest), None)
        if entry is not None and entry.get("return_code") is not None:
            # sos ran it: the manifest says why there is no file (126/127: binary not found).
            code = entry["return_code"]
            reason = "command not found on the node" if code in (126, 127) else f"sos ran it and got exit {code}"
        command = " ".join(spec.command) if spec.command else f"cat /{spec.paths[0]}"
        self.missing.append({"what": spec.paths[0], "section": section, "reason": reason, "collect_with": command})

    def read(self):
        dump = {"apiVersion": API_VERSION, "kind": KIND, "node": self._node()}
        self.hostname = dump["node"]["hostname"]
        dump["collection"] = {"source": self.label, "collected_at": _now(), "collector": f"calirules {__version__}"}
        for section, reader in (("versions", self._versions), ("sysctls", self._sysctls),
                                ("interfaces", self._interfaces), ("routes", self._routes),
                                ("ip_rules", self._ip_rules), ("netfilter", self._netfilter),
                                ("nft_tables", self._nft_tables),
                                ("legacy_tables", self._legacy_tables), ("kernel_modules", self._modules), ("conntrack", self._conntrack),
                                ("pods", self._pods), ("components", self._components),
                                ("kube_objects", self._kube_objects),
                                ("settings", self._settings), ("log_events", self._log_events),
                                ("network_managers", self._network_managers)):
            value = reader()
            if value is not None:
                dump[section] = value
        self._host_services(dump)
        _link_pods_to_interfaces(dump, self.pod_peers)
        _calico_version_from_logs(dump)
        if not any(v["component"] == "calico" for v in dump.get("versions", ())):
            self.missing.append({"what": "Calico version", "section": "versions", "reason": "not in the bundle",
                                 "collect_with": "/opt/cni/bin/calico -v (or the calico-node image tag)"})
        dump["collection"]["missing"] = self.missing
        if self.notes:
            dump["collection"]["notes"] = self.notes
        return dump

    def _node(self):
        node, sources = {}, {}
        # Later sources win: `hostname` over uname's node name; os-release adds the OS.
        for spec_name, parse, fields in (("uname_-a", system.parse_uname_a, ("kernel", "hostname", "arch")),
                                         ("hostname", system.parse_hostname, ("hostname",)),
                                         ("/etc/os-release", system.parse_os_release, ("os",))):
            path, text = self.first(spec_name)
            parsed = parse(text, path) if text else {}
            found = {k: v for k, v in parsed.items() if k in fields and v}
            if found:
                node.update(found)
                sources.update({k: v for k, v in parsed.get("sources", {}).items() if k in found})
        if "hostname" not in node and getattr(self.source, "node", None):
            node["hostname"] = self.source.node  # cluster diags name each node's directory after it
            sources["hostname"] = f"nodes/{self.source.node}/"
        node.setdefault("hostname", "unknown")
        node["sources"] = sources
        return node

    def _versions(self):
        found = []
        path, text = self.first("iptables_-V")
        if text:
            for lineno, line in enumerate(text.splitlines(), 1):
                words = line.split()
                if len(words) >= 2 and words[0].startswith("iptables") and words[1].startswith("v"):
                    detail = "nf_tables" if "nf_tables" in line else "legacy"
                    found.append({"component": "iptables", "version": words[1], "detail": detail,
                                  "source": f"{path}:{lineno}"})
                    break
        path, text = self.first("opt.cni.bin.calico_-v")
        for lineno, line in enumerate((text or "").splitlines(), 1):
            words = [w for w in line.split() if w[:1] == "v" and w[1:2].isdigit()]
            if words:
                found.append({"component": "calico", "version": words[0], "source": f"{path}:{lineno}"})
                break
        path, text = self.first("crictl_images")
        if text and not any(v["component"] == "calico" for v in found):
            found.extend(kube.calico_version_from_images(kube.parse_crictl_images(text, path)))
        path, text = self.first("kubelet_--version")
        if text:
            found.extend(kube.parse_kubelet_version(text, path))
        for relpath in self._kubectl("version"):
            found.extend(kube.parse_kubectl_version(self.source.read_text(relpath), self.source.display_path(relpath)))
        if not any(v["component"] == "kubelet" for v in found):
            for relpath in self._kubectl("nodes"):
                found.extend(kube.parse_kubectl_nodes(self.source.read_text(relpath), self.source.display_path(relpath),
                                                      node=self.hostname))
        return found

    def _kubectl(self, view):
        return [p for pattern in specs.KUBECTL_GLOBS[view] for p in self.source.glob(pattern)][:1]

    def _components(self):
        items = []
        for relpath in self._kubectl("pods"):
            items.extend(kube.parse_kubectl_pods(self.source.read_text(relpath), self.source.display_path(relpath),
                                                 node=self.hostname))
        path, text = self.first("crictl_ps_-a")
        if text and not items:
            # crictl lists this node's own runtime: its containers are this node's.
            items.extend(dict(item, node=self.hostname) for item in kube.parse_crictl_ps(text, path))
        if not items:
            self.missing.append({"what": "calico-node pod status", "section": "components", "reason": "not in the bundle",
                                 "collect_with": "kubectl get pods -A -o wide -l k8s-app=calico-node; crictl ps -a"})
            return None
        return items

    def _settings(self):
        items = []
        path, text = self.first("/etc/cni/net.d/10-calico.conflist")
        if text is None:
            for relpath in self.source.glob("etc/cni/net.d/*.conflist"):
                path, text = self.source.display_path(relpath), self.source.read_text(relpath)
                break
        if text is not None:
            items.extend(cni.parse_cni_conflist(text, path))
        path, text = self.first("calicoctl_get_ippools_-o_yaml")
        if text is not None:
            items.extend(calico_resources.parse_ippools(text, path))
        for path, _kind, parser in specs.KUBE_YAML:  # FelixConfiguration, Installation, calico-node env
            text = self.source.read_text(path)
            if text is not None:
                items.extend(getattr(calico_resources, parser)(text, self.source.display_path(path)))
        return items or None

    def _kube_objects(self):
        """Cluster-wide evidence of how Calico is installed: the Calico objects the bundle's
        Kubernetes listings and YAML show, a `List` item per listing read (what it lacks is absent
        there), and this node's calico-node pod as its container log directory names it."""
        items = []
        for pattern, of, namespace in specs.KUBE_LISTINGS:
            for path in self.source.glob(pattern):
                items.extend(kube_objects.parse_kubectl_listing(self.source.read_text(path), self.source.display_path(path),
                                                                namespace=namespace, of=of))
        for path, of, _parser in specs.KUBE_YAML:
            text = self.source.read_text(path) if of else None
            if text is not None:
                items.extend(calico_resources.parse_objects(text, self.source.display_path(path), of=of))
        pod = self._instance().pod()
        if pod is not None:
            namespace, name, directory = pod
            items.append({"kind": "Pod", "component": "calico-node", "name": name, "namespace": namespace,
                          "node": self.hostname, "source": directory})
        if not items:
            self.missing.append({"what": "Kubernetes objects that show how Calico is installed", "section": "kube_objects",
                                 "reason": "not in the bundle",
                                 "collect_with": "kubectl get pods -A -o wide; kubectl get namespaces; "
                                                 "kubectl get configmaps -A; kubectl get installations.operator.tigera.io -o yaml"})
            return None
        return items

    def _instance(self):
        """The running calico-node container instance (from its CRI logs), found once."""
        if getattr(self, "_calico_node_instance", None) is None:
            self._calico_node_instance = _CalicoNodeInstance(self.source)
        return self._calico_node_instance

    def _sysctls(self):
        path, text = self.first("sysctl_-a")
        if text is not None:
            return sysctl.parse_sysctl_a(text, path)
        # sos copies all of /proc/sys; a bundle with only a few proc/sys files has no sysctl tree.
        files = self.source.glob("proc/sys/net/**/*") if self.source.exists("proc/sys/net/ipv4/ip_forward") else []
        if files:
            items = []
            for relpath in files:
                items.extend(sysctl.parse_proc_sys_file(relpath, self.source.read_text(relpath, 4096)))
            return items
        self.lack("sysctls", "sysctl_-a")
        return None

    def _parsed(self, section, parse, *spec_names):
        """Parse the first of `spec_names` the bundle has; record the section missing otherwise."""
        for spec_name in spec_names:
            path, text = self.first(spec_name)
            if text is not None:
                return parse(text, path)
        self.lack(section, spec_names[0])
        return None

    def _interfaces(self):
        return self._parsed("interfaces", iproute.parse_ip_link, "ip_-d_address", "ip_-s_-d_link")

    def _routes(self):
        return self._parsed("routes", iproute.parse_ip_route, "ip_-d_route_show_table_all")

    def _ip_rules(self):
        return self._parsed("ip_rules", iproute.parse_ip_rule, "ip_-4_rule_list")

    def _netfilter(self):
        """Both iptables backends, from the best evidence the bundle has for each.

        Preference: `iptables-{legacy,nft}-save -c` (live collection, sos extras); calicoctl's
        `iptables-save -c`; sos's `nft -a list ruleset` (iptables-nft tables) and its
        `iptables -vnxL` listing. A backend that cannot be read is reported missing, never
        assumed empty, except legacy when /proc/net/ip_tables_names shows no legacy filter table.
        """
        backends = {}
        for backend, spec_name in (("legacy", "iptables-legacy-save_-c"), ("nft", "iptables-nft-save_-c")):
            path, text = self.first(spec_name)
            if text is not None:
                parsed = iptables.parse_iptables_save(text, path)
                backends[backend] = {"backend": backend, "source": path, "warnings": parsed["warnings"],
                                     "tables": parsed["tables"], **_warning_sources(parsed)}
        text = self.source.read_text(specs.CALICOCTL_IPTABLES)
        if text is not None:  # calicoctl node diags: `iptables-save -c` of whichever backend `iptables` is
            parsed = iptables.parse_iptables_save(text, specs.CALICOCTL_IPTABLES)
            backend = "nft" if "(nf_tables)" in text.split("\n", 1)[0] or parsed["warnings"] else "legacy"
            backends.setdefault(backend, {"backend": backend, "source": specs.CALICOCTL_IPTABLES,
                                          "warnings": parsed["warnings"], "tables": parsed["tables"],
                                          **_warning_sources(parsed)})
        path, text = self.first("nft_-a_list_ruleset")
        nft_filter_chains = None
        if text is not None:
            parsed = nft.parse_nft_ruleset(text, path)
            self.nft_tables = parsed["tables"]
            nft_filter_chains = {c["name"] for t in parsed["iptables_tables"] if t["name"] == "filter" for c in t["chains"]}
            backends.setdefault("nft", {"backend": "nft", "source": path, "warnings": parsed.get("warnings", []),
                                        "tables": parsed["iptables_tables"], **_warning_sources(parsed)})
        listing = self.source.read_text(specs.SOS_IPTABLES_LIST)
        if listing is not None and "legacy" not in backends:
            parsed = iptables.parse_iptables_list(listing, specs.SOS_IPTABLES_LIST)
            listed = {c["name"] for t in parsed["tables"] for c in t["chains"]}
            # sos lists whatever `iptables` is. Without an nft ruleset (nft skipped or failed) that
            # is legacy; with one, it is legacy only if it shows chains nft's `table ip filter` lacks.
            # The listing always shows INPUT/FORWARD/OUTPUT, nft only the base chains iptables-nft
            # created; and only iptables-nft warns that legacy tables are present.
            builtin = {"INPUT", "FORWARD", "OUTPUT"}
            nft_view = any("iptables-legacy tables present" in w for w in parsed["warnings"]) or \
                bool(nft_filter_chains) and listed - builtin == nft_filter_chains - builtin
            if nft_filter_chains is None or (nft_filter_chains and not nft_view):
                backends["legacy"] = {"backend": "legacy", "source": specs.SOS_IPTABLES_LIST,
                                      "warnings": parsed.get("warnings", []), "tables": parsed["tables"],
                                      **_warning_sources(parsed)}
            elif "nft" in backends and parsed["warnings"]:
                # The listing is iptables-nft's view of nft's tables; what it printed to stderr
                # (`# Warning: iptables-legacy tables present`) is news about the legacy side.
                nft_entry = backends["nft"]
                nft_entry.setdefault("warning_sources", [nft_entry["source"]] * len(nft_entry["warnings"]))
                nft_entry["warnings"] = nft_entry["warnings"] + parsed["warnings"]
                nft_entry["warning_sources"] = nft_entry["warning_sources"] + parsed["warning_sources"]
        if "legacy" not in backends:
            legacy = self._legacy_without_filter()
            if legacy:
                backends["legacy"] = legacy
        for backend in ("legacy", "nft"):
            if backend not in backends:
                self.lack("netfilter", f"iptables-{backend}-save_-c",
                          reason=f"the bundle has no listing of the {backend} iptables backend")
        if not backends:
            return None
        return [backends[b] for b in ("legacy", "nft") if b in backends]

    def _nft_tables(self):
        """Every nftables table of `nft list ruleset` (read by _netfilter): Calico's own `table ip
        calico` is how its nftables data plane shows. None when the ruleset was not in the bundle."""
        if self.nft_tables is None:
            self.lack("nft_tables", "nft_-a_list_ruleset")
        return self.nft_tables

    def _legacy_tables(self):
        """The legacy iptables tables the kernel has (/proc/net/ip_tables_names); [] when proc/net
        was read and the file is absent (the legacy ip_tables module is not loaded); None when
        proc/net was not collected."""
        path, text = self.first("/proc/net/ip_tables_names")
        if text is not None:
            return iptables.parse_ip_tables_names(text, path)
        return [] if self.source.exists("proc/net/dev") else None

    def _legacy_without_filter(self):
        """The legacy backend as read from /proc/net/ip_tables_names when it proves the legacy
        filter table does not exist (no legacy tables at all, or only nat/mangle/raw ones): nothing
        in legacy can then filter forwarded packets, which is all the rules read from it."""
        if self._legacy_iptables_absent():
            return {"backend": "legacy", "source": "proc/net/ip_tables_names", "tables": [],
                    "warnings": ["no legacy iptables tables (proc/net/ip_tables_names lists none)"]}
        tables = self._legacy_tables()
        if not tables or any(t["table"] == "filter" for t in tables):
            return None
        names = ", ".join(t["table"] for t in tables)
        return {"backend": "legacy", "source": tables[0]["source"].rsplit(":", 1)[0], "tables": [],
                "warnings": [f"no legacy filter table (proc/net/ip_tables_names lists {names}): nothing in "
                             f"the legacy backend filters forwarded packets"]}

    def _legacy_iptables_absent(self):
        """True when proc/net was read and shows no legacy iptables tables."""
        names = self.source.read_text("proc/net/ip_tables_names")
        if names is not None:
            return not names.strip()
        return self.source.exists("proc/net/dev")

    def _modules(self):
        path, text = self.first("/proc/modules")
        if text is None:
            self.lack("kernel_modules", "/proc/modules")
            return None
        return modules.parse_lsmod(text, path) if path.endswith("lsmod") else modules.parse_proc_modules(text, path)

    def _conntrack(self):
        result, sources = {}, {}
        for spec_name, parse, field in (("/proc/sys/net/netfilter/nf_conntrack_count", conntrack.parse_nf_conntrack_count, "count"),
                                        ("/proc/sys/net/netfilter/nf_conntrack_max", conntrack.parse_nf_conntrack_max, "max")):
            path, text = self.first(spec_name)
            parsed = parse(text, path) if text else {}
            if field in parsed:
                result[field] = parsed[field]
                sources[field] = parsed.get("source") or f"{path}:1"
        # Per-CPU counters: conntrack-tools' `conntrack -S`, else the kernel's own table in
        # /proc/net/stat/nf_conntrack (sos copies /proc/net whether or not conntrack-tools exist).
        for spec_name, parse in (("conntrack_-S", conntrack.parse_conntrack_S),
                                 ("/proc/net/stat/nf_conntrack", conntrack.parse_proc_net_stat_nf_conntrack)):
            path, text = self.first(spec_name)
            parsed = parse(text, path) if text else {}
            if parsed.get("stats"):
                result["stats"] = {k: v for k, v in parsed["stats"].items() if isinstance(v, int) and v >= 0}
                sources["stats"] = parsed["source"]
                break
        if not result:
            self.lack("conntrack", "/proc/sys/net/netfilter/nf_conntrack_count")
            return None
        result["source"] = next(iter(sources.values()))
        result["sources"] = sources
        return result

    def _log_events(self):
        """Classified log lines from every log the bundle has; None when it has no log at all.

        Each item says whether the running calico-node container instance saw it (`current`,
        see _CalicoNodeInstance). Journal and syslog copies of one line count once.
        """
        merged, found, seen, budget = {}, False, {}, specs.LOG_TOTAL_BYTES
        instance = self._instance()
        read_paths = set()
        for pattern, kind, component in specs.LOG_SOURCES:
            for path in self.source.glob(pattern):
                if path in read_paths or self._skip_log(path):
                    continue
                read_paths.add(path)
                if budget <= 0:
                    self.notes.append(f"{path}: not read (logs over {specs.LOG_TOTAL_BYTES // 2**20} MiB in all)")
                    continue
                text = self.source.read_text(path, min(specs.LOG_TAIL_BYTES, budget))
                if text is None:
                    continue
                budget -= len(text)
                found = True
                display = self.source.display_path(path)
                for item in logs.log_events_from_file(text, display, kind, component, seen):
                    current = instance.current(path, item, display)
                    if current is not None:
                        item["current"] = current
                    _merge_event(merged, item)
        path, text = self.first("ipset_list")
        if text is not None:  # `ipset list` prints the kernel/userspace revision error itself
            found = True
            for item in logs.log_events_from_file(text, path, "plain", "felix"):
                _merge_event(merged, item)
        if not found:
            self.missing.append({"what": "calico-node, CNI and kubelet logs", "section": "log_events",
                                 "reason": "no log in the bundle",
                                 "collect_with": "kubectl logs -n <ns> <calico-node pod> -c calico-node; "
                                                 "cat /var/log/calico/cni/cni.log; journalctl -u kubelet"})
            return None
        return list(merged.values())

    def _skip_log(self, path):
        """Copies and compressed rotations not to read (noted once per file where it matters)."""
        if path.endswith(specs.LOG_SKIPPED_SUFFIXES):
            self.notes.append(f"{path}: compressed log rotation not read")
            return True
        if path in specs.JOURNAL_THIS_BOOT and self.source.exists(specs.JOURNAL_FULL):
            return True  # a subset of the full journal's newest part
        if path.startswith("var/log/containers/"):
            # a link sos copies together with its var/log/pods target: read the target once
            return bool(self.source.glob("var/log/pods/*_calico-node-*/calico-node/*.log"))
        return False

    def _host_services(self, dump):
        """Host services some causes name (firewalld, nm-cloud-setup, ufw) as `components` items,
        from `systemctl list-units` (it lists loaded units that are active or failed; a unit not
        listed is not running). Added to what the Kubernetes views gave, never replacing it."""
        path, text = self.first("systemctl_list-units")
        if text is None:
            return
        units = hostnet.parse_systemctl_units(text, path)
        for name, unit_names in specs.HOST_SERVICES:
            unit = next((units[u] for u in unit_names if u in units), None)
            if unit is not None:
                dump.setdefault("components", []).append({
                    "name": name, "ready": unit["active"] == "active",
                    "status": f"{unit['active']} ({unit['sub']})", "source": unit["source"]})

    def _network_managers(self):
        """NetworkManager and systemd-networkd: running or not, and whether their configuration
        claims Calico's devices (parsers.hostnet). [] when the unit list was read and neither is
        there; None when the bundle tells nothing about either."""
        units = None
        units_path, text = self.first("systemctl_list-units")
        if text is not None:
            units = hostnet.parse_systemctl_units(text, units_path)
        path, text = self.first("nmcli_general_status")
        nm_status = hostnet.parse_nmcli_general_status(text, path) if text is not None else {}
        items = []
        for name, unit, order, claims_of, patterns in (
                ("NetworkManager", "NetworkManager.service", hostnet.networkmanager_order, hostnet.networkmanager_claims,
                 specs.NETWORKMANAGER_CONFIG),
                ("systemd-networkd", "systemd-networkd.service", hostnet.networkd_order, hostnet.networkd_claims,
                 specs.NETWORKD_CONFIG)):
            paths = order([p for pattern in patterns for p in self.source.glob(pattern)])
            claims = claims_of([(self.source.display_path(p), self.source.read_text(p, 1024 * 1024)) for p in paths])
            active, active_source = None, None
            if name == "NetworkManager" and "running" in nm_status:
                active, active_source = nm_status["running"], nm_status["source"]
            elif units is not None:
                state = units.get(unit)
                active = bool(state and state["active"] == "active" and state["sub"] == "running")
                active_source = state["source"] if state else f"{units_path} (no {unit})"
            if not claims and not active:
                continue  # neither configured nor running: nothing to say about it
            item = {"name": name, "active": active, "source": claims.get("source") or active_source}
            if active_source:
                item["active_source"] = active_source
            if claims:
                item.update(manages_workloads="cali*" in claims["claims"], claims=claims["claims"],
                            config=claims["config"])
            items.append(item)
        if items or units is not None:
            return items
        self.missing.append({"what": "host network manager state and configuration", "section": "network_managers",
                             "reason": "not in the bundle",
                             "collect_with": "systemctl list-units; cat /etc/NetworkManager/NetworkManager.conf "
                                             "/etc/NetworkManager/conf.d/*.conf /etc/systemd/network/*.network"})
        return None

    def _pods(self):
        namespaces = sorted({p.split("/")[3] for p in self.source.glob("sos_commands/networking/namespaces/*/*")})
        pods = []
        for namespace in namespaces:
            addr_path = specs.pod_path(namespace, specs.POD_COMMANDS[0])
            text = self.source.read_text(addr_path)
            if text is None:
                continue
            links = iproute.parse_ip_link(text, addr_path)
            eth0 = next((i for i in links if i["name"] == "eth0"), None)
            if eth0 is None:
                continue
            pod = {"netns": namespace, "addresses": [a for a in eth0.get("addresses", []) if ":" not in a],
                   "source": eth0["source"]}
            if eth0.get("mtu") is not None:
                pod["mtu"] = eth0["mtu"]
            if eth0.get("peer") and eth0.get("index") is not None:
                self.pod_peers[namespace] = (eth0["peer"], eth0["index"])
            route_path = specs.pod_path(namespace, specs.POD_COMMANDS[1])
            route_text = self.source.read_text(route_path)
            if route_text is not None:
                pod["routes"] = iproute.parse_ip_route(route_text, route_path)
            neigh_path = specs.pod_path(namespace, specs.POD_COMMANDS[2])
            neigh_text = self.source.read_text(neigh_path)
            if neigh_text is not None:
                pod["neighbors"] = iproute.parse_ip_neigh(neigh_text, neigh_path)
            pods.append(pod)
        return pods or None


def _warning_sources(parsed):
    """`warning_sources` for a netfilter entry (file:line of each warning), when there are warnings."""
    return {"warning_sources": parsed["warning_sources"]} if parsed.get("warnings") else {}


def _link_pods_to_interfaces(dump, pod_peers):
    """Name each pod's host-side interface: the node veth whose index is eth0's peer and vice versa."""
    by_index = {i.get("index"): i for i in dump.get("interfaces") or () if i.get("index") is not None}
    for pod in dump.get("pods") or ():
        peer_name, eth0_index = pod_peers.get(pod["netns"], ("", None))
        node_iface = by_index.get(int(peer_name[2:])) if peer_name[2:].isdigit() else None
        if node_iface and node_iface.get("peer") == f"if{eth0_index}":
            pod["host_iface"] = node_iface["name"]
    # A named namespace whose eth0 is not the peer of one of this node's veths is not our pod
    # (another node's namespace on a shared host, a test harness): leave it out.
    if dump.get("pods") is not None:
        dump["pods"] = [p for p in dump["pods"] if p.get("host_iface")]


def _calico_version_from_logs(dump):
    """calico-node and Felix print their version at start-up; use it when nothing better said."""
    if any(v["component"] == "calico" for v in dump.get("versions", ())):
        return
    for event in dump.get("log_events") or ():
        if event["event"] in ("calico_node_version", "felix_version"):
            match = re.search(r"v\d+\.\d+\.\d+", event["message"])
            if match:
                dump.setdefault("versions", []).append({"component": "calico", "version": match.group(0),
                                                        "detail": "from the start-up log line",
                                                        "source": event["source"]})
                return


def _merge_event(merged, item):
    """One log_events item per (component, event) across files: counts add, the span widens."""
    key = (item["component"], item["event"])
    if key not in merged:
        merged[key] = dict(item)
        return
    held = merged[key]
    held["count"] = held.get("count", 1) + item.get("count", 1)
    # current: true if any occurrence is from the running instance, false if all predate it.
    currents = (held.get("current"), item.get("current"))
    if True in currents:
        held["current"] = True
    elif currents != (False, False):
        held.pop("current", None)
    for field, pick in (("first", min), ("last", max)):
        values = [v for v in (held.get(field), item.get(field)) if v]
        if values:
            held[field] = pick(values)


class _CalicoNodeInstance:
    """The running calico-node container instance, from its CRI log files, and whether a log
    event comes from it (`current`: True / False / None = cannot tell).

    kubelet writes `var/log/pods/<ns>_<pod>_<uid>/calico-node/<N>.log`, N the restart count, and
    rotates it to `<N>.log.<timestamp>`: the highest N is the running instance. With several pod
    directories (a replaced pod), the one `var/log/containers/<pod>_<ns>_calico-node-<id>.log`
    names is current, else the one whose newest instance started last. The instance's start is
    the earliest timestamp in its files. An event is current when it was read from the running
    instance's files or its last occurrence is at/after that start; it predates the instance when
    read from an older instance's file or last seen before the start. In a cluster diags bundle,
    `kubectl logs` of the calico-node pod is the running instance and its `.previous.log` the one
    before. Timestamps without a year or zone (journal short format, dmesg) cannot be compared:
    None. Calico's own log timestamps carry no zone; they are taken as UTC (calico-node containers
    run in UTC). The start is read from the head of each file; a file over 64 MiB (kubelet rotates
    at 10 MiB by default) is read from its tail, which makes the start later than it was.
    """

    def __init__(self, source):
        self.files, self.all_files, self.start, self.directory = set(), set(), None, None
        dirs = {}
        for path in source.glob("var/log/pods/*_calico-node-*/calico-node/*"):
            index = path.rsplit("/", 1)[1].split(".", 1)[0]
            if index.isdigit() and ".log" in path.rsplit("/", 1)[1]:
                dirs.setdefault(path.rsplit("/", 2)[0], {}).setdefault(int(index), []).append(path)
        if not dirs:
            return
        self.all_files = {p for by_index in dirs.values() for paths in by_index.values() for p in paths}
        linked = {name.rsplit("/", 1)[1].split("_", 1)[0] for name in source.glob("var/log/containers/calico-node-*.log")}
        # var/log/pods/<ns>_<pod>_<uid>: the pod name is the middle part
        candidates = [d for d in dirs if d.rsplit("/", 1)[1].split("_")[1:2] and d.rsplit("/", 1)[1].split("_")[1] in linked]
        best = None
        for directory in candidates or dirs:
            newest = dirs[directory][max(dirs[directory])]
            start = min((t for t in (_first_cri_time(source, p) for p in newest) if t), default=None)
            if best is None or (start is not None and (best[1] is None or start > best[1])):
                best = (newest, start, directory)
        self.files, self.start, self.directory = set(best[0]), best[1], best[2]

    def pod(self):
        """(namespace, pod name, directory) of the running instance's pod, or None: kubelet names
        the directory `var/log/pods/<namespace>_<pod>_<uid>` (neither name can hold `_`)."""
        if self.directory is None:
            return None
        parts = self.directory.rsplit("/", 1)[1].split("_")
        if len(parts) != 3 or not all(parts):
            return None
        return parts[0], parts[1], self.directory + "/"

    def current(self, path, item, display=None):
        if path in self.files:
            return True
        if display and _KUBECTL_LOG.match(display):  # cluster diags: `kubectl logs [--previous]`
            return not display.endswith(".previous.log")
        last = _parse_time(item.get("last"))
        if self.start is not None and last is not None:
            return last >= self.start
        if self.files and path in self.all_files:
            return False  # an earlier instance's file, and nothing says it ran on afterwards
        return None


_KUBECTL_LOG = re.compile(r"^nodes/[^/]+/[^/]+/calico-node-[^/]*\.log$")


def _first_cri_time(source, path):
    text = source.read_text(path, 64 * 1024 * 1024)
    for line in (text or "").split("\n", 50)[:50]:
        records = logs.parse_cri_log(line + "\n")
        if records:
            return _parse_time(records[0][1])
    return None


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T _](\d{2}:\d{2}:\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def _parse_time(text):
    """An absolute timestamp from a log time field, or None: RFC 3339 (CRI), Calico's
    `2026-11-01 10:00:00.123` and svlogd's `2026-11-01_10:00:00.12345` (both UTC)."""
    match = _STAMP.match(text) if isinstance(text, str) else None
    if not match:
        return None
    date, clock, fraction, zone = match.groups()
    try:
        stamp = datetime.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1
        digits = zone[1:].replace(":", "")
        stamp += sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return stamp + timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


def _sos_manifest(source):
    """sos_reports/manifest.json (sos >= 4.0): {filepath: command entry}; {} when absent or unreadable."""
    import json
    text = source.read_text("sos_reports/manifest.json")
    if not text:
        return {}
    try:
        plugins = json.loads(text)["components"]["report"]["plugins"]
        return {c["filepath"]: c for p in plugins.values() for c in p.get("commands", ()) if c.get("filepath")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def read_bundle(source, label=None):
    return BundleReader(source, label).read()


def _now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
