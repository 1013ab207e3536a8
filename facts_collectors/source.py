"""Evidence sources: a read-only view of a bundle's files by their path inside the bundle.

A sosreport directory, a calicoctl diags bundle, an archive of either, and the raw directory live
collection writes all look the same to the bundle reader: relative POSIX paths
(`sos_commands/networking/ip_-d_address`, `proc/sys/net/ipv4/ip_forward`). Symlinks are followed
only while they stay inside the bundle; nothing is ever written.
"""

import os
import re
from pathlib import Path, PurePosixPath

from calirules.base.errors import InputError

MAX_FILE_BYTES = 64 * 1024 * 1024  # sos truncates command output at 25 MiB by default


class EvidenceSource:
    """Interface every source implements."""

    label = "bundle"
    notes = ()  # things skipped or refused while opening (path traversal, links that leave, ...)

    def files(self):
        """All regular file paths (relative, POSIX), symlinks resolved inside the bundle."""
        raise NotImplementedError

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        """Content of one file, or None if it does not exist; at most max_bytes (the tail is cut)."""
        raise NotImplementedError

    def read_text(self, relpath, max_bytes=MAX_FILE_BYTES):
        data = self.read_bytes(relpath, max_bytes)
        return None if data is None else data.decode("utf-8", errors="replace")

    def exists(self, relpath):
        return _normalise(relpath) in self._file_set()

    def display_path(self, relpath):
        """How provenance names this file (views that rename files say the real name)."""
        return relpath

    def glob(self, pattern):
        """Sorted relative paths matching a shell pattern (`*` does not cross `/`; `**/` does)."""
        rx = _glob_regex(pattern)
        return sorted(p for p in self._file_set() if rx.match(p))

    def _file_set(self):
        cached = getattr(self, "_files_cache", None)
        if cached is None:
            cached = self._files_cache = set(self.files())
        return cached


class DirectorySource(EvidenceSource):
    """A bundle unpacked in a directory (or written there by live collection)."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise InputError("not a directory", root)
        self.label = str(root)
        self.notes = []

    def _inside(self, relpath):
        candidate = (self.root / _normalise(relpath)).resolve()
        if candidate != self.root and self.root not in candidate.parents:
            return None
        return candidate

    def files(self):
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                full = Path(dirpath) / name
                rel = full.relative_to(self.root).as_posix()
                target = self._inside(rel)
                if target is None:
                    self.notes.append(f"{rel}: link leaves the bundle, skipped")
                elif target.is_file():
                    yield rel

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        target = self._inside(relpath)
        if target is None or not target.is_file():
            return None
        try:
            size = target.stat().st_size
            with open(target, "rb") as handle:
                if size > max_bytes:
                    handle.seek(size - max_bytes)
                return handle.read(max_bytes)
        except OSError:
            return None


def _normalise(relpath):
    return str(PurePosixPath(str(relpath).lstrip("/")))


def _glob_regex(pattern):
    parts = []
    for piece in re.split(r"(\*\*/|\*|\?)", pattern):
        if piece == "**/":
            parts.append("(?:.*/)?")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "$")


class MemorySource(EvidenceSource):
    """Files held in memory: what a live collection read, before (or instead of) --raw-dir."""

    def __init__(self, label="live"):
        self.label = label
        self.notes = []
        self.contents = {}

    def add(self, relpath, data):
        self.contents[_normalise(relpath)] = data
        self._files_cache = None

    def files(self):
        return list(self.contents)

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        data = self.contents.get(_normalise(relpath))
        return None if data is None else data[-max_bytes:]
