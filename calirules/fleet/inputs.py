"""PATHs -> what to diagnose (jobs for the pool) and what was already diagnosed (saved reports).

A PATH is a sosreport or calicoctl diags bundle (directory or archive), a facts dump (.yaml), a
file of saved reports (`diagnose --format json`, DaemonSet logs), or a folder of any of these,
walked; a folder that is itself a bundle is one node (a cluster diags bundle: one per node).
Whatever cannot be read becomes an error entry, never an exception.
"""

import os
from dataclasses import dataclass, field

from calirules.base.errors import InputError
from calirules.fleet import reports as saved_reports

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".zip")
DUMP_SUFFIXES = (".yaml", ".yml")
# What a directory holds when it is one bundle rather than a folder of them.
_BUNDLE_MARKERS = ("sos_commands", "sos_reports", "ipv4_route", "diagnostics/ipv4_route", "cluster/version.yaml")


@dataclass(frozen=True)
class Job:
    """One node to diagnose: kind "bundle" (may turn out to be a cluster diags archive),
    "cluster-node" (one node of a cluster diags bundle) or "facts"."""
    kind: str
    path: str
    node: str | None = None

    @property
    def label(self):
        return f"{self.path} (node {self.node})" if self.node else self.path


@dataclass
class Inputs:
    jobs: list = field(default_factory=list)
    reports: list = field(default_factory=list)  # (report document, where it was read)
    errors: list = field(default_factory=list)  # (source, one-line reason)


def discover(paths):
    found = Inputs()
    seen = set()  # folders walked, by real path: a symlink back up the tree must not loop
    for path in paths:
        try:
            _add(path, found, walked=False, seen=seen)
        except InputError as exc:
            found.errors.append((path, one_line(exc)))
    return found


def _add(path, found, walked, seen):
    if os.path.isdir(path):
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        if is_bundle_dir(path):
            found.jobs.extend(cluster_jobs(path) or [Job("bundle", path)])
            return
        for name in sorted(os.listdir(path)):
            if not name.startswith("."):
                try:
                    _add(os.path.join(path, name), found, walked=True, seen=seen)
                except InputError as exc:
                    found.errors.append((os.path.join(path, name), one_line(exc)))
        return
    if not os.path.exists(path):
        found.errors.append((path, "no such file or directory"))
        return
    if not os.path.isfile(path):
        if not walked:
            found.errors.append((path, "not a regular file or a directory (a device, fifo or socket)"))
        return
    lower = path.lower()
    if lower.endswith(ARCHIVE_SUFFIXES):
        found.jobs.append(Job("bundle", path))
    elif lower.endswith(DUMP_SUFFIXES):
        found.jobs.append(Job("facts", path))
    else:
        docs, problems = saved_reports.read_reports(path)
        found.reports.extend((doc, path) for doc in docs)
        if not docs and not walked:
            found.errors.append((path, problems[0] if problems else
                                 "no calirules report in it (give a bundle, a facts dump, "
                                 "`diagnose --format json` output or DaemonSet logs)"))
        elif not docs and problems:
            found.errors.append((path, problems[0]))


def one_line(exc):
    """An InputError as the reason of an error entry: its message, with the line when it has one
    (the entry names the source already)."""
    where = f"line {exc.line}: " if getattr(exc, "line", None) is not None else ""
    return " ".join(f"{where}{getattr(exc, 'message', None) or exc}".split())


def is_bundle_dir(path):
    if any(os.path.exists(os.path.join(path, marker)) for marker in _BUNDLE_MARKERS):
        return True
    nodes = os.path.join(path, "nodes")
    return os.path.isdir(nodes) and any(os.path.exists(os.path.join(nodes, n, "ip-route.txt"))
                                        for n in os.listdir(nodes))


def cluster_jobs(path):
    """One job per node when `path` is a calicoctl cluster diags bundle, else []."""
    from calirules.facts_collectors import cluster_diags
    from calirules.facts_collectors.archive import open_source
    source = open_source(path)
    if not cluster_diags.is_cluster_diags(source):
        return []
    names = cluster_diags.node_names(source)
    if not names:
        raise InputError("calicoctl cluster diags bundle without per-node data (nodes/<node>/)", path)
    return [Job("cluster-node", path, name) for name in names]
