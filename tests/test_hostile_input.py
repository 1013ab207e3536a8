"""Hostile input found by fuzzing, bounded where it is read: exit 2 with one line naming the file (or,
for damaged evidence in a bundle, the damage skipped like any other), quickly, and never a hang."""

import io
import os
import re
import signal
import tarfile
import time

import pytest
from calirules.base import yamlio
from calirules.base.errors import InputError
from calirules.engine import versions

from tests.helpers import EXAMPLES, REPO, run_cli

HEALTHY = (EXAMPLES / "healthy.yaml").read_text()
LAB = REPO / "tests/fixtures/raw/netns-lab"
LONG = "9" * 5000  # past Python's 4,300-digit limit for reading an integer
ONE_ERROR_LINE = re.compile(r"^calirules: error: (?P<path>[^:]+)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: \S")


@pytest.fixture(autouse=True)
def deadline():
    """Each case is a fraction of a second; a regression that hangs (a fifo opened) fails instead."""
    def expire(*_):
        raise TimeoutError("hostile input took more than 20 s")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    started = time.monotonic()
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 10


def assert_one_error(result, path, line=None, words=()):
    code, _out, err = result
    assert code == 2, (code, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    match = ONE_ERROR_LINE.match(lines[0])
    assert match and match["path"] == str(path), lines[0]
    if line is not None:
        assert match["line"] == str(line), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def line_of(text, needle):
    return next(number for number, line in enumerate(text.splitlines(), 1) if needle in line)


# --- facts dumps ---------------------------------------------------------------------------------

@pytest.mark.parametrize("key_text, where", [
    ("1: x\n", "end"), ("~: x\n", "end"), ("true: x\n", "end"), ("? [a, b]\n: x\n", "end"),
    ("  7: x\n", "node"),
])
def test_dump_key_that_is_not_a_string(tmp_path, key_text, where):
    text = HEALTHY + key_text if where == "end" else HEALTHY.replace("node:\n", "node:\n" + key_text, 1)
    dump = tmp_path / "dump.yaml"
    dump.write_text(text)
    line = line_of(text, key_text.splitlines()[0])
    message = assert_one_error(run_cli("diagnose", "--facts", dump), dump, line)
    assert "key" in message


def test_dump_integer_with_thousands_of_digits(tmp_path):
    text = HEALTHY.replace("  mtu: 1500\n", f"  mtu: {LONG}\n", 1)
    dump = tmp_path / "dump.yaml"
    dump.write_text(text)
    assert_one_error(run_cli("diagnose", "--facts", dump), dump, line_of(text, LONG), ["more than 20 digits"])


def test_dump_version_with_thousands_of_digits_is_no_version(tmp_path):
    text = HEALTHY.replace("versions:\n", "versions:\n"
                           f"- {{component: calico, version: v3.{LONG}.1, source: 'x:1'}}\n"
                           f"- {{component: kubernetes, version: v1.{LONG}.1, source: 'x:1'}}\n", 1)
    dump = tmp_path / "dump.yaml"
    dump.write_text(text)
    code, _out, err = run_cli("diagnose", "--facts", dump)
    assert code in (0, 1) and err == ""


@pytest.mark.parametrize("opener, closer", [("k{}:\n", ""), ("-\n", "")])
def test_dump_nested_300_deep(tmp_path, opener, closer):
    body = "".join("  " * (depth + 1) + opener.format(depth) for depth in range(300)) + "  " * 301 + "- 1\n"
    dump = tmp_path / "dump.yaml"
    dump.write_text("apiVersion: calirules/v1\nkind: NodeFacts\nnode:\n" + body)
    assert_one_error(run_cli("diagnose", "--facts", dump), dump, 103, ["nested more than 100 levels"])


def alias_bomb(levels):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_dump_alias_bomb(tmp_path):
    dump = tmp_path / "dump.yaml"
    dump.write_text("apiVersion: calirules/v1\nkind: NodeFacts\n" + alias_bomb(9))
    assert_one_error(run_cli("diagnose", "--facts", dump), dump, 8, ["aliases are expanded"])


# --- rule files (PyYAML) ---------------------------------------------------------------------------

RULE_FILE_CASES = {
    "alias-bomb-7": (alias_bomb(7), 6, "aliases are expanded"),
    "alias-bomb-9": (alias_bomb(9), 6, "aliases are expanded"),
    "deep-block": ("rules:\n" + "".join("  " * (d + 1) + f"k{d}:\n" for d in range(300)) + "  " * 301 + "v: 1\n",
                   101, "nested more than 100 levels"),
    "deep-flow": ("rules: " + "[" * 300 + "]" * 300 + "\n", 1, "nested more than 100 levels"),
    "int-key": ("rules: []\n1: x\n", 2, "is not a string"),
    "long-int": (f"rules: []\nx: {LONG}\n", 2, "more than 20 digits"),
}


@pytest.mark.parametrize("case", sorted(RULE_FILE_CASES))
@pytest.mark.parametrize("command", ["diagnose", "test", "lint"])
def test_rule_file(tmp_path, case, command):
    text, line, words = RULE_FILE_CASES[case]
    rules = tmp_path / "rules"
    rules.mkdir()
    rule_file = rules / "x.yaml"
    rule_file.write_text(text)
    if command == "diagnose":
        result = run_cli("diagnose", "--facts", EXAMPLES / "healthy.yaml", "--rules-dir", rules)
    else:
        result = run_cli("rules", command, rule_file)
    if command == "lint":  # lint lists problems as they are, one per line
        code, _out, err = result
        assert code == 2 and len(err.splitlines()) == 1 and err.startswith(f"{rule_file}:{line}:"), err
        assert words in err
    else:
        assert_one_error(result, rule_file, line, [words])


def test_anchors_within_the_budget_still_load():
    doc = yamlio.parse_yaml("base: &b {a: 1, b: [1, 2]}\nuse: *b\nagain: *b\n", "x.yaml")
    assert doc["again"] == {"a": 1, "b": [1, 2]}


def test_quoted_keys_and_long_digit_strings_are_fine():
    doc = yamlio.parse_yaml(f"'1': x\nhash: '{LONG}'\nbig: 18446744073709551615\n", "x.yaml")
    assert doc["1"] == "x" and doc["big"] == 2**64 - 1


def test_versions_with_an_overlong_part_are_not_versions():
    assert versions.parse(f"v1.{LONG}.3") is None
    assert versions.parse("v1.28.15") == (1, 28, 15)


# --- path options: regular files and directories only, told without opening ----------------------

def fifo(tmp_path):
    path = tmp_path / "fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("args", [
    ("diagnose", "--facts", "{fifo}"),
    ("diagnose", "--sosreport", "{fifo}"),
    ("diagnose", "--facts", "{healthy}", "--rules-dir", "{fifo}"),
    ("diagnose", "--facts", "{healthy}", "-o", "{fifo}"),
    ("collect", "--sosreport", "{healthy}", "-o", "{fifo}"),
    ("rules", "lint", "{fifo}"),
    ("rules", "test", "{fifo}"),
    ("rules", "list", "--rules-dir", "{fifo}"),
])
def test_fifo_is_refused_without_opening_it(tmp_path, args):
    path = fifo(tmp_path)
    argv = [a.format(fifo=path, healthy=EXAMPLES / "healthy.yaml") for a in args]
    assert_one_error(run_cli(*argv), path, words=["not a regular file"])


def test_device_as_facts_is_refused():
    assert_one_error(run_cli("diagnose", "--facts", "/dev/zero"), "/dev/zero", words=["not a regular file"])


def test_yaml_reader_refuses_a_fifo_itself(tmp_path):
    path = fifo(tmp_path)
    with pytest.raises(InputError, match="not a regular file"):
        yamlio.read_text(path)


# --- bundle evidence -------------------------------------------------------------------------------

POD_ADDRESS = """\
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000
    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00
    inet 127.0.0.1/8 scope host lo
2: eth0@if7: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1440 qdisc noqueue state UP group default qlen 1000
    link/ether 2e:9e:f4:95:3c:20 brd ff:ff:ff:ff:ff:ff link-netns n1
    inet 198.18.128.1/32 scope global eth0
"""
NS = "sos_commands/networking/namespaces/cni-1"
EVIDENCE = {
    "version.txt": "sos report: 4.12.0\n",
    "sos_commands/host/hostname": "n1\n",
    "sos_commands/networking/ip_-d_address": (LAB / "ip_-d_address").read_text(),
    "sos_commands/networking/ip_route_show_table_all": (LAB / "ip_route_show_table_all").read_text(),
    "sos_commands/networking/ip_-4_rule_list": (LAB / "ip_-4_rule_list").read_text(),
    "sos_commands/kernel/sysctl_-a": (LAB / "sysctl_-a").read_text(),
    "sos_commands/conntrack/conntrack_-S": (LAB / "conntrack_-S").read_text(),
    "sos_commands/sos_extras/calico/iptables-legacy-save_-c": (LAB / "iptables-legacy-save_-c").read_text(),
    "sos_commands/sos_extras/calico/iptables-nft-save_-c": (LAB / "iptables-legacy-save_-c").read_text(),
    "sos_commands/kubernetes/cluster-info/kubectl_version": "Client Version: v1.31.4\nServer Version: v1.28.15\n",
    "sos_commands/sos_extras/calico/iptables_-V": "iptables v1.8.9 (nf_tables)\n",
    "sos_commands/sos_extras/calico/opt.cni.bin.calico_-v": "v3.29.1\n",
    "sos_commands/sos_extras/calico/kubelet_--version": "Kubernetes v1.31.3\n",
    f"{NS}/ip_netns_exec_cni-1_ip_-d_address_show": POD_ADDRESS,
}
# (file, the digits made 5,000 long): each a number some parser reads as an int or a version part
LONG_NUMBERS = {
    "conntrack -S": ("sos_commands/conntrack/conntrack_-S", r"(?<=invalid=)8"),
    "ip -d address index": ("sos_commands/networking/ip_-d_address", r"^1(?=: lo)"),
    "ip -d address mtu": ("sos_commands/networking/ip_-d_address", r"(?<=mtu )65536"),
    "pod ip -d address index": (f"{NS}/ip_netns_exec_cni-1_ip_-d_address_show", r"^2(?=: eth0)"),
    "pod ip -d address peer": (f"{NS}/ip_netns_exec_cni-1_ip_-d_address_show", r"(?<=eth0@if)7"),
    "ip rule": ("sos_commands/networking/ip_-4_rule_list", r"^32766"),
    "iptables-legacy-save": ("sos_commands/sos_extras/calico/iptables-legacy-save_-c", r"(?<=\[)\d+(?=:)"),
    "iptables-nft-save": ("sos_commands/sos_extras/calico/iptables-nft-save_-c", r"(?<=:)\d+(?=\])"),
    "kubectl version": ("sos_commands/kubernetes/cluster-info/kubectl_version", r"(?<=Server Version: v1\.)28"),
    "iptables -V": ("sos_commands/sos_extras/calico/iptables_-V", r"(?<=v1\.)8"),
    "calico -v": ("sos_commands/sos_extras/calico/opt.cni.bin.calico_-v", r"(?<=v3\.)29"),
    "kubelet --version": ("sos_commands/sos_extras/calico/kubelet_--version", r"(?<=v1\.)31"),
}


def sosreport_dir(tmp_path, replace=None):
    root = tmp_path / "sosreport-n1"
    for relpath, text in EVIDENCE.items():
        if replace and replace[0] == relpath:
            text, count = re.subn(replace[1], LONG, text, count=1, flags=re.MULTILINE)
            assert count == 1
        (root / relpath).parent.mkdir(parents=True, exist_ok=True)
        (root / relpath).write_text(text)
    return root


@pytest.mark.parametrize("evidence", sorted(LONG_NUMBERS))
def test_number_with_thousands_of_digits_in_evidence_is_skipped(tmp_path, evidence):
    bundle = sosreport_dir(tmp_path, LONG_NUMBERS[evidence])
    code, out, err = run_cli("diagnose", "--sosreport", bundle, "--format", "json")
    assert code in (0, 1) and err == "", (code, err)
    assert LONG not in out


def test_symlink_loops_in_a_sosreport_directory(tmp_path):
    bundle = sosreport_dir(tmp_path)
    os.symlink("b", bundle / "sos_commands/a")
    os.symlink("a", bundle / "sos_commands/b")
    os.symlink("self", bundle / "sos_commands/networking/self")
    os.symlink(".", bundle / f"{NS}/again")  # a directory loop the namespace glob walks past
    rule_list = bundle / "sos_commands/networking/ip_-4_rule_list"
    rule_list.unlink()
    os.symlink(rule_list.name, rule_list)  # evidence that is a link to itself
    code, _out, err = run_cli("diagnose", "--sosreport", bundle, "--format", "json")
    assert code in (0, 1) and err == "", (code, err)


def test_tar_member_with_a_negative_base256_size(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for relpath in ("version.txt", "sos_commands/host/hostname", "sos_commands/networking/ip_-d_address",
                        "sos_commands/networking/ip_-4_rule_list"):
            data = EVIDENCE[relpath].encode()
            info = tarfile.TarInfo(f"sosreport-n1/{relpath}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = bytearray(buffer.getvalue())
    header = raw.find(b"sosreport-n1/sos_commands/networking/ip_-4_rule_list")
    raw[header + 124:header + 136] = b"\xff" * 12  # size -1, in GNU base-256
    checksum = sum(raw[header:header + 148]) + 8 * 32 + sum(raw[header + 156:header + 512])
    raw[header + 148:header + 156] = b"%06o\0 " % checksum
    bundle = tmp_path / "sosreport-n1.tar"
    bundle.write_bytes(bytes(raw))
    code, out, err = run_cli("diagnose", "--sosreport", bundle, "--format", "json")
    assert code in (0, 1, 2) and len(err.splitlines()) <= 1, (code, err)
    if code == 2:
        assert ONE_ERROR_LINE.match(err)
    else:
        assert "negative size" in out


def test_a_fifo_named_like_a_rule_file_in_a_rules_dir_is_refused(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    os.mkfifo(rules / "x.yaml")
    code, out, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--rules-dir", rules)
    assert code == 2 and err.count("\n") == 1 and "x.yaml: not a regular file" in err
