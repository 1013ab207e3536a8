"""Log readers and the log signature table (facts_collectors/parsers/logs.py).

Real samples come from tests/fixtures/raw/logs/ (see its README). Lines marked "constructed"
below are built here in a format confirmed by a named source, because no reference quotes such
a line whole (journal lines, calico-node container lines, svlogd-prefixed files, CNI log lines).
"""

import json
import random
from importlib import resources

import jsonschema_rs
import pytest
from calirules.facts_collectors.parsers import logs
from rawfixtures import RAW, UNRELATED_TEXT, cut_inside_line, random_garbage

LOGS = RAW / "logs"
CRI_TIME = "2016-10-20T18:39:20.57606443Z"


def fixture(name):
    return (LOGS / name).read_text(encoding="utf-8")


def fixture_line(name, lineno):
    return fixture(name).split("\n")[lineno - 1]


def _item_validator():
    schema = json.loads(resources.files("calirules.facts_collectors")
                        .joinpath("schema/facts-v1.schema.json").read_text(encoding="utf-8"))
    item = dict(schema["properties"]["log_events"]["items"])
    item["definitions"] = schema["definitions"]
    if "$schema" in schema:
        item["$schema"] = schema["$schema"]
    return jsonschema_rs.validator_for(item)


ITEM_SCHEMA = _item_validator()


def valid(items):
    """Every item validates against the facts schema's log_events item; one per (component, event)."""
    for item in items:
        ITEM_SCHEMA.validate(item)
    keys = [(item["component"], item["event"]) for item in items]
    assert len(keys) == len(set(keys))
    return items


def by_event(items):
    return {item["event"]: item for item in valid(items)}


def classify_one(message, hint=None, time=None):
    return valid(logs.classify([(1, time, hint, message)], "t", None))


# --- CRI ---------------------------------------------------------------------------------------

def test_cri_kubelet_sample_keeps_full_lines_and_drops_the_unfinished_partial():
    records = logs.parse_cri_log(fixture("cri.kubelet-logs-test"), "0.log")
    # Lines 2-3 are P pieces that never reach an F line: a cut record, dropped.
    assert records == [(1, CRI_TIME, "stdout", "cri stdout test log"),
                       (4, CRI_TIME, "stdout", "docker stdout test log")]


def test_cri_partial_pieces_join_per_stream_at_the_first_line():
    text = (f"{CRI_TIME} stdout P first \n"
            f"2016-10-20T18:39:21Z stderr F an error\n"
            f"2016-10-20T18:39:22Z stdout P:TAG1:TAG2 second \n"
            f"2016-10-20T18:39:23Z stdout F third\n"
            f"2016-10-20T18:39:24+02:00 stdout F \n")
    assert logs.parse_cri_log(text, "0.log") == [
        (1, CRI_TIME, "stdout", "first second third"),
        (2, "2016-10-20T18:39:21Z", "stderr", "an error"),
        (5, "2016-10-20T18:39:24+02:00", "stdout", ""),
    ]


def test_cri_docker_json_lines():
    text = ('{"log":"felix says hi\\n","stream":"stderr","time":"2024-01-01T00:00:00.1Z"}\n'
            '{"log":"no newline","stream":"stdout","time":"2024-01-01T00:00:01Z"}\n'
            '{"stream":"stdout","time":"2024-01-01T00:00:02Z"}\n'
            '{"log": "broken json\n'
            '["a", "list"]\n')
    assert logs.parse_cri_log(text, "x") == [
        (1, "2024-01-01T00:00:00.1Z", "stderr", "felix says hi"),
        (2, "2024-01-01T00:00:01Z", "stdout", "no newline"),
    ]


def test_cri_truncated_line_is_dropped():
    text = fixture("cri.kubelet-logs-test")
    assert [r[0] for r in logs.parse_cri_log(cut_inside_line(text, 4, keep=20), "x")] == [1]
    assert logs.parse_cri_log(cut_inside_line(text, 1, keep=40), "x") == []


def test_cri_skips_other_formats_and_garbage():
    assert logs.parse_cri_log(random_garbage(11), "x") == []
    assert logs.parse_cri_log(UNRELATED_TEXT, "x") == []
    assert logs.parse_cri_log(fixture("dmesg"), "x") == []
    assert logs.parse_cri_log("2016-10-20T18:39:20Z stdin F x\n2016-10-20 stdout F x\n", "x") == []
    assert logs.parse_cri_log(None, "x") == []


# --- Calico logrus lines -----------------------------------------------------------------------

def test_calico_line_tigera_docs_samples():
    felix, older = fixture("calico.tigera-docs").splitlines()
    assert logs.parse_calico_line(felix) == {
        "time": "2025-10-15 16:31:48.522", "level": "INFO", "pid": 81, "component": "felix",
        "file": "bpf_ep_mgr.go", "line": 595, "msg": "tcx is not supported. Falling back to tc"}
    assert logs.parse_calico_line(older) == {
        "time": "2020-08-26 12:26:29.025", "level": "INFO", "pid": 7, "component": None,
        "file": "daemon.go", "line": 182, "msg": "…"}


def test_calico_line_behind_svlogd_timestamps():
    felix = fixture_line("calico.tigera-docs", 1)
    expected = logs.parse_calico_line(felix)
    # constructed: svlogd -ttt / -tt / -t prefixes (runit svlogd(8)) in front of the docs line
    for prefix in ("2025-10-15T16:31:48.52291 ", "2025-10-15_16:31:48.52291 ", "@400000006709f8e2201d6a34 "):
        assert logs.parse_calico_line(prefix + felix) == expected


def test_calico_line_rejects_what_is_not_one():
    readiness = fixture_line("kubelet-events.quoted", 2)  # a Calico line behind "Readiness probe failed: "
    for text in (readiness, fixture_line("calico-messages.quoted", 6), "2025-10-15 16:31:48.522 [INFO][81] fel",
                 "2025-10-15 16:31:48.522 [info][81] felix/x.go 1: lower-case level", "", None, 42,
                 "2025-10-15T16:31:48.52291 not a calico line"):
        assert logs.parse_calico_line(text) is None


# --- journal (constructed: no reference quotes journalctl output and this machine has no journal) ---

JOURNAL = (
    "-- Logs begin at Thu 2026-11-26 08:00:00 UTC, end at Fri 2026-11-27 09:10:00 UTC. --\n"
    "Nov 27 09:00:00 node1 kubelet[1234]: I1127 09:00:00.000000    1234 kubelet.go:2000] SyncLoop\n"
    "Nov  7 09:00:01 node1 kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n"
    "Nov 27 09:00:02.123456 node1 systemd[1]: Started firewalld - dynamic firewall daemon.\n"
    "2026-11-27T09:00:03+0100 node1 NetworkManager[812]: <info>  [1795766403.0001] device "
    "(cali0123456789a): state change: unmanaged -> unavailable (reason 'managed', sys-iface-state: 'external')\n"
    "    an indented continuation line\n"
    "-- Boot 0123456789abcdef0123456789abcdef --\n"
    "2026-11-27T09:00:04.5+01:00 node1 k3s[99]: calico/node is not ready: felix is not ready: "
    "readiness probe reporting 503\n"
)


def test_journal_short_precise_and_iso_forms():
    assert logs.parse_journal(JOURNAL, "journalctl_--no-pager") == [
        (2, "Nov 27 09:00:00", "kubelet", "I1127 09:00:00.000000    1234 kubelet.go:2000] SyncLoop"),
        (3, "Nov  7 09:00:01", "kernel", "nf_conntrack: nf_conntrack: table full, dropping packet"),
        (4, "Nov 27 09:00:02.123456", "systemd", "Started firewalld - dynamic firewall daemon."),
        (5, "2026-11-27T09:00:03+0100", "NetworkManager",
         "<info>  [1795766403.0001] device (cali0123456789a): state change: unmanaged -> unavailable "
         "(reason 'managed', sys-iface-state: 'external')"),
        (8, "2026-11-27T09:00:04.5+01:00", "k3s",
         "calico/node is not ready: felix is not ready: readiness probe reporting 503"),
    ]


def test_journal_truncated_and_garbage():
    cut = logs.parse_journal(cut_inside_line(JOURNAL, 8, keep=40), "j")
    assert [record[0] for record in cut] == [2, 3, 4, 5]
    assert logs.parse_journal(random_garbage(12), "j") == []
    assert logs.parse_journal(UNRELATED_TEXT, "j") == []
    assert logs.parse_journal(fixture("dmesg"), "j") == []


# --- dmesg ------------------------------------------------------------------------------------

def test_dmesg_from_this_machine_both_time_formats():
    plain = logs.parse_dmesg(fixture("dmesg"), "dmesg")
    human = logs.parse_dmesg(fixture("dmesg_-T"), "dmesg_-T")
    # 97 lines, one of them (56) the indented second line of a two-line message: no timestamp.
    assert len(plain) == len(human) == 96
    assert 56 not in [record[0] for record in plain]
    assert plain[0] == (1, "0.315363", "NET: Registered PF_INET protocol family")
    assert human[0] == (1, "Fri Nov 27 09:09:09 2026", "NET: Registered PF_INET protocol family")
    assert plain[-1][1] == "1782.885586" and plain[-1][2].startswith("ICMPv6: process `python3'")
    assert [record[2] for record in plain] == [record[2] for record in human]


def test_dmesg_variants_truncation_and_garbage():
    text = "<4>[    5.000001] x: raw level prefix\n[Sat Nov  7 09:00:00 2026] padded day\nno timestamp\n"
    assert logs.parse_dmesg(text, "d") == [(1, "5.000001", "x: raw level prefix"),
                                          (2, "Sat Nov  7 09:00:00 2026", "padded day")]
    cut = logs.parse_dmesg(cut_inside_line(fixture("dmesg"), 97, keep=30), "dmesg")
    assert len(cut) == 95 and cut[-1][0] == 96
    assert logs.parse_dmesg(random_garbage(13), "d") == []
    assert logs.parse_dmesg(JOURNAL, "d") == []


# --- the signature table -----------------------------------------------------------------------

EVENTS = {
    "felix_version", "felix_rpf_loose_fatal", "felix_bpf_unsupported", "felix_bpf_enabled", "felix_bpf_program_load_failed",
    "felix_bpf_endpoint_dirty", "felix_iptables_restore_failed", "felix_iptables_match_missing",
    "felix_ipset_incompatible", "felix_ipset_list_failed", "felix_iptables_backend_mismatch",
    "felix_route_add_file_exists", "calico_node_version", "node_ip_autodetected",
    "node_ip_autodetect_failed", "datastore_unauthorized", "cni_host_route_failed",
    "cni_route_owned_by_other_interface", "cni_calico_node_not_running", "cni_nodename_missing",
    "cni_pod_netns_ipv4_forwarding_disabled", "calico_node_felix_not_ready", "calico_node_felix_not_live",
    "calico_node_bgp_not_established", "calico_node_bird_unreachable", "calico_node_bird_not_live",
    "calico_node_health_port_refused", "conntrack_table_full", "networkmanager_touches_calico_iface",
    "networkd_matches_calico_iface", "networkd_removing_foreign_route", "firewalld_started",
    "firewalld_reloaded",
}


def test_signature_table_loads_once_with_known_components():
    table = logs.signatures()
    assert table is logs.signatures()
    assert {signature.event for signature in table} == EVENTS
    assert {signature.component for signature in table} <= logs.COMPONENTS
    assert all(signature.ref.strip() for signature in table)
    felix = next(signature for signature in table if signature.event == "felix_version")
    assert felix.seen_in == {"felix", "calico-node"}


@pytest.mark.parametrize("entry, error", [
    ({"event": "Bad-Id", "component": "felix", "match": "x", "ref": "r"}, "bad event id"),
    ({"event": "x", "component": "dockerd", "match": "x", "ref": "r"}, "unknown component"),
    ({"event": "x", "component": "felix", "match": "(", "ref": "r"}, "bad match"),
    ({"event": "x", "component": "felix", "match": "x"}, "missing ref"),
    ({"event": "x", "component": "felix", "match": "x", "ref": "r", "level": "LOUD"}, "unknown level"),
    ({"event": "x", "component": "felix", "match": "x", "ref": "r", "seen_in": ["k3s"]}, "bad seen_in"),
    ({"event": "x", "component": "felix", "match": "x", "ref": "r", "extra": 1}, "unknown keys"),
])
def test_malformed_signature_entries_are_refused(entry, error):
    with pytest.raises(ValueError, match=error):
        logs._signature(1, entry)


def q(name, lineno):
    return fixture_line(name, lineno)


# (component, event, hint, a line that must match, a near miss that must not produce the event).
# q(...) lines are real (fixtures); the others are constructed in the format of the named source.
CASES = [
    ("felix", "felix_version", None,
     '2026-01-02 03:04:05.678 [INFO][9] felix/daemon.go 350: Felix starting up GOMAXPROCS=2 '
     'builddate="2025-12-01T00:00:00+0000" gitcommit="0123456789abcdef" version="v3.29.1"',  # calico#4224 form
     "2026-01-02 03:04:05.678 [INFO][9] felix/daemon.go 351: Felix is starting up; waiting for the datastore"),
    ("felix", "felix_rpf_loose_fatal", None, q("calico-messages.quoted", 4),
     "Kernel's RPF check is set to 'strict'."),
    ("felix", "felix_bpf_unsupported", None, q("calico-messages.quoted", 9), q("calico-messages.quoted", 8)),
    ("felix", "felix_bpf_enabled", None, q("calico-messages.quoted", 8), q("calico-messages.quoted", 9)),
    ("felix", "felix_bpf_program_load_failed", None, q("calico-messages.quoted", 6),
     "libbpf: map 'cali_v4_state': created successfully, fd=3"),
    ("felix", "felix_bpf_endpoint_dirty", None, q("calico-messages.quoted", 5),
     "[INFO][10374] felix/bpf_ep_mgr.go 2107: Applying policy to endpoint"),
    ("felix", "felix_iptables_restore_failed", "felix",  # felix#1629 form
     "2026-01-02 03:04:05.678 [WARNING][7] felix/table.go 978: Failed to execute ip(6)tables-restore command "
     "error=exit status 2 errorOutput=\"iptables-restore v1.8.4 (legacy): Couldn't load match `set':No such "
     "file or directory\\n\" ipVersion=0x4 table=\"filter\"",
     "2026-01-02 03:04:05.678 [INFO][7] felix/table.go 978: Executing ip(6)tables-restore command"),
    ("felix", "felix_iptables_match_missing", None, q("calico-messages.quoted", 3),
     "iptables-restore v1.8.4 (legacy): Couldn't load target `CT':No such file or directory"),
    ("felix", "felix_ipset_incompatible", None, q("calico-messages.quoted", 16), "ipset v7.11, protocol version: 7"),
    ("felix", "felix_ipset_list_failed", "calico-node",  # calico#8776 form
     "2026-01-02 03:04:05.678 [ERROR][42] felix/ipsets.go 656: Bad return code from 'ipset list cali40this-host'. "
     "error=exit status 1 family=\"inet\" stderr=\"ipset v7.11: Kernel and userspace incompatible: settype "
     "hash:ip with revision 6 not supported by userspace.\\n\"",
     "2026-01-02 03:04:05.678 [ERROR][42] felix/ipsets.go 700: Bad return code from 'ipset restore'."),
    ("felix", "felix_iptables_backend_mismatch", None, q("calico-messages.quoted", 10),
     "Iptables backend specified matches the detected backend"),
    ("felix", "felix_route_add_file_exists", None,  # felix#1495 form
     "2026-01-02 03:04:05.678 [WARNING][19470] route_table.go 303: Failed to add route error=file exists "
     "ifaceName=\"cali0123456789a\" ipVersion=0x4 targetCIDR=10.65.0.5/32",
     "error adding host side routes for interface: cali0123456789a, error: failed to add route file exists"),
    ("calico-node", "calico_node_version", None,  # calico#9927 form
     "2026-01-02 03:04:05.678 [INFO][9] startup/startup.go 103: Starting node node-a with version v3.29.1",
     "Calico node started successfully"),
    ("calico-node", "node_ip_autodetected", "calico-node",  # calico#4597 form
     "2026-01-02 03:04:05.678 [INFO][10] startup/startup.go 774: Using autodetected IPv4 address on interface "
     "eth0: 10.0.0.11/24",
     "2026-01-02 03:04:05.678 [INFO][10] startup/startup.go 760: Using IPv4 address from environment: IP=10.0.0.11"),
    ("calico-node", "node_ip_autodetect_failed", None, q("calico-messages.quoted", 13),
     "2026-01-02 03:04:05.678 [INFO][10] startup/startup.go 774: Using autodetected IPv4 address on interface "
     "eth0: 10.0.0.11/24"),
    ("calico-node", "datastore_unauthorized", None,  # calico#9927 form
     "2026-01-02 03:04:05.678 [WARNING][9] startup/startup.go 462: Connection to the datastore is unauthorized "
     "error=connection is unauthorized: Unauthorized",
     "2026-01-02 03:04:05.678 [INFO][10] startup/startup.go 157: Unauthorized to query kubeadm configmap, "
     "assuming not on kubeadm. CIDR detection will not occur. error=Unauthorized"),
    ("cni", "datastore_unauthorized", "kubelet",  # calico#9215 form
     'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox '
     '"0123abcd": plugin type="calico" failed (add): error getting ClusterInformation: connection is '
     'unauthorized: Unauthorized',
     'plugin type="calico" failed (add): error getting ClusterInformation: Get "https://10.96.0.1:443/x": '
     'dial tcp 10.96.0.1:443: i/o timeout'),
    ("cni", "cni_host_route_failed", "cni",
     "error adding host side routes for interface: cali0123456789a, error: route (Ifindex: 12, Dst: "
     "10.65.0.5/32, Scope: 253) already exists for an interface other than 'cali0123456789a': route (Ifindex: 9)",
     "Adding host side routes for interface cali0123456789a"),
    ("cni", "cni_route_owned_by_other_interface", "container-runtime",
     "route (Ifindex: 12, Dst: 10.65.0.5/32, Scope: 253) already exists for an interface other than "
     "'cali0123456789a': route (Ifindex: 9)",
     "route (Ifindex: 12, Dst: 10.65.0.5/32, Scope: 253) already exists"),
    ("cni", "cni_calico_node_not_running", "kubelet",
     'plugin type="calico" failed (add): stat /var/lib/calico/nodename: no such file or directory: check that '
     "the calico/node container is running and has mounted /var/lib/calico/",
     q("calico-messages.quoted", 15)),
    ("cni", "cni_nodename_missing", None, q("calico-messages.quoted", 15),
     "stat /var/lib/calico/mtu: no such file or directory"),
    ("cni", "cni_pod_netns_ipv4_forwarding_disabled", "cni", q("calico-messages.quoted", 12),
     q("calico-messages.quoted", 11)),
    ("kubelet", "calico_node_felix_not_ready", "kubelet", q("kubelet-events.quoted", 9),
     q("kubelet-events.quoted", 8)),
    ("kubelet", "calico_node_felix_not_live", None, q("kubelet-events.quoted", 8), q("kubelet-events.quoted", 9)),
    ("kubelet", "calico_node_bgp_not_established", None, q("kubelet-events.quoted", 3),
     q("kubelet-events.quoted", 2)),
    ("kubelet", "calico_node_bird_unreachable", None, q("kubelet-events.quoted", 5), q("kubelet-events.quoted", 3)),
    ("kubelet", "calico_node_bird_not_live", None,  # node/pkg/health/health.go string, filled in
     "Liveness probe failed: calico/node is not ready: bird/confd is not live: exit status 1",
     "calico/node is not ready: BIRD is not ready: BGP not established with 10.0.0.1"),
    ("kubelet", "calico_node_health_port_refused", None, q("kubelet-events.quoted", 7),
     q("kubelet-events.quoted", 10)),
    ("kernel", "conntrack_table_full", "kernel", "nf_conntrack: nf_conntrack: table full, dropping packet",
     "nf_conntrack: default automatic helper assignment has been turned off for security reasons"),
    ("NetworkManager", "networkmanager_touches_calico_iface", "NetworkManager",
     "<info>  [1795766403.0001] device (cali0123456789a): state change: unmanaged -> unavailable "
     "(reason 'managed', sys-iface-state: 'external')",
     "<info>  [1795766403.0001] device (flannel.1): state change: unmanaged -> unavailable "
     "(reason 'connection-assumed', sys-iface-state: 'external')"),
    ("systemd-networkd", "networkd_matches_calico_iface", "systemd-networkd",
     "cali0123456789a: Reconfiguring with /etc/systemd/network/10-uplink.network.",
     "eth0: Reconfiguring with /etc/systemd/network/10-uplink.network."),
    ("systemd-networkd", "networkd_removing_foreign_route", "systemd-networkd",
     "eth0: Removing foreign route (configured): dst: 10.65.0.5/32, src: n/a, gw: n/a, prefsrc: n/a, "
     "scope: link, table: main(254), proto: boot, type: unicast",
     "eth0: Removing route: dst: 192.168.1.1/32, src: n/a, gw: n/a, prefsrc: 192.168.1.211, scope: link"),
    ("firewalld", "firewalld_started", "systemd", "Started firewalld - dynamic firewall daemon.",
     "Starting firewalld - dynamic firewall daemon..."),
    ("firewalld", "firewalld_reloaded", "systemd", "Reloaded firewalld - dynamic firewall daemon.",
     "Reloading firewalld - dynamic firewall daemon."),
]


@pytest.mark.parametrize("component, event, hint, line, near_miss", CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_signature_positive_and_near_miss(component, event, hint, line, near_miss):
    items = by_event(classify_one(line, hint))
    assert event in items and items[event]["component"] == component and items[event]["count"] == 1
    assert items[event]["source"] == "t:1"
    assert event not in by_event(classify_one(near_miss, hint))


def test_cases_cover_every_signature():
    assert {(c[0], c[1]) for c in CASES} == {(s.component, s.event) for s in logs.signatures()}


def test_more_real_lines_each_signature_must_catch():
    expected = {
        ("calico-messages.quoted", 1): "felix_iptables_match_missing",
        ("calico-messages.quoted", 2): "felix_iptables_match_missing",
        ("calico-messages.quoted", 7): "felix_bpf_program_load_failed",
        ("calico-messages.quoted", 14): "node_ip_autodetect_failed",
        ("calico-messages.quoted", 17): "conntrack_table_full",
        ("kubelet-events.quoted", 1): "calico_node_bgp_not_established",
        ("kubelet-events.quoted", 4): "calico_node_bird_unreachable",
        ("kubelet-events.quoted", 6): "calico_node_felix_not_ready",
        ("kubelet-events.quoted", 10): "calico_node_felix_not_live",
    }
    for (name, lineno), event in expected.items():
        assert event in by_event(classify_one(fixture_line(name, lineno))), (name, lineno)
    # The real newer systemd wording names the unit first; the older one is in CASES.
    assert "firewalld_started" in by_event(classify_one(
        "Started firewalld.service - firewalld - dynamic firewall daemon.", "systemd"))
    # The 2015 NetworkManager wording (projectcalico/calicoctl#256 form).
    assert "networkmanager_touches_calico_iface" in by_event(classify_one(
        "<info> (cali0123456789a): device state change: unavailable -> disconnected (reason 'carrier-changed')",
        "NetworkManager"))


def test_levels_come_from_the_line_else_from_the_signature():
    felix_line = CASES[[c[1] for c in CASES].index("felix_iptables_restore_failed")][3]
    assert by_event(classify_one(felix_line))["felix_iptables_restore_failed"]["level"] == "WARNING"
    info = felix_line.replace("[WARNING]", "[INFO]")
    assert by_event(classify_one(info))["felix_iptables_restore_failed"]["level"] == "INFO"
    assert by_event(classify_one(q("calico-messages.quoted", 4)))["felix_rpf_loose_fatal"]["level"] == "FATAL"
    assert "level" not in by_event(classify_one(q("kubelet-events.quoted", 9)))["calico_node_felix_not_ready"]


# --- hints -------------------------------------------------------------------------------------

def test_a_known_hint_restricts_an_unknown_one_does_not():
    conntrack = "nf_conntrack: nf_conntrack: table full, dropping packet"
    assert classify_one(conntrack, "kubelet") == []
    assert [i["event"] for i in classify_one(conntrack, "kernel")] == ["conntrack_table_full"]
    assert [i["event"] for i in classify_one(conntrack, "k3s")] == ["conntrack_table_full"]
    firewalld = "Started firewalld - dynamic firewall daemon."
    assert classify_one(firewalld, "NetworkManager") == []
    assert [i["event"] for i in classify_one(firewalld, "systemd.service")] == ["firewalld_started"]
    felix = q("calico-messages.quoted", 10)
    assert classify_one(felix, "kubelet") == []
    # calico-node's container runs felix: its lines may be felix's
    assert [i["component"] for i in classify_one(felix, "calico-node")] == ["felix"]


def test_the_logrus_component_prefix_overrides_the_file_hint():
    # constructed: a felix line found in the CNI log is still felix's, a startup line calico-node's
    felix = "2026-01-02 03:04:05.678 [ERROR][42] felix/ipsets.go 569: Bad return code from 'ipset list'."
    assert [(i["component"], i["event"]) for i in classify_one(felix, "cni")] == [("felix", "felix_ipset_list_failed")]
    startup = ("2026-01-02 03:04:05.678 [INFO][9] startup/startup.go 103: Starting node node-a with version "
               "v3.29.1")
    assert [i["event"] for i in classify_one(startup, "kubelet")] == ["calico_node_version"]


def test_one_line_can_raise_several_events_but_each_event_once():
    both = ("felix", "felix_iptables_restore_failed")
    line = CASES[[c[1] for c in CASES].index(both[1])][3]
    assert sorted(i["event"] for i in classify_one(line)) == ["felix_iptables_match_missing",
                                                             "felix_iptables_restore_failed"]
    # Matches both datastore_unauthorized entries; the CNI one comes first and wins.
    cni = ("plugin type=\"calico\" failed (add): error getting ClusterInformation: connection is unauthorized: "
           "Unauthorized")
    assert [(i["component"], i["event"], i["count"]) for i in classify_one(cni)] == [
        ("cni", "datastore_unauthorized", 1)]
    assert [(i["component"], i["event"]) for i in classify_one(cni, "felix")] == [
        ("calico-node", "datastore_unauthorized")]


# --- aggregation -------------------------------------------------------------------------------

# constructed: /var/log/calico/felix/current written by svlogd -ttt (bundle-layouts.md 2.15)
FELIX_CURRENT = (
    "2026-01-02T03:04:05.00001 2026-01-02 03:04:05.000 [INFO][7] felix/daemon.go 350: Felix starting up "
    "GOMAXPROCS=2 version=\"v3.29.1\"\n"
    "2026-01-02T03:04:06.00001 2026-01-02 03:04:06.111 [ERROR][7] felix/ipsets.go 569: Bad return code from "
    "'ipset list'. error=exit status 1 family=\"inet\" stderr=\"ipset v7.11: Kernel and userspace "
    "incompatible: settype hash:ip,port with revision 7 not supported by userspace.\\n\"\n"
    "2026-01-02T03:04:06.00002 2026-01-02 03:04:06.112 [WARNING][7] felix/ipsets.go 346: Failed to resync with "
    "dataplane error=exit status 1 family=\"inet\"\n"
    "2026-01-02T03:04:06.50000 libbpf: prog 'calico_tc_main': failed to load: -13\n"
    "2026-01-02T03:04:07.00001 2026-01-02 03:04:07.222 [ERROR][7] felix/ipsets.go 569: Bad return code from "
    "'ipset list cali40this-host'. error=exit status 1 family=\"inet\"\n"
    "2026-01-02T03:04:08.00001 2026-01-02 03:04:08.333 [INFO][7] felix/ipsets.go 337: Retrying after an ipsets "
    "update failure... family=\"inet\"\n"
    "2026-01-02T03:04:09.00001 2026-01-02 03:04:09.444 [ERROR][7] felix/ipsets.go 569: Bad return code from "
    "'ipset list'. error=exit status 1 family=\"inet\"\n"
)


def test_aggregation_counts_first_last_and_first_source():
    items = by_event(logs.log_events_from_file(FELIX_CURRENT, "diagnostics/logs/felix/current", "calico"))
    # order of first match; events of one line in table order
    assert list(items) == ["felix_version", "felix_ipset_incompatible", "felix_ipset_list_failed",
                           "felix_bpf_program_load_failed"]
    failed = items["felix_ipset_list_failed"]
    assert failed["count"] == 3
    assert (failed["first"], failed["last"]) == ("2026-01-02 03:04:06.111", "2026-01-02 03:04:09.444")
    assert failed["source"] == "diagnostics/logs/felix/current:2"
    assert failed["level"] == "ERROR"
    assert failed["message"].startswith("Bad return code from 'ipset list'. error=exit status 1")
    # A non-logrus line keeps svlogd's timestamp; its level comes from nowhere.
    bpf = items["felix_bpf_program_load_failed"]
    assert (bpf["first"], bpf["last"], bpf["source"]) == ("2026-01-02T03:04:06.50000",) * 2 + (
        "diagnostics/logs/felix/current:4",)
    assert "level" not in bpf
    assert items["felix_ipset_incompatible"]["count"] == 1


def test_aggregation_truncated_file_drops_the_cut_line():
    cut = cut_inside_line(FELIX_CURRENT, 7, keep=60)
    items = by_event(logs.log_events_from_file(cut, "felix/current", "calico"))
    assert items["felix_ipset_list_failed"]["count"] == 2
    assert items["felix_ipset_list_failed"]["last"] == "2026-01-02 03:04:07.222"


def test_long_messages_are_trimmed():
    line = "Readiness probe failed: calico/node is not ready: BIRD is not ready: BGP not established with " + ",".join(
        f"10.0.{n // 250}.{n % 250}" for n in range(100))
    item = classify_one(line, "kubelet")[0]
    assert len(item["message"]) == logs.MESSAGE_LIMIT and item["message"].endswith("...")


def test_items_without_timestamps_have_no_first_last():
    items = valid(logs.log_events_from_file(fixture("kubelet-events.quoted"), "events.txt", "plain"))
    assert items and all("first" not in item and "last" not in item for item in items)
    counts = {item["event"]: item["count"] for item in items}
    assert counts == {"calico_node_bgp_not_established": 2, "calico_node_bird_unreachable": 2,
                      "calico_node_felix_not_ready": 2, "calico_node_health_port_refused": 2,
                      "calico_node_felix_not_live": 2}


# --- one file, each kind -------------------------------------------------------------------------

def test_cri_calico_node_container_log_joins_a_split_error_line():
    # constructed: CRI lines of the calico-node container; the ipset error is split in two P/F pieces
    text = (
        "2026-01-02T03:04:05.000000001Z stdout F 2026-01-02 03:04:05.000 [INFO][9] startup/startup.go 103: "
        "Starting node node-a with version v3.29.1\n"
        "2026-01-02T03:04:06.000000001Z stdout P 2026-01-02 03:04:06.111 [ERROR][70] felix/ipsets.go 569: Bad "
        "return code from 'ipset list'. error=exit status 1 stderr=\"ipset v7.11: Kernel and userspace incompat\n"
        "2026-01-02T03:04:06.000000002Z stdout F ible: settype hash:ip with revision 7 not supported by userspace.\"\n"
        "2026-01-02T03:04:07.000000001Z stdout F 2026-01-02 03:04:07.000 [INFO][70] felix/int_dataplane.go 1: ok\n"
    )
    items = by_event(logs.log_events_from_file(text, "var/log/pods/calico-system_calico-node-x_1/calico-node/0.log",
                                               "cri"))
    assert list(items) == ["calico_node_version", "felix_ipset_incompatible", "felix_ipset_list_failed"]
    assert items["felix_ipset_incompatible"]["source"].endswith("/0.log:2")
    assert items["felix_ipset_incompatible"]["first"] == "2026-01-02 03:04:06.111"
    assert items["calico_node_version"]["component"] == "calico-node"
    # cut inside the F piece: the joined record is incomplete and dropped
    cut = by_event(logs.log_events_from_file(cut_inside_line(text, 3, keep=50), "0.log", "cri"))
    assert list(cut) == ["calico_node_version"]


def test_cri_sample_fixture_has_no_events():
    assert logs.log_events_from_file(fixture("cri.kubelet-logs-test"), "0.log", "cri") == []


def test_cni_log_file():
    # constructed: cni.log lines in the logrus format (the CNI line of calico#4703, other values)
    text = ("2026-01-02 03:04:05.000 [INFO][2001] dataplane_linux.go 420: Disabling IPv4 forwarding "
            "ContainerID=\"0123abcd\" Namespace=\"default\" Pod=\"web-0\"\n"
            "2026-01-02 03:04:05.100 [INFO][2001] k8s.go 500: Wrote updated endpoint to datastore\n"
            "2026-01-02 03:09:05.000 [INFO][2999] dataplane_linux.go 420: Disabling IPv4 forwarding "
            "ContainerID=\"4567efab\" Namespace=\"default\" Pod=\"web-1\"\n")
    item = valid(logs.log_events_from_file(text, "var/log/calico/cni/cni.log", "cni"))
    assert item == [{"component": "cni", "event": "cni_pod_netns_ipv4_forwarding_disabled", "level": "INFO",
                     "message": "Disabling IPv4 forwarding ContainerID=\"0123abcd\" Namespace=\"default\" "
                                "Pod=\"web-0\"",
                     "count": 2, "first": "2026-01-02 03:04:05.000", "last": "2026-01-02 03:09:05.000",
                     "source": "var/log/calico/cni/cni.log:1"}]


def test_journal_file():
    kubelet_cni = ("Nov 27 09:00:05 node1 kubelet[1234]: 2026-11-27 09:00:05.734 [INFO][2113] "
                   "dataplane_linux.go 420: Disabling IPv4 forwarding ContainerID=\"0123abcd\"\n")
    items = by_event(logs.log_events_from_file(JOURNAL + kubelet_cni, "journalctl_--no-pager", "journal"))
    assert {event: (item["component"], item["source"], item["first"]) for event, item in items.items()} == {
        "conntrack_table_full": ("kernel", "journalctl_--no-pager:3", "Nov  7 09:00:01"),
        "firewalld_started": ("firewalld", "journalctl_--no-pager:4", "Nov 27 09:00:02.123456"),
        "networkmanager_touches_calico_iface": ("NetworkManager", "journalctl_--no-pager:5",
                                                "2026-11-27T09:00:03+0100"),
        "calico_node_felix_not_ready": ("kubelet", "journalctl_--no-pager:8", "2026-11-27T09:00:04.5+01:00"),
        "cni_pod_netns_ipv4_forwarding_disabled": ("cni", "journalctl_--no-pager:9", "2026-11-27 09:00:05.734"),
    }


def test_dmesg_file_of_a_healthy_machine_has_no_events_and_a_full_table_one_does():
    for name in ("dmesg", "dmesg_-T"):
        assert logs.log_events_from_file(fixture(name), name, "dmesg") == []
    full = fixture("dmesg") + "[ 1800.000001] nf_conntrack: nf_conntrack: table full, dropping packet\n"
    assert valid(logs.log_events_from_file(full, "sos_commands/kernel/dmesg", "dmesg")) == [
        {"component": "kernel", "event": "conntrack_table_full",
         "message": "nf_conntrack: nf_conntrack: table full, dropping packet", "count": 1,
         "first": "1800.000001", "last": "1800.000001", "source": "sos_commands/kernel/dmesg:98"}]


def test_components_from_calico_log_paths():
    assert logs.component_from_path("/var/log/calico/felix/current") == "felix"
    assert logs.component_from_path("diagnostics/logs/bird6/current") == "bird"
    assert logs.component_from_path("C:\\diags\\logs\\confd\\@4000000037c219bf2ef02e94.s") == "confd"
    assert logs.component_from_path("nodes/node-a/calico-system/calico-node-x.log") == "calico-node"
    assert logs.component_from_path(None) == "calico-node"


def test_unknown_kind_and_odd_input():
    assert logs.log_events_from_file(FELIX_CURRENT, "x", "syslog-ng") == []
    assert logs.classify([None, (1, 2), (1, None, None, None), (1, None, None, "   "), "text"], "x") == []
    for kind in logs.KINDS:
        assert logs.log_events_from_file(None, "x", kind) == []
        assert logs.log_events_from_file(b"\xff\xfe\x00 nf_conntrack: table full, dropping packet", "x", kind) == []


# --- damaged input -------------------------------------------------------------------------------

FIXTURES = sorted(path for path in LOGS.iterdir() if path.suffix != ".md")
SPICE = ['"', "{", "}", "\\", "\t", "[", "]", ":", " P ", " F ", "\n", "/", "@", "-- "]


def test_garbage_gives_no_records_and_no_events():
    for seed in range(3):
        garbage = random_garbage(100 + seed)
        assert logs.parse_cri_log(garbage, "g") == []
        assert logs.parse_journal(garbage, "g") == []
        assert logs.parse_dmesg(garbage, "g") == []
        for kind in logs.KINDS:
            assert logs.log_events_from_file(garbage, "g", kind) == []


def test_every_damaged_fixture_is_survived():
    generator = random.Random(7)
    texts = 0
    for path in FIXTURES:
        text = path.read_text(encoding="utf-8")
        for _ in range(8):
            prefix = text[:generator.randrange(len(text) + 1)]
            at = generator.randrange(len(prefix)) if prefix else 0
            for damaged in (prefix, prefix[:at] + generator.choice(SPICE) + prefix[at + 1:]):
                assert isinstance(logs.parse_cri_log(damaged, "d"), list)
                assert isinstance(logs.parse_journal(damaged, "d"), list)
                assert isinstance(logs.parse_dmesg(damaged, "d"), list)
                for line in damaged.split("\n")[:20]:
                    assert logs.parse_calico_line(line) is None or isinstance(logs.parse_calico_line(line), dict)
                for kind in logs.KINDS:
                    valid(logs.log_events_from_file(damaged, "d", kind))
                texts += 1
    assert texts >= 16 * len(FIXTURES)


# --- one line in several journal/syslog files (constructed lines: journalctl short, classic
# syslog with a space-padded day, RFC 3339 syslog; message from causes.yaml) -------------------------

def test_seen_counts_a_journal_line_once_across_formats():
    message = "<info>  [1793527200.1234] device (cali1a2b3c4d5e6): state change: unmanaged -> unavailable"
    seen = {}
    first = logs.log_events_from_file(f"Nov 01 10:00:00 node1 NetworkManager[812]: {message}\n", "journal",
                                      "journal", seen=seen)
    again = logs.log_events_from_file(f"Nov  1 10:00:00 node1 NetworkManager[812]: {message}\n"
                                      f"2026-11-01T10:00:00.5+00:00 node1 NetworkManager[812]: {message}\n"
                                      f"Nov  1 10:00:07 node1 NetworkManager[812]: {message}\n",
                                      "messages", "journal", seen=seen)
    assert valid(first)[0]["count"] == 1
    assert valid(again)[0]["count"] == 1 and again[0]["first"] == "Nov  1 10:00:07"
    # the same line twice in one file is two events
    twice = logs.log_events_from_file(f"Nov 01 10:00:09 h NetworkManager[812]: {message}\n" * 2, "j2", "journal", seen=seen)
    assert twice[0]["count"] == 2
    # without `seen` nothing is merged
    assert logs.log_events_from_file(f"Nov 01 10:00:00 h NetworkManager: {message}\n" * 2, "j", "journal")[0]["count"] == 2
