"""A remediation text (as the rule templates write it) -> blocks the markdown and HTML layouts place.

Remediation templates write plain text: a heading line ("Commands:") at the left margin, indented
prose, and commands as indented `$ ` lines. Markdown and HTML need to know which is which: commands
go into code blocks (copied as they are, no prompt), prose into paragraphs.
"""

import re


def blocks(text):
    """[(kind, value)]: ("heading", str), ("prose", str: its lines joined), ("commands", [str])."""
    out = []
    for raw in str(text).splitlines():
        stripped = raw.strip()
        if not stripped:
            out.append(("break", None))
        elif stripped.startswith("$ "):
            command = stripped[2:]
            if out and out[-1][0] == "commands":
                out[-1][1].append(command)
            else:
                out.append(("commands", [command]))
        elif raw == stripped and stripped.endswith(":") and len(stripped) < 60:
            out.append(("heading", stripped))
        elif out and out[-1][0] == "prose" and not _starts_paragraph(out[-1][1], stripped):
            out[-1] = ("prose", f"{out[-1][1]} {stripped}")
        else:
            out.append(("prose", stripped))
    return [block for block in out if block[0] != "break"]


def _starts_paragraph(previous, line):
    """Templates wrap their prose by hand; a note in parentheses, a warning or the line after a
    colon starts a new paragraph, any other line continues the one before."""
    if previous.endswith(":"):
        return True
    return line.startswith(("Warning:", "Or,", "Or ")) or (line.startswith("(") and previous.endswith((".", ")")))


# Characters CommonMark gives a meaning to inside a paragraph (`>` and `#` only at its start,
# handled there); a backslash before any ASCII punctuation keeps it literal.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<|~&])")
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")


def md_inline(text, code_spans=True):
    """`text` as literal markdown inline content: nothing it says is lost or reinterpreted.

    With code_spans, `...` stays a code span (remediation prose uses them for commands)."""
    parts = _CODE_SPAN.split(str(text)) if code_spans else [str(text)]
    out = []
    for index, part in enumerate(parts):
        if code_spans and index % 2 == 1:
            out.append(part)
        else:
            out.append(_MD_SPECIAL.sub(r"\\\1", part))
    line = "".join(out).replace("\n", " ")
    # A line that starts like a list item, a heading or a block quote would become one.
    return re.sub(r"^(\s*)([-+=>#]|\d+(?=[.)]))", lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit()
                                                                          else "\\" + m.group(2)), line)


def md_fence(lines):
    """A fenced ```sh block holding `lines` verbatim; the fence is longer than any backtick run in them."""
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return "\n".join([f"{fence}sh", *lines, fence])


def md_code(text):
    """`text` as one inline code span, whatever backticks it holds."""
    text = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"
