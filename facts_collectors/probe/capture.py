"""AF_PACKET captures on the four interfaces the guide watches, counted per hop.

Each capture is a raw packet socket opened inside the interface's namespace and bound to it. A classic
BPF filter in the kernel keeps only IPv4 frames between the two probe addresses (and ICMP errors sent
to the source), so a busy node's veth costs a few instructions per frame and nothing is copied to us
but the probe's own traffic, cut to its headers. Frames carry the kernel's receive timestamp, so when
we get round to reading them does not change the timing.

    with CaptureSet(capture_points(src, dst, node_netns), flow) as captures:   # counting from here
        sent = send(src, flow)
        hops = captures.stop()
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass

from calirules.base.errors import InputError

from . import frames
from .model import ROLES, Endpoint, Flow, Hop
from .nsthread import run_in_netns

ETH_P_ALL = 0x0003
ARPHRD_ETHER = 1
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35            # SO_TIMESTAMPNS_OLD: struct timespec in the native layout
SNAPLEN = 256                  # headers of the frame and of the packet an ICMP error quotes
RCVBUF = 1 << 20
POLL_MS = 50
SIOCGIFFLAGS = 0x8913
IFF_UP = 0x1


@dataclass(frozen=True)
class CapturePoint:
    role: str                  # one of ROLES
    iface: str
    netns: str | None          # the namespace to open the capture in (None: the current one)
    in_node: bool = False      # a host-side interface (its Hop says netns None)


def capture_points(src: Endpoint, dst: Endpoint, node_netns: str | None) -> list[CapturePoint]:
    """The guide's four places, in path order."""
    return [CapturePoint("src-pod", src.pod_iface, src.netns),
            CapturePoint("src-host", src.host_iface, node_netns, in_node=True),
            CapturePoint("dst-host", dst.host_iface, node_netns, in_node=True),
            CapturePoint("dst-pod", dst.pod_iface, dst.netns)]


# ---- the kernel filter ----------------------------------------------------------------------------

_LD_W, _LD_H, _LD_B = 0x20, 0x28, 0x30     # BPF_LD | size | BPF_ABS
_ALU_AND, _JEQ, _RET = 0x54, 0x15, 0x06


def _assemble(program: list) -> list[tuple[int, int, int, int]]:
    """(op, k, jt-label, jf-label) / ("label", name) -> sock_filter tuples with relative jumps."""
    labels, code = {}, []
    for item in program:
        if item[0] == "label":
            labels[item[1]] = len(code)
        else:
            code.append(item)
    out = []
    for index, (op, k, jt, jf) in enumerate(code):
        def rel(target):
            return 0 if target is None else labels[target] - index - 1
        out.append((op, rel(jt), rel(jf), k))
    return out


def probe_filter(flow: Flow, ethernet: bool = True) -> list[tuple[int, int, int, int]]:
    """Accept IPv4 between flow.src and flow.dst either way, and ICMP to flow.src from anyone."""
    a = int.from_bytes(socket.inet_aton(flow.src), "big")
    b = int.from_bytes(socket.inet_aton(flow.dst), "big")
    l3 = frames.ETH_HLEN if ethernet else 0
    head = ([(_LD_H, 12, None, None), (_JEQ, frames.ETH_P_IP, None, "drop")] if ethernet else
            [(_LD_B, 0, None, None), (_ALU_AND, 0xF0, None, None), (_JEQ, 0x40, None, "drop")])
    return _assemble([
        *head,
        (_LD_W, l3 + 12, None, None),
        (_JEQ, a, None, "from_other"),
        (_LD_W, l3 + 16, None, None),
        (_JEQ, b, "accept", "drop"),
        ("label", "from_other"),
        (_JEQ, b, None, "third_party"),
        (_LD_W, l3 + 16, None, None),
        (_JEQ, a, "accept", "drop"),
        ("label", "third_party"),
        (_LD_W, l3 + 16, None, None),
        (_JEQ, a, None, "drop"),
        (_LD_B, l3 + 9, None, None),
        (_JEQ, frames.IPPROTO_ICMP, "accept", "drop"),
        ("label", "accept"),
        (_RET, SNAPLEN, None, None),
        ("label", "drop"),
        (_RET, 0, None, None),
    ])


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _attach_filter(sock: socket.socket, program) -> None:
    insns = (_SockFilter * len(program))(*[_SockFilter(*insn) for insn in program])
    prog = _SockFprog(len(program), ctypes.cast(insns, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))  # the kernel copies it


def _open_socket(iface: str, flow: Flow, where: str) -> tuple[socket.socket, bool]:
    """A filtered, non-blocking packet socket on iface (run inside the interface's namespace)."""
    try:
        # Protocol 0 receives nothing: no frame of another interface slips in before the bind.
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise InputError("capturing packets needs root (CAP_NET_RAW): run calirules probe as root") from None
    try:
        try:
            sock.bind((iface, 0))
        except OSError as exc:
            if exc.errno in (errno.ENODEV, errno.ENXIO):
                raise InputError(f"no interface {iface!r} in {where}: give an interface that exists there") from None
            raise
        ethernet = sock.getsockname()[3] == ARPHRD_ETHER
        _attach_filter(sock, probe_filter(flow, ethernet))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((iface, ETH_P_ALL))
        sock.setblocking(False)
        return sock, ethernet
    except BaseException:
        sock.close()
        raise


def _is_up(sock: socket.socket | None) -> bool:
    """Whether the socket's interface is up (SIOCGIFFLAGS on the socket's own namespace)."""
    if sock is None:
        return False
    try:
        name = sock.getsockname()[0]
        request = struct.pack("16sH22x", name.encode()[:15], 0)
        flags = struct.unpack_from("16sH", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
    except OSError:
        return False
    return bool(flags & IFF_UP)


def _timestamp(ancdata) -> float | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("@qq", data)
            return sec + nsec / 1e9
    return None


class Capture:
    """One capture point. Counts the probe's requests and replies (answers and ICMP errors about it)."""

    def __init__(self, netns: str | None, iface: str, role: str, flow: Flow, *, in_node: bool | None = None):
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        self.netns, self.iface, self.role, self.flow = netns, iface, role, flow
        self.in_node = role.endswith("-host") if in_node is None else in_node
        self.sock: socket.socket | None = None
        self.link = "ether"
        self.t0: float | None = None
        self.requests = self.replies = 0
        self.first: float | None = None
        self.last: float | None = None
        self.iface_down = False

    # context manager: the socket lives exactly as long as the with block
    def __enter__(self) -> "Capture":
        self.open()
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        if self.sock is None:
            where = f"network namespace {self.netns!r}" if self.netns else "this network namespace"
            self.sock, ethernet = run_in_netns(self.netns, _open_socket, self.iface, self.flow, where)
            self.link = "ether" if ethernet else "raw"
            self._drain()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def fileno(self) -> int:
        return self.sock.fileno() if self.sock is not None else -1

    def _drain(self) -> None:
        while self.sock is not None:
            try:
                self.sock.recv(SNAPLEN)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._socket_error(exc)

    def _socket_error(self, exc: OSError) -> None:
        # A packet socket on a down (or vanished) interface reports ENETDOWN once, then stays quiet;
        # that is an observation about the path, not a failure of the probe.
        if exc.errno not in (errno.ENETDOWN, errno.ENXIO, errno.ENODEV):
            raise exc
        self.iface_down = True

    def start(self, t0: float | None = None) -> None:
        """Forget anything seen so far; times are reported in ms after t0 (a time.time() value)."""
        self._drain()
        self.t0 = time.time() if t0 is None else t0
        self.requests = self.replies = 0
        self.first = self.last = None
        self.iface_down = self.iface_down or not _is_up(self.sock)

    def read(self) -> int:
        """Count every frame queued now; how many were read."""
        count = 0
        while self.sock is not None:
            try:
                frame, ancdata, _flags, _addr = self.sock.recvmsg(SNAPLEN, 64)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._socket_error(exc)
                continue
            count += 1
            kind = frames.classify(frame, self.flow, self.link)
            if kind == "request":
                self.requests += 1
                stamp = _timestamp(ancdata) or time.time()
                self.first = stamp if self.first is None else min(self.first, stamp)
                self.last = stamp if self.last is None else max(self.last, stamp)
            elif kind in ("reply", "error"):
                self.replies += 1
        return count

    def hop(self) -> Hop:
        t0 = self.t0 if self.t0 is not None else time.time()

        def ms(stamp):
            return None if stamp is None else round((stamp - t0) * 1000.0, 3)
        return Hop(where=self.iface, role=self.role, netns=None if self.in_node else self.netns,
                   requests=self.requests, replies=self.replies, first_ms=ms(self.first), last_ms=ms(self.last),
                   iface_down=self.iface_down)

    def stop(self) -> Hop:
        self.read()
        return self.hop()


class CaptureSet:
    """All capture points at once, read by one thread while the probe runs."""

    def __init__(self, points: list, flow: Flow):
        """points: CapturePoints, or (netns, iface, role) tuples."""
        points = [p if isinstance(p, CapturePoint) else CapturePoint(p[2], p[1], p[0], in_node=p[2].endswith("-host"))
                  for p in points]
        self.captures = [Capture(p.netns, p.iface, p.role, flow, in_node=p.in_node) for p in points]
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None
        self._reader_error: BaseException | None = None

    def __enter__(self) -> "CaptureSet":
        """Open every capture and start counting (start() again to restart the clock and the counts)."""
        try:
            for capture in self.captures:
                capture.open()
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, t0: float | None = None) -> float:
        """Forget what was seen so far and count from now; t0 (a time.time() value, default now) is
        what the hops' times are measured from. Returns t0."""
        self._join()
        t0 = time.time() if t0 is None else t0
        for capture in self.captures:
            capture.start(t0)
        self._stop.clear()
        self._reader = threading.Thread(target=self._read_loop, name="probe-capture", daemon=True)
        self._reader.start()
        return t0

    def _read_loop(self) -> None:
        poller = select.poll()
        by_fd = {c.fileno(): c for c in self.captures}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        try:
            while not self._stop.is_set():
                for fd, _event in poller.poll(POLL_MS):
                    by_fd[fd].read()
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self._reader_error = exc

    def _join(self) -> None:
        self._stop.set()
        if self._reader is not None:
            self._reader.join()
            self._reader = None

    def stop(self) -> list[Hop]:
        """Stop reading; each point's Hop, in path order."""
        self._join()
        if self._reader_error is not None:
            error, self._reader_error = self._reader_error, None
            raise error
        return [capture.stop() for capture in self.captures]

    def close(self) -> None:
        """Close every socket (safe to call twice, and after an exception or Ctrl-C)."""
        try:
            self._join()
        finally:
            for capture in self.captures:
                capture.close()
