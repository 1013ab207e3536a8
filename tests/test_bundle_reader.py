"""The bundle reader on sosreport-shaped directories built from real command output."""

import json
import shutil

import pytest
from calirules.base.errors import InputError
from calirules.facts_collectors.archive import open_source
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.source import DirectorySource

from tests.helpers import NETNS_LAB_RAW as RAW
from tests.helpers import NETNS_LAB_SOS_NAMES as SOS_NAMES
from tests.helpers import REPO, run_cli



@pytest.fixture
def sosreport(tmp_path):
    root = tmp_path / "sosreport-node1-2026-11-01-abcdefg"
    for raw, target in SOS_NAMES.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RAW / raw, root / target)
    (root / "version.txt").write_text("sos report: 4.12.0\n")
    return root


def test_reads_sections_with_provenance(sosreport):
    dump = read_bundle(DirectorySource(sosreport))
    assert dump["sysctls"] and dump["interfaces"] and dump["routes"] and dump["ip_rules"]
    assert dump["sysctls"][0]["source"].startswith("sos_commands/kernel/sysctl_-a:")
    assert dump["routes"][0]["source"].startswith("sos_commands/networking/ip_route_show_table_all:")
    assert dump["netfilter"][0]["source"] == "sos_commands/firewall_tables/nft_-a_list_ruleset"


def test_sos_has_no_host_iptables_save_so_legacy_is_missing(sosreport):
    dump = read_bundle(DirectorySource(sosreport))
    assert [b["backend"] for b in dump["netfilter"]] == ["nft"]
    missing = {m["collect_with"] for m in dump["collection"]["missing"]}
    assert "iptables-legacy-save -c" in missing


def test_manifest_explains_a_missing_binary(sosreport):
    (sosreport / "sos_commands/kernel/sysctl_-a").unlink()
    (sosreport / "sos_reports").mkdir()
    (sosreport / "sos_reports/manifest.json").write_text(json.dumps({"components": {"report": {"plugins": {
        "kernel": {"commands": [{"exec": "sysctl -a", "filepath": "sos_commands/kernel/sysctl_-a",
                                 "return_code": 127, "truncated": False}]},
        "networking": {"commands": [{"exec": "ip -d address", "filepath": "sos_commands/networking/ip_-d_address",
                                     "return_code": 0, "truncated": True}]}}}}}))
    dump = read_bundle(DirectorySource(sosreport))
    reasons = {m["what"]: m["reason"] for m in dump["collection"]["missing"]}
    assert reasons["sos_commands/kernel/sysctl_-a"] == "command not found on the node"
    assert any("ip_-d_address: truncated by sos" in n for n in dump["collection"]["notes"])


def test_tailed_symlink_inside_the_bundle_is_followed(sosreport):
    target = sosreport / "sos_strings/networking/ip_-d_address.tailed"
    target.parent.mkdir(parents=True)
    shutil.move(sosreport / SOS_NAMES["ip_-d_address"], target)
    (sosreport / SOS_NAMES["ip_-d_address"]).symlink_to("../../sos_strings/networking/ip_-d_address.tailed")
    assert read_bundle(DirectorySource(sosreport))["interfaces"]


def test_symlink_leaving_the_bundle_is_not_followed(sosreport, tmp_path):
    outside = tmp_path / "secret"
    outside.write_text("net.ipv4.ip_forward = 0\n")
    (sosreport / SOS_NAMES["sysctl_-a"]).unlink()
    (sosreport / SOS_NAMES["sysctl_-a"]).symlink_to(outside)
    source = DirectorySource(sosreport)
    assert source.read_text(SOS_NAMES["sysctl_-a"]) is None
    assert "sysctls" not in read_bundle(source)


def test_collect_then_diagnose_equals_diagnose(sosreport, tmp_path):
    code, out, err = run_cli("diagnose", "--sosreport", sosreport, "--format", "json")
    assert code in (0, 1), err
    code2, _, err2 = run_cli("collect", "--sosreport", sosreport, "-o", tmp_path / "f.yaml")
    assert code2 == 0, err2
    _, out3, _ = run_cli("diagnose", "--facts", tmp_path / "f.yaml", "--format", "json")
    assert [c["id"] for c in json.loads(out)["causes"]] == [c["id"] for c in json.loads(out3)["causes"]]


def test_cluster_diags_are_refused_clearly(tmp_path):
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster/version.yaml").write_text("clientVersion: {}\n")
    code, _, err = run_cli("diagnose", "--bundle", tmp_path)
    assert code == 2 and "cluster diags" in err and "Traceback" not in err


def test_missing_bundle_path():
    with pytest.raises(InputError):
        open_source("/nonexistent/sosreport.tar.xz")


def test_conntrack_counters_from_proc_net_stat_without_conntrack_tools(sosreport):
    target = sosreport / "proc/net/stat/nf_conntrack"
    target.parent.mkdir(parents=True)
    shutil.copy(RAW / "proc/net/stat/nf_conntrack", target)
    dump = read_bundle(DirectorySource(sosreport))
    assert dump["conntrack"]["sources"]["stats"].startswith("proc/net/stat/nf_conntrack:")
    assert "insert_failed" in dump["conntrack"]["stats"]


def test_plain_sosreport_of_an_nft_host_with_calico_in_legacy(sosreport):
    """sos's `iptables -vnxL` on a host whose `iptables` is iptables-nft lists nft's tables (with
    INPUT/OUTPUT nft never created) and warns about legacy tables: that listing is the nft
    backend, the legacy backend stays unread, and the warning and legacy table names are kept."""
    from calirules.engine.combiners import build_facts
    guide = REPO / "tests" / "fixtures" / "raw" / "lab" / "guide"
    for name, target in (("nft_-a_list_ruleset", "sos_commands/firewall_tables/nft_-a_list_ruleset"),
                         ("iptables_-vnxL", "sos_commands/firewall_tables/iptables_-vnxL"),
                         ("ip_tables_names", "proc/net/ip_tables_names")):
        (sosreport / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(guide / name, sosreport / target)
    dump = read_bundle(DirectorySource(sosreport))
    assert [b["backend"] for b in dump["netfilter"]] == ["nft"]
    nft = dump["netfilter"][0]
    warning = next(i for i, w in enumerate(nft["warnings"]) if "iptables-legacy tables present" in w)
    path, line = nft["warning_sources"][warning].rsplit(":", 1)
    assert path == "sos_commands/firewall_tables/iptables_-vnxL"
    assert "iptables-legacy tables present" in (guide / "iptables_-vnxL").read_text().splitlines()[int(line) - 1]
    assert dump["legacy_tables"] == [{"table": "filter", "source": "proc/net/ip_tables_names:1"}]
    [backends] = [f for t, f in build_facts(dump) if t == "IptablesBackends"]
    assert (backends["legacy_read"], backends["legacy_warning"], backends["legacy_signs"]) == (False, True, 2)
    assert (backends["host_iptables"], backends["nft_calico_chains"], backends["nft_forward_drop"]) == \
        ("nf_tables", 0, True)
    assert backends["nft_docker_chains"] == 4 and backends["nft_foreign"]
