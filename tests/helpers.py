"""Shared test helpers, imported as `tests.helpers` (conftest files stay fixture-only)."""

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
# The netns lab's captured command outputs (see that folder's README), and where a sosreport keeps each.
NETNS_LAB_RAW = REPO / "tests" / "fixtures" / "raw" / "netns-lab"
NETNS_LAB_SOS_NAMES = {
    "sysctl_-a": "sos_commands/kernel/sysctl_-a",
    "uname_-a": "sos_commands/kernel/uname_-a",
    "hostname": "sos_commands/host/hostname",
    "ip_-d_address": "sos_commands/networking/ip_-d_address",
    "ip_route_show_table_all": "sos_commands/networking/ip_route_show_table_all",
    "ip_-4_rule_list": "sos_commands/networking/ip_-4_rule_list",
    "nft_-a_list_ruleset": "sos_commands/firewall_tables/nft_-a_list_ruleset",
}


def run_cli(*args, env=None):
    """Run the CLI in this process through click's runner (exit code, stdout, stderr).

    The same `main` a user's process runs, with its exit-code mapping, without paying an
    interpreter start-up and the imports per call; `run_cli_process` is for the few tests that must
    see a real process (its streams, its environment, its start-up)."""
    from calirules.cli import main
    try:
        runner = CliRunner(mix_stderr=False)  # click < 8.2 mixes the streams unless told not to
    except TypeError:
        runner = CliRunner()
    with runner.isolation(env=env) as streams:
        stdout, stderr = streams[0], streams[1]
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code
        else:
            code = 0
    if code is None:
        code = 0
    elif not isinstance(code, int):
        code = 1
    return code, stdout.getvalue().decode(), stderr.getvalue().decode()


def run_cli_process(*args, cwd=None, env=None, timeout=120):
    """Run the installed CLI in a fresh process, as a user would (exit code, stdout, stderr)."""
    full_env = dict(os.environ, **(env or {}))
    proc = subprocess.run([sys.executable, "-m", "calirules", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr
