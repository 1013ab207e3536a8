"""Send the probe from inside the source pod's namespace and collect what comes back.

ICMP: echo requests on a raw socket, id = flow.ident, seq 1..count. TCP: one non-blocking connect per
probe (a SYN), from source port ident + n - 1 so each probe is its own connection; a SYN-ACK or a RST
is an answer from the destination. UDP: one datagram per probe from port ident; a datagram back or a
port unreachable from the destination is an answer. For every protocol a raw ICMP socket listens for
errors about the probe (fragmentation needed with its MTU, unreachable, administratively prohibited)
and reports them as one line each.

The sockets are opened inside the pod's namespace (`run_in_netns`) and closed on every way out.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import random
import select
import socket
import struct
import time

from calirules.base.errors import InputError

from . import frames
from .model import PROTOCOLS, Endpoint, Flow, SendResult
from .nsthread import run_in_netns

IP_MTU_DISCOVER = 10
# DF set, the cached path MTU ignored: every probe leaves the pod even after the first one drew a
# fragmentation-needed error (with IP_PMTUDISC_DO the later ones would fail locally, unseen on the path).
IP_PMTUDISC_PROBE = 3
IP_HEADER, ICMP_HEADER, UDP_HEADER = 20, 8, 8
DEFAULT_ICMP_SIZE = 84          # ping's default: 56 bytes of data
MAX_COUNT = 100
# The kernel resends an unanswered SYN after 1 s (TCP_TIMEOUT_INIT); a probe socket closed before
# that sends exactly one SYN, so the captures count one request per probe.
TCP_PROBE_LIFETIME = 0.9
PORT_RANGE = (40000, 59000)     # source ports for tcp/udp probes, inside the usual ephemeral range


def new_flow(proto: str, src_ip: str, dst_ip: str, port: int | None = None, count: int = 3,
             size: int | None = None, dont_fragment: bool = False) -> Flow:
    """The probe's packets, with the ICMP id / source port chosen now so the captures can match it.
    size is the IP packet length of an ICMP or UDP probe (a TCP probe is a bare SYN)."""
    if proto not in PROTOCOLS:
        raise InputError(f"unknown protocol {proto!r}: give icmp, tcp:PORT or udp:PORT")
    for what, address in (("source", src_ip), ("destination", dst_ip)):
        try:
            if not isinstance(address, str):
                raise ValueError(address)
            ipaddress.IPv4Address(address)
        except ValueError:
            raise InputError(f"{what} {address!r} is not an IPv4 address") from None
    if proto == "icmp":
        if port is not None:
            raise InputError("an ICMP probe takes no port: give --proto tcp:PORT or udp:PORT for one")
        ident = random.randint(1, 0xFFFF)
    else:
        if not isinstance(port, int) or not 1 <= port <= 0xFFFF:
            raise InputError(f"a {proto} probe needs a port 1-65535, got {port!r}: give --proto {proto}:PORT")
        ident = random.randint(PORT_RANGE[0], PORT_RANGE[1] - MAX_COUNT)
    if not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
        raise InputError(f"count must be 1-{MAX_COUNT}, got {count!r}")
    floor = IP_HEADER + (ICMP_HEADER if proto == "icmp" else UDP_HEADER if proto == "udp" else 0)
    if size is not None and (not isinstance(size, int) or not max(floor, 28) <= size <= 65535):
        raise InputError(f"size is the IP packet length, {max(floor, 28)}-65535; got {size!r}")
    return Flow(proto=proto, src=src_ip, dst=dst_ip, port=port, ident=ident, count=count, size=size,
                dont_fragment=bool(dont_fragment))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _payload(seq: int, length: int) -> bytes:
    """`length` bytes: the marker, the probe number, a counting filler (as ping pads its data)."""
    filler = bytes(range(256)) * (max(length, 0) // 256 + 1)
    return (frames.PAYLOAD_MARKER + struct.pack("!H", seq) + filler)[:max(length, 0)]


def echo_request(ident: int, seq: int, size: int | None) -> bytes:
    """An ICMP echo request whose IP packet is `size` bytes long."""
    length = (size or DEFAULT_ICMP_SIZE) - IP_HEADER - ICMP_HEADER
    body = _payload(seq, length)
    header = struct.pack("!BBHHH", frames.ICMP_ECHO, 0, 0, ident, seq)
    return struct.pack("!BBHHH", frames.ICMP_ECHO, 0, _checksum(header + body), ident, seq) + body


# ---- sockets, opened inside the pod ---------------------------------------------------------------

def _raw_socket_error() -> InputError:
    return InputError("sending a probe needs root (CAP_NET_RAW): run calirules probe as root")


def _open_sockets(flow: Flow) -> dict:
    """Run in the source pod's namespace: the ICMP socket, and the tcp/udp probe sockets."""
    opened: dict = {"tcp": []}
    try:
        try:
            icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except PermissionError:
            raise _raw_socket_error() from None
        opened["icmp"] = icmp
        icmp.setblocking(False)
        if flow.proto == "icmp":
            icmp.bind((flow.src, 0))
            if flow.dont_fragment:
                icmp.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        elif flow.proto == "udp":
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            opened["udp"] = udp
            udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            udp.bind((flow.src, flow.ident))
            udp.setblocking(False)
            if flow.dont_fragment:
                udp.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
        else:
            for n in range(flow.count):
                tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                opened["tcp"].append(tcp)
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                # close() = abort: a RST for an answered probe, nothing for an unanswered one
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                tcp.bind((flow.src, flow.ident + n))
                tcp.setblocking(False)
        return opened
    except OSError as exc:
        _close(opened)
        if exc.errno == errno.EADDRINUSE:
            raise InputError(f"source port {flow.ident}+ is in use in the source pod: run the probe again "
                             "(it picks another)") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InputError(f"{flow.src} is not an address of the source pod's namespace") from None
        raise
    except BaseException:
        _close(opened)
        raise


def _close(opened: dict) -> None:
    for sock in [opened.get("icmp"), opened.get("udp"), *opened.get("tcp", ())]:
        if sock is not None:
            sock.close()


# ---- the exchange ---------------------------------------------------------------------------------

class _Exchange:
    """Bookkeeping of one send(): what was sent when, what came back."""

    def __init__(self, flow: Flow, opened: dict, src_mtu: int | None = None):
        self.flow, self.opened, self.src_mtu = flow, opened, src_mtu
        self.sent_at: dict[int, float] = {}      # seq -> monotonic time
        self.answered: set[int] = set()          # seqs with a reply or an error
        self.replies = 0
        self.rtt: list[float] = []
        self.errors: list[str] = []
        self.tcp_open: dict[int, socket.socket] = {}   # seq -> probe socket still waiting

    def _seq_of(self, l4) -> int | None:
        if isinstance(l4, frames.Icmp):
            return l4.seq
        if isinstance(l4, (frames.Tcp, frames.Udp)):
            if self.flow.proto == "udp":  # one port for all: the oldest unanswered datagram
                return next((s for s in sorted(self.sent_at) if s not in self.answered), None)
            return l4.sport - self.flow.ident + 1
        return None

    def _reply(self, seq: int | None) -> None:
        self.replies += 1
        if seq is None and self.flow.proto == "udp":
            # a UDP answer does not say which datagram it answers: take the oldest unanswered one
            seq = next((s for s in sorted(self.sent_at) if s not in self.answered), None)
        if seq in self.sent_at and seq not in self.answered:
            self.answered.add(seq)
            self.rtt.append(round((time.monotonic() - self.sent_at[seq]) * 1000.0, 3))

    def send(self, seq: int) -> None:
        flow = self.flow
        try:
            if flow.proto == "icmp":
                self.opened["icmp"].sendto(echo_request(flow.ident, seq, flow.size), (flow.dst, 0))
            elif flow.proto == "udp":
                length = (flow.size - IP_HEADER - UDP_HEADER) if flow.size else len(frames.PAYLOAD_MARKER) + 2
                self.opened["udp"].sendto(_payload(seq, length), (flow.dst, flow.port))
            else:
                sock = self.opened["tcp"][seq - 1]
                code = sock.connect_ex((flow.dst, flow.port))
                if code not in (0, errno.EINPROGRESS):
                    raise OSError(code, os.strerror(code))
                self.tcp_open[seq] = sock
        except OSError as exc:
            self.errors.append(f"probe {seq}: not sent: {self._oserror(exc)}")
            return
        self.sent_at[seq] = time.monotonic()

    def _oserror(self, exc: OSError) -> str:
        text = exc.strerror or str(exc)
        if exc.errno == errno.EMSGSIZE and self.src_mtu:
            text += f" (the source pod's MTU is {self.src_mtu})"
        return text

    def read_icmp(self) -> None:
        icmp = self.opened["icmp"]
        while True:
            try:
                data = icmp.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            pkt = frames.parse_ipv4(data)
            if pkt is None:
                continue
            kind = frames.classify_packet(pkt, self.flow)
            if kind == "reply":  # an echo reply (tcp/udp answers arrive on their own sockets)
                self._reply(pkt.l4.seq)
            elif kind == "error":
                error = pkt.l4
                seq = self._seq_of(error.inner.l4) if error.inner else None
                if (self.flow.proto == "udp" and error.type == frames.ICMP_DEST_UNREACH
                        and error.code == frames.PORT_UNREACH and pkt.src == self.flow.dst):
                    self._reply(seq)  # the destination answered: nothing listens on that port
                    continue
                if seq in self.tcp_open:
                    self.tcp_open.pop(seq).close()  # its connect failed because of this error
                if seq is not None:
                    self.answered.add(seq)
                label = f"probe {seq}" if seq is not None else "probe"
                self.errors.append(f"{label}: {error.describe()} from {pkt.src}")

    def read_udp(self) -> None:
        udp = self.opened.get("udp")
        while udp is not None:
            try:
                _data, peer = udp.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # a queued error (it is reported from the ICMP socket)
            if peer == (self.flow.dst, self.flow.port):
                self._reply(None)

    def check_tcp(self, now: float) -> None:
        for seq, sock in list(self.tcp_open.items()):
            readable = select.select([], [sock], [sock], 0)
            if readable[1] or readable[2]:
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                del self.tcp_open[seq]
                if code in (0, errno.ECONNREFUSED):  # a SYN-ACK or a RST: the destination answered
                    self._reply(seq)
                else:
                    self.answered.add(seq)
                    self.errors.append(f"probe {seq}: connect: {os.strerror(code)}")
                sock.close()
            elif now - self.sent_at[seq] >= TCP_PROBE_LIFETIME:
                del self.tcp_open[seq]
                sock.close()

    def readable(self) -> list[socket.socket]:
        return [s for s in (self.opened.get("icmp"), self.opened.get("udp")) if s is not None]


def send(src: Endpoint, flow: Flow, *, interval: float = 0.2, wait: float = 1.0) -> SendResult:
    """Send flow.count probes from inside src.netns, `interval` apart, and wait up to `wait` seconds
    after the last one for the answers (less once every probe is answered)."""
    opened = run_in_netns(src.netns, _open_sockets, flow)
    try:
        return _exchange(flow, opened, interval, wait, src.mtu)
    finally:
        _close(opened)


def _exchange(flow: Flow, opened: dict, interval: float, wait: float, src_mtu: int | None) -> SendResult:
    ex = _Exchange(flow, opened, src_mtu)
    start = time.monotonic()
    linger = min(wait, TCP_PROBE_LIFETIME) if flow.proto == "tcp" else wait
    next_seq = 1
    try:
        while True:
            now = time.monotonic()
            if next_seq <= flow.count and now >= start + (next_seq - 1) * interval:
                ex.send(next_seq)
                next_seq += 1
                continue
            # ICMP first: an error about a SYN must be seen before the connect failure it causes
            ex.read_icmp()
            ex.read_udp()
            ex.check_tcp(now)
            last = max(ex.sent_at.values(), default=start)
            if next_seq > flow.count:
                if (set(ex.sent_at) <= ex.answered and not ex.tcp_open) or now >= last + linger:
                    break
                until = last + linger
            else:
                until = start + (next_seq - 1) * interval
            until = min([until] + [ex.sent_at[seq] + TCP_PROBE_LIFETIME for seq in ex.tcp_open])
            select.select(ex.readable(), list(ex.tcp_open.values()), [], max(0.0, until - now))
    finally:
        for sock in ex.tcp_open.values():
            sock.close()
        ex.tcp_open.clear()
    return SendResult(sent=len(ex.sent_at), replies=ex.replies, rtt_ms=tuple(ex.rtt), errors=tuple(ex.errors))
