"""Live collection degrades to missing evidence: no tools, no root, no crash."""

import os
import shutil
import sys

import pytest
import yaml

from tests.helpers import run_cli


def collect(tmp_path, env=None, prefix=()):
    out = tmp_path / "dump.yaml"
    argv = [*prefix, sys.executable, "-m", "calirules", "collect", "--live", "-o", str(out)]
    import subprocess
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, **(env or {})), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return yaml.safe_load(out.read_text())


def test_without_any_tools_collect_finishes_and_says_what_it_could_not_read(tmp_path):
    dump = collect(tmp_path, env={"PATH": str(tmp_path / "empty")})
    reasons = {m["what"]: m.get("reason", "") for m in dump["collection"]["missing"]}
    assert reasons["sos_commands/networking/ip_-d_address"] == "ip: command not found"
    assert reasons["sos_commands/kernel/sysctl_-a"] == "sysctl: command not found"
    assert "interfaces" not in dump and "sysctls" not in dump
    # Diagnosing it would only claim a healthy node: with none of the core evidence it is refused.
    code, out, err = run_cli("diagnose", "--facts", tmp_path / "dump.yaml", "--format", "json")
    assert code == 2 and "not a node's facts: found none of" in err and out == ""


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to nobody")
def test_without_root_collect_finishes():
    import tempfile
    from pathlib import Path
    tmp_path = Path(tempfile.mkdtemp(prefix="calirules-nobody-"))  # pytest's tmp dirs are root-only
    tmp_path.chmod(0o777)
    dump = collect(tmp_path, prefix=("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"))
    assert "interfaces" in dump  # ip works unprivileged
    reasons = " ".join(m.get("reason", "") for m in dump["collection"]["missing"])
    assert "Permission denied" in reasons or "permission denied" in reasons
    shutil.rmtree(tmp_path)
