"""The probe's packet layer on real namespaces: pod discovery, captures on the four hops and the sender,
on a healthy lab and under the faults whose trace the guide describes (labs "cw1-*", torn down
whatever happens)."""

from __future__ import annotations

import os
import time

import pytest
from calirules.base.errors import InputError
from calirules.facts_collectors.probe import capture, endpoints, send
from calirules.facts_collectors.probe.model import ROLES
from calirules.facts_collectors.probe.nsthread import run_in_netns
from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.lab.support import skip_unless_lab

BACKENDS = ("legacy", "nft")
PROBE_TIME_LIMIT = 3.0


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def build(prefix: str, backend: str, pods: int = 2) -> Lab:
    skip_unless_lab(backend)
    lab = Lab(prefix, pods=pods, backend=backend)
    lab.down()  # a lab of this prefix left by an interrupted run
    return lab.up()


def probe(lab: Lab, src_ref, dst_ref, proto="icmp", port=None, size=None, dont_fragment=False):
    """(SendResult, {role: Hop}, seconds): one probe with all four captures, as the command runs it."""
    src, dst = endpoints.resolve_pair(src_ref, dst_ref, lab.node_ns)
    flow = send.new_flow(proto, src.ip, dst.ip, port=port, size=size, dont_fragment=dont_fragment)
    started = time.monotonic()
    with capture.CaptureSet(capture.capture_points(src, dst, lab.node_ns), flow) as captures:
        captures.start()
        result = send.send(src, flow)
        hops = captures.stop()
    return result, {h.role: h for h in hops}, time.monotonic() - started


def seen(hops) -> dict:
    return {role: hops[role].requests for role in ROLES}


@pytest.fixture(scope="module", params=BACKENDS)
def healthy(request):
    lab = build(f"cw1-h-{request.param}", request.param, pods=3)
    try:
        yield lab
    finally:
        lab.down()


@pytest.fixture
def fault_lab(request):
    labs = []

    def factory(backend):
        labs.append(build(f"cw1-f-{backend}", backend))
        return labs[-1]
    try:
        yield factory
    finally:
        for lab in labs:
            lab.down()


# ---- a healthy node ------------------------------------------------------------------------------

@pytest.mark.parametrize("proto,port", [("icmp", None), ("tcp", 80), ("udp", 53)])
def test_healthy_path_every_hop_sees_the_probe_and_the_source_gets_answers(healthy, proto, port):
    src, dst = healthy.pods[0], healthy.pods[1]
    result, hops, seconds = probe(healthy, src.ip, dst.ip, proto, port)
    assert seen(hops) == {role: 3 for role in ROLES}
    assert all(hops[role].replies == 3 for role in ROLES)
    assert (result.sent, result.replies, result.errors) == (3, 3, ())
    assert len(result.rtt_ms) == 3
    assert [hops[r].where for r in ROLES] == ["eth0", src.iface, dst.iface, "eth0"]
    assert hops["src-host"].netns is None and hops["dst-pod"].netns == dst.netns
    assert 0 <= hops["src-pod"].first_ms <= hops["dst-pod"].first_ms <= hops["dst-pod"].last_ms < 1000
    assert seconds < 1.0  # every probe answered: no waiting for stragglers


def test_healthy_path_leaves_no_socket_open(healthy):
    before = open_fds()
    for _ in range(3):
        probe(healthy, healthy.pods[0].ip, healthy.pods[2].iface, "tcp", 80)
    assert open_fds() == before


def test_sockets_are_closed_on_an_exception_or_ctrl_c(healthy):
    src, dst = endpoints.resolve_pair(healthy.pods[0].ip, healthy.pods[1].ip, healthy.node_ns)
    flow = send.new_flow("icmp", src.ip, dst.ip)
    before = open_fds()
    with pytest.raises(KeyboardInterrupt):
        with capture.CaptureSet(capture.capture_points(src, dst, healthy.node_ns), flow) as captures:
            captures.start()
            assert open_fds() == before + 4
            raise KeyboardInterrupt
    assert open_fds() == before
    points = capture.capture_points(src, dst, healthy.node_ns)
    points[2] = capture.CapturePoint("dst-host", "cali-nosuchif", healthy.node_ns, in_node=True)
    with pytest.raises(InputError, match="no interface 'cali-nosuchif'"):
        with capture.CaptureSet(points, flow):
            pass
    assert open_fds() == before


def test_a_capture_started_late_does_not_count_earlier_traffic(healthy):
    src, dst = endpoints.resolve_pair(healthy.pods[0].ip, healthy.pods[1].ip, healthy.node_ns)
    flow = send.new_flow("icmp", src.ip, dst.ip, count=2)
    with capture.Capture(src.netns, "eth0", "src-pod", flow) as early:
        send.send(src, flow, interval=0.05)
        early.start()
        assert early.stop().requests == 0
        send.send(src, flow, interval=0.05)
        hop = early.stop()
    assert (hop.requests, hop.replies, hop.where, hop.netns) == (2, 2, "eth0", src.netns)


# ---- pods of this node ---------------------------------------------------------------------------

def test_discover_finds_this_nodes_pods_only(healthy):
    other = build("cw1-o", "legacy")   # a second node on the same host: equal ifindexes, other pods
    try:
        pods = endpoints.discover(healthy.node_ns)
        assert [(p.ip, p.netns, p.host_iface) for p in pods] == [(p.ip, p.netns, p.iface) for p in healthy.pods]
        assert {(p.pod_iface, p.mtu, p.gateway) for p in pods} == {("eth0", healthy.pod_mtu, "169.254.1.1")}
        assert [p.netns for p in endpoints.discover(other.node_ns)] == other.pod_namespaces
    finally:
        other.down()


def test_resolve_by_ip_interface_and_namespace(healthy):
    pods = endpoints.discover(healthy.node_ns)
    lab_pod = healthy.pods[1]
    for ref in (lab_pod.ip, lab_pod.iface, lab_pod.netns):
        assert endpoints.resolve(ref, pods, healthy.node_ns).netns == lab_pod.netns
    # without the pod list: only the two pods asked for are read, and they come out the same
    other = healthy.pods[2]
    for src_ref, dst_ref in ((other.ip, lab_pod.ip), (other.iface, lab_pod.iface), (other.netns, lab_pod.netns)):
        src, dst = endpoints.resolve_pair(src_ref, dst_ref, healthy.node_ns)
        assert (src, dst) == (pods[2], pods[1])
    with pytest.raises(InputError, match=r"DST 198.18.9.77 is not a pod on this node \(the node routes it via eth0"):
        endpoints.resolve_pair(other.ip, "198.18.9.77", healthy.node_ns)
    with pytest.raises(InputError, match=r"SRC 'cali0000000000' is not a pod of this node.*198\.18\.8\.10"):
        endpoints.resolve_pair("cali0000000000", other.ip, healthy.node_ns)


def test_bad_references_name_what_was_given_and_the_known_pods(healthy):
    node, pods = healthy.node_ns, endpoints.discover(healthy.node_ns)
    with pytest.raises(InputError) as unknown:
        endpoints.resolve("no-such-pod", pods, node)
    assert "'no-such-pod'" in str(unknown.value) and healthy.pods[0].ip in str(unknown.value)
    assert "\n" not in str(unknown.value)
    with pytest.raises(InputError) as elsewhere:
        endpoints.resolve("198.18.9.77", pods, node)   # the node's default route: the uplink
    assert "not a pod on this node (the node routes it via eth0)" in str(elsewhere.value)
    a = healthy.pods[0]
    with pytest.raises(InputError, match="same pod"):
        endpoints.resolve_pair(a.ip, a.iface, node)
    with pytest.raises(InputError, match="no network namespace named"):
        endpoints.discover("cw1-no-such-node")


def test_run_in_netns_enters_the_namespace_and_hands_back_results_and_errors(healthy):
    def my_netns():
        return os.readlink("/proc/thread-self/ns/net")
    here = my_netns()
    inside = run_in_netns(healthy.node_ns, my_netns)
    assert inside != here and my_netns() == here
    assert run_in_netns(None, my_netns) == here
    with pytest.raises(ZeroDivisionError):
        run_in_netns(healthy.node_ns, lambda: 1 / 0)
    with pytest.raises(InputError, match="no network namespace named 'cw1-gone'"):
        run_in_netns("cw1-gone", my_netns)


# ---- faults: where the probe disappears ----------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_policy_drop_is_seen_on_the_source_side_only(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "forward-policy-drop")
    for proto, port in (("icmp", None), ("tcp", 80)):
        result, hops, seconds = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).ip, proto, port)
        assert seen(hops) == {"src-pod": 3, "src-host": 3, "dst-host": 0, "dst-pod": 0}, proto
        assert (result.sent, result.replies) == (3, 0)
        assert seconds < PROBE_TIME_LIMIT


@pytest.mark.parametrize("backend", BACKENDS)
def test_proxy_arp_disabled_on_the_source_side_keeps_the_request_in_the_pod(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "proxy-arp-disabled", side="src")
    result, hops, seconds = probe(lab, lab.pod(inj.src).iface, lab.pod(inj.dst).netns)
    assert hops["src-host"].requests == 0
    # the pod cannot resolve its gateway, so the kernel never puts the request on the wire
    assert seen(hops) == {role: 0 for role in ROLES}
    assert (result.sent, result.replies) == (3, 0) and seconds < PROBE_TIME_LIMIT


@pytest.mark.parametrize("backend", BACKENDS)
def test_proxy_arp_disabled_on_the_destination_side_loses_the_reply(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "proxy-arp-disabled")
    result, hops, seconds = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).ip)
    assert seen(hops) == {role: 3 for role in ROLES}
    assert hops["src-pod"].replies == 0 and hops["dst-host"].replies == 0
    assert (result.sent, result.replies) == (3, 0) and seconds < PROBE_TIME_LIMIT


@pytest.mark.parametrize("backend", BACKENDS)
def test_mtu_mismatch_large_df_probe_draws_fragmentation_needed(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "mtu-mismatch")
    result, hops, seconds = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).ip, size=lab.pod_mtu,
                                  dont_fragment=True)
    assert result.sent == 3 and result.replies == 0
    assert len(result.errors) == 3
    assert all("fragmentation needed (mtu 1400)" in line for line in result.errors)
    assert seen(hops) == {"src-pod": 3, "src-host": 3, "dst-host": 0, "dst-pod": 0}
    assert hops["src-host"].replies == 3   # the node's errors go back through the source veth
    assert seconds < 1.0   # every probe answered by an error: no waiting
    small, small_hops, _ = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).ip, dont_fragment=True)
    assert (small.replies, small.errors, small_hops["dst-pod"].requests) == (3, (), 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_down_destination_veth_is_reported_not_raised(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "workload-veth-down")
    before = open_fds()
    result, hops, seconds = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).netns)
    assert seen(hops) == {"src-pod": 3, "src-host": 3, "dst-host": 0, "dst-pod": 0}
    assert [hops[r].iface_down for r in ROLES] == [False, False, True, False]
    assert result.replies == 0 and seconds < PROBE_TIME_LIMIT
    assert open_fds() == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_rejecting_firewall_answers_with_an_error_line_per_probe(fault_lab, backend):
    lab = fault_lab(backend)
    inj = faults.inject(lab, "host-firewall-rejects")
    result, hops, seconds = probe(lab, lab.pod(inj.src).ip, lab.pod(inj.dst).ip, "tcp", 80)
    assert result.replies == 0 and len(result.errors) == 3
    assert all(line.startswith(f"probe {n}: ") and "prohibited" in line
               for n, line in zip((1, 2, 3), result.errors))
    assert seen(hops) == {"src-pod": 3, "src-host": 3, "dst-host": 0, "dst-pod": 0}
    assert seconds < 1.0


def test_a_df_probe_larger_than_the_pod_mtu_is_refused_in_the_pod(healthy):
    result, hops, seconds = probe(healthy, healthy.pods[0].ip, healthy.pods[1].ip, size=healthy.pod_mtu + 60,
                                  dont_fragment=True)
    assert (result.sent, result.replies) == (0, 0)
    assert result.errors == tuple(f"probe {n}: not sent: Message too long (the source pod's MTU is "
                                  f"{healthy.pod_mtu})" for n in (1, 2, 3))
    assert seen(hops) == {role: 0 for role in ROLES}
    assert seconds < 1.0


def test_captures_count_from_the_with_block_and_take_plain_tuples(healthy):
    src, dst = endpoints.resolve_pair(healthy.pods[1].ip, healthy.pods[0].ip, healthy.node_ns)
    flow = send.new_flow("udp", src.ip, dst.ip, port=9)
    points = [(src.netns, "eth0", "src-pod"), (healthy.node_ns, src.host_iface, "src-host"),
              (healthy.node_ns, dst.host_iface, "dst-host"), (dst.netns, "eth0", "dst-pod")]
    with capture.CaptureSet(points, flow) as captures:   # no start(): counting began on entry
        result = send.send(src, flow)
        hops = captures.stop()
    assert [(h.role, h.requests, h.netns) for h in hops] == [
        ("src-pod", 3, src.netns), ("src-host", 3, None), ("dst-host", 3, None), ("dst-pod", 3, dst.netns)]
    assert all(0 <= h.first_ms < 1000 for h in hops) and result.replies == 3
