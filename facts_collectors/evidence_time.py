"""When a bundle's evidence was collected, as the bundle itself says (not when calirules read it).

Where it is said: sos (>= 4) writes the run's start time into sos_reports/manifest.json; sos names its
directory and archive `sosreport-<host>[-<case>]-<YYYY-MM-DD>-<random>` (older releases: a
`YYYYMMDDHHMMSS` stamp); calicoctl names its diags `calico-diagnostics-<YYYYMMDD_HHMMSS>` (and
`diags-<YYYYMMDD_HHMMSS>.tar.gz`). Names carry the collecting machine's local time: the value has no
zone suffix then, and is a date alone when the name has only the day.
"""

import json
import os
import re
from datetime import datetime, timezone

_STAMP = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_T-]?(\d{2})(\d{2})(\d{2})(?!\d)")
_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_MANIFEST_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %Y")


def evidence_time(source):
    """ISO 8601 time (or date) the bundle's evidence was collected, or None when it does not say."""
    return _from_manifest(source.read_text("sos_reports/manifest.json")) or _from_names(_names(source))


def _names(source):
    names = []
    for candidate in (source, getattr(source, "source", None)):
        if candidate is None:
            continue
        if getattr(candidate, "top", None):
            names.append(candidate.top)
        label = str(getattr(candidate, "label", "") or "").split(" (node ", 1)[0]
        if label:
            names.append(os.path.basename(label.rstrip("/")))
    return names


def _from_manifest(text):
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    report = (doc.get("components") or {}).get("report") if isinstance(doc.get("components"), dict) else None
    for holder in (doc, report if isinstance(report, dict) else {}):
        value = holder.get("start_time")
        if isinstance(value, str):
            parsed = _parse(value.strip())
            if parsed:
                return parsed
    return None


def _parse(value):
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        stamp = None
        for fmt in _MANIFEST_FORMATS:
            try:
                stamp = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if stamp is None:
        return None
    if stamp.tzinfo is not None:
        return stamp.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


def _from_names(names):
    for name in names:
        match = _STAMP.search(name)
        if match:
            try:
                return datetime(*map(int, match.groups())).strftime("%Y-%m-%dT%H:%M:%S")
            except ValueError:
                pass
    for name in names:
        match = _DAY.search(name)
        if match:
            try:
                return datetime(*map(int, match.groups())).strftime("%Y-%m-%d")
            except ValueError:
                pass
    return None
