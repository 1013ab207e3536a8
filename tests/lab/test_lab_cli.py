"""The `lab` click group, in-process (state files go to a temporary directory)."""

from __future__ import annotations

import json

import pytest
from calirules.lab import cli, netns
from click.testing import CliRunner


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("CALIRULES_LAB_STATE_DIR", str(tmp_path))
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(cli.lab, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_refuses_without_root(run, monkeypatch):
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000)
    for args in (["up"], ["status"], ["down"], ["inject", "workload-veth-down"], ["ping", "0", "1"]):
        result = run(*args)
        assert result.exit_code == 2, args
        assert "must run as root" in result.output


def test_cli_lifecycle(run, lab_tools, tmp_path):
    lab_tools.skip_unless_lab("nft")
    prefix = lab_tools.new_prefix()
    try:
        r = run("up", "--pods", 3, "--backend", "nft", "--prefix", prefix)
        assert r.exit_code == 0, r.output
        assert (tmp_path / f"{prefix}.json").exists()
        assert run("up", "--prefix", prefix).exit_code == 2          # already up

        assert run("ping", "--prefix", prefix, "pod-0", "pod-2").exit_code == 0
        r = run("inject", "--prefix", prefix, "--dst", "pod-2", "workload-route-conflict",
                "-o", "target=other")
        assert r.exit_code == 0, r.output
        assert "expect: ping pod-0 pod-2 fails" in r.output
        r = run("ping", "--prefix", prefix, "0", "2")
        assert r.exit_code == 1 and "FAILED" in r.output
        assert run("ping", "--prefix", prefix, "0", "1").exit_code == 0

        r = run("status", "--prefix", prefix, "--json")
        info = json.loads(r.output)
        assert info["backend"] == "nft" and info["complete"] and len(info["pods"]) == 3
        assert [i["fault_id"] for i in info["injected"]] == ["workload-route-conflict"]

        assert run("inject", "--prefix", prefix, "no-such-fault").exit_code == 2
        assert run("inject", "--prefix", prefix, "workload-veth-down", "-o", "x=1").exit_code == 2
        r = run("inject", "--prefix", prefix, "mtu-mismatch")
        assert "passes" in r.output and "--df" in r.output

        # without the state file the lab is recovered from the namespaces
        (tmp_path / f"{prefix}.json").unlink()
        r = run("status", "--prefix", prefix)
        assert r.exit_code == 0 and "pod-2" in r.output
    finally:
        r = run("down", "--prefix", prefix)
    assert r.exit_code == 0
    assert not [n for n in netns.list_netns() if n.startswith(prefix + "-")]
    assert not list(tmp_path.iterdir())
    assert run("down", "--prefix", prefix).exit_code == 0
    assert run("status", "--prefix", prefix).exit_code == 1


def test_faults_command_lists_every_fault(run):
    r = run("faults")
    assert r.exit_code == 0
    for fault_id in ("mtu-mismatch", "policy-denies", "endpoint-not-programmed"):
        assert fault_id in r.output
