"""Node entries and cross-node findings -> the calirules/fleet/v1 document."""

from datetime import datetime, timezone

from calirules.base import __version__
from calirules.fleet.findings import cross_node_findings

FLEET_SCHEMA = "calirules/fleet/v1"


def node_entry(report, source, seconds=None):
    """A diagnosed node (a report built here or read from a file) as a row of the fleet;
    `seconds`: how long its diagnosis took here (none for a report read from a file)."""
    entry = {"node": report["node"], "source": source, "verdict": report.get("verdict") or _verdict(report),
            "causes": [{"id": c["id"], "confidence": c["confidence"]} for c in report["causes"] if c.get("found")],
            "generated_at": report.get("generated_at"), "node_facts": report.get("node_facts")}
    if seconds is not None:
        entry["seconds"] = seconds
    return entry


def error_entry(source, reason, node=None):
    """A source that could not be diagnosed: a row with its reason, never a failed run."""
    return {"node": node or source, "source": source, "verdict": "error", "causes": [], "error": reason}


def _verdict(report):  # reports from before verdicts existed
    return "found" if any(c.get("found") for c in report["causes"]) else "healthy"


def fleet_document(entries, titles=None):
    """`titles`: {cause id: title} for the column legend (the cause catalog)."""
    entries = sorted(entries, key=lambda e: (e["verdict"] == "error", e["node"], e["source"]))
    diagnosed = [e for e in entries if e["verdict"] != "error"]
    columns = _columns(diagnosed)
    return {
        "schema": FLEET_SCHEMA,
        "calirules_version": __version__,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "summary": {"nodes": len(entries), "found": sum(e["verdict"] == "found" for e in entries),
                    "healthy": sum(e["verdict"] == "healthy" for e in entries),
                    "inconclusive": sum(e["verdict"] == "inconclusive" for e in entries),
                    "error": len(entries) - len(diagnosed)},
        "causes": [{"id": c, "title": (titles or {}).get(c, c),
                    "nodes": sum(any(x["id"] == c for x in e["causes"]) for e in diagnosed)} for c in columns],
        "nodes": entries,
        "cluster_findings": cross_node_findings(diagnosed),
        # reports from a calirules without node_facts cannot be compared: say so rather than "agree"
        "not_compared": [e["node"] for e in diagnosed if not e.get("node_facts")],
    }


def _columns(entries):
    """The causes found anywhere, the most widespread first."""
    counts = {}
    for entry in entries:
        for cause in entry["causes"]:
            counts[cause["id"]] = counts.get(cause["id"], 0) + 1
    return sorted(counts, key=lambda c: (-counts[c], c))
