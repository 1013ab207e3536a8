#!/usr/bin/env python3
"""Fault lab report (root): for each fault, the ping result, the rank and confidence of the
injected cause in a live diagnosis, and the live collection time on a large lab.

Usage: python bench/lab_report.py [--pods 50] [--sos-pods 250] [--skip-faults]

Also times `diagnose --sosreport` on a .tar.xz sosreport (with the sos-extras outputs) written
from a lab with --sos-pods pods, and reports its peak RSS.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path[:0] = [str(TESTS / "lab"), str(TESTS)]

from calirules.lab import faults  # noqa: E402
from calirules.lab.topology import Lab  # noqa: E402
from test_live_diagnosis import CASES  # noqa: E402


def diagnose(node_ns):
    proc = subprocess.run([sys.executable, "-m", "calirules", "diagnose", "--live", "--netns", node_ns,
                           "--format", "json"], capture_output=True, text=True)
    return json.loads(proc.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=50)
    parser.add_argument("--sos-pods", type=int, default=250)
    parser.add_argument("--skip-faults", action="store_true")
    args = parser.parse_args()
    if not args.skip_faults:
        fault_table()
    collection_time(args.pods)
    sosreport_time(args.sos_pods)


def timed(argv):
    import os
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def sosreport_time(pods):
    import tempfile

    from calirules.lab.bundles import write_sosreport
    with tempfile.TemporaryDirectory() as tmp, Lab("crs", pods=pods, backend="legacy") as lab:
        archive = write_sosreport(lab, Path(tmp), archive="xz", extras=True)
        runs = [timed([sys.executable, "-m", "calirules", "diagnose", "--sosreport", str(archive), "--format", "json"])
                for _ in range(3)]
        size = archive.stat().st_size / 2**20
    print(f"{pods}-pod sosreport .tar.xz ({size:.1f} MiB): `diagnose --sosreport` median "
          f"{statistics.median(r[0] for r in runs):.2f} s, peak RSS {max(r[1] for r in runs):.0f} MiB")


def fault_table():
    print("| fault | options | backend | ping after injection | rank of injected cause | confidence |")
    print("|---|---|---|---|---|---|")
    for fault_id, options, backend, cause in CASES:
        with Lab("crb", pods=2, backend=backend) as lab:
            injection = faults.inject(lab, fault_id, **options)
            if injection.large_size:
                ping = (f"small {'ok' if lab.ping(injection.src, injection.dst) else 'FAILED'}, DF "
                        f"{injection.large_size} B {'ok' if lab.ping(injection.src, injection.dst, size=injection.large_size, dont_fragment=True) else 'fails'}")
            else:
                ping = "ok" if lab.ping(injection.src, injection.dst) else "fails"
            report = diagnose(lab.node_ns)
        ids = [c["id"] for c in report["causes"]]
        rank = ids.index(cause) + 1 if cause in ids else "not found"
        confidence = next((c["confidence"] for c in report["causes"] if c["id"] == cause), 0)
        print(f"| {fault_id} | {options or ''} | {backend} | {ping} | {rank} | {confidence:.2f} |")


def collection_time(pods):
    with Lab("crb", pods=pods, backend="legacy") as lab:
        times = []
        for _ in range(3):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "calirules", "collect", "--live", "--netns", lab.node_ns,
                            "-o", "/dev/null"], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = diagnose(lab.node_ns)
        diag = time.perf_counter() - start
    print(f"\n{pods}-pod lab: `calirules collect --live` median {statistics.median(times):.2f} s "
          f"(of 3), `diagnose --live` {diag:.2f} s, causes >= 0.5: {[c['id'] for c in report['causes'] if c['found']]}")


if __name__ == "__main__":
    main()
