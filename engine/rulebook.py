"""Rule files: loading, schema checks and the semantic checks a schema cannot express.

A rule file is YAML (`apiVersion: calirules/rules/v1`, `rules: [...]`); the language is what
`calirules rules facts` and the rule schema (engine/data/rule-v1.schema.json) describe. Everything that can be wrong in a rule file is reported here, before an
engine is built, as an InputError naming file:line:column: unknown cause ids, fact types or
fields, variables used before they are bound, regexes that do not compile within limits,
unjoined patterns on one fact type, reserved derived-field names, missing templates.
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from calirules.base import yamlio
from calirules.base.errors import InputError
from calirules.base.schemas import Schema
from calirules.engine import testfiles, versions
from calirules.engine.combiners import FACT_INPUTS
from calirules.engine import predictions
from calirules.engine.vocabulary import FACT_TYPES

RULES_API = "calirules/rules/v1"
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
_VAR = re.compile(r"^\$([a-z_][a-z0-9_]*)$")


@dataclass
class Cause:
    id: str
    family: str
    title: str
    symptoms: tuple
    evidence: str = ""
    leads_to: tuple = ()  # Link: this cause can produce those (root -> mechanism)


LINK_SCOPES = ("node", "interface", "backend")


@dataclass(frozen=True)
class Link:
    """A causal link: `root` can produce `mechanism`. A firing of the root covers a firing of the
    mechanism when they share the scope's subject (an interface, an iptables backend) or, for
    scope `node`, always. `origin` says where the link was written, for error messages."""
    root: str
    mechanism: str
    scope: str
    says: str = ""
    origin: str = "catalog"


@lru_cache(maxsize=None)
def catalog():
    """The cause catalog (engine/data/causes.yaml; `calirules rules list` shows the rules on it)."""
    text = resources.files("calirules.engine").joinpath("data/causes.yaml").read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {c["id"]: Cause(c["id"], c["family"], c["title"], tuple(c["symptoms"]), c.get("evidence", ""),
                           tuple(Link(c["id"], link["cause"], link["scope"], link.get("says", ""), "catalog")
                                 for link in c.get("leads_to") or ()))
            for c in data["causes"]}


@dataclass
class RuleSpec:
    id: str
    when: list
    tests: list
    path: Path
    index: int
    text: str = field(repr=False)
    cause: str = None
    title: str = None
    severity: str = "high"
    confidence: float = 0.8
    symptoms: tuple = ()
    description: str = ""
    unless: list = field(default_factory=list)
    support: list = field(default_factory=list)
    against: list = field(default_factory=list)
    predicts: dict = None
    leads_to: list = field(default_factory=list)
    assumes: list = field(default_factory=list)
    evidence: list = field(default_factory=list)
    derive: dict = None
    remediation: str = None
    links: list = field(default_factory=list)

    @property
    def location(self):
        return self.position(["rules", self.index, "id"])

    def position(self, parts):
        return yamlio.locate(self.text, parts)

    def error(self, message, parts=()):
        line, column = self.position(["rules", self.index, *parts])
        return InputError(f"rule {self.id}: {message}", self.path, line, column)

    @property
    def bound_names(self):
        return [pattern_name(p, i) for i, p in enumerate(self.when)]


def pattern_name(pattern, index, prefix="_w"):
    return pattern.get("as") or f"{prefix}{index}"


def accepts_unknown(constraint):
    """A condition that holds for an unknown (None) value does not need that value's section."""
    if constraint is None:
        return True
    if isinstance(constraint, dict):
        return (constraint.get("exists") is False or ("eq" in constraint and constraint["eq"] is None)
                or (isinstance(constraint.get("in"), list) and None in constraint["in"]))
    return False


def variables(where):
    """Names of `$var` references in a where-mapping, with the field they appear in."""
    found = []
    for fname, constraint in (where or {}).items():
        values = constraint.values() if isinstance(constraint, dict) else [constraint]
        for value in values:
            if isinstance(value, str) and _VAR.match(value):
                found.append((fname, _VAR.match(value).group(1)))
    return found


class Rulebook:
    """All rules loaded for one run, indexed by id, with the derived fact types they introduce."""

    def __init__(self, rules, template_dirs):
        self.rules = rules
        self.template_dirs = template_dirs
        self.derived_types = {r.derive["fact"]: tuple(r.derive["fields"]) for r in rules if r.derive}
        self.links = causal_links(rules)

    def links_from(self, cause_id):
        return [link for link in self.links if link.root == cause_id]

    def fields_of(self, fact):
        if fact in FACT_TYPES:
            return FACT_TYPES[fact].fields + ("source", "sources")
        return self.derived_types.get(fact, ()) + ("source", "sources")

    def required_sections(self, rule, _seen=()):
        """Dump sections without which `rule` cannot be evaluated: its facts' and its fields' sections."""
        needed = set()
        for pattern in rule.when + rule.unless:
            spec = FACT_INPUTS.get(pattern["fact"])
            if spec is None:  # a derived fact needs whatever its producing rules need
                for producer in self.rules:
                    if producer.derive and producer.derive["fact"] == pattern["fact"] and producer.id not in _seen:
                        needed |= self.required_sections(producer, _seen + (rule.id,))
                continue
            needed.add(spec.section)
            for fname, constraint in (pattern.get("where") or {}).items():
                if fname in spec.field_sections and not accepts_unknown(constraint):
                    needed.add(spec.field_sections[fname])
        return needed

    def fact_types(self):
        """Fact types some rule matches: the only ones worth declaring to the engine (a 200-pod
        node has ~400 Interface and Pod facts no shipped rule reads; declaring them is a third
        of a diagnosis's engine time)."""
        return frozenset(pattern["fact"] for rule in self.rules
                         for pattern in rule.when + rule.unless + rule.support + rule.against if pattern.get("fact"))

    def sysctl_keys(self):
        """Literal sysctl keys rules name: the only Sysctl facts worth declaring (a node has ~15k)."""
        keys = set()
        for rule in self.rules:
            for pattern in rule.when + rule.unless + rule.support + rule.against:
                if pattern.get("fact") == "Sysctl":
                    key = (pattern.get("where") or {}).get("key")
                    if isinstance(key, str) and not key.startswith("$"):
                        keys.add(key)
                    elif isinstance(key, dict) and isinstance(key.get("in"), list):
                        keys.update(key["in"])
                    else:
                        return None  # a rule matches keys by pattern: declare them all
        return keys


def package_rules_dir():
    return Path(str(resources.files("calirules.rules")))


def package_templates_dir():
    return Path(str(resources.files("calirules.templates")))


def rule_files(paths):
    """The rule files of `paths` (files and directories), each once. Test files are not rule
    files: a directory's are skipped, and a test file named on its own stands for its rule file."""
    files, seen = [], set()
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.suffix in (".yaml", ".yml") and not testfiles.is_test_file(p))
            odd = next((p for p in found if not p.is_file()), None)
            if odd is not None:  # a FIFO or device named like a rule file is refused, not skipped
                raise InputError("not a regular file (a rule file must be one)", odd)
        elif path.is_file():
            found = [testfiles.rule_file_for(path) if testfiles.is_test_file(path) else path]
        else:
            raise InputError("no such rule file or directory", path)
        for file in found:
            if file.resolve() not in seen:  # `rules test` given a shipped rule file names it again
                seen.add(file.resolve())
                files.append(file)
    return files


def load_rulebook(extra_dirs=(), include_package=True, with_tests=True):
    """Load the shipped rules plus any --rules-dir; extra dirs may carry their own templates.

    `with_tests=False` (diagnose) skips the tests: inline ones are blanked before parsing (they are
    much of the shipped rule text) and test files (`x.test.yaml` beside `x.yaml`) are never opened.
    """
    paths = ([package_rules_dir()] if include_package else []) + [Path(d) for d in extra_dirs]
    rules = []
    for path in rule_files(paths):
        file_rules = load_rule_file(path, with_tests)
        if with_tests:
            testfiles.attach_test_file(path, file_rules)
        rules.extend(file_rules)
    if with_tests:
        for directory in (p for p in paths if p.is_dir()):
            for orphan in testfiles.orphan_test_files(directory):
                raise InputError(f"test file without a rule file: {testfiles.rule_file_for(orphan).name} "
                                 "is not next to it", orphan, 1)
    template_dirs = []
    for path in paths:
        base = path if path.is_dir() else path.parent
        template_dirs.extend([base / "templates", base])
    template_dirs.append(package_templates_dir() / "remediation")
    book = Rulebook(rules, [d for d in template_dirs if d.is_dir()])
    check_rulebook(book)
    return book


def _without_tests(rule_schema):
    rule_schema["definitions"]["rule"]["properties"]["tests"] = {"type": "array", "maxItems": 0}
    return rule_schema


RULE_SCHEMA = Schema("calirules.engine", "data/rule-v1.schema.json")
# diagnose loads rules with their inline tests emptied (see _blank_tests)
RULE_SCHEMA_WITHOUT_TESTS = Schema("calirules.engine", "data/rule-v1.schema.json", edit=_without_tests)


def load_rule_file(path, with_tests=True):
    what = "calirules rule file"
    text = yamlio.read_text(path, what)
    doc = yamlio.parse_yaml(text if with_tests else _blank_tests(text), path, what)
    if not isinstance(doc, dict):
        raise InputError(f"expected a mapping with apiVersion: {RULES_API}", path, 1, 1)
    (RULE_SCHEMA if with_tests else RULE_SCHEMA_WITHOUT_TESTS).validate(doc, text, path)
    specs = []
    for index, raw in enumerate(doc["rules"]):
        raw["tests"] = testfiles.inline_tests(raw.get("tests") or [], path, text, index)
        spec = RuleSpec(path=Path(path), index=index, text=text, **{k: v for k, v in raw.items()})
        spec.symptoms = tuple(spec.symptoms)
        specs.append(spec)
    return specs


_TESTS_KEY = re.compile(r"^(\s*)tests:\s*(?:#.*)?$")


def _blank_tests(text):
    """`text` with each block-style `tests:` of a rule emptied (`tests: []`), line for line (so
    every other line keeps its number for error messages). Any other form is left as it is."""
    lines = text.split("\n")
    indent = None
    for number, line in enumerate(lines):
        if indent is not None:
            depth = len(line) - len(line.lstrip())
            if not line.strip() or depth > indent or (depth == indent and line.lstrip().startswith("- ")):
                lines[number] = ""
                continue
            indent = None
        match = _TESTS_KEY.match(line)
        if match:
            indent = len(match.group(1))
            lines[number] = f"{match.group(1)}tests: []"
    return "\n".join(lines)


def check_rulebook(book):
    """Semantic checks; raises InputError at the first problem."""
    seen = {}
    causes = catalog()
    for rule in book.rules:
        if rule.id in seen:
            other = seen[rule.id]
            raise rule.error(f"duplicate rule id (also in {other.path}:{other.location[0]})", ["id"])
        seen[rule.id] = rule
        if bool(rule.cause) == bool(rule.derive):
            raise rule.error("a rule names either a `cause` (it reports a finding) or `derive` (it adds a fact)")
        if rule.cause and rule.cause not in causes:
            raise rule.error(f"unknown cause {rule.cause!r} (`calirules rules list` and engine/data/causes.yaml list the causes)", ["cause"])
        if rule.cause:
            rule.title = rule.title or causes[rule.cause].title
            rule.symptoms = rule.symptoms or causes[rule.cause].symptoms
        if rule.predicts is not None:
            if not rule.cause:
                raise rule.error("`predicts` belongs to a rule that names a `cause`", ["predicts"])
            _check_predicts(book, rule)
            predictions.compile_into(rule)
        _check_patterns(book, rule)
        _check_joins(rule)
        if rule.derive:
            _check_derived_fields(rule)
        for k, link in enumerate(rule.leads_to):
            if not rule.cause:
                raise rule.error("`leads_to` belongs to a rule that names a `cause`", ["leads_to", k])
            if link["cause"] not in causes:
                raise rule.error(f"leads_to: unknown cause {link['cause']!r} (`calirules rules list` and engine/data/causes.yaml list the causes)",
                                 ["leads_to", k, "cause"])
    check_links(book.links, causes)


def causal_links(rules):
    """The catalog's links plus those rule files add (`leads_to` under a rule), one per pair."""
    links = {}
    for cause in catalog().values():
        for link in cause.leads_to:
            links.setdefault((link.root, link.mechanism), link)
    for rule in rules:
        for item in rule.leads_to if rule.cause else ():
            links.setdefault((rule.cause, item["cause"]),
                             Link(rule.cause, item["cause"], item["scope"], item.get("says", ""),
                                  f"{rule.path}:{rule.position(['rules', rule.index, 'leads_to'])[0]}"))
    return list(links.values())


def check_links(links, causes):
    """Every link joins two known causes and the links form no cycle (a cause cannot be its own root)."""
    graph = {}
    for link in links:
        for end in (link.root, link.mechanism):
            if end not in causes:
                raise InputError(f"causal link {link.root} -> {link.mechanism}: unknown cause {end!r}", link.origin)
        if link.scope not in LINK_SCOPES:
            raise InputError(f"causal link {link.root} -> {link.mechanism}: scope must be one of "
                             f"{', '.join(LINK_SCOPES)}", link.origin)
        graph.setdefault(link.root, []).append(link)
    state = {}

    def visit(cause_id, path):
        state[cause_id] = "open"
        for link in graph.get(cause_id, ()):
            if state.get(link.mechanism) == "open":
                cycle = path[path.index(link.mechanism):] + [link.mechanism]
                raise InputError(f"causal links form a cycle: {' -> '.join(cycle)}", link.origin)
            if link.mechanism not in state:
                visit(link.mechanism, path + [link.mechanism])
        state[cause_id] = "done"

    for cause_id in sorted(graph):
        if cause_id not in state:
            visit(cause_id, [cause_id])


# Names every remediation template sees (calirules.report.build's _base_context, plus `firings` and
# the `cmd` macros); a rule's `as:` name or `$variable` of the same name would hide them.
TEMPLATE_CONTEXT_NAMES = frozenset({"node", "versions", "calico", "install", "symptom", "calico_backend", "iptables",
                                    "other_backend", "other_iptables", "firings", "cmd", "uplink", "workloads",
                                    "pod_cidrs"})


def _check_predicts(book, rule):
    """A `predicts:` block's `where` names Observation fields, uses only variables the `when`
    patterns bind, and leaves to `drop:` what `drop:` decides; `probe` is the observation's name."""
    bound = {var for pattern in rule.when for _, var in variables(pattern.get("where"))}
    names = {pattern.get("as") for pattern in rule.when}
    if predictions.PROBE_NAME in names | bound:
        raise rule.error(f"`{predictions.PROBE_NAME}` names the probe's observation in a rule with `predicts`; "
                         "give the `when` pattern or variable another name", ["predicts"])
    fields = book.fields_of("Observation")
    where = rule.predicts.get("where") or {}
    for fname, constraint in where.items():
        parts = ["predicts", "where", fname]
        if fname in predictions.DECIDED_FIELDS:
            raise rule.error(f"predicts: `where` may not set {fname!r}: the drop kinds go in `drop`", parts)
        if fname not in fields:
            raise rule.error(f"predicts: Observation has no field {fname!r} (fields: {', '.join(fields)})", parts)
        _check_constraint(rule, constraint, parts)
    for fname, var in variables(where):
        if var not in bound:
            raise rule.error(f"predicts: variable ${var} is not bound by any `when` pattern",
                             ["predicts", "where", fname])


def _check_patterns(book, rule):
    bound = set()
    names = set()
    groups = [("when", rule.when), ("unless", rule.unless), ("support", rule.support), ("against", rule.against)]
    when_facts = {p["as"]: p["fact"] for p in rule.when if p.get("as")}
    for group, patterns in groups:
        for i, pattern in enumerate(patterns):
            where_path = [group, i, "where"]
            hidden = ({pattern.get("as")} | {var for _, var in variables(pattern.get("where"))}) & TEMPLATE_CONTEXT_NAMES
            if hidden:
                name = sorted(hidden)[0]
                raise rule.error(f"the name {name!r} would hide the template context's {name!r} "
                                 f"(reserved: {', '.join(sorted(TEMPLATE_CONTEXT_NAMES))})", [group, i])
            if "of" in pattern:
                if pattern["of"] not in when_facts:
                    raise rule.error(f"`of: {pattern['of']}` names no `when` pattern (`as:` names: "
                                     f"{', '.join(sorted(when_facts)) or 'none'})", [group, i, "of"])
                if pattern.setdefault("fact", when_facts[pattern["of"]]) != when_facts[pattern["of"]]:
                    raise rule.error("give either `fact` (another fact) or `of` (the fact a `when` pattern bound)",
                                     [group, i])
            elif "fact" not in pattern:
                raise rule.error("needs `fact` (another fact) or `of` (the fact a `when` pattern bound)", [group, i])
            fact = pattern["fact"]
            if fact not in FACT_TYPES and fact not in book.derived_types:
                known = ", ".join(sorted(set(FACT_TYPES) | set(book.derived_types)))
                raise rule.error(f"unknown fact type {fact!r} (known: {known})", [group, i, "fact"])
            fields = book.fields_of(fact)
            for fname, constraint in (pattern.get("where") or {}).items():
                if fname not in fields:
                    raise rule.error(f"{fact} has no field {fname!r} (fields: {', '.join(fields)})",
                                     where_path + [fname])
                _check_constraint(rule, constraint, where_path + [fname])
            local = set()
            for fname, var in variables(pattern.get("where")):
                constraint = pattern["where"][fname]
                if isinstance(constraint, dict) and "ne" in constraint and var not in bound:
                    raise rule.error(f"`ne: ${var}` compares with a variable not bound in an earlier `when` pattern",
                                     where_path + [fname])
                if group != "when" and var not in bound and var not in local:
                    raise rule.error(f"variable ${var} is not bound by any `when` pattern", where_path + [fname])
                local.add(var)
            if group == "when":
                bound |= local
                name = pattern.get("as")
                if name:
                    if name in names:
                        raise rule.error(f"`as: {name}` is used twice", [group, i, "as"])
                    names.add(name)
    for j, item in enumerate(rule.evidence):
        about = item.get("about")
        if about and about.split(".")[0] not in names:
            raise rule.error(f"evidence names {about!r} but no `when` pattern has `as: {about.split('.')[0]}`",
                             ["evidence", j, "about"])
        if about and "." in about:
            bind, fname = about.split(".")
            fact = next(p["fact"] for p in rule.when if p.get("as") == bind)
            if fname not in book.fields_of(fact):
                raise rule.error(f"{fact} has no field {fname!r}", ["evidence", j, "about"])
    for k, item in enumerate(rule.assumes):
        if item["section"] not in SECTION_NAMES:
            raise rule.error(f"unknown dump section {item['section']!r}", ["assumes", k, "section"])
    if rule.remediation and not any((d / rule.remediation).is_file() for d in book.template_dirs):
        raise rule.error(f"remediation template {rule.remediation!r} not found in "
                         f"{', '.join(str(d) for d in book.template_dirs)}", ["remediation"])


SECTION_NAMES = ("node", "versions", "sysctls", "interfaces", "routes", "ip_rules", "netfilter", "kernel_modules",
                 "conntrack", "components", "settings", "log_events", "pods", "observations")

_OPERATORS_NUMERIC = ("lt", "le", "gt", "ge")


def _check_constraint(rule, constraint, parts):
    if not isinstance(constraint, dict):
        return
    for op in ("regex", "not_regex"):
        if op in constraint:
            problem = regex_problem(constraint[op])
            if problem:
                raise rule.error(f"{op}: {problem}", parts + [op])
    for op, value in constraint.items():
        if op not in ("eq", "ne") and isinstance(value, str) and _VAR.match(value):
            raise rule.error(f"{op}: variables can only be used with eq/ne (or as the plain value)", parts + [op])
        if op.startswith("version_"):
            if versions.parse(value) is None:
                raise rule.error(f"{op}: {value!r} is not a version", parts + [op])


# Limits on a rule's regular expressions. Python's `re` compiles a pattern recursively (about 1,000
# nested groups exhaust the interpreter's stack) and matches by backtracking (a quantified group
# that itself repeats, like `(a+)+`, takes exponential time on a near-miss): a rule file from a
# --rules-dir must not be able to do either to a diagnosis.
REGEX_MAX_LENGTH = 1000
REGEX_MAX_NESTING = 20


def regex_problem(pattern):
    """Why `pattern` cannot be a rule's regex (a phrase), or None when it compiles within limits."""
    if len(pattern) > REGEX_MAX_LENGTH:
        return f"regular expression longer than {REGEX_MAX_LENGTH} characters"
    problem = _regex_shape_problem(pattern)
    if problem:
        return problem
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"invalid regular expression: {exc}"
    except (RecursionError, OverflowError, MemoryError, ValueError) as exc:
        return f"regular expression does not compile within limits ({type(exc).__name__})"
    return None


_UNBOUNDED_BRACES = re.compile(r"\{\d*,\}")
_BRACES = re.compile(r"\{\d*(?:,\d*)?\}")


def _quantifier_at(pattern, i):
    """(is there a quantifier at `i`, is it unbounded (*, +, {n,}), its length)."""
    if i >= len(pattern):
        return False, False, 0
    if pattern[i] in "*+":
        return True, True, 1
    if pattern[i] == "?":
        return True, False, 1
    if pattern[i] == "{":
        match = _BRACES.match(pattern, i)
        if match:
            return True, bool(_UNBOUNDED_BRACES.fullmatch(match.group())), len(match.group())
    return False, False, 0


def _regex_shape_problem(pattern):
    """Group nesting deeper than REGEX_MAX_NESTING, or a repeated group holding a repetition.

    A scan of the pattern text (escapes and character classes skipped), so that it runs before, and
    without, Python's recursive parser."""
    stack = [False]  # per open group: does it contain an unbounded repetition?
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(pattern, i)
            continue
        if char == "(":
            stack.append(False)
            if len(stack) - 1 > REGEX_MAX_NESTING:
                return f"regular expression nests groups deeper than {REGEX_MAX_NESTING}"
            i += 1
            continue
        if char == ")" and len(stack) > 1:
            inner = stack.pop()
            quantified, unbounded, length = _quantifier_at(pattern, i + 1)
            if inner and unbounded:
                return ("regular expression repeats a group that itself repeats (like `(a+)+`): matching it "
                        "can take exponential time; repeat one or the other")
            stack[-1] = stack[-1] or inner or unbounded
            i += 1 + length
            continue
        quantified, unbounded, length = _quantifier_at(pattern, i)
        if quantified:
            stack[-1] = stack[-1] or unbounded
            i += length
            continue
        i += 1
    return None


def _class_end(pattern, start):
    """Index just past the character class opening at `start` (`[]a]` and `[^]a]` hold a `]`)."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


# Field names a derived fact may not have: experta keeps its own bookkeeping in dunder keys (a
# fact's `__factid__`), and the engine sets `source` / `sources` on every fact itself.
ENGINE_FIELDS = frozenset({"source", "sources"})


def _check_derived_fields(rule):
    for fname in rule.derive["fields"]:
        if not isinstance(fname, str) or fname.startswith("__") or fname in ENGINE_FIELDS:
            raise rule.error(f"derive: field name {fname!r} is reserved (the engine's own: names starting with "
                             f"`__`, {', '.join(sorted(ENGINE_FIELDS))})", ["derive", "fields", fname])


# Fact types of which a node has at most a few (one each; Netfilter one per iptables backend,
# legacy and nft): patterns on them need no join, their cross product stays that small. Any other
# type can have hundreds of facts (interfaces, pods, sysctls, log events, derived facts).
FEW_PER_NODE = frozenset({"Node", "Mtu", "Conntrack", "IptablesBackends", "Netfilter"})


def join_variables(pattern):
    """Variables a pattern binds or tests for equality (`field: $x`, `{eq: $x}`): those that join it.
    `ne: $x` does not: it excludes one value and leaves the rest of the cross product."""
    found = set()
    for constraint in (pattern.get("where") or {}).values():
        value = constraint.get("eq") if isinstance(constraint, dict) else constraint
        if isinstance(value, str) and _VAR.match(value):
            found.add(value)
    return found


def _check_joins(rule):
    """Each experta rule compiled from `rule` (its `when` patterns, alone and with each `fact:`
    support or against item) must join any two patterns on one fact type, directly or through
    other patterns: unjoined, experta builds every combination of those facts (200 interfaces
    matched three times over is 8 million partial matches)."""
    when = [(["when", i], p) for i, p in enumerate(rule.when)]
    combos = [when] + [when + [([group, k], item)]
                       for group, items in (("support", rule.support), ("against", rule.against))
                       for k, item in enumerate(items) if "of" not in item]
    for patterns in combos:
        component = _join_components([p for _, p in patterns])
        first_of_type = {}
        for index, (where, pattern) in enumerate(patterns):
            fact = pattern["fact"]
            if fact in FEW_PER_NODE:
                continue
            if fact not in first_of_type:
                first_of_type[fact] = index
                continue
            other = first_of_type[fact]
            if component[index] != component[other]:
                raise rule.error(
                    f"{_pattern_label(where)} and {_pattern_label(patterns[other][0])} both match {fact} "
                    f"with no join: every pair of {fact} facts would match (a cross product); bind a field "
                    f"with the same `$name` in both patterns", where)


def _join_components(patterns):
    """For each pattern, a label shared by the patterns it is joined to (through shared variables)."""
    label = list(range(len(patterns)))

    def find(i):
        while label[i] != i:
            label[i] = label[label[i]]
            i = label[i]
        return i
    owner = {}
    for index, pattern in enumerate(patterns):
        for var in join_variables(pattern):
            if var in owner:
                label[find(index)] = find(owner[var])
            else:
                owner[var] = index
    return [find(i) for i in range(len(patterns))]


def _pattern_label(where):
    group, index = where
    return f"{group}[{index}]"
