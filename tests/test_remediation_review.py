"""Every row of shared/reference/remediation-review.md as a regression test.

Each test renders a lab example's remediation for the Calico release and install method the row
is about (the dump's `versions` and its calico-node pod listing set accordingly), and checks that
the wrong command or claim is gone and the right one is there. Row numbers are the review's.
"""

import copy
import re
from functools import lru_cache

import pytest
import yaml
from calirules.engine.rulebook import load_rulebook
from calirules.engine.runner import diagnose
from calirules.facts_collectors.dump import normalise

from calirules.report.build import build_report
from tests.helpers import EXAMPLES

VERSIONS = ["v3.11.3", "v3.17.0", "v3.22.0", "v3.26.0", "v3.29.0", "v3.32.0"]
INSTALLS = ["operator", "manifest", "unknown"]
POD_LISTING = "sos_commands/kubernetes/cluster-info/kubectl_get_--all-namespaces_true_pods:4"


@lru_cache(maxsize=None)
def _book():
    return load_rulebook()


@lru_cache(maxsize=None)
def _engine():
    """One compiled engine whose rete network is built once for the hundreds of reports below
    (the rule-matrix check's own reuse; reset() gives the same firings as a fresh engine)."""
    from calirules.engine.compiler import compile_engine

    from calirules.authoring.remediation_matrix import reusable_engine
    return reusable_engine(compile_engine(_book()))


@lru_cache(maxsize=None)
def _example(name):
    return yaml.load((EXAMPLES / f"{name}.yaml").read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def remediation(example, cause, calico="v3.26.0", install="manifest"):
    """The rendered remediation of `cause` in `example`, for that Calico release and install."""
    texts = [c["remediation"] for c in report_for(example, calico, install)["causes"] if c["id"] == cause]
    assert texts, f"{cause} not reported for {example}"
    return texts[0]


@lru_cache(maxsize=None)
def report_for(example, calico="v3.26.0", install="manifest"):
    """The JSON report of `example` as that Calico release, installed that way."""
    dump = copy.deepcopy(_example(example))
    dump["versions"] = [v for v in dump.get("versions") or () if v["component"] != "calico"]
    if calico:
        dump["versions"].append({"component": "calico", "version": calico, "source": "user"})
    # What `kubectl get pods --all-namespaces -o wide` in the bundle would show: this node's
    # calico-node in the install method's namespace, and a listing that covered every namespace
    # (so, for a manifest install, no tigera-operator anywhere).
    dump["components"] = [c for c in dump.get("components") or () if c["name"] != "calico-node"]
    dump.pop("kube_objects", None)
    if install != "unknown":
        namespace = "calico-system" if install == "operator" else "kube-system"
        dump["components"].append({"name": "calico-node", "ready": True, "status": "Running", "restarts": 0,
                                   "namespace": namespace, "pod": "calico-node-abcde",
                                   "node": dump["node"]["hostname"], "source": POD_LISTING})
        dump["kube_objects"] = [
            {"kind": "Pod", "component": "calico-node", "name": "calico-node-abcde", "namespace": namespace,
             "count": 1, "source": POD_LISTING},
            {"kind": "List", "of": "Pod", "source": POD_LISTING.rsplit(":", 1)[0] + ":1"}]
    return build_report(diagnose(normalise(dump), _book(), engine_class=_engine()), _book(), source="test")


def commands(text):
    return [line.strip()[2:] for line in text.splitlines() if line.strip().startswith("$ ")]


CALICO_NODE_CAUSES = ["bpf-dataplane-failed", "calico-chains-missing", "calico-node-not-ready",
                      "endpoint-not-programmed", "ipset-incompatible", "kernel-unsupported"]


@pytest.mark.parametrize("cause", CALICO_NODE_CAUSES)
@pytest.mark.parametrize("install", INSTALLS)
def test_rows_1_2_kubectl_logs_and_describe_name_this_nodes_pod(cause, install):
    text = remediation(cause, cause, install=install)
    for command in commands(text):
        assert not re.search(r"kubectl (logs|describe)\b.*\s-A\b", command), command
        assert not re.search(r"kubectl describe\b.*--field-selector", command.split("$(")[0]), command
        if command.startswith("kubectl logs"):
            assert " -n " in command and ("pod/calico-node-abcde" in command or "spec.nodeName=vm" in command)
    if install == "unknown" and "kubectl logs" in text:
        assert "-n calico-system" in text and "-n kube-system" in text  # both variants, labelled
        assert "(operator install" in text and "(manifest install" in text
    if install == "operator":
        assert "-n kube-system $(" not in text and "pod/calico-node-abcde" in text


@pytest.mark.parametrize("example,cause", [("iptables-backend-mismatch", "iptables-backend-mismatch"),
                                           ("ipset-incompatible", "ipset-incompatible"),
                                           ("version-skew", "version-skew")])
@pytest.mark.parametrize("install", INSTALLS)
def test_row_3_no_daemonset_label_selector(example, cause, install):
    text = remediation(example, cause, install=install)
    assert not re.search(r"get (daemonset|ds)\b[^|]*-l k8s-app=calico-node", text)


@pytest.mark.parametrize("version", VERSIONS)
def test_rows_4_5_calicoctl_all_namespaces_and_ipam_check_by_version(version):
    texts = [remediation("duplicate-pod-ip", "duplicate-pod-ip", version),
             remediation("endpoint-not-programmed", "endpoint-not-programmed", version),
             remediation("policy-denies", "policy-denies", version),
             remediation("workload-route-conflict", "workload-route-conflict", version),
             remediation("workload-veth-down", "workload-veth-down", version)]
    for text in texts:
        for command in commands(text):
            if command.startswith("calicoctl get workloadendpoints") or command.startswith("calicoctl get networkpolicy"):
                assert "--all-namespaces" in command and not re.search(r"\s-[aA]\b", command), command
            if "calicoctl ipam check" in command:
                assert version not in ("v3.11.3", "v3.17.0"), (version, command)
    assert ("$ calicoctl ipam check" in texts[0]) == (version not in ("v3.11.3", "v3.17.0"))


def test_rows_4_ipam_check_unknown_version_is_not_a_command():
    text = remediation("duplicate-pod-ip", "duplicate-pod-ip", calico=None)
    assert "$ calicoctl ipam check" not in text and "calicoctl v3.18 or later" in text


@pytest.mark.parametrize("cause", ["bpf-dataplane-failed", "kernel-unsupported"])
def test_row_6_leaving_ebpf_follows_the_installer_and_warns(cause):
    operator = remediation(cause, cause, "v3.28.0", "operator")
    assert "linuxDataplane" in operator and "bpfEnabled" not in "".join(commands(operator))
    manifest = remediation(cause, cause, "v3.26.0", "manifest")
    assert "calicoctl patch felixconfiguration default -p '{\"spec\":{\"bpfEnabled\":false}}'" in manifest
    assert "linuxDataplane" not in "".join(commands(manifest))
    for text in (operator, manifest):
        assert "cluster-wide" in text and "disrupts existing connections" in text and "kube-proxy" in text


@pytest.mark.parametrize("version,nft", [("v3.17.0", False), ("v3.29.0", True), (None, True)])
def test_row_7_chains_check_knows_nftables_mode(version, nft):
    text = remediation("calico-chains-missing", "calico-chains-missing", version)
    assert ("nft list tables" in text) == nft
    assert "must contain cali-FORWARD" not in text


def test_row_8_conntrack_max_survives_a_reboot():
    text = remediation("conntrack-table-full", "conntrack-table-full")
    assert "/etc/modules-load.d/conntrack.conf" in text and "maxPerCore" in text


def test_row_9_duplicate_ip_lines_once_and_a_verify_that_counts_routes():
    text = remediation("duplicate-pod-ip", "duplicate-pod-ip")
    lines = commands(text)
    listed = commands(text.split("Verify:")[0])
    assert len(set(listed)) == len(listed), listed  # two firings with one IP print it once
    assert not any(c.startswith("ip route get") for c in lines)
    assert any(c.startswith("ip -4 route show table all | grep -w") for c in lines)


def test_row_10_dispatch_child_chains():
    text = remediation("endpoint-not-programmed", "endpoint-not-programmed")
    assert "cali-to-wl-dispatch-<c>" in text and "cali-to-wl-dispatch must contain" not in text


@pytest.mark.parametrize("version,forward_chain", [("v3.11.3", True), ("v3.15.0", True), ("v3.16.0", False),
                                                   ("v3.26.0", False), (None, True)])
def test_row_11_where_calico_accepts_depends_on_the_release(version, forward_chain):
    text = remediation("forward-policy-drop", "forward-policy-drop", version)
    verify = text.split("Verify:")[1]
    assert ("-S cali-FORWARD" in verify) == forward_chain
    assert "Policy explicitly accepted packet." in verify


def test_row_12_docker_drop_policy_is_not_fixed_by_breaking_docker():
    text = remediation("forward-policy-drop", "forward-policy-drop")
    assert "DOCKER-USER" in text and "security trade-off" in text
    assert "set\n  \"iptables\": false" not in text and "breaks container networking" in text


def test_rows_13_to_16_host_firewall():
    text = remediation("host-firewall-rejects", "host-firewall-rejects")
    before_disable = text.split("$ systemctl disable --now firewalld")[0]
    assert "Warning: stopping or reloading firewalld" in before_disable and "maintenance window" in before_disable
    assert "--direct" not in text                                             # row 14
    assert "in order" not in text.split("Make it persistent:")[1].split("does not reorder")[0]  # row 15
    assert "$ systemctl is-active firewalld iptables ufw nftables" in text    # row 16
    assert "/etc/sysconfig/iptables" in text


@pytest.mark.parametrize("version,says", [
    ("v3.11.3", "never sets it"), ("v3.20.0", "sets net.ipv4.ip_forward=1 when it starts;"),
    ("v3.29.0", "unless the\n  FelixConfiguration says ipForwarding: Disabled"), (None, "before v3.15 nothing in Calico does")])
def test_row_17_who_sets_ip_forward(version, says):
    text = remediation("ip-forwarding-disabled", "ip-forwarding-disabled", version)
    assert says in text
    assert ("ipForwarding must not be Disabled" in text) == (version in ("v3.29.0", None))


@pytest.mark.parametrize("version,install,operator_edit,calicoctl_patch", [
    ("v3.28.1", "operator", True, False), ("v3.29.0", "operator", True, False), ("v3.26.0", "operator", False, True),
    ("v3.29.0", "manifest", False, True), (None, "unknown", True, True)])
def test_row_18_ip_pools_where_the_installer_keeps_them(version, install, operator_edit, calicoctl_patch):
    text = remediation("ip-pool-misconfigured", "ip-pool-misconfigured", version, install)
    assert ("kubectl edit installation.operator.tigera.io default" in text) == operator_edit
    assert ("$ calicoctl patch ippool" in text) == calicoctl_patch
    if operator_edit and version:  # the Installation's field exists from operator v1.36 (Calico v3.29)
        assert ("`disableNewAllocations: true`" in text) == (version >= "v3.29")


@pytest.mark.parametrize("version,upgrade", [("v3.26.0", True), ("v3.30.5", True), ("v3.30.6", False),
                                             ("v3.32.0", False)])
def test_row_19_ipset_fix_releases(version, upgrade):
    text = remediation("ipset-incompatible", "ipset-incompatible", version)
    assert ("v3.30.6, v3.31.3, v3.32.0" in text) == upgrade
    assert "v3.22.1 fixed" not in text


@pytest.mark.parametrize("version,says", [("v3.11.3", "defaults to Legacy"), ("v3.17.0", "defaults to Auto"),
                                          (None, "from v3.17 to Auto")])
def test_rows_20_21_backend_default_and_reboot(version, says):
    text = remediation("iptables-backend-mismatch", "iptables-backend-mismatch", version)
    assert says in text and "or Auto on Calico >= v3.12" not in text
    assert "does not remove its rules from the backend it stops using" in text and "reboot" in text


def test_row_22_modules_that_exist():
    text = remediation("kernel-module-missing", "kernel-module-missing")
    persist = [c for c in commands(text) if "modules-load.d" in c]
    assert persist and "ipt_rpfilter" in persist[0] and "xt_rpfilter" not in persist[0]


@pytest.mark.parametrize("install", INSTALLS)
def test_row_23_mtu_change_per_installer(install):
    text = remediation("mtu-mismatch", "mtu-mismatch", install=install)
    assert ("kubectl rollout restart daemonset calico-node -n kube-system" in text) == (install != "operator")
    assert ("installation.operator.tigera.io" in text) == (install != "manifest")
    assert "tunnel MTUs" in text


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("install", ["operator", "manifest"])
def test_rows_24_25_autodetection_by_release_and_installer(version, install):
    text = remediation("node-ip-autodetect-wrong", "node-ip-autodetect-wrong", version, install)
    old = version in ("v3.11.3", "v3.17.0")
    joined = "\n".join(commands(text))
    if install == "manifest":
        assert ("kubernetes-internal-ip" in joined) == (not old)
        assert "restarts calico-node on every node" in text
    else:
        assert '"firstFound":null' in joined
        assert ('"kubernetes":"NodeInternalIP"' in joined) == (not old)


def test_row_26_rp_filter_not_forced_strict():
    text = remediation("rp-filter-loose", "rp-filter-loose", "v3.11.3")
    assert not any("rp_filter=1" in c or "rp_filter = 1" in c for c in commands(text))
    assert "multi-homed" in text


def test_row_27_one_network_manager_line_everywhere():
    lines = set()
    for example, cause in (("workload-veth-down", "workload-veth-down"),
                           ("workload-route-missing", "workload-route-missing"),
                           ("network-manager-interference", "network-manager-interference")):
        lines |= {c for c in commands(remediation(example, cause)) if "unmanaged-devices" in c}
    assert len(lines) == 1 and "wg-v6.cali" in lines.pop()


def test_row_28_manual_route_is_a_stopgap():
    text = remediation("workload-route-conflict", "workload-route-conflict")
    assert text.index("Stopgap") < text.index("$ ip route replace")


def test_row_29_bgp_status_on_the_node_as_root():
    text = remediation("bgp-not-established", "bgp-not-established")
    assert "$ sudo calicoctl node status" in text and "as root" in text


def test_row_30_policy_routing_verify_uses_from_and_iif():
    text = remediation("policy-routing-override", "policy-routing-override")
    verify = [c for c in commands(text.split("Verify:")[1]) if c.startswith("ip route get")]
    assert verify and " from " in verify[0] and " iif " in verify[0]


EXAMPLE_NAMES = sorted(p.stem for p in EXAMPLES.glob("*.yaml"))


@pytest.mark.slow  # every example diagnosed four times over
@pytest.mark.parametrize("version", ["v3.11.3", "v3.32.0"])
@pytest.mark.parametrize("install", ["operator", "manifest"])
def test_every_example_renders_commands_that_run_as_printed(version, install):
    """The examples, as an old and a new Calico installed by the operator and by manifest: every
    cause's remediation renders, every `$ ` line passes the flag table for that release, and no
    line is printed for the other install method."""
    from calirules.authoring.commandcheck import check_commands
    other = "kube-system" if install == "operator" else "calico-system"
    other_label = "(manifest install" if install == "operator" else "(operator install"
    for name in EXAMPLE_NAMES:
        for found in report_for(name, version, install)["causes"]:
            cause, text = found["id"], found["remediation"]
            assert check_commands(text, version) == [], (name, cause)
            calico_node_lines = [c for c in commands(text) if "calico-node" in c]
            assert not any(f"-n {other} " in c for c in calico_node_lines), (name, cause)
            assert other_label not in text, (name, cause)



def test_every_release_feature_is_read_by_a_template():
    """engine/data/calico-features.yaml holds only what remediation uses: no dead knowledge."""
    from calirules.engine.calico_features import catalog
    templates = "".join(p.read_text() for p in (EXAMPLES.parent / "templates" / "remediation").glob("*.j2"))
    unused = [name for name in catalog() if f"calico.has.{name}" not in templates]
    assert not unused, unused
