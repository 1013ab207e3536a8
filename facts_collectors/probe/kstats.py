"""The kernel's own drop and error statistics, before and after the probe (nothing is changed).

Sources, all read inside the node namespace (each namespace has its own):
  - /proc/net/snmp and /proc/net/netstat: the counters `nstat` shows, named `<Group>.<Field>`
    (Ip.InAddrErrors, Ip.OutNoRoutes, IpExt.InNoRoutes, TcpExt.IPReversePathFilter, ...);
  - /proc/net/stat/nf_conntrack: conntrack's per-CPU statistics summed (`nf_conntrack.drop`,
    `nf_conntrack.invalid`, `nf_conntrack.insert_failed`, ...), present only while conntrack is;
  - /proc/net/stat/arp_cache: the neighbour table's, summed the same way
    (`arp_cache.unresolved_discards`: packets dropped because ARP never resolved; only the
    host's own namespace has this file). /proc/net/stat/rt_cache is not read: its numbers are the
    whole machine's in every namespace, so other traffic moves them as much as the probe does;
  - `ip -s -j link show dev X`: the rx/tx dropped and error counters of the given interfaces
    (`calia1b2.rx_dropped`, ...).

Failures: a file or interface that cannot be read is a note on the snapshot (`.notes`);
InputError only for a namespace that does not exist or `ip` missing.
"""

from __future__ import annotations

import json
import re

from . import _exec
from .model import KernelCounterMove

SNMP = "/proc/net/snmp"
NETSTAT = "/proc/net/netstat"
CONNTRACK_STAT = "/proc/net/stat/nf_conntrack"
ARP_STAT = "/proc/net/stat/arp_cache"
LINK_STATS = "ip -s -j link"

# Values that are settings or gauges, not counters: a "rise" would mean nothing about the probe.
_NOT_COUNTERS = {"Ip.Forwarding", "Ip.DefaultTTL", "Tcp.RtoAlgorithm", "Tcp.RtoMin", "Tcp.RtoMax",
                 "Tcp.MaxConn", "Tcp.CurrEstab", "nf_conntrack.entries", "arp_cache.entries"}
_LINK_FIELDS = {"rx": ("dropped", "errors", "over_errors", "missed"),
                "tx": ("dropped", "errors", "carrier_errors", "aborted_errors")}


_STAT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class KernelSnapshot(dict):
    """{counter name: value}; `.sources` maps each name to where it was read and `.notes` says
    what could not be read (a file absent, an interface gone)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sources: dict[str, str] = {}
        self.notes: list[str] = []

    def add(self, values: dict, source: str) -> None:
        for name, value in values.items():
            self[name] = value
            self.sources[name] = source


def kernel_snapshot(node_netns: str | None, ifaces: list[str]) -> KernelSnapshot:
    """Read the counters (inside `node_netns` when given). A source that cannot be read becomes a
    note; InputError only for a namespace that does not exist or `ip` missing."""
    snap = KernelSnapshot()
    for path, parse in ((SNMP, parse_snmp), (NETSTAT, parse_snmp), (CONNTRACK_STAT, parse_conntrack_stat),
                        (ARP_STAT, parse_arp_cache_stat)):
        out = _exec.run(node_netns, ("cat", path))
        if out.ok:
            snap.add(parse(out.stdout), path)
        elif path == CONNTRACK_STAT and "No such file" in out.stderr:
            snap.notes.append(f"{path} absent: connection tracking is not loaded")
        elif path == ARP_STAT and "No such file" in out.stderr:
            pass  # only the host's own namespace has it: nothing is missing
        else:
            snap.notes.append(f"{path} not read: {out.problem or _exec.first_line(out.stderr)}")
    for iface in ifaces:
        out = _exec.run(node_netns, ("ip", "-s", "-j", "link", "show", "dev", iface))
        if out.ok:
            snap.add(parse_link_stats(out.stdout), f"{LINK_STATS} show dev {iface}")
        else:
            snap.notes.append(f"interface {iface} statistics not read: "
                              f"{out.problem or _exec.first_line(out.stderr)}")
    return snap


def kernel_moves(before: dict, after: dict) -> list[KernelCounterMove]:
    """The counters that rose, in the after-snapshot's order, each with where it was read."""
    sources = getattr(after, "sources", {})
    moved = []
    for name, value in after.items():
        old = before.get(name)
        if old is None or name in _NOT_COUNTERS or value <= old:
            continue
        moved.append(KernelCounterMove(name=name, delta=value - old, source=sources.get(name) or _guess_source(name)))
    return moved


def _guess_source(name: str) -> str:
    if name.startswith("nf_conntrack."):
        return CONNTRACK_STAT
    if name.startswith("arp_cache."):
        return ARP_STAT
    if "_" in name.split(".", 1)[-1]:
        return LINK_STATS
    return "/proc/net/snmp or /proc/net/netstat"


def _whole_lines(text: str) -> list[str]:
    """The lines of a file read from /proc; a last line without its newline was cut and is left out."""
    return text.split("\n")[:-1]


def parse_snmp(text: str) -> dict[str, int]:
    """`/proc/net/snmp` or `/proc/net/netstat`: pairs of `Group: names` / `Group: values` lines.

    A pair whose lengths differ (a cut file) or holding a non-number is skipped whole."""
    values: dict[str, int] = {}
    header = None
    for line in _whole_lines(text):
        group, sep, rest = line.partition(":")
        if not sep or not group or " " in group:
            header = None
            continue
        words = rest.split()
        if header is None or header[0] != group:
            header = (group, words)
            continue
        names, header = header[1], None
        if len(names) != len(words):
            continue
        try:
            numbers = [int(word) for word in words]
        except ValueError:
            continue
        for name, number in zip(names, numbers):
            values[f"{group}.{name}"] = number
    return values


def parse_conntrack_stat(text: str) -> dict[str, int]:
    """`/proc/net/stat/nf_conntrack`: a header, then one line of hex numbers per CPU; summed.

    A CPU line whose length differs from the header or that is not hex is skipped."""
    return _per_cpu_stat(text, "nf_conntrack")


def parse_arp_cache_stat(text: str) -> dict[str, int]:
    """`/proc/net/stat/arp_cache`: the same layout as the conntrack statistics."""
    return _per_cpu_stat(text, "arp_cache")


def _per_cpu_stat(text: str, prefix: str) -> dict[str, int]:
    lines = [line for line in _whole_lines(text) if line.strip()]
    if not lines:
        return {}
    names = lines[0].split()
    if not names or not all(_STAT_NAME.match(name) for name in names):
        return {}
    totals = dict.fromkeys(names, 0)
    rows = 0
    for line in lines[1:]:
        words = line.split()
        if len(words) != len(names):
            continue
        try:
            numbers = [int(word, 16) for word in words]
        except ValueError:
            continue
        rows += 1
        for name, number in zip(names, numbers):
            # `entries` is the table's size, printed again on every CPU's line: not summed
            totals[name] = number if name == "entries" else totals[name] + number
    return {f"{prefix}.{name}": value for name, value in totals.items()} if rows else {}


def parse_link_stats(text: str) -> dict[str, int]:
    """`ip -s -j link show dev X` -> {X.rx_dropped: n, X.tx_errors: n, ...}; {} for anything else."""
    try:
        links = json.loads(text)
    except ValueError:
        return {}
    values: dict[str, int] = {}
    if not isinstance(links, list):
        return values
    for link in links:
        if not isinstance(link, dict) or not isinstance(link.get("ifname"), str):
            continue
        stats = link.get("stats64") or link.get("stats") or {}
        if not isinstance(stats, dict):
            continue
        for direction, fields in _LINK_FIELDS.items():
            block = stats.get(direction)
            if not isinstance(block, dict):
                continue
            for field in fields:
                value = block.get(field)
                if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                    values[f"{link['ifname']}.{direction}_{field}"] = value
    return values
