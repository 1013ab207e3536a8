"""A bundle directory read lazily: paths resolved when asked for, links followed inside the bundle only."""

import os
import shutil

import pytest
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.source import DirectorySource, MemorySource

from tests.helpers import REPO

RAW = REPO / "tests" / "fixtures" / "raw" / "netns-lab"


def write(root, relpath, text="x\n"):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def link(root, relpath, target):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


@pytest.fixture
def tree(tmp_path):
    """Real files, links inside and outside, a loop, a dangling link, a fifo, a linked directory."""
    root = tmp_path / "bundle"
    outside = write(tmp_path, "secret", "net.ipv4.ip_forward = 0\n")
    write(root, "version.txt")
    write(root, ".hidden")
    write(root, "a/one", "one\n")
    write(root, "a/b1/c1")
    write(root, "a/b2/deep/er/c2")
    write(root, "a/b2/.dot/c3")
    write(root, "real/dir/file", "through a linked directory\n")
    link(root, "a/to-one", "one")
    link(root, "a/b1/up", "../../a/one")
    link(root, "a/absolute", str(outside))
    link(root, "a/escapes", "../../secret")
    link(root, "a/dangling", "nothing-here")
    link(root, "a/loop1", "loop2")
    link(root, "a/loop2", "loop1")
    link(root, "a/self", "self")
    link(root, "linked", "real/dir")
    link(root, "linked-out", "../")
    os.mkfifo(root / "a" / "fifo")
    return root


def walked_files(root):
    """What a full walk sees as regular files (os.walk, links to files resolved inside the root)."""
    top = os.path.realpath(root)
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, top)
            real = os.path.realpath(full)
            if os.path.islink(full) and os.path.isabs(os.readlink(full)):
                continue  # an absolute link names the host the bundle was taken on
            if (real + "/").startswith(top + "/") and os.path.isfile(real):
                found.append(rel)
    return found


@pytest.mark.parametrize("pattern", [
    "**/*", "*", "a/*", "a/**/*", "**/c?", "a/b*/c?", "a/**/c2", "a/*/deep/**/*", "**/one", "a/b2/**",
    "linked/*", "nowhere/*", "a**/c1", "a/b**/c?", "a/one", "a/to-one", "a/fifo", "/a/one", "a/./one", "a//one", "a/b1/../one",
])
def test_glob_sees_what_a_full_walk_sees(tree, pattern):
    reference = MemorySource()
    for relpath in walked_files(tree):
        reference.add(relpath, b"")
    assert DirectorySource(tree).glob(pattern) == reference.glob(pattern)


def test_links_inside_are_followed_and_refused_ones_noted_once(tree):
    source = DirectorySource(tree)
    assert source.read_text("a/to-one") == source.read_text("a/b1/up") == "one\n"
    assert source.read_text("linked/file") == "through a linked directory\n"
    assert source.exists("linked/file") and source.exists("a/b1/up")
    for refused in ("a/absolute", "a/escapes", "a/loop1", "a/self", "linked-out/secret"):
        assert source.read_bytes(refused) is None and not source.exists(refused)
    for quiet in ("a/dangling", "a/fifo", "a", "../secret", "a/one/..", "a/one/x", "missing"):
        assert source.read_bytes(quiet) is None and not source.exists(quiet)
    assert sorted(source.notes) == [
        "a/absolute: link leaves the bundle, skipped", "a/escapes: link leaves the bundle, skipped",
        "a/loop1: link loop (or too many links), skipped", "a/self: link loop (or too many links), skipped",
        "linked-out/secret: link leaves the bundle, skipped"]


def test_reads_keep_the_tail_and_never_block(tree):
    source = DirectorySource(tree)
    write(tree, "big", "0123456789")
    assert source.read_bytes("big", 4) == b"6789"
    assert source.read_bytes("big", 0) == b""
    assert source.read_bytes("/big") == b"0123456789"
    assert source.read_bytes("a/fifo") is None  # a fifo is not a file: never opened


def test_only_what_is_asked_for_is_looked_at(tree, monkeypatch):
    """Reading one file and globbing one directory never lists nor stats an unrelated big subtree."""
    for i in range(50):
        write(tree, f"proc/sys/net/conf/cali{i:04d}/rp_filter", "1\n")
    write(tree, "proc/sys/net/ipv4/ip_forward", "1\n")
    touched = []
    real_scandir, real_lstat = os.scandir, os.lstat
    monkeypatch.setattr(os, "scandir", lambda path: touched.append(str(path)) or real_scandir(path))
    monkeypatch.setattr(os, "lstat", lambda path, **kw: touched.append(str(path)) or real_lstat(path, **kw))
    source = DirectorySource(tree)
    assert source.read_text("proc/sys/net/ipv4/ip_forward") == "1\n"
    assert source.glob("a/b*/c?") == ["a/b1/c1"]
    assert source.exists("proc/sys/net/ipv6/conf/all/forwarding") is False
    assert touched and not [path for path in touched if "/conf" in path]


def test_a_refused_link_is_a_note_in_the_dump(tmp_path):
    root = tmp_path / "sosreport-node1"
    for raw, target in (("uname_-a", "sos_commands/kernel/uname_-a"),
                        ("ip_-d_address", "sos_commands/networking/ip_-d_address"),
                        ("ip_route_show_table_all", "sos_commands/networking/ip_route_show_table_all")):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RAW / raw, root / target)
    write(tmp_path, "secret", "net.ipv4.ip_forward = 0\n")
    link(root, "sos_commands/kernel/sysctl_-a", "../../../secret")
    dump = read_bundle(DirectorySource(root))
    assert "sysctls" not in dump
    assert "sos_commands/kernel/sysctl_-a: link leaves the bundle, skipped" in dump["collection"]["notes"]
