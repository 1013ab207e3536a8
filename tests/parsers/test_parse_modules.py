from calirules.facts_collectors.parsers.modules import parse_lsmod, parse_proc_modules
from rawfixtures import (
    UNRELATED_TEXT,
    cut_inside_line,
    lab,
    quoted,
    random_garbage,
    validate_facts,
)


def test_lsmod_quoted_sample():
    modules = parse_lsmod(quoted("lsmod.insights-core"), "lsmod")
    assert modules == [
        {"name": "xt_CHECKSUM", "state": "loaded", "source": "lsmod:2"},
        {"name": "ipt_MASQUERADE", "state": "loaded", "source": "lsmod:3"},
        {"name": "nf_nat_masquerade_ipv4", "state": "loaded", "source": "lsmod:4"},  # unaligned columns
        {"name": "bridge", "state": "loaded", "source": "lsmod:5"},
    ]
    validate_facts(kernel_modules=modules)


def test_lsmod_cut_mid_line_keeps_the_modules_before():
    modules = parse_lsmod(cut_inside_line(quoted("lsmod.insights-core"), 4, keep=12), "lsmod")
    assert [module["name"] for module in modules] == ["xt_CHECKSUM", "ipt_MASQUERADE"]


def test_lsmod_on_a_kernel_without_modules_gives_nothing():
    # The lab kernel has no loadable modules: lsmod prints only libkmod's errors.
    assert "could not open /proc/modules" in lab("lsmod")
    assert parse_lsmod(lab("lsmod"), "lsmod") == []
    assert parse_lsmod(random_garbage(60), "x") == []
    assert parse_lsmod(UNRELATED_TEXT, "x") == []
    assert parse_lsmod(lab("ip_-4_rule_list"), "x") == []


# No real /proc/modules could be captured here (the lab kernel has no loadable modules, see
# tests/fixtures/raw/README.md), so this input is written in the kernel's format
# (kernel/module/procfs.c m_show: name size refcount users-or-"-" state address [taints]).
PROC_MODULES_FORMAT = (
    "vxlan 53248 0 - Live 0x0000000000000000\n"
    "ip6_udp_tunnel 16384 1 vxlan, Live 0x0000000000000000\n"
    "nf_conntrack_netlink 36864 0 - Live 0xffffffffc0a1b000 (E)\n"
    "leaving 16384 0 - Unloading 0x0000000000000000\n"
)


def test_proc_modules_format():
    modules = parse_proc_modules(PROC_MODULES_FORMAT, "proc/modules")
    assert modules == [
        {"name": "vxlan", "state": "loaded", "source": "proc/modules:1"},
        {"name": "ip6_udp_tunnel", "state": "loaded", "source": "proc/modules:2"},
        {"name": "nf_conntrack_netlink", "state": "loaded", "source": "proc/modules:3"},
    ]
    validate_facts(kernel_modules=modules)


def test_proc_modules_cut_mid_line_keeps_the_modules_before():
    modules = parse_proc_modules(cut_inside_line(PROC_MODULES_FORMAT, 3, keep=25), "proc/modules")
    assert [module["name"] for module in modules] == ["vxlan", "ip6_udp_tunnel"]


def test_proc_modules_error_and_garbage_give_nothing():
    assert lab("proc/modules").startswith("cat: /proc/modules: No such file or directory")
    assert parse_proc_modules(lab("proc/modules"), "proc/modules") == []
    assert parse_proc_modules(random_garbage(61), "x") == []
    assert parse_proc_modules(quoted("lsmod.insights-core"), "x") == []
    assert parse_proc_modules(UNRELATED_TEXT, "x") == []
