from calirules.facts_collectors.parsers.sysctl import (
    parse_proc_sys_file,
    parse_sysctl_a,
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


def by_key(facts):
    return {fact["key"]: fact for fact in facts}


def test_sysctl_a_from_the_lab_node_keeps_every_line_with_its_position():
    facts = parse_sysctl_a(lab("sysctl_-a"), "sysctl_-a")
    assert len(facts) == 1325  # every line of the (net.*-filtered) listing is a key
    keys = by_key(facts)
    assert keys["net.ipv4.ip_forward"] == {"key": "net.ipv4.ip_forward", "value": "1", "source": "sysctl_-a:340"}
    assert keys["net.ipv4.conf.cali1a2b3c4d5e6.proxy_arp"]["value"] == "1"
    assert keys["net.ipv4.conf.cali1a2b3c4d5e6.route_localnet"]["value"] == "1"
    assert keys["net.ipv4.neigh.cali1a2b3c4d5e6.proxy_delay"]["value"] == "0"
    assert keys["net.netfilter.nf_conntrack_max"]["value"] == "262144"
    validate_facts(sysctls=facts)


def test_sysctl_a_translates_the_slash_in_dotted_interface_names_back():
    keys = by_key(parse_sysctl_a(lab("sysctl_-a"), "sysctl_-a"))
    assert keys["net.ipv4.conf.vxlan.calico.rp_filter"] == {
        "key": "net.ipv4.conf.vxlan.calico.rp_filter", "value": "2", "source": "sysctl_-a:311"}
    assert not [key for key in keys if "/" in key]


def test_sysctl_a_keeps_the_tabs_of_multi_value_keys():
    keys = by_key(parse_sysctl_a(lab("sysctl_-a"), "sysctl_-a"))
    assert keys["net.ipv4.tcp_rmem"]["value"] == "4096\t131072\t33554432"


def test_sysctl_a_skips_the_permission_denied_lines_procps_mixes_in():
    text = lab("sysctl_-a_as_nobody")
    noise = [line for line in text.splitlines() if line.startswith("sysctl: ")]
    assert len(noise) == 16
    facts = parse_sysctl_a(text, "sysctl_-a_as_nobody")
    assert len(facts) == len(text.splitlines()) - len(noise)
    assert not [fact for fact in facts if "denied" in fact["key"] or "denied" in fact["value"]]
    assert by_key(facts)["net.ipv4.conf.vxlan.calico.rp_filter"]["source"] == "sysctl_-a_as_nobody:314"


def test_sysctl_a_quoted_centos_sample():
    facts = parse_sysctl_a(quoted("sysctl_-a.jc-centos-7.7"), "sysctl_-a")
    assert [fact["key"] for fact in facts][:2] == ["net.ipv4.conf.all.forwarding", "net.ipv4.conf.all.proxy_arp"]
    assert by_key(facts)["net.netfilter.nf_conntrack_count"] == {
        "key": "net.netfilter.nf_conntrack_count", "value": "2", "source": "sysctl_-a:6"}


def test_sysctl_a_cut_mid_line_keeps_the_lines_before_the_cut():
    full = parse_sysctl_a(lab("sysctl_-a"), "sysctl_-a")
    # Cut inside `net.ipv4.tcp_rmem = 4096<TAB>131072<TAB>33554432` (line 529) after `= 409`.
    cut = parse_sysctl_a(cut_inside_line(lab("sysctl_-a"), 529, keep=24), "sysctl_-a")
    assert cut == full[:528]
    assert "net.ipv4.tcp_rmem" not in by_key(cut)


def test_sysctl_a_garbage_gives_nothing():
    assert parse_sysctl_a(random_garbage(1), "x") == []
    assert parse_sysctl_a(UNRELATED_TEXT, "x") == []
    assert parse_sysctl_a(lab("iptables-legacy-save_-c"), "x") == []
    assert parse_sysctl_a(None, "x") == []


def test_proc_sys_file_reads_the_key_from_the_path():
    relpath = "proc/sys/net/ipv4/conf/vxlan.calico/rp_filter"
    text = (lab("proc/sys/net/ipv4/conf/vxlan.calico/rp_filter"))
    assert parse_proc_sys_file(relpath, text) == [
        {"key": "net.ipv4.conf.vxlan.calico.rp_filter", "value": "2", "source": f"{relpath}:1"}]
    # The same key as sysctl -a gives for that interface, whatever the sysctl -a spelling.
    from_sysctl = by_key(parse_sysctl_a(lab("sysctl_-a"), "s"))["net.ipv4.conf.vxlan.calico.rp_filter"]
    assert from_sysctl["value"] == "2"


def test_proc_sys_file_multi_value_and_bundle_prefixed_paths():
    text = lab("proc/sys/net/ipv4/tcp_rmem")
    facts = parse_proc_sys_file("sosreport-crp-node1/proc/sys/net/ipv4/tcp_rmem", text)
    assert facts == [{"key": "net.ipv4.tcp_rmem", "value": "4096\t131072\t33554432",
                      "source": "sosreport-crp-node1/proc/sys/net/ipv4/tcp_rmem:1"}]
    proxy_arp = parse_proc_sys_file("proc/sys/net/ipv4/conf/cali1a2b3c4d5e6/proxy_arp",
                                    lab("proc/sys/net/ipv4/conf/cali1a2b3c4d5e6/proxy_arp"))
    assert proxy_arp[0]["key"] == "net.ipv4.conf.cali1a2b3c4d5e6.proxy_arp"
    assert proxy_arp[0]["value"] == "1"
    validate_facts(sysctls=facts + proxy_arp)


def test_proc_sys_file_cut_before_its_newline_keeps_what_was_written():
    # A one-value file has no "complete records before the cut" to prefer: the value is kept.
    assert parse_proc_sys_file("proc/sys/net/ipv4/ip_forward", "1")[0]["value"] == "1"
    assert parse_proc_sys_file("proc/sys/net/ipv4/ip_forward", "") == []


def test_proc_sys_file_garbage_and_foreign_paths_give_nothing():
    assert parse_proc_sys_file("etc/os-release", lab("os-release")) == []
    assert parse_proc_sys_file("proc/sys/", "1\n") == []
    assert parse_proc_sys_file("proc/sys/net/bad key/x", "1\n") == []
    assert parse_proc_sys_file(None, random_garbage(2)) == []
    garbage = parse_proc_sys_file("proc/sys/net/ipv4/ip_forward", random_garbage(3))
    assert len(garbage) <= 1 and all(line_of(fact["source"]) == 1 for fact in garbage)
