"""Report document -> text, JSON, Markdown or HTML. Layouts live in templates/report/.

Markdown and HTML put every node of a cluster bundle in one document (one summary, a section per
node); text prints the nodes' reports one after another.
"""

import json
from importlib import resources

from jinja2 import Environment, StrictUndefined

from calirules.report import remediation, terminal
from calirules.report.probe import outcome as probe_outcome
from calirules.report.probe import render_probe

_LAYOUTS = {"text": "text.j2", "markdown": "markdown.j2", "html": "html.j2"}
SEVERITY_ORDER = ("low", "medium", "high", "critical")


def render(report, fmt, width=terminal.DEFAULT_WIDTH, color=False):
    """One node's report. Text is wrapped to `width` columns and coloured when `color`."""
    return render_many([report], fmt, width, color) if fmt != "json" else \
        json.dumps(report, indent=2, sort_keys=False) + "\n"


def render_many(reports, fmt, width=terminal.DEFAULT_WIDTH, color=False):
    """Several nodes (a cluster diags bundle): one JSON, Markdown or HTML document; text reports in a row."""
    if fmt == "json":
        if len(reports) == 1:
            return render(reports[0], "json")
        return json.dumps({"schema": "calirules/reports/v1", "reports": reports}, indent=2) + "\n"
    env = _environment(fmt)
    layout = env.from_string(resources.files("calirules.templates").joinpath("report", _LAYOUTS[fmt])
                             .read_text(encoding="utf-8"))
    multi = len(reports) > 1
    views = [_view(report, fmt, multi) for report in reports]
    if fmt == "text":
        separator = "\n" + "=" * width + "\n\n"
        return separator.join(terminal.layout(layout.render(node=view, multi=multi), width, color) for view in views)
    return layout.render(nodes=views, multi=multi, header=_header(reports[0]), title=_title(reports))


def _title(reports):
    if len(reports) == 1:
        return reports[0]["node"]
    bundle = reports[0]["source"].rsplit(" (node ", 1)[0].rstrip("/")
    return f"{len(reports)} nodes of {bundle.rsplit('/', 1)[-1]}"


def _environment(fmt):
    env = Environment(undefined=StrictUndefined, autoescape=(fmt == "html"), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True,
                      finalize=terminal.printable if fmt == "text" else None)
    env.filters["indent_block"] = _indent_block
    env.filters["style"] = terminal.style
    env.filters["lines"] = lambda text: str(text).split("\n")
    env.filters["md"] = remediation.md_inline
    env.filters["md_code"] = remediation.md_code
    env.filters["md_fence"] = remediation.md_fence
    env.filters["remediation_blocks"] = remediation.blocks
    env.filters["code_spans"] = _code_spans
    env.filters["pct"] = lambda value: f"{round(float(value) * 100)}%"
    env.globals["header"] = _header
    env.globals["hang_here"] = terminal.hang_here
    return env


def _view(report, fmt, multi):
    """What every layout needs of one report, computed once."""
    probe = report.get("probe")
    found = [c for c in report["causes"] if c["found"]]
    prefix = f"{_slug(report['node'])}--" if multi else ""
    return {"report": report, "found": found, "unlikely": [c for c in report["causes"] if not c["found"]],
            "verdict": verdict_line(report), "verdict_kind": verdict_kind(report),
            "anomalies": {a["id"]: a for a in report.get("anomalies", ())},
            "titles": {c["id"]: c for c in report["causes"]},
            "numbers": {c["id"]: index for index, c in enumerate(found, 1)},
            "anchor": {c["id"]: prefix + c["id"] for c in report["causes"]}, "node_anchor": f"node-{_slug(report['node'])}",
            "id_width": max((len(c["id"]) + (5 if c.get("depth") else 0) for c in found), default=0),
            "probe_block": render_probe(probe, fmt, embedded=True) if probe else "",
            "probe_outcome": probe_outcome(probe) if probe else ""}


def _header(report):
    """The provenance line every layout shows: calirules version, run time, evidence time."""
    evidence = report.get("evidence_collected_at")
    return (f"calirules {report.get('calirules_version', '?')} · run {report.get('generated_at', '?')} · "
            + (f"evidence collected {evidence}" if evidence else "evidence collection time: not in the source"))


def verdict_kind(report):
    return report.get("verdict", "found" if any(c["found"] for c in report["causes"]) else "healthy")


def _slug(text):
    return "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in str(text)) or "node"


def _code_spans(text):
    """HTML of remediation prose: `...` spans become <code>, everything else escaped."""
    from markupsafe import Markup, escape
    parts = remediation._CODE_SPAN.split(str(text))
    return Markup("".join(f"<code>{escape(part[1:-1])}</code>" if index % 2 else str(escape(part))
                          for index, part in enumerate(parts)))


def verdict_line(report):
    """The report's first statement: what was found, or why nothing was, in one line."""
    verdict = report.get("verdict", "found" if any(c["found"] for c in report["causes"]) else "healthy")
    threshold = report["threshold"]
    if verdict == "found":
        found = [c for c in report["causes"] if c["found"]]
        roots = [c for c in found if not c.get("caused_by")]
        anomalies = report.get("anomalies", ())
        explained = sum(1 for a in anomalies if a["explained_by"])
        they = "they explain" if len(roots) > 1 else "it explains"
        mechanisms = len(found) - len(roots)
        text = (f"Verdict: found: {len(roots)} root cause{'s' * (len(roots) != 1)}"
                + (f" (+{mechanisms} mechanism{'s' * (mechanisms != 1)} {they})" if mechanisms else "")
                + f" at confidence >= {threshold}")
        if anomalies:
            text += f"; {they} {explained} of {len(anomalies)} anomalies"
        if report.get("reproduced") is False:
            text += " (configuration only: the probe's path works)"
        return text
    if verdict == "inconclusive":
        gaps = [m["what"] for m in report["missing_evidence"] if m.get("section") in ("sysctls", "interfaces", "routes",
                                                                                        "netfilter")]
        return (f"Verdict: inconclusive: no cause at confidence >= {threshold}, but evidence that could show one "
                f"was not collected ({'; '.join(gaps[:3])}{'; ...' if len(gaps) > 3 else ''})")
    return f"Verdict: healthy: no cause at confidence >= {threshold}, with the data-plane evidence collected"


def _indent_block(text, width=6):
    pad = " " * width
    return "\n".join(pad + line if line.strip() else "" for line in str(text).splitlines())


def render_explanation(doc, fmt):
    """An --explain document as JSON or as text a person reads top to bottom."""
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    out = [f"Why {'' if doc['found'] else 'not '}{doc['cause']} on node {doc['node']} (symptom: {doc['symptom']})",
           f"  {doc['title']}"]
    if doc.get("rank"):
        out.append(f"  ranked {doc['rank']} at confidence {doc['confidence']:.2f}"
                   f" ({'found' if doc['found'] else 'below the threshold'})")
    else:
        out.append("  no rule of this cause fired: confidence 0")
    for rule in doc["rules"]:
        out.append("")
        out.append(f"rule {rule['rule']} (constant {rule['base_confidence']:.2f}): {rule['status']}")
        if rule.get("missing_sections"):
            out.append(f"  not evaluated: the dump lacks {', '.join(rule['missing_sections'])}")
            continue
        if rule.get("why"):
            out.append(f"  why not: {rule['why']}")
        for pattern in rule.get("patterns", ()):
            where = ", ".join(f"{k}: {json.dumps(v)}" for k, v in pattern["where"].items()) or "any"
            head = f"  {pattern['group']} {pattern['fact']} {{{where}}}"
            if pattern["matched"]:
                sources = ", ".join(s for s in pattern["matched_sources"] if s)
                out.append(f"{head}: matched {pattern['matched']} of {pattern['candidates']}"
                           + (f" [{sources}]" if sources else ""))
            else:
                out.append(f"{head}: matched none of {pattern['candidates']}")
                closest = pattern.get("closest")
                if closest:
                    failed = "; ".join(f"{f['field']} is {json.dumps(f['value'])}, needs {json.dumps(f['expected'])}"
                                       for f in closest["failed"])
                    out.append(f"      closest: {closest['source']}: {failed}")
            if pattern.get("joins"):
                out.append(f"      joins on: {', '.join(pattern['joins'])}")
        for firing in rule.get("firings", ()):
            sources = ", ".join(f"{n}={f['source']}" for n, f in firing["facts"].items() if f["source"])
            steps = [f"{firing['base']:.2f}"]
            if firing["after_assumptions"] != firing["base"]:
                steps.append(f"x {0.75}^{len(rule['missing_assumptions'])} for missing "
                             f"{', '.join(rule['missing_assumptions'])} = {firing['after_assumptions']:.4f}")
            for item in firing["supports"]:
                steps.append(f"noisy-OR support {item['weight']} ({item['says']})")
            if firing["supports"]:
                steps.append(f"= {firing['after_support']:.4f}")
            for item in firing["against"]:
                steps.append(f"x (1 - {item['weight']}) against: {item['says']}")
            steps.append(f"= {firing['final']:.4f}")
            out.append(f"  firing [{sources}]:")
            out.extend(f"      {step}" for step in steps)
        if rule.get("firing_count", 0) > len(rule.get("firings", ())):
            out.append(f"  ... {rule['firing_count'] - len(rule['firings'])} more firings")
        for item in rule.get("against_not_matched", ()):
            out.append(f"  counter-evidence not found (would weigh {item['weight']}): {item['says']}")
        if "confidence" in rule:
            out.append(f"  rule score (best firing): {rule['confidence']:.4f}")
    combination = doc.get("combination")
    if combination:
        out.append("")
        parts = " , ".join(f"{r['rule']} {r['confidence']:.4f}" for r in combination["rules"])
        out.append(f"cause: noisy-OR over rules ({parts}) = {combination['noisy_or']:.4f}")
        if combination["off_symptom_factor"] is not None:
            out.append(f"  x {combination['off_symptom_factor']} (cannot produce {doc['symptom']}) = {combination['final']:.4f}")
        elif not combination["own_symptom"]:
            out.append(f"  explains {doc['symptom']} through a found mechanism it causes")
    links = doc.get("links") or {}
    for cover in links.get("caused_by", ()):
        out.append(f"caused by {cover['root']} ({cover['scope']}): {cover['says']}; listed right after it")
    for cover in links.get("partly_caused_by", ()):
        out.append(f"partly caused by {cover['root']}: {cover['covered_firings']} firing(s) covered")
    for link in links.get("leads_to", ()):
        out.append(f"leads to {link['cause']} ({link['scope']}): {link['says']}")
    return "\n".join(out) + "\n"
