"""Well-formed bundles: every format reads the same, found by content, with the top directory stripped."""

import gzip
import io
import os
import tarfile

import pytest
from archive_builders import (
    IP_ADDR,
    ROUTES,
    SOS_FILES,
    SOSREPORT,
    TOP,
    no_writes,
    open_checked,
    refused,
    under,
    write_tar,
    write_zip,
)
from calirules.facts_collectors.archive import ArchiveSource, Limits, open_source
from calirules.facts_collectors.source import DirectorySource

FORMATS = ["tar", "tar.gz", "tar.xz", "tar.bz2", "zip"]


def make_sosreport(tmp_path, fmt, members=SOSREPORT, top=TOP):
    path = tmp_path / f"{top}.{fmt}"
    if fmt == "zip":
        return write_zip(path, under(top, members))
    return write_tar(path, under(top, members))


@pytest.mark.parametrize("fmt", FORMATS)
def test_sosreport_shaped_archive_reads_in_every_format(tmp_path, fmt):
    source = open_checked(make_sosreport(tmp_path, fmt), tmp_path)
    assert isinstance(source, ArchiveSource)
    assert source.top == TOP
    assert source.format == {"tar": "tar", "tar.gz": "gz", "tar.xz": "xz", "tar.bz2": "bz2", "zip": "zip"}[fmt]
    assert source.notes == []
    assert source.files() == SOS_FILES
    assert source.read_text("sos_commands/networking/ip_-d_address") == IP_ADDR.decode()
    assert source.read_text("proc/sys/net/ipv4/ip_forward") == "1\n"
    assert source.glob("sos_commands/networking/*") == [
        "sos_commands/networking/ip_-4_rule_list", "sos_commands/networking/ip_-d_address",
        "sos_commands/networking/ip_route_show_table_all"]
    assert source.glob("proc/sys/net/**/*") == ["proc/sys/net/ipv4/conf/all/rp_filter",
                                                 "proc/sys/net/ipv4/ip_forward"]
    # sos's truncated output: the sos_commands path is a symlink to sos_strings/...tailed, inside the bundle
    assert source.read_bytes("sos_commands/networking/ip_route_show_table_all") == ROUTES
    assert source.read_text("ip_addr") == IP_ADDR.decode()  # a root symlink
    # a directory symlink (sys/class/net/<dev> -> ../../devices/...) is followed for reads
    assert source.exists("sys/class/net/vxlan.calico/mtu")
    assert source.read_text("sys/class/net/vxlan.calico/mtu") == "1450\n"
    assert source.exists("version.txt") and source.exists("/version.txt")
    assert not source.exists("sos_commands/networking/ip_-o_addr")
    assert source.read_bytes("sos_commands/networking/ip_-o_addr") is None
    assert source.read_bytes("sos_commands/networking") is None  # a directory is not a file
    assert source.read_bytes(f"{TOP}/version.txt") is None  # the top directory was stripped
    assert source.label == str(tmp_path / f"{TOP}.{fmt}")


@pytest.mark.parametrize("fmt", ["tar.gz", "tar", "zip"])
def test_strip_top_false_keeps_the_top_directory(tmp_path, fmt):
    source = open_checked(make_sosreport(tmp_path, fmt), tmp_path, strip_top=False)
    assert source.top == TOP
    assert source.files() == [f"{TOP}/{path}" for path in SOS_FILES]
    assert source.read_bytes(f"{TOP}/sos_commands/networking/ip_route_show_table_all") == ROUTES
    assert source.read_bytes("version.txt") is None


def test_calicoctl_node_diags_bundle(tmp_path):
    members = [("file", "date", b"Fri Jan  2 10:11:12 UTC 2026\n"),
               ("file", "ipv4_route", b"default via 198.18.0.1 dev eth0\n"),
               ("file", "ipv4_tables", b"*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n"),
               ("file", "logs/felix/current", b"2026-01-02 felix started\n")]
    path = write_tar(tmp_path / "diags-20260102_101112.tar.gz", under("diagnostics", members))
    source = open_checked(path, tmp_path)
    assert source.top == "diagnostics"
    assert source.files() == ["date", "ipv4_route", "ipv4_tables", "logs/felix/current"]
    assert source.read_text("logs/felix/current") == "2026-01-02 felix started\n"


def test_calicoctl_cluster_diags_relative_links(tmp_path):
    top = "calico-diagnostics-20260102_101112"
    log = b"felix: dataplane in sync\n"
    members = [("file", "nodes/node1/calico-system/calico-node-abcde.log", log),
               ("symlink", "links/calico-system/calico-node-abcde.log",
                "../../nodes/node1/calico-system/calico-node-abcde.log"),
               # a link that leaves the top directory and comes back in through its name
               ("symlink", "links/again.log", f"../../{top}/nodes/node1/calico-system/calico-node-abcde.log")]
    source = open_checked(write_tar(tmp_path / f"{top}.tar.gz", under(top, members)), tmp_path)
    assert source.top == top
    assert source.read_bytes("links/calico-system/calico-node-abcde.log") == log
    assert source.read_bytes("links/again.log") == log
    assert source.glob("links/**/*.log") == ["links/again.log", "links/calico-system/calico-node-abcde.log"]
    assert source.notes == []


def test_members_at_the_root_have_no_top(tmp_path):
    # `tar -C dir -czf x.tgz .` style: "./" and "./name" members, more than one top-level name
    members = [("dir", ".", None), ("file", "./hostname", b"node1\n"), ("file", "./ipv4_route", b"default\n")]
    source = open_checked(write_tar(tmp_path / "bundle.tgz", members), tmp_path)
    assert source.top is None
    assert source.files() == ["hostname", "ipv4_route"]


@pytest.mark.parametrize("content, name, fmt", [
    ("tar.gz", "renamed.tar.xz", "gz"),   # gzip content, xz name
    ("zip", "renamed.tar.gz", "zip"),     # zip content, tar.gz name
    ("tar", "bundle-without-suffix", "tar"),
    ("tar.xz", "bundle.bin", "xz"),
])
def test_format_is_detected_by_magic_bytes(tmp_path, content, name, fmt):
    built = make_sosreport(tmp_path, content)
    path = tmp_path / name
    os.rename(built, path)
    source = open_checked(path, tmp_path)
    assert source.format == fmt
    assert source.read_text("proc/sys/net/ipv4/ip_forward") == "1\n"
    said = {"renamed.tar.xz": "tar.xz", "renamed.tar.gz": "tar.gz"}.get(name)
    if said:
        assert [note for note in source.notes if f"name says {said}" in note]
    else:
        assert source.notes == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_bytes_max_bytes_keeps_the_tail(tmp_path, fmt):
    source = open_checked(make_sosreport(tmp_path, fmt), tmp_path)
    assert source.read_bytes("sos_commands/networking/ip_-d_address", 10) == IP_ADDR[-10:]
    assert source.read_bytes("ip_addr", 10) == IP_ADDR[-10:]
    assert source.read_bytes("version.txt", 0) == b""


def test_content_past_the_cache_is_streamed_again(tmp_path):
    """A compressed tar whose members are not cached (cache disabled) reads by streaming again."""
    path = make_sosreport(tmp_path, "tar.xz")
    source = open_checked(path, tmp_path, limits=Limits(cache_member_bytes=0))
    with no_writes():
        assert source.read_text("sos_commands/networking/ip_route_show_table_all") == ROUTES.decode()
        assert source.read_bytes("sys/class/net/vxlan.calico/mtu", 3) == b"50\n"
    assert all(entry.how != "mem" for entry in source._entries.values() if entry.kind == "file")


def test_a_multi_member_gzip_tar_reads(tmp_path):
    """Two gzip members concatenated (what `cat a.gz b.gz` makes) still form one tar stream."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in ((f"{TOP}/a", b"first\n"), (f"{TOP}/b", b"second\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    path = tmp_path / "two-members.tar.gz"
    path.write_bytes(gzip.compress(data[:1024]) + gzip.compress(data[1024:]))
    source = open_checked(path, tmp_path)
    assert source.read_bytes("b") == b"second\n"


def test_open_source_gives_a_directory_source_for_a_directory(tmp_path):
    (tmp_path / "bundle" / "proc").mkdir(parents=True)
    (tmp_path / "bundle" / "proc" / "cmdline").write_text("ro quiet\n")
    source = open_source(tmp_path / "bundle")
    assert isinstance(source, DirectorySource)
    assert source.read_text("proc/cmdline") == "ro quiet\n"


def test_unusable_paths_are_input_errors(tmp_path):
    error = refused(tmp_path / "no-such-bundle.tar.xz", tmp_path)
    assert "no such file" in error.message
    os.mkfifo(tmp_path / "a-fifo.tar.gz")
    error = refused(tmp_path / "a-fifo.tar.gz", tmp_path)  # reading a fifo would block forever
    assert "not a regular file" in error.message


def test_zip_with_data_in_front_reads(tmp_path):
    """A self-extracting zip (a stub in front of the zip): found by its end record, offsets shifted."""
    built = make_sosreport(tmp_path, "zip")
    path = tmp_path / "sfx-bundle.bin"
    path.write_bytes(b"\x7fELF-stub" + bytes(1000) + built.read_bytes())
    source = open_checked(path, tmp_path)
    assert source.format == "zip"
    assert source.read_bytes("sos_commands/networking/ip_route_show_table_all") == ROUTES


@pytest.mark.parametrize("fmt", ["tar.xz", "tar"])
def test_archive_of_a_real_tree_reads_like_the_directory(tmp_path, fmt):
    """Pack a real directory (real symlinks) with tarfile.add: both sources must give the same view."""
    root = tmp_path / "tree" / TOP
    for kind, name, payload in SOSREPORT:
        target = root / name
        if kind == "dir":
            target.mkdir(parents=True, exist_ok=True)
        elif kind == "file":
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(payload)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(payload, target)
    path = tmp_path / f"{TOP}.{fmt}"
    with tarfile.open(path, "w:xz" if fmt == "tar.xz" else "w") as tar:
        tar.add(root, arcname=TOP)
    directory, archive = DirectorySource(root), open_checked(path, tmp_path)
    assert sorted(directory.files()) == archive.files() == SOS_FILES
    for relpath in SOS_FILES + ["sys/class/net/vxlan.calico/mtu"]:
        assert archive.read_bytes(relpath) == directory.read_bytes(relpath), relpath
