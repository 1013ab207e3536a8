"""Thin wrappers around `ip`, `ip netns exec` and `sysctl`.

Every call runs one external command with a timeout and raises CommandError (with the command line
and its stderr) when it fails. Nothing here touches the root namespace except creating/deleting the
named namespaces the caller asks for (`ip netns add/del`, i.e. /run/netns/<name>).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Iterable, Mapping, Sequence

from .errors import CommandError

DEFAULT_TIMEOUT = 10.0
_ENV = {**os.environ, "LC_ALL": "C", "LANG": "C"}


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """Run argv (no shell); raise CommandError on a missing binary, a timeout or (if check) rc != 0."""
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, env=_ENV
        )
    except FileNotFoundError:
        raise CommandError(argv, 127, f"command not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise CommandError(argv, None, f"no result after {timeout:g}s") from None
    if check and proc.returncode != 0:
        raise CommandError(argv, proc.returncode, proc.stderr or proc.stdout)
    return proc


def missing_commands(names: Iterable[str]) -> list[str]:
    """The names in `names` that are not on PATH."""
    return [n for n in names if shutil.which(n) is None]


# ---- namespaces ---------------------------------------------------------------------------------

def list_netns() -> list[str]:
    """Names of all named network namespaces (`ip netns list`)."""
    out = run(["ip", "-j", "netns", "list"]).stdout.strip()
    if not out:
        return []
    return [entry["name"] for entry in json.loads(out)]


def add_netns(names: Sequence[str]) -> None:
    """Create the named namespaces (one `ip -batch` call). Fails if one already exists."""
    if names:
        run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names))


def delete_netns(names: Iterable[str]) -> list[str]:
    """Delete the named namespaces that exist; return the names actually deleted. Never raises for
    a namespace that is already gone."""
    present = set(list_netns())
    doomed = [n for n in dict.fromkeys(names) if n in present]
    if doomed:
        # -force: keep going if one of them vanished in between (deleted by someone else).
        run(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in doomed),
            check=False)
        left = set(list_netns()) & set(doomed)
        if left:
            raise CommandError(["ip", "netns", "del", *sorted(left)], 1, "namespace still present")
    return doomed


# ---- commands inside a namespace ----------------------------------------------------------------

def ip(ns: str, *args: str, timeout: float = DEFAULT_TIMEOUT) -> str:
    """`ip -n <ns> args...`; returns stdout."""
    return run(["ip", "-n", ns, *args], timeout=timeout).stdout


def ip_json(ns: str, *args: str) -> list:
    """`ip -j -n <ns> args...` parsed (empty output -> [])."""
    out = run(["ip", "-j", "-n", ns, *args]).stdout.strip()
    return json.loads(out) if out else []


def ip_batch(ns: str, commands: Iterable[str]) -> None:
    """Run several `ip` commands in one process inside ns; stops at (and raises on) the first
    failing line."""
    text = "".join(c.rstrip("\n") + "\n" for c in commands)
    if text:
        run(["ip", "-n", ns, "-batch", "-"], input=text)


def exec_in(
    ns: str,
    argv: Sequence[str],
    *,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess:
    """`ip netns exec <ns> argv...`."""
    return run(["ip", "netns", "exec", ns, *argv], input=input, timeout=timeout, check=check)


def sysctl_set(ns: str, values: Mapping[str, object]) -> None:
    """Write sysctls inside ns (one `sysctl -w` call); keys like `net.ipv4.conf.cali123.proxy_arp`."""
    if values:
        exec_in(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in values.items())])


def sysctl_get(ns: str, key: str) -> str:
    """Read one sysctl inside ns."""
    return exec_in(ns, ["sysctl", "-n", key]).stdout.strip()
