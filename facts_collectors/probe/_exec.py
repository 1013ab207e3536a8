"""Run one read-only command, in the node namespace or another named one, with a timeout.

Shared by the counter, kernel statistics and verdict readers: they all need the same answer
shape (the output, or why there is none) and the same rule for the `ip` tool, without which no
namespace can be entered at all.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from calirules.base.errors import InputError

DEFAULT_TIMEOUT = 5.0
NETNS_DIR = Path("/var/run/netns")

# Which package ships each tool the probe reads with (for the missing-tool message).
PACKAGES = {
    "ip": "iproute2",
    "iptables-legacy-save": "iptables",
    "iptables-nft-save": "iptables",
    "nft": "nftables",
    "conntrack": "conntrack (conntrack-tools)",
    "cat": "coreutils",
}


@dataclass(frozen=True)
class Output:
    argv: tuple
    returncode: int | None      # None: the command did not run (see `problem`)
    stdout: str = ""
    stderr: str = ""
    problem: str | None = None  # "conntrack: command not found (install conntrack-tools)", ...

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def missing(self) -> bool:
        return self.returncode is None and self.problem is not None and "command not found" in self.problem


def in_netns(netns: str | None, argv: list[str] | tuple) -> list[str]:
    """The argv that runs `argv` inside the named namespace (unchanged for the current one)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


def run(netns: str | None, argv, timeout: float = DEFAULT_TIMEOUT) -> Output:
    """Run `argv` (inside `netns` when given). Raises InputError only when nothing at all can be
    read: a namespace that does not exist, or `ip` missing when a namespace is asked for. Any
    other failure (tool missing, error, timeout) is in the Output for the caller to note."""
    if netns is not None and (not netns or "/" in netns or not (NETNS_DIR / netns).exists()):
        raise InputError(f"no network namespace named {netns!r}: give one `ip netns list` shows")
    full = in_netns(netns, argv)
    try:
        proc = subprocess.run(full, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, LC_ALL="C"))
    except FileNotFoundError:
        tool = full[0]
        if tool == "ip" and netns:
            raise InputError("`ip` (iproute2) is not installed: install iproute2 to read a network "
                             "namespace") from None
        return Output(tuple(full), None, problem=missing_tool(tool))
    except PermissionError:
        return Output(tuple(full), None, problem=f"{full[0]}: permission denied (run as root)")
    except subprocess.TimeoutExpired:
        return Output(tuple(full), None, problem=f"{' '.join(argv)}: timed out after {timeout:g} s")
    stdout = proc.stdout.decode(errors="replace")
    stderr = proc.stderr.decode(errors="replace")
    if netns and proc.returncode != 0 and _exec_failed(stderr, argv[0]):
        tool = argv[0]
        return Output(tuple(full), None, stdout, stderr, problem=missing_tool(tool))
    return Output(tuple(full), proc.returncode, stdout, stderr)


def missing_tool(tool: str) -> str:
    package = PACKAGES.get(tool)
    hint = f" (install {package})" if package else ""
    return f"{tool}: command not found{hint}"


def _exec_failed(stderr: str, tool: str) -> bool:
    """`ip netns exec` reports a tool it cannot start as `exec of "conntrack" failed: No such file`."""
    return f'exec of "{tool}" failed' in stderr and "No such file" in stderr


def first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
