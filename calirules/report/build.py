"""Findings -> the report document (schema calirules/report/v1).

This is where rule-supplied text is rendered: evidence lines and remediation templates, with this
node's interface names, addresses, versions and iptables backend as the engine summarised them
(Diagnosis.summary): the report never reads the facts dump itself.
"""

from datetime import datetime, timezone

from calirules.base import __version__, templating
from calirules.engine import calico_features, versions
from calirules.engine.ranking import FOUND_THRESHOLD
from calirules.engine.rulebook import catalog

REPORT_SCHEMA = "calirules/report/v1"
MAX_FIRINGS_SHOWN = 20  # per rule; a 1,000-pod node with proxy_arp off everywhere stays readable

IPTABLES_COMMANDS = {"legacy": "iptables-legacy", "nft": "iptables-nft"}


def build_report(diagnosis, rulebook, source, env=None, probe=None, evidence_collected_at=None):
    # `probe`: the calirules/probe/v1 document of a probe run before the collection, if any.
    # `evidence_collected_at`: when the evidence was collected (the bundle's own time), if known.
    # `env`: a rule environment to reuse (rules lint renders hundreds of reports; Jinja compiles
    # each template once per environment).
    env = env or templating.rule_environment(rulebook.template_dirs)
    base = _base_context(diagnosis)
    anomalies = _Anomalies()
    causes = [_cause(finding, env, base, anomalies) for finding in diagnosis.findings]
    found = {f.cause.id for f in diagnosis.findings if f.found}
    for finding in diagnosis.findings:
        for firing in finding.firings:
            anomaly = anomalies.by_firing.get(id(firing))
            if anomaly is None:
                continue
            if finding.found:
                anomaly["explained_by"].append(finding.cause.id)
            for cover in finding.caused_by + finding.partly_caused_by:
                if cover.root in found and firing in cover.firings and cover.root not in anomaly["explained_by"]:
                    anomaly["explained_by"].append(cover.root)
    for cause in causes:
        cause["explains"] = [a["id"] for a in anomalies.items if cause["id"] in a["explained_by"]]
    report = {
        "schema": REPORT_SCHEMA,
        "node": diagnosis.summary.node["hostname"],
        "source": source,
        "symptom": diagnosis.symptom,
        "verdict": diagnosis.verdict,
        "threshold": FOUND_THRESHOLD,
        "calirules_version": __version__,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **({"evidence_collected_at": evidence_collected_at} if evidence_collected_at else {}),
        "causes": causes,
        "anomalies": anomalies.items,
        "unexplained": [a["id"] for a in anomalies.items if not a["explained_by"]],
        "notes": list(diagnosis.summary.notes),
        "node_facts": node_facts(diagnosis.summary),
        "missing_evidence": [
            {k: v for k, v in {"needed_for": m.needed_for, "what": m.what, "collect_with": m.collect_with,
                               "section": m.section, "reason": m.reason}.items() if v is not None}
            for m in diagnosis.missing
        ],
    }
    if probe is not None:
        report["probe"] = probe
        report["reproduced"] = not (probe["reached"] and probe["replied"] and not probe.get("drop"))
    return report


def node_facts(summary):
    """What comparing this node with others needs (calirules fleet reads it from saved reports):
    identity, versions, MTUs, encapsulation, IP pools and the IPAM blocks it holds."""
    network = summary.network or {}
    return {
        "hostname": summary.node.get("hostname"),
        "node_ips": list(network.get("node_ips", ())),
        "calico_version": _version(summary.versions.get("calico")),
        "kubernetes_version": _version(summary.versions.get("kubernetes")),
        "kubelet_version": _version(summary.versions.get("kubelet")),
        "mtu": network.get("mtu") or {"uplink": None, "workloads": [], "tunnels": {}},
        "encapsulation": list(summary.install.get("encapsulation") or ()),
        "dataplane": summary.install.get("dataplane"),
        "ip_pools": list(summary.pod_cidrs),
        "blocks": list(network.get("blocks", ())),
    }


def _version(text):
    # Compared between nodes as text: only what reads as a version, at a version's length.
    return text if text is not None and versions.parse(text) is not None and len(text) <= 64 else None


class _Anomalies:
    """What a firing observed that a healthy node would not show: one entry per rule firing (its
    first evidence line), and the found causes that explain it (its own, or a root covering it)."""

    def __init__(self):
        self.items = []
        self.by_firing = {}

    def add(self, finding, rule, firing, evidence):
        anomaly = {"id": f"a{len(self.items) + 1}", "text": evidence["text"], "source": evidence["source"],
                   "rule": rule.id, "cause": finding.cause.id, "explained_by": []}
        self.items.append(anomaly)
        self.by_firing[id(firing)] = anomaly


def _base_context(diagnosis):
    node = diagnosis.summary
    backend, calico = node.calico_backend, node.versions.get("calico")
    return {
        "node": node.node,
        "versions": node.versions,
        # What this Calico release can do (engine/data/calico-features.yaml) and how it is
        # installed here (engine/platform.py): templates pick the command that fits.
        "calico": {"version": calico, "has": calico_features.features_for(calico)},
        "install": node.install,
        # Values a command needs, so it can be pasted as printed (no <placeholder>).
        "uplink": node.uplink,
        "workloads": node.workloads,
        "pod_cidrs": node.pod_cidrs,
        "symptom": diagnosis.symptom,
        "calico_backend": backend,
        "iptables": IPTABLES_COMMANDS.get(backend, "iptables"),
        "other_backend": {"legacy": "nft", "nft": "legacy"}.get(backend),
        "other_iptables": IPTABLES_COMMANDS.get({"legacy": "nft", "nft": "legacy"}.get(backend), "iptables"),
    }


def _firing_context(base, firing):
    context = dict(base)
    context.update(firing.variables)
    context.update(firing.bindings)
    return context


def _cause(finding, env, base, anomalies):
    best = finding.results[0]
    evidence, remediations, seen_templates, probe_says = [], [], set(), set()
    for result in finding.results:
        rule = result.rule
        for firing in result.firings[:MAX_FIRINGS_SHOWN]:
            context = _firing_context(base, firing)
            items = [_evidence(env, rule, item, firing, context) for item in rule.evidence or [{"text": rule.title}]]
            anomalies.add(finding, rule, firing, items[0])
            evidence.extend(items)
        if len(result.firings) > MAX_FIRINGS_SHOWN:
            evidence.append({"rule": rule.id, "fact": None, "value": None, "source": None,
                             "text": f"... and {len(result.firings) - MAX_FIRINGS_SHOWN} more like these",
                             "basis": "observed"})
        for kind, pairs, items in (("supporting", result.supports, rule.support),
                                   ("against", result.against, rule.against)):
            prefix = "_s" if kind == "supporting" else "_a"
            for item, firing in pairs:
                name = item.get("of") or item.get("as") or f"{prefix}{items.index(item)}"
                bound = firing.bindings.get(name, {})
                context = _firing_context(base, firing)
                text = templating.render_inline(env, item["says"], context, f"rule {rule.id} {kind}")
                entry = {"rule": rule.id, "fact": item["fact"], "value": None, "source": bound.get("source"),
                         "text": text, "basis": item.get("basis", "observed"), kind: True}
                if kind == "against":
                    entry["weight"] = item["weight"]
                if item["fact"] == "Observation" and bound.get("kind") == "probe":
                    entry["probe"] = True
                    probe_says.add("matches" if kind == "supporting" else "contradicts")
                evidence.append(entry)
        for assumption in result.missing_assumptions:
            evidence.append({"rule": rule.id, "fact": None, "value": None, "source": None,
                             "text": f"not collected: {assumption['section']} ({assumption['why']})",
                             "basis": "observed", "missing": True})
        if rule.remediation and rule.remediation not in seen_templates:
            seen_templates.add(rule.remediation)
            context = dict(base, firings=[_firing_context(base, f) for f in result.firings],
                           **_firing_context(base, result.firings[0]))
            remediations.append(templating.render_file(env, rule.remediation, context))
    cause = {
        "id": finding.cause.id,
        "rule": best.rule.id,
        "rules": [r.rule.id for r in finding.results],
        "title": best.rule.title or finding.cause.title,
        "confidence": finding.confidence,
        "severity": finding.severity,
        "found": finding.found,
        "explains_symptom": finding.explains_symptom,
        "family": finding.cause.family,
        "caused_by": [c.root for c in finding.caused_by],
        "leads_to": [{"cause": mechanism, "says": link.says} for mechanism, link in finding.leads_to],
        "depth": finding.depth,
        "evidence": evidence,
        "remediation": "\n\n".join(remediations),
        "links": sorted({link for r in finding.results for link in r.rule.links}),
    }
    if probe_says:  # what a probe run with the diagnosis said of this cause
        cause["probe"] = "contradicts" if "contradicts" in probe_says else "matches"
    return cause


def _evidence(env, rule, item, firing, context):
    about = item.get("about")
    fact_name, value, source = None, None, None
    if about:
        bind, _, field = about.partition(".")
        fact = firing.bindings.get(bind, {})
        fact_name = _fact_type_of(rule, bind)
        if field:
            fact_name = f"{fact_name}.{field}"
            value = fact.get(field)
            source = (fact.get("sources") or {}).get(field) or fact.get("source")
        else:
            source = fact.get("source")
    else:
        first = next(iter(firing.bindings.values()), {})
        source = first.get("source")
    text = templating.render_inline(env, item["text"], context, f"rule {rule.id} evidence")
    return {"rule": rule.id, "fact": fact_name, "value": value, "source": source, "text": text,
            "basis": item.get("basis", "observed")}


def _fact_type_of(rule, bind):
    return next((p["fact"] for p in rule.when if p.get("as") == bind), bind)


def build_explanation(cause_id, diagnosis, rulebook, facts, firings):
    """The --explain document for one cause, with support and counter-evidence texts rendered."""
    from calirules.engine.explain import explain
    env = templating.rule_environment(rulebook.template_dirs)
    base = _base_context(diagnosis)

    def render(text, firing):
        return templating.render_inline(env, text, _firing_context(base, firing), f"explain {cause_id}")

    doc = explain(cause_id, diagnosis, rulebook, facts, firings, render)
    doc["node"] = diagnosis.summary.node["hostname"]
    doc["title"] = catalog()[cause_id].title
    return doc
