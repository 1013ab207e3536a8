"""Regenerate tests/fixtures/k8s/daemonset-logs/nodes.log (root, builds ck4 labs):

    .venv/bin/python -m tests.k8s.make_daemonset_logs

Two lab nodes run the DaemonSet's command as its container would (tests/k8s/node_view.py):
ck4-worker-a healthy, twice; ck4-worker-b healthy, then with forward-policy-drop injected. The
lines are written as `kubectl logs -l app.kubernetes.io/name=calirules --prefix --tail=-1`
prints them: pod by pod, each line after `[pod/NAME/CONTAINER] `.
"""

import tempfile
import time
from pathlib import Path

from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.helpers import REPO
from tests.k8s.lab_support import PREFIX, agent_lines
from tests.k8s.node_view import run_agent_on_lab

OUT = REPO / "tests" / "fixtures" / "k8s" / "daemonset-logs" / "nodes.log"
PODS = {"ck4-worker-a": "calirules-7bq2x", "ck4-worker-b": "calirules-m4k9s"}


def _runs(lab, hostname, scratch, inject=None):
    agent, probe, capabilities = agent_lines()
    lines = []
    for step in ("before", "after"):
        if step == "after":
            time.sleep(1.1)  # generated_at has one-second resolution: the runs must differ
            if inject:
                faults.inject(lab, inject)
        folder = Path(scratch) / step
        folder.mkdir()
        run = run_agent_on_lab(lab, agent, probe, capabilities, folder, hostname=hostname)
        lines += run.stdout.splitlines() + run.stderr.splitlines()
    return lines


def main():
    container = agent_lines()[0][0]
    text = []
    with tempfile.TemporaryDirectory() as scratch:
        for (node, pod), inject in zip(PODS.items(), (None, "forward-policy-drop")):
            with Lab(f"{PREFIX}-{node[-1]}", pods=2, backend="legacy") as lab:
                folder = Path(scratch) / node
                folder.mkdir()
                text += [f"[pod/{pod}/{container}] {line}" for line in _runs(lab, node, folder, inject)]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(text) + "\n")
    print(f"wrote {OUT} ({len(text)} lines)")


if __name__ == "__main__":
    main()
