"""Exceptions raised by the fault lab."""

from __future__ import annotations

from typing import Sequence


class LabError(RuntimeError):
    """Any failure of the fault lab that the caller should report as one line."""


class CommandError(LabError):
    """An external command (ip, iptables, sysctl, ping ...) failed or timed out."""

    def __init__(self, argv: Sequence[str], returncode: int | None, detail: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.detail = detail.strip()
        status = "timed out" if returncode is None else f"exit {returncode}"
        where = " ".join(self.argv)
        super().__init__(f"command failed ({status}): {where}: {self.detail or 'no output'}")


class UnknownFault(LabError):
    """inject() was given a fault id that is not in the registry."""
