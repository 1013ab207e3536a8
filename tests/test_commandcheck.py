"""The command checker (calirules/commandcheck.py), the shell splitting it relies on (shellwords.py) and the flag
table it reads (flagtable.py, engine/data/cli-flags.yaml)."""

import random
import string

import pytest

from calirules.authoring.commandcheck import (
    check_command,
    check_commands,
    command_lines,
)
from calirules.authoring.flagtable import TableError, load_table, shipped_table


def reasons(line, version=None):
    return [p.reason for p in check_command(line, version)]


# --- valid commands pass --------------------------------------------------------------------------

@pytest.mark.parametrize("line,version", [
    ("calicoctl get workloadendpoints --all-namespaces -o wide", "v3.11.3"),
    ("calicoctl get workloadendpoints --all-namespaces -o wide", "v3.17.0"),
    ("calicoctl get workloadendpoints --all-namespaces -o wide", "v3.32.0"),
    ("calicoctl get workloadendpoints --all-namespaces -o wide", None),
    ("calicoctl get wep -A -o wide", "v3.18.0"),
    ("calicoctl get wep -a -o wide", "v3.17.0"),
    ("calicoctl ipam check --show-problem-ips", "v3.18.0"),
    ("calicoctl ipam show --ip=198.18.8.11", None),
    ("calicoctl patch felixconfiguration default -p '{\"spec\":{\"bpfEnabled\":false}}'", None),
    ("kubectl logs -n calico-system pod/calico-node-abcde -c calico-node --tail=200 --previous", None),
    ("kubectl -n kube-system logs calico-node-abcde -c calico-node --tail 200", None),
    ("kubectl get pods -A -l k8s-app=calico-node --field-selector spec.nodeName=vm -o wide", None),
    ("kubectl delete pod -A -l k8s-app=calico-node --field-selector spec.nodeName=vm", None),
    ("kubectl exec -n default web-0 -- ip neigh show 169.254.1.1", None),
    ("ip -o link show | grep -E 'cali|tunl0|vxlan.calico'", None),
    ("ip -4 route show table all | grep -w 198.18.8.11", None),
    ("ip route get 198.18.8.3 from 198.18.8.2 iif cali1a2b3c4d5e6", None),
    ("ip addr show dev eth0", None),
    ("iptables-legacy-save -c | grep -c cali-", None),
    ("iptables-nft -L FORWARD -v -n --line-numbers", None),
    ("iptables -L -vn", None),
    ("iptables-legacy -P FORWARD ACCEPT", None),
    ("printf 'net.ipv4.ip_forward = 1\\n' > /etc/sysctl.d/99-calico-forwarding.conf", None),
    ("printf 'nf_conntrack\\n' | tee -a /etc/modules-load.d/conntrack.conf >/dev/null 2>&1", None),
    ("grep -rnE 'ip_forward|conf\\.all\\.forwarding' /etc/sysctl.conf /etc/sysctl.d", None),
    ("sysctl -w net.ipv4.ip_forward=1 && sysctl --system", None),
    ("journalctl -k --since '-10 min'", None),
    ("systemctl disable --now firewalld; systemctl is-active firewalld iptables nftables", None),
    ("sudo -E FOO=bar env -u HOME ip -d link show", None),
    ("nft list table ip calico", None),
    ("ipset list -t", None),
    ("firewall-cmd --permanent --direct --add-rule ipv4 filter FORWARD 0 -i cali+ -j ACCEPT", None),
    ("echo_free=1 modinfo -F filename ipt_rpfilter", None),
    ("bpftool net", None),
    ("ip rule show   # the rules, by priority", None),
])
def test_valid_commands_pass(line, version):
    assert check_command(line, version) == []


# --- and wrong ones fail, saying why ---------------------------------------------------------------

def test_kubectl_logs_has_no_all_namespaces():
    problems = check_command("kubectl logs -A -l k8s-app=calico-node -c calico-node --tail=200")
    assert [(p.invocation, p.flag) for p in problems] == [("kubectl logs", "-A")]
    assert problems[0].reason.startswith("kubectl logs: no flag -A (KUBECTL pkg/cmd/logs/logs.go")


def test_kubectl_logs_and_describe_have_no_field_selector():
    assert reasons("kubectl logs -n kube-system --field-selector spec.nodeName=vm")[0].startswith(
        "kubectl logs: no flag --field-selector")
    assert reasons("kubectl describe pods -A -l k8s-app=calico-node --field-selector spec.nodeName=vm")[0].startswith(
        "kubectl describe: no flag --field-selector")


def test_calicoctl_short_all_namespaces_depends_on_the_release():
    assert reasons("calicoctl get wep -A", "v3.17.0")[0].startswith(
        "calicoctl get: flag -A is only in Calico v3.18 and later (CALICOCTL@v3.18.0")
    assert reasons("calicoctl get wep -A", "v3.18.0") == []
    assert reasons("calicoctl get wep -a", "v3.18.0")[0].startswith(
        "calicoctl get: flag -a is only in Calico releases before v3.18")
    unknown = reasons("calicoctl get wep -A")
    assert "Calico version is unknown" in unknown[0] and "v3.11 to v3.32" in unknown[0]


def test_calicoctl_ipam_check_needs_3_18():
    problem, = check_command("calicoctl ipam check", "v3.17.0")
    assert problem.invocation == "calicoctl ipam check" and problem.flag is None
    assert "this subcommand is only in Calico v3.18 and later" in problem.reason
    assert check_command("calicoctl ipam check", "v3.26.0") == []
    assert check_command("calicoctl ipam check") != []  # unknown version: must hold from v3.11


@pytest.mark.parametrize("line,expected", [
    ("iptables-restart", "unknown command 'iptables-restart'"),
    ("calicoctl ipam", "calicoctl ipam: needs a subcommand (check, release, show)"),
    ("calicoctl ipam leak", "calicoctl ipam: no subcommand 'leak'"),
    ("kubectl logs -n kube-system calico-node-x --tail", "kubectl logs: flag --tail needs a value"),
    ("grep -rxZ cali /etc", "grep: no flag -Z (in -rxZ)"),
    ("ip link show -d", "ip link show: no flag -d"),  # ip reads options before the object only
    ("ip -j route", "ip: no flag -j"),  # not in iproute2 4.11 (RHEL 7)
    ("systemctl frobnicate firewalld", "systemctl: no subcommand 'frobnicate'"),
    ("update-alternatives --query iptables", "update-alternatives: no flag --query"),  # RHEL's has none
    ("printf -x", "printf: no flag -x"),
])
def test_wrong_commands_fail(line, expected):
    assert any(expected in r for r in reasons(line)), reasons(line)


def test_pipelines_lists_and_substitutions_are_checked_command_by_command():
    line = ("kubectl logs -n calico-system $(kubectl get pod -n calico-system -l k8s-app=calico-node "
            "--field-selector spec.nodeName=vm -o name --bogus) -c calico-node | grep -c ERROR && calicoctl ipam check")
    problems = check_command(line, "v3.17.0")
    assert {(p.invocation, p.flag) for p in problems} == {("kubectl get", "--bogus"), ("calicoctl ipam check", None)}
    assert all(p.command == line for p in problems)  # reported against the printed line
    assert reasons("ip -o link show | grep -Z cali") == [reasons("grep -Z cali")[0]]
    assert [p.invocation for p in check_command("true || iptables-restart")] == ["true", "iptables-restart"]
    assert [p.invocation for p in check_command("x=`calicoctl ipam` ip route")] == ["calicoctl ipam"]


def test_redirections_and_their_files_are_not_arguments():
    assert check_command("iptables-save -t filter > /tmp/-Z 2>&1") == []
    assert check_command("grep -c cali- </tmp/rules >>/tmp/count") == []
    assert reasons("iptables-save >") == ["cannot be read as a shell command line: > has no file after it"]


def test_placeholders_would_be_redirections():
    problem, = check_command("ip route get <peer address>")
    assert problem.reason.startswith("placeholder <peer address>: a shell reads < and > as redirections")
    assert check_command("ip route get 198.18.8.3") == []


def test_command_lines_are_the_dollar_lines():
    text = ("What to change:\n  run it\nCommands:\n  $ ip rule show\n  $ ip route show \\\n      table 100\n"
            "  not $ this\n$ nft list ruleset")
    assert command_lines(text) == ["ip rule show", "ip route show  table 100", "nft list ruleset"]
    assert check_commands(text) == []


@pytest.mark.parametrize("text", [
    "", "$ ", "$ '", '$ "', "$ $(", "$ `", "$ )", "$ |||", "$ \\", "$ <", "$ >", "$ --", "$ -", "$ $(((",
    "$ " + "$(" * 200 + "ip" + ")" * 200, "$ " + "a " * 5000, "\x00$ ip\x00", "$ ip \u2028 route",
])
def test_garbage_never_raises(text):
    assert isinstance(check_commands(text, "v3.17.0"), list)
    assert isinstance(check_commands(text, "not a version"), list)


def test_random_garbage_never_raises():
    rng = random.Random(8)
    alphabet = string.printable + "$()`'\"<>|&;\\é"
    for _ in range(3000):
        text = "$ " + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 50)))
        check_commands(text, rng.choice([None, "v3.17.0", "garbage"]))
    assert check_commands(None) == [] and check_commands(b"$ ip") == []


# --- the table ---------------------------------------------------------------------------------

def test_shipped_table_covers_what_remediation_prints():
    table = shipped_table()
    for command in ("kubectl", "calicoctl", "ip", "sysctl", "iptables", "iptables-legacy", "iptables-nft",
                    "iptables-save", "iptables-legacy-save", "iptables-nft-save", "iptables-restore", "nft",
                    "firewall-cmd", "systemctl", "journalctl", "grep", "printf", "cat", "tee", "modprobe", "modinfo",
                    "lsmod", "update-alternatives", "crictl", "conntrack", "ipset", "ping", "tcpdump", "ethtool"):
        assert command in table, command


def test_every_entry_names_its_source():
    def walk(node):
        assert node.source, node.path
        for flag in node.flags.values():
            assert flag.source or not (flag.since or flag.until), f"{node.path} {flag.spelling}"
        for child in node.subcommands.values():
            walk(child)
    for node in shipped_table().values():
        walk(node)


@pytest.mark.parametrize("document,message", [
    ({}, "`commands:`"),
    ({"commands": {"x": {"flags": {}}}}, "x: every entry names its source"),
    ({"commands": {"x": {"source": "s", "flags": {"-a": "maybe"}}}}, "takes must be one of"),
    ({"commands": {"x": {"source": "s", "flags": {"-a": {"takes": "flag", "since": "3.18", "source": "s"}}}}},
     "only for a command with calico_versions"),
    ({"commands": {"x": {"source": "s", "colour": "blue"}}}, "unknown key(s) colour"),
    ({"commands": {"x": {"same_as": "y", "source": "s"}}}, "same_as needs a command of the table"),
])
def test_malformed_tables_are_refused(document, message):
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_table(document)


def test_a_table_can_be_given():
    table = load_table({"commands": {"tool": {"source": "here", "flags": {"-q --quiet": "flag"}}}})
    assert check_command("tool -q", table=table) == []
    assert [p.reason for p in check_command("tool -v", table=table)] == ["tool: no flag -v (here)"]
