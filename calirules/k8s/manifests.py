"""`calirules k8s manifests`: the Kubernetes objects that run calirules on every node.

- A Namespace labelled for the privileged Pod Security level (the agent needs hostNetwork,
  host mounts and network capabilities, which the baseline level refuses).
- The node agent: a ServiceAccount with no API access and a DaemonSet in the node's network
  namespace, with read-only host mounts and the capabilities the collection commands need
  (measured one by one in the lab with a reduced capability bounding set):
    NET_ADMIN  netlink dumps: nft list ruleset, iptables-nft-save, conntrack -S, ipset list
    NET_RAW    iptables-legacy-save opens a raw IP socket to read the legacy tables
    SYS_ADMIN  setns() into each pod network namespace (ip netns exec); left out with
               pod_namespaces=False, at the cost of the pods' own interfaces, routes and neighbours
  Not granted: SYSLOG (dmesg with kernel.dmesg_restrict=1; kernel lines come from the host's
  /var/log instead), privileged, hostPID, hostIPC, any write to the host.
- The same-node network check: an Indexed Job of two pods held on one node, each pinging the
  other's pod IP and reporting in its log and exit status.
"""

import yaml

from calirules.base import __version__

NAME = "calirules"
LABEL_NAME = "app.kubernetes.io/name"
AGENT_CAPABILITIES = ("NET_ADMIN", "NET_RAW", "SYS_ADMIN")
STATUS_DIR = "/run/calirules"
STATUS_FILE = f"{STATUS_DIR}/status"
NETCHECK = "calirules-netcheck"

# (volume name, host path, hostPath type, mount path, why). Each is mounted read-only at the
# same path, because live collection reads those absolute paths. Types that must exist are
# checked ("Directory"/"File"), so a missing path stops the pod instead of the kubelet
# creating it on the host.
HOST_MOUNTS = (
    ("var-log", "/var/log", "Directory",
     "calico-node and CNI logs (/var/log/calico, /var/log/pods, /var/log/containers) and the kernel "
     "and kubelet lines of syslog/kern.log"),
    ("cni-config", "/etc/cni/net.d", "Directory", "Calico's CNI configuration (10-calico.conflist)"),
    ("cni-bin", "/opt/cni/bin", "Directory", "the Calico CNI plugin, run with -v for its version"),
    ("os-release", "/etc/os-release", "File", "the node's operating system, not the image's"),
    ("kernel-modules", "/lib/modules", "Directory",
     "modules.builtin: tells a built-in nf_tables/ip_tables from one not loaded (never loads one)"),
)
# Pod network namespaces: HostToContainer so the namespaces of pods started after the agent appear.
# DirectoryOrCreate: a node that has run no pod yet lacks it; the runtime creates the same empty
# directory with its first pod.
NETNS_MOUNT = ("pod-netns", "/run/netns", "DirectoryOrCreate", "/var/run/netns",
               "the pod network namespaces the runtime pins there (ip netns exec)")
# /proc/sys/net and /proc/net answer for the reader's network namespace, so hostNetwork alone
# gives the node's network sysctls, and /sys is mounted for the pod's (= the node's) namespace:
# neither needs a host mount.


def manifests(namespace=NAME, image=None, interval="10m", node=None, pod_namespaces=True,
              priority_class=None):
    """The documents, in apply order."""
    image = image or f"{NAME}:{__version__}"
    return [
        _namespace(namespace),
        _service_account(NAME, namespace),
        _daemonset(namespace, image, interval, pod_namespaces, priority_class),
        _service_account(NETCHECK, namespace),
        _netcheck_service(namespace),
        _netcheck_job(namespace, image, node),
    ]


def render(documents):
    """One multi-document YAML stream."""
    return "".join("---\n" + yaml.safe_dump(doc, sort_keys=False, width=100) for doc in documents)


def agent_command(interval="10m"):
    """The DaemonSet container's command line (tests run this very list in the lab)."""
    return [NAME, "k8s", "node-agent", "--interval", interval, "--status-file", STATUS_FILE]


def _labels(component, name=NAME):
    # The check's pods carry their own name: `kubectl logs -l app.kubernetes.io/name=calirules` is the agents only.
    return {LABEL_NAME: name, "app.kubernetes.io/component": component}


def _namespace(namespace):
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {
                # hostNetwork, hostPath and NET_ADMIN/NET_RAW/SYS_ADMIN are outside the baseline level
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "privileged"}}}


def _service_account(name, namespace):
    # No Role or binding: neither the agent nor the check reads the Kubernetes API, and no token is mounted.
    return {"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": _labels("service-account", name)},
            "automountServiceAccountToken": False}


def _daemonset(namespace, image, interval, pod_namespaces, priority_class):
    mounts = [(name, host, kind, host, why) for name, host, kind, why in HOST_MOUNTS]
    if pod_namespaces:
        mounts.append(NETNS_MOUNT)
    capabilities = [c for c in AGENT_CAPABILITIES if pod_namespaces or c != "SYS_ADMIN"]
    volume_mounts = [{"name": name, "mountPath": path, "readOnly": True,
                      **({"mountPropagation": "HostToContainer"} if name == NETNS_MOUNT[0] else {})}
                     for name, _host, _kind, path, _why in mounts]
    volume_mounts.append({"name": "status", "mountPath": STATUS_DIR})
    volumes = [{"name": name, "hostPath": {"path": host, "type": kind}} for name, host, kind, _path, _why in mounts]
    volumes.append({"name": "status", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}})
    container = {
        "name": NAME,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": agent_command(interval),
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "securityContext": {
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            # uid 0: Kubernetes gives added capabilities to a non-root user only through file
            # capabilities on each binary (no ambient set), and iptables-legacy-save also reads
            # /proc/net/ip_tables_names (mode 0440, root). The root filesystem stays read-only.
            "runAsUser": 0,
            "runAsNonRoot": False,
            "capabilities": {"drop": ["ALL"], "add": capabilities},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # Ready = the last run found no cause; NotReady = a cause (or a failed run): `kubectl get
        # pods` shows the broken nodes, the status file says which causes.
        "readinessProbe": {"exec": {"command": ["grep", "-q", "^ready ", STATUS_FILE]},
                           "initialDelaySeconds": 20, "periodSeconds": 30, "failureThreshold": 1},
        "resources": {"requests": {"cpu": "50m", "memory": "128Mi"},
                      "limits": {"cpu": "1", "memory": "512Mi"}},
        "volumeMounts": volume_mounts,
    }
    spec = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "hostNetwork": True,  # the node's network namespace: its links, routes, sysctls, netfilter
        "hostPID": False,
        "hostIPC": False,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "tolerations": [{"operator": "Exists"}],  # every node, tainted or not (control plane too)
        "containers": [container],
        "volumes": volumes,
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": namespace, "labels": _labels("node-agent")},
        "spec": {
            "selector": {"matchLabels": {LABEL_NAME: NAME}},
            # NotReady means "a cause found", not "broken agent": a rollout must not wait for
            # broken nodes to heal, so every pod is replaced at once.
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
            "template": {"metadata": {"labels": _labels("node-agent")}, "spec": spec},
        },
    }


# Each pod pings its peer (the other index) by the name the headless Service gives it, then stays
# up long enough for the peer's pings. Exit 0 = reached, 1 = no reply, 2 = the peer's name never
# resolved (DNS or scheduling: not the same-node path; the log says which).
NETCHECK_SCRIPT = r"""set -u
me="${POD_NAME} ${POD_IP} on ${NODE_NAME}"
peer="${PEER:-%(job)s-$((1 - JOB_COMPLETION_INDEX)).%(job)s}"
ip=""
for attempt in $(seq "${RESOLVE_ATTEMPTS:-60}"); do
  ip="$(getent ahostsv4 "$peer" | awk 'NR == 1 {print $1}')"
  [ -n "$ip" ] && break
  sleep 2
done
if [ -z "$ip" ]; then
  echo "netcheck: ${me}: cannot resolve ${peer}: DNS or scheduling, not the same-node path"
  sleep "${HOLD_SECONDS:-60}"
  exit 2
fi
echo "netcheck: ${me} -> ${peer} (${ip})"
if ping -c "${COUNT:-5}" -W 2 "$ip"; then
  echo "netcheck: ok: ${POD_IP} -> ${ip} same node ${NODE_NAME}"; code=0
else
  echo "netcheck: FAILED: ${POD_IP} -> ${ip} same node ${NODE_NAME}; run calirules diagnose --live on ${NODE_NAME}"; code=1
fi
sleep "${HOLD_SECONDS:-60}"
exit "$code"
""" % {"job": NETCHECK}


def _netcheck_service(namespace):
    # Headless, listing pods before they are Ready: gives each Job pod a DNS name
    # (<job>-<index>.<service>) without granting anyone API access.
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": NETCHECK, "namespace": namespace, "labels": _labels("network-check", NETCHECK)},
            "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                     "selector": {"job-name": NETCHECK}}}


def _netcheck_job(namespace, image, node):
    field = lambda path: {"valueFrom": {"fieldRef": {"fieldPath": path}}}  # noqa: E731
    spec = {
        "serviceAccountName": NETCHECK,
        "automountServiceAccountToken": False,
        "subdomain": NETCHECK,
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        # Both pods on one node: each requires a pod of this Job on its node (the first one is
        # placed by matching its own term, the second follows it).
        "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
            "labelSelector": {"matchLabels": {"job-name": NETCHECK}},
            "topologyKey": "kubernetes.io/hostname"}]}},
        "containers": [{
            "name": "netcheck",
            "image": image,
            "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", NETCHECK_SCRIPT],
            "env": [{"name": "POD_NAME", **field("metadata.name")},
                    {"name": "POD_IP", **field("status.podIP")},
                    {"name": "NODE_NAME", **field("spec.nodeName")}],
            "securityContext": {
                "privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                # ping opens a raw ICMP socket where net.ipv4.ping_group_range does not allow datagram ones
                "runAsUser": 0, "runAsNonRoot": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_RAW"]},
                "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "64Mi"}},
        }],
    }
    if node:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": NETCHECK, "namespace": namespace, "labels": _labels("network-check", NETCHECK)},
        "spec": {"completionMode": "Indexed", "completions": 2, "parallelism": 2, "backoffLimit": 0,
                 "activeDeadlineSeconds": 600, "ttlSecondsAfterFinished": 3600,
                 "template": {"metadata": {"labels": _labels("network-check", NETCHECK)}, "spec": spec}},
    }
