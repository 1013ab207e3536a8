"""The contract every fuzzed input must keep, checked around one in-process CLI call."""

import os
import threading
import time
from contextlib import contextmanager

from tests.fuzz.budget import EXAMPLE_SECONDS
from tests.helpers import run_cli


def run_within(*args, seconds=EXAMPLE_SECONDS):
    """run_cli, timed: (exit code, stdout, stderr, seconds taken)."""
    started = time.monotonic()
    code, out, err = run_cli(*args)
    return code, out, err, time.monotonic() - started


def assert_contract(code, out, err, took, *, seconds=EXAMPLE_SECONDS):
    """Exit 0, 1 or 2; on 2 exactly one stderr line `calirules: error: ...`; never a traceback;
    never an internal error (exit 3); done within the time bound."""
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    assert code in (0, 1, 2), f"exit {code}: {err[-2000:]}"
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("calirules: error: "), repr(err[-2000:])
    assert took < seconds, f"took {took:.1f} s"


def assert_lint_contract(code, out, err, took, *, seconds=EXAMPLE_SECONDS):
    """`rules lint` lists every problem, one a line: exit 0 or 2, no traceback, no internal error."""
    assert "Traceback" not in err and "Traceback" not in out, err[-3000:]
    assert code in (0, 2), f"exit {code}: {err[-2000:]}"
    assert "internal error" not in err, err[-2000:]
    if code == 2:
        assert err.strip(), "exit 2 must say what is wrong"
    assert took < seconds, f"took {took:.1f} s"


@contextmanager
def fifo_unblocked_after(path, seconds):
    """If something opens the FIFO at `path` for reading and waits for a writer, open the write end
    after `seconds` so the reader sees end-of-file: a hang becomes a slow call the time bound
    reports, instead of a test run that never ends."""
    done = threading.Event()

    def unblock():
        if done.wait(seconds):
            return
        while not done.wait(0.1):  # a reader may come later: keep offering a writer until the call ends
            try:
                fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # no reader waiting (ENXIO) or the FIFO is gone
                continue
            os.close(fd)

    thread = threading.Thread(target=unblock, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
