
from calirules.facts_collectors.parsers.ipset import calico_ipsets, parse_ipset_list
from rawfixtures import RAW, UNRELATED_TEXT, cut_inside_line, random_garbage

KUBE = RAW / "kube"
NOTHING = {"sets": [], "errors": []}


def raw(name):
    return (KUBE / name).read_text(encoding="utf-8")


def test_felix_documented_sample():
    """The sample in Felix's felix/ipsets/ipsets.go comment, as quoted in the project's
    reference document shared/reference/bundle-layouts.md section 2.9."""
    name = "ipset_list.felix-ipsets-go"
    assert parse_ipset_list(raw(name), name) == {"sets": [{
        "name": "test-1", "type": "hash:ip", "revision": 4,
        "header": "family inet hashsize 1024 maxelem 65536", "size_in_memory": 224,
        "references": 0, "members": ["10.0.0.1", "10.0.0.2"], "source": f"{name}:1",
    }], "errors": []}


def test_calico_set_with_entry_count():
    name = "ipset_list_cali40all-hosts-net.v7.11"
    parsed = parse_ipset_list(raw(name), name)
    assert parsed["sets"] == [{
        "name": "cali40all-hosts-net", "type": "hash:net", "revision": 7,
        "header": "family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x6d2a91f4",
        "size_in_memory": 696, "references": 2, "entries": 3,
        "members": ["198.18.0.12", "198.18.0.11", "198.18.0.13"], "source": f"{name}:1",
    }]
    assert parsed["errors"] == []
    assert calico_ipsets(parsed) == parsed["sets"]
    assert calico_ipsets(parsed["sets"]) == parsed["sets"]


def test_many_sets_separated_by_blank_lines():
    name = "ipset_list.calico-ipvs-v7.15"
    parsed = parse_ipset_list(raw(name), name)
    assert [(item["name"], item["type"], item["entries"], len(item["members"]), item["source"])
            for item in parsed["sets"]] == [
        ("cali40all-ipam-pools", "hash:net", 1, 1, f"{name}:1"),
        ("cali40masq-ipam-pools", "hash:net", 1, 1, f"{name}:11"),
        ("cali40all-vxlan-net", "hash:net", 2, 2, f"{name}:21"),
        ("cali40this-host", "hash:ip", 2, 2, f"{name}:32"),
        ("admin-trusted-nets", "hash:net", 3, 3, f"{name}:43"),
        ("KUBE-CLUSTER-IP", "hash:ip,port", 3, 3, f"{name}:55"),
        ("KUBE-LOOP-BACK", "hash:ip,port,ip", 1, 1, f"{name}:67"),
        ("KUBE-LOAD-BALANCER", "hash:ip,port", 0, 0, f"{name}:77"),
        ("KUBE-NODE-PORT-TCP", "bitmap:port", 1, 1, f"{name}:86"),
    ]
    assert parsed["errors"] == []
    sets = {item["name"]: item for item in parsed["sets"]}
    assert sets["cali40all-ipam-pools"]["members"] == ["198.19.0.0/17"]
    assert sets["KUBE-CLUSTER-IP"]["members"] == [
        "198.19.128.10,udp:53", "198.19.128.1,tcp:443", "198.19.128.10,tcp:53"]
    assert sets["KUBE-LOOP-BACK"]["members"] == ["198.18.0.11,tcp:6443,198.18.0.11"]
    assert sets["KUBE-NODE-PORT-TCP"]["header"] == "range 0-65535"
    assert sets["KUBE-NODE-PORT-TCP"]["members"] == ["30443"]
    assert [item["name"] for item in calico_ipsets(parsed)] == [
        "cali40all-ipam-pools", "cali40masq-ipam-pools", "cali40all-vxlan-net", "cali40this-host"]


def test_nomatch_member_in_a_listing():
    name = "ipset_list.calico-ipvs-v7.15"
    sets = {item["name"]: item for item in parse_ipset_list(raw(name), name)["sets"]}
    trusted = sets["admin-trusted-nets"]
    assert trusted["members"] == ["198.18.66.0/24", "198.18.64.0/18", "198.19.224.0/19"]
    assert trusted["nomatch"] == ["198.18.66.0/24"]
    assert all("nomatch" not in item for name, item in sets.items() if name != "admin-trusted-nets")


def test_member_options_are_dropped():
    name = "ipset_list_dns-allow.timeout-v7.17"
    (dns,) = parse_ipset_list(raw(name), name)["sets"]
    assert dns["type"] == "hash:ip,port"
    assert dns["header"] == ("family inet hashsize 1024 maxelem 65536 timeout 600 bucketsize 12 "
                             "initval 0x4e91c07b")
    assert dns["members"] == ["198.18.7.53,udp:53", "198.18.7.54,udp:53", "198.18.7.53,tcp:53"]
    assert "nomatch" not in dns


def test_nomatch_members_with_counters_and_comment():
    """Constructed in ipset(8)'s listing format: a Felix-named hash:net set created with
    `counters comment`, where one network is excluded (nomatch) and one member has a comment."""
    text = ("Name: cali40all-ipam-pools\nType: hash:net\nRevision: 7\n"
            "Header: family inet hashsize 1024 maxelem 1048576 counters comment bucketsize 12 "
            "initval 0x18e6c4d2\n"
            "Size in memory: 616\nReferences: 1\nNumber of entries: 2\nMembers:\n"
            "198.19.0.0/17 packets 0 bytes 0 comment \"ipam pool main\"\n"
            "198.19.96.0/20 nomatch packets 0 bytes 0\n")
    (pools,) = parse_ipset_list(text, "s")["sets"]
    assert pools["members"] == ["198.19.0.0/17", "198.19.96.0/20"]
    assert pools["nomatch"] == ["198.19.96.0/20"]
    assert [item["name"] for item in calico_ipsets({"sets": [pools, {"name": "KUBE-CLUSTER-IP"}]})] == [
        "cali40all-ipam-pools"]


def test_incompatibility_errors_are_evidence():
    name = "ipset_list.incompatible-v6.38"
    expected = {"sets": [], "errors": [
        {"message": "ipset v6.38: Kernel support protocol versions 6-7 while userspace supports "
                    "protocol versions 6-6", "source": f"{name}:1"},
        {"message": "Kernel and userspace incompatible: settype hash:net with revision 7 not "
                    "supported by userspace.", "source": f"{name}:2"},
    ]}
    assert parse_ipset_list(raw(name), name) == expected
    # Trailing whitespace (as a terminal copy can leave it) is not part of the message.
    assert parse_ipset_list(raw(name).replace("userspace.\n", "userspace. \n"), name) == expected
    name = "ipset_list.incompatible-v7.1"
    assert parse_ipset_list(raw(name), name) == {"sets": [], "errors": [
        {"message": "ipset v7.1: Kernel and userspace incompatible: settype hash:ip,port with "
                    "revision 6 not supported by userspace.", "source": f"{name}:1"}]}
    # Constructed: the same failure as a log line quotes it, saved on its own.
    stderr = ("ipset v7.17: Kernel and userspace incompatible: settype hash:net with revision 7 "
              "not supported by userspace.\n")
    assert parse_ipset_list(stderr, "ipset-list.txt") == {"sets": [], "errors": [
        {"message": stderr.strip(), "source": "ipset-list.txt:1"}]}


def test_errors_mixed_with_sets():
    """Constructed: an error line merged into a listing (calicoctl cluster diags writes the
    output even when the command failed), then Felix's documented sample."""
    text = raw("ipset_list.incompatible-v7.1") + raw("ipset_list.felix-ipsets-go")
    parsed = parse_ipset_list(text, "mixed")
    assert [item["name"] for item in parsed["sets"]] == ["test-1"]
    assert parsed["sets"][0]["source"] == "mixed:2"
    assert len(parsed["errors"]) == 1


def test_cut_drops_the_set_it_falls_in():
    name = "ipset_list.calico-ipvs-v7.15"
    text = raw(name)
    cut_in_members = cut_inside_line(text, 94, keep=3)  # inside the last set's only member
    names = [item["name"] for item in parse_ipset_list(cut_in_members, name)["sets"]]
    assert names[-1] == "KUBE-LOAD-BALANCER" and len(names) == 8
    cut_in_name = cut_inside_line(text, 86, keep=10)  # inside `Name: KUBE-NODE-PORT-TCP`
    assert len(parse_ipset_list(cut_in_name, name)["sets"]) == 8
    cut_in_nomatch = cut_inside_line(text, 51, keep=16)  # `198.18.66.0/24 n`
    names = [item["name"] for item in parse_ipset_list(cut_in_nomatch, name)["sets"]]
    assert names == ["cali40all-ipam-pools", "cali40masq-ipam-pools", "cali40all-vxlan-net",
                     "cali40this-host"]
    name = "ipset_list_cali40all-hosts-net.v7.11"
    assert parse_ipset_list(cut_inside_line(raw(name), 9, keep=7), name) == NOTHING


def test_garbage_gives_nothing():
    for odd in (random_garbage(80), UNRELATED_TEXT, "", None, 42, b"\xff\xfe\x00 Name: x",
                raw("kubectl_get_pods_-A.operator-v1.28"), raw("10-calico.conflist.hard-way-v3.27")):
        assert parse_ipset_list(odd, "x") == NOTHING
    assert calico_ipsets(None) == []
    assert calico_ipsets([None, "cali40x", {"name": 5}]) == []
