"""A rule's `predicts:` block -> ordinary support and against items on Observation {kind: probe}.

A cause that acts on a same-node packet predicts what `calirules probe` observes while it acts:
the kinds of drop it produces, and where. The prediction is compiled here, before the engine is
built, into three items the rest of the engine already knows (so ranking, reports, `--explain`
and rule tests need nothing new):

- support (weight `match`): the probe got no reply and was dropped by one of the predicted kinds,
  under the block's extra `where` conditions;
- against (weight `path_works`): the probe got its reply, so the path works (with `spares_small`,
  only a probe at least the source pod's MTU counts: small packets pass under that cause);
- against (weight `other_drop`): the probe was dropped by a kind of drop the cause does not produce
  (an `unknown` drop contradicts nothing).

The observation is bound as `probe` in each item's `says` (Jinja, like evidence).
"""

PROBE_NAME = "probe"
DEFAULT_WEIGHTS = {"match": 0.6, "path_works": 0.85, "other_drop": 0.6}
# Fields the `drop:` list and the compiled items decide; a `where` may not set them.
DECIDED_FIELDS = ("kind", "drop_kind")

# The probe's text already names the drop ("echo request seen on caliA, not on caliB; dropped by ...").
MATCH_SAYS = "observed: {{ probe.text or probe.drop_detail or 'the probe got no reply' }}"
PATH_WORKS_SAYS = ("observed: the probe reached {{ probe.dst_ip or 'the destination' }} and got its reply: "
                   "the path works")
LARGE_PASSES_SAYS = ("observed: {% if probe.size %}a {{ probe.size }}-byte probe{% else %}a large probe{% endif %}"
                     " (at least the source pod's MTU, with DF) reached {{ probe.dst_ip or 'the destination' }}"
                     " and got its reply: large packets pass")
OTHER_DROP_SAYS = ("observed: the probe was lost to a {{ probe.drop_kind }} drop"
                   "{% if probe.drop_detail or probe.text %} ({{ probe.drop_detail or probe.text }}){% endif %}, "
                   "not to the KINDS drop this cause produces")


def compile_items(predicts):
    """(support items, against items) for a `predicts:` mapping (already checked)."""
    weights = {**DEFAULT_WEIGHTS, **(predicts.get("weights") or {})}
    kinds = list(predicts["drop"])
    spares_small = bool(predicts.get("spares_small"))
    match = {"kind": "probe", "replied": False, "drop_kind": kinds[0] if len(kinds) == 1 else {"in": kinds}}
    if spares_small:
        match["large"] = True
    match.update(predicts.get("where") or {})
    works = {"kind": "probe", "replied": True}
    if spares_small:
        works["large"] = True
    other = {"kind": "probe", "drop_kind": {"not_in": kinds + [k for k in ("unknown",) if k not in kinds]}}
    kinds_text = " or ".join(kinds)
    support = [_item("match", match, weights["match"], predicts.get("says") or MATCH_SAYS)]
    against = [
        _item("path_works", works, weights["path_works"], LARGE_PASSES_SAYS if spares_small else PATH_WORKS_SAYS),
        _item("other_drop", other, weights["other_drop"], OTHER_DROP_SAYS.replace("KINDS", kinds_text)),
    ]
    return support, against


def _item(label, where, weight, says):
    # `predicted` names the item in messages (a rule test's "predicts (path_works) is shown at work").
    return {"fact": "Observation", "as": PROBE_NAME, "where": where, "weight": weight, "says": says,
            "predicted": label}


def compile_into(rule):
    """Append the rule's compiled prediction to its support and against items, once."""
    if rule.predicts is None or any(item.get("predicted") for item in rule.support):
        return
    support, against = compile_items(rule.predicts)
    rule.support = list(rule.support) + support
    rule.against = list(rule.against) + against
