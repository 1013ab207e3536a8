"""The source guide's case, rebuilt in the lab and written as the sosreport its node would give.

The guide's node: Calico v3.11.3 on Kubernetes v1.19.16, Ubuntu 22.04, whose `iptables` is the
nf_tables variant while Calico (Felix < v3.17 defaults to legacy) programs the legacy backend;
Docker, running beside containerd, set FORWARD policy DROP and its DOCKER chains through
iptables-nft; `net.ipv4.conf.all.rp_filter = 2` (Ubuntu's default); calico-node Running 1/1 with
0 restarts for 2h13m. Pods on the node cannot ping each other.

What the kernel can show is real: a lab node whose Calico-shaped chains are in legacy, Docker's
rules and the DROP policy applied with iptables-nft, rp_filter set in the node namespace, the
ping failing. What a namespace cannot have (versions, the OS, the Kubernetes API, container
logs) is written as the tools print it: os-release, `kubectl version`, `kubectl get nodes`,
`kubectl get pods` (sos's kubernetes plugin, >= 4.8 names) and calico-node's container log with
Felix's start-up line.
"""

from __future__ import annotations

from pathlib import Path

from calirules.lab import faults, netns
from calirules.lab.bundles import write_sosreport
from calirules.lab.topology import Lab

CALICO_VERSION = "v3.11.3"
KUBERNETES_VERSION = "v1.19.16"
CALICO_NODE_AGE = "2h13m"

# Docker's filter rules as dockerd (libnetwork) installs them with the default bridge docker0;
# FORWARD's DROP policy is set by the iptables-backend-mismatch fault (mode=policy).
DOCKER_FILTER = """*filter
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -j RETURN
COMMIT
"""

UBUNTU_2204 = """PRETTY_NAME="Ubuntu 22.04.4 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.4 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""

_VERSION_INFO = ('version.Info{Major:"1", Minor:"19", GitVersion:"v1.19.16", '
                 'GitCommit:"e37e4ab4cc8dcda84f1344dda47a97bb1927d074", GitTreeState:"clean", '
                 'BuildDate:"2021-10-27T16:20:18Z", GoVersion:"go1.15.15", Compiler:"gc", Platform:"linux/amd64"}')
KUBECTL = "sos_commands/kubernetes/cluster-info/kubectl_--kubeconfig_.etc.kubernetes.admin.conf"
CALICO_NODE_POD = "calico-node-x7k2p"
CALICO_NODE_LOG = (f"var/log/pods/kube-system_{CALICO_NODE_POD}_3f0c2b1e-7d0a-4a8e-9f21-5b6c7d8e9f00/"
                   "calico-node/0.log")


def node_files(lab: Lab, hostname: str) -> dict:
    """The files of the guide's node that a network namespace cannot produce, in their tools' formats.

    Felix's start-up line carries felix v3.11.3's commit (projectcalico/felix tag v3.11.3) and its
    date as the build date; the kubectl version line is v1.19.16's release build."""
    pods = "".join(f"default       {p.name:<40} 1/1     Running   0          2h5m\n" for p in lab.pods)
    felix = (f"2026-11-27T07:47:12.311904331Z stderr F 2026-11-27 07:47:12.311 [INFO][48] felix/daemon.go 136: "
             f"Felix starting up GOMAXPROCS=2 builddate=2020-05-22T19:05:12+0000 "
             f"gitcommit=e8b5e6f3a93bc0ed5914ed3e2f1b868908d2217b version={CALICO_VERSION}\n")
    return {
        "etc/os-release": UBUNTU_2204,
        f"{KUBECTL}_version": f"Client Version: {_VERSION_INFO}\nServer Version: {_VERSION_INFO}\n",
        f"{KUBECTL}_get_nodes": f"NAME{' ' * max(1, len(hostname) - 1)}STATUS   ROLES    AGE   VERSION\n"
                                f"{hostname}   Ready    master   41d   {KUBERNETES_VERSION}\n",
        f"{KUBECTL}_get_--all-namespaces_true_pods":
            "NAMESPACE     NAME                                       READY   STATUS    RESTARTS   AGE\n"
            + pods
            + "kube-system   calico-kube-controllers-7854b85cf7-xq2kd   1/1     Running   0          41d\n"
            + f"kube-system   {CALICO_NODE_POD:<40} 1/1     Running   0          {CALICO_NODE_AGE}\n"
            + "kube-system   coredns-f9fd979d6-4wzj8                    1/1     Running   0          41d\n",
        CALICO_NODE_LOG: felix,
    }


def break_like_the_guide(lab: Lab) -> faults.Injection:
    """Docker in nft (chains + FORWARD DROP) beside Calico in legacy, and loose rp_filter."""
    assert lab.backend == "legacy", "the guide's Calico programs the legacy backend"
    lab.iptables_restore(DOCKER_FILTER, noflush=True, backend="nft")
    injection = faults.inject(lab, "iptables-backend-mismatch", mode="policy")
    lab.sysctl_set({"net.ipv4.conf.all.rp_filter": 2})
    return injection


def write_guide_sosreport(parent: Path, *, prefix: str = "crg", extras: bool = False,
                          archive: str | None = None) -> tuple[Path, bool]:
    """Build the guide's node in the lab, write its sosreport; return (bundle path, ping worked)."""
    with Lab(prefix, pods=2, backend="legacy") as lab:
        injection = break_like_the_guide(lab)
        ping_ok = lab.ping(injection.src, injection.dst)
        hostname = netns.exec_in(lab.node_ns, ["hostname"]).stdout.strip() or "lab-node"
        bundle = write_sosreport(lab, Path(parent), archive=archive, extras=extras, host_iptables="nft",
                                 files=node_files(lab, hostname))
    return bundle, ping_ok
