"""Property tests over archive headers: whatever a header field says, the archive is read (what
can be read) or refused with InputError, the CLI's exit 2; no other exception, nothing written.

Each example changes one field of one tar header (size, also negative and base-256; mode; type
flag; name; link name; checksum; magic; prefix) or of one zip record (local header, central
directory entry, end record), with the checksum fixed or not, then opens the archive and reads
every file it lists.
"""

import gzip
import io
import struct
import tarfile
import zipfile

import pytest
from archive_builders import TOP, write_tar, write_zip
from calirules.base.errors import InputError
from calirules.facts_collectors.archive import Limits, open_source
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Small caps so that a mutated size cannot make one example read for long.
LIMITS = Limits(max_member_bytes=64 * 1024, max_total_bytes=1 << 20, bomb_min_bytes=256 * 1024,
                cache_member_bytes=4096, cache_total_bytes=16 * 1024)

MEMBERS = [("dir", f"{TOP}", None), ("file", f"{TOP}/version.txt", b"sos report: 4.12.0\n"),
           ("file", f"{TOP}/sos_commands/networking/ip_-d_address", b"1: lo: <LOOPBACK,UP> mtu 65536\n" * 40),
           ("symlink", f"{TOP}/ip_addr", "sos_commands/networking/ip_-d_address"),
           ("hardlink", f"{TOP}/version-copy", f"{TOP}/version.txt"),
           ("file", f"{TOP}/proc/sys/net/ipv4/ip_forward", b"1\n")]


def read_everything(path):
    """Open the archive and read every file: InputError is the only failure allowed."""
    try:
        source = open_source(path, limits=LIMITS)
    except InputError as error:
        assert str(error).startswith(str(path)), error  # the message names the archive
        event("refused: InputError")
        return None
    for relpath in source.files():
        data = source.read_bytes(relpath)
        assert data is None or len(data) <= LIMITS.max_member_bytes
        source.exists(relpath)
    source.glob("**/*")
    assert all(isinstance(note, str) for note in source.notes)
    event("read, with notes" if source.notes else "read cleanly")
    return source


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# -- tar ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tars(work):
    """A GNU tar and a pax tar of MEMBERS, with the offset of every header block."""
    built = {}
    for fmt in (tarfile.GNU_FORMAT, tarfile.PAX_FORMAT):
        path = work / f"base-{fmt}.tar"
        with tarfile.open(path, "w", format=fmt) as tar:
            for kind, name, payload in MEMBERS:
                info = tarfile.TarInfo(name)
                info.mtime = 1767312000
                info.pax_headers = {"comment": "calirules"} if fmt == tarfile.PAX_FORMAT else {}
                if kind == "file":
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
                    continue
                info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
                info.linkname = payload or ""
                tar.addfile(info)
        data = path.read_bytes()
        headers = [offset for offset in range(0, len(data), 512)
                   if any(data[offset:offset + 512]) and tarfile.calc_chksums(data[offset:offset + 512])[0]
                   == _stored_checksum(data[offset:offset + 512])]
        built[fmt] = (data, headers)
    return built


def _stored_checksum(block):
    try:
        return int(block[148:156].replace(b"\0", b" ").strip() or b"-1", 8)
    except ValueError:
        return -1


TAR_FIELDS = {"name": (0, 100), "mode": (100, 8), "uid": (108, 8), "size": (124, 12), "mtime": (136, 12),
              "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100), "magic": (257, 8),
              "devmajor": (329, 8), "prefix": (345, 155)}


def numeric_field(width):
    """What a tar numeric field may hold: octal text, base-256 (also negative), or any bytes."""
    octal = st.integers(0, 8 ** (width - 1) - 1).map(lambda n: b"%0*o\0" % (width - 1, n))
    base256 = st.integers(-(1 << (8 * (width - 1) - 1)), (1 << (8 * (width - 1))) - 1).map(
        lambda n: (b"\x80" + n.to_bytes(width - 1, "big")) if n >= 0 else
        (1 << (8 * width)) + n).map(lambda v: v if isinstance(v, bytes) else v.to_bytes(width, "big"))
    signed = st.integers(-(1 << 40), 1 << 40).map(lambda n: (n % (1 << (8 * width))).to_bytes(width, "big"))
    return st.one_of(octal, base256, signed, st.binary(min_size=width, max_size=width))


def field_value(field):
    _offset, width = TAR_FIELDS[field]
    if field in ("mode", "uid", "size", "mtime", "chksum", "devmajor"):
        return numeric_field(width)
    if field == "typeflag":
        return st.one_of(st.sampled_from([bytes([c]) for c in b"0123456789AKLMNSVgxX\0"]), st.binary(min_size=1, max_size=1))
    if field == "magic":
        return st.sampled_from([b"ustar\x0000", b"ustar  \0", b"\0" * 8, b"garbage!"])
    text = st.sampled_from([b"", b"/etc/passwd", b"../../etc/shadow", b"a/../../b", b"x" * width,
                            TOP.encode() + b"/version.txt", b"\xff\xfe bad utf-8", b"a\0b", b"."])
    return st.one_of(text, st.binary(max_size=width))


@st.composite
def tar_mutation(draw):
    field = draw(st.sampled_from(sorted(TAR_FIELDS)))
    return (draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])), draw(st.integers(0, 50)), field,
            draw(field_value(field)), draw(st.booleans()), draw(st.sampled_from(["tar", "tar.gz"])))


def mutate_tar(data, header, field, value, fix_checksum):
    block = bytearray(data[header:header + 512])
    offset, width = TAR_FIELDS[field]
    block[offset:offset + width] = value[:width].ljust(width, b"\0")
    if fix_checksum and field != "chksum":
        block[148:156] = b" " * 8
        block[148:156] = b"%06o\0 " % sum(block)
    return data[:header] + bytes(block) + data[header + 512:]


@SETTINGS
@given(tar_mutation())
def test_any_tar_header_field_reads_or_is_an_input_error(tars, work, mutation):
    fmt, which, field, value, fix_checksum, container = mutation
    data, headers = tars[fmt]
    mutated = mutate_tar(data, headers[which % len(headers)], field, value, fix_checksum)
    path = work / f"{TOP}.{container}"
    path.write_bytes(gzip.compress(mutated, mtime=0) if container == "tar.gz" else mutated)
    read_everything(path)


@SETTINGS
@given(st.integers(0, 4095), st.binary(min_size=1, max_size=64))
def test_any_bytes_anywhere_in_a_tar_read_or_are_an_input_error(tars, work, position, garbage):
    data, _headers = tars[tarfile.PAX_FORMAT]
    position %= len(data)
    path = work / f"{TOP}.tar"
    path.write_bytes(data[:position] + garbage + data[position + len(garbage):])
    read_everything(path)


# -- zip ----------------------------------------------------------------------------------------

# (offset, struct format) of every field after the signature
LOCAL_FIELDS = {"version": (4, "<H"), "flags": (6, "<H"), "method": (8, "<H"), "crc": (14, "<L"),
                "csize": (18, "<L"), "usize": (22, "<L"), "name_len": (26, "<H"), "extra_len": (28, "<H")}
CENTRAL_FIELDS = {"version_made": (4, "<H"), "flags": (8, "<H"), "method": (10, "<H"), "crc": (16, "<L"),
                  "csize": (20, "<L"), "usize": (24, "<L"), "name_len": (28, "<H"), "extra_len": (30, "<H"),
                  "comment_len": (32, "<H"), "disk": (34, "<H"), "external_attr": (38, "<L"), "offset": (42, "<L")}
END_FIELDS = {"disk": (4, "<H"), "cd_disk": (6, "<H"), "disk_entries": (8, "<H"), "entries": (10, "<H"),
              "cd_size": (12, "<L"), "cd_offset": (16, "<L"), "comment_len": (20, "<H")}
RECORDS = {b"PK\x03\x04": LOCAL_FIELDS, b"PK\x01\x02": CENTRAL_FIELDS, b"PK\x05\x06": END_FIELDS}


@pytest.fixture(scope="module")
def zips(work):
    built = {}
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = write_zip(work / f"base-{method}.zip",
                         [(k if k != "hardlink" else "file", n, p if k != "hardlink" else b"copy\n")
                          for k, n, p in MEMBERS], method)
        data = path.read_bytes()
        records = [(pos, signature) for signature in RECORDS for pos in _find_all(data, signature)]
        built[method] = (data, sorted(records))
    return built


def _find_all(data, needle):
    pos = data.find(needle)
    while pos >= 0:
        yield pos
        pos = data.find(needle, pos + 1)


def zip_value(fmt):
    bits = 8 * struct.calcsize(fmt)
    return st.one_of(st.sampled_from([0, 1, 0xFF, (1 << bits) - 1, (1 << (bits - 1)), 0x800, 0x41, 8, 12, 14, 99]),
                     st.integers(0, (1 << bits) - 1))


@st.composite
def zip_mutation(draw):
    method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    which = draw(st.integers(0, 50))
    field_index = draw(st.integers(0, 20))
    value_seed = draw(st.data())
    return method, which, field_index, value_seed


@SETTINGS
@given(zip_mutation())
def test_any_zip_header_field_reads_or_is_an_input_error(zips, work, mutation):
    method, which, field_index, data_strategy = mutation
    data, records = zips[method]
    position, signature = records[which % len(records)]
    fields = RECORDS[signature]
    name = sorted(fields)[field_index % len(fields)]
    offset, fmt = fields[name]
    value = data_strategy.draw(zip_value(fmt), label=f"{signature!r} {name}")
    mutated = bytearray(data)
    struct.pack_into(fmt, mutated, position + offset, value)
    path = work / f"{TOP}.zip"
    path.write_bytes(bytes(mutated))
    read_everything(path)


@SETTINGS
@given(st.integers(0, 4095), st.binary(min_size=1, max_size=64))
def test_any_bytes_anywhere_in_a_zip_read_or_are_an_input_error(zips, work, position, garbage):
    data, _records = zips[zipfile.ZIP_DEFLATED]
    position %= len(data)
    path = work / f"{TOP}.zip"
    path.write_bytes(data[:position] + garbage + data[position + len(garbage):])
    read_everything(path)


def test_the_mutations_reach_the_fields(tars, zips):
    """The bases have what the properties mutate: headers of every member, and every zip record."""
    for data, headers in tars.values():
        assert len(headers) >= len(MEMBERS)
    for data, records in zips.values():
        assert {signature for _pos, signature in records} == set(RECORDS)
    assert write_tar  # the same builders as the other archive tests
