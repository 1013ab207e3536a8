"""Run a function inside a named network namespace, on a thread of its own.

setns(CLONE_NEWNET) changes the namespace of the calling thread only, so a short-lived thread can
enter a pod's namespace while the rest of the process stays where it is. A socket keeps the namespace
it was created in for its whole life: open capture and probe sockets through `run_in_netns` and use
them from any thread afterwards. A subprocess started on that thread inherits the namespace too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
from pathlib import Path

from calirules.base.errors import InputError

NETNS_DIR = Path("/var/run/netns")
CLONE_NEWNET = 0x40000000

_libc = None


def netns_path(name: str) -> Path:
    """The bind mount `ip netns` keeps for a named namespace; InputError when there is none."""
    if not name or "/" in name or name in (".", ".."):
        raise InputError(f"invalid network namespace name {name!r}: give a name from `ip netns list`")
    path = NETNS_DIR / name
    if not path.exists():
        raise InputError(f"no network namespace named {name!r}: give a name from `ip netns list`")
    return path


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols include libc's
            if not hasattr(_libc, "setns"):
                _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        except OSError:
            _libc = False
    if _libc and hasattr(_libc, "setns"):
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return
    if hasattr(os, "setns"):  # Python 3.12+
        os.setns(fd, CLONE_NEWNET)
        return
    raise OSError(errno.ENOSYS, "setns is not available")


def _enter(name: str) -> None:
    path = netns_path(name)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(fd)
    except PermissionError:
        raise InputError(f"entering network namespace {name!r} needs root (CAP_SYS_ADMIN): "
                         "run calirules probe as root") from None
    except OSError as exc:
        raise InputError(f"cannot enter network namespace {name!r}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def run_in_netns(name: str | None, fn, *args, **kwargs):
    """fn(*args, **kwargs) on a new thread inside namespace `name` (None: the current one); its result,
    or its exception re-raised here."""
    if name is not None:
        netns_path(name)  # fail early, in the caller, for a namespace that does not exist
    outcome: dict = {}

    def body():
        try:
            if name is not None:
                _enter(name)
            outcome["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            outcome["error"] = exc

    worker = threading.Thread(target=body, name=f"netns:{name or '-'}", daemon=True)
    worker.start()
    try:
        worker.join()
    except BaseException:
        # Ctrl-C while fn runs: let it finish, then close whatever it opened before giving up.
        worker.join()
        _discard(outcome.get("value"))
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _discard(value) -> None:
    """Close a socket, or the sockets in a tuple/list/dict, that nobody will use."""
    if hasattr(value, "close"):
        value.close()
    elif isinstance(value, dict):
        for item in value.values():
            _discard(item)
    elif isinstance(value, (tuple, list)):
        for item in value:
            _discard(item)
