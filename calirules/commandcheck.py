"""Checks the commands a remediation prints against the table of CLI flags (engine/data/cli-flags.yaml).

Operators paste remediation into root shells on production nodes, so every `$ ` line must run as
written on the node's versions: a known command, a known subcommand, and only flags that command has
(for calicoctl, in this Calico release). A line is split the way a shell would for this purpose:
pipelines, `&&`/`||`/`;` lists, redirections and `$(...)` command substitutions, each command of it
checked on its own, after `VAR=value` prefixes, `sudo` and `env`.

    check_commands(text, "v3.17.0") -> [CommandProblem(command="calicoctl get wep -A", invocation=
        "calicoctl get", flag="-A", reason="calicoctl get: flag -A is not in Calico v3.17.0 ...")]

Nothing here raises on any text: what cannot be read as a shell command line is itself a problem.
"""

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import yaml

from calirules.engine import versions

DATA_FILE = "data/cli-flags.yaml"
TAKES = ("flag", "value", "optional", "rest")
STYLES = ("getopt", "words", "iproute2")
MAX_NESTING = 8  # $(...) within $(...): deeper than any remediation, so garbage; stop there

_COMMAND_LINE = re.compile(r"^\s*\$ (.*)$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUDO_OPTIONS_WITH_VALUE = {"-u", "-g", "-C", "-D", "-p", "-r", "-t", "-U", "-T"}
_REDIRECTION = re.compile(r"&>>|&>|>>|>&|>\||<<<|<<-|<<|<&|<>|>|<")
# `<peer address>` in a command line: a shell reads the brackets as redirections.
_PLACEHOLDER = re.compile(r"<[A-Za-z](?:[^<>\n]*[^\s<>])?>")


@dataclass(frozen=True)
class CommandProblem:
    command: str      # the printed command line, without "$ "
    invocation: str   # the command (and subcommands) the problem is about, e.g. "kubectl logs"
    flag: str | None  # the offending flag, if the problem is one
    reason: str       # what is wrong and where that was read, e.g. "kubectl logs: no flag -A (...)"

    def __str__(self):
        return f"$ {self.command}: {self.reason}"


class TableError(ValueError):
    """engine/data/cli-flags.yaml (or a table given to load_table) is malformed."""


@dataclass
class _Flag:
    spelling: str
    takes: str
    since: tuple | None = None
    until: tuple | None = None
    source: str | None = None


@dataclass
class _Node:
    path: str
    source: str
    flags: dict = field(default_factory=dict)
    subcommands: dict = field(default_factory=dict)   # name and aliases -> _Node
    alone: bool = False
    since: tuple | None = None
    until: tuple | None = None
    runs_after_dashdash: bool = False
    # Command-level settings (on the root node only).
    style: str = "getopt"
    flags_everywhere: bool = False
    options_end_at_operand: bool = False
    calico_versions: tuple | None = None


# --- the table ----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def shipped_table():
    text = resources.files("calirules.engine").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return load_table(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def load_table(document):
    """{command name: root _Node} from the parsed YAML document; TableError names what is wrong."""
    commands = (document or {}).get("commands") if isinstance(document, dict) else None
    if not isinstance(commands, dict):
        raise TableError("the table needs a `commands:` mapping")
    table = {}
    for name, spec in commands.items():
        if isinstance(spec, dict) and "same_as" in spec:
            continue
        table[str(name)] = _node(str(name), spec, None)
    for name, spec in commands.items():
        if isinstance(spec, dict) and "same_as" in spec:
            target = table.get(spec["same_as"])
            if target is None or not spec.get("source"):
                raise TableError(f"{name}: same_as needs a command of the table and a source")
            table[str(name)] = _renamed(target, str(name), spec["source"])
    return table


_NODE_KEYS = {"source", "flags", "subcommands", "aliases", "alone", "since", "until", "runs_after_dashdash"}
_ROOT_KEYS = {"style", "flags_everywhere", "options_end_at_operand", "calico_versions"}


def _node(path, spec, root):
    if not isinstance(spec, dict):
        raise TableError(f"{path}: expected a mapping")
    allowed = _NODE_KEYS | (_ROOT_KEYS if root is None else set())
    unknown = set(spec) - allowed
    if unknown:
        raise TableError(f"{path}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    if not spec.get("source"):
        raise TableError(f"{path}: every entry names its source")
    node = _Node(path=path, source=str(spec["source"]), alone=bool(spec.get("alone")),
                 runs_after_dashdash=bool(spec.get("runs_after_dashdash")))
    if root is None:
        root = node
        node.style = spec.get("style", "getopt")
        if node.style not in STYLES:
            raise TableError(f"{path}: style must be one of {', '.join(STYLES)}")
        node.flags_everywhere = bool(spec.get("flags_everywhere"))
        node.options_end_at_operand = bool(spec.get("options_end_at_operand"))
        if "calico_versions" in spec:
            node.calico_versions = tuple(_version(path, v) for v in spec["calico_versions"])
    node.since, node.until = _window(path, spec, root)
    for spellings, flag_spec in (spec.get("flags") or {}).items():
        takes, extra = (flag_spec, {}) if isinstance(flag_spec, str) else ((flag_spec or {}).get("takes"), flag_spec)
        if takes not in TAKES:
            raise TableError(f"{path} {spellings}: takes must be one of {', '.join(TAKES)}")
        since, until = _window(f"{path} {spellings}", extra, root)
        for spelling in str(spellings).split():
            node.flags[spelling] = _Flag(spelling, takes, since, until, extra.get("source"))
    for name, child_spec in (spec.get("subcommands") or {}).items():
        child = _node(f"{path} {name}", child_spec, root)
        for spelling in [str(name)] + [str(a) for a in (child_spec.get("aliases") or ())]:
            node.subcommands[spelling] = child
    return node


def _window(where, spec, root):
    bounds = (spec.get("since"), spec.get("until"))
    if any(bounds) and root.calico_versions is None:
        raise TableError(f"{where}: since/until are Calico versions: only for a command with calico_versions")
    if any(bounds) and not spec.get("source"):
        raise TableError(f"{where}: a versioned entry names its own source")
    return tuple(_version(where, b) if b else None for b in bounds)


def _version(where, text):
    parsed = versions.parse(text)
    if parsed is None:
        raise TableError(f"{where}: {text!r} is not a version")
    return parsed


def _renamed(node, name, source):
    """A copy of `node` under another command name (iptables-nft is iptables), sharing its children."""
    copy = _Node(**{**node.__dict__, "path": name, "source": source})
    return copy


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
        commands, substitutions, placeholders = _split(line)
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


# --- shell splitting ----------------------------------------------------------------------------

class ShellSyntaxError(ValueError):
    pass


def _split(line):
    """(simple commands as word lists, command substitution bodies, placeholders) of one line."""
    segments, substitutions, placeholders = _scan(line)
    commands = []
    for segment in segments:
        try:
            words = shlex.split(segment, posix=True)
        except ValueError as exc:
            raise ShellSyntaxError(str(exc)) from None
        if words:
            commands.append(words)
    return commands, substitutions, placeholders


def _scan(line):
    """Cut a command line at unquoted `|`, `&&`, `||`, `;`, `&`, `(`, `)`; drop redirections (and the
    file after them) and comments; replace `$(...)` and backquotes by a placeholder word, keeping
    their text to check as commands of their own."""
    segments, substitutions, placeholders = [], [], []
    current, word_start, in_word, quote = [], 0, False, None
    index, length = 0, len(line)

    def start_word():
        nonlocal word_start, in_word
        if not in_word:
            word_start, in_word = len(current), True

    while index < length:
        char = line[index]
        if quote == "'":
            current.append(char)
            quote = None if char == "'" else quote
            index += 1
            continue
        if char == "\\":
            start_word()
            current.append(line[index:index + 2])
            index += 2
            continue
        if line.startswith("$(", index) or char == "`":
            end = _matching_paren(line, index + 2) if char == "$" else _closing_backquote(line, index + 1)
            if end < 0:
                raise ShellSyntaxError("a command substitution is never closed")
            start_word()
            substitutions.append(line[index + (2 if char == "$" else 1):end])
            current.append("$(...)")
            index = end + 1
            continue
        if char == '"':
            start_word()
            current.append(char)
            quote = None if quote == '"' else '"'
            index += 1
            continue
        if quote == '"':
            current.append(char)
            index += 1
            continue
        if char == "'":
            start_word()
            current.append(char)
            quote = "'"
            index += 1
            continue
        if char.isspace():
            current.append(" ")
            in_word = False
            index += 1
            continue
        if char == "#" and not in_word:
            break
        if char == "<":
            placeholder = _PLACEHOLDER.match(line, index)
            if placeholder:
                placeholders.append(placeholder.group())
                start_word()
                current.append(shlex.quote(placeholder.group()))
                index = placeholder.end()
                continue
        redirection = _REDIRECTION.match(line, index) if char in "<>&" else None
        if redirection and (char != "&" or redirection.group().startswith("&>")):
            if in_word and "".join(current[word_start:]).isdigit():
                del current[word_start:]  # the fd number of `2>`
            start = redirection.end()
            while start < length and line[start].isspace():
                start += 1
            end, inner = _word_end(line, start)
            if end == start:
                raise ShellSyntaxError(f"{redirection.group()} has no file after it")
            substitutions.extend(inner)
            current.append(" ")
            in_word = False
            index = end
            continue
        if char in "|&;()":
            width = 2 if line[index:index + 2] in ("&&", "||", "|&", ";;") else 1
            segments.append("".join(current))
            current, word_start, in_word = [], 0, False
            index += width
            continue
        start_word()
        current.append(char)
        index += 1
    if quote:
        raise ShellSyntaxError("a quote is never closed")
    segments.append("".join(current))
    return segments, substitutions, placeholders


def _matching_paren(line, index):
    """Index of the `)` closing a `$(` whose body starts at `index`, or -1."""
    depth, quote = 1, None
    while index < len(line):
        char = line[index]
        if quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            index += 1
        elif char == '"':
            quote = None if quote == '"' else '"'
        elif quote is None and char == "'":
            quote = "'"
        elif quote is None and char == "(":
            depth += 1
        elif quote is None and char == ")":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _closing_backquote(line, index):
    while index < len(line):
        if line[index] == "\\":
            index += 2
            continue
        if line[index] == "`":
            return index
        index += 1
    return -1


def _word_end(line, index):
    """(index after the shell word starting at `index`, command substitutions inside it)."""
    inner, quote = [], None
    while index < len(line):
        char = line[index]
        if quote == "'":
            quote = None if char == "'" else quote
        elif char == "\\":
            index += 1
        elif line.startswith("$(", index):
            end = _matching_paren(line, index + 2)
            if end < 0:
                raise ShellSyntaxError("a command substitution is never closed")
            inner.append(line[index + 2:end])
            index = end
        elif char == '"':
            quote = None if quote == '"' else '"'
        elif quote is None and char == "'":
            quote = "'"
        elif quote is None and (char.isspace() or char in "|&;()<>"):
            break
        index += 1
    if quote:
        raise ShellSyntaxError("a quote is never closed")
    return index, inner


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
