"""From rule firings to ranked findings: the confidence model (docs/confidence.md).

1. A firing of rule r starts at r.confidence: how often the `when` conditions mean this cause,
   given that every section the rule reads was collected.
2. Each section the rule `assumes` (reads nothing from, but whose absence could hide a different
   explanation) that is missing multiplies it by ASSUMPTION_FACTOR, and is reported as missing
   evidence.
3. Matched `support` patterns of that firing combine by noisy-OR: c = 1 - (1-c) * prod(1 - w).
4. One rule firing on many interfaces is one kind of evidence: the rule scores its best firing
   and lists all of them.
5. Different rules for one cause are independent evidence: noisy-OR over rules.
6. A cause that cannot produce the reported symptom (catalog `symptoms`) is multiplied by
   OFF_SYMPTOM_FACTOR and always ranked after every cause that can.
A cause is "found" at FOUND_THRESHOLD and above. Missing evidence never fires a rule: a rule
whose required sections are absent is not evaluated, and the gap is reported with the command
that would fill it.
"""

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from calirules.engine.rulebook import SEVERITY_ORDER, catalog

ASSUMPTION_FACTOR = 0.75
OFF_SYMPTOM_FACTOR = 0.5
FOUND_THRESHOLD = 0.5


@lru_cache(maxsize=None)
def section_catalog():
    text = resources.files("calirules.engine").joinpath("data/sections.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@dataclass
class RuleResult:
    rule: object
    confidence: float
    firings: list
    supports: list = field(default_factory=list)  # (support item, firing) pairs that matched
    missing_assumptions: list = field(default_factory=list)


@dataclass
class Finding:
    cause: object
    confidence: float
    explains_symptom: bool
    severity: str
    results: list

    @property
    def found(self):
        return self.confidence >= FOUND_THRESHOLD


@dataclass
class MissingEvidence:
    section: str
    what: str
    collect_with: str
    needed_for: list
    reason: str = None


@dataclass
class Diagnosis:
    symptom: str
    findings: list
    missing: list
    sections: set
    fired_rules: set = field(default_factory=set)


def noisy_or(probabilities):
    remaining = 1.0
    for p in probabilities:
        remaining *= 1.0 - p
    return 1.0 - remaining


def rank(rulebook, firings, sections, symptom, collection_missing=()):
    """Combine firings into Findings sorted best first, plus the evidence we lacked."""
    causes = catalog()
    main = {}
    supports = {}
    for firing in firings:
        if firing.kind == "main":
            main.setdefault(firing.rule_id, []).append(firing)
        elif firing.kind == "support":
            supports.setdefault((firing.rule_id, firing.key), []).append(firing)

    gaps = _Gaps(collection_missing)
    results_by_cause = {}
    for rule in rulebook.rules:
        if not rule.cause:
            continue
        missing_required = rulebook.required_sections(rule) - sections
        if missing_required:
            for section in sorted(missing_required):
                gaps.add(section, rule.cause)
            continue
        if rule.id not in main:
            continue
        missing_assumed = [a for a in rule.assumes if a["section"] not in sections]
        for item in missing_assumed:
            gaps.add(item["section"], rule.cause, reason=item["why"])
        best, matched = 0.0, []
        for firing in main[rule.id]:
            confidence = rule.confidence * ASSUMPTION_FACTOR ** len(missing_assumed)
            these = [(rule.support[s.support_index], s) for s in supports.get((rule.id, firing.key), [])]
            confidence = noisy_or([confidence] + [item["weight"] for item, _ in _unique(these)])
            if confidence > best:
                best = confidence
            matched.extend(these)
        results_by_cause.setdefault(rule.cause, []).append(
            RuleResult(rule, round(best, 4), main[rule.id], _unique(matched), missing_assumed))

    # What the collector itself could not read, even inside a section it did read (e.g. one of
    # two iptables backends), is reported for every cause whose rules read that section.
    for item in collection_missing:
        section = item.get("section")
        if section not in sections:
            continue  # the whole section is missing: reported once above, with these details
        for rule in rulebook.rules:
            if rule.cause and section and (section in rulebook.required_sections(rule)
                                           or any(a["section"] == section for a in rule.assumes)):
                gaps.add_reported(item, rule.cause)

    findings = []
    for cause_id, results in results_by_cause.items():
        cause = causes[cause_id]
        symptoms = set().union(*(r.rule.symptoms for r in results))
        explains = symptom in symptoms
        confidence = noisy_or(r.confidence for r in results)
        if not explains:
            confidence *= OFF_SYMPTOM_FACTOR
        severity = min((r.rule.severity for r in results), key=SEVERITY_ORDER.index)
        results.sort(key=lambda r: -r.confidence)
        findings.append(Finding(cause, round(confidence, 4), explains, severity, results))
    findings.sort(key=lambda f: (not f.explains_symptom, -f.confidence, SEVERITY_ORDER.index(f.severity), f.cause.id))
    fired = {f.rule_id for f in firings if f.kind in ("main", "derive")}
    return Diagnosis(symptom, findings, gaps.entries(), sections, fired)


def _unique(pairs):
    """One support item counts once per firing, however many facts matched it."""
    seen, out = set(), []
    for item, firing in pairs:
        if id(item) not in seen:
            seen.add(id(item))
            out.append((item, firing))
    return out


class _Gaps:
    """Missing evidence: one entry per absent dump section (keyed by section) or per item a
    collector reported missing inside a section (keyed by (section, what)), naming every cause
    it would decide."""

    def __init__(self, collection_missing):
        self.by_key = {}
        self.reported = {m.get("section"): m for m in collection_missing if m.get("section")}

    def add(self, section, cause_id, reason=None):
        entry = self.by_key.get(section)
        if entry is None:
            known = section_catalog().get(section, {})
            reported = self.reported.get(section, {})
            entry = MissingEvidence(section, reported.get("what") or known.get("what", section),
                                    reported.get("collect_with") or known.get("collect_with", ""),
                                    [], reported.get("reason") or reason)
            self.by_key[section] = entry
        if cause_id not in entry.needed_for:
            entry.needed_for.append(cause_id)

    def add_reported(self, item, cause_id):
        key = (item.get("section"), item["what"])
        entry = self.by_key.get(key)
        if entry is None:
            entry = self.by_key[key] = MissingEvidence(item.get("section"), item["what"],
                                                           item.get("collect_with", ""), [], item.get("reason"))
        if cause_id not in entry.needed_for:
            entry.needed_for.append(cause_id)

    def entries(self):
        for entry in self.by_key.values():
            entry.needed_for.sort()
        return sorted(self.by_key.values(), key=lambda e: (-len(e.needed_for), e.section or "", e.what))
