"""A small JSON state file per lab for the CLI (`/run/calirules-lab/<prefix>.json`).

The namespaces are the source of truth (Lab.discover can rebuild a lab from them); the file only
remembers what cannot be read back cheaply: the backend chosen and the faults injected. The directory
can be moved with CALIRULES_LAB_STATE_DIR (tests use a temporary directory). /run is a tmpfs, so
nothing survives a reboot.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import naming
from .errors import LabError

DEFAULT_STATE_DIR = "/run/calirules-lab"


def state_dir() -> Path:
    return Path(os.environ.get("CALIRULES_LAB_STATE_DIR") or DEFAULT_STATE_DIR)


def path_for(prefix: str) -> Path:
    return state_dir() / f"{naming.validate_prefix(prefix)}.json"


def save(data: dict) -> Path:
    path = path_for(data["prefix"])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def load(prefix: str) -> dict | None:
    path = path_for(prefix)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LabError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(data, dict) or data.get("prefix") != prefix or "pods" not in data:
        raise LabError(f"{path}: not a calirules lab state file for prefix {prefix!r}")
    return data


def remove(prefix: str) -> None:
    """Delete the state file (and the directory once empty); a no-op when there is none."""
    path = path_for(prefix)
    for p in (path, path.with_suffix(".json.tmp")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
    if path.parent == Path(DEFAULT_STATE_DIR):
        try:
            path.parent.rmdir()
        except OSError:
            pass  # not empty (another lab) or absent
