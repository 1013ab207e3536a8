"""Parse captured frames and tell whether one is part of a probe. Pure functions, no I/O.

A frame is what an AF_PACKET socket hands over: an Ethernet frame on a veth (`link="ether"`), or the
bare IP packet on a device without a link-layer header (`link="raw"`: IPIP, WireGuard). Anything that
is not IPv4 or is cut short parses to None or to a packet with fewer details; nothing here raises on
bad input.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

ETH_HLEN = 14
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100

IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP = 1, 6, 17

ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_ECHO, ICMP_TIME_EXCEEDED = 0, 3, 8, 11
ICMP_ERROR_TYPES = {3: "destination unreachable", 4: "source quench", 5: "redirect", 11: "time exceeded",
                    12: "parameter problem"}
UNREACH_CODES = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable",
                 3: "port unreachable", 4: "fragmentation needed", 5: "source route failed",
                 6: "net unknown", 7: "host unknown", 9: "net prohibited", 10: "host prohibited",
                 11: "net unreachable for TOS", 12: "host unreachable for TOS",
                 13: "administratively prohibited", 14: "host precedence violation",
                 15: "precedence cutoff"}
FRAG_NEEDED = 4
PORT_UNREACH = 3

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# A probe's payload starts with this, so its packets can be told from anything else (ICMP/UDP).
PAYLOAD_MARKER = b"calirules-probe\x00"


@dataclass(frozen=True)
class Icmp:
    type: int
    code: int
    ident: int | None = None       # echo request/reply id
    seq: int | None = None
    mtu: int | None = None         # next-hop MTU of a fragmentation-needed error
    inner: "IPv4 | None" = None    # the original packet an error is about (header + first bytes)

    @property
    def is_error(self) -> bool:
        return self.type in ICMP_ERROR_TYPES

    def describe(self) -> str:
        if self.type == ICMP_DEST_UNREACH:
            text = UNREACH_CODES.get(self.code, f"unreachable code {self.code}")
            return f"{text} (mtu {self.mtu})" if self.code == FRAG_NEEDED and self.mtu else text
        return ICMP_ERROR_TYPES.get(self.type, f"icmp type {self.type}") + f" code {self.code}"


@dataclass(frozen=True)
class Tcp:
    sport: int
    dport: int
    flags: int | None = None       # None: cut short before the flags (inside an ICMP error)

    def has(self, flag: int) -> bool:
        return self.flags is not None and bool(self.flags & flag)


@dataclass(frozen=True)
class Udp:
    sport: int
    dport: int
    payload: bytes = b""


@dataclass(frozen=True)
class IPv4:
    src: str
    dst: str
    proto: int
    total_length: int
    ident: int
    dont_fragment: bool
    frag_offset: int               # in bytes
    more_fragments: bool
    l4: "Icmp | Tcp | Udp | None" = None
    payload: bytes = b""           # what follows the L4 header (as far as captured)

    @property
    def first_fragment(self) -> bool:
        return self.frag_offset == 0


def _ip(raw: bytes) -> str:
    return socket.inet_ntoa(raw)


def parse_ipv4(data: bytes, *, inner: bool = False) -> IPv4 | None:
    """An IPv4 packet (or, inner=True, the start of one quoted in an ICMP error); None if it is not."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    if ihl < 20 or len(data) < ihl:
        return None
    total_length, ident, frag = struct.unpack_from("!HHH", data, 2)
    proto = data[9]
    offset = (frag & 0x1FFF) * 8
    body = data[ihl:total_length] if total_length >= ihl and not inner else data[ihl:]
    l4, payload = None, b""
    if offset == 0:
        l4, payload = _parse_l4(proto, body, inner)
    return IPv4(src=_ip(data[12:16]), dst=_ip(data[16:20]), proto=proto, total_length=total_length,
                ident=ident, dont_fragment=bool(frag & 0x4000), frag_offset=offset,
                more_fragments=bool(frag & 0x2000), l4=l4, payload=payload)


def _parse_l4(proto: int, body: bytes, inner: bool):
    if proto == IPPROTO_ICMP and len(body) >= 4:
        icmp_type, code = body[0], body[1]
        if icmp_type in (ICMP_ECHO, ICMP_ECHOREPLY):
            if len(body) < 8:
                return Icmp(icmp_type, code), b""
            ident, seq = struct.unpack_from("!HH", body, 4)
            return Icmp(icmp_type, code, ident=ident, seq=seq), body[8:]
        if icmp_type in ICMP_ERROR_TYPES and not inner:
            mtu = None
            if icmp_type == ICMP_DEST_UNREACH and code == FRAG_NEEDED and len(body) >= 8:
                mtu = struct.unpack_from("!H", body, 6)[0] or None
            quoted = parse_ipv4(body[8:], inner=True) if len(body) > 8 else None
            return Icmp(icmp_type, code, mtu=mtu, inner=quoted), b""
        return Icmp(icmp_type, code), b""
    if proto == IPPROTO_TCP and len(body) >= 4:
        sport, dport = struct.unpack_from("!HH", body)
        flags = body[13] if len(body) >= 14 else None
        offset = (body[12] >> 4) * 4 if len(body) >= 13 else 20
        return Tcp(sport, dport, flags), body[offset:]
    if proto == IPPROTO_UDP and len(body) >= 4:
        sport, dport = struct.unpack_from("!HH", body)
        return Udp(sport, dport, body[8:]), body[8:]
    return None, b""


def parse_frame(frame: bytes, link: str = "ether") -> IPv4 | None:
    """The IPv4 packet in a captured frame, or None (ARP, IPv6, garbage, cut short)."""
    if link != "ether":
        return parse_ipv4(bytes(frame))
    if len(frame) < ETH_HLEN:
        return None
    ethertype, start = struct.unpack_from("!H", frame, 12)[0], ETH_HLEN
    if ethertype == ETH_P_8021Q and len(frame) >= ETH_HLEN + 4:
        ethertype, start = struct.unpack_from("!H", frame, 16)[0], ETH_HLEN + 4
    if ethertype != ETH_P_IP:
        return None
    return parse_ipv4(bytes(frame[start:]))


def probe_ports(flow) -> range:
    """Source ports of a TCP/UDP probe: TCP uses one port per probe (ident, ident+1, ...), UDP one."""
    if flow.ident is None:
        return range(0)
    return range(flow.ident, flow.ident + (flow.count if flow.proto == "tcp" else 1))


def _is_request(pkt: IPv4, flow) -> bool:
    """pkt (maybe only the start of it, quoted in an ICMP error) is one of the probe's requests."""
    if pkt.src != flow.src or pkt.dst != flow.dst or not pkt.first_fragment:
        return False
    l4 = pkt.l4
    if flow.proto == "icmp":
        return (isinstance(l4, Icmp) and l4.type == ICMP_ECHO
                and (flow.ident is None or l4.ident == flow.ident))
    if flow.proto == "tcp":
        return (isinstance(l4, Tcp) and (flow.port is None or l4.dport == flow.port)
                and (flow.ident is None or l4.sport in probe_ports(flow))
                and (l4.flags is None or (l4.has(TCP_SYN) and not l4.has(TCP_ACK))))
    if flow.proto == "udp":
        return (isinstance(l4, Udp) and (flow.port is None or l4.dport == flow.port)
                and (flow.ident is None or l4.sport in probe_ports(flow)))
    return False


def _is_reply(pkt: IPv4, flow) -> bool:
    if pkt.src != flow.dst or pkt.dst != flow.src or not pkt.first_fragment:
        return False
    l4 = pkt.l4
    if flow.proto == "icmp":
        return (isinstance(l4, Icmp) and l4.type == ICMP_ECHOREPLY
                and (flow.ident is None or l4.ident == flow.ident))
    if flow.proto == "tcp":
        return (isinstance(l4, Tcp) and (flow.port is None or l4.sport == flow.port)
                and (flow.ident is None or l4.dport in probe_ports(flow))
                and (l4.has(TCP_RST) or (l4.has(TCP_SYN) and l4.has(TCP_ACK))))
    if flow.proto == "udp":
        return (isinstance(l4, Udp) and (flow.port is None or l4.sport == flow.port)
                and (flow.ident is None or l4.dport in probe_ports(flow)))
    return False


def error_about_probe(pkt: IPv4 | None, flow) -> Icmp | None:
    """The ICMP error in pkt when it is about one of the probe's requests, else None."""
    if pkt is None or pkt.dst != flow.src or not isinstance(pkt.l4, Icmp) or not pkt.l4.is_error:
        return None
    inner = pkt.l4.inner
    return pkt.l4 if inner is not None and _is_request(inner, flow) else None


def classify_packet(pkt: IPv4 | None, flow) -> str | None:
    if pkt is None:
        return None
    if _is_request(pkt, flow):
        return "request"
    if _is_reply(pkt, flow):
        return "reply"
    if error_about_probe(pkt, flow) is not None:
        return "error"
    return None


def classify(frame: bytes, flow, link: str = "ether") -> str | None:
    """"request" (src -> dst probe), "reply" (its answer), "error" (an ICMP error about a probe
    request) or None (anything else, including garbage)."""
    try:
        return classify_packet(parse_frame(frame, link), flow)
    except (struct.error, ValueError, IndexError, OSError):  # belt and braces: never raise on a frame
        return None
