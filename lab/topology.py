"""The lab topology: one Calico "node" namespace, an "upstream" namespace, N pod namespaces.

    upstream ns  up0 198.19.0.2/30 ---- eth0 198.19.0.1/30  node ns  (ip_forward=1, default via .2)
                                           cali<11 hex> (ee:ee:ee:ee:ee:ee, proxy_arp=1, ...)
                                               |  veth          route <podIP>/32 dev cali... scope link
                                           eth0 <podIP>/32  pod ns <prefix>-cni-<uuid>
                                               routes: 169.254.1.1 dev eth0 scope link
                                                       default via 169.254.1.1 dev eth0

Everything is created inside namespaces this class creates; the root namespace's links, sysctls and
firewall are never touched. down() deletes every namespace whose name matches this lab's prefix
patterns, so it also cleans up after a partial up() or a crashed process.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Sequence, Union

from . import calico_rules, iptables, naming, netns
from .errors import LabError

DEFAULT_POD_MTU = 1440      # Calico's classic IPIP-era pod MTU
DEFAULT_UPLINK_MTU = 1500
REQUIRED_COMMANDS = ("ip", "sysctl", "ping")


@dataclass
class Pod:
    index: int
    name: str             # Kubernetes pod name (namespace "default")
    netns: str            # CNI-style network namespace name
    ip: str
    iface: str            # host-side cali* interface in the node namespace
    programmed: bool = True   # has Felix-style iptables chains / dispatch entries


PodRef = Union[int, str, Pod]


class Lab:
    """A reproducible Calico same-node data plane in network namespaces.

    >>> with Lab("crl", pods=2, backend="nft") as lab:
    ...     assert lab.ping(0, 1)
    """

    def __init__(
        self,
        name_prefix: str = "crl",
        pods: int = 2,
        backend: str = "legacy",
        *,
        pod_mtu: int = DEFAULT_POD_MTU,
        uplink_mtu: int = DEFAULT_UPLINK_MTU,
    ):
        self.prefix = naming.validate_prefix(name_prefix)
        iptables.backend(backend)
        if not isinstance(pods, int) or not 1 <= pods <= naming.MAX_PODS:
            raise LabError(f"pods must be between 1 and {naming.MAX_PODS}, got {pods!r}")
        self.backend = backend
        self.pod_mtu = int(pod_mtu)
        self.uplink_mtu = int(uplink_mtu)
        self._pods: list[Pod] = [self._plan_pod(i) for i in range(pods)]
        self._created: list[str] = []
        self.injected: list[dict] = []      # records appended by faults.inject()
        self.is_up = False

    # ---- names / accessors --------------------------------------------------------------------

    @property
    def node_ns(self) -> str:
        return naming.node_netns(self.prefix)

    @property
    def upstream_ns(self) -> str:
        return naming.upstream_netns(self.prefix)

    @property
    def pods(self) -> list[Pod]:
        return list(self._pods)

    @property
    def pod_namespaces(self) -> list[str]:
        return [p.netns for p in self._pods]

    @property
    def pod_ips(self) -> dict[str, str]:
        return {p.name: p.ip for p in self._pods}

    @property
    def host_ifaces(self) -> dict[str, str]:
        return {p.name: p.iface for p in self._pods}

    @property
    def namespaces(self) -> list[str]:
        """Every namespace this lab consists of."""
        return [self.node_ns, self.upstream_ns, *self.pod_namespaces]

    def pod(self, ref: PodRef) -> Pod:
        """Look a pod up by index, name (`pod-1`), netns name, IP, host iface, or Pod."""
        if isinstance(ref, Pod):
            ref = ref.name
        if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
            for p in self._pods:
                if p.index == int(ref):
                    return p
        else:
            for p in self._pods:
                if ref in (p.name, p.netns, p.ip, p.iface):
                    return p
        raise LabError(f"no pod {ref!r} in lab {self.prefix!r} (pods: "
                       f"{', '.join(p.name for p in self._pods)})")

    def endpoints(self) -> list[calico_rules.Endpoint]:
        return [calico_rules.Endpoint(p.iface) for p in self._pods if p.programmed]

    def _plan_pod(self, index: int, programmed: bool = True) -> Pod:
        name = naming.pod_name(index)
        return Pod(index=index, name=name, netns=naming.pod_netns(self.prefix, name),
                   ip=naming.pod_ip(index), iface=naming.cali_iface(name), programmed=programmed)

    # ---- lifecycle ----------------------------------------------------------------------------

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def existing_namespaces(self) -> list[str]:
        """Namespaces on this host that belong to a lab with this prefix."""
        pattern = naming.lab_netns_re(self.prefix)
        return [n for n in netns.list_netns() if pattern.match(n)]

    def up(self) -> "Lab":
        """Build the whole lab. On any failure (or Ctrl-C) everything created so far is deleted."""
        missing = netns.missing_commands(REQUIRED_COMMANDS + iptables.backend(self.backend).commands)
        if missing:
            raise LabError(f"missing commands: {', '.join(missing)}")
        leftovers = self.existing_namespaces()
        if leftovers:
            raise LabError(f"lab {self.prefix!r} already exists ({', '.join(sorted(leftovers))}); "
                           "run down() / `lab down --prefix` first or pick another prefix")
        try:
            self._build()
        except BaseException:
            self.down()
            raise
        self.is_up = True
        return self

    def _create_namespaces(self, names: Sequence[str]) -> None:
        # Recorded before creation so that a failure half-way still gets cleaned up; down() only
        # deletes names matching this lab's patterns, and up() checked none existed beforehand.
        self._created.extend(names)
        netns.add_netns(names)
        for name in names:
            netns.ip_batch(name, ["link set lo up"])

    def _build(self) -> None:
        node, upstream = self.node_ns, self.upstream_ns
        self._create_namespaces([node, upstream])
        netns.ip_batch(node, [
            f"link add name {naming.NODE_UPLINK_IFACE} mtu {self.uplink_mtu} type veth "
            f"peer name {naming.UPSTREAM_IFACE} mtu {self.uplink_mtu} netns {upstream}",
            f"addr add {naming.NODE_UPLINK_IP}/{naming.UPLINK_NET.prefixlen} dev {naming.NODE_UPLINK_IFACE}",
            f"link set {naming.NODE_UPLINK_IFACE} up",
        ])
        netns.ip_batch(upstream, [
            f"addr add {naming.UPSTREAM_IP}/{naming.UPLINK_NET.prefixlen} dev {naming.UPSTREAM_IFACE}",
            f"link set {naming.UPSTREAM_IFACE} up",
            # the "fabric" knows the pod block lives behind this node
            f"route add {naming.POD_BLOCK} via {naming.NODE_UPLINK_IP}",
        ])
        netns.ip_batch(node, [f"route add default via {naming.UPSTREAM_IP} dev {naming.NODE_UPLINK_IFACE}"])
        # Felix: "Making sure IPv4 forwarding is enabled." (also sets all/default forwarding=1)
        netns.sysctl_set(node, {"net.ipv4.ip_forward": 1})
        self._plumb_pods(self._pods)
        self.program_iptables()

    def _plumb_pods(self, pods: Sequence[Pod]) -> None:
        """What the Calico CNI plugin does for each pod: veth pair, pod addressing and routes, host
        side sysctls and the /32 host route."""
        node = self.node_ns
        self._create_namespaces([p.netns for p in pods])
        netns.ip_batch(node, [
            cmd
            for p in pods
            for cmd in (
                f"link add name {p.iface} address {naming.CALI_MAC} mtu {self.pod_mtu} type veth "
                f"peer name {naming.POD_IFACE} mtu {self.pod_mtu} netns {p.netns}",
                f"link set {p.iface} up",
            )
        ])
        for p in pods:
            netns.ip_batch(p.netns, [
                f"addr add {p.ip}/32 dev {naming.POD_IFACE}",
                f"link set {naming.POD_IFACE} up",
                f"route add {naming.GATEWAY_IP} dev {naming.POD_IFACE} scope link",
                f"route add default via {naming.GATEWAY_IP} dev {naming.POD_IFACE}",
            ])
        values: dict[str, object] = {}
        for p in pods:
            values.update({
                f"net.ipv4.conf.{p.iface}.route_localnet": 1,
                f"net.ipv4.neigh.{p.iface}.proxy_delay": 0,
                f"net.ipv4.conf.{p.iface}.proxy_arp": 1,
                f"net.ipv4.conf.{p.iface}.forwarding": 1,
            })
        netns.sysctl_set(node, values)
        netns.ip_batch(node, [f"route add {p.ip}/32 dev {p.iface} scope link" for p in pods])

    def add_pod(self, *, programmed: bool = True) -> Pod:
        """Plumb one more pod after up(). With programmed=False the CNI part is done (veth, route,
        sysctls) but no Calico chains/dispatch entries are added -- Felix has not caught up."""
        index = max((p.index for p in self._pods), default=-1) + 1
        pod = self._plan_pod(index, programmed=programmed)
        self._pods.append(pod)
        self._plumb_pods([pod])
        if programmed:
            self.program_endpoint(pod)
        return pod

    def down(self) -> list[str]:
        """Delete every namespace of this lab (safe to call repeatedly and after a partial up()).
        Returns the names deleted."""
        deleted = netns.delete_netns(list(self._created) + self.existing_namespaces())
        self._created.clear()
        self.is_up = False
        from . import state  # local import: state is only a convenience for the CLI
        state.remove(self.prefix)
        return deleted

    # ---- iptables -----------------------------------------------------------------------------

    def render_rules(self, **kwargs) -> str:
        return calico_rules.render_filter_table(self.endpoints(), **kwargs)

    def program_iptables(self, **kwargs) -> None:
        """Load the complete Calico-shaped filter table into the node namespace (lab's backend)."""
        self.iptables_restore(self.render_rules(**kwargs), noflush=False)

    def program_endpoint(self, pod: PodRef) -> None:
        """Add one endpoint's chains and rewrite the dispatch chains (iptables-restore --noflush)."""
        p = self.pod(pod)
        p.programmed = True
        ep = calico_rules.Endpoint(p.iface)
        chains = calico_rules.endpoint_chains(ep)
        chains += calico_rules.dispatch_chains([e.iface for e in self.endpoints()])
        self.iptables_restore(calico_rules.render_update(chains), noflush=True)

    def iptables(self, *args: str, backend: str | None = None) -> str:
        return iptables.iptables(self.node_ns, backend or self.backend, *args)

    def iptables_restore(self, text: str, *, noflush: bool = True, backend: str | None = None) -> None:
        iptables.restore(self.node_ns, backend or self.backend, text, noflush=noflush)

    def iptables_save(self, *, backend: str | None = None, counters: bool = False) -> str:
        return iptables.save(self.node_ns, backend or self.backend, counters=counters)

    def packet_count(self, needle: str, *, backend: str | None = None) -> int:
        """Packets counted by filter rules whose iptables-save text contains `needle`."""
        return iptables.packet_count(self.node_ns, backend or self.backend, needle)

    # ---- other node / pod helpers -------------------------------------------------------------

    def node_ip(self, *args: str) -> str:
        return netns.ip(self.node_ns, *args)

    def sysctl_set(self, values: dict, *, ns: str | None = None) -> None:
        netns.sysctl_set(ns or self.node_ns, values)

    def sysctl_get(self, key: str, *, ns: str | None = None) -> str:
        return netns.sysctl_get(ns or self.node_ns, key)

    def flush_neighbours(self) -> None:
        """Forget ARP entries in the node and every pod (so ARP-dependent faults bite immediately)."""
        for ns in [self.node_ns, *self.pod_namespaces]:
            netns.ip_batch(ns, ["neigh flush all"])

    def flush_conntrack(self) -> None:
        """Drop the node's conntrack entries (so earlier flows do not ride on ESTABLISHED)."""
        if not netns.missing_commands(["conntrack"]):
            netns.exec_in(self.node_ns, ["conntrack", "-F"], check=False)

    # ---- traffic ------------------------------------------------------------------------------

    def ping_command(self, src: PodRef, dst: PodRef | str, *, count: int = 1, size: int | None = None,
                     dont_fragment: bool = False, timeout: float = 1) -> list[str]:
        src_pod = self.pod(src)
        dst_ip = _ip_or_none(dst) or self.pod(dst).ip
        argv = ["ip", "netns", "exec", src_pod.netns, "ping", "-n", "-c", str(int(count)),
                "-W", f"{timeout:g}"]
        if count > 1:
            argv += ["-i", "0.2"]
        if size is not None:
            argv += ["-s", str(int(size))]
        # -M do: set DF, never fragment; -M dont: no DF (routers may fragment). Without either the
        # kernel's default ("want") sets DF and fragments only locally, which hides path MTU problems
        # behind ping's first lost packet.
        argv += ["-M", "do" if dont_fragment else "dont", dst_ip]
        return argv

    def ping_verbose(self, src: PodRef, dst: PodRef | str, count: int = 1, size: int | None = None,
                     dont_fragment: bool = False, timeout: float = 1) -> tuple[bool, str]:
        argv = self.ping_command(src, dst, count=count, size=size, dont_fragment=dont_fragment,
                                 timeout=timeout)
        proc = netns.run(argv, check=False, timeout=count * (timeout + 0.5) + 5)
        return proc.returncode == 0, (proc.stdout + proc.stderr).strip()

    def ping(self, src_pod: PodRef, dst_pod: PodRef | str, count: int = 1, size: int | None = None,
             dont_fragment: bool = False, timeout: float = 1) -> bool:
        """Ping dst_pod (a pod reference or an IP) from inside src_pod's namespace; True if every
        echo was answered."""
        ok, _ = self.ping_verbose(src_pod, dst_pod, count=count, size=size,
                                  dont_fragment=dont_fragment, timeout=timeout)
        return ok

    # ---- state (for the CLI) ------------------------------------------------------------------

    def to_state(self) -> dict:
        return {
            "schema": "calirules/lab-state/v1",
            "prefix": self.prefix,
            "backend": self.backend,
            "pod_mtu": self.pod_mtu,
            "uplink_mtu": self.uplink_mtu,
            "node_ns": self.node_ns,
            "upstream_ns": self.upstream_ns,
            "pods": [asdict(p) for p in self._pods],
            "injected": list(self.injected),
        }

    @classmethod
    def from_state(cls, data: dict) -> "Lab":
        lab = cls(data["prefix"], pods=max(1, len(data["pods"])), backend=data["backend"],
                  pod_mtu=data.get("pod_mtu", DEFAULT_POD_MTU),
                  uplink_mtu=data.get("uplink_mtu", DEFAULT_UPLINK_MTU))
        lab._pods = [Pod(**p) for p in data["pods"]]
        lab.injected = list(data.get("injected", []))
        lab.is_up = True
        return lab

    @classmethod
    def discover(cls, prefix: str) -> "Lab":
        """Rebuild a Lab object from the namespaces on this host (no state file needed)."""
        naming.validate_prefix(prefix)
        names = set(netns.list_netns())
        if naming.node_netns(prefix) not in names:
            raise LabError(f"no lab with prefix {prefix!r} (namespace {naming.node_netns(prefix)} "
                           "not found)")
        by_netns = {naming.pod_netns(prefix, naming.pod_name(i)): i for i in range(naming.MAX_PODS)}
        pattern = naming.pod_netns_re(prefix)
        indices = sorted(by_netns[n] for n in names if pattern.match(n) and n in by_netns)
        backend = _detect_backend(naming.node_netns(prefix))
        lab = cls(prefix, pods=max(1, len(indices)), backend=backend)
        lab._pods = [lab._plan_pod(i) for i in indices]
        for p in lab._pods:
            addrs = netns.ip_json(p.netns, "-4", "addr", "show", "dev", naming.POD_IFACE)
            for entry in addrs:
                for a in entry.get("addr_info", []):
                    p.ip = a.get("local", p.ip)
        programmed = iptables.save(lab.node_ns, backend)
        for p in lab._pods:
            p.programmed = f"-o {p.iface} " in programmed
        lab.is_up = True
        return lab

    def status(self) -> dict:
        """Live view: which namespaces exist, pod reachability is not probed (use ping)."""
        present = set(self.existing_namespaces())
        data = self.to_state()
        data["namespaces_present"] = sorted(present)
        data["complete"] = all(ns in present for ns in self.namespaces)
        return data


def _ip_or_none(value: object) -> str | None:
    if isinstance(value, str) and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", value):
        return value
    return None


def _detect_backend(node_ns: str) -> str:
    """The backend holding cali-FORWARD (legacy if neither / both)."""
    found = [b for b in ("legacy", "nft")
             if ":cali-FORWARD" in iptables.save(node_ns, b)]
    return found[0] if len(found) == 1 else "legacy"
