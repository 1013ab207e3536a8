"""`--trace`: watch the kernel's packet drops (`skb:kfree_skb`) while the probe runs, then undo it.

This is the one probe step that changes the node, so it is opt-in and says what it changes
(CHANGES). The tracepoint is switched on in a tracing instance of the probe's own, so the node's
top-level tracing settings (and anyone reading them) are never touched; on exit the previous
enable and filter values are written back and the instance is removed, also on Ctrl-C, SIGTERM
and, as a last resort, at interpreter exit. If the tracepoint is already on at the top level,
somebody is tracing drops already: then nothing is changed and the events are read from the
trace buffer without consuming them.

When tracefs is not mounted it is mounted in a private mount namespace of one short-lived
thread, which the rest of the machine never sees; the probe keeps a directory handle to it.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import os
import re
import select
import signal
import threading
from collections import Counter

TRACEFS_PATHS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EVENT_DIR = "events/skb/kfree_skb"
INSTANCE_PREFIX = "calirules-probe-"
IPV4_FILTER = "protocol == 0x0800"
ETH_P_IP = 2048
MAX_EVENTS = 20000

CHANGES = (
    "--trace changes one thing on this machine while the probe runs: it switches on the kernel "
    "tracepoint skb:kfree_skb (called for every packet the kernel drops, in every namespace) in a "
    "tracing instance of its own ({instance} under tracefs), with the filter \"protocol == 0x0800\" "
    "(IPv4 only) when the kernel accepts it. On exit, Ctrl-C or SIGTERM it writes the previous "
    "enable and filter values back and removes the instance; the top-level tracing settings are "
    "never touched. If tracefs is not mounted, the probe mounts it where only the probe itself sees "
    "it (a private mount namespace). If skb:kfree_skb is already on, nothing is changed and its "
    "events are only read. The tracepoint sees every namespace: other programs' drops may show too."
)

_EVENT_LINE = re.compile(r"\s(\d+\.\d+):\s+kfree_skb:\s+(.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")
_REASON = re.compile(r"reason:\s*(\S+)")

_SEQUENCE = itertools.count(1)
_CLONE_NEWNS = 0x00020000
_MS_REC = 16384
_MS_PRIVATE = 1 << 18


class DropTrace:
    """Context manager: `with DropTrace("cc2-node") as trace: ...; trace.reasons()`.

    Never raises for a kernel or machine that cannot trace: `notes` says why nothing was traced."""

    def __init__(self, netns_label: str | None = None):
        self.netns_label = netns_label or "this node"
        self.notes: list[str] = []
        self.mode: str | None = None        # "instance" | "top-level" | "observe" | None (not tracing)
        self.instance: str | None = None
        self.has_reasons = True
        self._root_fd: int | None = None
        self._event: str | None = None      # the event dir, relative to the tracefs root
        self._saved: dict[str, str] = {}    # file (relative) -> value to write back
        self._pipe_fd: int | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake: tuple[int, int] | None = None   # a pipe that wakes the reader to stop at once
        self._lines: list[str] = []
        self._pending = b""
        self._kernel_filter = False
        self._observe_since = 0.0
        self._lock = threading.RLock()   # a signal handler may restore while the main thread holds it
        self._critical = False
        self._restored = False
        self._restoring = False
        self._deferred: list[int] = []
        self._from_signal = False             # restoring because of a signal, which acts after it
        self._old_handlers: dict[int, object] = {}

    @property
    def changes(self) -> str:
        return CHANGES.format(instance=f"instances/{self.instance or INSTANCE_PREFIX + '<pid>-<n>'}")

    # --- entering --------------------------------------------------------------------------------

    def __enter__(self) -> "DropTrace":
        try:
            self._root_fd = _open_tracefs(self.notes)
        except OSError as exc:
            self.notes.append(f"--trace: cannot reach tracefs ({exc.strerror or exc}); nothing traced")
            return self
        if self._root_fd is None:
            return self
        if not _exists(self._root_fd, f"{EVENT_DIR}/enable"):
            self.notes.append("--trace: this kernel has no skb:kfree_skb tracepoint; nothing traced")
            self._close_root()
            return self
        self.has_reasons = "reason" in _read(self._root_fd, f"{EVENT_DIR}/format")
        if _read(self._root_fd, f"{EVENT_DIR}/enable").strip().startswith("1"):
            self.mode = "observe"
            self._observe_since = _last_timestamp(_read(self._root_fd, "trace", limit=64 << 20))
            self.notes.append("--trace: skb:kfree_skb was already on (somebody else is tracing drops): "
                              "nothing changed, its events were read without consuming them")
            return self
        self._remove_stale_instances()
        self._critical = True
        self._install_handlers()
        try:
            self._start()
        except OSError as exc:
            self._restore()
            self.mode = None
            self.notes.append(f"--trace: could not switch skb:kfree_skb on ({exc.strerror or exc}); "
                              "nothing traced, nothing left changed")
        except BaseException:
            self._restore()
            raise
        finally:
            self._critical = False
        if self._deferred and not self._restored:
            self._act_on(self._deferred.pop(0), None)   # Ctrl-C while switching on: undo, then stop
        return self

    def _start(self):
        base = ""
        if _exists(self._root_fd, "instances"):
            self.instance = f"{INSTANCE_PREFIX}{os.getpid()}-{next(_SEQUENCE)}"
            os.mkdir(f"instances/{self.instance}", dir_fd=self._root_fd)
            base = f"instances/{self.instance}/"
            self.mode = "instance"
        else:
            self.mode = "top-level"
        self._event = base + EVENT_DIR
        for name in ("filter", "enable"):
            self._saved[name] = _read(self._root_fd, f"{self._event}/{name}")
        try:
            _write(self._root_fd, f"{self._event}/filter", IPV4_FILTER)
            self._kernel_filter = True
        except OSError:
            self.notes.append("--trace: the kernel refused the IPv4 filter; drops are filtered here instead")
        self._pipe_fd = os.open(base + "trace_pipe", os.O_RDONLY | os.O_NONBLOCK, dir_fd=self._root_fd)
        _write(self._root_fd, f"{self._event}/enable", "1")
        self._wake = os.pipe()
        self._reader = threading.Thread(target=self._read_pipe, name="calirules-drop-trace", daemon=True)
        self._reader.start()
        self.notes.append(f"--trace: skb:kfree_skb switched on in tracing instance {self.instance}"
                          if self.mode == "instance" else
                          "--trace: skb:kfree_skb switched on at the top level (this kernel has no "
                          "tracing instances); switched back off on exit")

    # --- reading ---------------------------------------------------------------------------------

    def _read_pipe(self):
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._pipe_fd, self._wake[0]], [], [], 1.0)
            except (OSError, ValueError, TypeError):
                return
            if self._pipe_fd in ready:
                self._drain()

    def _drain(self) -> None:
        """Read what the pipe holds now; a line split across reads waits in `_pending`."""
        while True:
            fd = self._pipe_fd
            if fd is None:
                return
            try:
                chunk = os.read(fd, 65536)
            except OSError:   # BlockingIOError: nothing more for now
                return
            if not chunk:
                return
            *whole, self._pending = (self._pending + chunk).split(b"\n")
            for line in whole:
                if b"kfree_skb:" in line and len(self._lines) < MAX_EVENTS:
                    self._lines.append(line.decode(errors="replace"))

    def events(self) -> list[str]:
        """The raw kfree_skb lines read (IPv4 only)."""
        return [line for line in self._lines if _is_ipv4(line)]

    def reasons(self) -> list[str]:
        """Drop reasons seen, most frequent first: "NETFILTER_DROP x3 at nf_hook_slow"; a first line
        says so when the kernel has no drop reasons; [] when tracing saw no drop."""
        if self.mode is None:
            return []
        return summarise(self.events(), self.has_reasons)

    # --- leaving ---------------------------------------------------------------------------------

    def __exit__(self, *exc):
        if self.mode == "observe" and self._root_fd is not None:
            text = _read(self._root_fd, "trace", limit=64 << 20)
            self._lines = [line for line in text.splitlines()
                           if "kfree_skb:" in line and _timestamp(line) > self._observe_since][:MAX_EVENTS]
        self._restore()
        return False

    def _restore(self):
        """Put everything back as it was; safe to call more than once, from any path."""
        with self._lock:
            if self._restored:
                return
            self._restored = self._restoring = True
        try:
            if self._event and "enable" in self._saved:
                try:
                    _write(self._root_fd, f"{self._event}/enable", _enable_value(self._saved.get("enable", "0")))
                except OSError as exc:
                    self.notes.append(f"--trace: could not switch skb:kfree_skb back off: {exc}")
            self._stop.set()
            if self._wake is not None:
                os.write(self._wake[1], b"x")
            if self._reader is not None and self._reader is not threading.current_thread():
                self._reader.join(timeout=2)
            if self._pipe_fd is not None:
                self._drain()
                fd, self._pipe_fd = self._pipe_fd, None
                os.close(fd)
            if self._wake is not None:
                for fd in self._wake:
                    os.close(fd)
                self._wake = None
            if self._event and "filter" in self._saved and self._kernel_filter:
                try:
                    _write(self._root_fd, f"{self._event}/filter", _filter_value(self._saved["filter"]))
                except OSError as exc:
                    self.notes.append(f"--trace: could not restore the tracepoint filter: {exc}")
            if self.instance:   # named before it is made: a signal may land in between
                try:
                    os.rmdir(f"instances/{self.instance}", dir_fd=self._root_fd)
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self.notes.append(f"--trace: could not remove tracing instance {self.instance}: {exc}")
        finally:
            self._close_root()
            self._uninstall_handlers()
            self._restoring = False
            deferred, self._deferred = self._deferred, []
            if not self._from_signal:
                for signum in deferred:   # a signal that came while restoring acts now, as it would have
                    os.kill(os.getpid(), signum)

    def _close_root(self):
        if self._root_fd is not None:
            fd, self._root_fd = self._root_fd, None
            os.close(fd)

    # --- signals and exit ------------------------------------------------------------------------

    def _install_handlers(self):
        atexit.register(self._restore)
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may set handlers; atexit and the with-block still restore
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)

    def _uninstall_handlers(self):
        atexit.unregister(self._restore)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum, handler in self._old_handlers.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._old_handlers = {}

    def _on_signal(self, signum, frame):
        if self._critical or self._restoring:
            # Raising in the middle of switching on or off would leave a half-made state (and an
            # open file that keeps the instance from being removed): act once that step is done.
            if not self._deferred:
                self._deferred.append(signum)
            return
        self._act_on(signum, frame)

    def _act_on(self, signum, frame):
        previous = self._old_handlers.get(signum, signal.SIG_DFL)
        self._from_signal = True
        self._restore()  # puts the previous handlers back too
        if callable(previous):
            previous(signum, frame)        # Python's own SIGINT handler raises KeyboardInterrupt
        elif previous == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)   # die of the signal as the default would have

    def _remove_stale_instances(self):
        """Instances left by a probe that was killed outright (SIGKILL): switch off and remove."""
        try:
            fd = os.open("instances", os.O_RDONLY | os.O_DIRECTORY, dir_fd=self._root_fd)
        except OSError:
            return
        try:
            names = os.listdir(fd)
        except OSError:
            names = []
        finally:
            os.close(fd)
        for name in names:
            if not name.startswith(INSTANCE_PREFIX):
                continue
            pid = name[len(INSTANCE_PREFIX):].split("-", 1)[0]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            try:
                _write(self._root_fd, f"instances/{name}/{EVENT_DIR}/enable", "0")
                os.rmdir(f"instances/{name}", dir_fd=self._root_fd)
                self.notes.append(f"--trace: removed tracing instance {name} left by a killed probe")
            except OSError:
                pass


def summarise(lines: list[str], has_reasons: bool = True) -> list[str]:
    """kfree_skb event lines -> "REASON xN at function" lines, most frequent first."""
    counted: Counter = Counter()
    for line in lines:
        match = _EVENT_LINE.search(line)
        if not match:
            continue
        body = match.group(2)
        fields = dict(_FIELD.findall(body))
        reason = _REASON.search(body)
        location = fields.get("location", "?").split("+", 1)[0]
        counted[(reason.group(1) if reason else None, location)] += 1
    summary = []
    if not has_reasons:
        summary.append("this kernel's skb:kfree_skb has no drop reasons (they came with Linux 5.17): "
                       "drop locations only")
    for (reason, location), count in counted.most_common():
        summary.append(f"{reason + ' ' if reason else ''}x{count} at {location}")
    return summary


# --- tracefs access --------------------------------------------------------------------------------

def _open_tracefs(notes: list) -> int | None:
    """A directory fd on tracefs: a mounted one, else one mounted privately (see the module doc)."""
    for path in _mounted_tracefs():
        if os.path.isdir(os.path.join(path, "events")):
            return os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    result: dict = {}
    thread = threading.Thread(target=_private_mount, args=(result,), name="calirules-tracefs", daemon=True)
    thread.start()
    thread.join(timeout=10)
    if "fd" in result:
        return result["fd"]
    notes.append(f"--trace: tracefs is not mounted and could not be mounted privately "
                 f"({result.get('error', 'timed out')}); nothing traced")
    return None


def _mounted_tracefs() -> list[str]:
    found = []
    try:
        with open("/proc/self/mounts") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) >= 3 and fields[2] == "tracefs":
                    found.append(fields[1].replace("\\040", " "))
                elif len(fields) >= 3 and fields[2] == "debugfs":
                    found.append(os.path.join(fields[1], "tracing"))
    except OSError:
        pass
    return found + [p for p in TRACEFS_PATHS if p not in found]


def _private_mount(result: dict) -> None:
    """In this thread only: a private mount namespace, tracefs mounted in it, a directory fd kept.

    The thread's mount namespace goes when the thread ends; the open fd keeps tracefs reachable
    (like a lazily unmounted filesystem), and no other process or thread ever sees the mount."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        result["error"] = f"unshare: {os.strerror(ctypes.get_errno())}"
        return
    # Without this the mount would propagate to the shared mounts of the real namespace.
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        result["error"] = f"making mounts private: {os.strerror(ctypes.get_errno())}"
        return
    target = next((p for p in TRACEFS_PATHS if os.path.isdir(p)), None)
    if target is None:
        result["error"] = "no /sys/kernel/tracing directory to mount on"
        return
    if libc.mount(b"nodev", target.encode(), b"tracefs", 0, None) != 0:
        result["error"] = f"mount tracefs: {os.strerror(ctypes.get_errno())}"
        return
    try:
        result["fd"] = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        result["error"] = str(exc)


def _exists(root_fd: int, relpath: str) -> bool:
    try:
        os.stat(relpath, dir_fd=root_fd)
        return True
    except OSError:
        return False


def _read(root_fd: int, relpath: str, limit: int = 1 << 20) -> str:
    try:
        fd = os.open(relpath, os.O_RDONLY, dir_fd=root_fd)
    except OSError:
        return ""
    try:
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""
    finally:
        os.close(fd)


def _write(root_fd: int, relpath: str, value: str) -> None:
    fd = os.open(relpath, os.O_WRONLY | os.O_TRUNC, dir_fd=root_fd)
    try:
        os.write(fd, value.encode() + b"\n")
    finally:
        os.close(fd)


def _enable_value(saved: str) -> str:
    """`enable` reads "0", "1", "0*" or "1*" (* = soft mode, set by a trigger): the digit is the state."""
    return "1" if saved.strip().startswith("1") else "0"


def _filter_value(saved: str) -> str:
    text = saved.strip()
    return "0" if not text or text == "none" else text   # "0" clears a filter


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _timestamp(line: str) -> float:
    match = _EVENT_LINE.search(line)
    return float(match.group(1)) if match else 0.0


def _last_timestamp(text: str) -> float:
    stamps = [_timestamp(line) for line in text.splitlines() if "kfree_skb:" in line]
    return max(stamps, default=0.0)


def _is_ipv4(line: str) -> bool:
    match = re.search(r"\bprotocol=(\S+)", line)
    if not match:
        return True
    value = match.group(1)
    try:
        return int(value, 0) == ETH_P_IP
    except ValueError:
        return False

