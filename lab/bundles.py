"""Write support bundles of a lab node from real command output: what sos and calicoctl would write.

`write_sosreport` runs, inside the lab's node namespace, the commands sos 4.12 runs, under the
file names sos gives them, with sos's gating: there is no host `iptables-save` (sos never
collects one), `nft -a list ruleset` is there (nf_tables is present), `iptables -vnxL` and
`iptables -t <table> -nvL` only when the nft ruleset has `table ip filter` / `table ip <table>`.
It copies /proc/sys/net and /proc/net the way sos copies /proc, adds per-pod-namespace outputs and
a sos_reports/manifest.json. `write_calicoctl_diags` writes `calicoctl node diags`'s layout.
Either can be packed as an archive. Nothing is written outside the directory given.
"""

from __future__ import annotations

import json
import random
import re
import string
import tarfile
import time
from pathlib import Path

from calirules.facts_collectors.specs import EXTRAS, all_specs, mangle
from calirules.lab import netns
from calirules.lab.topology import Lab

SOS_VERSION = "4.12.0"
_PROC_DUMP = (
    "import os,json,sys\n"
    "out={}\n"
    "for top in sys.argv[1:]:\n"
    "  for d,_,fs in os.walk(top):\n"
    "    for f in fs:\n"
    "      p=os.path.join(d,f)\n"
    "      try:\n"
    "        with open(p,'rb') as h: out[p]=h.read(1<<20).decode('utf-8','replace')\n"
    "      except OSError: pass\n"
    "print(json.dumps(out))\n"
)


class _Writer:
    def __init__(self, root: Path):
        self.root = root
        self.manifest: dict[str, list] = {}

    def put(self, relpath: str, text: str) -> None:
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def command(self, ns: str, plugin: str, command: str, subdir: str = "", run_as: str | None = None) -> str | None:
        """Run like sos: stdout and stderr in one file; no file for a missing binary (126/127).

        `run_as` is the command actually run when the node's `iptables` would be another binary
        than this machine's alternative (the file keeps the name of `command`).
        """
        proc = netns.exec_in(ns, (run_as or command).split(), check=False, timeout=30)
        relpath = f"sos_commands/{plugin}/{subdir + '/' if subdir else ''}{mangle(command)}"
        entry = {"command": command.split()[0], "parameters": command.split()[1:], "exec": command,
                 "filepath": relpath, "truncated": False, "return_code": proc.returncode}
        self.manifest.setdefault(plugin, []).append(entry)
        if proc.returncode in (126, 127) or (proc.returncode == 255 and "exec of" in proc.stderr):
            return None  # binary not found: sos records the command but writes no file
        output = proc.stdout + proc.stderr
        self.put(relpath, output)
        return output


def write_sosreport(lab: Lab, parent: Path, *, archive: str | None = None, extras: bool = False,
                    host_iptables: str | None = None, files: dict | None = None) -> Path:
    """Write a sosreport directory for the lab node into `parent`; optionally pack it.

    `archive` is None (directory), "xz", "gz", "bz2" or "tar". `extras` adds what sos's sos_extras
    plugin runs when /etc/sos/extras.d/calico (`calirules sos-extras`) is installed (and, with
    `host_iptables`, its `iptables -V`). `host_iptables` ("legacy"/"nft") is the node's `iptables`
    alternative when it differs from the backend Calico's chains are in (default: the lab's
    backend). `files` ({bundle path: text}) adds files a namespace cannot produce (os-release,
    kubectl output, container logs), written as the named tool writes them; they win over the
    lab's own. Returns the directory or archive path.
    """
    host = "lab-node"
    stamp = time.strftime("%Y-%m-%d")
    suffix = "".join(random.choices(string.ascii_lowercase, k=7))
    root = Path(parent) / f"sosreport-{host}-{stamp}-{suffix}"
    root.mkdir(parents=True)
    out = _Writer(root)
    ns = lab.node_ns
    out.put("version.txt", f"sos report: {SOS_VERSION}\n")
    out.command(ns, "host", "hostname")
    out.command(ns, "kernel", "uname -a")
    out.command(ns, "kernel", "sysctl -a")
    for command in ("ip -o addr", "ip -d address", "ip -s -d link", "ip route show table all", "ip -4 rule list",
                    "ip -s -s neigh show", "ip netns"):
        out.command(ns, "networking", command)
    for pod in lab.pods:
        for command in ("ip -d address show", "ip route show table all", "ip -s -s neigh show"):
            out.command(ns, "networking", f"ip netns exec {pod.netns} {command}", subdir=f"namespaces/{pod.netns}")
    ruleset = out.command(ns, "firewall_tables", "nft -a list ruleset")
    tables = set(re.findall(r"^table ip (\w+)", ruleset or "", re.M))
    iptables = "iptables-legacy" if (host_iptables or lab.backend) == "legacy" else "iptables-nft"  # the node's alternative
    for table in sorted(tables):
        out.command(ns, "firewall_tables", f"iptables -t {table} -nvL", run_as=f"{iptables} -t {table} -nvL")
    if "filter" in tables or ruleset is None:
        out.command(ns, "firewall_tables", "iptables -vnxL", run_as=f"{iptables} -vnxL")
    if extras:
        for spec in all_specs():
            if spec.live and spec.command and spec.live_path.startswith(EXTRAS) and spec.in_netns:
                out.command(ns, "sos_extras", spec.command_line, subdir="calico")
        if host_iptables:
            out.command(ns, "sos_extras", "iptables -V", subdir="calico", run_as=f"{iptables} -V")
    for path, text in _proc_files(ns, "/proc/sys/net", "/proc/net").items():
        out.put(path.lstrip("/"), text)
    os_release = Path("/etc/os-release")
    if os_release.exists():
        out.put("etc/os-release", os_release.read_text())
    for relpath, text in (files or {}).items():
        out.put(relpath, text)
    out.put("sos_reports/manifest.json", json.dumps({
        "version": SOS_VERSION, "cmdline": "sos report --batch", "components": {"report": {"plugins": {
            plugin: {"commands": commands, "files": []} for plugin, commands in out.manifest.items()}}}}, indent=2))
    return _pack(root, archive)


def write_calicoctl_diags(lab: Lab, parent: Path, *, archive: bool = True) -> Path:
    """`calicoctl node diags` layout: diagnostics/{hostname,ipv4_route,ipv4_addr,ipv4_tables,...}.

    calicoctl writes no file for a command that exits non-zero, and `iptables-save -c` is the
    backend calico-node's image uses: the lab's backend here.
    """
    root = Path(parent) / "diagnostics"
    root.mkdir(parents=True)
    ns = lab.node_ns
    save = "iptables-legacy-save" if lab.backend == "legacy" else "iptables-nft-save"
    for name, command in (("date", "date"), ("hostname", "hostname"), ("ipv4_route", "ip -4 route"),
                          ("ipv6_route", "ip -6 route"), ("ipv4_addr", "ip -4 addr"), ("ipv6_addr", "ip -6 addr"),
                          ("nft_ruleset", "nft -n -a list ruleset"), ("ipv4_tables", f"{save} -c"),
                          ("ipsets", "ipset list"), ("ss", "ss -a -n")):
        proc = netns.exec_in(ns, command.split(), check=False, timeout=30)
        if proc.returncode == 0:
            (root / name).write_text(proc.stdout + proc.stderr)
    (root / "logs").mkdir()
    if not archive:
        return root
    target = Path(parent) / f"diags-{time.strftime('%Y%m%d_%H%M%S')}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(root, arcname="diagnostics")
    return target


def _proc_files(ns: str, *tops: str) -> dict[str, str]:
    proc = netns.exec_in(ns, ["python3", "-c", _PROC_DUMP, *tops], timeout=60)
    return json.loads(proc.stdout)


def _pack(root: Path, archive: str | None) -> Path:
    if archive is None:
        return root
    mode = {"xz": "w:xz", "gz": "w:gz", "bz2": "w:bz2", "tar": "w"}[archive]
    target = root.parent / (root.name + (".tar" if archive == "tar" else f".tar.{archive}"))
    with tarfile.open(target, mode) as tar:
        tar.add(root, arcname=root.name)
    return target


CLUSTER_NODE_COMMANDS = {
    "iptables-legacy-save.txt": "iptables-legacy-save -c", "iptables-nft-save.txt": "iptables-nft-save -c",
    "nft-ruleset.txt": "nft -n -a list ruleset", "ip-route.txt": "ip route show table all",
    "ip-route-v6.txt": "ip -6 route show table all", "ip-rule.txt": "ip rule", "ip-addr.txt": "ip addr",
    "ip-link.txt": "ip link", "ip-neigh.txt": "ip neigh",
}


def write_calicoctl_cluster_diags(labs: dict, parent: Path, logs: dict | None = None,
                                  cluster_files: dict | None = None) -> Path:
    """`calicoctl cluster diags` layout for several lab nodes ({node name: Lab}), as a .tar.gz.

    Like calicoctl, a file is written even when its command failed: it then holds the error text.
    `logs` ({node name: text}) becomes that node's `kube-system/calico-node-<hash>.log`;
    `cluster_files` ({path under the bundle: text}) adds cluster-level files such as CRD listings.
    """
    top = f"calico-diagnostics-{time.strftime('%Y%m%d_%H%M%S')}"
    root = Path(parent) / top
    (root / "cluster").mkdir(parents=True)
    # No cluster here: the Kubernetes version is the lab's stand-in, written as `kubectl version -o yaml` does.
    (root / "cluster" / "version.yaml").write_text(
        "clientVersion:\n  gitVersion: v1.30.4\n  major: \"1\"\n  minor: \"30\"\n"
        "serverVersion:\n  gitVersion: v1.30.4\n  major: \"1\"\n  minor: \"30\"\n")
    for relpath, text in (cluster_files or {}).items():
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    for node, lab in labs.items():
        node_dir = root / "nodes" / node
        node_dir.mkdir(parents=True)
        for name, command in CLUSTER_NODE_COMMANDS.items():
            proc = netns.exec_in(lab.node_ns, command.split(), check=False, timeout=30)
            (node_dir / name).write_text(proc.stdout + proc.stderr if proc.returncode == 0
                                         else f"error: command terminated with exit code {proc.returncode}\n{proc.stderr}")
        if logs and node in logs:
            (node_dir / "kube-system").mkdir()
            (node_dir / "kube-system" / "calico-node-7c4xq.log").write_text(logs[node])
    target = Path(parent) / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(root, arcname=top)
    return target
