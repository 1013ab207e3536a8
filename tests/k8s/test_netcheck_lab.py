"""The network-check Job's script (taken from the manifest) run in a lab pod namespace, with the
one capability the Job declares (NET_RAW): it reports ok / FAILED / unresolvable in its log and
its exit status (0 / 1 / 2)."""

import subprocess

import pytest
import yaml
from calirules.lab import faults
from calirules.lab.topology import Lab

from tests.helpers import run_cli
from tests.k8s.lab_support import PREFIX
from tests.lab.support import skip_unless_lab

pytestmark = pytest.mark.lab


def _job_container():
    code, out, err = run_cli("k8s", "manifests")
    assert code == 0, err
    job = next(d for d in yaml.safe_load_all(out) if d["kind"] == "Job")
    return job["spec"]["template"]["spec"]["containers"][0]


def _run_check(lab, peer, attempts="3"):
    container = _job_container()
    capabilities = container["securityContext"]["capabilities"]["add"]
    me = lab.pod(0)
    env = {"POD_NAME": me.name, "POD_IP": me.ip, "NODE_NAME": "ck4-worker", "JOB_COMPLETION_INDEX": "0",
           "PEER": peer, "COUNT": "2", "HOLD_SECONDS": "0", "RESOLVE_ATTEMPTS": attempts,
           "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    bounding = "-all" + "".join(f",+{c.lower()}" for c in capabilities)
    argv = ["ip", "netns", "exec", me.netns, "setpriv", f"--bounding-set={bounding}", "--inh-caps=-all",
            *container["command"]]
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)


def test_same_node_pods_reach_each_other():
    skip_unless_lab("legacy")
    with Lab(f"{PREFIX}-chk", pods=2, backend="legacy") as lab:
        proc = _run_check(lab, lab.pod(1).ip)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "netcheck: ok: " in proc.stdout


def test_a_broken_node_fails_the_check():
    skip_unless_lab("legacy")
    with Lab(f"{PREFIX}-chkf", pods=2, backend="legacy") as lab:
        faults.inject(lab, "workload-route-missing")
        proc = _run_check(lab, lab.pod(1).ip)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "netcheck: FAILED: " in proc.stdout and "calirules diagnose --live" in proc.stdout


def test_an_unresolvable_peer_is_not_reported_as_a_data_plane_failure():
    skip_unless_lab("legacy")
    with Lab(f"{PREFIX}-chkn", pods=2, backend="legacy") as lab:
        proc = _run_check(lab, "ck4-no-such-peer.invalid", attempts="1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "cannot resolve ck4-no-such-peer.invalid" in proc.stdout
