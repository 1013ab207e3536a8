"""The kernel's own verdict on the probe packet, asked read-only.

- `route_verdict`: `ip route get DST from SRC iif <src cali>` in the node namespace: the route
  lookup the forwarding path makes for this packet. An error (forwarding off -> "No route to
  host", rp_filter -> "Invalid cross-device link") is an answer, not a failure.
- `gateway_neighbors`: each pod's neighbour entry for its gateway (proxy ARP answers it on a
  healthy Calico node; FAILED/INCOMPLETE when nobody does).
- `conntrack_state`: the flow's conntrack entries (UNREPLIED), the INVALID count rise, and how
  full the table is.

Failures: InputError when the node or a pod namespace does not exist or `ip` is missing (no
verdict can be asked then); the conntrack tool missing or a /proc file unreadable is a note on
the ConntrackState. A pod whose neighbour table cannot be read is reported with state None.
"""

from __future__ import annotations

import json
import re

from calirules.base.errors import InputError

from . import _exec
from .model import ConntrackState, Endpoint, Flow, Neighbor, RouteVerdict

TIMEOUT = 5.0
CALICO_GATEWAY = "169.254.1.1"

_RTNETLINK = re.compile(r"^(?:RTNETLINK answers|Error):\s*(.+?)\.?$")
_ROUTE_KEYS = {"dev", "via", "table"}


def route_verdict(node_netns: str | None, src: Endpoint, dst: Endpoint) -> RouteVerdict:
    """Ask the node's routing for the probe packet as it arrives from the source pod's veth.

    Raises InputError only when `ip` itself is missing (nothing else can be asked then)."""
    argv = ["ip", "route", "get", dst.ip, "from", src.ip, "iif", src.host_iface]
    out = _exec.run(node_netns, argv, timeout=TIMEOUT)
    if out.returncode is None:
        if out.missing:
            raise InputError("`ip` (iproute2) is not installed: install iproute2 to ask the kernel "
                             "for its route")
        return RouteVerdict(text=f"not asked: {out.problem}", error=out.problem)
    return parse_route_get(out.stdout, out.stderr, out.returncode)


def parse_route_get(stdout: str, stderr: str = "", returncode: int = 0) -> RouteVerdict:
    """`ip route get` output -> RouteVerdict; a non-zero exit is the kernel's refusal (`error`).

    >>> parse_route_get("198.18.8.11 from 198.18.8.10 via 198.19.0.2 dev eth0 table 30400 \\n"
    ...                 "    cache iif calia \\n").table
    '30400'
    >>> parse_route_get("", "RTNETLINK answers: No route to host\\n", 2).error
    'No route to host'
    """
    if returncode != 0 or not stdout.strip():
        message = _exec.first_line(stderr) or f"ip route get failed (exit {returncode})"
        match = _RTNETLINK.match(message)
        return RouteVerdict(text=message, error=match.group(1) if match else message)
    lines = [line.rstrip() for line in stdout.splitlines() if line.strip()]
    text = "\n".join(lines[:3])
    # a first line without its newline was cut: its last word may be half a name
    whole = stdout.split("\n")[0] if "\n" in stdout else ""
    words = whole.split()
    found: dict[str, str] = {}
    for key, value in zip(words, words[1:]):
        if key in _ROUTE_KEYS and key not in found:
            found[key] = value
    kind = words[0] if words and words[0] in ("unreachable", "prohibit", "blackhole", "throw") else None
    return RouteVerdict(text=text, dev=found.get("dev"), via=found.get("via"), table=found.get("table"),
                        error=kind)


def gateway_neighbors(endpoints: list[Endpoint]) -> list[Neighbor]:
    """Each pod's neighbour entry for its gateway (`ip -j neigh show` inside the pod's namespace).

    No entry -> state None. A pod whose gateway is not known is asked for its default route's
    gateway first; the Calico gateway is assumed when it has none."""
    neighbours = []
    for endpoint in endpoints:
        gateway = endpoint.gateway or _default_gateway(endpoint) or CALICO_GATEWAY
        out = _exec.run(endpoint.netns, ["ip", "-j", "neigh", "show", "to", gateway, "dev", endpoint.pod_iface],
                        timeout=TIMEOUT)
        entries = parse_neigh_json(out.stdout) if out.ok else []
        entry = next((e for e in entries if e.get("dst") == gateway), None)
        if entry is None:
            neighbours.append(Neighbor(netns=endpoint.netns, ip=gateway, dev=endpoint.pod_iface, state=None))
        else:
            neighbours.append(Neighbor(netns=endpoint.netns, ip=gateway, dev=entry.get("dev") or endpoint.pod_iface,
                                       state=entry.get("state"), lladdr=entry.get("lladdr")))
    return neighbours


def _default_gateway(endpoint: Endpoint) -> str | None:
    out = _exec.run(endpoint.netns, ["ip", "-j", "route", "show", "default"], timeout=TIMEOUT)
    if not out.ok:
        return None
    try:
        routes = json.loads(out.stdout)
    except ValueError:
        return None
    for route in routes if isinstance(routes, list) else []:
        if isinstance(route, dict) and isinstance(route.get("gateway"), str):
            return route["gateway"]
    return None


def parse_neigh_json(text: str) -> list[dict]:
    """`ip -j neigh show` -> [{dst, dev, state ("REACHABLE", "FAILED", "STALE,ROUTER", ...), lladdr}];
    [] for anything that is not that JSON."""
    try:
        data = json.loads(text)
    except ValueError:
        return []
    entries = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("dst"), str):
            continue
        state = item.get("state")
        if isinstance(state, list):
            state = ",".join(str(s) for s in state) or None
        entries.append({"dst": item["dst"], "dev": item.get("dev") if isinstance(item.get("dev"), str) else None,
                        "state": state if isinstance(state, str) else None,
                        "lladdr": item.get("lladdr") if isinstance(item.get("lladdr"), str) else None})
    return entries


def conntrack_state(node_netns: str | None, flow: Flow, stat_before: dict, stat_after: dict) -> ConntrackState:
    """The flow's conntrack entries in the node namespace (`conntrack -L`, read-only), whether
    they are UNREPLIED, the rise of the INVALID statistic between the two snapshots (kernel
    snapshots or {"invalid": n} dicts) and the table's fill. A missing conntrack tool or
    unreadable file is a note, never a failure."""
    notes = []
    argv = ["conntrack", "-L", "-p", flow.proto, "-s", flow.src, "-d", flow.dst]
    if flow.port is not None and flow.proto in ("tcp", "udp"):
        argv += ["--dport", str(flow.port)]
    out = _exec.run(node_netns, argv, timeout=TIMEOUT)
    entries: tuple = ()
    if out.ok:
        entries = tuple(parse_conntrack_list(out.stdout))
    else:
        notes.append(f"conntrack entries not read: {out.problem or _exec.first_line(out.stderr)}")
    count = _read_int(node_netns, "/proc/sys/net/netfilter/nf_conntrack_count", notes)
    maximum = _read_int(node_netns, "/proc/sys/net/netfilter/nf_conntrack_max", notes)
    return ConntrackState(entries=entries, unreplied=any("[UNREPLIED]" in e for e in entries),
                          invalid=max(0, _invalid(stat_after) - _invalid(stat_before)),
                          count=count, max=maximum, notes=tuple(notes))


def _invalid(stat: dict) -> int:
    for key in ("nf_conntrack.invalid", "invalid"):
        value = stat.get(key) if isinstance(stat, dict) else None
        if isinstance(value, int):
            return value
    return 0


def parse_conntrack_list(text: str) -> list[str]:
    """`conntrack -L` -> its entry lines (the tool's summary line and anything else left out)."""
    return [line.strip() for line in text.splitlines()
            if line.strip() and "src=" in line and "dst=" in line and not line.startswith("conntrack v")]


def _read_int(netns: str | None, path: str, notes: list) -> int | None:
    out = _exec.run(netns, ["cat", path], timeout=TIMEOUT)
    if out.ok and out.stdout.strip().isdigit():
        return int(out.stdout.strip())
    notes.append(f"{path} not read: {out.problem or _exec.first_line(out.stderr) or 'not a number'}")
    return None
