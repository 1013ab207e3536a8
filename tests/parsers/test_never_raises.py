"""No parser raises, whatever prefix of whatever fixture (or non-text) it is handed."""

import random

import pytest
from calirules.facts_collectors.parsers import (
    calico_resources,
    cni,
    conntrack,
    hostnet,
    iproute,
    ipset,
    iptables,
    kube,
    kube_objects,
    logs,
    modules,
    nft,
    sysctl,
    system,
)
from rawfixtures import RAW

PARSERS = [
    sysctl.parse_sysctl_a, iproute.parse_ip_link, iproute.parse_ip_route, iproute.parse_ip_rule,
    iproute.parse_ip_neigh, iptables.parse_iptables_save, iptables.parse_iptables_list,
    nft.parse_nft_ruleset, modules.parse_lsmod, modules.parse_proc_modules, system.parse_uname_a,
    system.parse_os_release, system.parse_hostname, conntrack.parse_conntrack_S,
    conntrack.parse_proc_net_stat_nf_conntrack, conntrack.parse_nf_conntrack_count,
    conntrack.parse_nf_conntrack_max, kube.parse_kubectl_version, kube.parse_kubelet_version,
    kube.parse_kubectl_pods, kube.parse_kubectl_nodes, kube.parse_crictl_ps, kube.parse_crictl_images,
    kube.parse_image_refs, ipset.parse_ipset_list, cni.parse_cni_conflist, logs.parse_cri_log, logs.parse_journal,
    logs.parse_dmesg, calico_resources.parse_ippools, iptables.parse_ip_tables_names,
    hostnet.parse_ini, hostnet.parse_systemctl_units, hostnet.parse_nmcli_general_status,
    kube_objects.parse_kubectl_listing, calico_resources.parse_installations,
    calico_resources.parse_felixconfigurations, calico_resources.parse_calico_node_env, calico_resources.parse_objects,
]
FIXTURES = sorted(path for path in RAW.rglob("*") if path.is_file() and path.suffix not in (".sh", ".md"))
# Characters that matter to some grammar: quotes, braces, continuations, counters, separators.
SPICE = ['"', "{", "}", "\\", "\t", "[", "@", ":", "=", "#", "-A ", "-g", "nexthop ", "*nat\n", ":X - ["]


def damaged_versions(text, seed):
    generator = random.Random(seed)
    for _ in range(6):
        prefix = text[:generator.randrange(len(text) + 1)]
        yield prefix
        if prefix:
            at = generator.randrange(len(prefix))
            yield prefix[:at] + generator.choice(SPICE) + prefix[at + 1:]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda parse: parse.__name__)
def test_parser_survives_every_damaged_fixture(parse):
    results = 0
    for number, path in enumerate(FIXTURES):
        for text in damaged_versions(path.read_text(encoding="utf-8"), number):
            assert isinstance(parse(text, "damaged"), (list, dict))
            results += 1
    for odd in (None, b"\xff\xfe\x00 1: x", 42, ""):
        assert not parse(odd, "odd") or isinstance(parse(odd, "odd"), (list, dict))
    assert results > 100


def test_proc_sys_file_survives_odd_paths():
    for path in (None, 42, "", "proc/sys/", "/proc/sys/net/a b/c", "xproc/sys/net/x", "C:\\bundle\\proc\\sys\\net\\x"):
        assert isinstance(sysctl.parse_proc_sys_file(path, "1\n"), list)
    windows_path = "C:\\bundle\\proc\\sys\\net\\ipv4\\ip_forward"
    assert sysctl.parse_proc_sys_file(windows_path, "1\n")[0]["key"] == "net.ipv4.ip_forward"
