"""A command line split the way a shell would, for checking the commands in it (not for running them).

split_command_line("a -x | b $(c -y) 2>/dev/null") -> ([["a", "-x"], ["b", "$(...)"]], ["c -y"], []):
the simple commands of the line as word lists (pipelines, `&&`/`||`/`;` lists and subshell
parentheses cut it; redirections and the file after them are dropped; quotes are removed by shlex),
the bodies of its `$(...)` and backquoted command substitutions (each a command line to check in
turn), and any `<placeholder>` in it. ShellSyntaxError says what a shell could not read.
"""

import re
import shlex

_REDIRECTION = re.compile(r"&>>|&>|>>|>&|>\||<<<|<<-|<<|<&|<>|>|<")
# `<peer address>` in a command line: a shell reads the brackets as redirections.
_PLACEHOLDER = re.compile(r"<[A-Za-z](?:[^<>\n]*[^\s<>])?>")


class ShellSyntaxError(ValueError):
    """What a shell could not read: an open quote or `$(`, a redirection with no file."""


def split_command_line(line):
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
