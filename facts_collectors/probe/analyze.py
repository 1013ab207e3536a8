"""What the probe saw -> where the packet disappeared and what dropped it.

The decision follows the packet through the node's stack in the kernel's own order, so with two faults
on the path the first one the packet meets is named:

1. it never reached the source's host-side veth: the source pod could not send it (its gateway's
   neighbour entry failed: proxy ARP is not answering), or something inside the pod dropped it;
2. it entered the node (seen on the source cali*) and never left towards the destination: a
   PREROUTING rule, then the routing decision (`ip route get ... iif`: forwarding off, rp_filter, a
   route to another interface), then FORWARD's rules and policy, then POSTROUTING; kernel counters
   (rp_filter, conntrack) when no rule moved;
3. it left the node on the destination's cali* and the pod never got it: the veth itself dropped it
   (its MTU) or the pod's interface is down;
4. it reached the destination and no reply came back: the same walk for the reply (the destination
   pod's gateway neighbour, then the node's rules).

Counters name a drop only if they rose by at least one probe; a rule that rose by fewer packets than
were lost is still named (a retransmit or other traffic may add to it) but the count is shown.
"""

from __future__ import annotations

import re

from calirules.facts_collectors.probe.model import ROLES, Drop, ProbeResult

_FRAG_NEEDED = re.compile(r"frag\w*[ -]needed\D*?(\d+)", re.IGNORECASE)
_REQUEST_WORD = {"icmp": "echo request", "tcp": "SYN", "udp": "datagram"}
_REPLY_WORD = {"icmp": "echo reply", "tcp": "SYN-ACK/RST", "udp": "answer"}
_PLURAL = {"echo request": "echo requests", "SYN": "SYNs", "datagram": "datagrams", "echo reply": "echo replies",
           "SYN-ACK/RST": "SYN-ACKs/RSTs", "answer": "answers"}
_DROP_TARGETS = ("DROP", "REJECT")
_NEIGHBOR_FAILED = (None, "FAILED", "INCOMPLETE")
# Netfilter hooks in the order a forwarded packet meets them, and the tables in each hook's order.
_HOOK_ORDER = ("PREROUTING", "FORWARD", "POSTROUTING", "INPUT", "OUTPUT")
_TABLE_ORDER = ("raw", "mangle", "nat", "filter", "security")
# For a forwarded packet a user chain of these tables can only be reached from this hook.
_TABLE_HOOK = {"raw": "PREROUTING", "filter": "FORWARD", "security": "FORWARD"}
# Kernel statistics that name a drop when nothing in netfilter did (nstat names; kstats reads them).
_RP_FILTER_COUNTERS = ("TcpExt.IPReversePathFilter",)
_CONNTRACK_COUNTERS = ("nf_conntrack.drop", "nf_conntrack.early_drop", "nf_conntrack.insert_failed",
                       "nf_conntrack.invalid")


def analyze(result: ProbeResult, *, base_chains: dict | None = None) -> ProbeResult:
    """Fill reached/replied/last_seen/drop of `result` from its hops, counters and verdicts.

    `base_chains` maps (backend, table, chain) of a user chain to the base chain it is reached from,
    so a DROP in cali-tw-x is ordered as a FORWARD drop; unknown chains sort after the base chains."""
    hops = {h.role: h for h in result.hops}
    lost = max(result.flow.count - (result.sent.replies if result.sent else 0), 1)
    result.replied = bool(result.sent and result.sent.replies)
    dst_pod = hops.get("dst-pod")
    result.reached = bool(dst_pod and dst_pod.requests) or result.replied
    result.last_seen, result.last_seen_role = _last_seen(result, hops)
    if result.replied and result.sent.replies >= result.flow.count:
        result.drop = None
    else:
        result.drop = (_request_drop(result, hops, lost, base_chains or {}) if not result.reached
                       else _reply_drop(result, hops, lost, base_chains or {}))
    result.summary = summary(result)
    return result


def _last_seen(result, hops):
    """(interface, role): the last place on the round trip where the probe was seen."""
    last = (None, None)
    for role in ROLES:
        hop = hops.get(role)
        if hop and hop.requests:
            last = (hop.where, role)
    if result.reached:
        for role in reversed(ROLES):
            hop = hops.get(role)
            if hop and hop.replies:
                last = (hop.where, role)
    return last


def _seen(hops, role, what="requests"):
    hop = hops.get(role)
    return None if hop is None else getattr(hop, what) > 0


def _request_drop(result, hops, lost, base_chains):
    if _seen(hops, "src-host") is False:
        return _source_drop(result, "src")
    if _seen(hops, "dst-host") is False or _seen(hops, "dst-host") is None:
        return _node_drop(result, lost, base_chains, direction="request")
    return _veth_drop(result, hops)


def _reply_drop(result, hops, lost, base_chains):
    if _seen(hops, "dst-pod", "replies") is False:
        neighbor = _gateway_neighbor(result, "dst")
        if neighbor is not None and neighbor.state in _NEIGHBOR_FAILED:
            return _neighbor_drop(result, neighbor, "dst", lost)
        return Drop("unknown", f"the {_REQUEST_WORD[result.flow.proto]} reached {result.dst.ip} but it "
                               f"sent no {_REPLY_WORD[result.flow.proto]}", packets=lost)
    if _seen(hops, "dst-host", "replies") is False:
        return _source_drop(result, "dst")
    if _seen(hops, "src-host", "replies") is False:
        return _node_drop(result, lost, base_chains, direction="reply")
    return Drop("unknown", f"the {_REPLY_WORD[result.flow.proto]} left the node on "
                           f"{result.src.host_iface} and {result.src.ip} did not receive it", packets=lost)


def _gateway_neighbor(result, side):
    endpoint = result.src if side == "src" else result.dst
    for neighbor in result.neighbors:
        if neighbor.netns == endpoint.netns and (endpoint.gateway is None or neighbor.ip == endpoint.gateway):
            return neighbor
    return None


def _source_drop(result, side):
    """The packet never reached the node side of this pod's veth."""
    endpoint = result.src if side == "src" else result.dst
    neighbor = _gateway_neighbor(result, side)
    if neighbor is not None and neighbor.state in _NEIGHBOR_FAILED:
        # Proxy ARP answers only for an address the kernel would forward from this interface: with
        # forwarding off, the neighbour failure is the symptom and the routing verdict the cause.
        if side == "src" and result.route is not None and result.route.error:
            routed = _route_drop(result, result.flow.count)
            return Drop(routed.kind, f"{routed.detail}; so proxy ARP on {endpoint.host_iface} does not answer "
                                     f"{endpoint.ip}'s ARP for {neighbor.ip} ({neighbor.state or 'no entry'})",
                        packets=routed.packets)
        return _neighbor_drop(result, neighbor, side, result.flow.count)
    what = _REQUEST_WORD[result.flow.proto] if side == "src" else _REPLY_WORD[result.flow.proto]
    return Drop("unknown", f"the {what} never left {endpoint.ip}'s {endpoint.pod_iface} towards "
                           f"{endpoint.host_iface}", packets=result.flow.count)


def _neighbor_drop(result, neighbor, side, packets):
    endpoint = result.src if side == "src" else result.dst
    state = neighbor.state or "no entry"
    return Drop("neighbor", f"{endpoint.ip} cannot resolve its gateway {neighbor.ip} on {neighbor.dev} "
                            f"({state}): proxy ARP on {endpoint.host_iface} does not answer",
                packets=packets)


def _node_drop(result, lost, base_chains, direction):
    """The node's stack took the packet in and did not send it on: who dropped it, in kernel order."""
    drops = _counter_drops(result, base_chains, lost)
    before_routing = [m for m in drops if _hook(m, base_chains) == "PREROUTING"]
    if before_routing:
        return _counter_drop(before_routing[0], result)
    if direction == "request":
        routed = _route_drop(result, lost)
        if routed is not None:
            return routed
    if drops:
        return _counter_drop(drops[0], result)
    errors = [e for e in (result.sent.errors if result.sent else ()) if e]
    too_big = next((m for m in map(_FRAG_NEEDED.search, errors) if m), None)
    if too_big and direction == "request":
        return Drop("route", f"the node answers 'fragmentation needed, mtu {too_big.group(1)}': the "
                             f"{result.flow.size or ''}-byte packet does not fit the route's MTU towards "
                             f"{result.dst.host_iface}", packets=lost)
    kernel = {k.name: k for k in result.kernel_counters}
    for name in _RP_FILTER_COUNTERS:
        if name in kernel:
            return Drop("rp_filter", f"the kernel's reverse-path filter dropped it ({name} +{kernel[name].delta})",
                        packets=kernel[name].delta)
    conntrack = result.conntrack
    if conntrack is not None and conntrack.count is not None and conntrack.max and conntrack.count >= conntrack.max:
        return Drop("conntrack", f"the conntrack table is full ({conntrack.count}/{conntrack.max})", packets=lost)
    for name in _CONNTRACK_COUNTERS:
        if name in kernel:
            return Drop("conntrack", f"conntrack dropped it ({name} +{kernel[name].delta})",
                        packets=kernel[name].delta)
    moved = ", ".join(f"{k.name} +{k.delta}" for k in result.kernel_counters[:4])
    entry, exit_ = ((result.src.host_iface, result.dst.host_iface) if direction == "request"
                    else (result.dst.host_iface, result.src.host_iface))
    detail = f"dropped inside the node between {entry} and {exit_}; no rule counter moved"
    if errors:
        detail += f"; the source got: {errors[0]}"
    elif moved:
        detail += f"; kernel counters: {moved}"
    return Drop("unknown", detail, packets=lost)


def _counter_drops(result, base_chains, lost):
    """DROP/REJECT rules and DROP policies that rose, in the order a forwarded packet meets them.

    Counters are node-wide: on a busy node an unrelated rule may rise by a packet or two in the same
    second. A drop that rose by at least the number of probes lost is trusted over one that rose by
    fewer, which is named only when nothing else explains the loss."""
    drops = [m for m in result.counters if (m.target or "").upper() in _DROP_TARGETS
             or (m.rule is None and (m.target or "").upper() == "DROP")]
    enough = [m for m in drops if m.packets >= lost]
    drops = enough or drops
    return sorted(drops, key=lambda m: (_HOOK_ORDER.index(_hook(m, base_chains))
                                        if _hook(m, base_chains) in _HOOK_ORDER else len(_HOOK_ORDER),
                                        _TABLE_ORDER.index(m.table) if m.table in _TABLE_ORDER else len(_TABLE_ORDER)))


def _hook(move, base_chains):
    if move.chain in _HOOK_ORDER:
        return move.chain
    return base_chains.get((move.backend, move.table, move.chain)) or _TABLE_HOOK.get(move.table, move.chain)


def _counter_drop(move, result):
    fired = _last_fired_before(move, result.counters)
    after = f"; the last rule that fired before it: {fired.rule}" if fired else ""
    if move.rule is None:
        return Drop("policy", f"{move.chain} policy {move.target} ({move.backend}, table {move.table}), "
                              f"+{move.packets} packets{after}", backend=move.backend, table=move.table,
                    chain=move.chain, rule=None, packets=move.packets)
    return Drop("rule", f"{move.rule} ({move.backend}, table {move.table}), +{move.packets} packets{after}",
                backend=move.backend, table=move.table, chain=move.chain, rule=move.rule, packets=move.packets)


def _last_fired_before(drop, moves):
    """The last ACCEPT or jump of the same backend and table whose counter rose, listed before the drop
    (moves come in ruleset order): where the packet was last seen inside netfilter. For a policy, the
    last rule of its own chain that fired: the jump the packet came back from before falling off the end."""
    last = None
    for move in moves:
        if move is drop and drop.rule is not None:
            break
        if drop.rule is None and move.chain != drop.chain:
            continue
        if move.backend == drop.backend and move.table == drop.table and move.rule is not None \
                and (move.target or "").upper() not in _DROP_TARGETS:
            last = move
    return last


def _route_drop(result, lost):
    route = result.route
    if route is None:
        return None
    if route.error:
        if "cross-device" in route.error.lower():
            return Drop("rp_filter", f"the kernel refuses {result.flow.src} on {result.src.host_iface} "
                                     f"(reverse-path filter): ip route get answers '{route.error}'", packets=lost)
        return Drop("route", f"the kernel will not forward from {result.src.host_iface}: ip route get answers "
                             f"'{route.error}' (forwarding off on the node or on {result.src.host_iface})",
                    packets=lost)
    if route.dev and route.dev != result.dst.host_iface:
        via = f" via {route.via}" if route.via else ""
        table = f" (table {route.table})" if route.table and route.table != "main" else ""
        return Drop("route", f"the kernel routes {result.flow.dst}{via} dev {route.dev}{table}, "
                             f"not to {result.dst.host_iface}", packets=lost)
    return None


def _veth_drop(result, hops):
    """Seen leaving the node on the destination's cali*, never arriving in the pod."""
    errors = [e for e in (result.sent.errors if result.sent else ()) if e]
    kernel = [k for k in result.kernel_counters if k.name.startswith(result.dst.host_iface + ".")]
    detail = f"the packet left the node on {result.dst.host_iface} and never reached {result.dst.ip}'s " \
             f"{result.dst.pod_iface}"
    if result.dst.mtu and result.flow.size and result.flow.size > result.dst.mtu:
        detail += f": {result.flow.size} bytes is larger than its MTU {result.dst.mtu}"
    elif kernel:
        detail += f" ({', '.join(f'{k.name} +{k.delta}' for k in kernel)})"
    elif errors:
        detail += f"; the source got: {errors[0]}"
    return Drop("unknown", detail, packets=hops["dst-host"].requests if "dst-host" in hops else 0)


def summary(result: ProbeResult) -> str:
    """One line, the way an engineer says it after the trace."""
    word = _REQUEST_WORD[result.flow.proto]
    seen = [_label(result, h) for h in result.hops if h.requests]
    unseen = [_label(result, h) for h in result.hops if not h.requests]
    if result.replied and not result.drop:
        return (f"the {_PLURAL[word]} from {result.flow.src} reached {result.flow.dst} and the "
                f"{_PLURAL[_REPLY_WORD[result.flow.proto]]} "
                f"came back ({result.sent.replies}/{result.flow.count}): the path works")
    if not seen:
        text = f"{word} seen on none of {', '.join(unseen)}" if unseen else f"{word} seen nowhere"
    else:
        text = f"{word} seen on {', '.join(seen)}" + (f", not on {', '.join(unseen)}" if unseen else "")
    if result.reached and not result.replied:
        text += f"; no {_REPLY_WORD[result.flow.proto]} came back"
    if result.drop:
        text += f"; {_drop_phrase(result.drop)}"
    return text


def _label(result, hop):
    """A hop as a person names it: the pods' interfaces are all eth0, so say whose."""
    if hop.role == "src-pod":
        return f"{hop.where} of {result.src.ip}"
    if hop.role == "dst-pod":
        return f"{hop.where} of {result.dst.ip}"
    return hop.where


def _drop_phrase(drop):
    if drop.kind == "policy":
        return f"dropped by {drop.chain} policy DROP ({drop.backend}), +{drop.packets} packets"
    if drop.kind == "rule":
        return f"dropped by {drop.rule} ({drop.backend}, {drop.table}), +{drop.packets} packets"
    return drop.detail


def observation(result: ProbeResult, source: str) -> dict:
    """The `observations` item of a facts dump that tells the engine what the probe saw."""
    drop = result.drop
    item = {
        "kind": "probe", "text": summary(result),
        "seen_on": [h.where for h in result.hops if h.requests],
        "not_seen_on": [h.where for h in result.hops if not h.requests],
        "result": "ok" if result.replied and not drop else "failed",
        "reached": result.reached, "replied": result.replied,
        "last_seen": result.last_seen, "last_seen_role": result.last_seen_role,
        "drop_kind": drop.kind if drop else None, "drop_backend": drop.backend if drop else None,
        "drop_table": drop.table if drop else None, "drop_chain": drop.chain if drop else None,
        "drop_rule": drop.rule if drop else None, "drop_packets": drop.packets if drop else None,
        "drop_detail": drop.detail if drop else None,
        "route_verdict": result.route.text if result.route else None,
        "route_dev": result.route.dev if result.route else None,
        "route_error": result.route.error if result.route else None,
        "proto": result.flow.proto, "size": result.flow.size,
        "large": bool(result.flow.dont_fragment and result.flow.size and result.src.mtu
                      and result.flow.size >= result.src.mtu),
        "src_ip": result.flow.src, "dst_ip": result.flow.dst,
        "src_iface": result.src.host_iface, "dst_iface": result.dst.host_iface,
        "source": source,
    }
    return {key: value for key, value in item.items() if value is not None}
