"""What each probe step hands to the next. Plain data, no I/O.

Roles name the four places the guide looks at, in path order: the source pod's eth0 (`src-pod`), its
host-side cali* veth (`src-host`), the destination's host-side veth (`dst-host`), the destination pod's
eth0 (`dst-pod`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ROLES = ("src-pod", "src-host", "dst-host", "dst-pod")
PROTOCOLS = ("icmp", "tcp", "udp")
DROP_KINDS = ("rule", "policy", "route", "neighbor", "rp_filter", "conntrack", "unknown")
BACKENDS = ("legacy", "nft")


@dataclass(frozen=True)
class Endpoint:
    """One pod of the probe: its address, its namespace and both ends of its veth."""
    ip: str
    netns: str                     # the pod's named network namespace
    host_iface: str                # the cali* end in the node namespace
    pod_iface: str = "eth0"
    mtu: int | None = None         # the pod's eth0 MTU
    gateway: str | None = None     # the pod's default gateway (Calico: 169.254.1.1)
    name: str | None = None        # a pod name when one is known


@dataclass(frozen=True)
class Flow:
    """The probe packets: how to recognise them in a capture."""
    proto: str                     # icmp | tcp | udp
    src: str
    dst: str
    port: int | None = None        # tcp/udp destination port
    ident: int | None = None       # ICMP echo id, or the tcp/udp source port
    count: int = 3
    size: int | None = None        # IP packet length asked for (None: the tool's default)
    dont_fragment: bool = False


@dataclass(frozen=True)
class Hop:
    """What one capture point saw of the probe."""
    where: str                     # interface name
    role: str                      # one of ROLES
    netns: str | None              # None = the node namespace
    requests: int = 0              # probe packets (src -> dst) seen
    replies: int = 0               # answers (dst -> src, or ICMP errors about the probe) seen
    first_ms: float | None = None  # first request seen, ms after the first probe was sent
    last_ms: float | None = None
    iface_down: bool = False       # the interface was down while capturing (so it could see nothing)


@dataclass(frozen=True)
class SendResult:
    sent: int
    replies: int                   # echo replies / SYN-ACK or RST / UDP answers received by the source
    rtt_ms: tuple = ()
    errors: tuple = ()             # ICMP errors or socket errors the source got, one line each


@dataclass(frozen=True)
class CounterMove:
    """A netfilter rule or base-chain policy whose packet counter moved during the probe."""
    backend: str                   # legacy | nft (iptables-nft and native nft tables alike)
    table: str
    chain: str
    rule: str | None               # the rule as its dump prints it; None for the chain policy
    target: str | None             # ACCEPT, DROP, REJECT, a jump target, the policy
    packets: int                   # how much it rose
    bytes: int = 0
    position: int | None = None    # 1-based rule number in its chain; None for a policy
    source: str | None = None      # the command the dump came from


@dataclass(frozen=True)
class KernelCounterMove:
    """A kernel statistic that rose during the probe (nstat-style, interface or conntrack stat)."""
    name: str                      # e.g. IPReversePathFilter, InNoRoutes, cali1234.tx_dropped
    delta: int
    source: str                    # /proc/net/netstat, /proc/net/snmp, ip -s link, ...


@dataclass(frozen=True)
class RouteVerdict:
    """`ip route get DST from SRC iif <src cali>` in the node namespace."""
    text: str                      # its output or error, first line(s) as printed
    dev: str | None = None         # the interface the kernel would send the packet to
    via: str | None = None
    table: str | None = None
    error: str | None = None       # "No route to host", "Invalid cross-device link" (rp_filter), ...


@dataclass(frozen=True)
class Neighbor:
    """A pod's neighbour entry for its gateway (proxy ARP answers it on a healthy node)."""
    netns: str
    ip: str
    dev: str
    state: str | None              # REACHABLE, STALE, FAILED, INCOMPLETE, ... ; None: no entry
    lladdr: str | None = None


@dataclass(frozen=True)
class ConntrackState:
    entries: tuple = ()            # the flow's `conntrack -L` lines
    unreplied: bool = False
    invalid: int = 0               # the stat's invalid counter rise during the probe
    count: int | None = None
    max: int | None = None
    notes: tuple = ()              # what could not be read (the conntrack tool missing, ...)


@dataclass(frozen=True)
class Drop:
    kind: str                      # one of DROP_KINDS
    detail: str                    # one line
    backend: str | None = None
    table: str | None = None
    chain: str | None = None
    rule: str | None = None
    packets: int = 0


@dataclass
class ProbeResult:
    flow: Flow
    src: Endpoint
    dst: Endpoint
    node_netns: str | None
    hops: list = field(default_factory=list)          # [Hop] in path order
    sent: SendResult | None = None
    route: RouteVerdict | None = None
    neighbors: list = field(default_factory=list)     # [Neighbor]
    conntrack: ConntrackState | None = None
    counters: list = field(default_factory=list)      # [CounterMove] in ruleset order
    kernel_counters: list = field(default_factory=list)  # [KernelCounterMove]
    trace: list = field(default_factory=list)         # [str] drop reasons from --trace
    drop: Drop | None = None
    reached: bool = False
    replied: bool = False
    last_seen: str | None = None
    last_seen_role: str | None = None                 # which of ROLES last_seen is (two pods' eth0 share a name)
    duration_s: float = 0.0
    notes: list = field(default_factory=list)         # what could not be read, and why
    summary: str = ""                                 # one line: what was seen, where it was dropped

    def to_dict(self) -> dict:
        """The calirules/probe/v1 document (the contract's keys first, then the detail)."""
        return {
            "schema": "calirules/probe/v1",
            "reached": self.reached,
            "replied": self.replied,
            "last_seen": self.last_seen,
            "last_seen_role": self.last_seen_role,
            "hops": [{"where": h.where, "seen": h.requests, "role": h.role, "netns": h.netns,
                      "replies": h.replies, "iface_down": h.iface_down, "first_ms": h.first_ms,
                      "last_ms": h.last_ms} for h in self.hops],
            "drop": None if self.drop is None else {
                "kind": self.drop.kind, "backend": self.drop.backend, "table": self.drop.table,
                "chain": self.drop.chain, "rule": self.drop.rule, "packets": self.drop.packets,
                "detail": self.drop.detail},
            "route_verdict": self.route.text if self.route else None,
            "summary": self.summary,
            "node_netns": self.node_netns,
            "route": asdict(self.route) if self.route else None,
            "flow": asdict(self.flow),
            "src": asdict(self.src),
            "dst": asdict(self.dst),
            "sent": asdict(self.sent) if self.sent else None,
            "neighbors": [asdict(n) for n in self.neighbors],
            "conntrack": asdict(self.conntrack) if self.conntrack else None,
            "counters": [asdict(c) for c in self.counters],
            "kernel_counters": [asdict(k) for k in self.kernel_counters],
            "trace": list(self.trace),
            "duration_s": round(self.duration_s, 3),
            "notes": list(self.notes),
        }


def result_from_dict(doc: dict) -> ProbeResult:
    """A ProbeResult back from its calirules/probe/v1 document (a saved probe, read again).

    Raises KeyError/TypeError/ValueError on a document this version did not write; callers turn that
    into an input error naming the file."""
    if doc.get("schema") != "calirules/probe/v1":
        raise ValueError(f"schema {doc.get('schema')!r} is not calirules/probe/v1")

    def tuples(item, *names):
        return {**item, **{name: tuple(item.get(name) or ()) for name in names}}

    drop = doc.get("drop")
    return ProbeResult(
        flow=Flow(**doc["flow"]), src=Endpoint(**doc["src"]), dst=Endpoint(**doc["dst"]),
        node_netns=doc.get("node_netns"),
        hops=[Hop(where=h["where"], role=h["role"], netns=h.get("netns"), requests=h["seen"],
                  replies=h.get("replies", 0), first_ms=h.get("first_ms"), last_ms=h.get("last_ms"),
                  iface_down=bool(h.get("iface_down")))
              for h in doc["hops"]],
        sent=SendResult(**tuples(doc["sent"], "rtt_ms", "errors")) if doc.get("sent") else None,
        route=RouteVerdict(**doc["route"]) if doc.get("route") else None,
        neighbors=[Neighbor(**n) for n in doc.get("neighbors") or ()],
        conntrack=ConntrackState(**tuples(doc["conntrack"], "entries", "notes")) if doc.get("conntrack") else None,
        counters=[CounterMove(**c) for c in doc.get("counters") or ()],
        kernel_counters=[KernelCounterMove(**k) for k in doc.get("kernel_counters") or ()],
        trace=list(doc.get("trace") or ()),
        drop=Drop(**drop) if drop else None,
        reached=bool(doc["reached"]), replied=bool(doc["replied"]), last_seen=doc.get("last_seen"),
        last_seen_role=doc.get("last_seen_role"), duration_s=float(doc.get("duration_s") or 0.0),
        notes=list(doc.get("notes") or ()), summary=doc.get("summary") or "")
