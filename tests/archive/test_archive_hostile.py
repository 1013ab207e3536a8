"""Hostile members: each one is refused or skipped with a note, and the rest of the bundle stays usable."""

import pytest
from archive_builders import (
    TOP,
    notes_with,
    open_checked,
    refused,
    write_tar,
    write_zip,
)
from calirules.facts_collectors.archive import MAX_NOTES

GOOD = ("file", f"{TOP}/version.txt", b"sos report: 4.12.0\n")


def tar_or_zip(tmp_path, fmt, members):
    path = tmp_path / f"{TOP}.{fmt}"
    return write_zip(path, members) if fmt == "zip" else write_tar(path, members)


def assert_only_good_file(source):
    assert source.files() == ["version.txt"]
    assert source.read_text("version.txt") == "sos report: 4.12.0\n"


@pytest.mark.parametrize("fmt", ["tar.xz", "tar", "zip"])
def test_dotdot_traversal_is_refused(tmp_path, fmt):
    members = [GOOD, ("file", "../../etc/passwd", b"root:x:0:0:evil\n"),
               ("file", f"{TOP}/sos_commands/../../../etc/cron.d/evil", b"* * * * * root evil\n")]
    source = open_checked(tar_or_zip(tmp_path, fmt, members), tmp_path)
    assert_only_good_file(source)
    assert len(notes_with(source, "'..' in the path")) == 2
    assert notes_with(source, "../../etc/passwd: '..' in the path (leaves the bundle), refused")
    for name in ("../../etc/passwd", "etc/passwd", "../etc/passwd", "../../../etc/cron.d/evil", "etc/cron.d/evil"):
        assert source.read_bytes(name) is None and not source.exists(name)


def test_zip_backslash_traversal_is_refused(tmp_path):
    members = [GOOD, ("file", "..\\..\\etc\\passwd", b"root:x:0:0:evil\n"),
               ("file", "C:\\Windows\\evil.txt", b"evil\n")]
    source = open_checked(write_zip(tmp_path / f"{TOP}.zip", members), tmp_path)
    assert_only_good_file(source)
    assert notes_with(source, "'..' in the path") and notes_with(source, "absolute path")


@pytest.mark.parametrize("fmt", ["tar.gz", "tar", "zip"])
def test_absolute_path_is_refused(tmp_path, fmt):
    members = [GOOD, ("file", "/etc/passwd", b"root:x:0:0:evil\n")]
    source = open_checked(tar_or_zip(tmp_path, fmt, members), tmp_path)
    assert_only_good_file(source)
    assert notes_with(source, "/etc/passwd: absolute path, refused")
    assert source.read_bytes("/etc/passwd") is None and source.read_bytes("etc/passwd") is None


@pytest.mark.parametrize("fmt", ["tar.xz", "zip"])
def test_symlinks_that_leave_the_bundle_are_skipped(tmp_path, fmt):
    members = [GOOD,
               ("symlink", f"{TOP}/shadow", "/etc/shadow"),
               ("symlink", f"{TOP}/sos_commands/host/shadow", "../../../../../../etc/shadow"),
               ("symlink", f"{TOP}/etc", "/etc"),  # a directory link to the host's /etc
               ("symlink", f"{TOP}/up", "..")]     # the archive root, above the bundle root
    source = open_checked(tar_or_zip(tmp_path, fmt, members), tmp_path)
    assert_only_good_file(source)
    assert len(notes_with(source, "leaves the bundle, skipped")) == 4
    assert notes_with(source, f"{TOP}/shadow: symlink to /etc/shadow leaves the bundle, skipped")
    for name in ("shadow", "sos_commands/host/shadow", "etc/shadow", "etc/passwd", "up/etc/shadow",
                 f"up/{TOP}/version.txt"):
        assert source.read_bytes(name) is None and not source.exists(name)


def test_symlink_inside_the_bundle_resolves(tmp_path):
    members = [GOOD, ("file", f"{TOP}/sos_strings/networking/ip_route_show_table_all.tailed", b"default\n"),
               ("symlink", f"{TOP}/sos_commands/networking/ip_route_show_table_all",
                "../../sos_strings/networking/ip_route_show_table_all.tailed"),
               ("symlink", f"{TOP}/chain", "sos_commands/networking/ip_route_show_table_all")]
    source = open_checked(write_tar(tmp_path / f"{TOP}.tar", members), tmp_path)
    assert source.read_bytes("sos_commands/networking/ip_route_show_table_all") == b"default\n"
    assert source.read_bytes("chain") == b"default\n"
    assert "chain" in source.files() and source.notes == []


def test_symlink_loops_and_dangling_links_are_skipped(tmp_path):
    members = [GOOD, ("symlink", f"{TOP}/a", "b"), ("symlink", f"{TOP}/b", "a"),
               ("symlink", f"{TOP}/self", "self/x"), ("symlink", f"{TOP}/dangling", "sos_commands/nothing")]
    source = open_checked(write_tar(tmp_path / f"{TOP}.tar.gz", members), tmp_path)
    assert_only_good_file(source)
    assert len(notes_with(source, "is a loop")) == 3
    assert notes_with(source, f"{TOP}/dangling: symlink to sos_commands/nothing points to nothing in the bundle")
    assert source.read_bytes("a") is None and source.read_bytes("self/x") is None


def test_hard_links_resolve_inside_and_are_refused_outside(tmp_path):
    members = [GOOD, ("hardlink", f"{TOP}/version-copy", f"{TOP}/version.txt"),
               ("hardlink", f"{TOP}/passwd", "../../etc/passwd"),
               ("hardlink", f"{TOP}/shadow", "/etc/shadow"),
               ("hardlink", f"{TOP}/other-top", "etc/shadow"),        # outside the top directory
               ("hardlink", f"{TOP}/missing", f"{TOP}/not-there")]
    source = open_checked(write_tar(tmp_path / f"{TOP}.tar.xz", members), tmp_path)
    assert source.files() == ["version-copy", "version.txt"]
    assert source.read_bytes("version-copy") == b"sos report: 4.12.0\n"
    assert notes_with(source, "hard link to ../../etc/passwd: '..' in the path")
    assert notes_with(source, "hard link to /etc/shadow: absolute path")
    assert notes_with(source, "hard link to etc/shadow outside the bundle root")
    assert notes_with(source, f"{TOP}/missing: hard link to not-there (points to nothing in the bundle)")
    for name in ("passwd", "shadow", "other-top", "missing", "etc/shadow"):
        assert source.read_bytes(name) is None


@pytest.mark.parametrize("fmt", ["tar", "tar.bz2", "zip"])
def test_device_files_and_fifos_are_refused(tmp_path, fmt):
    kinds = ["chr", "fifo"] + (["blk"] if fmt != "zip" else [])
    members = [GOOD] + [(kind, f"{TOP}/dev/{kind}", None) for kind in kinds]
    source = open_checked(tar_or_zip(tmp_path, fmt, members), tmp_path)
    assert_only_good_file(source)
    assert notes_with(source, f"{TOP}/dev/chr: character device, refused")
    assert notes_with(source, f"{TOP}/dev/fifo: fifo, refused")
    assert source.read_bytes("dev/chr") is None and source.read_bytes("dev/fifo") is None


def test_nul_bytes_and_overlong_names_are_refused(tmp_path):
    members = [GOOD, ("file", f"{TOP}/" + "x" * 5000, b"long\n"), ("file", f"{TOP}/nul_name", b"nul\n")]
    path = write_zip(tmp_path / f"{TOP}.zip", members)
    path.write_bytes(path.read_bytes().replace(b"nul_name", b"nul\x00name"))  # zipfile cuts names at NUL
    source = open_checked(path, tmp_path)
    assert_only_good_file(source)
    assert notes_with(source, "name longer than 4096 bytes") and notes_with(source, "NUL byte in the name")
    assert all(len(note) < 400 for note in source.notes)  # names are shortened in notes


def test_an_archive_of_only_hostile_members_is_an_input_error(tmp_path):
    path = write_tar(tmp_path / "evil.tar.gz", [("file", "../../etc/passwd", b"evil\n"),
                                                ("symlink", "shadow", "/etc/shadow")])
    error = refused(path, tmp_path)
    assert "no readable files" in error.message and "../../etc/passwd" in error.message


def test_notes_are_capped(tmp_path):
    members = [GOOD] + [("file", f"/abs/{i}", b"x") for i in range(MAX_NOTES + 50)]
    source = open_checked(write_tar(tmp_path / f"{TOP}.tar", members), tmp_path)
    assert len(source.notes) == MAX_NOTES + 1
    assert source.notes[-1] == "... and 50 more notes"
    assert_only_good_file(source)
