"""A probe document (schema calirules/probe/v1) -> text, JSON, Markdown or HTML.

The per-hop table is the guide's trace as it happened: each capture point in path order, how many probe
packets and answers it saw, and when. Layouts live in templates/report/ (probe-text.j2 and its
markdown and html siblings); the diagnosis report embeds the same block when `diagnose --probe`
ran one.
"""

import json
import re
from importlib import resources

from jinja2 import Environment, StrictUndefined

PROBE_SCHEMA = "calirules/probe/v1"
# Kernel statistics that say something went wrong; the rest (InReceives, ForwDatagrams, octets) rise
# with any forwarded packet and stay in the JSON only.
_NOTABLE_COUNTER = re.compile(r"drop|err|fail|discard|noroute|unreach|filter|invalid|prohib|overflow|"
                              r"full|missed|timeout", re.IGNORECASE)
_LAYOUTS = {"text": "probe-text.j2", "markdown": "probe-markdown.j2", "html": "probe-html.j2"}


def render_probe(doc, fmt, *, embedded=False):
    """The probe document in `fmt`; `embedded`: the block a diagnosis report carries (no title)."""
    if fmt == "json":
        return json.dumps(doc, indent=2) + "\n"
    env = Environment(undefined=StrictUndefined, autoescape=(fmt == "html"), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["ms"] = _milliseconds
    layout = resources.files("calirules.templates").joinpath("report", _LAYOUTS[fmt]).read_text(encoding="utf-8")
    kernel = doc.get("kernel_counters") or []
    notable = [k for k in kernel if _NOTABLE_COUNTER.search(k["name"])]
    return env.from_string(layout).render(probe=doc, embedded=embedded, outcome=outcome(doc),
                                          names=_hop_names(doc), notable_kernel=notable,
                                          traffic_counters=len(kernel) - len(notable))


def outcome(doc):
    """The probe's result in words: did the symptom show up?"""
    flow, sent = doc["flow"], doc.get("sent") or {}
    got = f"{sent.get('replies', 0)}/{sent.get('sent', flow['count'])}"
    if doc["reached"] and doc["replied"] and not doc.get("drop"):
        return (f"path works: {flow['dst']} received the probes and answered ({got}); the symptom was not "
                "reproduced")
    if doc["replied"]:
        return f"partly works: {got} answered"
    if doc["reached"]:
        return f"reached {flow['dst']} but no answer came back ({got})"
    return f"did not reach {flow['dst']} ({got} answered)"


def _hop_names(doc):
    """Interface names with the pod they belong to: `eth0` alone says nothing in a table of four."""
    pods = {"src-pod": doc["src"], "dst-pod": doc["dst"]}
    names = {}
    for hop in doc["hops"]:
        endpoint = pods.get(hop["role"])
        owner = endpoint and (endpoint.get("name") or endpoint.get("ip"))
        names[hop["role"]] = f"{hop['where']} ({owner})" if owner else hop["where"]
    return names


def _milliseconds(value):
    return "-" if value is None else f"{value:.1f} ms"
