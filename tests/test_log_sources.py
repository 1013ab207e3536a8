"""Logs from every place a bundle keeps them, counted once, and their recency (`current`).

The log lines are constructed here in the formats named next to them (journalctl short and
short-iso output, classic and RFC 3339 syslog lines, CRI container log framing from
kubernetes/kubernetes pkg/kubelet/kuberuntime/logs/logs_test.go as quoted in
shared/reference/bundle-layouts.md section 2.15, Calico logrus lines as in section 2.15); the
messages themselves are the quoted ones from tests/fixtures/raw/logs/calico-messages.quoted
(ipset, line 16; conntrack, line 17) and causes.yaml (NetworkManager `device (caliX): state change`).
"""

import os

from calirules.engine.combiners import build_facts
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.source import DirectorySource

from tests.helpers import REPO

NM = ("NetworkManager[812]: <info>  [1793527200.1234] device (cali1a2b3c4d5e6): state change: "
      "unmanaged -> unavailable (reason 'managed', sys-iface-state: 'external')")
IPSET = "Kernel and userspace incompatible: settype hash:ip with revision 7 not supported by userspace"
CONNTRACK = "kernel: nf_conntrack: table full, dropping packet"


def write(root, relpath, text):
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def events(root):
    dump = read_bundle(DirectorySource(root))
    return {e["event"]: e for e in dump.get("log_events") or ()}, dump


def cri(time, message, stream="stderr"):
    return f"{time} {stream} F {message}\n"


def felix(time, level, text):
    return f"{time} [{level}][81] felix/ipsets.go 561: {text}"


def test_journal_and_syslog_copies_of_a_line_count_once(tmp_path):
    root = tmp_path / "sosreport-node1"
    write(root, "sos_commands/logs/journalctl_--no-pager",
          f"-- Logs begin at Sun 2026-11-01 09:00:00 UTC. --\nNov 01 10:00:00 node1 {NM}\n"
          f"Nov 01 10:00:01 node1 {CONNTRACK}\n")
    # the this-boot journal repeats the full one: not read when the full one is there
    write(root, "sos_commands/logs/journalctl_--no-pager_--boot", f"Nov 01 10:00:00 node1 {NM}\n")
    write(root, "sos_commands/networkmanager/journalctl_--no-pager_--unit_NetworkManager",
          f"Nov 01 10:00:00 node1 {NM}\n")
    # rsyslog's classic format pads the day with a space; the same line once more
    write(root, "var/log/messages", f"Nov  1 10:00:00 node1 {NM}\nNov  1 10:00:01 node1 {CONNTRACK}\n")
    # a rotated file holds an older, different occurrence: it counts
    write(root, "var/log/messages-20261101", f"Oct 31 23:59:00 node1 {NM}\n")
    write(root, "var/log/messages-20261025.gz", "\x1f\x8b not read")
    found, dump = events(root)
    assert found["networkmanager_touches_calico_iface"]["count"] == 2
    assert found["networkmanager_touches_calico_iface"]["component"] == "NetworkManager"
    assert found["conntrack_table_full"]["count"] == 1
    assert any("messages-20261025.gz" in note for note in dump["collection"]["notes"])


def test_rfc3339_syslog_and_journal_short_iso_are_one_line(tmp_path):
    root = tmp_path / "sosreport-node1"
    write(root, "sos_commands/logs/journalctl_--no-pager_--boot_-1",
          f"2026-11-01T10:00:00+0000 node1 {NM}\n")
    write(root, "var/log/syslog", f"2026-11-01T10:00:00.412345+00:00 node1 {NM}\n")
    write(root, "var/log/syslog.1", f"2026-10-31T08:00:00.000001+00:00 node1 {NM}\n")
    found, _ = events(root)
    assert found["networkmanager_touches_calico_iface"]["count"] == 2


def test_calicoctl_node_diags_logs_every_service_and_rotation(tmp_path):
    root = tmp_path / "diagnostics"
    write(root, "hostname", "node1\n")
    write(root, "logs/felix/current", "2026-11-01_10:00:00.00000 " + felix("2026-11-01 10:00:00.000", "ERROR", IPSET) + "\n")
    write(root, "logs/felix/@400000006548f1a00000000a.s",
          felix("2026-10-31 10:00:00.000", "ERROR", IPSET) + "\n")
    write(root, "logs/bird/current", "2026-11-01_10:00:00.00000 bird: Mesh_198_18_0_2: Socket error\n")
    found, _ = events(root)
    assert found["felix_ipset_incompatible"]["count"] == 2
    assert found["felix_ipset_incompatible"]["first"] == "2026-10-31 10:00:00.000"


def calico_node_pod(root, previous, running, link=True):
    pod_dir = "var/log/pods/kube-system_calico-node-x7k2p_6b1c8a3e-1111-2222-3333-444455556666/calico-node"
    write(root, f"{pod_dir}/0.log", previous)
    current = write(root, f"{pod_dir}/1.log", running)
    if link:
        links = root / "var/log/containers"
        links.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(current, links),
                   links / "calico-node-x7k2p_kube-system_calico-node-0123456789abcdef.log")
    return pod_dir


def test_error_only_in_a_previous_container_instance_is_not_current(tmp_path):
    root = tmp_path / "sosreport-node1"
    calico_node_pod(root,
                    previous=cri("2026-11-01T09:00:00.000000000Z", felix("2026-11-01 09:00:00.000", "ERROR", IPSET)),
                    running=cri("2026-11-01T10:00:00.000000000Z",
                                "2026-11-01 10:00:00.000 [INFO][9] startup/startup.go 425: Early log level set to info"))
    found, _ = events(root)
    assert found["felix_ipset_incompatible"]["current"] is False
    assert found["felix_ipset_incompatible"]["count"] == 1  # the containers/ link is not read again


def test_error_in_the_running_instance_is_current_and_merging_keeps_true(tmp_path):
    root = tmp_path / "sosreport-node1"
    line = felix("2026-11-01 09:00:00.000", "ERROR", IPSET)
    calico_node_pod(root, previous=cri("2026-11-01T09:00:00.000000000Z", line),
                    running=cri("2026-11-01T10:00:00.000000000Z", felix("2026-11-01 10:00:00.000", "ERROR", IPSET)))
    found, dump = events(root)
    assert found["felix_ipset_incompatible"]["current"] is True
    assert found["felix_ipset_incompatible"]["count"] == 2
    facts = [f for name, f in build_facts(dump) if name == "LogEvent"]
    assert {f["event"]: f["current"] for f in facts}["felix_ipset_incompatible"] is True


def test_other_logs_are_dated_against_the_running_instance(tmp_path):
    root = tmp_path / "sosreport-node1"
    calico_node_pod(root, previous=cri("2026-11-01T09:00:00.000000000Z", "starting"),
                    running=cri("2026-11-01T10:00:00.000000000Z", "started"), link=False)
    write(root, "var/log/calico/cni/cni.log",
          "2026-11-01 09:30:00.000 [ERROR][4242] plugin.go 580: stat /var/lib/calico/nodename: "
          "no such file or directory: check that the calico/node container is running and has mounted "
          "/var/lib/calico/\n")
    # journalctl short-iso (zone known) after the start; classic syslog (no year) cannot be dated
    write(root, "var/log/syslog", f"2026-11-01T11:00:00+01:00 node1 {NM}\n")
    write(root, "var/log/messages", f"Nov  1 12:00:00 node1 {CONNTRACK}\n")
    found, _ = events(root)
    assert found["cni_nodename_missing"]["current"] is False
    assert found["networkmanager_touches_calico_iface"]["current"] is True  # 11:00+01:00 = 10:00Z
    assert "current" not in found["conntrack_table_full"]


def test_no_calico_node_container_log_means_recency_unknown(tmp_path):
    root = tmp_path / "sosreport-node1"
    write(root, "var/log/calico/felix/current", felix("2026-11-01 10:00:00.000", "ERROR", IPSET) + "\n")
    found, _ = events(root)
    assert "current" not in found["felix_ipset_incompatible"]


def test_rotated_file_of_the_running_instance_is_current(tmp_path):
    root = tmp_path / "sosreport-node1"
    pod_dir = calico_node_pod(root, previous=cri("2026-11-01T08:00:00.000000000Z", "old instance"),
                              running=cri("2026-11-01T11:00:00.000000000Z", "still running"), link=False)
    write(root, f"{pod_dir}/1.log.20261101-110000",
          cri("2026-11-01T10:00:00.000000000Z", felix("2026-11-01 10:00:00.000", "ERROR", IPSET)))
    write(root, f"{pod_dir}/1.log.20261101-100000.gz", "\x1f\x8b")
    found, _ = events(root)
    assert found["felix_ipset_incompatible"]["current"] is True


def test_cluster_diags_kubectl_logs_current_and_previous(tmp_path):
    """calicoctl cluster diags: `kubectl logs` (running instance) and, after v3.32, the
    `<pod>.<container>.previous.log` of a restarted one (bundle-layouts.md section 3.2)."""
    from calirules.facts_collectors.cluster_diags import ClusterNodeSource
    root = tmp_path / "calico-diagnostics-20261101_100000"
    write(root, "cluster/version.yaml", "clientVersion:\n  gitVersion: v1.30.2\n")
    write(root, "nodes/node1/ip-route.txt", "default via 198.18.0.1 dev eth0\n")
    write(root, "nodes/node1/calico-system/calico-node-x7k2p.calico-node.previous.log",
          felix("2026-11-01 09:00:00.000", "ERROR", IPSET) + "\n")
    write(root, "nodes/node1/calico-system/calico-node-x7k2p.log",
          "2026-11-01 10:00:00.000 [INFO][9] startup/startup.go 425: Early log level set to info\n")
    dump = read_bundle(ClusterNodeSource(DirectorySource(root), "node1"))
    found = {e["event"]: e for e in dump["log_events"]}
    assert found["felix_ipset_incompatible"]["current"] is False
    assert found["felix_ipset_incompatible"]["source"].endswith(".previous.log:1")
    # the same line in the running instance's log makes it current
    write(root, "nodes/node1/calico-system/calico-node-x7k2p.log", felix("2026-11-01 10:00:00.000", "ERROR", IPSET) + "\n")
    dump = read_bundle(ClusterNodeSource(DirectorySource(root), "node1"))
    assert {e["event"]: e for e in dump["log_events"]}["felix_ipset_incompatible"]["current"] is True


def test_the_linked_pod_is_current_when_an_old_pod_directory_remains(tmp_path):
    root = tmp_path / "sosreport-node1"
    # a replaced pod's directory whose log starts later than the running pod's (clock skew)
    write(root, "var/log/pods/kube-system_calico-node-old11_0000/calico-node/0.log",
          cri("2026-11-01T12:00:00.000000000Z", "2026-11-01 12:00:00.000 [INFO][9] startup/startup.go 425: Early log level set to info"))
    calico_node_pod(root, previous=cri("2026-11-01T09:00:00.000000000Z", "starting"),
                    running=cri("2026-11-01T10:00:00.000000000Z", felix("2026-11-01 10:00:00.000", "ERROR", IPSET)))
    found, _ = events(root)
    # var/log/containers links calico-node-x7k2p: its 1.log is the running instance
    assert found["felix_ipset_incompatible"]["current"] is True
    (root / "var/log/containers/calico-node-x7k2p_kube-system_calico-node-0123456789abcdef.log").unlink()
    found, _ = events(root)
    # without the link the pod directory that started last is taken, and 10:00 predates it
    assert found["felix_ipset_incompatible"]["current"] is False


def test_every_quoted_line_is_found_in_every_place_a_bundle_keeps_it(tmp_path):
    """The same real message, wrapped the way each writer wraps it (constructed framing: CRI,
    svlogd-free Calico file, journalctl short, classic syslog), yields the same events everywhere."""
    from calirules.facts_collectors.parsers import logs
    raw = REPO / "tests" / "fixtures" / "raw" / "logs"
    felix_lines = [l for l in (raw / "calico-messages.quoted").read_text().splitlines() if l.strip()]
    kubelet_lines = [l for l in (raw / "kubelet-events.quoted").read_text().splitlines() if l.strip()]
    def expected(lines, hint):
        return {e["event"] for e in logs.classify([(n, None, hint, l) for n, l in enumerate(lines, 1)], "q")}
    expected_felix, expected_node = expected(felix_lines, "felix"), expected(felix_lines, "calico-node")
    expected_kubelet = expected(kubelet_lines, "kubelet")
    assert len(expected_felix) >= 7 and len(expected_node) >= 8 and len(expected_kubelet) >= 4
    places = {
        "var/log/pods/kube-system_calico-node-x7k2p_6b1c/calico-node/0.log":
            ("".join(cri(f"2026-11-01T10:00:{n % 60:02d}.000000000Z", l) for n, l in enumerate(felix_lines)), expected_node),
        "diagnostics/logs/felix/current": ("\n".join(felix_lines) + "\n", expected_felix),
        "sos_commands/kubernetes/journalctl_--no-pager_--unit_kubelet":
            ("".join(f"Nov 01 10:00:{n:02d} node1 kubelet[1234]: {l}\n" for n, l in enumerate(kubelet_lines)), expected_kubelet),
        "var/log/messages":
            ("".join(f"Nov  1 10:00:{n:02d} node1 kubelet[1234]: {l}\n" for n, l in enumerate(kubelet_lines)), expected_kubelet),
        "sos_commands/logs/journalctl_--no-pager":
            ("".join(f"Nov 01 10:00:{n:02d} node1 kubelet[1234]: {l}\n" for n, l in enumerate(kubelet_lines)), expected_kubelet),
    }
    for number, (relpath, (content, expected)) in enumerate(places.items()):
        root = tmp_path / f"bundle{number}"
        write(root, relpath, content)
        source_root = root / "diagnostics" if relpath.startswith("diagnostics/") else root
        found, _ = events(source_root)
        assert expected <= set(found), (relpath, expected - set(found))
