"""From rule firings to ranked findings: the confidence model.

1. A firing of rule r starts at r.confidence: how often the `when` conditions mean this cause,
   given that every section the rule reads was collected.
2. Each section the rule `assumes` (reads nothing from, but whose absence could hide a different
   explanation) that is missing multiplies it by ASSUMPTION_FACTOR, and is reported as missing
   evidence.
3. Matched `support` patterns of that firing combine by noisy-OR: c = 1 - (1-c) * prod(1 - w).
3b. Matched `against` patterns (counter-evidence: the cause's predicted consequence is absent)
   then scale it down: c = c * prod(1 - w).
4. One rule firing on many interfaces is one kind of evidence: the rule scores its best firing
   and lists all of them.
5. Different rules for one cause are independent evidence: noisy-OR over rules.
6. Causal links (catalog `leads_to`, rule `leads_to`): a found root cause whose firings cover a
   mechanism's firings (same interface / backend, or the node) explains it: the mechanism is
   listed right after its root, never above it, and the root inherits the symptom of a found
   mechanism it explains.
7. A cause that cannot produce the reported symptom (catalog `symptoms`) is multiplied by
   OFF_SYMPTOM_FACTOR and always ranked after every cause that can.
A cause is "found" at FOUND_THRESHOLD and above. Missing evidence never fires a rule: a rule
whose required sections are absent is not evaluated, and the gap is reported with the command
that would fill it.
"""

import re
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
class FiringScore:
    """The arithmetic of one firing, step by step (what `--explain` prints)."""
    firing: object
    base: float  # the rule's constant
    assumed: float  # after ASSUMPTION_FACTOR per missing assumed section
    supports: list  # (item, support firing) pairs, one per item
    supported: float  # after noisy-OR with the supports' weights
    against: list  # (item, against firing) pairs, one per item
    final: float  # after multiplying by (1 - weight) per counter-evidence item


@dataclass
class RuleResult:
    rule: object
    confidence: float
    firings: list
    supports: list = field(default_factory=list)  # (support item, firing) pairs that matched
    missing_assumptions: list = field(default_factory=list)
    against: list = field(default_factory=list)  # (against item, firing) pairs that matched
    scores: list = field(default_factory=list)  # FiringScore per main firing, best first


@dataclass
class Cover:
    """A found root cause that explains a mechanism's firings through a causal link."""
    root: str
    link: object
    firings: list  # the mechanism's main firings the root covers


@dataclass
class Finding:
    cause: object
    confidence: float
    explains_symptom: bool
    severity: str
    results: list
    raw_confidence: float = None  # before the off-symptom factor
    own_symptom: bool = None  # the cause itself (not through a mechanism) can produce the symptom
    caused_by: list = field(default_factory=list)  # Cover: roots explaining all of this finding's firings
    partly_caused_by: list = field(default_factory=list)  # Cover: roots explaining some of them
    leads_to: list = field(default_factory=list)  # (mechanism cause id, link) this finding explains
    depth: int = 0  # 0 for a root; 1 for its mechanism; ...

    @property
    def found(self):
        return self.confidence >= FOUND_THRESHOLD

    @property
    def firings(self):
        return [f for r in self.results for f in r.firings]


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
    verdict: str = "healthy"
    summary: object = None  # the node as the combiners summarised it for reports (combiners.summary)


# Sections that decide whether a packet can cross the host: without them a quiet report proves
# nothing about the data plane, so the verdict is "inconclusive", not "healthy".
DECISIVE_SECTIONS = ("sysctls", "interfaces", "routes", "netfilter")


def noisy_or(probabilities):
    remaining = 1.0
    for p in probabilities:
        remaining *= 1.0 - p
    return 1.0 - remaining


def rank(rulebook, firings, sections, symptom, collection_missing=()):
    """Combine firings into Findings sorted best first, plus the evidence we lacked."""
    causes = catalog()
    main = {}
    extra = {}  # (rule id, main firing key, kind) -> support / against firings
    for firing in firings:
        if firing.kind == "main":
            main.setdefault(firing.rule_id, []).append(firing)
        elif firing.kind in ("support", "against"):
            extra.setdefault((firing.rule_id, firing.key, firing.kind), []).append(firing)

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
        results_by_cause.setdefault(rule.cause, []).append(
            _score_rule(rule, main[rule.id], extra, missing_assumed))

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

    findings = {}
    for cause_id, results in results_by_cause.items():
        cause = causes[cause_id]
        symptoms = set().union(*(r.rule.symptoms for r in results))
        confidence = round(noisy_or(r.confidence for r in results), 4)
        severity = min((r.rule.severity for r in results), key=SEVERITY_ORDER.index)
        results.sort(key=lambda r: -r.confidence)
        own = symptom in symptoms
        findings[cause_id] = Finding(cause, confidence, own, severity, results, confidence, own)
    _apply_links(rulebook.links, findings)
    for finding in findings.values():
        if not finding.explains_symptom:
            finding.confidence = round(finding.raw_confidence * OFF_SYMPTOM_FACTOR, 4)
    ordered = _order(findings)
    fired = {f.rule_id for f in firings if f.kind in ("main", "derive")}
    missing = gaps.entries()
    return Diagnosis(symptom, ordered, missing, sections, fired, _verdict(ordered, missing, symptom, causes))


def _score_rule(rule, main_firings, extra, missing_assumed):
    """A rule scores its best firing (steps 1-4 above) and keeps every firing's arithmetic."""
    scores, supports, against = [], [], []
    for firing in main_firings:
        base = rule.confidence
        assumed = base * ASSUMPTION_FACTOR ** len(missing_assumed)
        these = _unique((rule.support[s.item_index], s)
                        for s in _in_rule_order(extra.get((rule.id, firing.key, "support"), ())))
        supported = noisy_or([assumed] + [item["weight"] for item, _ in these])
        counter = _unique((rule.against[a.item_index], a)
                          for a in _in_rule_order(extra.get((rule.id, firing.key, "against"), ())))
        final = supported
        for item, _ in counter:
            final *= 1.0 - item["weight"]
        scores.append(FiringScore(firing, base, assumed, these, supported, counter, final))
        supports.extend(these)
        against.extend(counter)
    scores.sort(key=lambda s: -s.final)
    return RuleResult(rule, round(scores[0].final, 4), main_firings, _unique(supports), missing_assumed,
                      _unique(against), scores)


# --- causal links: root cause over mechanism ---------------------------------------------------

_IFACE_FIELDS = ("iface", "name", "host_iface", "smallest")
_IFACE_TEXT_FIELDS = ("misrouted", "shared_ips", "message", "first_block", "text")
# A workload interface name in free text: cali + hex-ish, not a chain (cali-...) or "calico".
_IFACE_IN_TEXT = re.compile(r"(?<![\w-])(cali(?!co)[0-9A-Za-z]{3,})(?![\w-])")


def firing_subjects(firing):
    """(interfaces, backends) a firing is about, read from the facts and variables it bound."""
    interfaces, backends = set(), set()
    values = list(firing.variables.items())
    for fact in firing.facts.values():
        values.extend((k, fact.get(k)) for k in _IFACE_FIELDS + _IFACE_TEXT_FIELDS + ("backend",))
    for key, value in values:
        if value is None:
            continue
        if key == "backend" and isinstance(value, str):
            backends.add(value)
        elif key in _IFACE_FIELDS and isinstance(value, str):
            if value.startswith("cali") and _IFACE_IN_TEXT.fullmatch(value):
                interfaces.add(value)
        elif key in _IFACE_TEXT_FIELDS:
            for text in value if isinstance(value, (list, tuple)) else [value]:
                interfaces.update(_IFACE_IN_TEXT.findall(str(text)))
    return interfaces, backends


def covers(link, root_firing, mechanism_firing):
    """Does this firing of the root explain this firing of the mechanism (same subject)?"""
    if link.scope == "node":
        return True
    root_ifaces, root_backends = firing_subjects(root_firing)
    mech_ifaces, mech_backends = firing_subjects(mechanism_firing)
    if link.scope == "interface":
        # A root that names no interface (a node-wide manager, a dead Felix) covers every one.
        return not root_ifaces or bool(root_ifaces & mech_ifaces)
    return not root_backends or not mech_backends or bool(root_backends & mech_backends)


def _covered(link, root_firings, mechanism_firings):
    """The mechanism's firings some root firing covers: one pass over each side (a node with
    1,000 pods may have 1,000 firings on both), same answer as `covers` over every pair."""
    if link.scope == "node":
        return list(mechanism_firings)
    index = 0 if link.scope == "interface" else 1
    subjects = [firing_subjects(f)[index] for f in root_firings]
    if any(not s for s in subjects):
        everything = True  # a root firing that names no interface/backend covers them all
    else:
        everything, union = False, set().union(*subjects)
    covered = []
    for firing in mechanism_firings:
        mine = firing_subjects(firing)[index]
        if everything or (index == 1 and not mine) or mine & union:
            covered.append(firing)
    return covered


def _apply_links(links, findings):
    """Mark mechanisms explained by found roots; a root inherits the symptom of found mechanisms."""
    for link in links:
        root, mechanism = findings.get(link.root), findings.get(link.mechanism)
        if root is None or mechanism is None or root.raw_confidence < FOUND_THRESHOLD:
            continue
        covered = _covered(link, root.firings, mechanism.firings)
        if not covered:
            continue
        cover = Cover(link.root, link, covered)
        if len(covered) == len(mechanism.firings):
            mechanism.caused_by.append(cover)
            root.leads_to.append((link.mechanism, link))
        else:
            mechanism.partly_caused_by.append(cover)
    # A root explains the symptom when a found mechanism it fully explains does (transitively).
    changed = True
    while changed:
        changed = False
        for finding in findings.values():
            if finding.explains_symptom:
                continue
            for mechanism_id, _link in finding.leads_to:
                mechanism = findings[mechanism_id]
                if mechanism.explains_symptom and mechanism.raw_confidence >= FOUND_THRESHOLD:
                    finding.explains_symptom = changed = True
                    break


def _sort_key(finding):
    return (not finding.explains_symptom, -finding.confidence, SEVERITY_ORDER.index(finding.severity),
            finding.cause.id)


def _order(findings):
    """Best first; each root is followed by the mechanisms it explains (never ranked above it)."""
    children = {}
    for finding in findings.values():
        if finding.caused_by:
            parent = min((findings[c.root] for c in finding.caused_by), key=_sort_key)
            children.setdefault(parent.cause.id, []).append(finding)
    heads = sorted((f for f in findings.values() if not f.caused_by), key=_sort_key)
    ordered, seen = [], set()

    def place(finding, depth):
        if finding.cause.id in seen:
            return
        seen.add(finding.cause.id)
        finding.depth = depth
        ordered.append(finding)
        for child in sorted(children.get(finding.cause.id, ()), key=_sort_key):
            place(child, depth + 1)

    for head in heads:
        place(head, 0)
    for finding in sorted(findings.values(), key=_sort_key):  # only reachable through a cycle: none
        place(finding, 0)
    return ordered


def _verdict(findings, missing, symptom, causes):
    if any(f.found for f in findings):
        return "found"
    for entry in missing:
        if entry.section in DECISIVE_SECTIONS and any(symptom in causes[c].symptoms for c in entry.needed_for):
            return "inconclusive"
    return "healthy"


def _in_rule_order(firings):
    """Support or counter-evidence firings in the order the rule lists its items, then by the facts
    they matched: experta fires tied activations in memory-address order, which differs from one
    process to the next, and the report and --explain must not."""
    return sorted(firings, key=lambda f: (f.item_index, sorted((name, str(fact.get("source")))
                                                              for name, fact in f.facts.items())))


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
