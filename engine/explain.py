"""Why (or why not) a cause: `calirules diagnose ... --explain CAUSE` (no I/O, no rendering).

For each rule of the cause this says whether it was evaluated (the sections it needs were
collected), which `when` / `unless` patterns matched which facts and, for a pattern nothing
matched, the closest fact and the field that failed; then the arithmetic of every firing, from
the rule's constant through missing assumptions, support and counter-evidence, to the rule's
score, the noisy-OR over rules, the off-symptom factor and the causal links that placed it.

Patterns are re-checked here in Python, field by field, with the same semantics the compiler
gives experta (an operator never matches an unknown value). Variables (`$x`) are joins: they
are reported, not re-solved; the engine's firings say which combinations joined.
"""

import re

from calirules.engine import compiler, ranking
from calirules.engine.vocabulary import FACT_TYPES

_VAR = re.compile(r"^\$([a-z_][a-z0-9_]*)$")
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")  # no fact to render an unmatched item with


def field_test(constraint, value):
    """True / False for one `where` field on one value; None for a join on a variable."""
    if not isinstance(constraint, dict):
        if isinstance(constraint, str) and _VAR.match(constraint):
            return None
        if isinstance(constraint, str) and constraint.startswith("$$"):
            constraint = constraint[1:]
        return value == constraint
    results = [_operator_test(op, arg, value) for op, arg in constraint.items()]
    if False in results:
        return False
    return None if None in results else True


def _operator_test(op, arg, value):
    if op in ("eq", "ne") and isinstance(arg, str) and _VAR.match(arg):
        return None
    if op == "eq":
        return value == arg
    if op == "exists":
        return (value is not None) == arg
    if op == "in" and None in arg:
        return value in arg
    if value is None:
        return False
    try:
        if op == "ne":
            return value != arg
        if op in ("lt", "le", "gt", "ge"):
            return compiler._numeric(op, arg)(value)
        if op == "in":
            return value in arg
        if op == "not_in":
            return value not in arg
        if op == "regex":
            return re.search(arg, str(value)) is not None
        if op == "not_regex":
            return re.search(arg, str(value)) is None
        if op == "startswith":
            return str(value).startswith(arg)
        if op == "contains":
            return arg in value
        if op == "nonempty":
            return (len(value) > 0) == arg
        if op.startswith("version_"):
            return compiler._version_test(op, arg)(value)
    except (TypeError, ValueError):
        return False
    return False


def _check_pattern(pattern, candidates):
    """How a pattern fares against the facts of its type: matches, or the closest miss."""
    where = pattern.get("where") or {}
    matched, closest, best = [], None, -1
    for record in candidates:
        failed = []
        for fname, constraint in where.items():
            if field_test(constraint, record.get(fname)) is False:
                failed.append({"field": fname, "value": record.get(fname), "expected": constraint,
                               "source": (record.get("sources") or {}).get(fname) or record.get("source")})
        if not failed:
            matched.append(record)
        elif len(where) - len(failed) > best:
            best, closest = len(where) - len(failed), (record, failed)
    joins = sorted({f"{name} = ${_VAR.match(c).group(1)}" for name, c in where.items() if isinstance(c, str) and _VAR.match(c)}
                   | {f"{name} {op} ${_VAR.match(a).group(1)}" for name, c in where.items() if isinstance(c, dict)
                      for op, a in c.items() if isinstance(a, str) and _VAR.match(a)})
    result = {"fact": pattern["fact"], "where": where, "candidates": len(candidates), "matched": len(matched),
              "matched_sources": [r.get("source") for r in matched[:5]]}
    if joins:
        result["joins"] = joins
    if not matched and closest is not None:
        record, failed = closest
        result["closest"] = {"source": failed[0]["source"], "failed": failed}
    return result


def explain(cause_id, diagnosis, rulebook, facts, firings=(), render=None):
    """A plain dict: the explanation of one cause (schema calirules/explain/v1). `render(text,
    firing)` turns a support's or counter-evidence's `says` template into text (the caller owns
    templating); without it the template is shown as written."""
    render = render or (lambda text, firing: text)
    by_type = {}
    for type_name, record in facts:
        by_type.setdefault(type_name, []).append(record)
    derived = {}
    for firing in firings:
        if firing.kind == "derive":
            rule = next(r for r in rulebook.rules if r.id == firing.rule_id)
            derived.setdefault(rule.derive["fact"], []).append(
                {**{k: None for k in rule.derive["fields"]}, "source": _first_source(firing)})
    finding = next((f for f in diagnosis.findings if f.cause.id == cause_id), None)
    results = {r.rule.id: r for r in finding.results} if finding else {}
    rules = []
    for rule in rulebook.rules:
        if rule.cause != cause_id:
            continue
        entry = {"rule": rule.id, "title": rule.title, "base_confidence": rule.confidence}
        missing = sorted(rulebook.required_sections(rule) - diagnosis.sections)
        if missing:
            entry.update(status="not evaluated", missing_sections=missing)
            rules.append(entry)
            continue
        patterns = []
        for group, items in (("when", rule.when), ("unless", rule.unless)):
            for pattern in items:
                candidates = by_type.get(pattern["fact"]) if pattern["fact"] in FACT_TYPES else derived.get(pattern["fact"], [])
                patterns.append({"group": group, **_check_pattern(pattern, candidates or [])})
        entry["patterns"] = patterns
        result = results.get(rule.id)
        if result is None:
            blocked = [p for p in patterns if p["group"] == "unless" and p["matched"]]
            unmatched = [p for p in patterns if p["group"] == "when" and not p["matched"]]
            entry["status"] = "did not match"
            entry["why"] = ("an `unless` pattern matched" if blocked else "a `when` pattern matched no fact"
                            if unmatched else "the `when` patterns matched, but not on the same values of their "
                                              "shared variables")
        else:
            applied = {id(item) for score in result.scores for item, _ in score.against}
            entry["against_not_matched"] = [{"says": _TEMPLATE_PART.sub("...", item["says"]), "weight": item["weight"]}
                                            for item in rule.against if id(item) not in applied]
            entry.update(status="fired", confidence=result.confidence,
                         missing_assumptions=[a["section"] for a in result.missing_assumptions],
                         firings=[_score(s, render) for s in result.scores[:20]], firing_count=len(result.scores))
        rules.append(entry)
    out = {"schema": "calirules/explain/v1", "cause": cause_id, "symptom": diagnosis.symptom, "rules": rules}
    if finding is None:
        out.update(confidence=0.0, found=False, rank=None)
        return out
    rank = diagnosis.findings.index(finding) + 1
    out.update(
        confidence=finding.confidence, found=finding.found, rank=rank,
        combination={
            "rules": [{"rule": r.rule.id, "confidence": r.confidence} for r in finding.results],
            "noisy_or": finding.raw_confidence,
            "explains_symptom": finding.explains_symptom,
            "own_symptom": finding.own_symptom,
            "off_symptom_factor": None if finding.explains_symptom else ranking.OFF_SYMPTOM_FACTOR,
            "final": finding.confidence,
        },
        links={
            "caused_by": [{"root": c.root, "scope": c.link.scope, "says": c.link.says} for c in finding.caused_by],
            "partly_caused_by": [{"root": c.root, "scope": c.link.scope, "covered_firings": len(c.firings)}
                                 for c in finding.partly_caused_by],
            "leads_to": [{"cause": m, "scope": link.scope, "says": link.says} for m, link in finding.leads_to],
        })
    return out


def _first_source(firing):
    return next((f.get("source") for f in firing.facts.values() if f.get("source")), None)


def _score(score, render):
    def item_view(item, firing):
        name = item.get("of") or item.get("as")
        fact = firing.facts.get(name) if name else next(
            (f for n, f in firing.facts.items() if n not in score.firing.facts), None)
        return {"says": render(item["says"], firing), "weight": item["weight"],
                "source": fact.get("source") if fact is not None else None}

    return {
        "facts": {name: {"fact": type(fact).__name__, "source": fact.get("source")}
                  for name, fact in sorted(score.firing.facts.items())},  # experta's order varies by run
        "base": score.base,
        "after_assumptions": round(score.assumed, 4),
        "supports": [item_view(item, f) for item, f in score.supports],
        "after_support": round(score.supported, 4),
        "against": [item_view(item, f) for item, f in score.against],
        "final": round(score.final, 4),
    }
