#!/usr/bin/env python3
"""`calirules fleet` over many sosreports, against single `calirules diagnose --sosreport` runs.

Usage (root: the two base sosreports come from the fault lab):
    python bench/fleet_bench.py [--count 1000] [--data /work/benchdata/fleet] [--jobs N]

1. Builds, once, two lab sosreport directories (lab prefix cf3): 20 and 110 pods, with the
   sos-extras outputs, a Calico CNI version and a `kubectl version` (cached under DATA/base).
2. Makes COUNT variants, alternating 20- and 110-pod nodes, under DATA/set-COUNT: hard links of
   the base files, except the files rewritten per copy: hostname, node IP (every file naming the
   lab's uplink address), Calico / Kubernetes versions, a blackhole route for the node's IPAM
   block, the uplink MTU. Some copies differ on purpose so that every cross-node finding has
   something to find: every 10th Calico v3.28.2, every 20th Kubernetes v1.29.8, every 50th an
   uplink MTU of 9000, a few duplicate node names and IPs, a few overlapping blocks.
3. Times one `calirules fleet DIR --format json` (wall, CPU of the process tree from wait4, peak
   RSS and PSS of the whole process tree sampled every 50 ms), and one `calirules diagnose
   --sosreport` of each base size, then prints per-bundle costs and their ratios.
Keep the generated set out of the repository. This is a script, not a test.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

CALICO, CALICO_OLD = "v3.29.1", "v3.28.2"
KUBE, KUBE_OLD = "v1.30.4", "v1.29.8"
CALICO_FILE = "sos_commands/sos_extras/calico/opt.cni.bin.calico_-v"
KUBE_FILE = "sos_commands/kubernetes/cluster-info/kubectl_version"
HOSTNAME_FILE = "sos_commands/host/hostname"
SIZES = (20, 110)


def build_base(data):
    base = data / "base"
    done = {n: next((base / f"p{n}").glob("sosreport-*"), None) if (base / f"p{n}").is_dir() else None for n in SIZES}
    if all(done.values()):
        return done
    from calirules.lab.bundles import write_sosreport
    from calirules.lab.topology import Lab
    for pods in SIZES:
        if done[pods]:
            continue
        parent = base / f"p{pods}"
        shutil.rmtree(parent, ignore_errors=True)
        parent.mkdir(parents=True)
        with Lab("cf3", pods=pods, backend="nft") as lab:
            done[pods] = write_sosreport(lab, parent, extras=True, files={
                CALICO_FILE: f"{CALICO}\n",
                KUBE_FILE: f"Client Version: {KUBE}\nKustomize Version: v5.4.2\nServer Version: {KUBE}\n"})
    return done


def _uplink_ip(root):
    for line in (root / "sos_commands/networking/ip_-o_addr").read_text().splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == "eth0" and parts[2] == "inet":
            return parts[3].split("/")[0]
    raise SystemExit(f"no eth0 address in {root}")


def _route_files(root):
    return [p for p in root.rglob("*") if p.is_file() and "route_show_table_all" in p.name
            and "namespaces" not in p.parts]


def make_variants(data, bases, count):
    target = data / f"set-{count}"
    stamp = target / ".complete"
    if stamp.exists():
        return target
    shutil.rmtree(target, ignore_errors=True)
    plans = {}
    for pods, root in bases.items():
        ip = _uplink_ip(root)
        naming = [p.relative_to(root) for p in root.rglob("*") if p.is_file() and ip in p.read_text(errors="replace")]
        plans[pods] = (root, ip, naming, [p.relative_to(root) for p in _route_files(root)])
    for i in range(count):
        pods = SIZES[i % 2]
        root, old_ip, naming, routes = plans[pods]
        dest = target / f"node{i:04d}-p{pods}"
        shutil.copytree(root, dest, copy_function=os.link)
        name = f"cf3-node-{i - 1 if i % 250 == 7 else i:04d}"       # a few duplicate node names
        j = i - 1 if i % 333 == 5 else i                              # a few duplicate node IPs
        ip = f"10.{20 + j // 250}.{j % 250}.10"
        k = i - 1 if i % 100 == 42 else i                             # a few overlapping blocks
        block = f"10.{100 + k // 1024}.{(k % 1024) // 4}.{(k % 4) * 64}/26"
        edits = {HOSTNAME_FILE: lambda text: f"{name}\n",
                 CALICO_FILE: lambda text: f"{CALICO_OLD if i % 10 == 3 else CALICO}\n",
                 KUBE_FILE: lambda text: text.replace(f"Server Version: {KUBE}",
                                                      f"Server Version: {KUBE_OLD if i % 20 == 11 else KUBE}")}
        for rel in set(naming) | set(routes) | {Path(p) for p in edits}:
            path = dest / rel
            text = path.read_text(errors="replace")
            text = text.replace(old_ip, ip)
            if rel in routes:
                text = text.rstrip("\n") + f"\nblackhole {block} proto bird \n"
            if str(rel) in edits:
                text = edits[str(rel)](text)
            if i % 50 == 17 and "networking/ip" in str(rel):
                text = "\n".join(line.replace("mtu 1500", "mtu 9000") if "eth0" in line else line
                                 for line in text.split("\n"))
            path.unlink()  # a hard link: write a new file, never into the base's
            path.write_text(text)
    stamp.write_text("")
    return target


class TreeSampler(threading.Thread):
    """Peak RSS and PSS summed over a process and all its descendants, sampled every 50 ms."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_rss, self.peak_pss, self.peak_processes, self.stop = pid, 0, 0, 0, False

    def run(self):
        while not self.stop:
            rss = pss = 0
            pids = self._tree()
            for pid in pids:
                try:
                    for line in open(f"/proc/{pid}/smaps_rollup"):
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
                except OSError:
                    pass
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.peak_processes = max(self.peak_processes, len(pids))
            time.sleep(0.05)

    def _tree(self):
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    todo.extend(int(c) for c in open(f"/proc/{pid}/task/{task}/children").read().split())
            except OSError:
                pass
        return found


def timed(argv, sample=False):
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler:
        sampler.start()
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if sampler:
        sampler.stop = True
        sampler.join()
    # wait4's rusage covers the child and the descendants it waited for: the fleet's workers.
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "status": os.waitstatus_to_exitcode(status),
            "out": out, "rss_kb": sampler.peak_rss if sampler else None, "pss_kb": sampler.peak_pss if sampler else None,
            "processes": sampler.peak_processes if sampler else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--data", type=Path, default=Path("/work/benchdata/fleet"))
    parser.add_argument("--jobs", type=int, default=None)
    args = parser.parse_args()
    cli = [sys.executable, "-m", "calirules"]
    bases = build_base(args.data)
    started = time.perf_counter()
    target = make_variants(args.data, bases, args.count)
    print(f"bundles: {args.count} under {target} (made in {time.perf_counter() - started:.1f} s, or cached)")
    singles = {}
    for pods, root in bases.items():
        timed(cli + ["diagnose", "--sosreport", str(root)])  # warm the page cache and bytecode
        singles[pods] = timed(cli + ["diagnose", "--sosreport", str(root)])
    fleet = timed(cli + ["fleet", str(target), "--format", "json"] + (["--jobs", str(args.jobs)] if args.jobs else []),
                  sample=True)
    doc = json.loads(fleet["out"])
    nodes = doc["nodes"]
    errors = [n for n in nodes if n["verdict"] == "error"]
    print(f"fleet: exit {fleet['status']}, {len(nodes)} nodes ({len(errors)} errors), "
          f"{len(doc['cluster_findings'])} cross-node findings: "
          + ", ".join(sorted({f['id'] for f in doc['cluster_findings']})))
    print(f"fleet: wall {fleet['wall']:.1f} s, CPU {fleet['cpu']:.1f} s on {os.cpu_count()} cores "
          f"(--jobs {args.jobs or os.cpu_count()}); peak of the process tree ({fleet['processes']} processes): "
          f"RSS {fleet['rss_kb'] / 1024:.0f} MiB, PSS {fleet['pss_kb'] / 1024:.0f} MiB")
    per_bundle_wall = fleet["wall"] / len(nodes)
    mean_single = sum(s["wall"] for s in singles.values()) / len(singles)
    print(f"per bundle (the 50/50 mix): fleet wall {per_bundle_wall * 1000:.0f} ms, CPU {fleet['cpu'] / len(nodes) * 1000:.0f} ms;"
          f" single diagnose (mean of both sizes) wall {mean_single * 1000:.0f} ms -> ratio {per_bundle_wall / mean_single:.3f}")
    for pods, single in singles.items():
        took = [n["seconds"] for n in nodes if n.get("seconds") is not None and n["source"].endswith(f"-p{pods}")]
        in_fleet = sum(took) / len(took) if took else float("nan")
        print(f"{pods:>3} pods: single `diagnose --sosreport` wall {single['wall'] * 1000:.0f} ms, CPU {single['cpu'] * 1000:.0f} ms"
              f" (exit {single['status']}); in the fleet: {in_fleet * 1000:.0f} ms per bundle in a worker"
              f" -> ratio {in_fleet / single['wall']:.3f} of a single run, "
              f"{in_fleet / single['wall'] / (os.cpu_count() or 1):.3f} of it in wall time on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
