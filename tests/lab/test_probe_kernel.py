"""The probe's kernel side against real faults: counters, kernel statistics, the kernel's verdict,
the drop trace, and proof that reading changes nothing.

Each test builds its own 2-pod lab (prefix cc2t, torn down by the context manager), injects one
fault, reads before and after a 3-packet ping, and checks what the readers name.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from calirules.facts_collectors.probe import counters, kstats, trace, verdict
from calirules.facts_collectors.probe.model import Endpoint, Flow
from calirules.lab import faults, netns
from calirules.lab.topology import Lab

from tests.helpers import REPO
from tests.lab.support import skip_unless_lab

PREFIX = "cc2t"
PINGS = 3
BACKENDS = ("legacy", "nft")
OTHER = {"legacy": "nft", "nft": "legacy"}


def endpoint(pod) -> Endpoint:
    return Endpoint(ip=pod.ip, netns=pod.netns, host_iface=pod.iface, gateway="169.254.1.1", name=pod.name)


class Observed:
    """What the readers saw around one failing ping of an injected fault."""

    def __init__(self, backend: str, fault: str):
        skip_unless_lab(backend)
        self.backend = backend
        with Lab(PREFIX, pods=2, backend=backend) as lab:
            inj = faults.inject(lab, fault)
            src, dst = lab.pod(inj.src), lab.pod(inj.dst)
            self.src, self.dst = endpoint(src), endpoint(dst)
            ifaces = [src.iface, dst.iface]
            rules_before = counters.snapshot(lab.node_ns)
            kernel_before = kstats.kernel_snapshot(lab.node_ns, ifaces)
            self.pinged = lab.ping(src, dst, count=PINGS)
            rules_after = counters.snapshot(lab.node_ns)
            kernel_after = kstats.kernel_snapshot(lab.node_ns, ifaces)
            self.moves = counters.moves(rules_before, rules_after)
            self.changes = counters.ruleset_changes(rules_before, rules_after)
            self.kernel = {m.name: m.delta for m in kstats.kernel_moves(kernel_before, kernel_after)}
            self.route = verdict.route_verdict(lab.node_ns, self.src, self.dst)
            self.neighbors = verdict.gateway_neighbors([self.src, self.dst])
            self.conntrack = verdict.conntrack_state(lab.node_ns, Flow("icmp", src.ip, dst.ip),
                                                     kernel_before, kernel_after)
            self.notes = rules_after.notes + kernel_after.notes + list(self.conntrack.notes)

    def drops(self):
        return counters.drops(self.moves, PINGS)


@pytest.mark.parametrize("backend", BACKENDS)
def test_forward_policy_drop(backend):
    seen = Observed(backend, "forward-policy-drop")
    assert not seen.pinged
    assert [(d.backend, d.chain, d.rule, d.target, d.packets) for d in seen.drops()] == [
        (backend, "FORWARD", None, "DROP", PINGS)]
    last = counters.last_accept_or_jump(seen.moves, chain="FORWARD", backend=backend)
    assert last is not None and last.target == "cali-FORWARD"
    assert seen.kernel.get("Ip.ForwDatagrams") == PINGS and seen.changes == [] and seen.notes == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_iptables_backend_mismatch_is_the_other_backends_policy(backend):
    seen = Observed(backend, "iptables-backend-mismatch")
    assert [(d.backend, d.chain, d.rule, d.target, d.packets) for d in seen.drops()] == [
        (OTHER[backend], "FORWARD", None, "DROP", PINGS)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_host_firewall_reject_rule(backend):
    seen = Observed(backend, "host-firewall-rejects")
    [drop] = seen.drops()
    assert (drop.backend, drop.chain, drop.target, drop.packets) == (backend, "FORWARD", "REJECT", PINGS)
    assert drop.rule.startswith("-A FORWARD") and drop.rule.endswith("-j REJECT --reject-with icmp-host-prohibited")
    assert drop.position is not None and drop.position > 1
    assert seen.kernel.get("Icmp.OutDestUnreachs") == PINGS   # the rejections the node sent


@pytest.mark.parametrize("backend", BACKENDS)
def test_policy_denies_end_of_tier_drop(backend):
    seen = Observed(backend, "policy-denies")
    [drop] = seen.drops()
    assert drop.backend == backend and drop.target == "DROP" and drop.packets == PINGS
    assert drop.chain.startswith(("cali-tw-", "cali-pi-")) and "Drop if no policies passed packet" in drop.rule


@pytest.mark.parametrize("backend", BACKENDS)
def test_endpoint_not_programmed_dispatch_drop(backend):
    seen = Observed(backend, "endpoint-not-programmed")
    [drop] = seen.drops()
    assert (drop.backend, drop.chain, drop.target) == (backend, "cali-to-wl-dispatch", "DROP")
    assert '"Unknown interface"' in drop.rule


@pytest.mark.parametrize("backend", BACKENDS)
def test_ip_forwarding_disabled_route_verdict(backend):
    seen = Observed(backend, "ip-forwarding-disabled")
    assert seen.route.error == "No route to host" and seen.route.dev is None
    # With forwarding off the node also stops answering ARP for the gateway, so the pod never
    # sends the echo request: no netfilter or forwarding counter of the node moves at all.
    assert seen.drops() == [] and "Ip.ForwDatagrams" not in seen.kernel
    assert seen.neighbors[0].state in ("INCOMPLETE", "FAILED")


@pytest.mark.parametrize("backend", BACKENDS)
def test_workload_route_missing_goes_out_the_uplink(backend):
    seen = Observed(backend, "workload-route-missing")
    assert (seen.route.dev, seen.route.via, seen.route.table, seen.route.error) == ("eth0", "198.19.0.2", None, None)
    assert seen.conntrack.unreplied and seen.drops() == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_policy_routing_override_names_table_30400(backend):
    seen = Observed(backend, "policy-routing-override")
    assert (seen.route.dev, seen.route.table) == ("eth0", "30400")


@pytest.mark.parametrize("backend", BACKENDS)
def test_proxy_arp_disabled_gateway_neighbour(backend):
    seen = Observed(backend, "proxy-arp-disabled")
    src_gateway, dst_gateway = seen.neighbors
    assert src_gateway.state == "REACHABLE" and src_gateway.lladdr == "ee:ee:ee:ee:ee:ee"
    assert dst_gateway.state in ("INCOMPLETE", "FAILED") and dst_gateway.netns == seen.dst.netns
    assert seen.conntrack.unreplied and len(seen.conntrack.entries) == 1 and seen.conntrack.count == 1
    assert seen.route.dev == seen.dst.host_iface and seen.drops() == []


# --- read-only -------------------------------------------------------------------------------------

def node_state(lab: Lab) -> dict:
    """Everything the readers could conceivably change: rules without counters, sysctls, links,
    addresses, routes, rules, neighbour tables (node and pods), conntrack entries."""
    state = {}
    node_commands = [("iptables-legacy-save",), ("iptables-nft-save",), ("nft", "list", "ruleset"),
                     ("sysctl", "net"), ("ip", "-d", "link"), ("ip", "-d", "address"),
                     ("ip", "route", "show", "table", "all"), ("ip", "rule"), ("ip", "neigh"),
                     ("conntrack", "-L")]
    for argv in node_commands:
        text = netns.exec_in(lab.node_ns, list(argv), check=False).stdout
        state[" ".join(argv)] = [line for line in text.splitlines()
                                 if not line.startswith("# ") and "nf_conntrack_count" not in line]
    for pod in lab.pods:
        state[pod.netns] = netns.exec_in(pod.netns, ["ip", "neigh"], check=False).stdout
    return state


def test_conntrack_tool_missing_in_the_namespace_is_a_note(tmp_path, monkeypatch):
    skip_unless_lab("legacy")
    for tool in ("ip", "cat"):
        (tmp_path / tool).symlink_to(subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True,
                                                    text=True, check=True).stdout.strip())
    with Lab(PREFIX, pods=2, backend="legacy") as lab:
        monkeypatch.setenv("PATH", str(tmp_path))   # ip netns exec finds no conntrack
        state = verdict.conntrack_state(lab.node_ns, Flow("icmp", lab.pod(0).ip, lab.pod(1).ip), {}, {})
        monkeypatch.undo()
    assert state.entries == () and state.count == 0 and state.max and state.max > 0
    assert state.notes == ("conntrack entries not read: conntrack: command not found "
                           "(install conntrack (conntrack-tools))",)


@pytest.mark.parametrize("backend", BACKENDS)
def test_readers_change_nothing(backend):
    skip_unless_lab(backend)
    with Lab(PREFIX, pods=2, backend=backend) as lab:
        assert lab.ping(0, 1)
        src, dst = endpoint(lab.pod(0)), endpoint(lab.pod(1))
        before = node_state(lab)
        rules = counters.snapshot(lab.node_ns)
        numbers = kstats.kernel_snapshot(lab.node_ns, [src.host_iface, dst.host_iface])
        route = verdict.route_verdict(lab.node_ns, src, dst)
        neighbours = verdict.gateway_neighbors([src, dst])
        tracked = verdict.conntrack_state(lab.node_ns, Flow("icmp", src.ip, dst.ip), numbers, numbers)
        after = node_state(lab)
        assert before == after
        assert rules.counters and numbers and route.dev == dst.host_iface   # they did read
        assert [n.state for n in neighbours] == ["REACHABLE", "REACHABLE"] and len(tracked.entries) == 1


# --- --trace ---------------------------------------------------------------------------------------

def tracing_state(*pids: int) -> tuple[str, str, list[str]]:
    """(top-level enable, top-level filter, the instances of this process's or `pids`' probes) of
    skb:kfree_skb, read-only (other programs' probes may come and go meanwhile)."""
    fd = trace._open_tracefs([])
    if fd is None:
        pytest.skip("no tracefs here")
    owners = {str(pid) for pid in (os.getpid(), *pids)}
    try:
        names = []
        if trace._exists(fd, "instances"):
            folder = os.open("instances", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            try:
                names = os.listdir(folder)
            finally:
                os.close(folder)
        return (trace._read(fd, f"{trace.EVENT_DIR}/enable").strip(),
                trace._read(fd, f"{trace.EVENT_DIR}/filter").strip(),
                sorted(n for n in names if n.startswith(trace.INSTANCE_PREFIX)
                       and n[len(trace.INSTANCE_PREFIX):].split("-")[0] in owners))
    finally:
        os.close(fd)


def instance_state(name: str) -> tuple[str, str]:
    fd = trace._open_tracefs([])
    try:
        base = f"instances/{name}/{trace.EVENT_DIR}"
        return trace._read(fd, f"{base}/enable").strip(), trace._read(fd, f"{base}/filter").strip()
    finally:
        os.close(fd)


def test_trace_names_the_drop_and_is_undone_on_exit():
    skip_unless_lab("legacy")
    before = tracing_state()
    if before[0].startswith("1"):
        pytest.skip("skb:kfree_skb is already traced here")
    with Lab(PREFIX, pods=2, backend="legacy") as lab:
        faults.inject(lab, "forward-policy-drop")
        with trace.DropTrace(lab.node_ns) as tracer:
            assert tracer.mode == "instance"
            assert instance_state(tracer.instance) == ("1", trace.IPV4_FILTER)   # really on, while it runs
            assert not lab.ping(0, 1, count=PINGS)
        assert tracing_state() == before
    # the tracepoint sees the whole machine: other programs' drops may add to the probe's three
    counts = [int(line.split(" x", 1)[1].split()[0]) for line in tracer.reasons()
              if line.startswith("NETFILTER_DROP x") and line.endswith(" at nf_hook_slow")]
    assert counts and counts[0] >= PINGS, tracer.reasons()
    assert "instances/calirules-probe-" in tracer.changes


CHILD = textwrap.dedent("""
    import sys, time
    from calirules.facts_collectors.probe.trace import DropTrace
    with DropTrace("cc2-child") as tracer:
        print(tracer.mode, tracer.instance, flush=True)
        time.sleep(30)
    """)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_trace_is_undone_when_the_probe_is_interrupted(signum):
    skip_unless_lab()
    before = tracing_state()
    if before[0].startswith("1"):
        pytest.skip("skb:kfree_skb is already traced here")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, cwd=REPO)
    try:
        mode, instance = child.stdout.readline().split()
        assert mode == "instance" and instance in tracing_state(child.pid)[2]   # on while the child runs
        assert instance_state(instance)[0] == "1"
        child.send_signal(signum)
        code = child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    # SIGTERM: died of it, as the default handler would; SIGINT: KeyboardInterrupt, which Python
    # ends by dying of SIGINT
    assert code == -signum, child.stderr.read()
    assert tracing_state(child.pid) == before


STARTING_CHILD = textwrap.dedent("""
    import sys, time
    from calirules.facts_collectors.probe.trace import DropTrace
    print("started", flush=True)
    with DropTrace("cc2-child") as tracer:
        time.sleep(30)
    """)


def test_a_signal_at_any_moment_leaves_nothing_on():
    # (this found a Ctrl-C landing inside the write that switches the tracepoint on, which used to
    # leave the instance behind: it held the file open while the handler tried to remove it)
    skip_unless_lab()
    before = tracing_state()
    if before[0].startswith("1"):
        pytest.skip("skb:kfree_skb is already traced here")
    rng = random.Random(11)
    for round_ in range(20):
        child = subprocess.Popen([sys.executable, "-c", STARTING_CHILD], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=REPO)
        delay, sent, killed = rng.uniform(0, 0.06), [], False
        try:
            assert child.stdout.readline().strip() == "started"
            time.sleep(delay)   # while entering, switching on, or already reading
            for _ in range(rng.choice((1, 1, 3))):
                sent.append(rng.choice((signal.SIGINT, signal.SIGINT, signal.SIGTERM)))
                child.send_signal(sent[-1])
                time.sleep(0.002)
            child.wait(timeout=10)
        finally:
            if child.poll() is None:
                killed = True   # SIGKILL leaves the instance by design: the failure says so
                child.kill()
                child.wait()
        # Seen to fail once in a full-suite run and never alone: say everything needed to replay it.
        assert tracing_state(child.pid) == before, (
            f"round {round_}: signals {[signal.Signals(s).name for s in sent]} after {delay * 1000:.0f} ms, "
            f"exit {child.returncode}, killed after 10 s: {killed}, stderr: {child.stderr.read()[-800:]}")


def test_an_instance_left_by_a_killed_probe_is_removed_next_time():
    skip_unless_lab()
    before = tracing_state()
    if before[0].startswith("1"):
        pytest.skip("skb:kfree_skb is already traced here")
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE, text=True, cwd=REPO)
    _, instance = child.stdout.readline().split()
    child.kill()   # SIGKILL: no handler, no atexit
    child.wait()
    assert instance in tracing_state(child.pid)[2]
    with trace.DropTrace("cc2") as tracer:
        assert any(instance in note for note in tracer.notes)
    assert tracing_state(child.pid) == before


def test_trace_already_on_changes_nothing():
    skip_unless_lab()
    fd = trace._open_tracefs([])
    if fd is None:
        pytest.skip("no tracefs here")
    path = f"{trace.EVENT_DIR}/enable"
    if trace._read(fd, path).strip() != "0":
        os.close(fd)
        pytest.skip("skb:kfree_skb is already traced here")
    try:
        trace._write(fd, path, "1")   # somebody else tracing drops at the top level
        before = tracing_state()
        with trace.DropTrace("cc2") as tracer:
            assert tracer.mode == "observe" and tracer.instance is None
            time.sleep(0.1)
        assert tracing_state() == before and any("already on" in note for note in tracer.notes)
    finally:
        trace._write(fd, path, "0")
        os.close(fd)
