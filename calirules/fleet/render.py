"""The fleet document as text, Markdown, HTML (the fleet-*.j2 report layouts) or JSON."""

import json
import re
from importlib import resources

from jinja2 import Environment, StrictUndefined

_LAYOUTS = {"text": "fleet-text.j2", "markdown": "fleet-markdown.j2", "html": "fleet-html.j2"}
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # node names and paths come from the input
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")  # what could start markup or split a table cell


def render_fleet(doc, fmt):
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    env = Environment(undefined=StrictUndefined, autoescape=(fmt == "html"), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = lambda text: _MD_SPECIAL.sub(r"\\\1", _clean(text)).replace("\n", " ")
    env.filters["clean"] = _clean
    layout = resources.files("calirules.templates").joinpath("report", _LAYOUTS[fmt]).read_text(encoding="utf-8")
    return env.from_string(layout).render(doc=doc, rows=_rows(doc), table=_text_table(doc) if fmt == "text" else None,
                                          headline=headline(doc))


def headline(doc):
    summary = doc["summary"]
    parts = [f"{summary[k]} {k}" for k in ("found", "healthy", "inconclusive", "error") if summary[k]]
    findings = len(doc["cluster_findings"])
    return (f"{summary['nodes']} node{'s' * (summary['nodes'] != 1)}: {', '.join(parts) or 'none'}; "
            f"{findings} cross-node finding{'s' * (findings != 1)}")


def _clean(text):
    return _CONTROL.sub("?", str(text))


def _rows(doc):
    """Per node: its cells in column order (the confidence, or None where the cause was not found)."""
    rows = []
    for entry in doc["nodes"]:
        found = {c["id"]: c["confidence"] for c in entry["causes"]}
        rows.append({"entry": entry, "cells": [found.get(c["id"]) for c in doc["causes"]]})
    return rows


def _text_table(doc):
    """Lines of the nodes x causes table; columns are numbered [1].. and named in the legend below,
    so the table stays narrow however long cause ids are."""
    header = ["NODE", "VERDICT"] + [f"[{i}]" for i in range(1, len(doc["causes"]) + 1)]
    body = []
    for row in _rows(doc):
        entry = row["entry"]
        if entry["verdict"] == "error":
            body.append([_clean(entry["node"]), "error", _clean(entry["error"])])
        else:
            body.append([_clean(entry["node"]), entry["verdict"]] +
                        [f"{v:.2f}" if v is not None else "." for v in row["cells"]])
    widths = [max([len(header[i])] + [len(r[i]) for r in body if len(r) > i and not (r[1] == "error" and i >= 2)])
              for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    for r in body:
        if r[1] == "error":
            lines.append(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}".rstrip())
        else:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return lines
