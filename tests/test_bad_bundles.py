"""Hostile or broken bundles through the CLI: exit 2 or a note, never a traceback or a stray file."""

import io
import json
import os
import tarfile

import pytest

from tests.helpers import REPO, run_cli

# Real `ip -d address` output from the fault lab: the core evidence every node bundle has.
IP_ADDRESS = (REPO / "tests/fixtures/raw/netns-lab/ip_-d_address").read_bytes()


def add(tar, name, data=b"", **attrs):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def sosreport_with(tmp_path, *extra):
    path = tmp_path / "sosreport-n1-2026-11-01-abcdefg.tar.xz"
    with tarfile.open(path, "w:xz") as tar:
        add(tar, "sosreport-n1/version.txt", b"sos report: 4.12.0\n")
        add(tar, "sosreport-n1/sos_commands/host/hostname", b"n1\n")
        add(tar, "sosreport-n1/sos_commands/networking/ip_-d_address", IP_ADDRESS)
        for name, data, attrs in extra:
            add(tar, name, data, **attrs)
    return path


def run(tmp_path, bundle):
    out = tmp_path / "out"
    out.mkdir()
    before = set(os.listdir(tmp_path))
    code, stdout, stderr = run_cli("diagnose", "--sosreport", bundle, "--format", "json", "-o", out / "r.json")
    assert "Traceback" not in stderr
    assert set(os.listdir(tmp_path)) == before, "nothing may be written next to the bundle"
    return code, stderr, (json.loads((out / "r.json").read_text()) if (out / "r.json").exists() else None)


@pytest.mark.parametrize("member,attrs", [
    ("../../etc/passwd", {}),
    ("/etc/passwd", {}),
    ("sosreport-n1/sos_commands/kernel/sysctl_-a", {"type": tarfile.SYMTYPE, "linkname": "/etc/shadow"}),
    ("sosreport-n1/dev-null", {"type": tarfile.CHRTYPE}),
])
def test_hostile_members_are_skipped_with_a_note(tmp_path, member, attrs):
    bundle = sosreport_with(tmp_path, (member, b"root:x:0:0\n" if not attrs else b"", attrs))
    code, stderr, report = run(tmp_path, bundle)
    assert code in (0, 1), stderr
    assert report["node"] == "n1"
    assert not (tmp_path / "etc").exists()


def test_truncated_archive_keeps_what_was_read_and_says_so(tmp_path):
    bundle = sosreport_with(tmp_path, ("sosreport-n1/big", os.urandom(200_000), {}))
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) // 2])
    code, stderr, report = run(tmp_path, bundle)
    assert code == 0 and report["node"] == "n1"
    assert any("truncated" in note for note in report["notes"]), report["notes"]


def test_archive_truncated_before_anything_usable_is_exit_2(tmp_path):
    bundle = sosreport_with(tmp_path)
    bundle.write_bytes(bundle.read_bytes()[:40])
    code, stderr, _ = run(tmp_path, bundle)
    assert code == 2 and "calirules: error:" in stderr and len(stderr.strip().splitlines()) == 1


def test_random_bytes_are_exit_2(tmp_path):
    bundle = tmp_path / "sosreport.tar.xz"
    bundle.write_bytes(os.urandom(10_000))
    code, stderr, _ = run(tmp_path, bundle)
    assert code == 2 and str(bundle) in stderr


def test_bundle_without_core_evidence_is_exit_2_not_a_healthy_node(tmp_path):
    bundle = tmp_path / "sosreport-n1-2026-11-01-abcdefg.tar.xz"
    with tarfile.open(bundle, "w:xz") as tar:
        add(tar, "sosreport-n1/version.txt", b"sos report: 4.12.0\n")
        add(tar, "sosreport-n1/sos_commands/host/hostname", b"n1\n")
    code, stderr, report = run(tmp_path, bundle)
    assert code == 2 and report is None
    assert "not a sosreport or diags bundle: found none of" in stderr and len(stderr.strip().splitlines()) == 1


def test_empty_directory_is_exit_2(tmp_path):
    empty = tmp_path / "bundle"
    empty.mkdir()
    code, _, stderr = run_cli("diagnose", "--sosreport", empty)
    assert code == 2 and "found none of" in stderr


def _negative_size(data, header_offset):
    """A GNU base-256 size of -1 in the tar header at `header_offset`, its checksum fixed."""
    header = bytearray(data[header_offset:header_offset + 512])
    header[124:136] = b"\xff" * 12
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return data[:header_offset] + bytes(header) + data[header_offset + 512:]


def test_negative_base256_member_size_is_exit_2_naming_the_archive(tmp_path):
    bundle = tmp_path / "sosreport-n1-2026-11-01-abcdefg.tar"
    with tarfile.open(bundle, "w", format=tarfile.GNU_FORMAT) as tar:
        add(tar, "sosreport-n1/sos_commands/networking/ip_-d_address", IP_ADDRESS)
    bundle.write_bytes(_negative_size(bundle.read_bytes(), 0))
    code, stderr, report = run(tmp_path, bundle)
    assert code == 2 and report is None, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"calirules: error: {bundle}: ") and "negative size" in line


def test_negative_base256_size_after_the_evidence_keeps_what_was_read(tmp_path):
    bundle = tmp_path / "sosreport-n1-2026-11-01-abcdefg.tar"
    with tarfile.open(bundle, "w", format=tarfile.GNU_FORMAT) as tar:
        add(tar, "sosreport-n1/sos_commands/host/hostname", b"n1\n")
        add(tar, "sosreport-n1/sos_commands/networking/ip_-d_address", IP_ADDRESS)
        add(tar, "sosreport-n1/var/log/messages", b"Nov  1 10:00:00 n1 kernel: hello\n")
    data = bundle.read_bytes()
    third = data.index(b"sosreport-n1/var/log/messages") // 512 * 512
    bundle.write_bytes(_negative_size(data, third))
    code, stderr, report = run(tmp_path, bundle)
    assert code in (0, 1), stderr
    assert report["node"] == "n1"
    assert any("archive corrupt after 2 members" in note and "negative size" in note for note in report["notes"])
