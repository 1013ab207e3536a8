"""The DaemonSet's loop: diagnose this node live every interval, print each report as one compact
JSON line on stdout (what `kubectl logs` keeps and `calirules fleet` reads), and write a status
file the readiness probe reads: Ready = no cause found, NotReady = a cause found or the run failed.

The engine is compiled once; each run is the same pipeline as `calirules diagnose --live
--format json` (live collection, rules, report document).
"""

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time

from calirules.base.errors import InputError

# The probe's test: the status file's first word. Anything else (no file yet, "not-ready") is NotReady.
READY_WORD = "ready"
NOT_READY_WORD = "not-ready"
_CORE_SECTIONS = ("interfaces", "routes", "sysctls")
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_interval(text):
    """'10m' -> 600.0 seconds; also '30s', '1h', '90' (seconds). At least one second."""
    match = _INTERVAL.match(str(text))
    if not match:
        raise InputError(f"--interval: {text!r} is not a duration; give e.g. 30s, 10m or 1h")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 1:
        raise InputError(f"--interval: {text!r} is shorter than one second; give e.g. 30s, 10m or 1h")
    return seconds


class Diagnoser:
    """The rulebook loaded and the engine compiled once, for every run of the loop."""

    def __init__(self, rules_dirs=()):
        from calirules.engine.compiler import compile_engine
        from calirules.engine.rulebook import load_rulebook
        from calirules.base import templating
        self.rulebook = load_rulebook(rules_dirs, with_tests=False)
        self.engine_class = compile_engine(self.rulebook)
        self.env = templating.rule_environment(self.rulebook.template_dirs)

    def run(self, netns=None):
        """One live diagnosis of this node: the calirules/report/v1 document."""
        from calirules.engine.runner import trace
        from calirules.facts_collectors.live import collect_live
        from calirules.report.build import build_report
        label = f"live:{netns}" if netns else "live"
        dump = collect_live(netns)
        if not any(dump.get(section) for section in _CORE_SECTIONS):
            raise InputError("live collection found no interfaces, routes or sysctls "
                             "(is the agent in the node's network namespace, with iproute2 and procps?)")
        diagnosis, _facts, _firings = trace(dump, self.rulebook, None, self.engine_class)
        return build_report(diagnosis, self.rulebook, source=label, env=self.env)


def status_line(report):
    """The status file's one line: 'ready <verdict>' or 'not-ready found: <cause ids>'."""
    found = [cause["id"] for cause in report["causes"] if cause["found"]]
    if found:
        return f"{NOT_READY_WORD} found: {','.join(found)}"
    return f"{READY_WORD} {report.get('verdict', 'healthy')}"


def write_status(path, line):
    """Replace the status file in one step: the probe never reads half a line."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".status-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(line + "\n")
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


class _Stop(Exception):
    """SIGTERM: the kubelet stops the pod; leave cleanly (exit 0)."""


def run_agent(interval, status_file=None, once=False, netns=None, rules_dirs=(), out=None, err=None,
              diagnoser=None):
    """The loop. Returns the exit status: 0 after SIGTERM (or, with `once`, when no cause was
    found), 1 with `once` when a cause was found or the run failed. Ctrl-C (SIGINT) propagates
    as KeyboardInterrupt (the command line exits 130)."""
    out = out or sys.stdout
    err = err or sys.stderr
    stop = threading.Event()
    writing = threading.Event()

    def on_term(_signum, _frame):
        stop.set()
        if not writing.is_set():  # never cut a report line or the status file in half
            raise _Stop

    previous = signal.signal(signal.SIGTERM, on_term) if threading.current_thread() is threading.main_thread() else None
    try:
        diagnoser = diagnoser or Diagnoser(rules_dirs)
        while True:
            started = time.monotonic()
            ok = _one_run(diagnoser, netns, status_file, out, err, writing)
            if stop.is_set():
                return 0
            if once:
                return 0 if ok else 1
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
    except _Stop:
        return 0
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_run(diagnoser, netns, status_file, out, err, writing):
    """One diagnosis: its JSON line on `out`, its status line in the file. True when no cause was found."""
    try:
        report = diagnoser.run(netns)
    except (InputError, OSError, RuntimeError, ValueError, KeyError, TypeError) as exc:
        # A failed run is NotReady with its reason; the loop goes on (the next run may succeed).
        reason = " ".join(str(exc).split())[:300]
        line = f"{NOT_READY_WORD} error: {type(exc).__name__}: {reason}"
        err.write(f"calirules: node-agent: run failed: {type(exc).__name__}: {reason}\n")
        err.flush()
        text = None
    else:
        line = status_line(report)
        text = json.dumps(report, separators=(",", ":"), ensure_ascii=True) + "\n"
    writing.set()
    try:
        if text is not None:
            out.write(text)
            out.flush()
        if status_file:
            write_status(status_file, line)
    finally:
        writing.clear()
    return line.startswith(READY_WORD + " ")
