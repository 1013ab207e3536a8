#!/usr/bin/env python3
"""Probe timing in the fault lab (root): for every fault case of the probe's lab proof, on both
backends, the wall time of one `calirules probe` (default count 3, in-process, so interpreter start-up
is not counted) and what it named, plus the healthy lab. The target is under 3 s per probe.

Usage: python bench/probe_bench.py [--pods 2] [--backend legacy|nft|both]

Also prints the ratio probe time / bare import time measured in the same run, so machines compare.
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO)]

from calirules.lab import faults  # noqa: E402
from calirules.lab.topology import Lab  # noqa: E402
from tests.lab.test_probe_lab import EXPECTED  # noqa: E402


def bare_import_seconds():
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import calirules.cli"], check=True)
    return time.perf_counter() - started


def probe_seconds(lab, src, dst, extra=()):
    from calirules.facts_collectors.probe.run import probe
    started = time.perf_counter()
    result = probe(src.ip, dst.ip, node_netns=lab.node_ns, **dict(extra))
    return time.perf_counter() - started, result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=2)
    parser.add_argument("--backend", choices=["legacy", "nft", "both"], default="both")
    args = parser.parse_args()
    backends = ["legacy", "nft"] if args.backend == "both" else [args.backend]
    baseline = bare_import_seconds()
    rows, times = [], []
    for backend in backends:
        for (fault, options) in [(None, ())] + list(EXPECTED):
            with Lab(f"cpb{backend[0]}", pods=max(args.pods, 2), backend=backend) as lab:
                injection = faults.inject(lab, fault, **dict(options)) if fault else None
                src = lab.pod(injection.src if injection else 0)
                dst = lab.pod(injection.dst if injection else 1)
                extra = {"size": lab.pod_mtu, "dont_fragment": True} if injection and injection.large_size else {}
                seconds, result = probe_seconds(lab, src, dst, extra)
                times.append(seconds)
                drop = result.drop
                rows.append({"fault": fault or "healthy", "options": dict(options), "backend": backend,
                             "seconds": round(seconds, 3), "reached": result.reached, "replied": result.replied,
                             "drop": drop.kind if drop else None, "detail": drop.detail if drop else result.summary})
    for row in rows:
        opts = ",".join(f"{k}={v}" for k, v in row["options"].items())
        print(f"{row['seconds']:6.2f} s  {row['backend']:6}  {row['fault'] + ('[' + opts + ']' if opts else ''):48} "
              f"{row['drop'] or 'path works':9} {row['detail'][:90]}")
    print(f"probes: {len(times)}; median {statistics.median(times):.2f} s, max {max(times):.2f} s; "
          f"bare import {baseline:.2f} s; median probe / bare import = {statistics.median(times) / baseline:.1f}")


if __name__ == "__main__":
    main()
