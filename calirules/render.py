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
                                          unlikely=[c for c in report["causes"] if not c["found"]])


def render_many(reports, fmt):
    """Several nodes (a cluster diags bundle): one JSON document, or the per-node reports in a row."""
    if fmt == "json":
        return json.dumps({"schema": "calirules/reports/v1", "reports": reports}, indent=2) + "\n"
    separator = {"text": "\n" + "=" * 100 + "\n\n", "markdown": "\n---\n\n", "html": "\n"}[fmt]
    return separator.join(render(report, fmt) for report in reports)


def _indent_block(text, width=6):
    pad = " " * width
    return "\n".join(pad + line if line.strip() else "" for line in str(text).splitlines())
