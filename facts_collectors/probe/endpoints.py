"""Find this node's pods and turn a SRC/DST reference into an Endpoint.

A pod is a named network namespace whose interface is the veth peer of one of the node's cali*
interfaces. The node's `ip -d link` gives each cali* the peer's index and namespace id; `ip netns
list-id` (in the node namespace) names that id; the pod side must point back at the cali* index.
Checking both directions and the namespace id keeps another node's pods (a second lab, a test harness
on the same host) out, where equal interface indexes would otherwise pair up by chance.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess

from calirules.base.errors import InputError

from .model import Endpoint
from .nsthread import netns_path

IP_TIMEOUT = 10.0


def _ip(netns: str | None, *args: str):
    """Run `ip [-n NS] ARGS`; the finished process, or None when it timed out."""
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        return subprocess.run(argv, capture_output=True, timeout=IP_TIMEOUT, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, LC_ALL="C"))
    except FileNotFoundError:
        raise InputError("the `ip` command is missing: install iproute2") from None
    except subprocess.TimeoutExpired:
        return None


def _ip_json(netns: str | None, *args: str):
    """`ip [-n NS] -j ARGS` parsed; None when it fails (the namespace went away, no such device)."""
    proc = _ip(netns, "-j", *args)
    if proc is None or proc.returncode != 0:
        return None
    try:
        return json.loads(proc.stdout.decode(errors="replace") or "[]")
    except ValueError:
        return None


def _ip_text(netns: str | None, *args: str) -> tuple[int, str]:
    proc = _ip(netns, *args)
    if proc is None:
        return 124, "timed out"
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace").strip()


def _node_links(node_netns: str | None) -> list[dict]:
    links = _ip_json(node_netns, "-d", "link", "show")
    if links is None:
        raise InputError(f"cannot list the interfaces of {_node_label(node_netns)}: "
                         "check the namespace with `ip netns list`")
    return [link for link in links if isinstance(link, dict)]


def _node_label(node_netns: str | None) -> str:
    return f"network namespace {node_netns!r}" if node_netns else "the node's network namespace"


def _nsid_names(node_netns: str | None) -> dict[int, str]:
    """Namespace id (as the node namespace numbers its peers) -> name under /var/run/netns."""
    entries = _ip_json(node_netns, "netns", "list-id") or []
    return {e["nsid"]: e["name"] for e in entries
            if isinstance(e, dict) and isinstance(e.get("nsid"), int) and e.get("name")}


def _pod_side(netns: str, cali: dict) -> Endpoint | None:
    """The Endpoint for `netns` if its interface at cali's peer index points back at cali."""
    addrs = _ip_json(netns, "-d", "addr", "show")
    if not addrs:
        return None
    iface = next((a for a in addrs if isinstance(a, dict) and a.get("ifindex") == cali.get("link_index")), None)
    if iface is None or iface.get("link_index") != cali.get("ifindex") or iface.get("link_netnsid") is None:
        return None
    ip = next((i.get("local") for i in iface.get("addr_info") or ()
               if isinstance(i, dict) and i.get("family") == "inet" and i.get("local")), None)
    if ip is None:
        return None
    routes = _ip_json(netns, "route", "show", "default") or []
    gateway = next((r.get("gateway") for r in routes if isinstance(r, dict) and r.get("gateway")), None)
    return Endpoint(ip=ip, netns=netns, host_iface=cali["ifname"], pod_iface=iface.get("ifname") or "eth0",
                    mtu=iface.get("mtu"), gateway=gateway)


class _Node:
    """The node side, read once: its cali* veths and the names of the namespaces they lead to."""

    def __init__(self, node_netns: str | None):
        if node_netns is not None:
            netns_path(node_netns)
        self.netns = node_netns
        self.calis = {link["ifname"]: link for link in _node_links(node_netns)
                      if str(link.get("ifname", "")).startswith("cali") and link.get("link_netnsid") is not None}
        self.names = _nsid_names(node_netns) if self.calis else {}

    def peer_netns(self, cali: dict) -> str | None:
        name = self.names.get(cali["link_netnsid"])
        # a namespace without a name under /var/run/netns cannot be entered by name
        return None if name is None or name == self.netns else name

    def pod(self, cali_name: str) -> Endpoint | None:
        cali = self.calis.get(cali_name)
        netns = self.peer_netns(cali) if cali else None
        return _pod_side(netns, cali) if netns else None

    def pods(self) -> list[Endpoint]:
        return [pod for pod in map(self.pod, self.calis) if pod is not None]

    def quick(self, ref: str) -> Endpoint | None:
        """ref's pod without reading every pod namespace (None: not found this way)."""
        if ref in self.calis:
            return self.pod(ref)
        for name, cali in self.calis.items():
            if self.peer_netns(cali) == ref:
                return self.pod(name)
        try:
            ipaddress.IPv4Address(ref)
        except ValueError:
            return None
        dev = _route_dev(self.netns, ref)
        pod = self.pod(dev) if dev in self.calis else None
        return pod if pod is not None and pod.ip == ref else None


def discover(node_netns: str | None) -> list[Endpoint]:
    """The pods of this node, in the node's interface order."""
    return _Node(node_netns).pods()


def _known(pods: list[Endpoint]) -> str:
    if not pods:
        return "no pods found on this node (no named namespace is the veth peer of a cali* interface)"
    shown = ", ".join(f"{p.ip}/{p.host_iface}/{p.netns}" for p in pods[:5])
    more = f" and {len(pods) - 5} more" if len(pods) > 5 else ""
    return f"known pods (ip/iface/netns): {shown}{more}"


def _route_dev(node_netns: str | None, ip: str) -> str | None:
    routes = _ip_json(node_netns, "route", "get", ip)
    if not routes or not isinstance(routes[0], dict):
        return None
    return routes[0].get("dev")


def resolve(ref: str, pods: list[Endpoint], node_netns: str | None, role: str | None = None) -> Endpoint:
    """A pod IP, cali* interface name or namespace name -> that pod's Endpoint; InputError otherwise
    (its message starts with `role`, e.g. "SRC" or "DST", when given)."""
    ref = (ref or "").strip()
    role = f"{role} " if role else ""
    for pod in pods:
        if ref in (pod.ip, pod.host_iface, pod.netns) or (pod.name and ref == pod.name):
            return pod
    try:
        address = ipaddress.ip_address(ref)
    except ValueError:
        address = None
    if address is not None and address.version == 4:
        dev = _route_dev(node_netns, ref)
        if dev is not None and dev.startswith("cali"):
            raise InputError(f"{role}{ref} is routed to {dev}, but that veth's peer is not a named network "
                             "namespace (see `ip netns list`), and probe enters pods by name: give another "
                             f"pod ({_known(pods)})")
        if dev is not None:
            raise InputError(f"{role}{ref} is not a pod on this node (the node routes it via {dev}): probe "
                             "works between two pods of one node; run it on the destination's node, or give "
                             f"a pod of this node ({_known(pods)})")
    elif address is not None:
        raise InputError(f"{role}{ref}: probe handles IPv4 pods only; give a pod's IPv4 address "
                         f"({_known(pods)})")
    raise InputError(f"{role}{ref!r} is not a pod of this node: give a pod IP, cali* interface or pod "
                     f"network namespace ({_known(pods)})")


def resolve_pair(src: str, dst: str, node_netns: str | None,
                 pods: list[Endpoint] | None = None) -> tuple[Endpoint, Endpoint]:
    """Both ends of the probe; InputError when either is unknown or both are the same pod. Without
    `pods`, only the two pods asked for are read (a node with a hundred pods stays quick); all of
    them only when a reference is not found that way, for the error message."""
    if pods is None:
        node = _Node(node_netns)
        source, destination = node.quick(src.strip()), node.quick(dst.strip())
        if source is None or destination is None:
            pods = node.pods()
    if pods is not None:
        source = resolve(src, pods, node_netns, role="SRC")
        destination = resolve(dst, pods, node_netns, role="DST")
    if source.netns == destination.netns:
        raise InputError(f"SRC {src} and DST {dst} are the same pod ({source.ip}, {source.host_iface}): "
                         "give two different pods of this node")
    return source, destination
