"""iptables backends (legacy / nft) run inside a namespace.

Both backends can hold rules in the same namespace at the same time; the kernel runs both (the x_tables
hooks of iptables-legacy and the nf_tables chains of iptables-nft), and a packet must survive both --
which is exactly what the backend-mismatch fault relies on.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import netns
from .errors import LabError

# Wait for the xtables lock (a host-wide file lock shared by every namespace) instead of failing.
_WAIT = ["-w", "5"]


@dataclass(frozen=True)
class Backend:
    name: str
    iptables: str
    restore: str
    save: str

    @property
    def commands(self) -> tuple[str, str, str]:
        return (self.iptables, self.restore, self.save)


BACKENDS: dict[str, Backend] = {
    "legacy": Backend("legacy", "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save"),
    "nft": Backend("nft", "iptables-nft", "iptables-nft-restore", "iptables-nft-save"),
}


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise LabError(f"unknown iptables backend {name!r} (choose: {', '.join(BACKENDS)})") from None


def other(name: str) -> str:
    """The other backend's name."""
    backend(name)
    return "nft" if name == "legacy" else "legacy"


def iptables(ns: str, backend_name: str, *args: str) -> str:
    """`iptables-<backend> -w 5 args...` inside ns; returns stdout."""
    return netns.exec_in(ns, [backend(backend_name).iptables, *_WAIT, *args]).stdout


def restore(ns: str, backend_name: str, text: str, *, noflush: bool = False) -> None:
    """Feed iptables-restore input to the backend inside ns. With noflush, only chains declared in the
    input (`:name - [0:0]`) are flushed."""
    argv = [backend(backend_name).restore, *_WAIT]
    if noflush:
        argv.append("--noflush")
    netns.exec_in(ns, argv, input=text)


def has_table(ns: str, backend_name: str, table: str = "filter") -> bool:
    """Whether the backend has `table` in ns, without creating it. (Merely reading a legacy table
    with iptables-legacy[-save] makes the kernel instantiate it, which would leave an empty legacy
    filter table behind in an nft lab -- exactly what backend-mismatch diagnostics look for.)"""
    if backend_name == "legacy":
        names = netns.exec_in(ns, ["cat", "/proc/net/ip_tables_names"], check=False).stdout
        return table in names.split()
    return True  # iptables-nft-save never creates tables; it prints nothing for a missing one


def save(ns: str, backend_name: str, *, table: str = "filter", counters: bool = False) -> str:
    """iptables-save output of one table (empty string if the backend has no such table)."""
    if not has_table(ns, backend_name, table):
        return ""
    argv = [backend(backend_name).save, "-t", table]
    if counters:
        argv.append("-c")
    return netns.exec_in(ns, argv).stdout


def rules(ns: str, backend_name: str, chain: str) -> list[str]:
    """`iptables -S <chain>` lines: the first is the policy (`-P ...`) or chain declaration (`-N`)."""
    return iptables(ns, backend_name, "-S", chain).splitlines()


def chain_exists(ns: str, backend_name: str, chain: str) -> bool:
    proc = netns.exec_in(ns, [backend(backend_name).iptables, *_WAIT, "-S", chain], check=False)
    return proc.returncode == 0


def rule_number(ns: str, backend_name: str, chain: str, needle: str) -> int | None:
    """1-based position of the first rule of `chain` whose `-S` text contains `needle`."""
    lines = [line for line in rules(ns, backend_name, chain) if line.startswith("-A ")]
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


def packet_count(ns: str, backend_name: str, needle: str, *, table: str = "filter") -> int:
    """Sum of packet counters of every rule whose iptables-save line contains `needle`."""
    total = 0
    for line in save(ns, backend_name, table=table, counters=True).splitlines():
        if line.startswith("[") and needle in line:
            total += int(line[1:line.index(":")])
    return total
