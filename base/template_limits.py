"""What one render of a rule-supplied template may spend, and the size estimates that enforce it.

A template from a rules directory is user input that runs: without limits, nested loops run for
hours and `'%.1000000000f'|format(1.0)` asks for gigabytes in one step. The sandbox
(template_sandbox.py) counts every step a template takes against a Budget (CPU time, memory
growth) and, before each operation that can multiply its input (`*`, `**`, `%`, widths, joins,
repeats), estimates the result here and refuses one that would pass the caps below.
"""

import os
import re
import string
import sys
import time
from collections.abc import ItemsView, KeysView, Mapping, ValuesView

try:
    import resource
except ImportError:  # not on Windows: the memory check is then off, the size caps still hold
    resource = None

TIME_LIMIT_S = 2.0            # CPU seconds for one render; ours take milliseconds
MEMORY_LIMIT = 256 << 20      # growth of the process's resident memory during one render
MAX_TEXT = 1 << 20            # characters in any string a template makes, and in its output
MAX_ITEMS = 100_000           # items in a list or tuple a template makes (Jinja's own range cap)
MAX_INT_BITS = 1 << 16        # bits of an integer a template makes (~20,000 digits)
CHECK_EVERY = 16              # steps between looks at the clock and at memory


class LimitExceeded(Exception):
    """A template asked for more time, memory or text than a render may use."""


class Budget:
    """One render's allowance; `step()` is called by every sandbox hook."""

    def __init__(self):
        self.deadline = time.process_time() + TIME_LIMIT_S
        self.countdown = CHECK_EVERY
        self._statm = self.memory_cap = None  # set at the first check: most renders end before it

    def step(self):
        self.countdown -= 1
        if self.countdown <= 0:
            self.check()

    def check(self):
        """Look at the clock and at memory: every CHECK_EVERY steps."""
        self.countdown = CHECK_EVERY
        if time.process_time() > self.deadline:
            raise LimitExceeded(f"ran past {TIME_LIMIT_S:g} s of CPU time (a loop that nests too deep?)")
        if self.memory_cap is None:
            self._statm = _open_statm()
            self.memory_cap = self.resident() + MEMORY_LIMIT
        elif self.resident() > self.memory_cap:
            raise LimitExceeded(f"grew memory by more than {MEMORY_LIMIT >> 20} MiB")

    def resident(self):
        """Resident memory in bytes now (Linux), else the process's peak; 0 when unknown."""
        if self._statm is not None:
            return int(os.pread(self._statm, 64, 0).split()[1]) * _PAGE
        if resource is not None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            return peak if sys.platform == "darwin" else peak * 1024  # macOS counts bytes, Linux KiB
        return 0

    def close(self):
        if self._statm is not None:
            os.close(self._statm)
            self._statm = None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _open_statm():
    # Opened per render, not once: after a fork /proc/self would still name the parent.
    try:
        return os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None


# --- caps -------------------------------------------------------------------------------------

def check_text(size, what):
    if size > MAX_TEXT:
        raise LimitExceeded(f"{what}: about {_count(size)} characters, over the {MAX_TEXT:,} a template may make")


def check_items(count, what):
    if count > MAX_ITEMS:
        raise LimitExceeded(f"{what}: {_count(count)} items, over the {MAX_ITEMS:,} a template may make")


def check_int_bits(bits, what):
    if bits > MAX_INT_BITS:
        raise LimitExceeded(f"{what}: a number of about {_count(bits * 3 // 10)} digits, over the "
                            f"{MAX_INT_BITS * 3 // 10:,} a template may make")


def _count(n):
    return f"{n:,}" if n < 10**15 else "more than 10^15"


# --- estimates ----------------------------------------------------------------------------------

def text_size(value, limit=MAX_TEXT):
    """Characters that str(value) takes, over-estimated for containers (their repr quotes and
    separates), counting shared items each time they appear: `[s] * 1000` prints s 1000 times.
    Stops counting once past `limit`."""
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) + 2
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 2
        elif isinstance(item, (Mapping, list, tuple, set, frozenset, KeysView, ValuesView, ItemsView)):
            total += 2 + 4 * len(item)
            if total > limit:
                return total
            pending.extend(item.items() if isinstance(item, Mapping) else item)
        elif type(item).__name__ == "Namespace":  # jinja's namespace(): prints its attributes
            total += 12
            pending.append(getattr(item, "_Namespace__attrs", {}))
        else:  # a float, a context object, a jinja object: short, or ours (bounded by the dump)
            total += 64
        if total > limit:
            return total
    return total


def _big(number_text):
    """An integer written in a format spec; a long run of digits counts as past every cap."""
    return int(number_text) if len(number_text) <= 18 else 10**18


_PRINTF_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def printf_size(fmt, args):
    """Characters of `fmt % args`: the arguments printed, plus every width and precision."""
    size = len(fmt) + text_size(args)
    for width, precision in _PRINTF_SPEC.findall(fmt):
        for number in (width, precision):
            if number == "*":
                size += _ints_in(args)
            elif number:
                size += _big(number)
    return size


def format_size(fmt, args, kwargs):
    """Characters of `fmt.format(*args, **kwargs)`; None when fmt does not parse (str.format then
    raises the same error itself)."""
    size = len(fmt) + text_size(args) + text_size(kwargs)
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return None
    for _literal, _field, spec, _conversion in fields:
        if spec:
            size += sum(_big(n) for n in re.findall(r"\d+", spec))
            if "{" in spec:  # a width taken from an argument: count every integer given
                size += _ints_in(args) + _ints_in(kwargs)
    return size


def _ints_in(values):
    if isinstance(values, Mapping):
        values = values.values()
    elif not isinstance(values, (list, tuple)):
        values = [values]
    return sum(abs(v) for v in values if isinstance(v, int))
