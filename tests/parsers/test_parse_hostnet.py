"""NetworkManager / systemd-networkd configuration and state (facts_collectors/parsers/hostnet.py).

Samples are real files from tests/fixtures/raw/hostnet/ (see its README)."""

import shutil

from calirules.engine.combiners import build_facts
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.parsers import hostnet
from calirules.facts_collectors.source import DirectorySource
from rawfixtures import RAW, UNRELATED_TEXT, random_garbage

HOSTNET = RAW / "hostnet"
CALI, TUNL, VXLAN, WG = hostnet.CALICO_DEVICES


def text(name):
    return (HOSTNET / name).read_text(encoding="utf-8")


def nm(*names):
    return hostnet.networkmanager_claims([(f"etc/NetworkManager/conf.d/{n}", text(n)) for n in names])


def networkd(*names):
    return hostnet.networkd_claims([(f"etc/systemd/network/{n}", text(n)) for n in names])


# --- readers -------------------------------------------------------------------------------------

def test_systemctl_list_units_reads_states_and_the_failed_marker():
    units = hostnet.parse_systemctl_units(text("systemctl_list-units.insights-core-rhel7"), "u")
    assert units["NetworkManager.service"] == {"load": "loaded", "active": "active", "sub": "running", "source": "u:7"}
    assert units["NetworkManager-wait-online.service"]["active"] == "failed"
    assert len(units) == 9


def test_nmcli_general_status():
    assert hostnet.parse_nmcli_general_status(text("nmcli_general_status.python-nmcli-test"), "n") == {
        "running": True, "state": "connected", "source": "n:2"}
    # nmcli's message when the daemon is down (constructed: nmcli prints it on stderr, sos merges it)
    assert hostnet.parse_nmcli_general_status("Error: NetworkManager is not running.\n", "n")["running"] is False
    assert hostnet.parse_nmcli_general_status(UNRELATED_TEXT, "n") == {}


def test_ini_reader_keeps_operators_and_line_numbers():
    entries = hostnet.parse_ini(text("calico.conf.calico-docs"), "c")
    assert entries == [{"section": "keyfile", "key": "unmanaged-devices", "op": "=", "lineno": 2,
                        "value": "interface-name:cali*;interface-name:tunl*;interface-name:vxlan.calico;"
                                 "interface-name:vxlan-v6.calico;interface-name:wireguard.cali;interface-name:wg-v6.cali"}]
    assert hostnet.parse_ini("[keyfile]\nunmanaged-devices+=type:veth\n", "c")[0]["op"] == "+="
    assert isinstance(hostnet.parse_ini(random_garbage(3), "g"), list)
    assert isinstance(hostnet.networkmanager_claims([("g", random_garbage(4))]), dict)
    assert isinstance(hostnet.networkd_claims([("g.network", random_garbage(5)), ("h.network", None)]), dict)


# --- NetworkManager device specs (NetworkManager.conf(5) "Device List Format") -----------------------

def test_nm_device_specs():
    assert hostnet.nm_spec_list_matches("interface-name:cali*", CALI)
    assert hostnet.nm_spec_list_matches("interface-name:~cali*", CALI)
    assert not hostnet.nm_spec_list_matches("interface-name:=cali*", CALI)
    assert hostnet.nm_spec_list_matches("*,except:interface-name:eth0", CALI)
    assert hostnet.nm_spec_list_matches("except:interface-name:eth0", CALI)
    assert not hostnet.nm_spec_list_matches("interface-name:cali*,except:interface-name:cali0123456789a", CALI)
    assert hostnet.nm_spec_list_matches("type:veth", CALI) and not hostnet.nm_spec_list_matches("type:veth", TUNL)
    assert hostnet.nm_spec_list_matches("driver:veth", CALI)
    assert not hostnet.nm_spec_list_matches("mac:00:22:68:1c:59:b1;interface-name:eth2", CALI)
    assert not hostnet.nm_spec_list_matches("", CALI)
    assert hostnet.nm_spec_list_matches("interface-name:tunl*", TUNL)
    assert hostnet.nm_spec_list_matches("interface-name:vxlan.calico", VXLAN)


def test_calico_docs_snippet_leaves_every_calico_device_unmanaged():
    result = nm("calico.conf.calico-docs")
    assert result["claims"] == []
    assert result["source"] == "etc/NetworkManager/conf.d/calico.conf.calico-docs:2"
    assert result["config"].startswith("[keyfile] unmanaged-devices=interface-name:cali*")


def test_rke2_snippet_covers_cali_but_not_the_tunnels():
    assert nm("rke2-canal.conf.rke2-docs")["claims"] == ["tunl0", "vxlan.calico", "wireguard.cali"]


def test_fedora_default_config_claims_everything():
    result = hostnet.networkmanager_claims([("etc/NetworkManager/NetworkManager.conf", text("NetworkManager.conf.fedora-rpm"))])
    assert result["claims"] == ["cali*", "tunl0", "vxlan.calico", "wireguard.cali"]
    assert result["source"] == "etc/NetworkManager/NetworkManager.conf (no such setting)"


def test_later_files_override_and_append():
    files = [("usr/lib/NetworkManager/conf.d/00-a.conf", "[keyfile]\nunmanaged-devices=interface-name:cali*\n"),
             ("etc/NetworkManager/NetworkManager.conf", "[keyfile]\nunmanaged-devices=interface-name:eth9\n"),
             ("etc/NetworkManager/conf.d/10-b.conf", "[keyfile]\nunmanaged-devices+=interface-name:tunl0\n")]
    result = hostnet.networkmanager_claims(files)
    assert "cali*" in result["claims"] and "tunl0" not in result["claims"]
    device = [("etc/NetworkManager/conf.d/99-calico.conf", "[device-calico]\nmatch-device=interface-name:cali*\nmanaged=0\n")]
    assert "cali*" not in hostnet.networkmanager_claims(device)["claims"]


def test_networkmanager_read_order_and_shadowing():
    paths = ["etc/NetworkManager/conf.d/b.conf", "usr/lib/NetworkManager/conf.d/a.conf",
             "usr/lib/NetworkManager/conf.d/b.conf", "etc/NetworkManager/NetworkManager.conf",
             "run/NetworkManager/conf.d/c.conf"]
    assert hostnet.networkmanager_order(paths) == [
        "usr/lib/NetworkManager/conf.d/a.conf", "etc/NetworkManager/NetworkManager.conf",
        "etc/NetworkManager/conf.d/b.conf", "run/NetworkManager/conf.d/c.conf"]


# --- systemd-networkd ------------------------------------------------------------------------------

def test_flatcar_initrd_catch_all_claims_cali():
    result = networkd("zz-default.network.flatcar-initrd")
    assert "cali*" in result["claims"]
    assert result["config"] == "zz-default.network.flatcar-initrd: [Match] Name=* Type=!loopback without [Link] Unmanaged=yes"
    assert result["source"] == "etc/systemd/network/zz-default.network.flatcar-initrd:2"


def test_flatcar_current_default_excludes_veth_and_tunnels():
    assert networkd("zz-default.network.flatcar")["claims"] == []


def test_unmanaged_file_sorted_first_wins():
    result = networkd("calico.network.flatcar", "zz-default.network.flatcar-initrd")
    assert "cali*" not in result["claims"] and "tunl0" in result["claims"]
    assert "Unmanaged=yes" in result["config"]


def test_eth0_only_and_unknowable_matches_do_not_claim():
    assert networkd("20-wired.network.gist")["claims"] == []
    assert networkd("yy-vmware.network.flatcar")["claims"] == []
    assert networkd("20-calico-vxlan.network.flatcar")["claims"] == []


def test_networkd_name_lists():
    match = hostnet.networkd_file("[Match]\nName=en* cali*\n", "f")
    assert hostnet._networkd_matches(match, CALI)
    assert not hostnet._networkd_matches(hostnet.networkd_file("[Match]\nName=!cali*\n", "f"), CALI)
    assert not hostnet._networkd_matches(hostnet.networkd_file("[Match]\n", "f"), CALI)  # ignored by networkd
    assert not hostnet._networkd_matches(hostnet.networkd_file("[Match]\nName=cali*\nName=\nName=eth0\n", "f"), CALI)


def test_networkd_order_masks_and_shadows():
    paths = ["usr/lib/systemd/network/zz-default.network", "etc/systemd/network/zz-default.network",
             "run/systemd/network/10-netplan-eth0.network"]
    assert hostnet.networkd_order(paths) == ["run/systemd/network/10-netplan-eth0.network",
                                             "etc/systemd/network/zz-default.network"]
    masked = hostnet.networkd_claims([("etc/systemd/network/zz-default.network", "")])
    assert masked["claims"] == []


# --- bundle reader and engine fact -----------------------------------------------------------------------

def sosreport(tmp_path, files):
    root = tmp_path / "sosreport-node1"
    for target, name in files.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(HOSTNET / name, root / target)
    return root


def managers(root):
    dump = read_bundle(DirectorySource(root))
    return dump, {m["name"]: m for m in dump.get("network_managers") or ()}


def test_running_networkmanager_without_calico_exclusion(tmp_path):
    root = sosreport(tmp_path, {"sos_commands/systemd/systemctl_list-units": "systemctl_list-units.insights-core-rhel7",
                                "etc/NetworkManager/NetworkManager.conf": "NetworkManager.conf.fedora-rpm"})
    dump, found = managers(root)
    assert found["NetworkManager"]["active"] is True
    assert found["NetworkManager"]["active_source"] == "sos_commands/systemd/systemctl_list-units:7"
    assert found["NetworkManager"]["manages_workloads"] is True
    assert "systemd-networkd" not in found
    facts = [f for name, f in build_facts(dump) if name == "HostNetworkManager"]
    assert facts[0]["name"] == "NetworkManager" and facts[0]["manages_workloads"] is True


def test_calico_snippet_in_conf_d_and_nmcli_status(tmp_path):
    root = sosreport(tmp_path, {"sos_commands/networkmanager/nmcli_general_status": "nmcli_general_status.python-nmcli-test",
                                "etc/NetworkManager/NetworkManager.conf": "NetworkManager.conf.fedora-rpm",
                                "etc/NetworkManager/conf.d/calico.conf": "calico.conf.calico-docs"})
    _, found = managers(root)
    assert found["NetworkManager"]["active"] is True
    assert found["NetworkManager"]["manages_workloads"] is False
    assert found["NetworkManager"]["source"] == "etc/NetworkManager/conf.d/calico.conf:2"


def test_networkd_files_from_run_and_usr_lib(tmp_path):
    root = sosreport(tmp_path, {"usr/lib/systemd/network/zz-default.network": "zz-default.network.flatcar-initrd",
                                "run/systemd/network/20-wired.network": "20-wired.network.gist"})
    _, found = managers(root)
    assert found["systemd-networkd"]["manages_workloads"] is True
    assert found["systemd-networkd"]["active"] is None


def test_nothing_known_is_missing_and_unit_list_alone_is_empty(tmp_path):
    root = sosreport(tmp_path, {"sos_commands/kernel/uname_-a": "20-wired.network.gist"})
    dump, _ = managers(root)
    assert "network_managers" not in dump
    assert any(m["section"] == "network_managers" for m in dump["collection"]["missing"])
    (root / "sos_commands/systemd").mkdir(parents=True)
    (root / "sos_commands/systemd/systemctl_list-units").write_text("")
    dump, _ = managers(root)
    assert dump["network_managers"] == []


def test_truncated_files_lose_only_the_cut_line():
    units = text("systemctl_list-units.insights-core-rhel7")
    cut = units[:units.index("NetworkManager.service") + 30]
    parsed = hostnet.parse_systemctl_units(cut, "u")
    assert "NetworkManager.service" not in parsed and "network.service" in parsed
    conf = text("calico.conf.calico-docs")
    assert hostnet.parse_ini(conf[:40], "c") == []


def test_config_alone_is_weak_and_log_lines_make_it_strong(tmp_path):
    """From bundle files to the ranked cause: NetworkManager running with the stock config is
    below the found threshold; its journal line about a cali* device lifts it above."""
    from calirules.engine.rulebook import load_rulebook
    from calirules.engine.runner import diagnose

    from calirules.authoring.ruletests import base_dump

    def confidence(extra_files):
        root = sosreport(tmp_path / str(len(extra_files)),
                         {"sos_commands/systemd/systemctl_list-units": "systemctl_list-units.insights-core-rhel7",
                          "etc/NetworkManager/NetworkManager.conf": "NetworkManager.conf.fedora-rpm"})
        for relpath, content in extra_files.items():
            (root / relpath).parent.mkdir(parents=True, exist_ok=True)
            (root / relpath).write_text(content)
        collected = read_bundle(DirectorySource(root))
        dump = base_dump()
        dump["network_managers"] = collected["network_managers"]
        dump["log_events"] = collected.get("log_events") or []
        result = diagnose(dump, load_rulebook())
        return next((f.confidence for f in result.findings if f.cause.id == "network-manager-interference"), 0.0)

    config_only = confidence({})
    # journalctl short line, constructed; message format as quoted in causes.yaml / log_signatures.yaml
    with_log = confidence({"sos_commands/networkmanager/journalctl_--no-pager_--unit_NetworkManager":
                           "Nov 01 10:00:00 node1 NetworkManager[812]: <info>  [1793527200.1234] device "
                           "(cali1a2b3c4d5e6): state change: unmanaged -> unavailable (reason 'managed', "
                           "sys-iface-state: 'external')\n"})
    assert 0.3 <= config_only < 0.5 <= with_log


def test_host_services_become_components(tmp_path):
    root = sosreport(tmp_path, {"sos_commands/systemd/systemctl_list-units": "systemctl_list-units.insights-core-rhel7"})
    dump, _ = managers(root)
    assert not [c for c in dump.get("components") or () if c["name"] in ("firewalld", "ufw", "nm-cloud-setup")]
    # constructed line in the same column layout; the unit description is firewalld's own
    # ("firewalld - dynamic firewall daemon", firewalld/firewalld#541)
    listing = root / "sos_commands/systemd/systemctl_list-units"
    listing.write_text(listing.read_text() + "  firewalld.service" + " " * 58
                       + "loaded active running   firewalld - dynamic firewall daemon\n")
    dump, _ = managers(root)
    firewalld = next(c for c in dump["components"] if c["name"] == "firewalld")
    assert firewalld == {"name": "firewalld", "ready": True, "status": "active (running)",
                         "source": "sos_commands/systemd/systemctl_list-units:10"}
