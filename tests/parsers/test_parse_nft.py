from calirules.facts_collectors.parsers.iptables import parse_iptables_save
from calirules.facts_collectors.parsers.nft import parse_nft_ruleset
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    line_of,
    quoted,
    random_garbage,
    validate_facts,
)

EMPTY = {"iptables_tables": [], "ip6tables_tables": [], "calico_tables": [], "calico6_tables": [],
         "other_tables": [], "tables": [], "warnings": [], "warning_sources": []}


def chains_of(tables, name):
    [table] = [table for table in tables if table["name"] == name]
    return {chain["name"]: chain for chain in table["chains"]}


def test_ruleset_sorts_tables_by_owner():
    result = parse_nft_ruleset(lab("nft_-a_list_ruleset"), "nft_-a_list_ruleset")
    assert [table["name"] for table in result["iptables_tables"]] == ["mangle", "nat", "filter"]
    assert [table["name"] for table in result["calico_tables"]] == ["calico"]
    assert result["other_tables"] == ["inet crp-extra"]
    assert result["ip6tables_tables"] == [] and result["calico6_tables"] == []
    assert result["warnings"] == ["Warning: table ip nat is managed by iptables-nft, do not touch!",
                                  "Warning: table ip filter is managed by iptables-nft, do not touch!"]


def test_every_table_is_listed_with_its_line_and_size():
    """The `nft_tables` dump section: Felix's nftables data plane shows as `table ip calico`
    (felix/dataplane/linux/int_dataplane.go, nftables.NewTable("calico", 4|6, ...), v3.29+)."""
    name = "nft_-a_list_ruleset"
    tables = parse_nft_ruleset(lab(name), name)["tables"]
    assert tables == [
        {"family": "ip", "name": "mangle", "chains": 7, "rules": 0, "source": f"{name}:1"},
        {"family": "ip", "name": "nat", "chains": 7, "rules": 7, "source": f"{name}:29"},
        {"family": "ip", "name": "filter", "chains": 6, "rules": 7, "source": f"{name}:63"},
        {"family": "ip", "name": "calico", "chains": 7, "rules": 10, "source": f"{name}:92"},
        {"family": "inet", "name": "crp-extra", "chains": 1, "rules": 1, "source": f"{name}:140"},
    ]
    validate_facts(nft_tables=tables)
    quoted_tables = parse_nft_ruleset(quoted("nft_list_ruleset.felix-cali-nftables-dump"), "dump")["tables"]
    assert quoted_tables == [{"family": "ip", "name": "calico", "chains": 1, "rules": 2, "source": "dump:1"}]
    # Cut inside the calico table's first set: the table was opened, no chain of it was read.
    cut = parse_nft_ruleset(cut_inside_line(lab(name), 96, keep=10), name)["tables"]
    assert [(t["name"], t["chains"]) for t in cut] == [("mangle", 7), ("nat", 7), ("filter", 6), ("calico", 0)]


def test_iptables_nft_tables_map_back_to_iptables_chains():
    result = parse_nft_ruleset(lab("nft_-a_list_ruleset"), "nft_-a_list_ruleset")
    filter_chains = chains_of(result["iptables_tables"], "filter")
    forward = filter_chains["FORWARD"]
    assert forward["policy"] == "DROP"
    assert forward["source"] == "nft_-a_list_ruleset:68"
    assert forward["rules"][2] == {"target": "ACCEPT", "goto": False,
                                   "match": "meta mark & 0x00010000 == 0x00010000", "comments": [],
                                   "packets": 6, "bytes": 504, "source": "nft_-a_list_ruleset:72"}
    assert filter_chains["INPUT"]["policy"] == "ACCEPT"
    assert filter_chains["KUBE-FORWARD"]["policy"] is None
    assert [(rule["target"], rule["goto"]) for rule in filter_chains["cali-FORWARD"]["rules"]] == [
        ("cali-from-wl-dispatch", True)]
    assert filter_chains["cali-from-wl-dispatch"]["rules"][0]["target"] == "MARK"
    nat = chains_of(result["iptables_tables"], "nat")
    assert nat["POSTROUTING"]["rules"][0]["packets"] == 45000004
    assert nat["cali-nat-outgoing"]["rules"][0]["target"] == "MASQUERADE"
    assert nat["cali-nat-outgoing"]["rules"][0]["match"] == (
        "ip saddr 198.18.128.0/26 ip daddr != 198.18.128.0/17 masquerade fully-random")
    # Same chains, targets and counters as iptables-nft-save shows for the same tables.
    saved = parse_iptables_save(lab("iptables-nft-save_-c"), "s")
    for table in saved["tables"]:
        from_nft = chains_of(result["iptables_tables"], table["name"])
        assert list(from_nft) == [chain["name"] for chain in table["chains"]]
        for chain in table["chains"]:
            assert [(r.get("target"), r["goto"], r.get("packets")) for r in from_nft[chain["name"]]["rules"]] == [
                (r.get("target"), r["goto"], r.get("packets")) for r in chain["rules"]]
    validate_facts(netfilter=[{"backend": "nft", "source": "nft_-a_list_ruleset",
                               "tables": result["iptables_tables"] + result["calico_tables"]}])


def test_calico_native_table_chains_rules_and_split_comments():
    result = parse_nft_ruleset(lab("nft_-a_list_ruleset"), "nft_-a_list_ruleset")
    calico = chains_of(result["calico_tables"], "calico")
    assert list(calico) == ["filter-cali-fw-cali1a2b3c4d5e6", "filter-cali-fw-cali9f8e7d6c5b4",
                            "filter-cali-FORWARD", "filter-cali-from-wl-dispatch", "filter-FORWARD",
                            "nat-POSTROUTING", "filter-cali-to-wl-dispatch"]  # sets, maps: not chains
    assert calico["filter-FORWARD"]["policy"] == "ACCEPT"
    assert calico["filter-FORWARD"]["rules"][1] == {
        "target": "ACCEPT", "goto": False, "match": "meta mark & 0x00010000 == 0x00010000",
        "comments": ["cali:yp7iNUYNEhDmKF6E", "Policy explicitly accepted packet."],
        "packets": 6, "bytes": 504, "source": "nft_-a_list_ruleset:127"}
    dispatch = calico["filter-cali-from-wl-dispatch"]["rules"]
    assert dispatch[0] == {"goto": False, "match": "iifname vmap @filter-cali-from-wl-dispatch",
                           "comments": [], "source": "nft_-a_list_ruleset:120"}
    assert dispatch[1]["comments"] == ["cali:zTj6P0TIgYvgz-md", "Unknown interface"]
    assert dispatch[1]["target"] == "DROP"
    assert calico["filter-cali-fw-cali1a2b3c4d5e6"]["rules"][0]["target"] == "MARK"
    assert "packets" not in calico["filter-cali-fw-cali1a2b3c4d5e6"]["rules"][0]  # no counter statement
    assert calico["nat-POSTROUTING"]["rules"][0]["comments"] == ["cali:flqWnvo8yq4ULQLa"]
    assert not [rule for chain in calico.values() for rule in chain["rules"] if "handle" in rule["match"]]


def test_verdicts_inside_anonymous_sets_and_maps_are_not_the_rule_target():
    result = parse_nft_ruleset(lab("nft_-a_list_ruleset"), "nft_-a_list_ruleset")
    to_workload = chains_of(result["calico_tables"], "calico")["filter-cali-to-wl-dispatch"]["rules"]
    vmap, unknown = to_workload
    assert "target" not in vmap  # the `accept`s belong to the map entries
    assert vmap["match"] == 'oifname vmap { "cali9f8e7d6c5b4" : accept, "cali1a2b3c4d5e6" : accept }'
    assert vmap["comments"] == ["cali:Yk3rW8oPz5LmCq1d"]
    assert (unknown["target"], unknown["match"], unknown["packets"]) == (
        "DROP", "ip daddr { 198.18.128.1, 198.18.128.2 }", 0)
    assert unknown["source"] == "nft_-a_list_ruleset:137"


def test_quoted_felix_dump_multi_line_set_before_the_chain():
    result = parse_nft_ruleset(quoted("nft_list_ruleset.felix-cali-nftables-dump"), "dump")
    calico = chains_of(result["calico_tables"], "calico")
    assert list(calico) == ["filter-FORWARD"]
    assert [rule["target"] for rule in calico["filter-FORWARD"]["rules"]] == ["filter-cali-FORWARD", "ACCEPT"]
    assert calico["filter-FORWARD"]["rules"][0]["source"] == "dump:14"


def test_cut_inside_a_set_or_a_rule_keeps_what_came_before():
    text = lab("nft_-a_list_ruleset")
    full = parse_nft_ruleset(text, "n")
    # Cut inside the multi-line elements of cali40this-host: all iptables-nft tables are whole,
    # the calico table is open but has no chain yet.
    in_set = parse_nft_ruleset(cut_inside_line(text, 96, keep=10), "n")
    assert in_set["iptables_tables"] == full["iptables_tables"]
    assert [table["chains"] for table in in_set["calico_tables"]] == [[]]
    assert in_set["other_tables"] == []
    # Cut inside the second rule of filter-FORWARD: the first rule stays, the cut one is gone.
    in_rule = parse_nft_ruleset(cut_inside_line(text, 127, keep=30), "n")
    forward = chains_of(in_rule["calico_tables"], "calico")["filter-FORWARD"]
    assert [line_of(rule["source"]) for rule in forward["rules"]] == [126]


def test_garbage_gives_empty_results():
    assert parse_nft_ruleset(random_garbage(50), "x") == EMPTY
    assert parse_nft_ruleset(UNRELATED_TEXT, "x") == EMPTY
    assert parse_nft_ruleset(lab("iptables-legacy-save_-c"), "x") == EMPTY
    # Stray closing braces and a rule outside any chain do not break the parse.
    odd = parse_nft_ruleset("}\n}\ncounter accept\ntable ip nat {\n\tchain X {\n\t\taccept\n\t}\n}\n", "x")
    assert chains_of(odd["iptables_tables"], "nat")["X"]["rules"][0]["target"] == "ACCEPT"
