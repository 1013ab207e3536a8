"""A bundle's files -> a facts dump (the assembly step of collection; the engine's combiners come later).

Works on any EvidenceSource: a sosreport (directory or archive), a calicoctl node diags bundle,
or the raw directory a live collection wrote. Each piece of evidence is one `Specs` attribute
(facts_collectors.specs) read from the first of its bundle paths that exists, with the parser
registered for it; what is absent is recorded in `collection.missing` with the command that
would collect it, never guessed. A section that needs more than "parse the first spec that is
there" (several specs merged, preferences between formats) has an assembler method here; any
other section is filled generically from its specs, so new evidence needs no code in this file.
"""

import re
from datetime import datetime, timedelta, timezone

from calirules.base import __version__
from calirules.facts_collectors import specs
from calirules.facts_collectors.dump import API_VERSION, KIND
from calirules.facts_collectors.evidence_time import evidence_time
from calirules.facts_collectors.parsers import hostnet, kube, logs
from calirules.facts_collectors.parsers._common import to_int
from calirules.facts_collectors.specs import Specs


class BundleReader:
    def __init__(self, source, label=None):
        self.source = source
        self.label = label or source.label
        self.missing = []
        self.notes = []  # the reader's own; the source's are taken when reading ends (sources note as they read)
        self.pod_peers = {}  # netns -> (eth0's "ifN" peer, eth0's own index)
        self.manifest = _sos_manifest(source)
        self.nft_tables = None  # set by _netfilter when the bundle has `nft list ruleset`

    def first(self, spec):
        """(path as provenance names it, text) of the first of `spec`'s paths that exists, else (None, None)."""
        for path in spec.paths:
            display, text = self.first_of(path)
            if text is not None:
                return display, text
        return None, None

    def parsed(self, spec, **options):
        """`spec`'s registered parser applied to the first of its paths the bundle has, or None."""
        for path in spec.paths:
            display, text = self.first_of(path)
            if text is not None:
                return spec.parser_for(path)(text, display, **options)
        return None

    def first_of(self, path):
        text = self.source.read_text(path)
        if text is None:
            return None, None
        entry = self.manifest.get(path)
        if entry and entry.get("truncated"):
            self.notes.append(f"{path}: truncated by sos (only the tail was kept)")
        return self.source.display_path(path), text

    def found(self, spec):
        """Bundle paths of a spec found by pattern (globs in order, each path once)."""
        paths = []
        for pattern in spec.patterns:
            paths.extend(p for p in self.source.glob(pattern) if p not in paths)
        return paths

    def lack(self, section, spec, reason="not in the bundle"):
        failed = getattr(self.source, "failed", {}).get(spec.live_path)
        if failed:
            reason = f"the bundle holds an error instead of output: {failed}"
        entry = next((self.manifest[p] for p in spec.paths if p in self.manifest), None)
        if entry is not None and entry.get("return_code") is not None:
            # sos ran it: the manifest says why there is no file (126/127: binary not found).
            code = entry["return_code"]
            reason = "command not found on the node" if code in (126, 127) else f"sos ran it and got exit {code}"
        what = spec.paths[0] if spec.paths else spec.what
        self.missing.append({"what": what, "section": section, "reason": reason, "collect_with": spec.collect_with})

    def lack_section(self, section, what, reason="not in the bundle"):
        """A section none of whose specs the bundle has: the hint lists every spec that fills it."""
        self.missing.append({"what": what, "section": section, "reason": reason,
                             "collect_with": specs.section_collect_with(section)})

    def read(self):
        dump = {"apiVersion": API_VERSION, "kind": KIND, "node": self._node()}
        self.hostname = dump["node"]["hostname"]
        dump["collection"] = {"source": self.label, "collected_at": _now(), "collector": f"calirules {__version__}"}
        when = evidence_time(self.source)
        if when:
            dump["collection"]["evidence_collected_at"] = when
        assemblers = {"versions": self._versions, "sysctls": self._sysctls, "netfilter": self._netfilter,
                      "nft_tables": self._nft_tables, "legacy_tables": self._legacy_tables,
                      "conntrack": self._conntrack, "pods": self._pods,
                      "components": self._components, "kube_objects": self._kube_objects,
                      "settings": self._settings, "log_events": self._log_events,
                      "network_managers": self._network_managers}
        for section in _sections_in_order(assemblers):
            reader = assemblers.get(section)
            value = reader() if reader else self._generic(section)
            if value is not None:
                dump[section] = value
        self._host_services(dump)
        _link_pods_to_interfaces(dump, self.pod_peers)
        _calico_version_from_logs(dump)
        if not any(v["component"] == "calico" for v in dump.get("versions", ())):
            self.missing.append({"what": "Calico version", "section": "versions", "reason": "not in the bundle",
                                 "collect_with": f"{Specs.calico_cni_version.collect_with} (or the calico-node image tag)"})
        dump["collection"]["missing"] = self.missing
        notes = [*getattr(self.source, "notes", ()), *self.notes]
        if notes:
            dump["collection"]["notes"] = notes
        return dump

    def _generic(self, section):
        """A section filled by the first of its specs the bundle has, through that spec's parser."""
        for spec in specs.of_section(section):
            value = self.parsed(spec)
            if value is not None:
                return value
        self.lack(section, specs.of_section(section)[0])
        return None

    def _node(self):
        node, sources = {}, {}
        # Later sources win: `hostname` over uname's node name; os-release adds the OS.
        for spec, fields in ((Specs.uname, ("kernel", "hostname", "arch")), (Specs.hostname, ("hostname",)),
                             (Specs.os_release, ("os",))):
            parsed = self.parsed(spec) or {}
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
        found = list(self.parsed(Specs.iptables_version) or ()) + list(self.parsed(Specs.calico_cni_version) or ())
        if not any(v["component"] == "calico" for v in found):
            found.extend(kube.calico_version_from_images(self.parsed(Specs.crictl_images) or []))
        found.extend(self.parsed(Specs.kubelet_version) or ())
        for relpath in self.found(Specs.kubectl_version)[:1]:
            found.extend(Specs.kubectl_version.parser_for(relpath)(self.source.read_text(relpath),
                                                                   self.source.display_path(relpath)))
        if not any(v["component"] == "kubelet" for v in found):
            for relpath in self.found(Specs.kubectl_nodes)[:1]:
                found.extend(Specs.kubectl_nodes.parser_for(relpath)(self.source.read_text(relpath),
                                                                     self.source.display_path(relpath), node=self.hostname))
        return found

    def _components(self):
        items = []
        for relpath in self.found(Specs.kubectl_pods)[:1]:
            items.extend(Specs.kubectl_pods.parser_for(relpath)(self.source.read_text(relpath),
                                                                self.source.display_path(relpath), node=self.hostname))
        if not items:
            # crictl lists this node's own runtime: its containers are this node's.
            items.extend(dict(item, node=self.hostname) for item in self.parsed(Specs.crictl_ps) or ())
        if not items:
            self.lack_section("components", "calico-node pod status")
            return None
        return items

    def _settings(self):
        items = []
        conflist = self.parsed(Specs.cni_conflist)
        if conflist is None:  # another name in the CNI configuration directory
            for relpath in self.found(Specs.cni_conflist)[:1]:
                conflist = Specs.cni_conflist.parser_for(relpath)(self.source.read_text(relpath),
                                                                  self.source.display_path(relpath))
        items.extend(conflist or ())
        items.extend(self.parsed(Specs.calicoctl_ippools) or ())
        for path, _kind, _gives in specs.KUBE_YAML:  # FelixConfiguration, Installation, calico-node env
            text = self.source.read_text(path)
            if text is not None:
                items.extend(Specs.kube_yaml.parser_for(path)(text, self.source.display_path(path)))
        return items or None

    def _kube_objects(self):
        """Cluster-wide evidence of how Calico is installed: the Calico objects the bundle's
        Kubernetes listings and YAML show, a `List` item per listing read (what it lacks is absent
        there), and this node's calico-node pod as its container log directory names it."""
        items = []
        listing = Specs.kubectl_listings.parser_for("")
        for pattern, of, namespace in specs.KUBECTL_LISTINGS:
            for path in self.source.glob(pattern):
                items.extend(listing(self.source.read_text(path), self.source.display_path(path), namespace=namespace, of=of))
        objects = Specs.kube_yaml.parser_for("")  # the general parser: any kind, from YAML
        for path, of, _gives in specs.KUBE_YAML:
            text = self.source.read_text(path) if of else None
            if text is not None:
                items.extend(objects(text, self.source.display_path(path), of=of))
        pod = self._instance().pod()
        if pod is not None:
            namespace, name, directory = pod
            items.append({"kind": "Pod", "component": "calico-node", "name": name, "namespace": namespace,
                          "node": self.hostname, "source": directory})
        if not items:
            self.lack_section("kube_objects", "Kubernetes objects that show how Calico is installed")
            return None
        return items

    def _instance(self):
        """The running calico-node container instance (from its CRI logs), found once."""
        if getattr(self, "_calico_node_instance", None) is None:
            self._calico_node_instance = _CalicoNodeInstance(self.source)
        return self._calico_node_instance

    def _sysctls(self):
        items = self.parsed(Specs.sysctl)
        if items is not None:
            return items
        # sos copies all of /proc/sys; a bundle with only a few proc/sys files has no sysctl tree.
        files = self.found(Specs.proc_sys) if self.source.exists("proc/sys/net/ipv4/ip_forward") else []
        if files:
            parse = Specs.proc_sys.parser_for("")
            return [item for relpath in files for item in parse(relpath, self.source.read_text(relpath, 4096))]
        self.lack("sysctls", Specs.sysctl)
        return None

    def _netfilter(self):
        """Both iptables backends, from the best evidence the bundle has for each.

        Preference: `iptables-{legacy,nft}-save -c` (live collection, sos extras); calicoctl's
        `iptables-save -c`; sos's `nft -a list ruleset` (iptables-nft tables) and its
        `iptables -vnxL` listing. A backend that cannot be read is reported missing, never
        assumed empty, except legacy when /proc/net/ip_tables_names shows no legacy filter table.
        """
        backends = {}
        for backend, spec in (("legacy", Specs.iptables_legacy_save), ("nft", Specs.iptables_nft_save)):
            path, text = self.first(spec)
            if text is not None:
                parsed = spec.parser_for(path)(text, path)
                backends[backend] = {"backend": backend, "source": path, "warnings": parsed["warnings"],
                                     "tables": parsed["tables"], **_warning_sources(parsed)}
        path, text = self.first(Specs.calicoctl_iptables)
        if text is not None:  # calicoctl node diags: `iptables-save -c` of whichever backend `iptables` is
            parsed = Specs.calicoctl_iptables.parser_for(path)(text, path)
            backend = "nft" if "(nf_tables)" in text.split("\n", 1)[0] or parsed["warnings"] else "legacy"
            backends.setdefault(backend, {"backend": backend, "source": path,
                                          "warnings": parsed["warnings"], "tables": parsed["tables"],
                                          **_warning_sources(parsed)})
        path, text = self.first(Specs.nft_ruleset)
        nft_filter_chains = None
        if text is not None:
            parsed = Specs.nft_ruleset.parser_for(path)(text, path)
            self.nft_tables = parsed["tables"]
            nft_filter_chains = {c["name"] for t in parsed["iptables_tables"] if t["name"] == "filter" for c in t["chains"]}
            backends.setdefault("nft", {"backend": "nft", "source": path, "warnings": parsed.get("warnings", []),
                                        "tables": parsed["iptables_tables"], **_warning_sources(parsed)})
        listing_path, listing = self.first(Specs.iptables_list)
        if listing is not None and "legacy" not in backends:
            parsed = Specs.iptables_list.parser_for(listing_path)(listing, listing_path)
            listed = {c["name"] for t in parsed["tables"] for c in t["chains"]}
            # sos lists whatever `iptables` is. Without an nft ruleset (nft skipped or failed) that
            # is legacy; with one, it is legacy only if it shows chains nft's `table ip filter` lacks.
            # The listing always shows INPUT/FORWARD/OUTPUT, nft only the base chains iptables-nft
            # created; and only iptables-nft warns that legacy tables are present.
            builtin = {"INPUT", "FORWARD", "OUTPUT"}
            nft_view = any("iptables-legacy tables present" in w for w in parsed["warnings"]) or \
                bool(nft_filter_chains) and listed - builtin == nft_filter_chains - builtin
            if nft_filter_chains is None or (nft_filter_chains and not nft_view):
                backends["legacy"] = {"backend": "legacy", "source": listing_path,
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
                self.lack("netfilter", {"legacy": Specs.iptables_legacy_save, "nft": Specs.iptables_nft_save}[backend],
                          reason=f"the bundle has no listing of the {backend} iptables backend")
        if not backends:
            return None
        return [backends[b] for b in ("legacy", "nft") if b in backends]

    def _nft_tables(self):
        """Every nftables table of `nft list ruleset` (read by _netfilter): Calico's own `table ip
        calico` is how its nftables data plane shows. None when the ruleset was not in the bundle."""
        if self.nft_tables is None:
            self.lack("nft_tables", Specs.nft_ruleset)
        return self.nft_tables

    def _legacy_tables(self):
        """The legacy iptables tables the kernel has (/proc/net/ip_tables_names); [] when proc/net
        was read and the file is absent (the legacy ip_tables module is not loaded); None when
        proc/net was not collected."""
        tables = self.parsed(Specs.ip_tables_names)
        if tables is not None:
            return tables
        return [] if self.first(Specs.proc_net_dev)[1] is not None else None

    def _legacy_without_filter(self):
        """The legacy backend as read from /proc/net/ip_tables_names when it proves the legacy
        filter table does not exist (no legacy tables at all, or only nat/mangle/raw ones): nothing
        in legacy can then filter forwarded packets, which is all the rules read from it."""
        if self._legacy_iptables_absent():
            return {"backend": "legacy", "source": Specs.ip_tables_names.paths[0], "tables": [],
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
        _path, names = self.first(Specs.ip_tables_names)
        if names is not None:
            return not names.strip()
        return self.first(Specs.proc_net_dev)[1] is not None

    def _conntrack(self):
        result, sources = {}, {}
        for spec, field in ((Specs.nf_conntrack_count, "count"), (Specs.nf_conntrack_max, "max")):
            path, text = self.first(spec)
            parsed = spec.parser_for(path)(text, path) if text else {}
            if field in parsed:
                result[field] = parsed[field]
                sources[field] = parsed.get("source") or f"{path}:1"
        # Per-CPU counters: conntrack-tools' `conntrack -S`, else the kernel's own table in
        # /proc/net/stat/nf_conntrack (sos copies /proc/net whether or not conntrack-tools exist).
        for spec in (Specs.conntrack_stats, Specs.proc_conntrack_stats):
            path, text = self.first(spec)
            parsed = spec.parser_for(path)(text, path) if text else {}
            if parsed.get("stats"):
                result["stats"] = {k: v for k, v in parsed["stats"].items() if isinstance(v, int) and v >= 0}
                sources["stats"] = parsed["source"]
                break
        if not result:
            self.lack("conntrack", Specs.nf_conntrack_count)
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
        for pattern, kind, component in specs.LOG_SOURCES:  # Specs.logs, with how to read each
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
                for item in Specs.logs.parser_for(path)(text, display, kind, component, seen):
                    current = instance.current(path, item, display)
                    if current is not None:
                        item["current"] = current
                    _merge_event(merged, item)
        path, text = self.first(Specs.ipset_list)
        if text is not None:  # `ipset list` prints the kernel/userspace revision error itself
            found = True
            for item in Specs.ipset_list.parser_for(path)(text, path, "plain", "felix"):
                _merge_event(merged, item)
        if not found:
            self.lack("log_events", Specs.logs, reason="no log in the bundle")
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
        units = self.parsed(Specs.systemctl_units)
        if units is None:
            return
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
        units_path = self.first(Specs.systemctl_units)[0]
        units = self.parsed(Specs.systemctl_units)
        nm_status = self.parsed(Specs.nmcli_status) or {}
        networkctl = self.parsed(Specs.networkctl_status) or []
        items = []
        for name, unit, order, config in (
                ("NetworkManager", "NetworkManager.service", hostnet.networkmanager_order, Specs.networkmanager_config),
                ("systemd-networkd", "systemd-networkd.service", hostnet.networkd_order, Specs.networkd_config)):
            paths = order(self.found(config))
            claims = config.parser_for("")([(self.source.display_path(p), self.source.read_text(p, 1024 * 1024))
                                            for p in paths])
            observed = hostnet.networkd_observed(networkctl) if name == "systemd-networkd" else {}
            claims = observed or claims  # networkd's own answer wins over what its files seem to say
            active, active_source = None, None
            if name == "NetworkManager" and "running" in nm_status:
                active, active_source = nm_status["running"], nm_status["source"]
            elif units is not None:
                state = units.get(unit)
                active = bool(state and state["active"] == "active" and state["sub"] == "running")
                active_source = state["source"] if state else f"{units_path} (no {unit})"
            elif observed:  # networkctl shows link states only where networkd runs
                active, active_source = True, observed["source"]
            if not claims and not active:
                continue  # neither configured nor running: nothing to say about it
            item = {"name": name, "active": active, "source": claims.get("source") or active_source}
            if active_source:
                item["active_source"] = active_source
            if claims:
                item.update(manages_workloads="cali*" in claims["claims"], claims=claims["claims"],
                            config=claims["config"])
            items.append(item)
        if items or units is not None or networkctl:
            return items
        self.lack_section("network_managers", "host network manager state and configuration")
        return None

    def _pods(self):
        """Each pod network namespace sos (or live collection) listed, with its eth0, routes and
        neighbours; the node veth it pairs with is found later (_link_pods_to_interfaces)."""
        namespaces = sorted({p.split("/")[3] for p in self.found(Specs.pod_address)})
        pods = []
        for namespace in namespaces:
            addr_path = specs.pod_path(namespace, Specs.pod_address)
            text = self.source.read_text(addr_path)
            if text is None:
                continue
            links = Specs.pod_address.parser_for(addr_path)(text, addr_path)
            eth0 = next((i for i in links if i["name"] == "eth0"), None)
            if eth0 is None:
                continue
            pod = {"netns": namespace, "addresses": [a for a in eth0.get("addresses", []) if ":" not in a],
                   "source": eth0["source"]}
            if eth0.get("mtu") is not None:
                pod["mtu"] = eth0["mtu"]
            if eth0.get("peer") and eth0.get("index") is not None:
                self.pod_peers[namespace] = (eth0["peer"], eth0["index"])
            for spec, field in ((Specs.pod_route, "routes"), (Specs.pod_neigh, "neighbors")):
                path = specs.pod_path(namespace, spec)
                text = self.source.read_text(path)
                if text is not None:
                    pod[field] = spec.parser_for(path)(text, path)
            pods.append(pod)
        return pods or None


# The dump's sections in the order a dump lists them; a section only the registry names (new
# evidence without an assembler) follows, in the order its specs are declared.
SECTION_ORDER = ("versions", "sysctls", "interfaces", "routes", "ip_rules", "netfilter", "nft_tables", "legacy_tables",
                 "kernel_modules", "conntrack", "pods", "components", "kube_objects", "settings", "log_events",
                 "network_managers")


def _sections_in_order(assemblers):
    declared = [section for spec in specs.all_specs() for section in spec.sections if section != "node"]
    return list(dict.fromkeys([*SECTION_ORDER, *assemblers, *declared]))


def _warning_sources(parsed):
    """`warning_sources` for a netfilter entry (file:line of each warning), when there are warnings."""
    return {"warning_sources": parsed["warning_sources"]} if parsed.get("warnings") else {}


def _link_pods_to_interfaces(dump, pod_peers):
    """Name each pod's host-side interface: the node veth whose index is eth0's peer and vice versa."""
    by_index = {i.get("index"): i for i in dump.get("interfaces") or () if i.get("index") is not None}
    for pod in dump.get("pods") or ():
        peer_name, eth0_index = pod_peers.get(pod["netns"], ("", None))
        node_iface = by_index.get(to_int(peer_name[2:])) if peer_name[2:].isdigit() else None
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
            if to_int(index) is not None and index.isdigit() and ".log" in path.rsplit("/", 1)[1]:
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
