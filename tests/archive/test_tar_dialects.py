"""Every tar dialect reads the same: long names (ustar prefix, pax, GNU), links, sizes, compressions."""

import io
import tarfile

import pytest
from calirules.facts_collectors.archive import ArchiveSource

LONG = "sosreport-n1/sos_commands/networking/namespaces/cni-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/" + \
       "ip_netns_exec_cni-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b_ip_-d_address_show"


def build(path, fmt, compression, link_name):
    members = {LONG: b"1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536\n", "sosreport-n1/version.txt": b"sos report: 4.12.0\n",
               "sosreport-n1/proc/sys/net/ipv4/ip_forward": b"1\n", "sosreport-n1/empty": b""}
    with tarfile.open(path, f"w:{compression}" if compression else "w", format=fmt) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("sosreport-n1/" + link_name)
        link.type, link.linkname = tarfile.SYMTYPE, "proc/sys/net/ipv4/ip_forward"
        tar.addfile(link)
    return {k.split("/", 1)[1]: v for k, v in members.items()}


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT], ids=["pax", "gnu", "ustar"])
@pytest.mark.parametrize("compression", ["", "xz", "gz"])
def test_every_tar_dialect_reads_what_tarfile_wrote(tmp_path, fmt, compression):
    path = tmp_path / "bundle.tar"
    # ustar splits long paths into its 155-byte prefix field; a single component stays <= 100
    link_name = "l" * (90 if fmt == tarfile.USTAR_FORMAT else 120)
    expected = build(path, fmt, compression, link_name)
    source = ArchiveSource(path)
    for name, data in expected.items():
        assert source.read_bytes(name) == data, name
    assert source.read_text(link_name) == "1\n"  # symlink resolved inside the bundle
    assert not [n for n in source.notes if "refused" in n]
