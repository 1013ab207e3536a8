"""networkctl's observed link states, end to end: raw bundle files -> parser -> bundle reader ->
engine. systemd-networkd's own answer wins over what its .network files seem to say."""

import json
import shutil

import pytest
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.source import DirectorySource

from tests.helpers import REPO, run_cli

RAW = REPO / "tests" / "fixtures" / "raw"
CATCH_ALL = RAW / "hostnet" / "zz-default.network.flatcar-initrd"  # [Match] Name=* Type=!loopback, no Unmanaged=yes


def sosreport(tmp_path, networkctl=None):
    root = tmp_path / "sosreport-node1-2026-11-01-abcdefg"
    for raw, target in (("sysctl_-a", "sos_commands/kernel/sysctl_-a"), ("hostname", "sos_commands/host/hostname"),
                        ("ip_-d_address", "sos_commands/networking/ip_-d_address"),
                        ("ip_route_show_table_all", "sos_commands/networking/ip_route_show_table_all")):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RAW / "netns-lab" / raw, root / target)
    (root / "usr/lib/systemd/network").mkdir(parents=True)
    shutil.copy(CATCH_ALL, root / "usr/lib/systemd/network/zz-default.network")
    if networkctl:
        shutil.copy(RAW / "networkd" / f"networkctl_status_-a.{networkctl}",
                    root / "sos_commands/networking/networkctl_status_-a")
    return root


def networkd(dump):
    return next(m for m in dump["network_managers"] if m["name"] == "systemd-networkd")


def test_without_networkctl_the_files_are_read(tmp_path):
    item = networkd(read_bundle(DirectorySource(sosreport(tmp_path, None))))
    assert item["manages_workloads"] is True and "zz-default.network" in item["config"]


def test_networkctl_configured_is_observed_and_shows_networkd_runs(tmp_path):
    item = networkd(read_bundle(DirectorySource(sosreport(tmp_path, "configured"))))
    assert item["manages_workloads"] is True and item["claims"] == ["cali*"]
    assert item["config"].startswith("networkctl: cali1a2b3c4d5e6 is configured by /run/systemd/network/50-all.network")
    assert item["source"].startswith("sos_commands/networking/networkctl_status_-a:")
    assert item["active"] is True  # no unit list in this bundle: link states show networkd runs


def test_networkctl_unmanaged_overrides_what_the_files_seem_to_say(tmp_path):
    item = networkd(read_bundle(DirectorySource(sosreport(tmp_path, "unmanaged"))))
    assert item["manages_workloads"] is False and item["claims"] == []
    assert "every cali* link is unmanaged" in item["config"]


@pytest.mark.parametrize("networkctl, fires", [(None, True), ("configured", True), ("unmanaged", False)])
def test_the_rule_follows_networkds_own_answer(tmp_path, networkctl, fires):
    code, out, err = run_cli("diagnose", "--sosreport", sosreport(tmp_path, networkctl), "--format", "json")
    assert code in (0, 1), err
    causes = {c["id"]: c for c in json.loads(out)["causes"]}
    nm = causes.get("network-manager-interference")
    assert (nm is not None and any(e["rule"] == "networkd-claims-workloads" for e in nm["evidence"])) == fires
    if networkctl == "configured":
        assert any("networkctl: cali1a2b3c4d5e6 is configured" in e["text"] for e in nm["evidence"])
