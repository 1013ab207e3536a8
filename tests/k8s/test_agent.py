"""The node agent's loop without a node: one compact JSON line per run, the status file the
readiness probe reads, failed runs, and the exit statuses (SIGTERM 0, Ctrl-C 130)."""

import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from calirules.base.errors import InputError
from calirules.k8s.agent import run_agent, status_line, write_status
from tests.helpers import REPO

HEALTHY = {"schema": "calirules/report/v1", "node": "n1", "verdict": "healthy",
           "causes": [{"id": "mtu-mismatch", "found": False, "text": "line one\nline two\u2028"}]}
FOUND = {"schema": "calirules/report/v1", "node": "n1", "verdict": "found",
         "causes": [{"id": "forward-policy-drop", "found": True}, {"id": "proxy-arp-disabled", "found": True},
                    {"id": "mtu-mismatch", "found": False}]}


class Scripted:
    """Stands in for the live diagnosis: returns (or raises) what it is given, run after run."""

    def __init__(self, *results, after=None):
        self.results = list(results)
        self.after = after

    def run(self, netns=None):
        if not self.results:
            if self.after:
                self.after()
            raise AssertionError("more runs than scripted")
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


def _run(tmp_path, *results, once=True, after=None):
    out, err = io.StringIO(), io.StringIO()
    status = tmp_path / "status"
    code = run_agent(0.0, status_file=str(status), once=once, out=out, err=err,
                     diagnoser=Scripted(*results, after=after))
    return code, out.getvalue(), err.getvalue(), status.read_text()


def test_healthy_run_is_one_json_line_and_ready(tmp_path):
    code, out, err, status = _run(tmp_path, HEALTHY)
    assert code == 0 and not err
    assert out.count("\n") == 1 and out.endswith("\n")
    assert json.loads(out) == HEALTHY  # newlines inside values are escaped, never raw
    assert status == "ready healthy\n"


def test_found_run_is_not_ready_and_names_the_causes(tmp_path):
    code, out, _err, status = _run(tmp_path, FOUND)
    assert code == 1 and json.loads(out)["verdict"] == "found"
    assert status == "not-ready found: forward-policy-drop,proxy-arp-disabled\n"


def test_failed_run_is_not_ready_with_its_reason_and_prints_no_report(tmp_path):
    code, out, err, status = _run(tmp_path, InputError("no network namespace named 'x'"))
    assert code == 1 and out == ""
    assert err.startswith("calirules: node-agent: run failed: InputError: ")
    assert status.startswith("not-ready error: InputError: ") and status.count("\n") == 1


def test_loop_keeps_going_after_a_failure_and_sigterm_ends_it_cleanly(tmp_path):
    # runs: failure, found, healthy; then the kubelet's SIGTERM arrives while waiting for the next
    code, out, err, status = _run(tmp_path, ValueError("garbled output"), FOUND, HEALTHY, once=False,
                                  after=lambda: os.kill(os.getpid(), signal.SIGTERM))
    assert code == 0
    assert [json.loads(line)["verdict"] for line in out.splitlines()] == ["found", "healthy"]
    assert "run failed" in err and status == "ready healthy\n"
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_status_line_for_inconclusive_is_ready():
    assert status_line({"verdict": "inconclusive", "causes": []}) == "ready inconclusive"


def test_status_file_is_replaced_whole(tmp_path):
    path = tmp_path / "status"
    write_status(str(path), "ready healthy")
    write_status(str(path), "not-ready found: x")
    assert path.read_text() == "not-ready found: x\n"
    assert os.listdir(tmp_path) == ["status"]  # no temporary file left behind


def _start_agent(tmp_path):
    status = tmp_path / "status"
    # a namespace that does not exist: every run fails fast, so the process is in its wait
    argv = [sys.executable, "-m", "calirules", "k8s", "node-agent", "--interval", "1h",
            "--status-file", str(status), "--netns", "ck4-no-such-namespace"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not status.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert status.read_text().startswith("not-ready error: InputError: no network namespace named")
    return proc


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_process_exit_status_on_signals(tmp_path, signum, code):
    proc = _start_agent(tmp_path)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert out == "" and "Traceback" not in err
