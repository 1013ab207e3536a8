"""Bundles for the fleet tests, made from real output: the netns lab's captured commands
(tests/fixtures/raw/netns-lab, see its README for how they were made) laid out as a sosreport or
a calicoctl cluster diags bundle, and the lab-made facts dumps of examples/. Variants change only
what tells nodes apart (hostname, node IP, versions, MTU, the IPAM block)."""

import json
import re
import shutil
import tarfile

from tests.helpers import EXAMPLES, run_cli
from tests.helpers import NETNS_LAB_RAW as RAW
from tests.helpers import NETNS_LAB_SOS_NAMES as SOS_NAMES

NODE_IP = re.compile(r"\b198\.18\.0\.10\b")  # crp-node's uplink address in the capture
BLOCK = "198.18.128.0/26"  # its blackhole (IPAM block) route
CLUSTER_NAMES = {"ip_-d_address": "ip-addr.txt", "ip_-d_route_show_table_all": "ip-route.txt",
                 "ip_-4_rule_list": "ip-rule.txt", "nft_-a_list_ruleset": "nft-ruleset.txt",
                 "iptables-legacy-save_-c": "iptables-legacy-save.txt"}
CALICO_FILE = "sos_commands/sos_extras/calico/opt.cni.bin.calico_-v"
KUBE_FILE = "sos_commands/kubernetes/cluster-info/kubectl_version"


def _variant(text, ip=None, block=None, uplink_mtu=None):
    if ip:
        text = NODE_IP.sub(ip, text)
    if block:
        text = text.replace(BLOCK, block)
    if uplink_mtu:
        text = "\n".join(re.sub(r"mtu \d+", f"mtu {uplink_mtu}", line) if re.search(r"\beth0\b.*\bmtu\b", line) else line
                         for line in text.split("\n"))
    return text


def sosreport(parent, hostname, ip=None, calico="v3.29.1", kubernetes="v1.30.4", block=None, uplink_mtu=None):
    root = parent / f"sosreport-{hostname}-2026-11-01-abcdefg"
    for raw, target in SOS_NAMES.items():
        path = root / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_variant((RAW / raw).read_text(), ip, block, uplink_mtu))
    (root / SOS_NAMES["hostname"]).write_text(f"{hostname}\n")
    (root / "version.txt").write_text("sos report: 4.12.0\n")
    if calico:
        (root / CALICO_FILE).parent.mkdir(parents=True, exist_ok=True)
        (root / CALICO_FILE).write_text(f"{calico}\n")
    if kubernetes:
        (root / KUBE_FILE).parent.mkdir(parents=True, exist_ok=True)
        (root / KUBE_FILE).write_text(f"Client Version: v1.31.4\nServer Version: {kubernetes}\n")
    return root


def cluster_diags(parent, nodes, archive=True):
    """A calicoctl cluster diags bundle with these nodes ({name: {"ip":..., "block":...}})."""
    top = "calico-diagnostics-20261101_100000"
    root = parent / top
    (root / "cluster").mkdir(parents=True)
    (root / "cluster" / "version.yaml").write_text("serverVersion:\n  gitVersion: v1.30.4\n")
    for name, variant in nodes.items():
        node_dir = root / "nodes" / name
        node_dir.mkdir(parents=True)
        for raw, target in CLUSTER_NAMES.items():
            (node_dir / target).write_text(_variant((RAW / raw).read_text(), **variant))
    if not archive:
        return root
    target = parent / f"{top}.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        tar.add(root, arcname=top)
    shutil.rmtree(root)
    return target


def dump(parent, example, hostname, ip=None):
    """An examples/ facts dump (live lab collections) as another node: hostname, and uplink address."""
    text = (EXAMPLES / example).read_text()
    text = text.replace("  hostname: vm\n", f"  hostname: {hostname}\n")
    if ip:
        text = re.sub(r"\b198\.19\.0\.1\b", ip, text)
    path = parent / f"{hostname}.yaml"
    path.write_text(text)
    return path


def report(path):
    """The calirules/report/v1 document `diagnose --format json` makes of a facts dump."""
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "json")
    assert code in (0, 1), err
    return json.loads(out)


def fleet_json(*args):
    code, out, err = run_cli("fleet", *args, "--format", "json")
    assert "Traceback" not in err
    return code, (json.loads(out) if out else None), err
