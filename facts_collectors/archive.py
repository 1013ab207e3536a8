"""A support bundle archive read in place: tar, tar.gz/.tgz, tar.xz, tar.bz2 and zip.

`ArchiveSource` gives an archive the same read-only view as `DirectorySource`: POSIX paths relative
to the bundle root (`sos_commands/networking/ip_-d_address`). Nothing is ever extracted or written;
the format is found from the first bytes, not from the file name.

This module is the policy; the formats are read by libraries (archive_formats: libarchive for tar,
zipfile for zip). Decisions, each one enforced here:

* Index once. A tar (plain or compressed) is read once, front to back; a zip by its central
  directory, its members' content on demand.
* Memory is bounded, not proportional to the archive. The index holds a small record per member.
  Tar content is kept in memory only for members up to `Limits.cache_member_bytes` until
  `Limits.cache_total_bytes` is used: collectors read hundreds of small command outputs and
  /proc/sys files, and a compressed stream cannot seek, so without that cache every read would
  decompress the archive again from the start. Larger members (or those after the cache is full)
  are read on demand by streaming the archive again up to that member. Zip members are read on
  demand by their offset, so a zip needs no cache.
* Big members: the TAIL is kept (the last `max_member_bytes`), as sos does for its `.tailed`
  files and as `DirectorySource.read_bytes` does; a note says so.
* Decompression bombs: for a tar, every chunk of content read checks the running ratio of
  content to compressed bytes once more than `bomb_min_bytes` came out; above `max_ratio` reading
  stops, the members completed before it stay usable and a note says where it stopped
  (`InputError` if nothing usable was read). For a zip, each member's declared sizes are known
  before any byte is inflated: a member over `bomb_min_bytes` with a ratio above `max_ratio` is
  skipped with a note; no member may give more than its declared size.
* Member count: more than `max_members` members is refused with `InputError` (real sosreports
  have well under 50,000). A zip's count is read from its end record before anything else, so a
  zip claiming millions of entries costs nothing; a tar is refused when member max+1 is reached.
* Total size: at most `max_total_bytes` of content is read. A tar stops there (members completed
  before stay usable, with a note); zip members past it are skipped with a note.
* Truncated or corrupt archives: the members read completely before the damage are kept with the
  note `archive truncated after N members (...)`; `InputError` if none was.
* Member safety (each refusal is a one-line note; the rest of the bundle stays usable): absolute
  paths, `..` components, NUL bytes and names over 4096 bytes are refused; device files, fifos and
  sockets are refused; symlinks and hard links are resolved only through the archive's own index,
  never on the host: a link to an absolute path or one that climbs out of the bundle root is
  skipped, as are loops and dangling links.
"""

import collections
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from calirules.base.errors import InputError
from calirules.facts_collectors import archive_formats as formats
from calirules.facts_collectors.archive_formats import (
    DIR,
    FILE,
    HARDLINK,
    SYMLINK,
    Damaged,
)
from calirules.facts_collectors.source import (
    MAX_FILE_BYTES,
    DirectorySource,
    EvidenceSource,
)

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Limits:
    """Caps on what reading one archive may cost. The defaults fit any real support bundle."""

    max_member_bytes: int = 64 * MIB    # per member: only the last this many bytes are kept
    max_total_bytes: int = 2 * GIB      # uncompressed bytes read from the archive, all members
    max_members: int = 200_000          # more members: the archive is refused (InputError)
    max_ratio: float = 100.0            # uncompressed / compressed above this is a decompression bomb...
    bomb_min_bytes: int = 64 * MIB      # ...once more than this came out (tar: the stream, zip: a member)
    cache_member_bytes: int = 32 * MIB  # tar: members up to this size are kept in memory...
    cache_total_bytes: int = 256 * MIB  # ...until this much is held; the rest is re-read on demand


MAX_NAME_BYTES = 4096            # PATH_MAX; longer member names are refused
MAX_INDEX_NAME_BYTES = 64 * MIB  # all member paths together; more is refused like too many members
MAX_LINK_HOPS = 40               # like Linux's ELOOP limit
MAX_NOTES = 200                  # further notes are counted in one summary line
MAX_SYMLINK_TARGET = 4096        # zip symlink targets are member content; longer ones are refused
CHUNK = formats.CHUNK

# Where a regular file's content lives: in memory, streamed again, or in the zip.
MEM, STREAM, ZIP = "mem", "stream", "zip"
# Outcomes of resolving a path inside the bundle.
OUTSIDE, MISSING, LOOP = "outside", "missing", "loop"

_FORMAT_NAMES = {"tar": "tar", "gz": "gzip", "xz": "xz", "bz2": "bzip2", "zip": "zip"}
_SUFFIXES = ((".tar.xz", "xz"), (".txz", "xz"), (".tar.gz", "gz"), (".tgz", "gz"), (".tar.bz2", "bz2"),
             (".tbz2", "bz2"), (".tbz", "bz2"), (".tar", "tar"), (".zip", "zip"))


class _Stop(Exception):
    """A cap was reached while streaming: stop reading, keep what was read completely."""


class _Corrupt(Exception):
    """The archive changed on disk, or a member is not what its header declared."""


class _Entry:
    __slots__ = ("data", "how", "kind", "loc", "size", "target")

    def __init__(self, kind, size=0, data=None, how=None, loc=None, target=None):
        self.kind, self.size, self.data, self.how, self.loc, self.target = kind, size, data, how, loc, target


def open_source(path, strip_top=True, limits=None):
    """A directory as a DirectorySource, a file as an ArchiveSource; InputError for anything else."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError("no such file or directory", path) from None
    except OSError as exc:
        raise InputError(f"cannot open: {exc.strerror or exc}", path) from None
    if stat.S_ISDIR(st.st_mode):
        return DirectorySource(path)
    return ArchiveSource(path, strip_top=strip_top, limits=limits or Limits())


class ArchiveSource(EvidenceSource):
    """An archive's files, indexed once when opened; content read on demand, never extracted."""

    def __init__(self, path, strip_top=True, limits=Limits()):
        self.path = Path(path)
        self.label = str(path)
        self.strip_top = strip_top
        self.limits = limits
        self.notes = []
        self.top = None      # the single top directory (sosreport-.../, diagnostics/), if there is one
        self.format = None   # "tar", "gz", "xz", "bz2" or "zip"
        self.members = 0     # members indexed (all kinds)
        self._suppressed = 0
        self._cached = 0
        self._zip = None
        self._not_an_archive = None  # what to say when the tar reader does not recognise the content
        self._entries = {}
        self._dirs = set()
        self._memo = {}
        self._active = set()
        self._stamp = self._stat_regular_file()
        self.format = self._sniff()
        try:
            entries, stop = self._index_zip() if self.format == "zip" else self._index_tar()
        except formats.Unavailable as exc:
            raise InputError(str(exc), self.path) from None
        self._finish(entries, stop)

    # -- the EvidenceSource interface ---------------------------------------------------------

    def files(self):
        return list(self._file_list)

    def exists(self, relpath):
        """True when read_bytes would return content (also through directory symlinks)."""
        return self._lookup(relpath) is not None

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        path = self._lookup(relpath)
        if path is None:
            return None
        entry = self._entries[path]
        cap = min(max_bytes, self.limits.max_member_bytes)
        if cap <= 0:
            return b""
        if entry.how == MEM:
            data = entry.data
            return data[-cap:] if len(data) > cap else data
        try:
            self._check_unchanged()
            if entry.how == STREAM:
                return self._stream_read(entry.loc, cap)
            return _tail(_declared(self._zip.chunks(entry.loc), entry.size), cap)
        except (_Corrupt, _Stop, Damaged) as exc:
            self._note(f"{_show(path)}: could not be read ({_why(exc)}), skipped")
            return None

    # -- opening ----------------------------------------------------------------------------

    def _stat_regular_file(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise InputError("no such file or directory", self.path) from None
        except OSError as exc:
            raise InputError(f"cannot open: {exc.strerror or exc}", self.path) from None
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory, not an archive", self.path)
        if not stat.S_ISREG(st.st_mode):
            raise InputError("not a regular file (device, fifo or socket), not an archive", self.path)
        if st.st_size == 0:
            raise InputError("empty file, not an archive", self.path)
        return st.st_size, st.st_mtime_ns

    def _check_unchanged(self):
        try:
            st = os.stat(self.path)
        except OSError as exc:
            raise _Corrupt(f"archive no longer readable: {exc.strerror or exc}") from None
        if (st.st_size, st.st_mtime_ns) != self._stamp:
            raise _Corrupt("the archive changed on disk after it was indexed")

    def _sniff(self):
        """The format from the magic bytes; the suffix only explains a refusal or a mismatch.

        Anything without a compression or zip magic is offered to the tar reader, which has the
        last word (old v7 tars carry no magic at all)."""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(512)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", self.path) from None
        name = self.path.name.lower()
        said = next((f for s, f in _SUFFIXES if name.endswith(s)), None)
        fmt = _magic(head)
        if fmt is None and formats.is_zip(self.path):
            fmt = "zip"  # a zip with something in front (self-extracting)
        if fmt is None:
            if name.endswith((".gpg", ".pgp", ".asc")):
                raise InputError("encrypted archive (gpg): decrypt it first", self.path)
            if head.startswith(b"\x28\xb5\x2f\xfd"):
                raise InputError("zstd-compressed: not supported, decompress it first (zstd -d)", self.path)
            if head.startswith((b"7z\xbc\xaf'\x1c", b"Rar!")):
                raise InputError("7z/rar archive: not supported, repack it as tar.gz or zip", self.path)
            hint = f"the name says {_fmt_name(said)} but " if said else ""
            self._not_an_archive = (f"not a tar, tar.gz, tar.xz, tar.bz2 or zip archive ({hint}it starts with "
                                    f"{head[:8].hex(' ')})")
            return "tar"
        if said is not None and said != fmt:
            self._note(f"the file name says {_fmt_name(said)} but the content is {_fmt_name(fmt)}; "
                       f"read as {_fmt_name(fmt)}")
        return fmt

    # -- tar ----------------------------------------------------------------------------------

    def _index_tar(self):
        entries = {}
        stop = None
        done = 0
        current = None
        name_bytes = 0
        compressed = self.format != "tar"
        try:
            with formats.TarStream(self.path, self.format) as tar:
                guard = _Guard(self.limits, compressed, tar.packed_bytes)
                for member in tar:
                    if done >= self.limits.max_members:
                        raise InputError(f"more than {self.limits.max_members} members: refused, not a support "
                                         f"bundle (Limits.max_members)", self.path)
                    current = member.name
                    path = self._add(member, entries, lambda m, p, o=done: self._tar_content(tar, guard, m, p, o))
                    current = None
                    done += 1
                    if path is not None:
                        name_bytes += len(path)
                        if name_bytes > MAX_INDEX_NAME_BYTES:
                            raise InputError(f"member names take more than {_size(MAX_INDEX_NAME_BYTES)}: refused, "
                                             f"not a support bundle", self.path)
                if done and tar.end_marker_missing():
                    stop = f"archive truncated after {done} members (end-of-archive marker missing)"
        except _Stop as exc:
            where = f"while reading {_show(current)}" if current else f"after {done} members"
            stop = f"{exc} {where}; the rest of the archive was not read"
        except (Damaged, _Corrupt) as exc:
            stop = self._damage(exc, done)
        self.members = done
        return entries, stop

    def _damage(self, exc, done):
        if done == 0 and getattr(exc, "unrecognised", False):
            if self._not_an_archive:
                raise InputError(self._not_an_archive, self.path)
            return f"{_FORMAT_NAMES[self.format]} data is not a tar archive ({_why(exc)})"
        kind = "truncated" if getattr(exc, "truncated", False) else "corrupt"
        return f"archive {kind} after {done} members ({_why(exc)})"

    def _tar_content(self, tar, guard, member, path, ordinal):
        """Read (or read through) one member's content: a short member raises, so it is never indexed."""
        limits = self.limits
        size = member.size
        chunks = guard.chunks(_declared(tar.chunks(), size))
        keep = min(size, limits.max_member_bytes)
        if size <= limits.cache_member_bytes and self._cached + keep <= limits.cache_total_bytes:
            data = _tail(chunks, limits.max_member_bytes)
            self._cached += len(data)
            return _Entry(FILE, size, data, MEM)
        for _chunk in chunks:  # read through: detects a truncated member, and the caps apply
            pass
        return _Entry(FILE, size, None, STREAM, ordinal)

    def _stream_read(self, ordinal, cap):
        """Read the archive again up to member `ordinal` (its position when indexed)."""
        with formats.TarStream(self.path, self.format) as tar:
            for position, member in enumerate(tar):
                if position == ordinal:
                    return _tail(_declared(tar.chunks(), member.size), cap)
        raise _Corrupt("member not found again")

    # -- zip ----------------------------------------------------------------------------------

    def _index_zip(self):
        limits = self.limits
        count = formats.zip_member_count(self.path)
        if count is not None and count > limits.max_members:
            raise InputError(f"zip has {count} members, more than {limits.max_members}: refused, not a "
                             f"support bundle (Limits.max_members)", self.path)
        try:
            self._zip = formats.ZipArchive(self.path)
        except Damaged as exc:
            raise InputError(f"zip archive is truncated or corrupt: {exc}", self.path) from None
        entries = {}
        done = 0
        budget = {"total": 0, "skipped": 0}
        name_bytes = 0
        for member in self._zip:
            done += 1
            if done > limits.max_members:
                raise InputError(f"more than {limits.max_members} members: refused, not a support bundle "
                                 f"(Limits.max_members)", self.path)
            path = self._add(member, entries, lambda m, p: self._zip_content(m, p, budget), backslash=True)
            if path is not None:
                name_bytes += len(path)
                if name_bytes > MAX_INDEX_NAME_BYTES:
                    raise InputError(f"member names take more than {_size(MAX_INDEX_NAME_BYTES)}: refused, "
                                     f"not a support bundle", self.path)
        if budget["skipped"]:
            self._note(f"{budget['skipped']} members skipped: total uncompressed size cap "
                       f"({_size(limits.max_total_bytes)}) reached")
        self.members = done
        return entries, None

    def _zip_content(self, member, path, budget):
        limits = self.limits
        usize, csize = member.size, max(member.packed or 0, 1)
        if usize > limits.bomb_min_bytes and usize > limits.max_ratio * csize:
            self._note(f"{_show(path)}: decompression bomb guard: {_size(usize)} from {_size(csize)} "
                       f"(ratio {usize // csize} > {limits.max_ratio:g}), skipped")
            return None
        if budget["total"] + usize > limits.max_total_bytes:
            budget["skipped"] += 1
            return None
        budget["total"] += usize
        return _Entry(FILE, usize, None, ZIP, member.loc)

    def _zip_symlink_target(self, member, path):
        if member.size > MAX_SYMLINK_TARGET:
            self._note(f"{_show(path)}: symlink target longer than {MAX_SYMLINK_TARGET} bytes, refused")
            return None
        try:
            data = _tail(_declared(self._zip.chunks(member.loc), member.size), MAX_SYMLINK_TARGET)
        except (_Corrupt, Damaged) as exc:
            self._note(f"{_show(path)}: symlink could not be read ({_why(exc)}), skipped")
            return None
        return data.decode("utf-8", "surrogateescape")

    # -- one member -> one index entry ----------------------------------------------------------

    def _add(self, member, entries, content, backslash=False):
        """Judge one member and index it; its path, or None when it was refused or skipped."""
        path, why = _clean(member.name, backslash)
        if path is None:
            if why:
                self._note(f"{_show(member.name)}: {why}, refused")
            return None
        kind = member.kind
        if kind == DIR:
            entries.setdefault(path, _Entry(DIR))
            return path
        if kind == HARDLINK:
            target, why = _clean(member.target, backslash)
            if target is None:
                self._note(f"{_show(path)}: hard link to {_show(member.target)}: {why or 'no target'}, refused")
                return None
            entries[path] = _Entry(HARDLINK, target=target)
            return path
        if kind not in (FILE, SYMLINK):
            verb = "skipped" if kind.startswith("unknown") else "refused"
            self._note(f"{_show(path)}: {kind}, {verb}")
            return None
        if member.skip:
            self._note(f"{_show(path)}: {member.skip}, skipped")
            return None
        if kind == SYMLINK:
            target = member.target if member.loc is None else self._zip_symlink_target(member, path)
            if target is None:
                return None
            entries[path] = _Entry(SYMLINK, target=target)
            return path
        entry = content(member, path)
        if entry is None:
            return None
        entries[path] = entry
        if member.size > self.limits.max_member_bytes:
            self._note(f"{_show(member.name)}: {_size(member.size)}, only the last "
                       f"{_size(self.limits.max_member_bytes)} are kept (per-member cap)")
        return path

    # -- index -> bundle view -----------------------------------------------------------------

    def _finish(self, entries, stop):
        top = _single_top(entries)
        self.top = top
        if top is not None and self.strip_top:
            cut = len(top) + 1
            stripped = {}
            for path, entry in entries.items():
                if path == top:
                    continue
                if entry.kind == HARDLINK:
                    if not entry.target.startswith(top + "/"):
                        self._note(f"{_show(path)}: hard link to {_show(entry.target)} outside the bundle root, "
                                   f"refused")
                        continue
                    entry.target = entry.target[cut:]
                stripped[path[cut:]] = entry
            entries = stripped
        self._entries = entries
        self._dirs = _parent_dirs(entries)
        shown = (lambda path: _show(f"{top}/{path}")) if top is not None and self.strip_top else _show
        if stop is not None:
            self._note(stop)

        for path, entry in list(entries.items()):  # hard links, in archive order: a target comes first
            if entry.kind != HARDLINK:
                continue
            status, parts = self._resolve(entry.target.split("/"), [], MAX_LINK_HOPS)
            target = entries.get("/".join(parts)) if status == FILE else None
            if target is None or target.kind != FILE:
                self._note(f"{shown(path)}: hard link to {_show(entry.target)} ({_link_why(status)}), skipped")
                del entries[path]
                continue
            entry.kind, entry.size, entry.data, entry.how, entry.loc = (
                FILE, target.size, target.data, target.how, target.loc)

        files = [path for path, entry in entries.items() if entry.kind == FILE]
        for path, entry in entries.items():
            if entry.kind != SYMLINK:
                continue
            status, _parts = self._link(path, entry, MAX_LINK_HOPS)
            if status == FILE:
                files.append(path)
            elif status != DIR:
                self._note(f"{shown(path)}: symlink to {_show(entry.target)} {_link_why(status)}, skipped")
        self._file_list = sorted(files)
        self._files_cache = set(self._file_list)
        if not self._file_list:
            if stop is not None:
                raise InputError(f"{stop}; nothing usable was read", self.path)
            refused = f" ({len(self.notes)} refused or skipped, first: {self.notes[0]})" if self.notes else ""
            raise InputError(f"no readable files in the archive{refused}", self.path)

    def _lookup(self, relpath):
        status, parts = self._resolve(str(relpath).split("/"), [], MAX_LINK_HOPS)
        return "/".join(parts) if status == FILE else None

    def _resolve(self, parts, base, hops):
        """Follow `parts` from directory `base` inside the bundle only. Returns (status, components)."""
        parts = [part for part in parts if part and part != "."]
        cur = list(base)
        count = len(parts)
        i = 0
        while i < count:
            part = parts[i]
            i += 1
            if part == "..":
                if cur:
                    cur.pop()
                    continue
                if self.strip_top and self.top is not None and i < count and parts[i] == self.top:
                    i += 1  # `../<top>/x` from the bundle root comes straight back in
                    continue
                return OUTSIDE, cur
            cur.append(part)
            key = "/".join(cur)
            entry = self._entries.get(key)
            if entry is None:
                if key in self._dirs:
                    continue
                return MISSING, cur
            if entry.kind == DIR:
                continue
            if entry.kind == FILE:
                return (FILE, cur) if i == count else (MISSING, cur)
            if entry.kind == SYMLINK:
                status, target = self._link(key, entry, hops)
                if status == DIR:
                    cur = list(target)
                    continue
                if status == FILE:
                    return (FILE, target) if i == count else (MISSING, cur)
                return status, cur
            return MISSING, cur  # a hard link not resolved (yet)
        return DIR, cur

    def _link(self, key, entry, hops):
        """Where symlink `key` leads; memoised, so chains and many links cost one walk each."""
        known = self._memo.get(key)
        if known is not None:
            return known
        if hops <= 0 or key in self._active:
            return LOOP, []
        target = entry.target
        if not target:
            result = (MISSING, [])
        elif target.startswith("/"):
            result = (OUTSIDE, [])  # an absolute target names a host path: never followed
        else:
            self._active.add(key)
            try:
                result = self._resolve(target.split("/"), key.split("/")[:-1], hops - 1)
            finally:
                self._active.discard(key)
        self._memo[key] = result
        return result

    def _note(self, text):
        if len(self.notes) < MAX_NOTES:
            self.notes.append(text)
            return
        self._suppressed += 1
        summary = f"... and {self._suppressed} more notes"
        if len(self.notes) == MAX_NOTES:
            self.notes.append(summary)
        else:
            self.notes[-1] = summary



# -- helpers ---------------------------------------------------------------------------------

class _Guard:
    """The caps on a tar's content: the total-size cap and the bomb guard apply to every chunk."""

    def __init__(self, limits, compressed, packed_bytes):
        self.limits, self.compressed, self.packed_bytes = limits, compressed, packed_bytes
        self.payload = 0

    def chunks(self, chunks):
        limits = self.limits
        for chunk in chunks:
            self.payload += len(chunk)
            if self.payload > limits.max_total_bytes:
                raise _Stop(f"total uncompressed size cap ({_size(limits.max_total_bytes)}) reached")
            if self.compressed and self.payload > limits.bomb_min_bytes:
                packed = max(self.packed_bytes(), 1)
                if self.payload > limits.max_ratio * packed:
                    raise _Stop(f"decompression bomb guard: {_size(self.payload)} of content from {_size(packed)} "
                                f"compressed (ratio {self.payload // packed} > {limits.max_ratio:g})")
            yield chunk


def _declared(chunks, size):
    """A member's content, checked against the size its header declared."""
    produced = 0
    for chunk in chunks:
        produced += len(chunk)
        if produced > size:
            raise _Corrupt("member gives more than its declared size")
        yield chunk
    if produced != size:
        raise _Corrupt(f"member gives {produced} bytes, not the declared {size}")


def _tail(chunks, cap):
    """The last `cap` bytes of a chunk stream, holding at most cap + one chunk in memory."""
    held = collections.deque()
    size = 0
    for chunk in chunks:
        held.append(chunk)
        size += len(chunk)
        while held and size - len(held[0]) >= cap:
            size -= len(held.popleft())
    data = b"".join(held)
    return data[-cap:] if len(data) > cap else data



def _magic(head):
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x1f\x8b\x08"):
        return "gz"
    if head.startswith(b"BZh") and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"):
        return "bz2"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    return None


def _clean(name, backslash=False):
    """(bundle path, None), or (None, why it is refused); (None, None) for the archive root itself."""
    if backslash and "\\" in name:
        name = name.replace("\\", "/")
    if "\x00" in name:
        return None, "NUL byte in the name"
    if len(name) * 4 > MAX_NAME_BYTES and len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        return None, f"name longer than {MAX_NAME_BYTES} bytes"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return None, "absolute path"
    if not (name.startswith(("./", "../")) or name.endswith(("/", "/.", "/..")) or "//" in name
            or "/./" in name or "/../" in name or name in (".", "..")):
        return name, None  # the common case, checked without splitting: already clean
    parts = [part for part in name.split("/") if part and part != "."]
    if ".." in parts:
        return None, "'..' in the path (leaves the bundle)"
    if not parts:
        return None, None
    return "/".join(parts), None


def _single_top(entries):
    """The one top directory every member is under, if there is exactly one."""
    heads = set()
    for path in entries:
        heads.add(path.split("/", 1)[0])
        if len(heads) > 1:
            return None
    if len(heads) != 1:
        return None
    (head,) = heads
    entry = entries.get(head)
    if entry is not None and entry.kind != DIR:
        return None
    if entry is None and not any("/" in path for path in entries):
        return None
    return head


def _parent_dirs(entries):
    dirs = set()
    for path in entries:
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in dirs:
                break
            dirs.add(parent)
            cut = path.rfind("/", 0, cut)
    return dirs


def _link_why(status):
    return {OUTSIDE: "leaves the bundle", LOOP: "is a loop (or too many links)",
            MISSING: "points to nothing in the bundle", DIR: "is a directory"}.get(status, status)


def _why(exc):
    text = str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


def _show(name, limit=200):
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name[:limit + 1])
    return text if len(text) <= limit else text[:limit] + "..."


def _size(count):
    if count >= GIB:
        return f"{count / GIB:.1f} GiB"
    if count >= MIB:
        return f"{count / MIB:.1f} MiB"
    if count >= KIB:
        return f"{count / KIB:.1f} KiB"
    return f"{count} bytes"


def _fmt_name(fmt):
    return {"tar": "tar", "gz": "tar.gz", "xz": "tar.xz", "bz2": "tar.bz2", "zip": "zip"}.get(fmt, fmt)
