#!/usr/bin/env python3
"""Archive readers side by side, in one run: libarchive against the standard library.

Usage: python bench/archive_bench.py [--repeat 3] [--baseline REV] [--keep DIR] [--skip-build]

The policy layer (calirules.facts_collectors.archive) is the same in every column; only the
reader under it changes:
  libarchive  tar: libarchive (what calirules ships)   zip: libarchive's zip reader, streamed
  stdlib      tar: tarfile in stream mode ('r|') over lzma/gzip/bz2 file objects
              zip: zipfile (what calirules ships)
  REV         the whole archive module as it was at git revision REV (--baseline, optional:
              the hand-written tar and zip parsers that libarchive and zipfile replaced)

Archives: the 200-pod lab sosreport (/work/benchdata/xz/*.tar.xz, or --sosreport), the same as
.tar.gz and .zip, and a 35k-member sosreport (the lab's plus 48 more pods' /proc/sys entries)
as .tar.xz and .zip. For each archive and reader it measures the best of --repeat runs (CPU time on
a shared machine only grows with contention, so the least is the reader's own cost; wall: median):
  index      CPU seconds to open the archive (index every member, cache small ones)
  +reads     index plus reading every file `diagnose` reads (the paths the bundle reader asked for)
  diagnose   CPU seconds (user+sys) of a whole `calirules diagnose --sosreport ARCHIVE` process,
             and its peak RSS
and prints the ratios stdlib / libarchive measured in this run. Figures, not a pass/fail gate.
"""

import argparse
import bz2
import contextlib
import gzip
import io
import lzma
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import types
import zipfile
import zlib
from pathlib import Path

from calirules.facts_collectors import archive as policy
from calirules.facts_collectors import archive_formats as formats
from calirules.facts_collectors.archive_formats import (
    DIR,
    FILE,
    HARDLINK,
    SYMLINK,
    Damaged,
    Member,
)

REPO = Path(__file__).resolve().parent.parent
EXTRA_PODS = 48  # 28,434 lab members + 48 x 138 = 35,058

# -- the alternative readers (only the bench uses them) -----------------------------------------


class LibarchiveZip(formats.TarStream):
    """libarchive's zip reader, streamed like a tar: the policy caches small members on indexing."""

    def _enable(self, ffi, archive):
        if self.fmt != "zip":
            return super()._enable(ffi, archive)
        ffi.read_support_format_zip(archive)

    def end_marker_missing(self):
        return False


class _Counting(io.RawIOBase):
    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        count = self.raw.readinto(buffer)
        self.count += count or 0
        return count


_TARFILE_ERRORS = (tarfile.TarError, EOFError, OSError, lzma.LZMAError, zlib.error, ValueError, OverflowError)


class TarfileStream:
    """tarfile in stream mode ('r|*'): one pass, headers and content through the policy's guard."""

    def __init__(self, path, fmt):
        self.path, self.fmt = path, fmt

    def __enter__(self):
        self._raw = open(self.path, "rb")
        self._counter = _Counting(self._raw)
        # The decompressor is the module's file object, not tarfile's own 'r|xz': tarfile's stream
        # buffer is re-sliced on every 512-byte read, 4x slower on a sosreport of small files.
        opener = {"tar": io.BufferedReader, "gz": gzip.GzipFile, "xz": lzma.LZMAFile, "bz2": bz2.BZ2File}[self.fmt]
        try:
            stream = opener(self._counter) if self.fmt in ("tar", "xz") else opener(fileobj=self._counter)
            self._tar = tarfile.open(fileobj=stream, mode="r|")
        except _TARFILE_ERRORS as exc:
            self._raw.close()
            raise Damaged(exc, unrecognised=isinstance(exc, tarfile.ReadError)) from None
        return self

    def __exit__(self, *exc):
        self._raw.close()

    def packed_bytes(self):
        return self._counter.count

    def end_marker_missing(self):
        return False

    def __iter__(self):
        while True:
            try:
                info = self._tar.next()
            except _TARFILE_ERRORS as exc:
                raise Damaged(exc, truncated=isinstance(exc, EOFError)) from None
            self._tar.members.clear()  # stream mode would otherwise keep every TarInfo
            if info is None:
                return
            self._info = info
            if info.isreg():
                yield Member(info.name, FILE, size=info.size)
            elif info.isdir():
                yield Member(info.name, DIR)
            elif info.issym():
                yield Member(info.name, SYMLINK, target=info.linkname)
            elif info.islnk():
                yield Member(info.name, HARDLINK, target=info.linkname)
            else:
                yield Member(info.name, "device or fifo")

    def chunks(self):
        try:
            member = self._tar.extractfile(self._info)
            while data := member.read(formats.CHUNK):
                yield data
        except _TARFILE_ERRORS as exc:
            raise Damaged(exc, truncated=isinstance(exc, EOFError)) from None


def use(impl, baseline=None):
    """Put reader `impl` under the policy (in this process)."""
    if impl == "libarchive":
        formats.TarStream = LibarchiveZip
        policy.ArchiveSource._index_zip = policy.ArchiveSource._index_tar
    elif impl == "stdlib":
        formats.TarStream = TarfileStream
    else:  # the archive module of a git revision, in place of today's
        source = subprocess.run(["git", "-C", str(REPO), "show", f"{impl}:facts_collectors/archive.py"],
                                capture_output=True, text=True, check=True).stdout
        module = types.ModuleType("calirules.facts_collectors.archive")
        exec(compile(source, f"{impl}:archive.py", "exec"), module.__dict__)
        sys.modules["calirules.facts_collectors.archive"] = module
        import calirules.facts_collectors as package
        package.archive = module
        return module
    return policy


# -- inputs -------------------------------------------------------------------------------------


def tar_members(root, top, extra_pods):
    """(arcname, path) for a sosreport directory, plus copies of one pod's /proc/sys entries."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = Path(dirpath) / name
            yield f"{top}/{full.relative_to(root).as_posix()}", full
    pod = next(p.name for p in sorted((root / "proc/sys/net/ipv4/conf").iterdir()) if p.name.startswith("cali"))
    for i in range(extra_pods):
        fake = f"calibench{i:06x}"
        for family in ("ipv4", "ipv6"):
            for kind in ("conf", "neigh"):
                base = root / f"proc/sys/net/{family}/{kind}/{pod}"
                if not base.is_dir():
                    continue
                yield f"{top}/proc/sys/net/{family}/{kind}/{fake}", base
                for leaf in sorted(base.iterdir()):
                    yield f"{top}/proc/sys/net/{family}/{kind}/{fake}/{leaf.name}", leaf


def write_archives(lab_dir, out, extra_pods):
    top = lab_dir.name
    made = {}
    for label, pods in (("lab", 0), ("35k", extra_pods)):
        members = list(tar_members(lab_dir, top, pods))
        for suffix in ((".tar.gz", ".zip") if label == "lab" else (".tar.xz", ".zip")):
            path = out / f"{label}-{top}{suffix}"
            if not path.exists():
                if suffix == ".zip":
                    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                        for arcname, full in members:
                            archive.write(full, arcname)
                else:
                    mode = "w:gz" if suffix == ".tar.gz" else "w:xz"
                    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as archive:
                        for arcname, full in members:
                            archive.add(full, arcname, recursive=False)
            made[f"{label}{suffix}"] = (path, len(members) + (1 if suffix != ".zip" else 0))
    return made


# -- measuring ----------------------------------------------------------------------------------


def paths_diagnose_reads(archive_path):
    """The paths the bundle reader asks for, recorded once with today's reader."""
    from calirules.facts_collectors.bundle import read_bundle
    source = policy.open_source(archive_path)
    asked = []
    real_read = source.read_bytes

    def recording(relpath, *args, **kwargs):
        asked.append((str(relpath), args, kwargs))
        return real_read(relpath, *args, **kwargs)

    source.read_bytes = recording
    read_bundle(source, label=str(archive_path))
    return asked


def time_in_process(module, archive_path, reads, repeat):
    index, total = [], []
    for _ in range(repeat):
        started = time.process_time()
        source = module.open_source(archive_path)
        opened = time.process_time()
        for relpath, args, kwargs in reads:
            source.read_bytes(relpath, *args, **kwargs)
        index.append(opened - started)
        total.append(time.process_time() - started)
        del source
    return min(index), min(total)


def time_diagnose(impl, archive_path, repeat):
    cpu, wall, rss, codes = [], [], [], set()
    for _ in range(repeat):
        started = time.monotonic()
        report = Path(tempfile.mkdtemp(prefix="archive-bench-rss-")) / "hwm"
        proc = subprocess.Popen([sys.executable, __file__, "--child", impl, "diagnose", "--sosreport",
                                 str(archive_path), "--format", "json", "-o", os.devnull],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "ARCHIVE_BENCH_RSS": str(report)})
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall.append(time.monotonic() - started)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss.append(int(report.read_text().split()[1]) / 1024 if report.exists() else float("nan"))
        shutil.rmtree(report.parent, ignore_errors=True)
        codes.add(os.waitstatus_to_exitcode(status))
    return min(cpu), statistics.median(wall), max(rss), sorted(codes)


def child(argv):
    impl, args = argv[0], argv[1:]
    use(impl)
    report = os.environ.get("ARCHIVE_BENCH_RSS")
    if report:  # VmHWM is this process's own peak (ru_maxrss would include the parent's, from fork)
        import atexit
        atexit.register(lambda: Path(report).write_text(
            next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))))
    from calirules.cli import main
    sys.argv = ["calirules", *args]
    main()


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        return child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="also measure the archive module of this git revision")
    parser.add_argument("--sosreport", type=Path, default=next(Path("/work/benchdata/xz").glob("*.tar.xz"), None),
                        help="a lab sosreport .tar.xz (default: /work/benchdata/xz/*.tar.xz)")
    parser.add_argument("--sosreport-dir", type=Path, default=next(Path("/work/benchdata/dir").glob("sosreport-*"), None),
                        help="the same sosreport as a directory, to build .tar.gz/.zip and the 35k archives from")
    parser.add_argument("--keep", type=Path, help="build the archives here and keep them (reused when present)")
    args = parser.parse_args()
    if not (args.sosreport and args.sosreport_dir):
        parser.error("give --sosreport LAB.tar.xz and --sosreport-dir DIR (a lab sosreport, e.g. from "
                     "`calirules lab` and tests/lab's write_sosreport)")

    out = args.keep or Path(tempfile.mkdtemp(prefix="archive-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    archives = {"lab.tar.xz": (args.sosreport, None)}
    archives.update(write_archives(args.sosreport_dir, out, EXTRA_PODS))
    print(f"archives built in {time.monotonic() - started:.1f} s under {out}", file=sys.stderr)

    impls = ["libarchive", "stdlib"] + ([args.baseline] if args.baseline else [])
    rows = []
    for name, (path, _count) in archives.items():
        reads = paths_diagnose_reads(path)
        members = policy.open_source(path).members
        for impl in impls:
            # each reader in a fresh interpreter state: the bench patches module attributes
            proc = subprocess.run([sys.executable, __file__, "--measure", impl, str(path), str(args.repeat)],
                                  capture_output=True, text=True, input=repr(reads))
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                continue
            index, total = map(float, proc.stdout.split())
            cpu, wall, rss, codes = time_diagnose(impl, path, args.repeat)
            rows.append((name, members, path.stat().st_size, impl, index, total, cpu, wall, rss, codes, len(reads)))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)

    print(f"{'archive':<12} {'members':>7} {'MB':>5} {'reader':<12} {'index s':>8} {'+reads s':>9} "
          f"{'diagnose CPU s':>15} {'wall s':>7} {'RSS MB':>7}  exit  reads")
    for name, members, size, impl, index, total, cpu, wall, rss, codes, nreads in rows:
        print(f"{name:<12} {members:>7} {size / 1e6:>5.1f} {impl:<12} {index:>8.3f} {total:>9.3f} {cpu:>15.2f} "
              f"{wall:>7.2f} {rss:>7.0f}  {','.join(map(str, codes)):<5} {nreads}")
    print("\nratios (stdlib / libarchive, this run):")
    by = {(row[0], row[3]): row for row in rows}
    for name in archives:
        lib, std = by.get((name, "libarchive")), by.get((name, "stdlib"))
        if lib and std:
            print(f"  {name:<12} index {std[4] / lib[4]:5.2f}x   +reads {std[5] / lib[5]:5.2f}x   "
                  f"diagnose CPU {std[6] / lib[6]:5.2f}x")
    return 0


def measure(argv):
    impl, path, repeat = argv[0], argv[1], int(argv[2])
    module = use(impl)
    import ast
    reads = ast.literal_eval(sys.stdin.read())
    index, total = time_in_process(module, path, reads, repeat)
    print(index, total)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--measure":
        measure(sys.argv[2:])
        sys.exit(0)
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
