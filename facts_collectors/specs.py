"""What to read, and where each bundle kind keeps it: one table for live collection and bundles.

Like sos plugins and insights-core specs, each entry names the evidence once: the command a live
collection runs, the path it writes the output to (the name sos gives that command's output, so a
live raw directory *is* a sosreport-shaped bundle), and the older or other-tool names a bundle
reader should also accept, in order of preference. Commands sos does not run (Calico needs them)
are written where sos would put them if /etc/sos/extras.d/calico asked for them:
`sos_commands/sos_extras/calico/<mangled command>` (see `calirules sos-extras`).
"""

import re
from dataclasses import dataclass

EXTRAS = "sos_commands/sos_extras/calico"


def mangle(command):
    """sos's file name for a command's output (sos/report/plugins/__init__.py `_mangle_command`)."""
    name = re.sub(r"^/(usr/|)(bin|sbin)/", "", command)
    name = re.sub(r"[^\w\-\./]+", "_", name)
    name = re.sub(r"/", ".", name).strip(" ._-")
    return name[:255]


@dataclass(frozen=True)
class Spec:
    name: str
    paths: tuple  # bundle-relative candidates, best first
    command: tuple = None  # live: argv to run (None: `paths[0]` is a file copied from the host)
    in_netns: bool = True  # live --netns: run inside the named namespace
    needs_module: str = None  # live: skip unless this kernel module is present (never autoload one)
    timeout: float = 10.0

    @property
    def live_path(self):
        return self.paths[0]


def _cmd(command, *older, plugin, **options):
    return Spec(mangle(command), (f"sos_commands/{plugin}/{mangle(command)}", *older), tuple(command.split()), **options)


def _extra(command, *older, **options):
    return Spec(mangle(command), (f"{EXTRAS}/{mangle(command)}", *older), tuple(command.split()), **options)


def _file(path, *older, in_netns=False):
    return Spec(path, (path.lstrip("/"), *older), None, in_netns)


SPECS = {s.name: s for s in (
    _cmd("hostname", "diagnostics/hostname", "hostname", plugin="host", in_netns=False),
    _cmd("uname -a", "uname", plugin="kernel", in_netns=False),
    _file("/etc/os-release", "usr/lib/os-release"),
    _cmd("sysctl -a", plugin="kernel"),
    _cmd("ip -d address", "sos_commands/networking/ip_address", "ipv4_addr", plugin="networking"),
    _cmd("ip -s -d link", "sos_commands/networking/ip_-s_link", "sos_commands/networking/ip_link",
         plugin="networking"),
    _extra("ip -d route show table all", "sos_commands/networking/ip_route_show_table_all", "ipv4_route"),
    _cmd("ip -4 rule list", "sos_commands/networking/ip_-4_rule", plugin="networking"),
    _cmd("ip -s -s neigh show", "sos_commands/networking/ip_neigh_show", plugin="networking"),
    _cmd("ip netns", plugin="networking", in_netns=False),
    _extra("iptables-legacy-save -c", needs_module="ip_tables"),
    _extra("iptables-nft-save -c", needs_module="nf_tables"),
    _cmd("nft -a list ruleset", "sos_commands/firewall_tables/nft_list_ruleset", "nft_ruleset",
         plugin="firewall_tables", needs_module="nf_tables"),
    _extra("iptables -V", in_netns=False),
    _file("/proc/modules", "sos_commands/kernel/lsmod"),
    # Which legacy iptables tables exist (the file is there only while ip_tables is loaded), and a
    # marker that proc/net was read at all: together they tell "legacy empty" from "not collected".
    _file("/proc/net/ip_tables_names", in_netns=True),
    _file("/proc/net/dev", in_netns=True),
    _file("/proc/net/stat/nf_conntrack", in_netns=True),
    _file("/proc/sys/net/netfilter/nf_conntrack_count", in_netns=True),
    _file("/proc/sys/net/netfilter/nf_conntrack_max", in_netns=True),
    _cmd("conntrack -S", plugin="conntrack", needs_module="nf_conntrack_netlink"),
    _extra("/opt/cni/bin/calico -v", in_netns=False, timeout=5.0),
    _extra("kubelet --version", in_netns=False, timeout=5.0),
    _cmd("crictl ps -a", plugin="crio", in_netns=False, timeout=5.0),
    _cmd("crictl images", plugin="crio", in_netns=False, timeout=5.0),
    _file("/etc/cni/net.d/10-calico.conflist"),
    _cmd("ipset list", "ipsets", plugin="sos_extras/calico", needs_module="ip_set"),
    _extra("calicoctl get ippools -o yaml", in_netns=False, timeout=10.0),
    # Host network managers: which units run (sos systemd plugin), NetworkManager's own status
    # (sos networkmanager plugin runs nmcli only while NetworkManager runs).
    _cmd("systemctl list-units", plugin="systemd", in_netns=False),
    _cmd("nmcli general status", plugin="networkmanager", in_netns=False, timeout=5.0),
)}

# Host services some causes name, as `components` items (name, systemd units in order of preference).
HOST_SERVICES = (("firewalld", ("firewalld.service",)), ("ufw", ("ufw.service",)),
                 ("nm-cloud-setup", ("nm-cloud-setup.timer", "nm-cloud-setup.service")))

# Host network manager configuration, copied at its host path (sos: networkmanager plugin for
# NetworkManager.conf and the conf.d directories, systemd plugin for /etc/systemd, networking
# plugin for /run/systemd/network; live collection reads the same files).
NETWORKMANAGER_CONFIG = ("etc/NetworkManager/NetworkManager.conf", "etc/NetworkManager/conf.d/*.conf",
                         "run/NetworkManager/conf.d/*.conf", "usr/lib/NetworkManager/conf.d/*.conf")
NETWORKD_CONFIG = ("etc/systemd/network/*.network", "run/systemd/network/*.network",
                   "usr/lib/systemd/network/*.network", "lib/systemd/network/*.network")

# Kubernetes API views sos takes where /etc/kubernetes/admin.conf exists (names vary by sos
# version and kubeconfig flag: found by pattern, newest layout first).
KUBECTL_GLOBS = {
    "version": ("sos_commands/kubernetes/**/kubectl*_version", "sos_commands/kubernetes/**/kubectl*_version_*"),
    # calicoctl cluster diags: `kubectl get pods --all-namespaces -o wide` (its NODE column picks this node's pods)
    "pods": ("sos_commands/kubernetes/**/kubectl*get*pods", "cluster/kubernetes/pods.txt"),
    "nodes": ("sos_commands/kubernetes/**/kubectl*get_nodes",),
}

# Cluster-wide listings that show how Calico is installed (`kube_objects`): (path or pattern, what
# it lists, the namespace a listing without a NAMESPACE column covers). sos's kubernetes plugin
# (where admin.conf exists) lists every namespace's pods and ConfigMaps and the namespaces;
# calicoctl cluster diags (v3.31+, calicoctl/commands/cluster/diags.go) writes the same views as
# `-o wide` text, plus `kubectl get all` of the operator's two namespaces.
KUBE_LISTINGS = (
    ("sos_commands/kubernetes/**/kubectl*_get_--all-namespaces_true_pods", "Pod", None),
    ("sos_commands/kubernetes/**/kubectl*_get_namespaces", "Namespace", None),
    ("sos_commands/kubernetes/**/kubectl*_get_--all-namespaces_true_configmaps", "ConfigMap", None),
    ("cluster/kubernetes/pods.txt", "Pod", None),
    ("cluster/kubernetes/namespaces.txt", "Namespace", None),
    ("cluster/kubernetes/configmaps.txt", "ConfigMap", None),
    ("cluster/tigera-operator/tigera-operator.txt", "Pod", "tigera-operator"),
    ("cluster/calico-system/calico-system.txt", "Pod", "calico-system"),
)
# Objects as YAML (calicoctl cluster diags: `kubectl get <crd> -Ao yaml` for every Calico/Tigera CRD,
# named <plural>.<group>.yaml; `kubectl get daemonsets --all-namespaces -o yaml`):
# (path, kube_objects kind it lists or None, calico_resources parser for `settings`).
KUBE_YAML = (
    ("cluster/crd/installations.operator.tigera.io.yaml", "Installation", "parse_installations"),
    ("cluster/crd/felixconfigurations.crd.projectcalico.org.yaml", None, "parse_felixconfigurations"),
    ("cluster/crd/felixconfigurations.projectcalico.org.yaml", None, "parse_felixconfigurations"),
    ("cluster/kubernetes/daemonsets.yaml", None, "parse_calico_node_env"),
)

# Inside each pod network namespace (sos >= 4.3 layout; `{ns}` is the namespace name).
POD_COMMANDS = ("ip -d address show", "ip route show table all", "ip -s -s neigh show")


def pod_path(namespace, command):
    return f"sos_commands/networking/namespaces/{namespace}/{mangle(f'ip netns exec {namespace} {command}')}"


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
# A line seen in two journal/syslog files is counted once (see bundle._log_events).
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
# This-boot journals hold nothing the full journal's newest part lacks: skipped when it is there.
# (`--boot -1`, the previous boot, is read: its newest lines may be older than the full journal's tail.)
JOURNAL_FULL = "sos_commands/logs/journalctl_--no-pager"
JOURNAL_THIS_BOOT = ("sos_commands/logs/journalctl_--no-pager_--boot", "sos_commands/logs/journalctl_--no-pager_--catalog_--boot",
                     "sos_commands/logs/journalctl_--all_--this-boot_--no-pager")
# Compressed rotations are not read (a decompression bomb is one gzip away); a note says so.
LOG_SKIPPED_SUFFIXES = (".gz", ".xz", ".bz2", ".zst")
LOG_TOTAL_BYTES = 160 * 1024 * 1024  # all logs together; beyond it the rest are skipped with a note
LOG_TAIL_BYTES = 16 * 1024 * 1024  # the newest 16 MiB of each log: what explains a failure now

# What sos itself has for iptables (no host iptables-save; firewall_tables plugin).
SOS_IPTABLES_LIST = "sos_commands/firewall_tables/iptables_-vnxL"

# calicoctl node diags keeps `iptables-save -c` of whatever `iptables` is on the node.
CALICOCTL_IPTABLES = "ipv4_tables"


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
    lines += [" ".join(spec.command) for spec in SPECS.values() if spec.live_path.startswith(EXTRAS)]
    return "\n".join(lines) + "\n"


def find_spec(key):
    """The spec a person names by its command line (`ip -d route show table all`) or its file
    (`/proc/modules`), or None. Rule tests name raw evidence this way."""
    wanted = " ".join(str(key).split())
    for spec in SPECS.values():
        if spec.command and " ".join(spec.command) == wanted:
            return spec
        if spec.command is None and spec.name == wanted:
            return spec
    return None
