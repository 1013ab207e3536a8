"""The format half of reading an archive: well-kept libraries walk the members, archive.py decides.

Tar (plain, gzip, xz, bzip2) is read by libarchive through libarchive-c: it indexes a sosreport
of 35,000 members five times faster than tarfile's stream reader. Zip is read by the standard
library's `zipfile`, which reads members on demand by their offset, where libarchive would have
to stream (and keep) every member.
Nothing here judges a member (paths, links, sizes, caps): that is the policy in archive.py. What
this module guarantees is narrower: every failure of the library or the data ends in `Damaged`,
and only the formats and decompressors named here are ever enabled.
"""

import contextlib
import ctypes
import logging
import os
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass

FILE, DIR, SYMLINK, HARDLINK = "file", "dir", "symlink", "hardlink"
CHUNK = 1 << 20  # read granularity: bounds the memory of one read step


class Damaged(Exception):
    """The archive is cut short or its structure is damaged; the library's words are the message."""

    def __init__(self, message, truncated=False, unrecognised=False):
        super().__init__(" ".join(str(message).split())[:200] or "damaged archive")
        self.truncated = truncated
        self.unrecognised = unrecognised  # not this format at all (nothing was read)


class Unavailable(Exception):
    """The system library a format needs is not installed."""


@dataclass
class Member:
    """One archive member as the policy needs it."""

    name: str
    kind: str               # FILE, DIR, SYMLINK, HARDLINK, or a refused kind ("fifo", "character device", ...)
    size: int = 0           # uncompressed content size (what the archive declares)
    target: str = ""        # link target, for SYMLINK and HARDLINK
    packed: int = None      # compressed size, when the format declares it before inflating (zip)
    skip: str = None        # why the library cannot give the content (encrypted, unknown method)
    loc: object = None      # where a random-access reader finds the content again


_MODE_KINDS = {stat.S_IFREG: FILE, stat.S_IFDIR: DIR, stat.S_IFLNK: SYMLINK, stat.S_IFCHR: "character device",
               stat.S_IFBLK: "block device", stat.S_IFIFO: "fifo", stat.S_IFSOCK: "socket"}


def _text(raw):
    return raw.decode("utf-8", "surrogateescape")


# -- tar: libarchive ------------------------------------------------------------------------------

_lib = None
_SONAME = "libarchive.so.13"  # Debian/Ubuntu's libarchive13, also RHEL's libarchive


def _libarchive():
    """libarchive-c's bindings, loaded on first use (a facts dump never needs them)."""
    global _lib
    if _lib is None:
        if "LIBARCHIVE" not in os.environ:
            # libarchive-c finds the library with ctypes.util.find_library, which runs
            # `ldconfig -p` in a subprocess; naming the soname it would find skips that.
            with contextlib.suppress(OSError):
                ctypes.CDLL(_SONAME)
                os.environ["LIBARCHIVE"] = _SONAME
        try:
            from libarchive import ffi
        except (ImportError, OSError, TypeError, AttributeError) as exc:
            # libarchive-c loads the system library when imported: without it the import fails.
            raise Unavailable(f"reading tar archives needs the system libarchive (apt-get install libarchive13): "
                              f"{exc}") from None
        # libarchive-c logs every ARCHIVE_WARN; without a handler Python would print them on stderr.
        logging.getLogger("libarchive").addHandler(logging.NullHandler())
        logging.getLogger("libarchive").propagate = False
        lib = ffi.libarchive
        for name in ("pathname", "symlink", "hardlink"):
            for suffix, restype in (("_utf8", ctypes.c_char_p), ("", ctypes.c_char_p)):
                func = getattr(lib, f"archive_entry_{name}{suffix}")
                func.argtypes, func.restype = [ctypes.c_void_p], restype
        _lib = ffi
    return _lib


# Only these: libarchive's "all" would also enable formats such as mtree, which names files on
# the host, and filters that run external programs.
_TAR_FILTERS = {"tar": (), "gz": ("gzip",), "xz": ("xz",), "bz2": ("bzip2",)}


def _entry_string(lib, entry, name):
    """A path field as text: libarchive's UTF-8 form, else the raw bytes (non-UTF-8 names)."""
    raw = getattr(lib, f"archive_entry_{name}_utf8")(entry)
    if raw is None:
        raw = getattr(lib, f"archive_entry_{name}")(entry)
    return None if raw is None else _text(raw)


class TarStream:
    """The members of a tar (plain or compressed), front to back, with each member's content.

    `with TarStream(path, fmt) as tar: for member in tar: ... tar.chunks()` reads the current
    member's content; what is not read is skipped by libarchive when the next header is read.
    """

    def __init__(self, path, fmt):
        self.path, self.fmt = str(path), fmt
        self._archive = self._entry = None

    def __enter__(self):
        ffi = _libarchive()
        archive = ffi.read_new()
        try:
            self._enable(ffi, archive)
            ffi.read_open_filename_w(archive, self.path, 64 * 1024)
        except ffi.ArchiveError as exc:
            ffi.read_free(archive)
            raise _damaged(exc) from None
        self._archive, self._entry = archive, ffi.entry_new()
        self._buffer = ctypes.create_string_buffer(CHUNK)
        return self

    def _enable(self, ffi, archive):
        for name in _TAR_FILTERS[self.fmt]:
            ffi.get_read_filter_function(name)(archive)
        ffi.read_support_format_tar(archive)

    def __exit__(self, *exc):
        ffi = _libarchive()
        ffi.entry_free(self._entry)
        ffi.read_free(self._archive)
        self._archive = self._entry = None

    def packed_bytes(self):
        """Bytes read from the archive file so far (for the decompression ratio)."""
        return _libarchive().filter_bytes(self._archive, -1)

    def __iter__(self):
        ffi = _libarchive()
        lib, archive, entry = ffi.libarchive, self._archive, self._entry
        next_header, filetype, size = ffi.read_next_header2, ffi.entry_filetype, ffi.entry_size
        while True:
            try:
                if next_header(archive, entry) == ffi.ARCHIVE_EOF:
                    return
            except ffi.ArchiveError as exc:
                raise _damaged(exc) from None
            name = _entry_string(lib, entry, "pathname") or ""
            if lib.archive_entry_hardlink(entry) is not None:  # one call for the common case: no link
                yield Member(name, HARDLINK, target=_entry_string(lib, entry, "hardlink"))
                continue
            mode = filetype(entry)
            kind = _MODE_KINDS.get(mode) or f"unknown type {oct(mode)}"
            if kind == SYMLINK:
                yield Member(name, SYMLINK, target=_entry_string(lib, entry, "symlink") or "")
            else:
                yield Member(name, kind, size=size(entry) if kind == FILE else 0)

    def end_marker_missing(self):
        """After the last member: True when a plain tar stops at a member boundary.

        libarchive ends quietly there (as tar(1) does); the end-of-archive marker, a zero block,
        is what tells a complete tar from one cut between members. A compressed tar cut anywhere
        is caught by its decompressor instead."""
        if self.fmt != "tar":
            return False
        end = _libarchive().filter_bytes(self._archive, 0)
        try:
            with open(self.path, "rb") as raw:
                raw.seek(max(end - 512, 0))
                return any(raw.read(512))
        except OSError as exc:
            raise Damaged(exc) from None

    def chunks(self):
        ffi = _libarchive()
        read, archive, buffer = ffi.read_data, self._archive, self._buffer
        while True:
            try:
                count = read(archive, buffer, CHUNK)
            except ffi.ArchiveError as exc:
                raise _damaged(exc) from None
            if count <= 0:
                return
            yield ctypes.string_at(buffer, count)


def _damaged(exc):
    message = exc.msg if isinstance(exc.msg, str) else _text(exc.msg or b"") or "damaged archive"
    lowered = message.lower()
    truncated = any(word in lowered for word in ("truncated", "premature end", "unexpected end",
                                                   "no progress is possible"))
    unrecognised = "unrecognized archive format" in lowered
    return Damaged(message, truncated=truncated, unrecognised=unrecognised)


# -- zip: the standard library ----------------------------------------------------------------

_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error, ValueError,
               NotImplementedError, RuntimeError, UnicodeDecodeError, IndexError, KeyError, OverflowError,
               struct.error)
try:
    import lzma
    _ZIP_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover - Python built without lzma
    pass


def zip_member_count(path):
    """The entry count the end record declares, read before the central directory (None if none).

    zipfile parses the whole directory when opened; a zip claiming millions of entries is refused
    before that. zipfile's own end-record reader (private, unchanged since Python 2) finds it.
    """
    reader = getattr(zipfile, "_EndRecData", None)
    if reader is None:  # pragma: no cover - a future Python: zipfile's own parse then counts
        return None
    try:
        with open(path, "rb") as raw:
            record = reader(raw)
    except _ZIP_ERRORS:
        return None
    return None if not record else record[zipfile._ECD_ENTRIES_TOTAL]


def is_zip(path):
    """A zip, also with something in front (a self-extracting stub)."""
    try:
        return zipfile.is_zipfile(path)
    except _ZIP_ERRORS:
        return False


class ZipArchive:
    """A zip's members from its central directory; each member's content read on demand."""

    def __init__(self, path):
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except _ZIP_ERRORS as exc:
            raise Damaged(exc, truncated=True) from None

    def __iter__(self):
        for info in self._zip.infolist():
            name = info.orig_filename  # zipfile cuts its `filename` at a NUL byte; the policy refuses those
            kind = _MODE_KINDS.get(stat.S_IFMT(info.external_attr >> 16), None)
            if name.endswith(("/", "\\")) or kind == DIR:
                yield Member(name, DIR)
                continue
            if kind is None:
                mode = stat.S_IFMT(info.external_attr >> 16)
                kind = FILE if mode == 0 else f"unknown file type {oct(mode)}"
            skip = None
            if info.flag_bits & 0x41:
                skip = "encrypted"
            elif info.compress_type not in _ZIP_METHODS:
                skip = f"zip compression method {info.compress_type} not supported"
            yield Member(name, kind, size=info.file_size, packed=info.compress_size, skip=skip, loc=info)

    def chunks(self, info):
        try:
            with self._zip.open(info) as member:
                while True:
                    data = member.read(CHUNK)
                    if not data:
                        return
                    yield data
        except _ZIP_ERRORS as exc:
            raise Damaged(exc) from None
