"""Builders for the archive tests: every archive, hostile or not, is made here in tmp_path."""

import builtins
import contextlib
import io
import os
import stat
import tarfile
import zipfile

import pytest
from calirules.base.errors import InputError
from calirules.facts_collectors.archive import open_source

TOP = "sosreport-node1-2026-01-02-abcdefg"
IP_ADDR = (b"1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\n"
           b"    inet 127.0.0.1/8 scope host lo\n"
           b"2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP\n"
           b"    inet 198.18.0.11/24 brd 198.18.0.255 scope global eth0\n")
ROUTES = b"default via 198.18.0.1 dev eth0\n198.18.0.0/24 dev eth0 proto kernel scope link\n"

# (kind, name, payload): file -> bytes, symlink/hardlink -> target, dir/chr/blk/fifo -> None
SOSREPORT = [
    ("dir", "", None),
    ("file", "version.txt", b"sos report: 4.12.0\n"),
    ("dir", "sos_commands", None),
    ("dir", "sos_commands/networking", None),
    ("file", "sos_commands/networking/ip_-d_address", IP_ADDR),
    ("file", "sos_commands/networking/ip_-4_rule_list", b"0:\tfrom all lookup local\n"),
    ("symlink", "sos_commands/networking/ip_route_show_table_all",
     "../../sos_strings/networking/ip_route_show_table_all.tailed"),
    ("file", "sos_strings/networking/ip_route_show_table_all.tailed", ROUTES),
    ("file", "proc/sys/net/ipv4/ip_forward", b"1\n"),
    ("file", "proc/sys/net/ipv4/conf/all/rp_filter", b"2\n"),
    ("file", "sys/devices/virtual/net/vxlan.calico/mtu", b"1450\n"),
    ("symlink", "sys/class/net/vxlan.calico", "../../devices/virtual/net/vxlan.calico"),
    ("symlink", "ip_addr", "sos_commands/networking/ip_-d_address"),
]
SOS_FILES = ["ip_addr", "proc/sys/net/ipv4/conf/all/rp_filter", "proc/sys/net/ipv4/ip_forward",
             "sos_commands/networking/ip_-4_rule_list", "sos_commands/networking/ip_-d_address",
             "sos_commands/networking/ip_route_show_table_all",
             "sos_strings/networking/ip_route_show_table_all.tailed", "sys/devices/virtual/net/vxlan.calico/mtu",
             "version.txt"]

TAR_MODES = {"tar": "w", "tar.gz": "w:gz", "tgz": "w:gz", "tar.xz": "w:xz", "tar.bz2": "w:bz2"}


def under(top, members):
    """The members with `top/` in front of every name (hard link targets too, as tar stores them)."""
    out = []
    for kind, name, payload in members:
        full = f"{top}/{name}".rstrip("/") if top else name
        if kind == "hardlink" and top:
            payload = f"{top}/{payload}"
        out.append((kind, full, payload))
    return out


class Zeros(io.RawIOBase):
    """`size` zero bytes, produced on demand (so a 200 MB member costs no memory to write)."""

    def __init__(self, size, byte=b"\0"):
        self.left = size
        self.byte = byte

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return self.byte * n


def write_tar(path, members, mode=None, **kwargs):
    """members: (kind, name, payload); kind "big" has payload (size, byte) and streams its content."""
    mode = mode or TAR_MODES[next(s for s in ("tar.gz", "tar.xz", "tar.bz2", "tgz", "tar")
                                  if str(path).endswith(s))]
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT, **kwargs) as tar:
        for kind, name, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1767312000
            fileobj = None
            if kind == "file":
                info.size = len(payload)
                fileobj = io.BytesIO(payload)
            elif kind == "big":
                info.size = payload[0]
                fileobj = Zeros(*payload)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, payload
            else:
                info.type = {"chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
                info.devmajor, info.devminor = 1, 3
            tar.addfile(info, fileobj)
    return path


def write_zip(path, members, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for kind, name, payload in members:
            if kind == "dir":
                info = zipfile.ZipInfo(name.rstrip("/") + "/", (2026, 1, 2, 0, 0, 0))
                info.external_attr = (stat.S_IFDIR | 0o755) << 16
                archive.writestr(info, b"")
                continue
            info = zipfile.ZipInfo(name, (2026, 1, 2, 0, 0, 0))
            info.compress_type = compression
            modes = {"file": stat.S_IFREG | 0o644, "symlink": stat.S_IFLNK | 0o777,
                     "chr": stat.S_IFCHR | 0o600, "fifo": stat.S_IFIFO | 0o600}
            info.external_attr = modes[kind] << 16
            info.create_system = 3
            data = payload.encode() if isinstance(payload, str) else (payload or b"")
            archive.writestr(info, data)
    return path


@contextlib.contextmanager
def no_writes():
    """Any attempt to create, write, link or remove a file fails the test."""
    real_open, real_os_open = builtins.open, os.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(flag in mode for flag in "wax+"):
            raise AssertionError(f"write attempted: {file!r} mode {mode!r}")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC):
            raise AssertionError(f"write attempted: os.open({path!r})")
        return real_os_open(path, flags, *args, **kwargs)

    def refuse(name):
        def refused(*args, **kwargs):
            raise AssertionError(f"os.{name}{args} attempted")
        return refused

    patches = [(builtins, "open", guarded_open), (io, "open", guarded_open), (os, "open", guarded_os_open)]
    patches += [(os, name, refuse(name)) for name in ("mkdir", "makedirs", "symlink", "link", "mknod", "mkfifo",
                                                      "rename", "replace", "remove", "unlink", "chmod")]
    saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
    for module, name, value in patches:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def tree(tmp_path):
    """Everything under tmp_path's parent (this session's tmp dirs) and under tmp_path."""
    seen = set(os.listdir(tmp_path.parent))
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        seen.update(os.path.join(dirpath, name) for name in dirnames + filenames)
    return seen


def open_checked(path, tmp_path, **kwargs):
    """Open the archive and read every file, asserting nothing is written anywhere."""
    before = tree(tmp_path)
    with no_writes():
        source = open_source(path, **kwargs)
        for relpath in source.files():
            assert source.read_bytes(relpath) is not None, relpath
    assert tree(tmp_path) == before
    return source


def refused(path, tmp_path, **kwargs):
    """The InputError opening `path` raises (and nothing was written)."""
    before = tree(tmp_path)
    with no_writes(), pytest.raises(InputError) as caught:
        open_source(path, **kwargs)
    assert tree(tmp_path) == before
    assert os.path.basename(str(path)) in str(caught.value)  # the message names the file
    return caught.value


def notes_with(source, text):
    return [note for note in source.notes if text in note]
