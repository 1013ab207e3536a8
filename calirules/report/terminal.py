"""Text report layout for a terminal: wrapping to a width and colour, or neither.

The text template marks spans with `style(name)` (zero-width marks that never reach the output);
this module wraps every logical line to the width, keeping its indent (and a bullet's hanging
indent), and turns the marks into ANSI colour codes or drops them.

Plain ANSI rather than a terminal library: the report needs a dozen colour codes and a wrapper that
never breaks a shell command (a pasted command must stay one line); rich's import alone costs
~23 ms of a 0.27 s diagnosis and its wrapper folds long lines.
"""

import os
import re
import shutil

DEFAULT_WIDTH = 100  # when neither the terminal nor COLUMNS says
MIN_WIDTH = 40

_OPEN, _SEP, _CLOSE = "\x01", "\x02", "\x03"
_MARK = re.compile(f"{_OPEN}([a-z-]+){_SEP}|{_CLOSE}")

# SGR parameters per style (ECMA-48): bold, dim, and the eight basic colours every terminal has.
_SGR = {"title": "1", "found": "1;31", "inconclusive": "1;33", "healthy": "1;32", "id": "1", "heading": "1",
        "critical": "1;31", "high": "31", "medium": "33", "low": "36", "cmd": "36", "dim": "2", "against": "33",
        "supports": "32", "confidence": "1"}
_RESET = "\x1b[0m"

# A line's own bullet or number: its continuation lines start under the text after it.
_HANG = re.compile(r"(└ \d+\. |\d+\. |[-+*] |- against \(x[0-9.]+\): |└ )")


# Control characters a bundle's text may carry (an escape sequence in a log line would move the
# cursor or recolour the terminal, a stray mark would restyle the line): shown as \xNN instead.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class _Styled(str):
    """Text already marked by style(): passes `printable` untouched."""


def printable(value):
    """Every value the text template prints goes through this (the Jinja finalize hook)."""
    if isinstance(value, _Styled):
        return value
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


_HANG_HERE = "\x04"


def hang_here():
    """A zero-width mark: the line's continuation lines start under this column (a table row's
    last cell), as long as that leaves room to read."""
    return _Styled(_HANG_HERE)


def style(text, name):
    """`text` marked with a style: coloured on a terminal, plain elsewhere."""
    text = printable(text)
    return _Styled(f"{_OPEN}{name}{_SEP}{text}{_CLOSE}" if text else text)


def strip_marks(text):
    return _MARK.sub("", text)


def output_settings(stream, environ=None):
    """(width, colour) for the text report written to `stream`.

    Colour only on a terminal and when NO_COLOR is unset or empty (no-color.org); the width is
    COLUMNS when set, else the terminal's, else DEFAULT_WIDTH (a pipe or a file)."""
    environ = os.environ if environ is None else environ
    tty = _isatty(stream)
    color = tty and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
    width = _int(environ.get("COLUMNS"))
    if width is None and tty:
        try:
            width = os.get_terminal_size(stream.fileno()).columns or None
        except (OSError, ValueError, AttributeError):
            width = shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns
    return max(MIN_WIDTH, width or DEFAULT_WIDTH), color


def layout(text, width=DEFAULT_WIDTH, color=False):
    """Wrap each line of marked `text` to `width` columns and colour it (or strip the marks).

    A line that is a shell command (`$ ...`) and a word longer than the width are never broken."""
    out = []
    for line in text.split("\n"):
        out.extend(_wrap(line, width, color))
    return "\n".join(out)


def _wrap(line, width, color):
    column = None
    if _HANG_HERE in line:
        column = len(strip_marks(line[:line.index(_HANG_HERE)]))
        line = line.replace(_HANG_HERE, "")
    chars, styles = _decode(line)
    plain = "".join(chars)
    indent = len(plain) - len(plain.lstrip(" "))
    content = plain[indent:]
    if not content:
        return [""]
    if content.startswith("$ "):
        return [_encode(chars, styles, 0, len(plain), color)]
    bullet = _HANG.match(content)
    hang = len(bullet.group()) if bullet else 0
    if column is not None and column - indent <= width // 2:
        hang = column - indent
    spans = _spans(plain, indent, width - indent, width - indent - hang)
    pad = " " * (indent + hang)
    lines = []
    for number, (start, end) in enumerate(spans):
        first = number == 0
        body = _encode(chars, styles, start if not first else 0, end, color)
        lines.append(body if first else pad + body)
    return lines


def _spans(plain, start, first_width, next_width):
    """(start, end) of each output line in `plain`, broken at spaces."""
    spans, pos, avail = [], start, max(first_width, 20)
    while len(plain) - pos > avail:
        cut = plain.rfind(" ", pos + 1, pos + avail + 1)
        if cut == -1:  # one word longer than the line: it stays whole, the break comes after it
            cut = plain.find(" ", pos + avail)
            if cut == -1:
                break
        spans.append((pos, cut))
        pos = cut
        while pos < len(plain) and plain[pos] == " ":
            pos += 1
        avail = max(next_width, 20)
    if pos < len(plain):
        spans.append((pos, len(plain)))
    return spans


def _decode(line):
    chars, styles, stack, last = [], [], [], 0
    for match in _MARK.finditer(line):
        chunk = line[last:match.start()]
        chars.extend(chunk)
        styles.extend([stack[-1] if stack else None] * len(chunk))
        if match.group(1):
            stack.append(match.group(1))
        elif stack:
            stack.pop()
        last = match.end()
    chunk = line[last:]
    chars.extend(chunk)
    styles.extend([stack[-1] if stack else None] * len(chunk))
    return chars, styles


def _encode(chars, styles, start, end, color):
    text = "".join(chars[start:end])
    if not color:
        return text.rstrip(" ")
    out, current = [], None
    for char, name in zip(chars[start:end], styles[start:end]):
        if name != current:
            out.append(_RESET if current else "")
            out.append(f"\x1b[{_SGR[name]}m" if name in _SGR else "")
            current = name if name in _SGR else None
        out.append(char)
    if current:
        out.append(_RESET)
    return "".join(out).rstrip(" ")


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _int(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
