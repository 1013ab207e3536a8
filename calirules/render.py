"""Report document -> text, JSON, Markdown or HTML. Layouts live in templates/report/."""

import json
from importlib import resources

from jinja2 import Environment, StrictUndefined

_LAYOUTS = {"text": "text.j2", "markdown": "markdown.j2", "html": "html.j2"}


def render(report, fmt):
    if fmt == "json":
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    env = Environment(undefined=StrictUndefined, autoescape=(fmt == "html"), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["indent_block"] = _indent_block
    layout = resources.files("calirules.templates").joinpath("report", _LAYOUTS[fmt]).read_text(encoding="utf-8")
    return env.from_string(layout).render(report=report, found=[c for c in report["causes"] if c["found"]],
                                          unlikely=[c for c in report["causes"] if not c["found"]],
                                          verdict=verdict_line(report),
                                          anomalies={a["id"]: a for a in report.get("anomalies", ())},
                                          titles={c["id"]: c for c in report["causes"]})


def verdict_line(report):
    """The report's first statement: what was found, or why nothing was, in one line."""
    verdict = report.get("verdict", "found" if any(c["found"] for c in report["causes"]) else "healthy")
    threshold = report["threshold"]
    if verdict == "found":
        found = [c for c in report["causes"] if c["found"]]
        roots = [c for c in found if not c.get("caused_by")]
        anomalies = report.get("anomalies", ())
        explained = sum(1 for a in anomalies if a["explained_by"])
        text = (f"Verdict: found: {len(roots)} root cause{'s' * (len(roots) != 1)}"
                f"{f' (+{len(found) - len(roots)} mechanism' + 's' * (len(found) - len(roots) != 1) + ' they explain)' if len(found) > len(roots) else ''}"
                f" at confidence >= {threshold}")
        if anomalies:
            text += f"; {'they explain' if len(found) > 1 else 'it explains'} {explained} of {len(anomalies)} anomalies"
        return text
    if verdict == "inconclusive":
        gaps = [m["what"] for m in report["missing_evidence"] if m.get("section") in ("sysctls", "interfaces", "routes",
                                                                                        "netfilter")]
        return (f"Verdict: inconclusive: no cause at confidence >= {threshold}, but evidence that could show one "
                f"was not collected ({'; '.join(gaps[:3])}{'; ...' if len(gaps) > 3 else ''})")
    return f"Verdict: healthy: no cause at confidence >= {threshold}, with the data-plane evidence collected"


def render_many(reports, fmt):
    """Several nodes (a cluster diags bundle): one JSON document, or the per-node reports in a row."""
    if fmt == "json":
        return json.dumps({"schema": "calirules/reports/v1", "reports": reports}, indent=2) + "\n"
    separator = {"text": "\n" + "=" * 100 + "\n\n", "markdown": "\n---\n\n", "html": "\n"}[fmt]
    return separator.join(render(report, fmt) for report in reports)


def _indent_block(text, width=6):
    pad = " " * width
    return "\n".join(pad + line if line.strip() else "" for line in str(text).splitlines())
