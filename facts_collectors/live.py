"""Live, read-only collection on this node (or inside one named network namespace).

It runs the commands of the evidence registry (facts_collectors.specs), each with a timeout, and keeps their output under the file
names a sosreport uses, so the bundle reader and its parsers do the rest: one parser per format,
for live nodes and offline bundles alike. Nothing on the node is changed: commands only list
state, and commands that would make the kernel autoload a module (iptables-legacy-save without
ip_tables, nft without nf_tables) are skipped unless the module is already present. A command
that is missing, times out or is refused becomes missing evidence with a hint, never a crash.
"""

import os
import subprocess
from pathlib import Path

from calirules.base.errors import InputError
from calirules.facts_collectors import specs
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.source import MAX_FILE_BYTES, MemorySource

SYS_MODULE = Path("/sys/module")
NETNS_DIR = Path("/var/run/netns")


class LiveCollector:
    def __init__(self, netns=None, raw_dir=None, run=subprocess.run):
        if netns is not None and not (NETNS_DIR / netns).exists():
            raise InputError(f"no network namespace named {netns!r} (see `ip netns list`)")
        self.netns = netns
        self.raw_dir = Path(raw_dir) if raw_dir else None
        self.source = MemorySource(label=f"live:{netns}" if netns else "live")
        self.skipped = []  # (spec, reason)
        self._run = run

    def collect(self):
        for spec in specs.all_specs():
            if spec.live:
                self._collect(spec)
        if self.netns is None:  # host logs describe the host, not a namespace standing in for a node
            self._collect_logs()
        for namespace in self._pod_namespaces():
            for spec in specs.POD_SPECS:
                argv = ("ip", "netns", "exec", namespace, *spec.command)
                self._store(specs.pod_path(namespace, spec), self._execute(argv, spec.timeout, spec.command_line))
        if self.raw_dir:
            self._write_raw()
        dump = read_bundle(self.source)
        reasons = {path: reason for path, reason in self.skipped}
        for item in dump["collection"]["missing"]:
            if item["what"] in reasons:
                item["reason"] = reasons[item["what"]]
        return dump

    def _collect(self, spec):
        if spec.needs_module and not module_present(spec.needs_module):
            self.skipped.append((spec.live_path, f"kernel module {spec.needs_module} not loaded; "
                                                 "reading would load it"))
            return
        if spec.command is None:
            path = "/" + spec.live_path
            if spec.in_netns and self.netns:
                self._store(spec.live_path, self._execute(("cat", path), spec.timeout, path, netns=True))
            else:
                self._store(spec.live_path, self._read_file(path))
            return
        self._store(spec.live_path, self._execute(spec.command, spec.timeout, spec.live_path,
                                                  netns=spec.in_netns))

    def _collect_logs(self):
        budget = specs.LOG_TOTAL_BYTES
        for pattern, _kind, _component in specs.LOG_SOURCES:
            if pattern.startswith("var/log/"):
                for path in sorted(Path("/").glob(pattern))[:50]:
                    if str(path).endswith(specs.LOG_SKIPPED_SUFFIXES) or budget <= 0:
                        continue
                    data = self._read_file(str(path), tail=min(specs.LOG_TAIL_BYTES, budget))
                    if data is not None:
                        budget -= len(data)
                        self._store(str(path).lstrip("/"), data)
        for pattern in specs.Specs.networkmanager_config.patterns + specs.Specs.networkd_config.patterns:
            for path in sorted(Path("/").glob(pattern))[:100]:
                data = self._read_file(str(path), tail=1024 * 1024)
                if data is not None:
                    self._store(str(path).lstrip("/"), data)
        self._store("sos_commands/kernel/dmesg", self._execute(("dmesg",), 10.0, "sos_commands/kernel/dmesg"))

    def _execute(self, argv, timeout, what, netns=False):
        if netns and self.netns:
            argv = ("ip", "netns", "exec", self.netns, *argv)
        try:
            proc = self._run(list(argv), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                             env=dict(os.environ, LC_ALL="C"))
        except FileNotFoundError:
            self.skipped.append((what, f"{argv[0]}: command not found"))
            return None
        except PermissionError:
            self.skipped.append((what, f"{argv[0]}: permission denied"))
            return None
        except subprocess.TimeoutExpired:
            self.skipped.append((what, f"timed out after {timeout:g} s"))
            return None
        if proc.returncode != 0 and not proc.stdout:
            err = proc.stderr.decode(errors="replace").strip().splitlines()
            self.skipped.append((what, f"exit {proc.returncode}: {err[-1] if err else 'no output'}"))
            return None
        # sos merges stderr into the file; so do we, after stdout (warnings such as
        # "iptables-legacy tables present" are evidence).
        return proc.stdout + proc.stderr

    def _read_file(self, path, tail=None):
        try:
            with open(path, "rb") as handle:
                if tail is not None:  # logs: only the newest part
                    size = os.fstat(handle.fileno()).st_size
                    handle.seek(max(0, size - tail))
                # Small reads: /proc/sys handlers allocate the whole requested size (64 MiB -> ENOMEM).
                chunks, size = [], 0
                while size < MAX_FILE_BYTES:
                    chunk = handle.read(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                return b"".join(chunks)
        except FileNotFoundError:
            self.skipped.append((path.lstrip("/"), "no such file"))
        except PermissionError:
            self.skipped.append((path.lstrip("/"), "permission denied"))
        except OSError as exc:
            self.skipped.append((path.lstrip("/"), exc.strerror or str(exc)))
        return None

    def _store(self, relpath, data):
        if data is not None:
            self.source.add(relpath, data)

    def _pod_namespaces(self):
        """Named namespaces with an eth0 (the bundle reader pairs them with node cali* veths)."""
        if not NETNS_DIR.is_dir():
            return []
        names = sorted(p.name for p in NETNS_DIR.iterdir() if p.name != self.netns)
        pods = []
        for name in names:
            out = self._execute(("ip", "netns", "exec", name, "ip", "-o", "link", "show", "dev", "eth0"), 5.0,
                                f"netns {name}")
            if out and b"eth0" in out:
                pods.append(name)
            elif self.skipped and self.skipped[-1][0] == f"netns {name}":
                self.skipped.pop()  # a namespace without eth0 is not a pod: nothing is missing
        return pods

    def _write_raw(self):
        for relpath, data in self.source.contents.items():
            target = self.raw_dir / relpath
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)


def module_present(name):
    """True when `name` is loaded or built in, so listing its state cannot make the kernel load it."""
    if not Path("/proc/modules").exists():
        return True  # a kernel without loadable-module support autoloads nothing
    if (SYS_MODULE / name).exists():
        return True
    try:
        if any(line.split(" ", 1)[0] == name for line in Path("/proc/modules").read_text().splitlines()):
            return True
        builtin = Path("/lib/modules") / os.uname().release / "modules.builtin"
        return builtin.exists() and f"/{name}.ko" in builtin.read_text()
    except OSError:
        return False


def collect_live(netns=None, raw_dir=None):
    return LiveCollector(netns, raw_dir).collect()
