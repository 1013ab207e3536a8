from calirules.facts_collectors.parsers.system import (
    parse_hostname,
    parse_os_release,
    parse_uname_a,
)
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    quoted,
    random_garbage,
    validate_facts,
)


def test_uname_a_from_the_lab_and_the_quoted_sample():
    assert parse_uname_a(lab("uname_-a"), "uname_-a") == {
        "kernel": "6.18.44-fc-v669", "hostname": "crp-node1", "arch": "x86_64",
        "sources": {"kernel": "uname_-a:1", "hostname": "uname_-a:1", "arch": "uname_-a:1"}}
    # `x86_64 x86_64 x86_64 GNU/Linux`: machine, processor, platform, OS; the version has 9 words.
    rhel = parse_uname_a(quoted("uname_-a.insights-core"), "uname")
    assert (rhel["kernel"], rhel["hostname"], rhel["arch"]) == ("3.10.0-229.el7.x86_64", "rhel7box", "x86_64")


def test_os_release_and_hostname():
    assert parse_os_release(lab("os-release"), "etc/os-release") == {
        "os": "Debian GNU/Linux 12 (bookworm)", "sources": {"os": "etc/os-release:1"}}
    assert parse_hostname(lab("hostname"), "hostname") == {
        "hostname": "crp-node1", "sources": {"hostname": "hostname:1"}}


def test_node_identity_fills_a_valid_node():
    node = {}
    for part in (parse_uname_a(lab("uname_-a"), "uname_-a"), parse_os_release(lab("os-release"), "os-release"),
                 parse_hostname(lab("hostname"), "hostname")):
        sources = {**node.get("sources", {}), **part.get("sources", {})}
        node.update(part)
        node["sources"] = sources
    assert set(node) == {"kernel", "hostname", "arch", "os", "sources"}
    assert node["sources"]["hostname"] == "hostname:1"
    validate_facts(node=node)


def test_cut_files():
    # The single uname line cut: no complete record, nothing claimed.
    assert parse_uname_a(cut_inside_line(lab("uname_-a"), 1, keep=30), "u") == {}
    # os-release cut on its third line: PRETTY_NAME (line 1) was whole.
    assert parse_os_release(cut_inside_line(lab("os-release"), 3, keep=9), "o")["os"] == "Debian GNU/Linux 12 (bookworm)"
    assert parse_hostname(cut_inside_line(lab("hostname"), 1, keep=6), "h") == {}


def test_garbage():
    for parse in (parse_uname_a, parse_os_release, parse_hostname):
        assert parse(random_garbage(70), "x") == {}
        assert parse(UNRELATED_TEXT, "x") == {}
        assert parse(lab("iptables-nft_-vnxL"), "x") == {}
    assert parse_os_release('PRETTY_NAME="unterminated\n', "x") == {}
