"""Run the DaemonSet's command as its container sees a node, with a lab namespace as the node.

The container is in the node's network namespace (hostNetwork), sees the pod network namespaces
the host mount gives it at /var/run/netns, reads the host's /var/log, writes its status file to
an emptyDir at /run/calirules, and holds only the capabilities the manifest adds. Here:
`ip netns exec <lab node>` (which also mounts /sys for that namespace, as the container's /sys
is), then a private mount (and UTS) namespace in which /run is a fresh tmpfs, /var/run/netns
shows only this lab's pods, /var/log is an empty directory (the lab node has no logs; other labs'
namespaces and this machine's logs are not the lab node's), then `setpriv` limits the capability
bounding set to the declared list, as the container runtime does for uid 0. The readiness
probe's command runs the same way, inside the same mount namespace, while the agent is up; then
the agent gets SIGTERM, as from the kubelet. Nothing is mounted outside the private namespaces.
"""

import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


@dataclass
class AgentRun:
    stdout: str        # the agent's log (stdout)
    stderr: str
    status: str        # the status file's text when the probe ran
    probe_code: int    # the readiness probe's exit status: 0 Ready
    agent_code: int    # the agent's exit status after SIGTERM


def _q(value):
    return shlex.quote(str(value))


def run_agent_on_lab(lab, agent_argv, probe_argv, capabilities, scratch, hostname=None, timeout=300):
    scratch = Path(scratch)
    view, logs = scratch / "netns-view", scratch / "empty-log"
    view.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    status_file = agent_argv[agent_argv.index("--status-file") + 1]
    limited = f"setpriv --bounding-set=-all{''.join(f',+{c.lower()}' for c in capabilities)} --inh-caps=-all"
    lines = ["set -e"]
    for name in lab.pod_namespaces:
        lines.append(f"touch {_q(view / name)} && mount --bind /var/run/netns/{_q(name)} {_q(view / name)}")
    lines += [
        f"mount --bind {_q(logs)} /var/log",
        "mount -t tmpfs -o size=4m,mode=755 calirules-run /run",
        "mkdir /run/netns /run/calirules",
        f"mount --rbind {_q(view)} /run/netns",  # with the pod binds under it
        *([f"hostname {_q(hostname)}"] if hostname else []),
        "set +e",
        f"export PATH={_q(VENV_BIN)}:$PATH",
        f"{limited} {' '.join(map(_q, agent_argv))} >{_q(scratch / 'out')} 2>{_q(scratch / 'err')} &",
        "agent=$!",
        # the first run's status (the agent writes it whole, by rename)
        f"i=0; while [ ! -s {_q(status_file)} ] && [ $i -lt 1200 ] && kill -0 $agent 2>/dev/null; do sleep 0.1; i=$((i+1)); done",
        f"{limited} {' '.join(map(_q, probe_argv))}; echo \"probe=$?\" >{_q(scratch / 'result')}",
        f"cat {_q(status_file)} >{_q(scratch / 'status')} 2>/dev/null",
        "kill -TERM $agent; wait $agent; echo \"agent=$?\" >>" + _q(scratch / "result"),
    ]
    argv = ["ip", "netns", "exec", lab.node_ns, "unshare", "--mount", "--uts", "--propagation", "private",
            "sh", "-c", "\n".join(lines)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    result = dict(line.split("=", 1) for line in (scratch / "result").read_text().split())
    status = scratch / "status"
    return AgentRun((scratch / "out").read_text(), (scratch / "err").read_text(),
                    status.read_text() if status.exists() else "", int(result["probe"]), int(result["agent"]))
