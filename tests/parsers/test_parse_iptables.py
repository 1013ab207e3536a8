from calirules.facts_collectors.parsers.iptables import (
    parse_iptables_list,
    parse_iptables_save,
)
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    line_of,
    quoted,
    random_garbage,
    validate_facts,
)

LEGACY_WARNING = "Warning: iptables-legacy tables present, use iptables-legacy-save to see them"


def chains_of(result, table):
    [found] = [t for t in result["tables"] if t["name"] == table]
    return {chain["name"]: chain for chain in found["chains"]}


def all_rules(result):
    return [rule for table in result["tables"] for chain in table["chains"] for rule in chain["rules"]]


def test_legacy_save_with_counters():
    result = parse_iptables_save(lab("iptables-legacy-save_-c"), "iptables-legacy-save_-c")
    assert [table["name"] for table in result["tables"]] == ["filter", "nat", "mangle", "raw"]
    assert result["warnings"] == []
    filter_chains = chains_of(result, "filter")
    assert len(filter_chains) == 12
    forward = filter_chains["FORWARD"]
    assert (forward["policy"], forward["packets"], forward["bytes"], forward["source"]) == (
        "DROP", 12, 1008, "iptables-legacy-save_-c:4")
    assert filter_chains["cali-FORWARD"]["policy"] is None
    assert forward["rules"][1] == {
        "target": "ACCEPT", "goto": False,
        "match": '-m comment --comment "cali:S93hcgKJrXEqnTfs" -m comment --comment '
                 '"Policy explicitly accepted packet." -m mark --mark 0x10000/0x10000',
        "comments": ["cali:S93hcgKJrXEqnTfs", "Policy explicitly accepted packet."],
        "packets": 6, "bytes": 504, "source": "iptables-legacy-save_-c:17"}
    dispatch = filter_chains["cali-from-wl-dispatch"]["rules"]
    assert [(rule["target"], rule["goto"]) for rule in dispatch] == [
        ("cali-fw-cali1a2b3c4d5e6", True), ("cali-fw-cali9f8e7d6c5b4", True), ("DROP", False)]
    assert dispatch[0]["match"] == '-i cali1a2b3c4d5e6 -m comment --comment "cali:1f4Y0xMwFmPbj3Qq"'
    # Target options stay in the match: the mark the rule sets is still visible.
    mark = filter_chains["cali-fw-cali1a2b3c4d5e6"]["rules"][0]
    assert mark["target"] == "MARK" and mark["match"].endswith("--set-xmark 0x10000/0x10000")
    masquerade = chains_of(result, "nat")["cali-nat-outgoing"]["rules"][0]
    assert masquerade["match"] == ('-s 198.18.128.0/26 ! -d 198.18.128.0/17 -m comment --comment '
                                   '"cali:flqWnvo8yq4ULQLa" --random-fully')
    assert len(all_rules(result)) == 17 + 4 + 2 + 3
    validate_facts(netfilter=[{"backend": "legacy", "source": "iptables-legacy-save_-c", **result}])


def test_nft_save_carries_the_legacy_warning_and_big_counters():
    result = parse_iptables_save(lab("iptables-nft-save_-c"), "iptables-nft-save_-c")
    assert result["warnings"] == [LEGACY_WARNING]
    assert [table["name"] for table in result["tables"]] == ["mangle", "filter", "nat"]
    assert set(chains_of(result, "mangle")) >= {"KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"}
    postrouting = chains_of(result, "nat")["POSTROUTING"]
    assert postrouting["rules"][0]["packets"] == 45000004
    assert postrouting["rules"][0]["bytes"] == 60000000292
    assert postrouting["rules"][0]["comments"] == ["kubernetes postrouting rules"]
    assert chains_of(result, "filter")["FORWARD"]["policy"] == "DROP"
    assert chains_of(result, "filter")["FORWARD"]["source"] == "iptables-nft-save_-c:16"
    cali_forward = chains_of(result, "filter")["cali-FORWARD"]["rules"]
    assert [(rule["target"], rule["goto"]) for rule in cali_forward] == [("cali-from-wl-dispatch", True)]
    validate_facts(netfilter=[{"backend": "nft", "source": "iptables-nft-save_-c", **result}])


def test_save_without_counters_has_no_rule_counters():
    result = parse_iptables_save(lab("iptables-nft-save"), "iptables-nft-save")
    rules = all_rules(result)
    assert len(rules) == 14
    assert not [rule for rule in rules if "packets" in rule]
    assert chains_of(result, "filter")["INPUT"]["packets"] == 2500007  # chain lines keep theirs
    assert rules[0]["source"] == "iptables-nft-save:21"


def test_quoted_felix_dump():
    result = parse_iptables_save(quoted("iptables-save.felix-cali-iptables-dump"), "dump")
    chains = chains_of(result, "filter")
    assert list(chains) == ["INPUT", "FORWARD", "OUTPUT", "cali-FORWARD", "cali-INPUT",
                            "cali-from-wl-dispatch", "cali-to-wl-dispatch"]
    assert chains["cali-INPUT"]["rules"][0]["goto"] is True
    assert chains["cali-INPUT"]["rules"][0]["target"] == "cali-wl-to-host"
    assert "packets" not in chains["INPUT"]["rules"][0]


def test_save_cut_mid_rule_keeps_the_rules_before():
    text = lab("iptables-legacy-save_-c")
    full = parse_iptables_save(text, "s")
    cut = parse_iptables_save(cut_inside_line(text, 24, keep=30), "s")  # inside a cali-fw-... rule
    assert [table["name"] for table in cut["tables"]] == ["filter"]
    assert all_rules(cut) == [rule for rule in all_rules(full) if line_of(rule["source"]) < 24]
    assert len(all_rules(cut)) == 9  # lines 15-23
    assert chains_of(cut, "filter")["cali-fw-cali1a2b3c4d5e6"]["rules"] == []


def test_save_garbage():
    for text in (random_garbage(40), UNRELATED_TEXT, lab("ip_-d_address"), lab("iptables-nft_-vnxL")[80:]):
        assert parse_iptables_save(text, "x") == {"tables": [], "warnings": [], "warning_sources": []}
    # nft's own warning lines read as warnings, but nothing in an nft ruleset is a table here.
    assert parse_iptables_save(lab("nft_-a_list_ruleset"), "x")["tables"] == []
    # A rule line whose quote never closes is skipped, the table survives.
    damaged = parse_iptables_save(
        '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m comment --comment "cali:x -j DROP\nCOMMIT\n', "x")
    assert chains_of(damaged, "filter")["INPUT"]["rules"] == []


def test_vnxl_listing_maps_columns_and_exact_counters():
    result = parse_iptables_list(lab("iptables-legacy_-vnxL"), "iptables-legacy_-vnxL")
    chains = chains_of(result, "filter")
    assert (chains["FORWARD"]["policy"], chains["FORWARD"]["packets"], chains["FORWARD"]["bytes"]) == ("DROP", 12, 1008)
    assert chains["cali-FORWARD"]["policy"] is None and "packets" not in chains["cali-FORWARD"]
    assert chains["FORWARD"]["rules"][1] == {
        "target": "ACCEPT", "goto": False,
        "match": "0 -- * * 0.0.0.0/0 0.0.0.0/0 /* cali:S93hcgKJrXEqnTfs */ "
                 "/* Policy explicitly accepted packet. */ mark match 0x10000/0x10000",
        "comments": ["cali:S93hcgKJrXEqnTfs", "Policy explicitly accepted packet."],
        "packets": 6, "bytes": 504, "source": "iptables-legacy_-vnxL:8"}
    dispatch = chains["cali-from-wl-dispatch"]["rules"]
    assert [(rule["target"], rule["goto"], rule["packets"]) for rule in dispatch] == [
        ("cali-fw-cali1a2b3c4d5e6", True, 3), ("cali-fw-cali9f8e7d6c5b4", True, 3), ("DROP", False, 0)]
    assert "[goto]" not in dispatch[0]["match"]
    assert dispatch[0]["match"].startswith("0 -- cali1a2b3c4d5e6 * 0.0.0.0/0")
    # The same rules as iptables-save shows, chain by chain.
    saved = chains_of(parse_iptables_save(lab("iptables-legacy-save_-c"), "s"), "filter")
    for name, chain in chains.items():
        assert [rule["comments"] for rule in chain["rules"]] == [rule["comments"] for rule in saved[name]["rules"]]
        assert [rule.get("target") for rule in chain["rules"]] == [rule.get("target") for rule in saved[name]["rules"]]
    validate_facts(netfilter=[{"backend": "legacy", "source": "iptables-legacy_-vnxL", **result}])


def test_nvl_listing_expands_abbreviated_counters():
    result = parse_iptables_list(lab("iptables-nft_-t_nat_-nvL"), "iptables-nft_-t_nat_-nvL", table="nat")
    assert result["warnings"] == ["Warning: iptables-legacy tables present, use iptables-legacy to see them"]
    chains = chains_of(result, "nat")
    assert (chains["PREROUTING"]["packets"], chains["PREROUTING"]["bytes"]) == (123000, 7654000)
    postrouting = chains["POSTROUTING"]
    assert (postrouting["packets"], postrouting["bytes"]) == (45_000_000, 60_000_000_000)
    assert [(rule["target"], rule["packets"], rule["bytes"]) for rule in postrouting["rules"]] == [
        ("KUBE-POSTROUTING", 45_000_000, 60_000_000_000), ("cali-nat-outgoing", 1504, 98292)]
    assert postrouting["rules"][1]["source"] == "iptables-nft_-t_nat_-nvL:15"
    masquerade = chains["cali-nat-outgoing"]["rules"][0]
    assert masquerade["match"] == "0 -- * * 198.18.128.0/26 !198.18.128.0/17 /* cali:flqWnvo8yq4ULQLa */ random-fully"
    quoted_filter = chains_of(parse_iptables_list(quoted("iptables_-nvL.jc-centos-7.7"), "nv"), "filter")
    assert [rule["packets"] for rule in quoted_filter["INPUT"]["rules"]] == [4175, 0, 2383]
    assert [rule["bytes"] for rule in quoted_filter["INPUT"]["rules"]] == [1130000, 0, 204000]
    assert quoted_filter["INPUT"]["rules"][2]["target"] == "INPUT_direct"


def test_listing_cut_mid_rule_keeps_the_rules_before():
    text = lab("iptables-legacy_-vnxL")
    full = parse_iptables_list(text, "l")
    cut = parse_iptables_list(cut_inside_line(text, 25, keep=20), "l")
    assert all_rules(cut) == [rule for rule in all_rules(full) if line_of(rule["source"]) < 25]
    assert [rule["target"] for rule in chains_of(cut, "filter")["cali-from-wl-dispatch"]["rules"]] == [
        "cali-fw-cali1a2b3c4d5e6"]


def test_listing_garbage():
    for text in (random_garbage(41), UNRELATED_TEXT, lab("iptables-legacy-save_-c"), lab("sysctl_-a")):
        assert parse_iptables_list(text, "x") == {"tables": [], "warnings": [], "warning_sources": []}
    # Rule-like lines under a chain header whose columns do not fit are skipped.
    bogus = parse_iptables_list("Chain INPUT (policy ACCEPT)\ntarget prot opt source destination\nfoo bar baz\n", "x")
    assert chains_of(bogus, "filter")["INPUT"]["rules"] == []


# --- /proc/net/ip_tables_names -------------------------------------------------------------------

def test_ip_tables_names_lists_the_legacy_tables():
    from calirules.facts_collectors.parsers.iptables import parse_ip_tables_names
    from rawfixtures import RAW
    name = "proc_net_ip_tables_names.legacy-filter-nat"
    text = (RAW / "lab" / name).read_text()
    assert parse_ip_tables_names(text, name) == [{"table": "nat", "source": f"{name}:1"},
                                                 {"table": "filter", "source": f"{name}:2"}]
    assert parse_ip_tables_names("", name) == []  # ip_tables loaded, no table created yet


def test_ip_tables_names_cut_and_garbage():
    from calirules.facts_collectors.parsers.iptables import parse_ip_tables_names
    from rawfixtures import RAW
    text = (RAW / "lab" / "proc_net_ip_tables_names.legacy-filter-nat").read_text()
    assert [t["table"] for t in parse_ip_tables_names(text[:-3], "x")] == ["nat"]  # `filt` was cut
    for odd in (random_garbage(71), UNRELATED_TEXT, lab("iptables-legacy-save_-c"), None, 42, b"\xff\xfe"):
        assert parse_ip_tables_names(odd, "x") == []


def test_warnings_carry_their_line():
    result = parse_iptables_list(lab("iptables-nft_-vnxL"), "iptables-nft_-vnxL")
    assert result["warnings"] and len(result["warning_sources"]) == len(result["warnings"])
    line = int(result["warning_sources"][0].rsplit(":", 1)[1])
    assert "iptables-legacy tables present" in lab("iptables-nft_-vnxL").splitlines()[line - 1]
