"""A support bundle archive read in place: tar, tar.gz/.tgz, tar.xz, tar.bz2 and zip.

`ArchiveSource` gives an archive the same read-only view as `DirectorySource`: POSIX paths relative
to the bundle root (`sos_commands/networking/ip_-d_address`). Nothing is ever extracted or written;
the format is found from the first bytes, not from the file name.

Decisions (each one documented where it is enforced):

* Index once by streaming. Tar archives (plain or compressed) are read once, front to back, by a
  small header scanner (`_TarScanner`: ustar, pax and GNU long names; tarfile's per-header cost
  was 80% of diagnosing a 250-pod sosreport); zip archives by their central directory, parsed here (not with
  `zipfile.ZipFile`, which builds a ~550-byte `ZipInfo` for every entry before we can look at the
  count, 55 MB for a 100,000-member zip).
* Memory is bounded, not proportional to the archive. The index holds a small record per member.
  Content is kept in memory only for compressed tars, and only for members up to
  `Limits.cache_member_bytes` until `Limits.cache_total_bytes` is used: collectors read hundreds
  of small command outputs and /proc/sys files, and an xz/gzip/bz2 stream cannot seek, so without
  that cache every read would decompress the archive again from the start. Larger members (or those
  after the cache is full) are read on demand by streaming the archive again up to that member
  (time bounded by the caps below). Plain tars are read by offset and zips by their local header,
  so neither needs a cache.
* Big members: the TAIL is kept (the last `max_member_bytes`), as sos does for its `.tailed`
  files and as `DirectorySource.read_bytes` does; a note says so.
* Decompression bombs: for a tar, every read of the decompressed stream checks the running ratio
  of uncompressed to compressed bytes once more than `bomb_min_bytes` came out; above `max_ratio`
  reading stops, the members completed before it stay usable and a note says where it stopped
  (`InputError` if nothing usable was read). For a zip, each member's declared sizes are known
  before any byte is inflated: a member over `bomb_min_bytes` with a ratio above `max_ratio` is
  skipped with a note, and no member may inflate to more than its declared size.
* Member count: more than `max_members` members is refused with `InputError` (real sosreports
  have well under 50,000). A zip's count is read from its end record before anything else, so a
  zip claiming millions of entries costs nothing; a tar is refused when header max+1 is reached.
* Total size: at most `max_total_bytes` of uncompressed data is read. A tar stops there (members
  completed before stay usable, with a note); zip members past it are skipped with a note.
* Truncated or corrupt archives: the members read completely before the damage are kept with the
  note `archive truncated after N members (...)`; `InputError` if none was.
* Member safety (each refusal is a one-line note; the rest of the bundle stays usable): absolute
  paths, `..` components, NUL bytes and names over 4096 bytes are refused; device files, fifos and
  sockets are refused; symlinks and hard links are resolved only through the archive's own index,
  never on the host: a link to an absolute path or one that climbs out of the bundle root is
  skipped, as are loops and dangling links.
"""

import bz2
import collections
import contextlib
import gzip
import lzma
import os
import stat
import struct
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from calirules.base.errors import InputError
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
    cache_member_bytes: int = 32 * MIB  # compressed tar: members up to this size are kept in memory...
    cache_total_bytes: int = 256 * MIB  # ...until this much is held; the rest is re-read on demand


MAX_NAME_BYTES = 4096            # PATH_MAX; longer member names are refused
MAX_INDEX_NAME_BYTES = 64 * MIB  # all member paths together; more is refused like too many members
MAX_HEADER_BYTES = 1 * MIB       # tar pax / GNU long-name headers, which tarfile reads whole
MAX_LINK_HOPS = 40               # like Linux's ELOOP limit
MAX_NOTES = 200                  # further notes are counted in one summary line
MAX_SYMLINK_TARGET = 4096        # zip symlink targets are member content; longer ones are refused
CHUNK = 1 * MIB                  # read granularity (bounds the memory of one read step)
STREAM_BUFSIZE = 64 * KIB        # read size when looking for the end-of-archive marker
BLOCK = tarfile.BLOCKSIZE

# Entry kinds and where a regular file's content lives.
FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"
MEM, SEEK, STREAM, ZIP = "mem", "seek", "stream", "zip"
# Outcomes of resolving a path inside the bundle.
OUTSIDE, MISSING, LOOP = "outside", "missing", "loop"

_FORMAT_NAMES = {"tar": "tar", "gz": "gzip", "xz": "xz", "bz2": "bzip2", "zip": "zip"}
_SUFFIXES = ((".tar.xz", "xz"), (".txz", "xz"), (".tar.gz", "gz"), (".tgz", "gz"), (".tar.bz2", "bz2"),
             (".tbz2", "bz2"), (".tbz", "bz2"), (".tar", "tar"), (".zip", "zip"))
_ZIP_METHODS = {0: "stored", 8: "deflate", 12: "bzip2"}
_EXT_HEADER_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
                     tarfile.SOLARIS_XHDTYPE)
# What a damaged stream raises: tarfile, the three decompressors, short reads, the file itself.
_STREAM_ERRORS = (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error, ValueError)


class _Stop(Exception):
    """A cap was reached while streaming: stop reading, keep what was read completely."""


class _Corrupt(Exception):
    """The archive's own structure is damaged (zip records, tar end marker, changed on disk)."""


class _Entry:
    __slots__ = ("kind", "size", "data", "how", "loc", "target")

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
        self._entries = {}
        self._dirs = set()
        self._memo = {}
        self._active = set()
        self._stamp = self._stat_regular_file()
        self.format = self._sniff()
        self._compressed = self.format in ("gz", "xz", "bz2")
        if self.format == "zip":
            entries, stop = self._index_zip()
        else:
            entries, stop = self._index_tar()
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
        try:
            if entry.how == MEM:
                data = entry.data
            else:
                self._check_unchanged()
                if entry.how == SEEK:
                    data = self._seek_read(entry, cap)
                elif entry.how == STREAM:
                    data = self._stream_read(entry.loc, cap)
                else:
                    data = self._zip_read(entry, cap)
        except (_Corrupt, _Stop) + _STREAM_ERRORS as exc:
            self._note(f"{_show(path)}: could not be read ({_why(exc)}), skipped")
            return None
        if data is None:
            return None
        return data[-cap:] if len(data) > cap else data

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
        """The format from the magic bytes; the suffix only explains a refusal or a mismatch."""
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(BLOCK)
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", self.path) from None
        name = self.path.name.lower()
        fmt = _magic(head)
        if fmt is None and _zip_end_record_or_none(self.path, self._stamp[0]) is not None:
            fmt = "zip"  # a zip with something in front (self-extracting)
        if fmt is None:
            if name.endswith((".gpg", ".pgp", ".asc")):
                raise InputError("encrypted archive (gpg): decrypt it first", self.path)
            if head.startswith(b"\x28\xb5\x2f\xfd"):
                raise InputError("zstd-compressed: not supported, decompress it first (zstd -d)", self.path)
            if head.startswith(b"7z\xbc\xaf\x27\x1c") or head.startswith(b"Rar!"):
                raise InputError("7z/rar archive: not supported, repack it as tar.gz or zip", self.path)
            said = next((f for s, f in _SUFFIXES if name.endswith(s)), None)
            hint = f"the name says {_fmt_name(said)} but " if said else ""
            raise InputError(f"not a tar, tar.gz, tar.xz, tar.bz2 or zip archive ({hint}it starts with "
                             f"{head[:8].hex(' ')})", self.path)
        said = next((f for s, f in _SUFFIXES if name.endswith(s)), None)
        if said is not None and said != fmt:
            self._note(f"the file name says {_fmt_name(said)} but the content is {_fmt_name(fmt)}; "
                       f"read as {_fmt_name(fmt)}")
        return fmt

    # -- tar ----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _tar_stream(self):
        """tarfile in stream mode over the decompressed stream, with the caps on every read."""
        with open(self.path, "rb") as raw:
            counter = _CountingReader(raw)
            if self.format == "gz":
                stream = gzip.GzipFile(fileobj=counter, mode="rb")
            elif self.format == "xz":
                stream = lzma.LZMAFile(counter, mode="rb")
            elif self.format == "bz2":
                stream = bz2.BZ2File(counter, mode="rb")
            else:
                stream = counter
            guard = _Guard(stream, counter, self.limits, self._compressed)
            yield _TarScanner(guard), guard

    def _index_tar(self):
        entries = {}
        stop = None
        done = 0
        current = None
        name_bytes = 0
        try:
            with self._tar_stream() as (handle, guard):
                ordinal = 0
                while True:
                    info = handle.next()
                    handle.members.clear()  # stream mode would otherwise keep every TarInfo
                    if info is None:
                        break
                    if ordinal >= self.limits.max_members:
                        raise InputError(f"more than {self.limits.max_members} members: refused, not a support "
                                         f"bundle (Limits.max_members)", self.path)
                    current = info.name
                    guard.members += 1
                    path = self._tar_member(handle, info, ordinal, entries)
                    current = None
                    if path is not None:
                        name_bytes += len(path)
                        if name_bytes > MAX_INDEX_NAME_BYTES:
                            raise InputError(f"member names take more than {_size(MAX_INDEX_NAME_BYTES)}: refused, "
                                             f"not a support bundle", self.path)
                    ordinal += 1
                    done += 1
                stop = _tar_end_problem(handle, guard, done)
        except _Stop as exc:
            where = f"while reading {_show(current)}" if current else f"after {done} members"
            stop = f"{exc} {where}; the rest of the archive was not read"
        except _STREAM_ERRORS as exc:
            stop = self._damage(exc, done)
        self.members = done
        return entries, stop

    def _damage(self, exc, done):
        kind = "truncated" if _looks_truncated(exc) else "corrupt"
        if done == 0 and kind == "corrupt" and isinstance(exc, tarfile.ReadError):
            what = _FORMAT_NAMES[self.format]
            inner = "data is not a tar archive" if self._compressed else "is not a readable tar archive"
            return f"{what} {inner} ({_why(exc)})"
        return f"archive {kind} after {done} members ({_why(exc)})"

    def _tar_member(self, handle, info, ordinal, entries):
        path, why = _clean(info.name)
        if path is None:
            if why:
                self._note(f"{_show(info.name)}: {why}, refused")
            return None
        if info.isreg():
            entries[path] = self._tar_content(handle, info, ordinal, path)
        elif info.isdir():
            if path not in entries:
                entries[path] = _Entry(DIR)
        elif info.issym():
            entries[path] = _Entry(SYMLINK, target=info.linkname)
        elif info.islnk():
            target, why = _clean(info.linkname)
            if target is None:
                self._note(f"{_show(path)}: hard link to {_show(info.linkname)}: {why or 'no target'}, refused")
                return None
            entries[path] = _Entry(HARDLINK, target=target)
        elif info.ischr() or info.isblk() or info.isfifo():
            kind = "character device" if info.ischr() else "block device" if info.isblk() else "fifo"
            self._note(f"{_show(path)}: {kind}, refused")
            return None
        else:
            self._note(f"{_show(path)}: unsupported tar member type {info.type!r}, skipped")
            return None
        return path

    def _tar_content(self, handle, info, ordinal, path):
        """Read (or read through) one member's data: a short member raises, so it is never indexed."""
        limits = self.limits
        size = info.size
        member = handle.extractfile(info)
        keep = min(size, limits.max_member_bytes)
        if (self._compressed and size <= limits.cache_member_bytes
                and self._cached + keep <= limits.cache_total_bytes):
            data = _read_tail(member, limits.max_member_bytes)
            self._cached += len(data)
            entry = _Entry(FILE, size, data, MEM)
        else:
            while member.read(CHUNK):  # read through: detects a truncated member, and the caps apply
                pass
            if not self._compressed and not info.issparse():
                entry = _Entry(FILE, size, None, SEEK, info.offset_data)
            else:
                entry = _Entry(FILE, size, None, STREAM, ordinal)
        if size > limits.max_member_bytes:
            self._note(f"{_show(info.name)}: {_size(size)}, only the last {_size(limits.max_member_bytes)} are "
                       f"kept (per-member cap)")
        return entry

    def _seek_read(self, entry, cap):
        with open(self.path, "rb") as raw:
            start = entry.loc + max(0, entry.size - cap)
            raw.seek(start)
            data = raw.read(min(cap, entry.size))
        if len(data) != min(cap, entry.size):
            raise _Corrupt("member data ends early")
        return data

    def _stream_read(self, ordinal, cap):
        """Stream the archive again up to member `ordinal` (its position when indexed)."""
        with self._tar_stream() as (handle, _guard):
            position = 0
            while True:
                info = handle.next()
                handle.members.clear()
                if info is None:
                    raise _Corrupt("member not found again")
                if position == ordinal:
                    return _read_tail(handle.extractfile(info), cap)
                position += 1

    # -- zip ----------------------------------------------------------------------------------

    def _index_zip(self):
        limits = self.limits
        entries = {}
        stop = None
        done = 0
        total = 0
        skipped_total = 0
        name_bytes = 0
        try:
            with open(self.path, "rb") as raw:
                count, cd_start, cd_size, shift = _zip_end_record(raw, self._stamp[0])
                if count > limits.max_members:
                    raise InputError(f"zip has {count} members, more than {limits.max_members}: refused, not a "
                                     f"support bundle (Limits.max_members)", self.path)
                for name, flags, method, crc, csize, usize, attr, offset in _zip_directory(raw, cd_start, count):
                    offset += shift
                    done += 1
                    path, why = _clean(name, backslash=True)
                    if path is None:
                        if why:
                            self._note(f"{_show(name)}: {why}, refused")
                        continue
                    name_bytes += len(path)
                    if name_bytes > MAX_INDEX_NAME_BYTES:
                        raise InputError(f"member names take more than {_size(MAX_INDEX_NAME_BYTES)}: refused, "
                                         f"not a support bundle", self.path)
                    fmt = stat.S_IFMT(attr >> 16)
                    loc = (offset, csize, method, crc)
                    if name.endswith(("/", "\\")) or fmt == stat.S_IFDIR:
                        entries.setdefault(path, _Entry(DIR))
                        continue
                    if fmt in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO, stat.S_IFSOCK):
                        self._note(f"{_show(path)}: {_FILE_TYPES[fmt]}, refused")
                        continue
                    if fmt not in (0, stat.S_IFREG, stat.S_IFLNK):
                        self._note(f"{_show(path)}: unknown file type {oct(fmt)}, skipped")
                        continue
                    if flags & 0x41:
                        self._note(f"{_show(path)}: encrypted, skipped")
                        continue
                    if method not in _ZIP_METHODS:
                        self._note(f"{_show(path)}: zip compression method {method} not supported, skipped")
                        continue
                    if usize > limits.bomb_min_bytes and usize > limits.max_ratio * max(csize, 1):
                        self._note(f"{_show(path)}: decompression bomb guard: {_size(usize)} from {_size(csize)} "
                                   f"(ratio {usize // max(csize, 1)} > {limits.max_ratio:g}), skipped")
                        continue
                    entry = _Entry(FILE, usize, None, ZIP, loc)
                    if fmt == stat.S_IFLNK:
                        target = self._zip_symlink_target(path, entry)
                        if target is not None:
                            entries[path] = _Entry(SYMLINK, target=target)
                        continue
                    if total + usize > limits.max_total_bytes:
                        skipped_total += 1
                        continue
                    total += usize
                    entries[path] = entry
                    if usize > limits.max_member_bytes:
                        self._note(f"{_show(path)}: {_size(usize)}, only the last {_size(limits.max_member_bytes)} "
                                   f"are kept (per-member cap)")
        except _Corrupt as exc:
            if done == 0 and not entries:
                raise InputError(f"zip archive is truncated or corrupt: {exc}", self.path) from None
            stop = f"archive truncated after {done} members ({exc})"
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", self.path) from None
        if skipped_total:
            self._note(f"{skipped_total} members skipped: total uncompressed size cap "
                       f"({_size(limits.max_total_bytes)}) reached")
        self.members = done
        return entries, stop

    def _zip_symlink_target(self, path, entry):
        if entry.size > MAX_SYMLINK_TARGET:
            self._note(f"{_show(path)}: symlink target longer than {MAX_SYMLINK_TARGET} bytes, refused")
            return None
        try:
            data = self._zip_read(entry, MAX_SYMLINK_TARGET)
        except (_Corrupt,) + _STREAM_ERRORS as exc:
            self._note(f"{_show(path)}: symlink could not be read ({_why(exc)}), skipped")
            return None
        return data.decode("utf-8", "surrogateescape")

    def _zip_read(self, entry, cap):
        offset, csize, method, crc = entry.loc
        size = entry.size
        with open(self.path, "rb") as raw:
            raw.seek(offset)
            head = raw.read(30)
            if len(head) < 30 or head[:4] != b"PK\x03\x04":
                raise _Corrupt("local file header missing")
            name_len, extra_len = struct.unpack_from("<2H", head, 26)
            start = offset + 30 + name_len + extra_len
            if method == 0 and size > cap:
                if csize != size:
                    raise _Corrupt("stored member with different sizes")
                raw.seek(start + size - cap)  # stored: read the tail directly
                data = raw.read(cap)
                if len(data) != cap:
                    raise _Corrupt("member data ends early")
                return data
            raw.seek(start)
            return _tail(_zip_chunks(raw, csize, method, size, crc), cap)

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

class _CountingReader:
    """The raw archive file, counting the compressed bytes read (for the ratio check)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def read(self, size=-1):
        data = self.raw.read(size if size is not None and size >= 0 else CHUNK)
        self.count += len(data)
        return data

    def readable(self):
        return True


MEMBER_OVERHEAD_BYTES = 2048


class _Guard:
    """The uncompressed tar stream: the total-size cap and the bomb guard apply to every read.

    tarfile reads everything (headers, pax records, member data, skipped data) through here, so no
    path through tarfile can decompress more than the caps allow.
    """

    def __init__(self, stream, counter, limits, compressed):
        self.stream, self.counter, self.limits, self.compressed = stream, counter, limits, compressed
        self.pos = 0
        self.members = 0  # seen so far: their headers and padding are not payload
        self.window = collections.deque(maxlen=4)  # the last chunks, for the end-of-archive check

    def read(self, size=-1):
        size = size if size is not None and size >= 0 else STREAM_BUFSIZE
        room = self.limits.max_total_bytes - self.pos  # never read ahead past the cap
        if size and room <= 0:
            raise _Stop(f"total uncompressed size cap ({_size(self.limits.max_total_bytes)}) reached")
        data = self.stream.read(min(size, room))
        if data:
            self.window.append((self.pos, data))
            self.pos += len(data)
            self._check()
        return data

    def _check(self):
        limits = self.limits
        # Each member costs up to ~2 KiB of headers (ustar + pax) and padding that compress to almost
        # nothing: a sosreport's 30,000 one-line /proc/sys files are not a bomb. Count payload only.
        payload = self.pos - self.members * MEMBER_OVERHEAD_BYTES
        if self.compressed and payload > limits.bomb_min_bytes:
            packed = max(self.counter.count, 1)
            if payload > limits.max_ratio * packed:
                raise _Stop(f"decompression bomb guard: {_size(payload)} of content from {_size(packed)} compressed "
                            f"(ratio {payload // packed} > {limits.max_ratio:g})")

    def block(self, start, length):
        out = bytearray()
        for chunk_start, chunk in self.window:
            lo, hi = max(start, chunk_start), min(start + length, chunk_start + len(chunk))
            if lo < hi:
                out += chunk[lo - chunk_start:hi - chunk_start]
        return bytes(out)


class _RawMember:
    """One tar member as the index needs it (the subset of tarfile.TarInfo used here)."""

    __slots__ = ("name", "linkname", "size", "type", "offset_data")

    def __init__(self, name, linkname, size, type_, offset_data):
        self.name, self.linkname, self.size, self.type, self.offset_data = name, linkname, size, type_, offset_data

    def isreg(self):
        return self.type in tarfile.REGULAR_TYPES and self.type != tarfile.GNUTYPE_SPARSE

    def isdir(self):
        return self.type == tarfile.DIRTYPE

    def issym(self):
        return self.type == tarfile.SYMTYPE

    def islnk(self):
        return self.type == tarfile.LNKTYPE

    def ischr(self):
        return self.type == tarfile.CHRTYPE

    def isblk(self):
        return self.type == tarfile.BLKTYPE

    def isfifo(self):
        return self.type == tarfile.FIFOTYPE

    def issparse(self):
        return self.type == tarfile.GNUTYPE_SPARSE


class _TarScanner:
    """Walks tar headers on the guarded stream: ustar, pax (x) and GNU long-name (L/K) headers.

    Why not tarfile: its per-header Python work (pax parsing, TarInfo objects) costs ~65 us a
    header; a 250-pod sosreport has 35,000 members, each behind a pax header: 2.2 s of a 2.8 s
    diagnosis. This reads the same fields with struct-free slicing in ~0.2 s. Sparse members and
    global pax headers are passed to the caller as unsupported types; everything else the index
    refuses (devices, links that leave) is decided by the caller as before.
    """

    def __init__(self, guard):
        self.guard = guard
        self.offset = 0          # start of the next header (the end marker, once next() returns None)
        self.members = []        # tarfile compatibility: callers clear it
        self._unread = 0         # body bytes of the current member not yet read, plus its padding

    def _read_exact(self, size):
        data = bytearray()
        while len(data) < size:
            chunk = self.guard.read(min(size - len(data), CHUNK))
            if not chunk:
                raise EOFError("unexpected end of data")
            data += chunk
        return bytes(data)

    def _skip(self, size):
        while size > 0:
            chunk = self.guard.read(min(size, CHUNK))
            if not chunk:
                raise EOFError("unexpected end of data")
            size -= len(chunk)

    def next(self):
        self._skip(self._unread)
        self._unread = 0
        overrides, long_name, long_link = {}, None, None
        first = self.offset == 0
        while True:
            start = self.offset
            header = self.guard.read(BLOCK)
            if len(header) < BLOCK or not any(header) or not _checksum_ok(header):
                if first and len(header) < BLOCK:
                    raise tarfile.ReadError("empty file" if not header else "unexpected end of data")
                if first and any(header):
                    raise tarfile.ReadError("invalid header")
                self.offset = start  # _tar_end_problem looks at this block (still in the guard's window)
                return None
            first = False
            size = _member_size(header[124:136], "a tar header")
            type_ = header[156:157]
            padded = -(-size // BLOCK) * BLOCK
            self.offset = start + BLOCK + padded
            if type_ in _EXT_HEADER_TYPES:
                if size > MAX_HEADER_BYTES:
                    raise tarfile.HeaderError(f"extended header of {_size(size)} (more than {_size(MAX_HEADER_BYTES)})")
                data = self._read_exact(padded)[:size]
                if type_ == tarfile.XHDTYPE:
                    overrides.update(_pax_records(data))
                elif type_ == tarfile.GNUTYPE_LONGNAME:
                    long_name = _text(data.split(b"\0", 1)[0])
                elif type_ == tarfile.GNUTYPE_LONGLINK:
                    long_link = _text(data.split(b"\0", 1)[0])
                continue  # global pax headers carry nothing the index uses
            name = _text(header[0:100].split(b"\0", 1)[0])
            if header[257:263] == b"ustar\x00" and header[345] != 0:
                name = _text(header[345:500].split(b"\0", 1)[0]) + "/" + name
            name = overrides.get("path", long_name or name)
            linkname = overrides.get("linkpath", long_link or _text(header[157:257].split(b"\0", 1)[0]))
            if "size" in overrides:
                size = _member_size(overrides["size"], "a pax header")
                padded = -(-size // BLOCK) * BLOCK
                self.offset = start + BLOCK + padded
            if type_ == tarfile.AREGTYPE and name.endswith("/"):
                type_ = tarfile.DIRTYPE
            if type_ == tarfile.DIRTYPE:
                name = name.rstrip("/")
            self._unread = padded
            return _RawMember(name, linkname, size, type_, start + BLOCK)

    def extractfile(self, member):
        return _BodyReader(self, member.size)


class _BodyReader:
    """Reads one member's body from the scanner's stream; the scanner skips what is left."""

    def __init__(self, scanner, size):
        self.scanner, self.left = scanner, size

    def read(self, size=-1):
        size = self.left if size is None or size < 0 else min(size, self.left)
        if size <= 0:
            return b""
        data = self.scanner.guard.read(min(size, CHUNK))
        if not data:
            raise EOFError("unexpected end of data")
        self.left -= len(data)
        self.scanner._unread -= len(data)
        return data


def _checksum_ok(header):
    try:
        stored = _tar_number(header[148:156])
    except ValueError:
        return False
    unsigned = sum(header[:148]) + 256 + sum(header[156:])  # the checksum field counts as 8 spaces
    return stored == unsigned


def _tar_number(field):
    """A tar numeric field: octal ASCII (NUL/space padded) or GNU base-256, in which a first byte
    of 0xff marks a negative number in two's complement over the whole field (as tarfile.nti
    reads it). Raises ValueError for anything else."""
    if field[0] in (0x80, 0xFF):
        value = int.from_bytes(field[1:], "big")
        return value - (1 << (8 * (len(field) - 1))) if field[0] == 0xFF else value
    digits = field.replace(b"\0", b" ").strip()
    return int(digits, 8) if digits else 0


def _member_size(value, where):
    """A member size from a header field or a pax record: a non-negative integer, or HeaderError."""
    try:
        size = _tar_number(value) if isinstance(value, bytes) else int(value)
    except ValueError:
        raise tarfile.HeaderError(f"invalid size in {where}") from None
    if size < 0:
        raise tarfile.HeaderError(f"negative size ({size}) in {where}")
    return size


def _pax_records(data):
    """`<len> <key>=<value>\\n` records; lengths that do not add up end the parse."""
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            break
        if length <= 0 or pos + length > len(data):
            break
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        records[_text(key)] = _text(value)
        pos += length
    return records


def _text(raw):
    return raw.decode("utf-8", "surrogateescape")


def _tar_end_problem(handle, guard, done):
    """tarfile ends quietly at a short or invalid header after the first: tell those from a real end."""
    end = handle.offset
    while guard.pos < end + BLOCK:
        if not guard.read(STREAM_BUFSIZE):
            break
    block = guard.block(end, BLOCK)
    if len(block) < BLOCK:
        return f"archive truncated after {done} members (end-of-archive marker missing)"
    if any(block):
        return f"archive corrupt after {done} members (invalid tar header at offset {end})"
    return None


def _read_tail(member, cap):
    return _tail(iter(lambda: member.read(CHUNK), b""), cap)


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


def _zip_chunks(raw, csize, method, size, crc_expected):
    """A zip member's content in chunks; never more than its declared size, CRC checked."""
    if method == 8:
        inflater = zlib.decompressobj(-15)
    elif method == 12:
        inflater = bz2.BZ2Decompressor()
    else:
        inflater = None
    left = csize
    produced = 0
    crc = 0
    while left > 0:
        packed = raw.read(min(CHUNK, left))
        if not packed:
            raise _Corrupt("member data ends early")
        left -= len(packed)
        for out in _inflate(inflater, method, packed):
            produced += len(out)
            if produced > size:
                raise _Corrupt("member inflates to more than its declared size")
            crc = zlib.crc32(out, crc)
            yield out
    if produced != size:
        raise _Corrupt(f"member inflates to {produced} bytes, not the declared {size}")
    if crc != crc_expected:
        raise _Corrupt("CRC mismatch")


def _inflate(inflater, method, packed):
    """Decompress one input chunk in pieces of at most CHUNK bytes (bounded memory per step)."""
    if method == 0:
        yield packed
    elif method == 8:
        data = packed
        while True:
            out = inflater.decompress(data, CHUNK)
            data = inflater.unconsumed_tail
            if out:
                yield out
            if inflater.eof or (not data and len(out) < CHUNK):
                return
    else:
        if inflater.eof:
            return
        out = inflater.decompress(packed, CHUNK)
        while True:
            if out:
                yield out
            if inflater.eof or inflater.needs_input:
                return
            out = inflater.decompress(b"", CHUNK)


def _zip_end_record(raw, file_size):
    """(entry count, central directory offset, its size, bytes prepended) from the end records."""
    tail_len = min(file_size, 22 + 65535)
    raw.seek(file_size - tail_len)
    tail = raw.read(tail_len)
    pos = tail.rfind(b"PK\x05\x06")
    if pos < 0 or len(tail) - pos < 22:
        raise _Corrupt("end of central directory record not found")
    _sig, disk, cd_disk, _n_disk, count, cd_size, cd_offset, _clen = struct.unpack_from("<4s4H2LH", tail, pos)
    end_at = file_size - tail_len + pos
    if disk != 0 or cd_disk != 0:
        raise _Corrupt("multi-part (split) zip archives are not supported")
    if count == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        if end_at < 20:
            raise _Corrupt("zip64 end record locator missing")
        raw.seek(end_at - 20)
        locator = raw.read(20)
        if len(locator) < 20 or locator[:4] != b"PK\x06\x07":
            raise _Corrupt("zip64 end record locator missing")
        end_at = end_at - 20 - 56  # the zip64 record, assuming no extensible data (as zipfile does)
        raw.seek(end_at)
        record = raw.read(56)
        if len(record) < 56 or record[:4] != b"PK\x06\x06":
            raise _Corrupt("zip64 end of central directory record missing")
        count, cd_size, cd_offset = struct.unpack_from("<3Q", record, 32)
    shift = end_at - cd_size - cd_offset  # bytes in front of the zip (self-extracting archives)
    if shift < 0 or cd_offset + shift + cd_size > file_size:
        raise _Corrupt("central directory lies outside the file")
    return count, cd_offset + shift, cd_size, shift


def _zip_end_record_or_none(path, file_size):
    try:
        with open(path, "rb") as raw:
            return _zip_end_record(raw, file_size)
    except (_Corrupt, OSError, struct.error):
        return None


_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")


def _zip_directory(raw, start, count):
    """The central directory's entries, parsed from 1 MiB blocks (a 100,000-entry zip is ~10 MB)."""
    raw.seek(start)
    buf = b""
    pos = 0
    size = _CENTRAL.size
    for _ in range(count):
        if len(buf) - pos < size:
            buf = buf[pos:] + raw.read(CHUNK)
            pos = 0
            if len(buf) < size:
                raise _Corrupt("central directory ends early")
        (sig, _cv, _cs, _ev, _es, flags, method, _time, _date, crc, csize, usize, name_len, extra_len, comment_len,
         _disk, _iattr, attr, offset) = _CENTRAL.unpack_from(buf, pos)
        if sig != b"PK\x01\x02":
            raise _Corrupt("central directory entry damaged")
        end = pos + size + name_len + extra_len + comment_len
        while len(buf) < end:
            more = raw.read(CHUNK)
            if not more:
                raise _Corrupt("central directory ends early")
            buf = buf[pos:] + more
            end -= pos
            pos = 0
        name = buf[pos + size:pos + size + name_len]
        if 0xFFFFFFFF in (usize, csize, offset):
            extra = buf[pos + size + name_len:pos + size + name_len + extra_len]
            usize, csize, offset = _zip64_sizes(extra, usize, csize, offset)
        pos = end
        if flags & 0x800 or name.isascii():
            text = name.decode("utf-8", "surrogateescape")
        else:
            text = name.decode("cp437")  # zip's default encoding when the UTF-8 flag is not set
        yield text, flags, method, crc, csize, usize, attr, offset


def _zip64_sizes(extra, usize, csize, offset):
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        if tag == 1:
            body = extra[pos + 4:pos + 4 + length]
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        pos += 4 + length
    if 0xFFFFFFFF in (usize, csize, offset):
        raise _Corrupt("zip64 sizes missing")
    return usize, csize, offset


_FILE_TYPES = {stat.S_IFCHR: "character device", stat.S_IFBLK: "block device", stat.S_IFIFO: "fifo",
               stat.S_IFSOCK: "socket"}


def _magic(head):
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x1f\x8b\x08"):
        return "gz"
    if head.startswith(b"BZh") and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9"):
        return "bz2"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if _tar_header_ok(head):
        return "tar"
    return None


def _tar_header_ok(block):
    """A tar header block: its checksum matches (works for v7, ustar, GNU and pax)."""
    if len(block) < BLOCK or not any(block):
        return False
    try:
        stored = int(block[148:156].split(b"\0", 1)[0].strip() or b"x", 8)
    except ValueError:
        return False
    unsigned = 256 + sum(block[:148]) + sum(block[156:BLOCK])
    signed = 256 + sum(struct.unpack("148b", block[:148])) + sum(struct.unpack("356b", block[156:BLOCK]))
    return stored in (unsigned, signed)


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


def _looks_truncated(exc):
    return isinstance(exc, EOFError) or "unexpected end of data" in str(exc)


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
