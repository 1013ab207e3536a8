"""Caps, bombs, truncation and garbage: bounded cost, a note when something usable remains, else InputError."""

import gzip
import io
import os
import random
import struct
import tarfile
import time
import tracemalloc
import zipfile

import pytest
from archive_builders import (
    TOP,
    no_writes,
    notes_with,
    open_checked,
    refused,
    under,
    write_tar,
    write_zip,
)
from calirules.facts_collectors.archive import MIB, Limits, open_source

SMALL_BOMB = Limits(bomb_min_bytes=1 * MIB)


def random_bytes(size, seed=0):
    return random.Random(seed).randbytes(size)


def numbered_lines(count):
    """Content whose tail can be checked: `00000000\\n00000001\\n...`."""
    return b"".join(b"%08d\n" % i for i in range(count))


# -- decompression bombs ----------------------------------------------------------------------

def test_tar_xz_bomb_stops_reading_and_keeps_what_came_before(tmp_path):
    """200 MB of zeros in a 30 KB .tar.xz, default limits: reading stops at ~64 MiB, not 200 MB."""
    members = [("file", "version.txt", b"sos report: 4.12.0\n"),
               ("file", "sos_commands/networking/ip_-d_address", b"1: lo: <LOOPBACK>\n"),
               ("big", "var/log/lastlog", (200_000_000, b"\0")),
               ("file", "after.txt", b"after the bomb\n")]
    path = write_tar(tmp_path / f"{TOP}.tar.xz", under(TOP, members), preset=0)
    assert path.stat().st_size < 100_000
    started = time.monotonic()
    source = open_checked(path, tmp_path)
    assert time.monotonic() - started < 5
    assert source.files() == ["sos_commands/networking/ip_-d_address", "version.txt"]
    assert source.read_text("version.txt") == "sos report: 4.12.0\n"
    [note] = notes_with(source, "decompression bomb guard")
    assert "> 100" in note and "var/log/lastlog" in note and "not read" in note
    assert source.read_bytes("var/log/lastlog") is None and source.read_bytes("after.txt") is None


def test_bomb_as_first_member_is_an_input_error(tmp_path):
    path = write_tar(tmp_path / "bomb.tar.gz", [("big", f"{TOP}/zeros", (20 * MIB, b"\0"))])
    error = refused(path, tmp_path, limits=SMALL_BOMB)
    assert "decompression bomb guard" in error.message and "nothing usable" in error.message


def test_zip_bomb_member_is_skipped(tmp_path):
    path = tmp_path / f"{TOP}.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{TOP}/version.txt", b"sos report: 4.12.0\n")
        with archive.open(f"{TOP}/zeros", "w", force_zip64=True) as member:
            for _ in range(20):
                member.write(bytes(MIB))
        archive.writestr(f"{TOP}/after.txt", b"after\n")
    source = open_checked(path, tmp_path, limits=SMALL_BOMB)
    assert source.files() == ["after.txt", "version.txt"]  # zip members are independent: the rest stays
    assert notes_with(source, f"{TOP}/zeros: decompression bomb guard: 20.0 MiB from")
    assert source.read_bytes("zeros") is None


def test_zip_member_cannot_inflate_past_its_declared_size(tmp_path):
    path = write_zip(tmp_path / f"{TOP}.zip", [("file", f"{TOP}/liar", b"A" * 100_000),
                                               ("file", f"{TOP}/honest", b"ok\n")])
    data = bytearray(path.read_bytes())
    central = data.index(b"PK\x01\x02")  # the first central directory entry: "liar"
    struct.pack_into("<L", data, central + 24, 1000)  # declare 1000 bytes uncompressed
    path.write_bytes(bytes(data))
    source = open_source(path)
    with no_writes():
        assert source.read_bytes("liar") is None
        assert source.read_bytes("honest") == b"ok\n"
    # zipfile stops at the declared size, then the CRC of what it gave does not match
    assert notes_with(source, "liar: could not be read (Bad CRC-32")


# -- truncation and corruption ----------------------------------------------------------------

def sosreport_of_random_files(tmp_path, name, count=20, size=20_000):
    members = [("file", f"sos_commands/f{i:02d}", random_bytes(size, i)) for i in range(count)]
    return write_tar(tmp_path / name, under(TOP, members))


def test_tar_xz_cut_in_half_keeps_the_complete_members(tmp_path):
    path = sosreport_of_random_files(tmp_path, f"{TOP}.tar.xz")
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    source = open_checked(path, tmp_path)
    [note] = notes_with(source, "archive truncated after")
    kept = len(source.files())
    assert 5 <= kept <= 10, source.files()
    assert source.files() == [f"sos_commands/f{i:02d}" for i in range(kept)]
    assert source.read_bytes(f"sos_commands/f{kept - 1:02d}") == random_bytes(20_000, kept - 1)
    assert source.read_bytes(f"sos_commands/f{kept:02d}") is None  # the member cut in the middle is not kept
    assert "xz" in note.lower() or "lzma" in note.lower()  # the decompressor says where it ended


def test_tar_xz_cut_inside_the_first_member_is_an_input_error(tmp_path):
    path = sosreport_of_random_files(tmp_path, "cut.tar.xz", count=1, size=200_000)
    path.write_bytes(path.read_bytes()[:50_000])
    error = refused(path, tmp_path)
    assert "truncated" in error.message and "nothing usable" in error.message


@pytest.mark.parametrize("cut, detail", [
    (2 * 1024, "end-of-archive marker missing"),        # exactly after the second member
    (2 * 1024 + 100, "Truncated tar archive"),          # inside the third header
    (2 * 1024 + 512 + 100, "Truncated tar archive"),    # inside the third member's data
])
def test_plain_tar_truncation_is_noticed(tmp_path, cut, detail):
    members = [("file", f"{TOP}/{name}", bytes([65 + i]) * 512) for i, name in enumerate("abc")]
    path = write_tar(tmp_path / f"{TOP}.tar", members)
    path.write_bytes(path.read_bytes()[:cut])
    source = open_checked(path, tmp_path)
    assert source.files() == ["a", "b"]
    assert source.read_bytes("b") == b"B" * 512
    [note] = notes_with(source, "archive truncated after 2 members")
    assert detail in note


def test_plain_tar_with_a_garbage_header_is_noticed(tmp_path):
    members = [("file", f"{TOP}/{name}", b"x" * 512) for name in "abc"]
    path = write_tar(tmp_path / f"{TOP}.tar", members)
    data = bytearray(path.read_bytes())
    data[2048:2048 + 512] = random_bytes(512)  # the third header
    path.write_bytes(bytes(data))
    source = open_checked(path, tmp_path)
    assert source.files() == ["a", "b"]
    assert notes_with(source, "archive corrupt after 2 members (Damaged tar archive)")


def test_truncated_zip_is_an_input_error(tmp_path):
    path = write_zip(tmp_path / f"{TOP}.zip", [("file", f"{TOP}/f{i}", random_bytes(5000, i)) for i in range(10)])
    path.write_bytes(path.read_bytes()[:20_000])
    error = refused(path, tmp_path)
    assert "zip archive is truncated or corrupt" in error.message


def test_corrupt_xz_is_an_input_error(tmp_path):
    path = tmp_path / "corrupt.tar.xz"
    path.write_bytes(b"\xfd7zXZ\x00" + random_bytes(4096))
    error = refused(path, tmp_path)
    assert "after 0 members" in error.message and "nothing usable" in error.message


def test_compressed_data_that_is_not_a_tar_is_an_input_error(tmp_path):
    path = tmp_path / "messages.gz"
    path.write_bytes(gzip.compress(b"Jan  2 10:11:12 node1 kernel: hello\n" * 100))
    error = refused(path, tmp_path)
    assert "gzip data is not a tar archive" in error.message


def test_huge_pax_header_is_refused_without_reading_it(tmp_path):
    path = tmp_path / f"{TOP}.tar.xz"
    with tarfile.open(path, "w:xz", format=tarfile.PAX_FORMAT, preset=0) as tar:
        for name, headers in (("version.txt", {}), ("evil", {"comment": "x" * (2 * MIB)})):
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size, info.pax_headers = 3, headers
            tar.addfile(info, io.BytesIO(b"ok\n"))
    source = open_checked(path, tmp_path)
    assert source.files() == ["version.txt"]
    assert notes_with(source, "archive corrupt after 1 members (Special header too large)")


@pytest.mark.parametrize("name, expected", [
    ("random.tar.xz", "the name says tar.xz but it starts with"),
    ("random.zip", "not a tar, tar.gz, tar.xz, tar.bz2 or zip archive"),
    ("random.bin", "not a tar, tar.gz, tar.xz, tar.bz2 or zip archive"),
])
def test_random_bytes_are_an_input_error(tmp_path, name, expected):
    path = tmp_path / name
    path.write_bytes(b"\x8f" + random_bytes(64 * 1024))  # 0x8f: no magic can match by chance
    error = refused(path, tmp_path)
    assert expected in error.message
    assert str(error).startswith(str(path) + ": ")  # `calirules: error: <file>: <message>`


def test_empty_file_is_an_input_error(tmp_path):
    path = tmp_path / "empty.tar.xz"
    path.write_bytes(b"")
    assert "empty file" in refused(path, tmp_path).message


def test_encrypted_and_unsupported_formats_say_so(tmp_path):
    (tmp_path / "secured-sosreport-x.tar.xz.gpg").write_bytes(b"\x85\x01\x0c" + random_bytes(1000))
    assert "decrypt it first" in refused(tmp_path / "secured-sosreport-x.tar.xz.gpg", tmp_path).message
    (tmp_path / "x.tar.zst").write_bytes(b"\x28\xb5\x2f\xfd" + random_bytes(1000))
    assert "zstd" in refused(tmp_path / "x.tar.zst", tmp_path).message


# -- size and count caps ----------------------------------------------------------------------

LINES = numbered_lines(20_000)  # 180,000 bytes


@pytest.mark.parametrize("fmt, limits", [
    ("tar.gz", Limits(max_member_bytes=1000)),                        # kept in memory
    ("tar.xz", Limits(max_member_bytes=1000, cache_member_bytes=0)),  # streamed again on read
    ("tar", Limits(max_member_bytes=1000)),                           # read by offset
    ("zip", Limits(max_member_bytes=1000)),                           # deflated zip member
    ("stored.zip", Limits(max_member_bytes=1000)),                    # stored zip member: read by offset
])
def test_big_member_keeps_its_tail(tmp_path, fmt, limits):
    members = [("file", f"{TOP}/var/log/messages", LINES), ("file", f"{TOP}/small", b"small\n")]
    path = tmp_path / f"{TOP}.{fmt}"
    if fmt.endswith("zip"):
        write_zip(path, members, zipfile.ZIP_STORED if fmt == "stored.zip" else zipfile.ZIP_DEFLATED)
    else:
        write_tar(path, members)
    source = open_checked(path, tmp_path, limits=limits)
    assert source.read_bytes("var/log/messages") == LINES[-1000:]
    assert source.read_text("var/log/messages").endswith("00019999\n")
    assert source.read_bytes("var/log/messages", 9) == b"00019999\n"
    assert source.read_bytes("small") == b"small\n"
    assert notes_with(source, "var/log/messages: 175.8 KiB, only the last 1000 bytes are kept (per-member cap)")


def test_tar_total_size_cap_stops_reading(tmp_path):
    members = [("file", f"sos_commands/f{i:02d}", bytes(10_000)) for i in range(10)]
    path = write_tar(tmp_path / f"{TOP}.tar.gz", under(TOP, members))
    source = open_checked(path, tmp_path, limits=Limits(max_total_bytes=50_000))
    assert 2 <= len(source.files()) <= 5
    assert notes_with(source, "total uncompressed size cap (48.8 KiB) reached")


def test_zip_total_size_cap_skips_the_rest(tmp_path):
    members = [("file", f"{TOP}/f{i:02d}", bytes(10_000)) for i in range(10)]
    source = open_checked(write_zip(tmp_path / f"{TOP}.zip", members), tmp_path,
                          limits=Limits(max_total_bytes=50_000))
    assert source.files() == [f"f{i:02d}" for i in range(5)]
    assert notes_with(source, "5 members skipped: total uncompressed size cap (48.8 KiB) reached")


def test_tar_member_count_cap_refuses(tmp_path):
    path = write_tar(tmp_path / "many.tar.gz", [("file", f"{TOP}/f{i}", b"x") for i in range(30)])
    error = refused(path, tmp_path, limits=Limits(max_members=10))
    assert "more than 10 members" in error.message


@pytest.fixture(scope="module")
def zip_100k(tmp_path_factory):
    path = tmp_path_factory.mktemp("many") / "diags-many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for i in range(100_000):
            archive.writestr(f"diagnostics/logs/d{i % 100}/f{i}", b"%d\n" % i)
    return path


def test_zip_with_100k_members_is_read_with_bounded_memory(zip_100k):
    tracemalloc.start()
    try:
        started = time.monotonic()
        with no_writes():
            source = open_source(zip_100k)
            assert source.read_bytes("logs/d7/f99907") == b"99907\n"
            assert len(source.glob("logs/d7/*")) == 1000
        elapsed = time.monotonic() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(source.files()) == 100_000 and source.notes == []
    assert peak < 96 * MIB, f"peak Python memory {peak / MIB:.1f} MiB"  # ~50 MiB: a few hundred bytes a member
    assert elapsed < 30, f"{elapsed:.1f} s (under tracemalloc, which slows allocation several times)"


def test_zip_member_count_cap_refuses_before_reading_the_directory(zip_100k, tmp_path):
    started = time.monotonic()
    error = refused(zip_100k, tmp_path, limits=Limits(max_members=1000))
    assert time.monotonic() - started < 0.5
    assert "zip has 100000 members, more than 1000" in error.message


def test_archive_changed_after_indexing_is_not_misread(tmp_path):
    """Content not held in memory is read again only from the archive that was indexed."""
    path = write_tar(tmp_path / f"{TOP}.tar", [("file", f"{TOP}/a", b"first\n"), ("file", f"{TOP}/b", b"second\n")])
    source = open_source(path, limits=Limits(cache_total_bytes=len(b"first\n")))  # a cached, b not
    stamp = os.stat(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    assert source.read_bytes("b") is None
    assert notes_with(source, "b: could not be read (the archive changed on disk after it was indexed)")
    assert source.read_bytes("a") == b"first\n"  # what was read when indexing


@pytest.mark.parametrize("fmt", ["zip", "tar.gz"])
def test_archive_changed_after_indexing_is_not_misread_in_every_format(tmp_path, fmt):
    path = tmp_path / f"{TOP}.{fmt}"
    members = [("file", f"{TOP}/a", b"first\n")]
    write_zip(path, members) if fmt == "zip" else write_tar(path, members)
    source = open_source(path, limits=Limits(cache_member_bytes=0))
    stamp = os.stat(path)
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    assert source.read_bytes("a") is None
    assert notes_with(source, "a: could not be read (the archive changed on disk after it was indexed)")


def _set_size_field(data, header_offset, field):
    """Put `field` (12 bytes) in the size field of the tar header at `header_offset`; fix its checksum."""
    header = bytearray(data[header_offset:header_offset + 512])
    header[124:136] = field
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    data[header_offset:header_offset + 512] = header


@pytest.mark.parametrize("field, detail", [
    (b"\xff" * 12, "corrupt after 2 members (Tar entry has negative size"),          # base-256 -1
    (b"\xff" + b"\x00" * 10 + b"\x01", "corrupt after 2 members (Tar entry has negative size"),  # large negative
    (b"12345678901z", "truncated after 2 members (Truncated tar archive"),  # octal up to the z: past the end
])
def test_a_tar_member_with_a_negative_or_garbage_size_is_noticed(tmp_path, field, detail):
    members = [("file", f"{TOP}/{name}", b"x" * 512) for name in "abc"]
    path = write_tar(tmp_path / f"{TOP}.tar", members)
    data = bytearray(path.read_bytes())
    _set_size_field(data, 2048, field)  # the third member's header
    path.write_bytes(bytes(data))
    source = open_checked(path, tmp_path)
    assert source.files() == ["a", "b"]
    assert notes_with(source, f"archive {detail}")


def test_a_negative_size_in_the_first_member_is_an_input_error(tmp_path):
    path = write_tar(tmp_path / f"{TOP}.tar", [("file", f"{TOP}/a", b"x" * 512)])
    data = bytearray(path.read_bytes())
    _set_size_field(data, 0, b"\xff" * 12)
    path.write_bytes(bytes(data))
    error = refused(path, tmp_path)
    assert "Tar entry has negative size" in error.message and "nothing usable" in error.message


def test_a_base256_size_is_read(tmp_path):
    """GNU tar writes sizes of 8 GiB and more in base-256; a small one must decode the same."""
    path = write_tar(tmp_path / f"{TOP}.tar", [("file", f"{TOP}/a", b"y" * 700), ("file", f"{TOP}/b", b"z")])
    data = bytearray(path.read_bytes())
    _set_size_field(data, 0, b"\x80" + (700).to_bytes(11, "big"))
    path.write_bytes(bytes(data))
    source = open_checked(path, tmp_path)
    assert source.read_bytes("a") == b"y" * 700 and source.read_bytes("b") == b"z"


@pytest.mark.parametrize("size, note", [
    ("-5", "archive corrupt after 1 members (Tar size attribute is negative)"),
    ("-99999999999999999999999", "archive corrupt after 1 members (Tar size attribute is negative)"),
    ("99999999999", "archive truncated after 1 members"),   # past the end of the archive
    ("x12", "archive corrupt after 2 members"),            # no digits: the next header is misplaced
])
def test_a_garbage_pax_size_is_noticed(tmp_path, size, note):
    path = tmp_path / f"{TOP}.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, headers in (("a", {}), ("b", {"size": size}), ("c", {})):
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size, info.pax_headers = 3, headers
            tar.addfile(info, io.BytesIO(b"ok\n"))
    source = open_checked(path, tmp_path)
    assert source.read_bytes("a") == b"ok\n" and source.read_bytes("c") is None
    assert notes_with(source, note)


def test_a_pax_size_with_trailing_garbage_reads_its_digits(tmp_path):
    """libarchive reads the leading digits of a pax size ("12x" is 12), as it does octal fields."""
    path = tmp_path / f"{TOP}.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, headers in (("a", {}), ("b", {"size": "12x"}), ("c", {})):
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size, info.pax_headers = 3, headers
            tar.addfile(info, io.BytesIO(b"ok\n"))
    source = open_checked(path, tmp_path)
    assert source.read_bytes("b") == b"ok\n" + bytes(9)  # its own block only, never the next header
    assert source.read_bytes("a") == source.read_bytes("c") == b"ok\n"
