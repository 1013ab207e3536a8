"""The evidence registry: every piece of evidence calirules reads, declared once.

Like insights-core's `Specs` and sos's `add_cmd_output` lines, each attribute of `Specs` names one
piece of evidence (an attribute, so a typo fails at import, not at run time) and says:
  - which dump section(s) it fills and what it is (`section`, `what`);
  - how each source kind provides it: the command or host file a live collection reads, where
    sos keeps it (`sos`: the plugin that runs the command, `extras`: only when the
    /etc/sos/extras.d/calico file from `calirules sos-extras` asks for it, `also`: older or other
    sos names), the file calicoctl node diags writes (`node_diags`) and the file calicoctl cluster
    diags writes for each node or once for the cluster (`cluster_diags`);
  - for evidence found by pattern (logs, kubectl listings, configuration directories), `patterns`;
  - what an operator runs to collect it when it is missing (derived from the command or file).
Parsers register themselves on the evidence they read (`@parser(Specs.x)` in the parser modules).
Everything else is generated from this table: the live collection plan, the sos-extras file, the
cluster diags file map, missing-evidence hints, the parser index (`calirules evidence`) and the
evidence tables in the docs.
"""

import importlib
import pkgutil
import re

EXTRAS = "sos_commands/sos_extras/calico"
CLUSTER_SHARED = "cluster/"  # cluster diags paths under cluster/ are shared by every node's view


def mangle(command):
    """sos's file name for a command's output (sos/report/plugins/__init__.py `_mangle_command`)."""
    name = re.sub(r"^/(usr/|)(bin|sbin)/", "", command)
    name = re.sub(r"[^\w\-\./]+", "_", name)
    name = re.sub(r"/", ".", name).strip(" ._-")
    return name[:255]


class Spec:
    """One piece of evidence. `name` is the attribute it is declared as in `Specs`."""

    def __init__(self, section, what, *, command=None, file=None, patterns=(), sos=None, extras=False, also=(),
                 node_diags=(), cluster_diags=None, in_netns=None, needs_module=None, timeout=10.0, live=True,
                 collect_with=None, presence_only=False):
        if (command is None) == (file is None) and not patterns:
            raise ValueError("a spec reads a command's output, a file, or files found by pattern")
        self.sections = (section,) if isinstance(section, str) else tuple(section)
        self.what = what
        self.command = tuple(command.split()) if command else None
        self.file = file
        self.patterns = tuple(patterns)
        self.sos, self.extras, self.also, self.node_diags = sos, extras, tuple(also), tuple(node_diags)
        self.cluster_diags = cluster_diags
        # Files under /proc/net and /proc/sys/net are per network namespace; host files are not.
        self.in_netns = in_netns if in_netns is not None else bool(command) or bool(file and file.startswith("/proc/"))
        self.needs_module = needs_module  # live: skip unless loaded (listing must never autoload a module)
        self.timeout = timeout
        self.live = live and bool(command or file)
        self._collect_with = collect_with
        self.presence_only = presence_only  # only whether the file exists matters: no parser
        self.parsers = []  # (function, paths it is for or None for every path), by @parser
        self.name = None

    def __set_name__(self, owner, name):
        self.name = name

    def __repr__(self):
        return f"Specs.{self.name}"

    @property
    def section(self):
        return self.sections[0]

    @property
    def command_line(self):
        return " ".join(self.command) if self.command else None

    @property
    def live_path(self):
        """Where live collection writes it (and where a sosreport has it, when sos runs it)."""
        if self.command:
            return f"{EXTRAS}/{mangle(self.command_line)}" if self.extras else f"sos_commands/{self.sos}/{mangle(self.command_line)}"
        return self.file.lstrip("/") if self.file else None

    @property
    def paths(self):
        """Bundle-relative candidates, best first: the live/sos name, older sos names, node diags names."""
        first = (self.live_path,) if self.live_path and (self.sos or self.extras or self.file) else ()
        return first + self.also + self.node_diags

    @property
    def collect_with(self):
        if self._collect_with:
            return self._collect_with
        if self.command:
            return self.command_line
        return f"cat {self.file}" if self.file else None

    def parser_for(self, path):
        """The parser registered for `path` (one registered for that path wins over a general one)."""
        load_parsers()
        general = None
        for function, paths in self.parsers:
            if paths is None:
                general = general or function
            elif any(path == p or path.endswith("/" + p) for p in paths):
                return function
        return general


def parser(*specs, paths=None):
    """Register the decorated function as the parser of `specs` (optionally only for some of
    their bundle paths, when one piece of evidence comes in two formats)."""
    def register(function):
        for spec in specs:
            spec.parsers.append((function, tuple(paths) if paths else None))
        function.specs = getattr(function, "specs", ()) + specs
        return function
    return register


_PARSERS_LOADED = []


def load_parsers():
    """Import every parser module once, so each has registered itself."""
    if _PARSERS_LOADED:
        return
    _PARSERS_LOADED.append(True)
    from calirules.facts_collectors import parsers
    for module in pkgutil.iter_modules(parsers.__path__):
        importlib.import_module(f"{parsers.__name__}.{module.name}")


# Kubernetes API views sos takes where /etc/kubernetes/admin.conf exists (names vary by sos
# version and kubeconfig flag: found by pattern, newest layout first); calicoctl cluster diags
# (v3.31+) writes the same views as `-o wide` text under cluster/.
KUBECTL_LISTINGS = (  # (pattern, kind it lists, the namespace a listing without a NAMESPACE column covers)
    ("sos_commands/kubernetes/**/kubectl*_get_--all-namespaces_true_pods", "Pod", None),
    ("sos_commands/kubernetes/**/kubectl*_get_namespaces", "Namespace", None),
    ("sos_commands/kubernetes/**/kubectl*_get_--all-namespaces_true_configmaps", "ConfigMap", None),
    ("cluster/kubernetes/pods.txt", "Pod", None),
    ("cluster/kubernetes/namespaces.txt", "Namespace", None),
    ("cluster/kubernetes/configmaps.txt", "ConfigMap", None),
    ("cluster/tigera-operator/tigera-operator.txt", "Pod", "tigera-operator"),
    ("cluster/calico-system/calico-system.txt", "Pod", "calico-system"),
)
# Objects as YAML (calicoctl cluster diags: `kubectl get <crd> -Ao yaml` for every Calico/Tigera
# CRD, named <plural>.<group>.yaml; `kubectl get daemonsets --all-namespaces -o yaml`):
# (path, kube_objects kind it lists or None, what it gives `settings`).
KUBE_YAML = (
    ("cluster/crd/installations.operator.tigera.io.yaml", "Installation", "installation"),
    ("cluster/crd/felixconfigurations.crd.projectcalico.org.yaml", None, "felixconfiguration"),
    ("cluster/crd/felixconfigurations.projectcalico.org.yaml", None, "felixconfiguration"),
    ("cluster/kubernetes/daemonsets.yaml", None, "calico-node-env"),
)

# Logs worth classifying, by bundle path pattern: (glob, kind for parsers.logs, component hint;
# None = from the path, see parsers.logs.component_from_path). Every place a real bundle keeps them:
#  - CRI container logs (sos container_log plugin; live: the host files): the calico-node pod's
#    containers, `<N>.log` per restart and kubelet-rotated `<N>.log.<timestamp>` (`.gz` skipped);
#    `var/log/containers/*` links are read only when their `var/log/pods` target is absent;
#  - /var/log/calico (svlogd `current` + rotated `@<tai64n>.s/.u`, CNI `cni.log` + lumberjack
#    backups), copied by sos-extras; calicoctl node diags `logs/...`, `logs/<container>.log`;
#  - journals: sos `logs` plugin (`journalctl --no-pager`, `--boot`, `--boot -1`, `--catalog`
#    variants of sos 3.9-4.3, `--since` suffixes) and the per-unit journals other plugins take;
#  - syslog files (`var/log/messages*`, `var/log/syslog*`, `var/log/kern.log*`, same line format
#    as `journalctl` short/short-iso output), rotated names included;
#  - dmesg.
# A line seen in two journal/syslog files is counted once (see the bundle reader's log events).
LOG_SOURCES = (
    ("var/log/pods/*_calico-node-*/calico-node/*.log", "cri", "calico-node"),
    ("var/log/pods/*_calico-node-*/calico-node/*.log.*", "cri", "calico-node"),
    ("var/log/pods/*_calico-node-*/install-cni/*.log", "cri", "cni"),
    ("var/log/pods/*_calico-node-*/upgrade-ipam/*.log", "cri", "calico-node"),
    ("var/log/containers/calico-node-*.log", "cri", "calico-node"),
    ("var/log/calico/*/current", "calico", None),
    ("var/log/calico/*/@*", "calico", None),
    ("var/log/calico/cni/cni*.log*", "cni", "cni"),
    ("logs/*/current", "calico", None),
    ("logs/*/@*", "calico", None),
    ("logs/cni/cni*.log*", "cni", "cni"),
    ("logs/*.log", "calico", "calico-node"),
    ("sos_commands/logs/journalctl_--no-pager", "journal", None),
    ("sos_commands/logs/journalctl_--no-pager_--since*", "journal", None),
    ("sos_commands/logs/journalctl_--no-pager_*--boot*", "journal", None),
    ("sos_commands/logs/journalctl_--all_--this-boot_--no-pager", "journal", None),
    ("sos_commands/kubernetes/journalctl_--no-pager_--unit_kubelet*", "journal", "kubelet"),
    ("sos_commands/openshift/journalctl_--no-pager_--unit_kubelet*", "journal", "kubelet"),
    ("sos_commands/networkmanager/journalctl_--no-pager_--unit_NetworkManager*", "journal", "NetworkManager"),
    ("sos_commands/firewalld/journalctl_--no-pager_--unit_firewalld*", "journal", "firewalld"),
    ("sos_commands/containerd/journalctl_--no-pager_--unit_containerd*", "journal", "containerd"),
    ("sos_commands/crio/journalctl_--no-pager_--unit_crio*", "journal", "crio"),
    ("sos_commands/docker/journalctl_--no-pager_--unit_docker*", "journal", "docker"),
    ("var/log/messages*", "journal", None),
    ("var/log/syslog*", "journal", None),
    ("var/log/kern.log*", "journal", "kernel"),
    ("sos_commands/kernel/dmesg", "dmesg", "kernel"),
)


class Specs:
    """Every piece of evidence calirules reads. `calirules evidence` prints this table."""

    # --- the node
    hostname = Spec("node", "host name", command="hostname", sos="host", in_netns=False,
                    node_diags=("diagnostics/hostname", "hostname"))
    uname = Spec("node", "kernel release and node name", command="uname -a", sos="kernel", in_netns=False,
                 node_diags=("uname",))
    os_release = Spec("node", "operating system", file="/etc/os-release", also=("usr/lib/os-release",))

    # --- versions
    iptables_version = Spec("versions", "iptables version and mode (legacy / nf_tables)", command="iptables -V",
                            extras=True, in_netns=False)
    calico_cni_version = Spec("versions", "Calico CNI plugin version", command="/opt/cni/bin/calico -v", extras=True,
                              in_netns=False, timeout=5.0)
    kubelet_version = Spec("versions", "kubelet version", command="kubelet --version", extras=True, in_netns=False,
                           timeout=5.0)
    kubectl_version = Spec("versions", "Kubernetes server version (kubectl version)",
                           patterns=("sos_commands/kubernetes/**/kubectl*_version",
                                     "sos_commands/kubernetes/**/kubectl*_version_*"),
                           cluster_diags="cluster/version.yaml", collect_with="kubectl version",
                           also=("sos_commands/kubernetes/cluster-info/kubectl_version",))
    kubectl_nodes = Spec("versions", "kubelet versions of the cluster's nodes (kubectl get nodes)",
                         patterns=("sos_commands/kubernetes/**/kubectl*get_nodes",), collect_with="kubectl get nodes -o wide")
    crictl_images = Spec("versions", "container images on the node (the calico/node tag)", command="crictl images",
                         sos="crio", in_netns=False, timeout=5.0)

    # --- kernel settings and network state
    sysctl = Spec("sysctls", "kernel sysctls", command="sysctl -a", sos="kernel")
    proc_sys = Spec("sysctls", "kernel sysctls as sos copies /proc/sys", patterns=("proc/sys/net/**/*",),
                    collect_with="sysctl -a")
    ip_address = Spec("interfaces", "interfaces with addresses and veth peers", command="ip -d address",
                      sos="networking", also=("sos_commands/networking/ip_address",), node_diags=("ipv4_addr",),
                      cluster_diags="ip-addr.txt")
    ip_link = Spec("interfaces", "interfaces with counters", command="ip -s -d link", sos="networking",
                   also=("sos_commands/networking/ip_-s_link", "sos_commands/networking/ip_link"))
    ip_route = Spec("routes", "routes of every table", command="ip -d route show table all", extras=True,
                    also=("sos_commands/networking/ip_route_show_table_all",), node_diags=("ipv4_route",),
                    cluster_diags="ip-route.txt")
    ip_rule = Spec("ip_rules", "policy-routing rules", command="ip -4 rule list", sos="networking",
                   also=("sos_commands/networking/ip_-4_rule",), cluster_diags="ip-rule.txt")

    # --- pods (inside each named pod network namespace; sos >= 4.3 layout)
    pod_address = Spec("pods", "a pod's interfaces", command="ip -d address show", live=False,
                       collect_with="ip netns exec <pod netns> ip -d address show",
                       patterns=("sos_commands/networking/namespaces/*/ip_netns_exec_*_ip_-d_address_show",))
    pod_route = Spec("pods", "a pod's routes", command="ip route show table all", live=False,
                     collect_with="ip netns exec <pod netns> ip route show table all",
                     patterns=("sos_commands/networking/namespaces/*/ip_netns_exec_*_ip_route_show_table_all",))
    pod_neigh = Spec("pods", "a pod's neighbour table", command="ip -s -s neigh show", live=False,
                     collect_with="ip netns exec <pod netns> ip -s -s neigh show",
                     patterns=("sos_commands/networking/namespaces/*/ip_netns_exec_*_ip_-s_-s_neigh_show",))

    # --- netfilter
    iptables_legacy_save = Spec("netfilter", "legacy iptables rules with counters", command="iptables-legacy-save -c",
                                extras=True, needs_module="ip_tables", cluster_diags="iptables-legacy-save.txt")
    iptables_nft_save = Spec("netfilter", "iptables-nft rules with counters", command="iptables-nft-save -c",
                             extras=True, needs_module="nf_tables", cluster_diags="iptables-nft-save.txt")
    calicoctl_iptables = Spec("netfilter", "`iptables-save -c` of the node's iptables (calicoctl node diags)",
                              command="iptables-save -c", live=False, node_diags=("ipv4_tables",))
    nft_ruleset = Spec(("netfilter", "nft_tables"), "every nftables table (iptables-nft's and Felix's own)",
                       command="nft -a list ruleset", sos="firewall_tables", needs_module="nf_tables",
                       also=("sos_commands/firewall_tables/nft_list_ruleset",), node_diags=("nft_ruleset",),
                       cluster_diags="nft-ruleset.txt")
    iptables_list = Spec("netfilter", "iptables listing with counters (what sos runs instead of iptables-save)",
                         command="iptables -vnxL", sos="firewall_tables", live=False)
    # Which legacy iptables tables exist (the file is there only while ip_tables is loaded), and a
    # marker that proc/net was read at all: together they tell "legacy empty" from "not collected".
    ip_tables_names = Spec("legacy_tables", "legacy iptables tables the kernel has", file="/proc/net/ip_tables_names")
    proc_net_dev = Spec("legacy_tables", "marker that /proc/net was collected", file="/proc/net/dev",
                        presence_only=True)
    proc_modules = Spec("kernel_modules", "loaded kernel modules", file="/proc/modules", in_netns=False,
                        also=("sos_commands/kernel/lsmod",))

    # --- conntrack
    nf_conntrack_count = Spec("conntrack", "conntrack entries in use", file="/proc/sys/net/netfilter/nf_conntrack_count")
    nf_conntrack_max = Spec("conntrack", "conntrack table size", file="/proc/sys/net/netfilter/nf_conntrack_max")
    conntrack_stats = Spec("conntrack", "per-CPU conntrack counters", command="conntrack -S", sos="conntrack",
                           needs_module="nf_conntrack_netlink")
    proc_conntrack_stats = Spec("conntrack", "per-CPU conntrack counters (kernel table)",
                                file="/proc/net/stat/nf_conntrack")

    # --- Calico and Kubernetes configuration
    cni_conflist = Spec("settings", "Calico's CNI configuration", file="/etc/cni/net.d/10-calico.conflist",
                        patterns=("etc/cni/net.d/*.conflist",))
    calicoctl_ippools = Spec("settings", "IP pools", command="calicoctl get ippools -o yaml", extras=True,
                             in_netns=False, cluster_diags="cluster/crd/ippools.crd.projectcalico.org.yaml")
    kube_yaml = Spec(("settings", "kube_objects"), "Installation, FelixConfiguration and DaemonSet objects as YAML",
                     patterns=tuple(path for path, _kind, _gives in KUBE_YAML),
                     collect_with="kubectl get installations.operator.tigera.io,felixconfigurations.crd.projectcalico.org "
                                  "-o yaml; kubectl get daemonsets -A -o yaml")
    kubectl_listings = Spec("kube_objects", "Kubernetes listings that show how Calico is installed",
                            patterns=tuple(pattern for pattern, _of, _ns in KUBECTL_LISTINGS),
                            collect_with="kubectl get pods -A -o wide; kubectl get namespaces; kubectl get configmaps -A")
    kubectl_pods = Spec("components", "pods of the cluster with their node (kubectl get pods -o wide)",
                        patterns=("sos_commands/kubernetes/**/kubectl*get*pods", "cluster/kubernetes/pods.txt"),
                        collect_with="kubectl get pods -A -o wide -l k8s-app=calico-node")
    crictl_ps = Spec("components", "containers on the node", command="crictl ps -a", sos="crio", in_netns=False,
                     timeout=5.0)

    # --- host services and network managers
    systemctl_units = Spec(("components", "network_managers"), "systemd units that are loaded",
                           command="systemctl list-units", sos="systemd", in_netns=False)
    nmcli_status = Spec("network_managers", "NetworkManager's own status", command="nmcli general status",
                        sos="networkmanager", in_netns=False, timeout=5.0)
    # systemd-networkd's own answer, link by link: observed, where the .network files only let us infer
    networkctl_status = Spec("network_managers", "systemd-networkd's state of every link", command="networkctl status -a",
                             sos="networking", in_netns=False, timeout=5.0)
    networkmanager_config = Spec("network_managers", "NetworkManager configuration",
                                 patterns=("etc/NetworkManager/NetworkManager.conf", "etc/NetworkManager/conf.d/*.conf",
                                           "run/NetworkManager/conf.d/*.conf", "usr/lib/NetworkManager/conf.d/*.conf"),
                                 collect_with="cat /etc/NetworkManager/NetworkManager.conf /etc/NetworkManager/conf.d/*.conf")
    networkd_config = Spec("network_managers", "systemd-networkd configuration",
                           patterns=("etc/systemd/network/*.network", "run/systemd/network/*.network",
                                     "usr/lib/systemd/network/*.network", "lib/systemd/network/*.network"),
                           collect_with="cat /etc/systemd/network/*.network")

    # --- logs
    logs = Spec("log_events", "calico-node, CNI, kubelet and kernel logs", patterns=tuple(p for p, _k, _c in LOG_SOURCES),
                collect_with="kubectl logs -n <ns> <calico-node pod> -c calico-node; cat /var/log/calico/cni/cni.log; "
                             "journalctl -u kubelet")
    ipset_list = Spec("log_events", "ipsets (and the revision error ipset prints itself)", command="ipset list",
                      extras=True, node_diags=("ipsets",), needs_module="ip_set")


def all_specs():
    """Every declared spec, in declaration order."""
    return [value for value in vars(Specs).values() if isinstance(value, Spec)]


def of_section(section):
    return [spec for spec in all_specs() if section in spec.sections]


def section_collect_with(section):
    """What an operator runs to collect a section: the command of every spec that fills it, in
    order (formats only another tool writes, such as sos's `iptables -vnxL`, are not asked for)."""
    seen = []
    for spec in of_section(section):
        if spec.command and not spec.live and not spec.patterns:
            continue
        if spec.collect_with and spec.collect_with not in seen:
            seen.append(spec.collect_with)
    return "; ".join(seen)


def all_parsers():
    """Every registered parser function, each once."""
    load_parsers()
    found = []
    for spec in all_specs():
        found.extend(function for function, _paths in spec.parsers if function not in found)
    return found


def find_spec(key):
    """The spec a person names by its command line (`ip -d route show table all`) or its file
    (`/proc/modules`), or None. Rule tests name raw evidence this way."""
    wanted = " ".join(str(key).split())
    # a command found by pattern (the per-pod `ip` commands) is not one output a person pastes
    return next((spec for spec in all_specs()
                 if (spec.command_line == wanted and not spec.patterns) or spec.file == wanted), None)


# Host services some causes name, as `components` items (name, systemd units in order of preference).
HOST_SERVICES = (("firewalld", ("firewalld.service",)), ("ufw", ("ufw.service",)),
                 ("nm-cloud-setup", ("nm-cloud-setup.timer", "nm-cloud-setup.service")))

# This-boot journals hold nothing the full journal's newest part lacks: skipped when it is there.
# (`--boot -1`, the previous boot, is read: its newest lines may be older than the full journal's tail.)
JOURNAL_FULL = "sos_commands/logs/journalctl_--no-pager"
JOURNAL_THIS_BOOT = ("sos_commands/logs/journalctl_--no-pager_--boot", "sos_commands/logs/journalctl_--no-pager_--catalog_--boot",
                     "sos_commands/logs/journalctl_--all_--this-boot_--no-pager")
# Compressed rotations are not read (a decompression bomb is one gzip away); a note says so.
LOG_SKIPPED_SUFFIXES = (".gz", ".xz", ".bz2", ".zst")
LOG_TOTAL_BYTES = 160 * 1024 * 1024  # all logs together; beyond it the rest are skipped with a note
LOG_TAIL_BYTES = 16 * 1024 * 1024  # the newest 16 MiB of each log: what explains a failure now

# Inside each pod network namespace, the commands live collection runs (sos >= 4.3 runs the same).
POD_SPECS = (Specs.pod_address, Specs.pod_route, Specs.pod_neigh)


def pod_path(namespace, spec):
    """Where sos (and live collection) keeps `spec`'s output for one pod network namespace."""
    command = f"ip netns exec {namespace} {spec.command_line}"
    return f"sos_commands/networking/namespaces/{namespace}/{mangle(command)}"


def sos_extras_file():
    """/etc/sos/extras.d/calico: sos's sos_extras plugin runs each command line and copies each
    `:path`, so the next sosreport holds what Calico diagnosis needs and sos does not collect."""
    lines = [
        "# /etc/sos/extras.d/calico -- written by `calirules sos-extras`.",
        "# sos (sos_extras plugin) runs each command below on `sos report`, writing its output to",
        "# sos_commands/sos_extras/calico/<command>, and copies each :path (with a size limit).",
        "# sos ignores /etc/sos/extras.d unless it is owned by root and not group/world-writable.",
        ":/var/log/calico 50",
        ":/var/lib/calico",
        ":/etc/cni/net.d",
    ]
    lines += [spec.command_line for spec in all_specs() if spec.command and spec.live and spec.live_path.startswith(EXTRAS)]
    return "\n".join(lines) + "\n"
