"""What lab tests share besides fixtures: this session's namespace prefixes and the skip rule.

Each test session gets a random prefix base (`t<6 hex>`), each lab `<base>-<n>`, so parallel runs on
one host never share a namespace. Labs are deleted by the fixture that built them (which pytest
also runs when a test fails or the run is interrupted with Ctrl-C), again at session end, and once
more at interpreter exit as a last resort.
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets

import pytest
from calirules.lab import netns
from calirules.lab.iptables import BACKENDS
from calirules.lab.topology import REQUIRED_COMMANDS

# CALIRULES_LAB_TEST_PREFIX pins the base (e.g. to find a run's namespaces); keep it unique.
SESSION_BASE = os.environ.get("CALIRULES_LAB_TEST_PREFIX") or "t" + secrets.token_hex(3)
_counter = itertools.count()
_probe_result: list[str | None] = []


def cleanup_session_namespaces() -> list[str]:
    """Delete every namespace created by this test session (anything named `<base>-...`)."""
    try:
        mine = [n for n in netns.list_netns() if n.startswith(SESSION_BASE + "-")]
        return netns.delete_netns(mine)
    except Exception:  # noqa: BLE001 - best effort at exit
        return []


atexit.register(cleanup_session_namespaces)


def lab_unavailable_reason(backend: str | None = None) -> str | None:
    """Why lab tests cannot run here (None if they can)."""
    if os.geteuid() != 0:
        return "the fault lab needs root (network namespaces, veths, iptables)"
    needed = list(REQUIRED_COMMANDS)
    if backend:
        needed += BACKENDS[backend].commands
    missing = netns.missing_commands(needed)
    if missing:
        return f"missing commands: {', '.join(missing)}"
    if not _probe_result:
        _probe_result.append(_probe_netns())
    return _probe_result[0]


def _probe_netns() -> str | None:
    name = f"{SESSION_BASE}-probe"
    try:
        netns.add_netns([name])
        netns.delete_netns([name])
    except Exception as exc:  # noqa: BLE001
        return f"cannot create network namespaces here: {exc}"
    return None


def skip_unless_lab(backend: str | None = None) -> None:
    reason = lab_unavailable_reason(backend)
    if reason:
        pytest.skip(reason)


def new_prefix() -> str:
    return f"{SESSION_BASE}-{next(_counter)}"
