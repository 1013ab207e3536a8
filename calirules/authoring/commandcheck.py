"""Checks the commands a remediation prints against the table of CLI flags (engine/data/cli-flags.yaml).

Operators paste remediation into root shells on production nodes, so every `$ ` line must run as
written on the node's versions: a known command, a known subcommand, and only flags that command has
(for calicoctl, in this Calico release). A line is split the way a shell would for this purpose:
pipelines, `&&`/`||`/`;` lists, redirections and `$(...)` command substitutions, each command of it
checked on its own, after `VAR=value` prefixes, `sudo` and `env`.

    check_commands("  $ calicoctl get wep -A", "v3.17.0") -> [CommandProblem(command="calicoctl get wep -A",
        invocation="calicoctl get", flag="-A", reason="calicoctl get: flag -A is only in Calico v3.18 and later (...)")]

The table is calirules.authoring.flagtable's, the splitting calirules.authoring.shellwords'.

Nothing here raises on any text: what cannot be read as a shell command line is itself a problem.
"""

import posixpath
import re
from dataclasses import dataclass
from functools import lru_cache

from calirules.authoring.flagtable import shipped_table
from calirules.authoring.shellwords import ShellSyntaxError, split_command_line
from calirules.engine import versions

MAX_NESTING = 8  # $(...) within $(...): deeper than any remediation, so garbage; stop there

_COMMAND_LINE = re.compile(r"^\s*\$ (.*)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUDO_OPTIONS_WITH_VALUE = {"-u", "-g", "-C", "-D", "-p", "-r", "-t", "-U", "-T"}


@dataclass(frozen=True)
class CommandProblem:
    command: str      # the printed command line, without "$ "
    invocation: str   # the command (and subcommands) the problem is about, e.g. "kubectl logs"
    flag: str | None  # the offending flag, if the problem is one
    reason: str       # what is wrong and where that was read, e.g. "kubectl logs: no flag -A (...)"

    def __str__(self):
        return f"$ {self.command}: {self.reason}"


# --- command lines ------------------------------------------------------------------------------

def command_lines(text):
    """The `$ ` lines of a remediation (a line ending in `\\` continues on the next one)."""
    lines = text.splitlines()
    found, index = [], 0
    while index < len(lines):
        match = _COMMAND_LINE.match(lines[index])
        index += 1
        if not match:
            continue
        command = match.group(1)
        while command.endswith("\\") and not command.endswith("\\\\") and index < len(lines):
            command = command[:-1] + " " + lines[index].strip()
            index += 1
        found.append(command.strip())
    return found


def check_commands(text, calico_version=None, table=None):
    """Problems with the commands in a remediation text, for this Calico version (None: unknown)."""
    if not isinstance(text, str):
        return []
    problems = []
    for line in command_lines(text):
        problems.extend(check_command(line, calico_version, table))
    return problems


def check_command(line, calico_version=None, table=None):
    """Problems with one command line (as typed after the prompt)."""
    if table is not None:
        return list(_check_line(str(line), calico_version, table, str(line), 0))
    return list(_shipped_check(str(line), calico_version))


@lru_cache(maxsize=8192)  # lint renders the same lines in many cells
def _shipped_check(line, calico_version):
    return tuple(_check_line(line, calico_version, shipped_table(), line, 0))


def _check_line(line, calico_version, table, printed, depth):
    """Problems of one command line; `printed` is the line as the remediation printed it (the
    outermost one, when `line` is the body of a command substitution)."""
    if depth > MAX_NESTING:
        return [CommandProblem(printed, "", None, "command substitutions nested too deeply to check")]
    try:
        commands, substitutions, placeholders = split_command_line(line)
    except ShellSyntaxError as exc:
        return [CommandProblem(printed, "", None, f"cannot be read as a shell command line: {exc}")]
    problems = [CommandProblem(printed, "", None, f"placeholder {p}: a shell reads < and > as redirections; "
                                                  f"print the value, or describe it in prose")
                for p in placeholders]
    for words in commands:
        problems.extend(_check_words(words, calico_version, table, printed, depth))
    for inner in substitutions:
        problems.extend(_check_line(inner, calico_version, table, printed, depth + 1))
    return problems


# --- one command's words against the table -------------------------------------------------------

def _check_words(words, calico_version, table, printed, depth):
    words = _without_prefixes(words)
    if not words:
        return []
    name = words[0]
    root = table.get(name) or table.get(posixpath.basename(name))
    if root is None:
        return [CommandProblem(printed, name, None,
                               f"unknown command {name!r} (not in engine/data/cli-flags.yaml)")]
    problems, node, index, operands = [], root, 1, False
    while index < len(words):
        word = words[index]
        index += 1
        child = None if operands else node.subcommands.get(word)
        if child is not None:
            problems.extend(_version_problem(child, child.path, None, child.source, calico_version, root, printed))
            node = child
            continue
        if word == "--" and root.style == "getopt":
            if node.runs_after_dashdash:
                problems.extend(_check_words(words[index:], calico_version, table, printed, depth))
            break
        if word.startswith("-") and word != "-" and not (operands and root.options_end_at_operand):
            used, found = _check_option(word, words[index:], node, root, calico_version, printed)
            index += used
            problems.extend(found)
            continue
        if node.subcommands:
            known = ", ".join(sorted({n.path.rsplit(" ", 1)[-1] for n in node.subcommands.values()}))
            problems.append(CommandProblem(printed, node.path, None,
                                           f"{node.path}: no subcommand {word!r} (known: {known}) ({node.source})"))
            return problems
        operands = True
    if node.subcommands and not node.alone:
        known = ", ".join(sorted({n.path.rsplit(" ", 1)[-1] for n in node.subcommands.values()}))
        problems.append(CommandProblem(printed, node.path, None,
                                       f"{node.path}: needs a subcommand ({known}) ({node.source})"))
    return problems


def _without_prefixes(words):
    """The words from the command itself on: drop `VAR=value`, `sudo [options]` and `env [options]`."""
    index = 0
    while index < len(words):
        word = words[index]
        if _ASSIGNMENT.match(word):
            index += 1
        elif word in ("sudo", "env"):
            index += 1
            while index < len(words) and words[index].startswith("-"):
                option = words[index]
                index += 1
                if option == "--":
                    break
                if word == "sudo" and option in _SUDO_OPTIONS_WITH_VALUE or word == "env" and option == "-u":
                    index += 1
        else:
            break
    return words[index:]


def _check_option(word, rest, node, root, calico_version, printed):
    """(words of `rest` it consumed as its value, problems) for one option word."""
    if root.style == "getopt" and not word.startswith("--"):
        return _check_short_cluster(word, rest, node, root, calico_version, printed)
    name, equals, _value = word.partition("=")
    if root.style == "iproute2" and name.startswith("--"):
        name = name[1:]  # ip, ipset and nmcli read --x as -x
    flag = _lookup(name, node, root)
    if flag is None:
        return 0, [_no_flag(printed, node, name)]
    problems = list(_version_problem(flag, node.path, flag.spelling, flag.source or node.source,
                                     calico_version, root, printed))
    return (0 if equals else _value_words(flag, rest, node, printed, problems)), problems


def _check_short_cluster(word, rest, node, root, calico_version, printed):
    """-rnE = -r -n -E; -A1 = -A 1; -ccalico-node = -c calico-node."""
    problems = []
    for position in range(1, len(word)):
        spelling = "-" + word[position]
        flag = _lookup(spelling, node, root)
        if flag is None:
            return 0, problems + [_no_flag(printed, node, spelling, word)]
        problems.extend(_version_problem(flag, node.path, spelling, flag.source or node.source,
                                         calico_version, root, printed))
        if flag.takes != "flag":
            if position + 1 < len(word):
                return 0, problems
            return _value_words(flag, rest, node, printed, problems), problems
    return 0, problems


def _value_words(flag, rest, node, printed, problems):
    if flag.takes == "value":
        if not rest:
            problems.append(CommandProblem(printed, node.path, flag.spelling,
                                           f"{node.path}: flag {flag.spelling} needs a value"))
            return 0
        return 1
    if flag.takes == "optional":
        return 1 if rest and (not rest[0].startswith("-") or rest[0][1:].isdigit()) else 0
    if flag.takes == "rest":
        return len(rest)
    return 0


def _lookup(spelling, node, root):
    flag = node.flags.get(spelling)
    if flag is None and root.flags_everywhere and node is not root:
        flag = root.flags.get(spelling)
    return flag


def _no_flag(printed, node, spelling, cluster=None):
    within = f" (in {cluster})" if cluster and cluster != spelling else ""
    return CommandProblem(printed, node.path, spelling, f"{node.path}: no flag {spelling}{within} ({node.source})")


def _version_problem(item, path, spelling, source, calico_version, root, printed):
    """A problem when `item` (a subcommand or flag) is not in this Calico release (or, with the
    version unknown, not in every release the table covers)."""
    if item.since is None and item.until is None:
        return []
    what = f"flag {spelling}" if spelling else "this subcommand"
    # Worded by the release window, not by this node's version: the same line is as wrong on every
    # release outside the window, and lint groups the cells it fails in.
    window = " and ".join(p for p in (f"v{_text(item.since)} and later" if item.since else "",
                                      f"releases before v{_text(item.until)}" if item.until else "") if p)
    parsed = versions.parse(calico_version)
    if parsed is None:
        oldest, newest = root.calico_versions
        if (item.since is None or item.since <= oldest) and (item.until is None or item.until > newest):
            return []
        reason = (f"{what} is only in Calico {window}, and this node's Calico version is unknown "
                  f"(v{_text(oldest)} to v{_text(newest)} must all work)")
    elif (item.since and parsed < item.since) or (item.until and parsed >= item.until):
        reason = f"{what} is only in Calico {window}"
    else:
        return []
    return [CommandProblem(printed, path, spelling, f"{path}: {reason} ({source})")]


def _text(parsed):
    return ".".join(str(part) for part in (parsed[:2] if parsed[2] == 0 else parsed))
