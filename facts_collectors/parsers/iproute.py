"""iproute2 output -> `interfaces`, `routes`, `ip_rules` facts and pod `neighbors` items.

Accepts every form a sosreport or a `calicoctl node diags` bundle holds:
  - `ip link`, `ip -d -s link`, `ip addr`, `ip -d address` (one record spread over indented lines)
    and `ip -o link` / `ip -o addr` (one record per line, the newlines written as `\\`);
  - `ip route show table all` and `ip -d route ...` (which adds `unicast`, `table main`,
    `proto boot` and `scope global` to every route);
  - `ip rule list`, `ip neigh show` with or without `-s`/`-s -s`.
Lines that do not fit the grammar (stderr, `Message truncated`, junk) are skipped.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import (
    NUMBER,
    cut_is_continuation,
    is_ip_address,
    is_ip_network,
    is_mac,
    ref,
    split_lines,
    strip_peer,
    to_int,
    value_after,
)

# `2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP ...`
_LINK_HEADER = re.compile(rf"^({NUMBER}):\s+(\S+?):\s+<([^>]*)>(.*)$")
# `2: eth0    inet 198.18.0.10/24 scope global eth0` (one line of `ip -o addr`)
_ADDR_LINE = re.compile(rf"^({NUMBER}):\s+(\S+)\s+(inet6?)\s+(\S+)")
# `ip -o` writes each newline of the multi-line form as a backslash; the indentation follows.
_ONELINE_SEPARATOR = re.compile(r"\\(?=\s)")
_KIND_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
# Indented lines of `ip link`/`ip addr` that never name the device kind.
_NOT_KIND_LINES = {"inet", "inet6", "altname", "alias", "valid_lft", "vf", "prop", "cache"}


@parser(Specs.ip_address, Specs.ip_link, Specs.pod_address)
def parse_ip_link(text, source):
    r"""Interfaces from `ip [-d] [-s] link|addr`, multi-line or `-o` one-line form.

    Each item: {name, index, kind, state, flags, mtu, mac, peer, master, addresses, source};
    keys whose value the output does not show are left out. `name` has the `@...` part removed
    and that part becomes `peer` (`if4` for a veth whose peer is ifindex 4 in another netns).
    `kind` is the `-d` type line's first word (veth, vxlan, bridge, tun, ...) when present, else
    the link type (`link/ether` -> ether, `link/loopback` -> loopback, `link/ipip` -> ipip).

    `ip link` on a lab node (three of its interfaces):

    >>> text = '''\
    ... 2: eth0@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000
    ...     link/ether 52:54:00:12:00:10 brd ff:ff:ff:ff:ff:ff link-netns crp-uplink
    ... 3: vxlan.calico: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1450 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
    ...     link/ether 66:6b:b1:00:00:01 brd ff:ff:ff:ff:ff:ff
    ... 6: cali1a2b3c4d5e6@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000
    ...     link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns crp-pod1
    ... '''
    >>> for interface in parse_ip_link(text, "sos_commands/networking/ip_link"):
    ...     print(interface["name"], interface["kind"], interface.get("peer"), interface["mtu"],
    ...           interface["state"], interface["mac"], interface["source"])
    eth0 ether if2 1500 UP 52:54:00:12:00:10 sos_commands/networking/ip_link:1
    vxlan.calico ether None 1450 UNKNOWN 66:6b:b1:00:00:01 sos_commands/networking/ip_link:3
    cali1a2b3c4d5e6 ether if2 1500 UP ee:ee:ee:ee:ee:ee sos_commands/networking/ip_link:5

    With `-d`, the line after `link/ether` names the kind; addresses come from `ip address`:

    >>> text = '''\
    ... 6: cali1a2b3c4d5e6@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default qlen 1000
    ...     link/ether ee:ee:ee:ee:ee:ee brd ff:ff:ff:ff:ff:ff link-netns crp-pod1 promiscuity 0  allmulti 0 minmtu 68 maxmtu 65535
    ...     veth numtxqueues 2 numrxqueues 2 gso_max_size 65536 gso_max_segs 65535 tso_max_size 524280 tso_max_segs 65535 gro_max_size 65536
    ...     inet6 fe80::ecee:eeff:feee:eeee/64 scope link
    ...        valid_lft forever preferred_lft forever
    ... '''
    >>> [(i["name"], i["kind"], i["addresses"]) for i in parse_ip_addr(text, "ip_-d_address")]
    [('cali1a2b3c4d5e6', 'veth', ['fe80::ecee:eeff:feee:eeee/64'])]
    """
    interfaces = []
    by_index = {}
    lines, cut = split_lines(text)
    current = None
    for lineno, line in lines:
        segments = _ONELINE_SEPARATOR.split(line)
        header, continuations = segments[0], segments[1:]
        if header[:1] in (" ", "\t"):
            if current is not None:
                _read_detail_line(current, header)
            continue
        started = _start_interface(header, lineno, source, interfaces, by_index)
        if started is None:
            continue  # stderr or junk between records: the open record goes on
        current = started
        for continuation in continuations:
            _read_detail_line(current, continuation)
        if continuations:
            current = None  # `-o`: the record is complete on its line
    if cut_is_continuation(cut) and current is not None:
        # The file was cut inside this interface's lines: its addresses may be missing.
        _drop(current, interfaces, by_index)
    return [_finish(interface) for interface in interfaces]


parse_ip_addr = parse_ip_link


def _start_interface(header, lineno, source, interfaces, by_index):
    """Open (or, for `ip -o addr`'s repeated lines, reopen) the interface a header line names."""
    match = _LINK_HEADER.match(header)
    if match:
        index, raw_name, flags, rest = match.groups()
        interface = _interface(int(index), raw_name, lineno, source, interfaces, by_index)
        tokens = rest.split()
        interface["flags"] = [flag for flag in flags.split(",") if flag]
        mtu = to_int(value_after(tokens, "mtu"))
        if mtu is not None:
            interface["mtu"] = mtu
        for key in ("state", "master"):
            value = value_after(tokens, key)
            if value is not None:
                interface[key] = value
        return interface
    match = _ADDR_LINE.match(header)
    if match:
        index, raw_name, _family, address = match.groups()
        interface = _interface(int(index), raw_name, lineno, source, interfaces, by_index)
        interface["addresses"].append(address)
        return interface
    return None


def _interface(index, raw_name, lineno, source, interfaces, by_index):
    name, peer = strip_peer(raw_name)
    interface = by_index.get((index, name))
    if interface is None:
        interface = {"name": name, "index": index, "addresses": [], "source": ref(source, lineno)}
        if peer:
            interface["peer"] = peer
        interfaces.append(interface)
        by_index[(index, name)] = interface
    return interface


def _drop(interface, interfaces, by_index):
    interfaces.remove(interface)
    by_index.pop((interface["index"], interface["name"]), None)


def _read_detail_line(interface, line):
    """One indented line of an interface record: link/<type>, the `-d` type line, addresses."""
    tokens = line.split()
    if not tokens:
        return
    first = tokens[0]
    if first.startswith("link/"):
        interface["_link_type"] = first[len("link/"):]
        if len(tokens) > 1 and is_mac(tokens[1]):
            interface["mac"] = tokens[1]
        interface["_expect_kind"] = True
        return
    expect_kind = interface.pop("_expect_kind", False)
    if first in ("inet", "inet6"):
        if len(tokens) > 1:
            interface["addresses"].append(tokens[1])
        return
    # With -d, the line right after link/ names the kind (`veth ...`, `vxlan id 4096 ...`),
    # unless the device has none (a NIC): then it may be slave info (`bond_slave ...`).
    if (expect_kind and _KIND_WORD.match(first) and first not in _NOT_KIND_LINES
            and not first.endswith("_slave")):
        interface["kind"] = first


_INTERFACE_FIELDS = (
    "name", "index", "kind", "state", "flags", "mtu", "mac", "peer", "master", "addresses", "source",
)


def _finish(interface):
    """Drop the parsing state and fill `kind` from the link type; keys in the schema's order."""
    link_type = interface.get("_link_type")
    if "kind" not in interface and link_type:
        interface["kind"] = link_type
    return {key: interface[key] for key in _INTERFACE_FIELDS if key in interface}


# --- routes ---------------------------------------------------------------------------------

ROUTE_TYPES = {
    "unicast", "local", "broadcast", "multicast", "blackhole", "unreachable", "prohibit",
    "throw", "nat", "anycast", "xresolve",
}
# iproute2 leaves these out unless -d is given (ip/iproute.c print_route), so a route printed
# without them has exactly these values; filling them in makes both forms give equal facts.
_ROUTE_DEFAULTS = {"table": "main", "type": "unicast", "proto": "boot", "scope": "global"}


@parser(Specs.ip_route, Specs.pod_route)
def parse_ip_route(text, source):
    r"""Routes from `ip [-d] route show [table all]`.

    Each item: {table, type, dst, dev, via, scope, proto, src, metric, onlink, source}; table,
    type, proto and scope always present (defaults main/unicast/boot/global, the values iproute2
    hides without -d), dev/via/src/metric only when printed. `dst` is `default` or the prefix as
    written (a host route `10.65.0.2` stays without /32). A multipath route gives one item per
    `nexthop` line (with that line as source and its via/dev), since each is a way out.

    `ip route show table all` on a lab node (a cut: main table and one multipath route):

    >>> text = '''\
    ... default via 198.18.0.1 dev eth0
    ... 198.18.0.0/24 dev eth0 proto kernel scope link src 198.18.0.10
    ... blackhole 198.18.128.0/26 proto 80
    ... 198.18.128.1 dev cali1a2b3c4d5e6 scope link
    ... 198.18.129.0/26 via 198.18.129.0 dev vxlan.calico proto 80 onlink
    ... 198.18.131.0/26 proto 80
    ...     nexthop via 198.18.0.11 dev eth0 weight 1
    ...     nexthop via 198.18.0.12 dev eth0 weight 2
    ... '''
    >>> for route in parse_ip_route(text, "sos_commands/networking/ip_route_show_table_all"):
    ...     print(route["type"], route["dst"], route.get("dev"), route.get("via"), route["proto"], route["source"])
    unicast default eth0 198.18.0.1 boot sos_commands/networking/ip_route_show_table_all:1
    unicast 198.18.0.0/24 eth0 None kernel sos_commands/networking/ip_route_show_table_all:2
    blackhole 198.18.128.0/26 None None 80 sos_commands/networking/ip_route_show_table_all:3
    unicast 198.18.128.1 cali1a2b3c4d5e6 None boot sos_commands/networking/ip_route_show_table_all:4
    unicast 198.18.129.0/26 vxlan.calico 198.18.129.0 80 sos_commands/networking/ip_route_show_table_all:5
    unicast 198.18.131.0/26 eth0 198.18.0.11 80 sos_commands/networking/ip_route_show_table_all:7
    unicast 198.18.131.0/26 eth0 198.18.0.12 80 sos_commands/networking/ip_route_show_table_all:8
    """
    routes = []
    lines, cut = split_lines(text)
    head = None  # the route whose indented `nexthop` lines may follow
    for lineno, line in lines:
        if line[:1] in (" ", "\t"):
            tokens = line.split()
            if head is not None and tokens and tokens[0] == "nexthop":
                route = _route_with_nexthop(head["route"], tokens[1:], ref(source, lineno))
                head["nexthops"].append(route)
            continue  # `cache ...` and other continuations carry nothing the facts keep
        if head is not None:
            routes.extend(head["nexthops"] or [head["route"]])
        route = _route(line.split(), ref(source, lineno))
        head = {"route": route, "nexthops": []} if route else None
    if head is not None and not cut_is_continuation(cut):
        routes.extend(head["nexthops"] or [head["route"]])
    return routes


def _route(tokens, source):
    if not tokens:
        return None
    route = dict(_ROUTE_DEFAULTS)
    if tokens[0] in ROUTE_TYPES:
        route["type"] = tokens.pop(0)
    if not tokens or not (tokens[0] == "default" or is_ip_network(tokens[0])):
        return None
    route["dst"] = tokens[0]
    _read_route_attributes(route, tokens[1:])
    route["source"] = source
    return _in_schema_order(route)


def _route_with_nexthop(head, tokens, source):
    route = {key: value for key, value in head.items() if key not in ("via", "dev")}
    _read_route_attributes(route, tokens)
    route["source"] = source
    return _in_schema_order(route)


_ROUTE_FIELDS = (
    "table", "type", "dst", "dev", "via", "scope", "proto", "src", "metric", "onlink", "source",
)


def _in_schema_order(route):
    return {key: route[key] for key in _ROUTE_FIELDS if key in route}


def _read_route_attributes(route, tokens):
    position = 0
    while position < len(tokens):
        word = tokens[position]
        following = tokens[position + 1] if position + 1 < len(tokens) else None
        if word == "onlink":
            route["onlink"] = True
        elif word == "via" and following in ("inet", "inet6"):
            # `via inet6 fe80::1`: a gateway of the other address family.
            if position + 2 < len(tokens):
                route["via"] = tokens[position + 2]
            position += 2
        elif word in ("dev", "via", "table", "proto", "scope", "src") and following is not None:
            route[word] = following
            position += 1
        elif word == "metric" and to_int(following) is not None:
            route["metric"] = to_int(following)
            position += 1
        position += 1
    route.setdefault("onlink", False)


# --- rules ----------------------------------------------------------------------------------

_RULE_LINE = re.compile(rf"^({NUMBER}):\s+(.*\S)\s*$")
_RULE_ACTIONS = ("lookup", "table", "goto", "blackhole", "unreachable", "prohibit", "nop")


@parser(Specs.ip_rule)
def parse_ip_rule(text, source):
    r"""Policy rules from `ip [-4|-6] rule list`: {priority, selector, action, table, source}.

    `99:	not from all fwmark 0x100000/0x100000 lookup 1` gives selector
    `not from all fwmark 0x100000/0x100000`, action `lookup`, table `1`. Actions other than
    lookup (`prohibit`, `goto`, ...) have no table.

    `ip -4 rule list` on a lab node:

    >>> text = '''\
    ... 0:\tfrom all lookup local
    ... 99:\tnot from all fwmark 0x100000/0x100000 lookup 1
    ... 100:\tfrom 198.18.136.0/24 lookup 200
    ... 101:\tfrom all to 198.18.135.0/24 prohibit
    ... 32766:\tfrom all lookup main
    ... 32767:\tfrom all lookup default
    ... '''
    >>> for rule in parse_ip_rule(text, "sos_commands/networking/ip_-4_rule_list"):
    ...     print(rule["priority"], rule["selector"], rule.get("action"), rule.get("table"))
    0 from all lookup local
    99 not from all fwmark 0x100000/0x100000 lookup 1
    100 from 198.18.136.0/24 lookup 200
    101 from all to 198.18.135.0/24 prohibit None
    32766 from all lookup main
    32767 from all lookup default
    """
    rules = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        match = _RULE_LINE.match(line)
        if not match:
            continue
        tokens = match.group(2).split()
        if tokens[0] not in ("from", "not"):
            continue
        rule = {"priority": int(match.group(1))}
        action_at = next((i for i, token in enumerate(tokens) if token in _RULE_ACTIONS), None)
        if action_at is None:
            rule["selector"] = " ".join(tokens)
        else:
            rule["selector"] = " ".join(tokens[:action_at])
            action = tokens[action_at]
            rule["action"] = "lookup" if action == "table" else action
            if rule["action"] == "lookup" and action_at + 1 < len(tokens):
                rule["table"] = tokens[action_at + 1]
        rule["source"] = ref(source, lineno)
        rules.append(rule)
    return rules


# --- neighbours -----------------------------------------------------------------------------

NEIGHBOUR_STATES = {
    "PERMANENT", "NOARP", "REACHABLE", "STALE", "NONE", "INCOMPLETE", "DELAY", "PROBE", "FAILED",
}


@parser(Specs.pod_neigh)
def parse_ip_neigh(text, source):
    r"""Neighbours from `ip [-s [-s]] neigh show`: {ip, dev, lladdr, state, source} (pod shape).

    The state is the last word; `-s` inserts `ref`/`used`/`probes` fields before it (and
    iproute2 6.1 glues `probes` to the `used` value), which are ignored. Entries without an
    lladdr (INCOMPLETE, FAILED) have none; lines without a known state are skipped.

    `ip -s -s neigh show` on a lab node:

    >>> text = '''\
    ... 198.18.129.0 dev vxlan.calico lladdr 66:6b:b1:00:00:02  used 4/4/4probes 0 PERMANENT
    ... 198.18.0.1 dev eth0 lladdr 52:54:00:12:00:01  ref 1 used 4/4/4probes 4 REACHABLE
    ... 198.18.0.99 dev eth0  used 4/64/1probes 6 FAILED
    ... 198.18.0.11 dev eth0 lladdr 52:54:00:12:00:11  used 4/64/4probes 0 STALE
    ... '''
    >>> for neighbour in parse_ip_neigh(text, "sos_commands/networking/ip_-s_-s_neigh_show"):
    ...     print(neighbour["ip"], neighbour["dev"], neighbour.get("lladdr"), neighbour["state"])
    198.18.129.0 vxlan.calico 66:6b:b1:00:00:02 PERMANENT
    198.18.0.1 eth0 52:54:00:12:00:01 REACHABLE
    198.18.0.99 eth0 None FAILED
    198.18.0.11 eth0 52:54:00:12:00:11 STALE
    """
    neighbours = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        tokens = line.split()
        if len(tokens) < 2 or not is_ip_address(tokens[0]) or tokens[-1] not in NEIGHBOUR_STATES:
            continue
        neighbour = {"ip": tokens[0]}
        for key in ("dev", "lladdr"):
            value = value_after(tokens, key)
            if value is not None and value not in NEIGHBOUR_STATES:
                neighbour[key] = value
        neighbour["state"] = tokens[-1]
        neighbour["source"] = ref(source, lineno)
        neighbours.append(neighbour)
    return neighbours
