"""Saved calirules/report/v1 documents: `diagnose --format json` files (one report, or a cluster
bundle's calirules/reports/v1 list) and DaemonSet logs: one compact report per line, each line
maybe prefixed by `kubectl logs --prefix` (`[pod/NAME/CONTAINER] `). Lines that are not reports
(log noise, a line cut short) are skipped; several runs of one node keep the newest."""

import json
import re

from calirules.base.errors import InputError
from calirules.base.schemas import Schema

REPORT_SCHEMA = Schema("calirules.report", "schema/report-v1.schema.json")
MAX_BYTES = 512 * 1024 * 1024  # a log folder's file read whole: refuse what would not fit
_KUBECTL_PREFIX = re.compile(r"^\[pod/[^\]\s]+\] ")


def read_reports(path):
    """([report documents], [one-line problems]) of one file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        return [], [f"cannot read: {exc.strerror or exc}"]
    if len(data) > MAX_BYTES:
        return [], [f"larger than {MAX_BYTES >> 20} MiB: not a report file"]
    text = data.decode("utf-8", errors="replace")
    docs, problems = [], []
    whole = _parse(text) if text.lstrip().startswith("{") else None
    candidates = _unpack(whole) if whole is not None else [
        doc for line in text.splitlines() if (doc := _parse(_KUBECTL_PREFIX.sub("", line, count=1).strip()))]
    for doc in candidates:
        if not isinstance(doc, dict) or doc.get("schema") != "calirules/report/v1":
            continue
        try:
            REPORT_SCHEMA.validate(doc)
        except InputError as exc:
            problems.append(f"a calirules report that does not fit its schema: {exc.message}")
            continue
        docs.append(doc)
    return docs, problems


def _parse(text):
    if not text.startswith("{"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _unpack(doc):
    if isinstance(doc, dict) and doc.get("schema") == "calirules/reports/v1" and isinstance(doc.get("reports"), list):
        return doc["reports"]
    return [doc]


def newest_per_node(found):
    """[(report, where)] -> one per node: the latest `generated_at` (the later one read on a tie)."""
    best = {}
    for doc, where in found:
        node = doc.get("node")
        if node not in best or (doc.get("generated_at") or "") >= (best[node][0].get("generated_at") or ""):
            best[node] = (doc, where)
    return list(best.values())
