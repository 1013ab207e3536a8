from calirules.facts_collectors.parsers.conntrack import (
    parse_conntrack_S,
    parse_nf_conntrack_count,
    parse_nf_conntrack_max,
    parse_proc_net_stat_nf_conntrack,
)
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    random_garbage,
    validate_facts,
)


def test_conntrack_S_sums_the_cpus():
    result = parse_conntrack_S(lab("conntrack_-S"), "conntrack_-S")
    assert result["source"] == "conntrack_-S:1"
    assert result["stats"]["invalid"] == 8  # cpu=0 0 + cpu=1 8
    assert set(result["stats"]) == {"found", "invalid", "insert", "insert_failed", "drop", "early_drop",
                                    "error", "search_restart", "clash_resolve", "chaintoolong"}
    assert result["stats"]["insert_failed"] == 0
    validate_facts(conntrack=result)


def test_proc_net_stat_maps_columns_by_header_and_reads_hex():
    result = parse_proc_net_stat_nf_conntrack(lab("proc/net/stat/nf_conntrack"), "proc/net/stat/nf_conntrack")
    assert result["stats"]["invalid"] == 8
    assert result["stats"]["entries"] == 4  # the global count, the same on every row: not doubled
    assert len(result["stats"]) == 17 and "chainlength" in result["stats"]
    assert result["source"] == "proc/net/stat/nf_conntrack:2"
    validate_facts(conntrack=result)


def test_count_and_max_files():
    count = parse_nf_conntrack_count(lab("proc/sys/net/netfilter/nf_conntrack_count"),
                                     "proc/sys/net/netfilter/nf_conntrack_count")
    assert count == {"count": 4, "source": "proc/sys/net/netfilter/nf_conntrack_count:1",
                     "sources": {"count": "proc/sys/net/netfilter/nf_conntrack_count:1"}}
    maximum = parse_nf_conntrack_max(lab("proc/sys/net/netfilter/nf_conntrack_max"), "max")
    assert maximum["max"] == 262144
    validate_facts(conntrack={**count, **maximum, "sources": {**count["sources"], **maximum["sources"]}})


def test_cut_second_cpu_row_keeps_the_first():
    cut = parse_conntrack_S(cut_inside_line(lab("conntrack_-S"), 2, keep=40), "c")
    assert cut["stats"]["invalid"] == 0  # only cpu=0, whose counter is 0
    assert len(cut["stats"]) == 10
    rows = parse_proc_net_stat_nf_conntrack(cut_inside_line(lab("proc/net/stat/nf_conntrack"), 3, keep=60), "p")
    assert rows["stats"]["invalid"] == 0 and rows["stats"]["entries"] == 4


def test_a_one_value_file_without_its_newline_is_taken_whole():
    # Unlike multi-record files there is nothing before a cut to fall back to, and such files
    # are far more often written without a newline (echo -n, pasted) than cut mid-number.
    assert parse_nf_conntrack_max("262144", "m") == {"max": 262144, "source": "m:1", "sources": {"max": "m:1"}}


def test_garbage():
    for parse in (parse_conntrack_S, parse_proc_net_stat_nf_conntrack, parse_nf_conntrack_count,
                  parse_nf_conntrack_max):
        assert parse(random_garbage(80), "x") == {}
        assert parse(UNRELATED_TEXT, "x") == {}
        assert parse(lab("sysctl_-a"), "x") == {}
    assert parse_conntrack_S("cpu=0 found=x\n", "x") == {}
    assert parse_nf_conntrack_count("-1\n", "x") == {}
