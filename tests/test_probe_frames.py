"""The probe's packet layer without root: frame parsing and classification on frames captured in the
lab (tests/fixtures/probe/frames/regenerate.py makes them), on cut-short frames and on garbage; the
kernel filter (run here by a small classic-BPF interpreter) against the same frames; the probes the
sender builds."""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calirules.base.errors import InputError
from calirules.facts_collectors.probe import capture, frames, send
from calirules.facts_collectors.probe.model import Flow

FIXTURE = Path(__file__).parent / "fixtures" / "probe" / "frames" / "captured.json"
SCENARIOS = json.loads(FIXTURE.read_text())["scenarios"]
ALL = [(name, Flow(**s["flow"]), role, kind, bytes.fromhex(hexed))
       for name, s in SCENARIOS.items() for role, kind, hexed in s["frames"]]
PROBE_FRAMES = [item for item in ALL if item[3] is not None]


def frames_of(scenario, kind=None, role=None):
    return [f for name, _flow, r, k, f in ALL
            if name == scenario and (kind is None or k == kind) and (role is None or r == role)]


def flow_of(scenario) -> Flow:
    return Flow(**SCENARIOS[scenario]["flow"])


# ---- real frames ---------------------------------------------------------------------------------

def test_fixture_covers_every_kind_and_protocol():
    kinds = {(SCENARIOS[name]["flow"]["proto"], kind) for name, _f, _r, kind, _b in ALL}
    assert {("icmp", "request"), ("icmp", "reply"), ("icmp", "error"), ("tcp", "request"), ("tcp", "reply"),
            ("udp", "request"), ("udp", "error"), ("icmp", None)} <= kinds


@pytest.mark.parametrize("name,flow,role,kind,frame", ALL, ids=[f"{a[0]}-{a[2]}-{i}" for i, a in enumerate(ALL)])
def test_each_captured_frame_classifies_as_when_captured(name, flow, role, kind, frame):
    assert frames.classify(frame, flow) == kind


def test_echo_request_and_reply_fields():
    flow = flow_of("healthy-icmp")
    request = frames.parse_frame(frames_of("healthy-icmp", "request", "src-pod")[0])
    reply = frames.parse_frame(frames_of("healthy-icmp", "reply", "src-pod")[0])
    assert (request.src, request.dst, request.proto) == (flow.src, flow.dst, frames.IPPROTO_ICMP)
    assert (request.l4.type, request.l4.ident) == (frames.ICMP_ECHO, flow.ident)
    assert request.l4.seq in (1, 2, 3)
    assert request.total_length == send.DEFAULT_ICMP_SIZE
    assert request.payload.startswith(frames.PAYLOAD_MARKER)
    assert (reply.src, reply.dst, reply.l4.type, reply.l4.ident) == (flow.dst, flow.src, frames.ICMP_ECHOREPLY,
                                                                      flow.ident)


def test_fragmentation_needed_carries_the_mtu_and_the_probe_it_is_about():
    flow = flow_of("mtu-mismatch-df")
    error = frames.parse_frame(frames_of("mtu-mismatch-df", "error", "src-pod")[0])
    assert error.dst == flow.src and error.src != flow.dst       # the node sent it, not the destination
    assert (error.l4.type, error.l4.code, error.l4.mtu) == (3, frames.FRAG_NEEDED, 1400)
    assert "fragmentation needed (mtu 1400)" in error.l4.describe()
    inner = error.l4.inner
    assert (inner.src, inner.dst, inner.l4.ident, inner.dont_fragment) == (flow.src, flow.dst, flow.ident, True)
    assert frames.error_about_probe(error, flow) is error.l4
    request = frames.parse_frame(frames_of("mtu-mismatch-df", "request", "src-pod")[0])
    assert request.dont_fragment and request.total_length == 1440


def test_only_the_first_fragment_counts_as_the_request():
    flow = flow_of("mtu-mismatch-fragments")
    at_dst = [frames.parse_frame(f) for f in frames_of("mtu-mismatch-fragments", role="dst-host")]
    ipv4 = [p for p in at_dst if p is not None and p.src == flow.src]
    later = [p for p in ipv4 if p.frag_offset > 0]
    assert later and all(p.l4 is None for p in later)
    assert all(frames.classify_packet(p, flow) is None for p in later)
    firsts = [p for p in ipv4 if p.frag_offset == 0]
    assert firsts and all(p.more_fragments and frames.classify_packet(p, flow) == "request" for p in firsts)


def test_tcp_syn_and_rst():
    flow = flow_of("healthy-tcp-refused")
    syn = frames.parse_frame(frames_of("healthy-tcp-refused", "request", "dst-pod")[0])
    rst = frames.parse_frame(frames_of("healthy-tcp-refused", "reply", "dst-pod")[0])
    assert syn.l4.has(frames.TCP_SYN) and not syn.l4.has(frames.TCP_ACK)
    assert syn.l4.dport == flow.port and syn.l4.sport in frames.probe_ports(flow)
    assert rst.l4.has(frames.TCP_RST) and rst.l4.sport == flow.port


def test_udp_port_unreachable_from_the_destination_is_an_error_about_the_probe():
    flow = flow_of("healthy-udp-port-unreachable")
    error = frames.parse_frame(frames_of("healthy-udp-port-unreachable", "error", "src-pod")[0])
    assert error.src == flow.dst and (error.l4.type, error.l4.code) == (3, frames.PORT_UNREACH)
    assert isinstance(error.l4.inner.l4, frames.Udp) and error.l4.inner.l4.dport == flow.port


def test_another_probe_is_not_ours():
    for name, flow, _role, kind, frame in PROBE_FRAMES:
        other = replace(flow, ident=(flow.ident + 7) % 0xFFFF or 1)
        assert frames.classify(frame, other) is None, name
        swapped = replace(flow, src=flow.dst, dst=flow.src)
        assert frames.classify(frame, swapped) != kind or kind is None, name


def test_arp_and_ipv6_are_not_ipv4():
    ether_types = {f[12:14] for _n, _fl, _r, _k, f in ALL}
    assert {b"\x08\x06", b"\x86\xdd"} <= ether_types
    for _name, _flow, _role, _kind, frame in ALL:
        if frame[12:14] != b"\x08\x00":
            assert frames.parse_frame(frame) is None


def test_raw_link_frames_have_no_ethernet_header():
    _name, flow, _role, kind, frame = PROBE_FRAMES[0]
    assert frames.classify(frame[frames.ETH_HLEN:], flow, link="raw") == kind
    assert frames.classify(frame, flow, link="raw") is None


# ---- cut short, garbage -------------------------------------------------------------------------

def test_every_prefix_of_a_probe_frame_parses_or_is_none():
    for _name, flow, _role, _kind, frame in PROBE_FRAMES[::5]:
        for cut in range(len(frame)):
            result = frames.classify(frame[:cut], flow)
            assert result in (None, "request", "reply", "error")
        assert frames.classify(frame[:frames.ETH_HLEN + 19], flow) is None   # no whole IP header


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_never_raises(data):
    flow = flow_of("healthy-icmp")
    packet = frames.parse_frame(data)
    assert packet is None or isinstance(packet, frames.IPv4)
    assert frames.classify(data, flow) in (None, "request", "reply", "error")
    assert frames.classify(data, flow, link="raw") in (None, "request", "reply", "error")


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PROBE_FRAMES), st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
def test_corrupted_probe_frames_never_raise(item, position, value, cut):
    _name, flow, _role, _kind, frame = item
    mutated = bytearray(frame)
    mutated[position % len(mutated)] = value
    assert frames.classify(bytes(mutated[:len(mutated) - cut % 40]), flow) in (None, "request", "reply", "error")


# ---- the kernel filter --------------------------------------------------------------------------

def run_bpf(program, packet: bytes) -> int:
    """A classic-BPF interpreter for the instructions probe_filter uses; the bytes accepted."""
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = program[pc]
        if op in (0x20, 0x28, 0x30):
            size = {0x20: 4, 0x28: 2, 0x30: 1}[op]
            if k + size > len(packet):
                return 0  # the kernel drops a frame a load runs past
            acc = int.from_bytes(packet[k:k + size], "big")
        elif op == 0x54:
            acc &= k
        elif op == 0x15:
            pc += jt if acc == k else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")
        pc += 1


def test_filter_keeps_every_probe_frame_and_drops_what_is_not_ipv4():
    for name, flow, role, kind, frame in ALL:
        kept = run_bpf(capture.probe_filter(flow), frame)
        if kind is not None:
            assert kept == capture.SNAPLEN, (name, role, kind)
        if frame[12:14] != b"\x08\x00":
            assert kept == 0, (name, role)


def test_filter_drops_ipv4_between_other_addresses():
    flow = flow_of("healthy-icmp")
    for name, _other_flow, _role, _kind, frame in PROBE_FRAMES:
        elsewhere = replace(flow, src="198.18.9.1", dst="198.18.9.2")
        assert run_bpf(capture.probe_filter(elsewhere), frame) == 0, name


def test_filter_for_devices_without_link_header():
    for _name, flow, _role, _kind, frame in PROBE_FRAMES:
        assert run_bpf(capture.probe_filter(flow, ethernet=False), frame[frames.ETH_HLEN:]) == capture.SNAPLEN


def test_filter_jumps_stay_inside_the_program():
    program = capture.probe_filter(flow_of("healthy-icmp"))
    for index, (op, jt, jf, _k) in enumerate(program):
        if op == 0x15:
            assert index + 1 + max(jt, jf) < len(program)
        else:
            assert (jt, jf) == (0, 0)
    assert program[-1] == (0x06, 0, 0, 0) and program[-2] == (0x06, 0, 0, capture.SNAPLEN)


def test_capture_points_follow_the_path():
    from calirules.facts_collectors.probe.model import ROLES, Endpoint
    src = Endpoint(ip="10.0.0.1", netns="a", host_iface="cali1")
    dst = Endpoint(ip="10.0.0.2", netns="b", host_iface="cali2")
    points = capture.capture_points(src, dst, "node")
    assert [p.role for p in points] == list(ROLES)
    assert [(p.iface, p.netns, p.in_node) for p in points] == [
        ("eth0", "a", False), ("cali1", "node", True), ("cali2", "node", True), ("eth0", "b", False)]


# ---- what the sender builds ---------------------------------------------------------------------

def test_echo_request_has_the_asked_size_and_a_valid_checksum():
    for size in (None, 28, 100, 1440):
        data = send.echo_request(4242, 2, size)
        assert len(data) + 20 == (size or send.DEFAULT_ICMP_SIZE)
        assert send._checksum(data) == 0
        assert struct.unpack_from("!BBxxHH", data) == (frames.ICMP_ECHO, 0, 4242, 2)
    assert send.echo_request(1, 1, None)[8:].startswith(frames.PAYLOAD_MARKER)


def test_new_flow_picks_an_ident_and_checks_its_input():
    icmp = send.new_flow("icmp", "10.0.0.1", "10.0.0.2")
    assert 1 <= icmp.ident <= 0xFFFF and icmp.count == 3 and icmp.port is None
    tcp = send.new_flow("tcp", "10.0.0.1", "10.0.0.2", port=443, count=5)
    assert send.PORT_RANGE[0] <= tcp.ident and tcp.ident + 5 <= send.PORT_RANGE[1]
    assert list(frames.probe_ports(tcp)) == list(range(tcp.ident, tcp.ident + 5))
    udp = send.new_flow("udp", "10.0.0.1", "10.0.0.2", port=53, size=1400, dont_fragment=True)
    assert len(frames.probe_ports(udp)) == 1 and udp.dont_fragment and udp.size == 1400
    bad = [dict(proto="sctp"), dict(proto="tcp"), dict(proto="udp", port=0), dict(proto="icmp", port=80),
           dict(proto="icmp", count=0), dict(proto="icmp", count=1000), dict(proto="icmp", size=10),
           dict(proto="icmp", src="pod-a"), dict(proto="icmp", dst="::1"), dict(proto="icmp", src="10.1")]
    for args in bad:
        kwargs = dict(proto=args.pop("proto"), src_ip=args.pop("src", "10.0.0.1"), dst_ip=args.pop("dst", "10.0.0.2"))
        with pytest.raises(InputError):
            send.new_flow(kwargs["proto"], kwargs["src_ip"], kwargs["dst_ip"], **args)


def test_ipv4_addresses_in_the_filter_are_network_order():
    flow = send.new_flow("icmp", "198.18.8.10", "198.18.8.11")
    ks = {k for _op, _jt, _jf, k in capture.probe_filter(flow)}
    assert int.from_bytes(socket.inet_aton("198.18.8.10"), "big") in ks
    assert int.from_bytes(socket.inet_aton("198.18.8.11"), "big") in ks
