"""Evidence sources: a read-only view of a bundle's files by their path inside the bundle.

A sosreport directory, a calicoctl diags bundle, an archive of either, and the raw directory live
collection writes all look the same to the bundle reader: relative POSIX paths
(`sos_commands/networking/ip_-d_address`, `proc/sys/net/ipv4/ip_forward`). Symlinks are followed
only while they stay inside the bundle; nothing is ever written.
"""

import functools
import os
import re
import stat
from pathlib import Path, PurePosixPath

from calirules.base.errors import InputError

MAX_FILE_BYTES = 64 * 1024 * 1024  # sos truncates command output at 25 MiB by default


class EvidenceSource:
    """Interface every source implements."""

    label = "bundle"
    notes = ()  # things skipped or refused while opening or reading (path traversal, links that leave, ...)

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


# What one directory entry is, as its directory listing (d_type) or one lstat tells; never followed.
_FILE, _DIR, _LINK, _OTHER, _MISSING = "file", "dir", "link", "other", "missing"
# Why following a symlink was refused (an absolute link names the host the bundle came from).
_OUTSIDE, _LOOP = "link leaves the bundle", "link loop (or too many links)"
MAX_LINK_HOPS = 40  # like Linux's ELOOP limit
_READ_CHUNK = 64 * 1024  # read size once a file turns out longer than its size said


class DirectorySource(EvidenceSource):
    """A bundle unpacked in a directory (or written there by live collection).

    Nothing is indexed up front: a sosreport can hold tens of thousands of files (a copy of
    /proc/sys per interface) of which the reader wants a few hundred. A path is resolved when it
    is asked for, one component at a time (one lstat per component, remembered), following
    symlinks inside the bundle only; a glob lists only the directories its pattern can reach.
    """

    def __init__(self, root):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise InputError("not a directory", root)
        self.label = str(root)
        self.notes = []
        self._top = str(self.root)
        self._kinds = {}     # path below the root, links not followed -> _FILE, _DIR, _LINK, ...
        self._listings = {}  # directory below the root ("" is the root) -> [(name, kind)]
        self._noted = set()

    # -- the EvidenceSource interface ---------------------------------------------------------

    def files(self):
        """Every regular file, walking real directories only (as `glob("**/*")`)."""
        return self.glob("**/*")

    def exists(self, relpath):
        return self._resolve(str(relpath))[0] == _FILE

    def glob(self, pattern):
        """As EvidenceSource.glob, listing only directories the pattern can reach. Like files(),
        it does not descend through symlinked directories; a symlink to a file inside the bundle
        matches under its own name."""
        parts = pattern.split("/")
        found = []
        if any(part in ("", ".", "..") for part in parts):
            return found  # no listed path has such a component
        odd = next((i for i, part in enumerate(parts[:-1]) if "**" in part and part != "**"), None)
        if odd is not None:  # `x**/` crosses directories from inside a name: take all below, filter
            parts = [*parts[:odd], "**", "*"]
        self._glob_in("", parts, found)
        rx = _glob_regex(pattern)  # the walk prunes; the pattern's own regex decides
        return sorted(path for path in found if rx.match(path))

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        kind, real = self._resolve(str(relpath))
        if kind != _FILE:
            return None
        try:
            # O_NOFOLLOW: the last component is the regular file just resolved, never a link
            # swapped in since; O_NONBLOCK: nor a fifo that would block the open.
            fd = os.open(self._abs(real), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            return _read_tail(fd, max_bytes)
        except OSError:
            return None
        finally:
            os.close(fd)

    # -- resolving paths inside the bundle -------------------------------------------------------

    def _abs(self, real):
        return f"{self._top}/{real}" if real else self._top

    def _kind(self, real):
        kind = self._kinds.get(real)
        if kind is None:
            parent = real.rpartition("/")[0]
            if parent in self._listings:
                return _MISSING  # the listing of its directory holds every name there is
            try:
                mode = os.lstat(self._abs(real)).st_mode
            except OSError:
                kind = _MISSING
            else:
                kind = _kind_of_mode(mode)
            self._kinds[real] = kind
        return kind

    def _resolve(self, relpath):
        """(kind, real path below the root with no symlink in it) of `relpath`, following links
        inside the bundle; (_MISSING, None) when there is nothing; refused links are noted."""
        pending = relpath.split("/")[::-1]  # components still to walk, next one last
        real, kind, hops = [], _DIR, MAX_LINK_HOPS
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if kind != _DIR:
                return _MISSING, None  # a path below a file
            if part == "..":
                if not real:
                    return self._refused(relpath, _OUTSIDE, hops)
                real.pop()
                continue
            here = "/".join([*real, part])
            kind = self._kind(here)
            if kind == _LINK:
                hops -= 1
                try:
                    target = os.readlink(self._abs(here))
                except OSError:
                    return _MISSING, None
                if hops < 0:
                    return self._refused(relpath, _LOOP, hops)
                if target.startswith("/"):
                    return self._refused(relpath, _OUTSIDE, hops)
                pending.extend(target.split("/")[::-1])
                kind = _DIR  # the target is walked from the link's own directory
            elif kind == _MISSING:
                return _MISSING, None
            else:
                real.append(part)
        return kind, "/".join(real)

    def _refused(self, relpath, why, hops):
        if hops == MAX_LINK_HOPS:
            return _MISSING, None  # `..` above the root in the path asked for: no link to report
        if relpath not in self._noted:
            self._noted.add(relpath)
            self.notes.append(f"{relpath}: {why}, skipped")
        return _MISSING, None

    def _listing(self, directory):
        listing = self._listings.get(directory)
        if listing is None:
            listing = []
            try:
                with os.scandir(self._abs(directory)) as entries:
                    for entry in entries:
                        kind = (_LINK if entry.is_symlink() else _DIR if entry.is_dir(follow_symlinks=False)
                                else _FILE if entry.is_file(follow_symlinks=False) else _OTHER)
                        listing.append((entry.name, kind))
                        self._kinds[f"{directory}/{entry.name}" if directory else entry.name] = kind
            except OSError as exc:
                self.notes.append(f"{directory or '.'}: cannot be listed ({exc.strerror or exc}), skipped")
            self._listings[directory] = listing
        return listing

    def _glob_in(self, directory, parts, found):
        """Add to `found` what matches `parts` below `directory` (a real directory)."""
        part, rest = parts[0], parts[1:]
        if part == "**" and rest:
            self._glob_in(directory, rest, found)  # `**/` matching no directory
            candidates = [(name, kind) for name, kind in self._listing(directory) if kind == _DIR]
            rest = parts  # ...or one more directory, still under `**/`
        elif "*" in part or "?" in part:
            rx = _glob_regex(part)
            candidates = [(name, kind) for name, kind in self._listing(directory) if rx.match(name)]
        else:
            candidates = [(part, self._kind(f"{directory}/{part}" if directory else part))]
        for name, kind in candidates:
            path = f"{directory}/{name}" if directory else name
            if rest:
                if kind == _DIR:
                    self._glob_in(path, rest, found)
            elif kind == _FILE or (kind == _LINK and self._resolve(path)[0] == _FILE):
                found.append(path)


def _kind_of_mode(mode):
    if stat.S_ISREG(mode):
        return _FILE
    if stat.S_ISDIR(mode):
        return _DIR
    return _LINK if stat.S_ISLNK(mode) else _OTHER


def _read_tail(fd, max_bytes):
    """At most the last max_bytes of an open regular file (None if it is not one)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        return None
    if max_bytes <= 0:
        return b""
    size = info.st_size
    if size > max_bytes:
        os.lseek(fd, size - max_bytes, os.SEEK_SET)
    want = min(size, max_bytes)
    chunks, have = [], 0
    while have < max_bytes:
        chunk = os.read(fd, (want - have) if have < want else min(_READ_CHUNK, max_bytes - have))
        if not chunk:
            break
        chunks.append(chunk)
        have += len(chunk)
        if have == want and size:
            break  # the size fstat gave: read whole, without asking for an end-of-file read
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _normalise(relpath):
    return str(PurePosixPath(str(relpath).lstrip("/")))


@functools.lru_cache(maxsize=512)  # the reader globs the same few patterns many times
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
