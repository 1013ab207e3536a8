"""YAML rules -> experta rules, built into a KnowledgeEngine subclass before `reset()`.

How conditions compile (and why):
- a literal (`policy: DROP`) becomes a literal in the pattern, tested once per fact in experta's
  alpha network;
- `$name` binds a variable (MATCH.name); the same variable in two `when` patterns is a join, and
  `ne: $name` compiles to ~W(name) (differs from the bound value);
- operators (`lt`, `regex`, `version_ge`, ...) become P() predicates on the one field, still
  per fact: no TEST() over cross products. An operator never matches an unknown (None) value;
- `unless` patterns become NOT(...); `support` and `against` items are compiled as sibling experta
  rules that repeat the `when` patterns and add the item's pattern (or, for `of: name`, narrow the
  `when` pattern bound as `name` with the item's extra conditions), so corroboration and
  counter-evidence are inferred by the engine too, and matched back to the main firing by the ids
  of the facts it bound.
Every `when` pattern is bound (AS) so findings can name the facts that prove them.
"""

import operator
import re
from dataclasses import dataclass, field

from calirules.base.errors import InputError
from calirules.engine import versions
from calirules.engine.experta_compat import (
    AS,
    MATCH,
    NOT,
    Fact,
    KnowledgeEngine,
    P,
    Rule,
    W,
    experta,
)
from calirules.engine.rulebook import pattern_name
from calirules.engine.vocabulary import FACT_TYPES

_VAR = re.compile(r"^\$([a-z_][a-z0-9_]*)$")
_fact_classes = {}
# experta's rete network, where the match budget is counted (see _meter_network)
ConflictSetNode = experta.matchers.rete.nodes.ConflictSetNode
TwoInputNode = experta.matchers.rete.abstract.TwoInputNode
ChildNode = experta.matchers.rete.mixins.ChildNode


def fact_class(name):
    """One experta Fact subclass per fact type, shared by every engine in the process."""
    if name not in _fact_classes:
        _fact_classes[name] = type(name, (Fact,), {"__doc__": getattr(FACT_TYPES.get(name), "doc", "")})
    return _fact_classes[name]


@dataclass
class Firing:
    rule_id: str
    kind: str  # "main", "support", "against" or "derive"
    key: tuple  # fact ids of the `when` patterns: ties supports to their main firing
    facts: dict  # `as` name -> the experta fact
    variables: dict = field(default_factory=dict)
    item_index: int = None  # which support / against item matched
    _bindings: dict = field(default=None, repr=False)

    @property
    def bindings(self):
        """`as` name -> fact fields as plain Python values; built only for firings a report shows."""
        if self._bindings is None:
            self._bindings = {name: fact_fields(fact) for name, fact in self.facts.items()}
        return self._bindings


def fact_fields(fact):
    return {k: _thaw(v) for k, v in fact.as_dict().items() if not str(k).startswith("__")}


def _thaw(value):
    if isinstance(value, (list, tuple)):
        return [_thaw(v) for v in value]
    if hasattr(value, "items"):
        return {k: _thaw(v) for k, v in value.items()}
    return value


def _predicate(test):
    def check(value):
        if value is None:
            return False
        try:
            return bool(test(value))
        except (TypeError, ValueError):
            return False
    return P(check)


def _version_test(op, bound):
    cmp = {"version_lt": lambda c: c < 0, "version_le": lambda c: c <= 0,
           "version_gt": lambda c: c > 0, "version_ge": lambda c: c >= 0}[op]
    return lambda value: cmp(versions.compare(value, bound))


def _numeric(op, bound):
    fn = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}[op]
    return lambda value: not isinstance(value, bool) and fn(value, bound)


def _value(value):
    """A plain value: `$name` binds, `$$x` is the literal `$x`, anything else is a literal."""
    if isinstance(value, str):
        match = _VAR.match(value)
        if match:
            return getattr(MATCH, match.group(1))
        if value.startswith("$$"):
            return value[1:]
    return value


def _operator(op, arg):
    if op == "eq":
        return _value(arg)
    if op == "ne":
        match = _VAR.match(arg) if isinstance(arg, str) else None
        return ~W(match.group(1)) if match else _predicate(lambda v: v != arg)
    if op in ("lt", "le", "gt", "ge"):
        return _predicate(_numeric(op, arg))
    if op == "in":
        # Listing null explicitly is the one way to accept an unknown value.
        return P(lambda v: v in arg) if None in arg else _predicate(lambda v: v in arg)
    if op == "not_in":
        return _predicate(lambda v: v not in arg)
    if op == "regex":
        rx = re.compile(arg)
        return _predicate(lambda v: rx.search(str(v)) is not None)
    if op == "not_regex":
        rx = re.compile(arg)
        return _predicate(lambda v: rx.search(str(v)) is None)
    if op == "startswith":
        return _predicate(lambda v: str(v).startswith(arg))
    if op == "contains":
        return _predicate(lambda v: arg in v)
    if op == "exists":
        # The one operator that looks at unknowns: exists: false matches None.
        return P(lambda v: v is not None) if arg else P(lambda v: v is None)
    if op == "nonempty":
        return _predicate(lambda v: (len(v) > 0) == arg)
    if op.startswith("version_"):
        return _predicate(_version_test(op, arg))
    raise ValueError(f"unknown operator {op}")


def _constraint(spec):
    if not isinstance(spec, dict):
        return _value(spec)
    parts = [_operator(op, arg) for op, arg in spec.items()]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined


def compile_pattern(pattern):
    constraints = {name: _constraint(spec) for name, spec in (pattern.get("where") or {}).items()}
    return fact_class(pattern["fact"])(**constraints)


def _main_patterns(rule, narrow=None):
    """The `when` patterns (each bound by name) and `unless` as NOT; `narrow` = (as name, extra
    where) adds conditions to one bound pattern: how `of:` support and against items compile."""
    patterns = []
    for i, pattern in enumerate(rule.when):
        name = pattern_name(pattern, i)
        if narrow and narrow[0] == name:
            pattern = dict(pattern, where={**(pattern.get("where") or {}), **(narrow[1] or {})})
        patterns.append(getattr(AS, name) << compile_pattern(pattern))
    patterns += [NOT(compile_pattern(p)) for p in rule.unless]
    return patterns


def _sibling_patterns(rule, item, default_name):
    """A support or against item as the patterns of a sibling rule: the main ones plus the item."""
    if "of" in item:
        return _main_patterns(rule, (item["of"], item.get("where")))
    return _main_patterns(rule) + [getattr(AS, item.get("as") or default_name) << compile_pattern(item)]


def _recorder(rule, kind, item_index=None):
    names = rule.bound_names

    def fire(self, **context):
        bound = [context[n] for n in names]
        key = tuple(f.__factid__ for f in bound)
        if rule.derive:
            self.declare(_derived_fact(rule, context))
            kind_fired = "derive"
        else:
            kind_fired = kind
        self.firings.append(Firing(
            rule.id, kind_fired, key,
            facts={n: context[n] for n in context if isinstance(context[n], Fact)},
            variables={n: _thaw(v) for n, v in context.items() if not isinstance(v, Fact)},
            item_index=item_index))
    fire.__name__ = f"{rule.id}_{kind}{'' if item_index is None else item_index}"
    fire.rule_spec = rule  # for the match budget's error message
    return fire


def _derived_fact(rule, context):
    values = {}
    for fname, spec in rule.derive["fields"].items():
        match = _VAR.match(spec) if isinstance(spec, str) else None
        if match:
            values[fname] = context.get(match.group(1))
        elif isinstance(spec, str) and re.match(r"^\$[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", spec):
            bind, attr = spec[1:].split(".")
            values[fname] = context[bind].get(attr) if bind in context else None
        else:
            values[fname] = spec
    sources = [context[n].get("source") for n in rule.bound_names if n in context]
    values["source"] = next((s for s in sources if s), None)
    return fact_class(rule.derive["fact"])(**values)


# Partial matches (tokens entering a join or the agenda) one compiled rule may build in one run.
# The shipped rules build a few thousand on a 200-pod node; patterns that make a cross product
# (three unjoined patterns over 200 interfaces: 8 million) reach this in about a second, long
# before memory or patience runs out.
MATCH_BUDGET = 50_000


class MatchBudget:
    """Counts the partial matches one experta rule builds and stops the run past the budget."""

    def __init__(self, rule, limit):
        self.rule, self.limit, self.count = rule, limit, 0

    def charge(self):
        self.count += 1
        if self.count > self.limit:
            message = (f"more than {self.limit:,} partial matches on this node: its patterns make a cross "
                       f"product (join them with a shared `$name`)")
            if isinstance(self.rule, str):  # an experta rule not compiled from a rule file
                raise InputError(f"rule {self.rule}: {message}")
            raise self.rule.error(message)


class DiagnosisEngine(KnowledgeEngine):
    """Base class of compiled engines: collects firings instead of printing anything."""

    match_budget = MATCH_BUDGET

    def __init__(self):
        super().__init__()
        self.firings = []
        self.budgets = _meter_network(self.matcher.root_node, self.match_budget)

    def reset_budgets(self):
        for budget in self.budgets:
            budget.count = 0


def _meter_network(root, limit):
    """Route every token that enters a join node or a rule's conflict set node of experta's rete
    network through the MatchBudget of each rule below it; returns the budgets."""
    budgets = {}
    below = {}

    def rules_below(node):
        if id(node) not in below:
            if isinstance(node, ConflictSetNode):
                rule = getattr(node.rule._wrapped, "rule_spec", None) or getattr(node.rule._wrapped, "__name__", "?")
                found = [budgets.setdefault(id(node), MatchBudget(rule, limit))]
            else:
                found = [b for child in node.children for b in rules_below(child.node)]
            below[id(node)] = list({id(b): b for b in found}.values())
        return below[id(node)]

    seen, stack = set(), [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        for index, child in enumerate(node.children):
            stack.append(child.node)
            if isinstance(child.node, (TwoInputNode, ConflictSetNode)):
                node.children[index] = ChildNode(child.node, _metered(child.callback, rules_below(child.node)))
    return list(budgets.values())


def _metered(callback, budgets):
    def metered(token):
        for budget in budgets:
            budget.charge()
        return callback(token)
    return metered


def _engine_class(rulebook, with_predictions):
    attrs = {}
    for number, rule in enumerate(rulebook.rules):
        main = _main_patterns(rule)
        attrs[f"r{number}_main"] = Rule(*main)(_recorder(rule, "main"))
        for kind, items, prefix in (("support", rule.support, "_s"), ("against", rule.against, "_a")):
            for k, item in enumerate(items):
                if item.get("predicted") and not with_predictions:
                    continue
                attrs[f"r{number}_{kind}{k}"] = Rule(*_sibling_patterns(rule, item, f"{prefix}{k}"))(
                    _recorder(rule, kind, k))
    return type("CompiledDiagnosisEngine", (DiagnosisEngine,), attrs)


class CompiledRules:
    """A rulebook's engine, compiled when first needed, in two builds: every rule (calling this
    object makes an engine of it, as calling an engine class would), and one without the items
    compiled from `predicts:` blocks, which run_engine picks when no probe was observed: those items
    cannot match then, and they are half of the experta rules (building experta's network for them
    costs a diagnosis tens of milliseconds)."""

    def __init__(self, rulebook):
        self.rulebook = rulebook
        self._classes = {}

    def engine_class(self, with_predictions=True):
        if with_predictions not in self._classes:
            self._classes[with_predictions] = _engine_class(self.rulebook, with_predictions)
        return self._classes[with_predictions]

    def __call__(self):
        return self.engine_class(True)()


def compile_engine(rulebook):
    """The rulebook's rules as experta rules (CompiledRules: call it for an engine)."""
    return CompiledRules(rulebook)


def _probe_observed(facts):
    return any(type_name == "Observation" and record.get("kind") == "probe" for type_name, record in facts)


def run_engine(engine_class, facts):
    """Declare (type name, fields) facts, run to quiescence, return the firings. `engine_class`
    makes the engine: CompiledRules, an engine class or a factory."""
    if isinstance(engine_class, CompiledRules):
        engine_class = engine_class.engine_class(with_predictions=_probe_observed(facts))
    engine = engine_class()
    engine.reset_budgets()
    engine.reset()
    for type_name, record in facts:
        engine.declare(fact_class(type_name)(**record))
    engine.run()
    return engine.firings
