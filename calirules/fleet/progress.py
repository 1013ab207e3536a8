"""A one-line progress bar on stderr when stderr is a terminal (N/M nodes, the node being read);
nothing at all otherwise, so logs and pipes stay clean."""

import re
import shutil
import sys
import time


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # a file name must not move the cursor


class Progress:
    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = _is_tty(self.stream)
        self._last = 0.0
        self._shown = False

    def __call__(self, done, total, current):
        if not self.enabled:
            return
        now = time.monotonic()
        if current is not None and now - self._last < 0.1 and done < total:
            return  # a redraw per job is flicker and, over 1,000 nodes, measurable work
        self._last = now
        width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
        bar_width = 24
        filled = bar_width * done // total if total else bar_width
        head = f"[{'#' * filled}{'.' * (bar_width - filled)}] {done}/{total} nodes"
        tail = f"  {_CONTROL.sub('?', current)}" if current else ""
        line = (head + tail)[:width]
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        self._shown = True

    def finish(self):
        if self.enabled and self._shown:
            width = max(shutil.get_terminal_size((80, 24)).columns - 1, 20)
            self.stream.write("\r" + " " * width + "\r")
            self.stream.flush()


def _is_tty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
