"""One probe, start to end: find the pods, read the counters, capture while sending, read them again.

Order matters: the counters are read right before the captures open and right after they close, so
what rose in between is the probe's doing (plus whatever else the node forwarded in that second:
the analysis names a rule only if it rose by at least one probe). The kernel's verdicts (route,
neighbours, conntrack) are read after the probe, when the neighbour entries the probe needed exist.
"""

from __future__ import annotations

import os
import shutil
import time

from calirules.base.errors import InputError
from calirules.facts_collectors.probe import analyze, capture, counters, endpoints, kstats, send, verdict
from calirules.facts_collectors.probe.model import PROTOCOLS, ProbeResult

REQUIRED_TOOLS = {"ip": "iproute2"}
MAX_COUNT = 20


def parse_proto(text: str) -> tuple[str, int | None]:
    """`icmp`, `tcp:PORT` or `udp:PORT` -> (proto, port)."""
    proto, _, port = text.partition(":")
    if proto not in PROTOCOLS:
        raise InputError(f"--proto {text!r}: give icmp, tcp:PORT or udp:PORT")
    if proto == "icmp":
        if port:
            raise InputError(f"--proto {text!r}: icmp takes no port")
        return proto, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--proto {text!r}: {proto} needs a port 1-65535, e.g. {proto}:80")
    return proto, int(port)


def preflight(node_netns: str | None) -> None:
    """Refuse early, in one line, what would fail half-way: no root, no `ip`, no such namespace."""
    if os.geteuid() != 0:
        raise InputError("probe needs root (raw sockets, packet captures, other namespaces): run it with sudo "
                         "on the node, or use `calirules diagnose --live` for a read-only diagnosis")
    for tool, package in REQUIRED_TOOLS.items():
        if shutil.which(tool) is None:
            raise InputError(f"probe needs `{tool}` (package {package}); install it or run the probe on the node "
                             "itself rather than in a minimal container")
    if node_netns is not None and not os.path.exists(f"/var/run/netns/{node_netns}"):
        raise InputError(f"no network namespace named {node_netns!r} (see `ip netns list`)")


def probe(src_ref: str, dst_ref: str, *, node_netns: str | None = None, proto: str = "icmp",
          port: int | None = None, count: int = 3, size: int | None = None, dont_fragment: bool = False,
          trace: bool = False) -> ProbeResult:
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"--count {count}: give 1 to {MAX_COUNT} probes")
    preflight(node_netns)
    src, dst = endpoints.resolve_pair(src_ref, dst_ref, node_netns)
    flow = send.new_flow(proto, src.ip, dst.ip, port=port, count=count, size=size, dont_fragment=dont_fragment)
    result = ProbeResult(flow=flow, src=src, dst=dst, node_netns=node_netns)
    started = time.monotonic()
    ifaces = [src.host_iface, dst.host_iface]
    rules_before = counters.snapshot(node_netns)
    kernel_before = kstats.kernel_snapshot(node_netns, ifaces)
    tracer = _tracer(trace, node_netns)
    with tracer:
        with capture.CaptureSet(capture.capture_points(src, dst, node_netns), flow) as captures:
            result.sent = send.send(src, flow)
            result.hops = captures.stop()
    rules_after = counters.snapshot(node_netns)
    kernel_after = kstats.kernel_snapshot(node_netns, ifaces)
    result.counters = counters.moves(rules_before, rules_after)
    result.kernel_counters = kstats.kernel_moves(kernel_before, kernel_after)
    result.route = verdict.route_verdict(node_netns, src, dst)
    result.neighbors = verdict.gateway_neighbors([src, dst])
    result.conntrack = verdict.conntrack_state(node_netns, flow, kernel_before, kernel_after)
    result.trace = tracer.reasons() if trace else []
    result.notes = _unique([*rules_before.notes, *rules_after.notes,
                            *counters.ruleset_changes(rules_before, rules_after),
                            *kernel_before.notes, *kernel_after.notes, *result.conntrack.notes,
                            *getattr(tracer, "notes", ()), *([tracer.changes] if trace else [])])
    analyze.analyze(result, base_chains=getattr(rules_after, "base_chains", None))
    result.duration_s = time.monotonic() - started
    return result


def _unique(notes):
    """Each note once, in the order first said (both snapshots report the same missing tool)."""
    return list(dict.fromkeys(notes))


class _NoTrace:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def reasons(self):
        return []


def _tracer(enabled, node_netns):
    if not enabled:
        return _NoTrace()
    from calirules.facts_collectors.probe import trace
    return trace.DropTrace(node_netns or "node")
