"""`calirules rules lint`: everything about a rule file that can be checked without a node.

Beyond loading (schema, cause ids, fact types and fields, variables, templates) the linter renders
each rule's remediation in every cell of the remediation matrix (calirules.authoring.remediation_matrix:
the Calico versions and install methods remediation must fit) and checks every rendering: the four
parts every remediation must have, in order, and each `$ ` command line against the table of CLI
flags (calirules.authoring.commandcheck): a wrong command or flag pasted into a root shell is worse than none.
"""

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from calirules.authoring.commandcheck import check_commands
from calirules.authoring.remediation_matrix import (
    CALICO_VERSIONS,
    INSTALL_METHODS,
    renderings,
    reusable_engine,
)
from calirules.base.errors import InputError
from calirules.engine import compiler
from calirules.engine.rulebook import load_rule_file, load_rulebook, rule_files

REMEDIATION_PARTS = ("What to change:", "Commands:", "Make it persistent:", "Verify:")


@dataclass(frozen=True)
class TemplateFailure:
    where: str     # "rules/mtu-mismatch.yaml:3: rule mtu-mismatch"
    template: str
    version: str   # Calico version of the cell
    method: str    # install method of the cell: operator | manifest | unknown
    command: str   # the offending command line ("" when the problem is the whole remediation's)
    reason: str


def lint_rules(paths=()):
    """Return a list of problems (strings naming file:line); empty when every rule is fine."""
    problems, failures = lint(paths)
    return problems + format_failures(failures)


def lint(paths=()):
    """(problems with the rule files, TemplateFailures of their rendered remediation)."""
    try:
        book = load_rulebook(paths)
    except InputError as exc:
        return [str(exc)], []
    only = {r.id for f in rule_files(paths) for r in load_rule_file(f)} if paths else None
    problems, failures = [], []
    engine = reusable_engine(compiler.compile_engine(book))
    for rule in book.rules:
        if only and rule.id not in only:
            continue
        expects = {t["expect"] for t in rule.tests}
        where = f"{rule.path}:{rule.location[0]}: rule {rule.id}"
        if expects != {"fire", "no-fire"}:
            problems.append(f"{where}: needs at least one `expect: fire` and one `expect: no-fire` test")
        if rule.cause and not rule.remediation:
            problems.append(f"{where}: has no remediation template")
        if not rule.cause or not rule.remediation:
            continue
        found = set()
        for rendering in renderings(rule, book, engine):
            cell = (where, rule.remediation, rendering.version, rendering.method)
            if rendering.error:
                found.add(TemplateFailure(*cell, "", f"does not render: {rendering.error}"))
                continue
            found.update(TemplateFailure(*cell, "", p) for p in check_parts(rendering.text) + check_warnings(rendering.text))
            found.update(TemplateFailure(*cell, p.command, p.reason)
                         for p in check_commands(rendering.text, _calico_version(rendering.version)))
        failures.extend(sorted(found, key=_cell_order))
    return problems, failures


@lru_cache(maxsize=None)
def _disruptive():
    text = resources.files("calirules.engine").joinpath("data/disruptive-commands.yaml").read_text(encoding="utf-8")
    return [(re.compile(c["match"]), c["why"]) for c in yaml.safe_load(text)["commands"]]


def check_warnings(text):
    """A command that disrupts traffic or changes every node needs a `Warning:` line before it
    (engine/data/disruptive-commands.yaml)."""
    problems, warned = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("Warning:"):
            warned = True
        elif stripped.startswith("$ ") and not warned:
            command = stripped[2:].removeprefix("sudo ")
            for pattern, why in _disruptive():
                if pattern.search(command):
                    problems.append(f"no `Warning:` line before a disruptive command ({why}): {stripped}")
    return problems


def check_parts(text):
    problems = []
    positions = [text.find(part) for part in REMEDIATION_PARTS]
    for part, pos in zip(REMEDIATION_PARTS, positions):
        if pos < 0:
            problems.append(f"remediation lacks the part {part!r}")
    found = [p for p in positions if p >= 0]
    if found != sorted(found):
        problems.append(f"remediation parts must come in the order {', '.join(REMEDIATION_PARTS)}")
    return problems


def check_remediation(text, calico_version=None):
    """Problems with one rendered remediation: its parts, and its commands for this Calico version."""
    return check_parts(text) + check_warnings(text) + [str(p) for p in check_commands(text, calico_version)]


def group_failures(failures):
    """{(where, template, command, reason): [(version, method), ...]}: one entry per problem, with
    the cells it occurs in (the same wrong command is usually wrong in many)."""
    groups = defaultdict(list)
    for failure in failures:
        groups[(failure.where, failure.template, failure.command, failure.reason)].append(
            (failure.version, failure.method))
    return {key: sorted(set(cells), key=_cell_key) for key, cells in groups.items()}


def format_failures(failures):
    lines = []
    for (where, template, command, reason), cells in group_failures(failures).items():
        what = f"$ {command}: {reason}" if command else reason
        lines.append(f"{where}: {template} [{describe_cells(cells)}]: {what}")
    return lines


def describe_cells(cells):
    """'every Calico version, every install method', 'Calico v3.11.3, v3.17.0; operator install',
    or the cells one by one."""
    versions = sorted({v for v, _m in cells}, key=_version_key)
    methods = sorted({m for _v, m in cells}, key=_method_key)
    if len(cells) != len(versions) * len(methods):
        return ", ".join(f"Calico {v} {m} install" for v, m in cells)
    version_text = "every Calico version" if versions == list(CALICO_VERSIONS) else f"Calico {', '.join(versions)}"
    method_text = ("every install method" if methods == list(INSTALL_METHODS)
                   else f"{', '.join(methods)} install{'s' if len(methods) > 1 else ''}")
    return f"{version_text}; {method_text}"


def _calico_version(version):
    return None if version == "unknown" else version


def _version_key(version):
    return (CALICO_VERSIONS.index(version), version) if version in CALICO_VERSIONS else (len(CALICO_VERSIONS), version)


def _method_key(method):
    return list(INSTALL_METHODS).index(method) if method in INSTALL_METHODS else len(INSTALL_METHODS)


def _cell_key(cell):
    return _version_key(cell[0]), _method_key(cell[1])


def _cell_order(failure):
    return failure.template, failure.command, failure.reason, _cell_key((failure.version, failure.method))
