#!/usr/bin/env python3
"""CPU to diagnose a sosreport directory with calirules, beside insights-core parsing it, in one run.

Usage: python bench/sosdir_bench.py SOSREPORT_DIR [--repeat 7] [--insights-python PY]
                                    [--baseline CALIRULES] [--no-strace]

Times fresh processes, interleaved round by round so machine noise falls on all of them alike,
and prints the median CPU (user + sys, from wait4) and wall time of each, then the ratio:
  calirules   `python -m calirules diagnose --sosreport DIR` (this tree, whole diagnosis: read,
              parse, rules, text report)
  baseline    `CALIRULES diagnose --sosreport DIR` with --baseline (e.g. an older install)
  insights    insights-core parsing the same directory, nothing else: the driver below loads the
              default specs (as `insights-run` does, so that the sosreport context and its file
              specs exist) and runs `insights.run(PARSERS, root=DIR)`, no rules, no formatter.
PARSERS are insights-core's stock parsers for the files calirules also reads there:
  Uname (sos_commands/kernel/uname_-a), HostnameDefault (sos_commands/host/hostname),
  OsRelease (etc/os-release), Sysctl (sos_commands/kernel/sysctl_-a), IpAddr
  (sos_commands/networking/ip_-d_address), IpLinkInfo (ip_-s_-d_link), IpNeighShow
  (ip_-s_-s_neigh_show), RouteDevices (ip_route_show_table_all).
insights-core has no sosreport spec for the rest of what calirules reads (the sos-extras
iptables-save and ipset outputs, `nft list ruleset`, the per-namespace `ip` outputs, conntrack
counters), so it parses less than calirules does.

insights-core is found by --insights-python, else $INSIGHTS_PYTHON, else this interpreter; it
is skipped with a message when none can import it (CI does not install it). To install it:
  python3 -m venv /tmp/insights && /tmp/insights/bin/pip install insights-core==3.8.4
Every child runs with its bytecode cached under one temporary PYTHONPYCACHEPREFIX (warmed by one
untimed run each; PYTHONDONTWRITEBYTECODE is dropped), as an installed package would run.
With strace on PATH, one more run of each under `strace -f -c` counts stat-like system calls
(stat, lstat, fstat, newfstatat, statx), directory reads (getdents64), opens and all calls.
This is a script, not a test: timing assertions in a shared CI box are noise.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

INSIGHTS_PARSERS = ("insights.parsers.uname.Uname", "insights.parsers.hostname.HostnameDefault",
                    "insights.parsers.os_release.OsRelease", "insights.parsers.sysctl.Sysctl",
                    "insights.parsers.ip.IpAddr", "insights.parsers.ip.IpLinkInfo",
                    "insights.parsers.ip.IpNeighShow", "insights.parsers.ip.RouteDevices")

# argv: ROOT [--check]. With --check it says which parsers gave a result and fails if one did not.
INSIGHTS_DRIVER = f"""
import importlib, sys
import insights
names = {INSIGHTS_PARSERS!r}
parsers = [getattr(importlib.import_module(n.rpartition(".")[0]), n.rpartition(".")[2]) for n in names]
insights.load_default_plugins()
broker = insights.run(parsers, root=sys.argv[1])
if "--check" in sys.argv:
    missing = [n for n, p in zip(names, parsers) if p not in broker.instances]
    print(insights.package_info["VERSION"], "missing:", " ".join(missing) or "none")
    sys.exit(1 if missing else 0)
"""

STAT_CALLS = {"stat", "lstat", "fstat", "newfstatat", "statx", "stat64", "lstat64", "fstat64", "fstatat64"}


def run_once(argv, env):
    """(CPU seconds user+sys, wall seconds) of one fresh process; exits on a failed run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # calirules: 1 is "a cause was found"
        raise SystemExit(f"{' '.join(argv)} failed ({code}): {proc.stderr.read().decode()[-2000:]}")
    proc.stderr.close()
    return usage.ru_utime + usage.ru_stime, wall


def syscall_counts(argv, env, workdir):
    """{syscall: calls} of one run under `strace -f -c`."""
    out = workdir / "strace.txt"
    subprocess.run(["strace", "-f", "-c", "-o", str(out), *argv], env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    counts = {}
    for line in out.read_text().splitlines():
        words = line.split()
        # "% time  seconds  usecs/call  calls  [errors]  syscall"; the total line says "total"
        if len(words) >= 5 and words[-1] != "total" and words[0][0].isdigit() and words[3].isdigit():
            counts[words[-1]] = int(words[3])
    return counts


def find_insights(wanted, env):
    """(python, version) of an interpreter that imports insights-core, or (None, why)."""
    candidates = [p for p in (wanted, os.environ.get("INSIGHTS_PYTHON"), sys.executable) if p]
    for python in candidates:
        try:
            proc = subprocess.run([python, "-c", "import insights; print(insights.package_info['VERSION'])"],
                                  capture_output=True, text=True, env=env, timeout=120, check=False)
        except OSError:
            continue
        if proc.returncode == 0:
            return python, proc.stdout.strip()
        if python == wanted:
            return None, f"{python} cannot import insights ({(proc.stderr.strip().splitlines() or ['?'])[-1]})"
    return None, "insights-core is not installed here"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path, help="a sosreport directory")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (median)")
    parser.add_argument("--insights-python", help="a Python that has insights-core installed")
    parser.add_argument("--baseline", help="another calirules executable to time beside this tree's")
    parser.add_argument("--no-strace", action="store_true", help="do not count system calls")
    args = parser.parse_args()
    if not args.bundle.is_dir():
        raise SystemExit(f"{args.bundle}: not a directory")
    bundle = str(args.bundle.resolve())

    workdir = Path(tempfile.mkdtemp(prefix="calirules-sosdir-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")

    commands = {"calirules diagnose": [sys.executable, "-m", "calirules", "diagnose", "--sosreport", bundle]}
    if args.baseline:
        commands["baseline diagnose"] = [args.baseline, "diagnose", "--sosreport", bundle]
    insights_python, insights_version = find_insights(args.insights_python, env)
    if insights_python:
        driver = workdir / "insights_parse.py"
        driver.write_text(INSIGHTS_DRIVER)
        check = subprocess.run([insights_python, str(driver), bundle, "--check"], capture_output=True, text=True,
                               env=env, check=False)
        print(f"insights-core {check.stdout.strip() or check.stderr.strip()[-500:]}")
        if check.returncode != 0:
            print("insights-core did not parse every file it was given: its figure is not comparable")
        commands[f"insights-core {insights_version} parse"] = [insights_python, str(driver), bundle]
    else:
        print(f"insights-core skipped: {insights_version} (python3 -m venv /tmp/insights && "
              "/tmp/insights/bin/pip install insights-core==3.8.4, then --insights-python /tmp/insights/bin/python)")

    entries = sum(len(dirs) + len(files) for _, dirs, files in os.walk(bundle))
    print(f"bundle: {bundle} ({entries} entries)")
    print(f"machine: {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}; "
          f"median of {args.repeat} fresh processes each, interleaved")
    for argv in commands.values():
        run_once(argv, env)  # warm the bytecode cache and the page cache
    runs = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, argv in commands.items():
            runs[name].append(run_once(argv, env))

    counts = {}
    if not args.no_strace and shutil.which("strace"):
        counts = {name: syscall_counts(argv, env, workdir) for name, argv in commands.items()}
    elif not args.no_strace:
        print("strace not found: system calls not counted")

    header = f"{'':28} {'CPU s':>7} {'(min':>6} {'max)':>6} {'wall s':>7}"
    if counts:
        header += f" {'stat-like':>10} {'getdents':>9} {'openat':>7} {'syscalls':>9}"
    print(header)
    cpu = {}
    for name, results in runs.items():
        cpus = [c for c, _ in results]
        cpu[name] = statistics.median(cpus)
        line = (f"{name:28} {cpu[name]:7.3f} {min(cpus):6.3f} {max(cpus):6.3f} "
                f"{statistics.median(w for _, w in results):7.3f}")
        if counts:
            calls = counts[name]
            line += (f" {sum(n for s, n in calls.items() if s in STAT_CALLS):10d} {calls.get('getdents64', 0):9d}"
                     f" {calls.get('openat', 0):7d} {sum(calls.values()):9d}")
        print(line)
    insights_name = next((name for name in cpu if name.startswith("insights-core")), None)
    for name, value in cpu.items():
        if insights_name and name != insights_name:
            print(f"{name} / {insights_name}: {value / cpu[insights_name]:.2f} (CPU)")
    if args.baseline:
        print(f"calirules diagnose / baseline diagnose: {cpu['calirules diagnose'] / cpu['baseline diagnose']:.2f} (CPU)")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
