"""Fault registry: each id (a cause id of the cause catalog, engine/data/causes.yaml) maps to a description and a function
that breaks a running Lab for real, in its namespaces only.

    inj = inject(lab, "workload-route-missing")          # -> Injection
    assert not lab.ping(inj.src, inj.dst)

Every fault takes the optional options `src` and `dst` (pod references, default the first two pods):
the pair whose ping the fault breaks. After a fault is applied the node's conntrack table and all
neighbour caches are flushed, so earlier healthy traffic cannot mask it.
"""

from __future__ import annotations

import inspect
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from . import calico_rules, iptables, naming, netns
from .errors import LabError, UnknownFault
from .topology import Lab, Pod

PING_FAILS = "ping-fails"
LARGE_DF_PING_FAILS = "small-ping-passes-large-df-ping-fails"


@dataclass(frozen=True)
class Fault:
    id: str
    description: str
    apply: Callable[..., dict]
    expect: str = PING_FAILS

    @property
    def options(self) -> dict[str, Any]:
        """Fault-specific options and their defaults (src/dst are common to all)."""
        params = list(inspect.signature(self.apply).parameters.values())[3:]
        return {p.name: p.default for p in params}


@dataclass
class Injection:
    fault_id: str
    src: str                       # pod names: the ping src -> dst this fault breaks
    dst: str
    expect: str
    options: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)   # what exactly was changed
    large_size: int | None = None  # mtu-mismatch: ICMP payload that must fail with DF

    def to_dict(self) -> dict:
        return asdict(self)


FAULTS: dict[str, Fault] = {}


def fault(fault_id: str, description: str, expect: str = PING_FAILS):
    def register(func: Callable[..., dict]) -> Callable[..., dict]:
        FAULTS[fault_id] = Fault(fault_id, description, func, expect)
        return func
    return register


def inject(lab: Lab, fault_id: str, *, src=None, dst=None, **options) -> Injection:
    """Apply fault `fault_id` to a running lab; return what was done and which ping must fail."""
    try:
        f = FAULTS[fault_id]
    except KeyError:
        raise UnknownFault(f"unknown fault {fault_id!r}; known: {', '.join(sorted(FAULTS))}") from None
    unknown = set(options) - set(f.options)
    if unknown:
        raise LabError(f"fault {fault_id!r} has no option(s) {', '.join(sorted(unknown))}; "
                       f"options: {', '.join(f.options) or 'none'} (plus src, dst)")
    pods = lab.pods
    if len(pods) < 2 and (src is None or dst is None):
        raise LabError("faults need a lab with at least 2 pods")
    src_pod = lab.pod(src if src is not None else pods[0])
    dst_pod = lab.pod(dst if dst is not None else pods[1])
    if src_pod.name == dst_pod.name:
        raise LabError("src and dst must be different pods")
    details = f.apply(lab, src_pod, dst_pod, **options) or {}
    dst_name = details.pop("dst", dst_pod.name)
    large = details.pop("large_size", None)
    lab.flush_conntrack()
    lab.flush_neighbours()
    inj = Injection(fault_id, src_pod.name, dst_name, f.expect, dict(options), details, large)
    lab.injected.append(inj.to_dict())
    return inj


def describe() -> list[tuple[str, str]]:
    return [(f.id, f.description) for f in FAULTS.values()]


# ---- helpers -----------------------------------------------------------------------------------

def _forward_rule_number(lab: Lab, needle: str, backend: str | None = None) -> int | None:
    return iptables.rule_number(lab.node_ns, backend or lab.backend, "FORWARD", needle)


def _delete_forward_rules(lab: Lab, needle: str) -> list[str]:
    """Delete every FORWARD rule whose `-S` text contains needle; return the deleted specs."""
    deleted = [line for line in iptables.rules(lab.node_ns, lab.backend, "FORWARD")
               if line.startswith("-A FORWARD ") and needle in line]
    for line in deleted:
        lab.iptables("-D", *shlex.split(line)[1:])
    return deleted


# ---- forwarding ---------------------------------------------------------------------------------

@fault("ip-forwarding-disabled",
       "IPv4 forwarding off in the node: net.ipv4.ip_forward=0 (per_interface=True: only "
       "net.ipv4.conf.<src cali>.forwarding=0, which the kernel checks on the input interface)")
def _ip_forwarding_disabled(lab: Lab, src: Pod, dst: Pod, per_interface: bool = False) -> dict:
    key = f"net.ipv4.conf.{src.iface}.forwarding" if per_interface else "net.ipv4.ip_forward"
    lab.sysctl_set({key: 0})
    return {"sysctl": {key: 0}}


@fault("proxy-arp-disabled",
       "proxy_arp=0 on a pod's cali interface, neighbour caches flushed: that pod can no longer "
       "resolve its gateway 169.254.1.1 (side='dst': the echo reply cannot leave the destination; "
       "side='src': the request cannot leave the source)")
def _proxy_arp_disabled(lab: Lab, src: Pod, dst: Pod, side: str = "dst") -> dict:
    if side not in ("dst", "src"):
        raise LabError("proxy-arp-disabled: side must be 'dst' or 'src'")
    pod = dst if side == "dst" else src
    key = f"net.ipv4.conf.{pod.iface}.proxy_arp"
    lab.sysctl_set({key: 0})
    return {"sysctl": {key: 0}, "iface": pod.iface}


@fault("mtu-mismatch",
       "The destination side of the path has a smaller MTU (default 1400) than the pods' 1440. "
       "where='veth' (default): both ends of the destination veth (a pod created with another "
       "veth_mtu) -- the node answers large DF packets with ICMP frag-needed, non-DF ones are "
       "fragmented and pass; where='cali': only the host end (the node sends frag-needed for DF "
       "requests, and the pod's full-size replies are silently dropped by the veth); where='pod': "
       "only the pod's eth0 (the veth silently drops every larger frame). Small pings always pass, "
       "large DF pings fail.",
       expect=LARGE_DF_PING_FAILS)
def _mtu_mismatch(lab: Lab, src: Pod, dst: Pod, where: str = "veth", mtu: int = 1400) -> dict:
    # A veth delivers a frame only if it fits the *receiving* end's MTU (else it is dropped without
    # an ICMP error), while the node's IP forwarding checks the *outgoing* interface's MTU and sends
    # "fragmentation needed" for DF packets. The three placements give the three behaviours above.
    mtu = int(mtu)
    if not 576 <= mtu < lab.pod_mtu:
        raise LabError(f"mtu-mismatch: mtu must be in 576..{lab.pod_mtu - 1}")
    changed = []
    if where not in ("veth", "cali", "pod"):
        raise LabError("mtu-mismatch: where must be 'veth', 'cali' or 'pod'")
    if where in ("veth", "cali"):
        lab.node_ip("link", "set", "dev", dst.iface, "mtu", str(mtu))
        changed.append(f"{lab.node_ns}/{dst.iface}")
    if where in ("veth", "pod"):
        netns.ip(dst.netns, "link", "set", "dev", naming.POD_IFACE, "mtu", str(mtu))
        changed.append(f"{dst.netns}/{naming.POD_IFACE}")
    # ICMP payload that fills the pods' MTU exactly (20 bytes IP + 8 bytes ICMP header).
    return {"changed": changed, "mtu": mtu, "pod_mtu": lab.pod_mtu, "large_size": lab.pod_mtu - 28}


# ---- workload plumbing -------------------------------------------------------------------------

@fault("workload-route-missing", "The destination pod's /32 route (<ip> dev cali... scope link) is deleted")
def _workload_route_missing(lab: Lab, src: Pod, dst: Pod) -> dict:
    lab.node_ip("route", "del", f"{dst.ip}/32", "dev", dst.iface)
    return {"deleted_route": f"{dst.ip} dev {dst.iface} scope link"}


@fault("workload-route-conflict",
       "The destination IP's /32 route points at the wrong interface: target='stale' (a leftover "
       "cali veth of a deleted pod, peer down, unknown to Felix; peer_up=True leaves its peer up, so "
       "the leftover link is UP) or target='other' (another live pod's cali interface, e.g. after IP reuse)")
def _workload_route_conflict(lab: Lab, src: Pod, dst: Pod, target: str = "stale", peer_up: bool = False) -> dict:
    if target == "stale":
        stale_pod = f"{dst.name}-old"
        iface = naming.cali_iface(stale_pod)
        peer = "veth" + iface[4:12]
        netns.ip_batch(lab.node_ns, [
            f"link add name {iface} address {naming.CALI_MAC} mtu {lab.pod_mtu} type veth "
            f"peer name {peer} mtu {lab.pod_mtu}",
            f"link set {iface} up",          # the orphaned peer stays down: no carrier
        ] + ([f"link set {peer} up"] if peer_up else []))
        extra = {"stale_iface": iface, "stale_peer": peer}
    elif target == "other":
        others = [p for p in lab.pods if p.name not in (dst.name, src.name)] or [src]
        iface = others[0].iface
        extra = {"other_pod": others[0].name}
    else:
        raise LabError("workload-route-conflict: target must be 'stale' or 'other'")
    lab.node_ip("route", "replace", f"{dst.ip}/32", "dev", iface, "scope", "link")
    return {"route": f"{dst.ip} dev {iface} scope link", "expected_iface": dst.iface, **extra}


@fault("workload-veth-down",
       "The destination pod's host-side cali interface is set down (the kernel also removes the /32 "
       "route through it, as on a real node)")
def _workload_veth_down(lab: Lab, src: Pod, dst: Pod) -> dict:
    lab.node_ip("link", "set", "dev", dst.iface, "down")
    return {"iface": dst.iface, "state": "down"}


@fault("policy-routing-override",
       "An `ip rule` ahead of main (priority 30400, like nm-cloud-setup) sends traffic to table 30400, "
       "which only has a default route via the uplink and none of the cali /32 routes")
def _policy_routing_override(lab: Lab, src: Pod, dst: Pod, priority: int = 30400, table: int = 30400,
                             selector: str = "from all") -> dict:
    if not 0 < int(priority) < 32766:
        raise LabError("policy-routing-override: priority must be below main's 32766")
    lab.node_ip("route", "add", "default", "via", naming.UPSTREAM_IP, "dev",
                naming.NODE_UPLINK_IFACE, "table", str(table))
    lab.node_ip("rule", "add", "priority", str(priority), *selector.split(), "lookup", str(table))
    return {"rule": f"{priority}: {selector} lookup {table}",
            "table": f"default via {naming.UPSTREAM_IP} dev {naming.NODE_UPLINK_IFACE}"}


@fault("endpoint-not-programmed",
       "A new pod is plumbed by 'CNI' (veth, sysctls, /32 route) but Felix never programs it: no "
       "dispatch entry, no cali-tw-/cali-fw- chains, so 'Unknown interface' DROP hits. "
       "pod=<existing pod>: unprogram that pod instead of adding one")
def _endpoint_not_programmed(lab: Lab, src: Pod, dst: Pod, pod: str | None = None) -> dict:
    if pod is None:
        target = lab.add_pod(programmed=False)
    else:
        target = lab.pod(pod)
        target.programmed = False
        chains = calico_rules.dispatch_chains([e.iface for e in lab.endpoints()])
        lab.iptables_restore(calico_rules.render_update(chains), noflush=True)
        for chain in (calico_rules.to_wl_chain(target.iface), calico_rules.from_wl_chain(target.iface)):
            lab.iptables("-F", chain)
            lab.iptables("-X", chain)
    return {"dst": target.name, "iface": target.iface, "ip": target.ip,
            "added_pod": pod is None}


# ---- iptables ----------------------------------------------------------------------------------

@fault("forward-policy-drop",
       "FORWARD policy DROP and Calico's FORWARD hooks never reach an ACCEPT. variant='accept-absent' "
       "removes the rules Felix appends to FORWARD ('Policy explicitly accepted packet.' ACCEPT + mark); "
       "variant='allow-action-return' renders Calico's accept verdicts as RETURN "
       "(Felix IptablesFilterAllowAction=RETURN)")
def _forward_policy_drop(lab: Lab, src: Pod, dst: Pod, variant: str = "accept-absent") -> dict:
    # Why this shape: FORWARD policy DROP on its own (Docker sets it) does NOT break Calico pods, because
    # Felix (>= v3.16) appends `-m mark --mark 0x10000/0x10000 "Policy explicitly accepted packet."
    # -j ACCEPT` to FORWARD and the per-endpoint chains accept established replies; the lab test
    # suite checks that. The failure needs both halves: the DROP policy and no Calico ACCEPT being
    # reached. 'accept-absent' is the state after something rewrote FORWARD (a firewall script or
    # Docker restart flushing and re-creating the chain with policy DROP) and only Felix's inserted
    # jump came back before its next refresh; packets still walk cali-FORWARD and get the accept mark,
    # then fall off the end into the DROP policy. 'allow-action-return' is the configured variant:
    # with IptablesFilterAllowAction=RETURN Felix renders its accept verdicts as RETURN, leaving the
    # verdict to the FORWARD policy (we rewrite the ACCEPTs of cali:-commented rules, including the
    # conntrack RELATED,ESTABLISHED ones in endpoint chains).
    if variant == "accept-absent":
        deleted = _delete_forward_rules(lab, calico_rules.ACCEPT_COMMENT)
        deleted += _delete_forward_rules(lab, "--set-xmark 0x10000/0x10000")
        lab.iptables("-P", "FORWARD", "DROP")
        return {"forward_policy": "DROP", "deleted": deleted}
    if variant == "allow-action-return":
        text = lab.iptables_save()
        lines = []
        for line in text.splitlines():
            if line.startswith("-A ") and '"cali:' in line and line.endswith("-j ACCEPT"):
                line = line[: -len("ACCEPT")] + "RETURN"
            if line.startswith(":FORWARD "):
                line = ":FORWARD DROP [0:0]"
            lines.append(line)
        lab.iptables_restore("\n".join(lines) + "\n", noflush=False)
        return {"forward_policy": "DROP", "allow_action": "RETURN"}
    raise LabError("forward-policy-drop: variant must be 'accept-absent' or 'allow-action-return'")


@fault("host-firewall-rejects",
       "A firewalld-style `-j REJECT --reject-with icmp-host-prohibited` in FORWARD ahead of Calico's "
       "appended 'Policy explicitly accepted packet.' ACCEPT (what a firewall reload after Felix leaves)")
def _host_firewall_rejects(lab: Lab, src: Pod, dst: Pod) -> dict:
    number = _forward_rule_number(lab, calico_rules.ACCEPT_COMMENT)
    spec = ["-j", "REJECT", "--reject-with", "icmp-host-prohibited"]
    if number is None:
        lab.iptables("-A", "FORWARD", *spec)
    else:
        lab.iptables("-I", "FORWARD", str(number), *spec)
    return {"rule": "-A FORWARD " + " ".join(spec), "position": number}


@fault("iptables-backend-mismatch",
       "Calico's chains live in the lab's backend while the other backend (legacy vs nft) drops "
       "forwarded traffic: mode='policy' sets its FORWARD policy DROP, mode='rule' appends -j DROP. "
       "The kernel runs both backends' hooks, so the packet Calico accepted is dropped by the other")
def _iptables_backend_mismatch(lab: Lab, src: Pod, dst: Pod, mode: str = "policy") -> dict:
    other = iptables.other(lab.backend)
    if mode == "policy":
        lab.iptables("-P", "FORWARD", "DROP", backend=other)
    elif mode == "rule":
        lab.iptables("-A", "FORWARD", "-j", "DROP", backend=other)
    else:
        raise LabError("iptables-backend-mismatch: mode must be 'policy' or 'rule'")
    return {"calico_backend": lab.backend, "dropping_backend": other, "mode": mode}


@fault("calico-chains-missing",
       "Felix has not programmed the data plane: the filter table holds no cali-* chains or hooks and "
       "FORWARD policy is DROP (with ACCEPT nothing would stop the ping)")
def _calico_chains_missing(lab: Lab, src: Pod, dst: Pod) -> dict:
    lab.iptables_restore(calico_rules.render_empty_filter_table(forward_policy="DROP"), noflush=False)
    for p in lab.pods:
        p.programmed = False
    return {"forward_policy": "DROP", "cali_chains": 0}


@fault("policy-denies",
       "A Calico policy selects the destination: its cali-tw- chain jumps to a cali-pi-<policy> chain "
       "that only allows 198.19.255.0/24 (nothing in the lab), then 'End of tier default. Drop if no "
       "policies passed packet' drops (direction='egress': cali-po- in the source's cali-fw- chain)")
def _policy_denies(lab: Lab, src: Pod, dst: Pod, policy: str = "default.allow-admin",
                   direction: str = "ingress") -> dict:
    pol = calico_rules.Policy(policy, (str(naming.UNUSED_NET),))
    if direction == "ingress":
        ep = calico_rules.Endpoint(dst.iface, ingress=(pol,))
        rewritten = calico_rules.to_wl_chain(dst.iface)
    elif direction == "egress":
        ep = calico_rules.Endpoint(src.iface, egress=(pol,))
        rewritten = calico_rules.from_wl_chain(src.iface)
    else:
        raise LabError("policy-denies: direction must be 'ingress' or 'egress'")
    chains = [c for c in calico_rules.endpoint_chains(ep)
              if c.name == rewritten or c.name.startswith(("cali-pi-", "cali-po-"))]
    lab.iptables_restore(calico_rules.render_update(chains), noflush=True)
    return {"chain": rewritten, "policy_chain": calico_rules.policy_chain(policy, direction),
            "allows": [str(naming.UNUSED_NET)]}
