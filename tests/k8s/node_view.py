"""Run a command as the DaemonSet's container sees a node, with a lab namespace as the node.

The container is in the node's network namespace (hostNetwork), sees the pod network namespaces
the host mount gives it at /var/run/netns, reads the host's /var/log, and holds only the
capabilities the manifest adds. Here: `ip netns exec <lab node>` (which also mounts /sys for that
namespace, as the container's /sys is), then a private mount namespace in which /var/run/netns
shows only this lab's pods and /var/log is an empty directory (the lab node has no logs; other
labs' namespaces and this machine's logs would not be the lab node's), then `setpriv` limits the
capability bounding set to the declared list, as the container runtime does for uid 0.
Nothing is mounted outside the private mount namespace.
"""

import shlex
import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def node_view_argv(lab, argv, capabilities, scratch):
    """The argv that runs `argv` in the lab's node namespace with the container's view."""
    view = Path(scratch) / "netns-view"
    logs = Path(scratch) / "empty-log"
    view.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    binds = []
    for name in lab.pod_namespaces:
        binds.append(f"touch {shlex.quote(str(view / name))} && "
                     f"mount --bind /var/run/netns/{shlex.quote(name)} {shlex.quote(str(view / name))}")
    bounding = "-all" + "".join(f",+{c.lower()}" for c in capabilities)
    command = " && ".join([
        *binds,
        f"mount --rbind {shlex.quote(str(view))} /var/run/netns",  # with the pod binds under it
        f"mount --bind {shlex.quote(str(logs))} /var/log",
        f"PATH={shlex.quote(str(VENV_BIN))}:$PATH exec setpriv --bounding-set={bounding} --inh-caps=-all "
        + " ".join(shlex.quote(a) for a in argv),
    ])
    return ["ip", "netns", "exec", lab.node_ns, "unshare", "--mount", "--propagation", "private",
            "sh", "-c", command]


def run_in_node_view(lab, argv, capabilities, scratch, timeout=180, **kwargs):
    return subprocess.run(node_view_argv(lab, argv, capabilities, scratch), capture_output=True, text=True,
                          timeout=timeout, **kwargs)
