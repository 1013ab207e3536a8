"""Helpers for the parser tests: reading the raw fixtures, cutting them, making garbage."""

import random
from pathlib import Path

from calirules.facts_collectors.dump import FACTS_SCHEMA

RAW = Path(__file__).resolve().parent.parent / "fixtures" / "raw"
LAB = RAW / "netns-lab"
QUOTED = RAW / "quoted"

# Text that no parser reads: prose, a Python traceback and an HTTP error page, the kinds of
# thing that end up in a bundle file when a collector's command failed.
UNRELATED_TEXT = (
    "Regenerating changes timestamps, some counters and neighbour states; the tests assert\n"
    "the values in the committed files, so update them together.\n"
    "Traceback (most recent call last):\n"
    '  File "<stdin>", line 1, in <module>\n'
    "ZeroDivisionError: division by zero\n"
    "<html><body><h1>502 Bad Gateway</h1></body></html>\n"
)


def lab(name):
    return (LAB / name).read_text(encoding="utf-8")


def quoted(name):
    return (QUOTED / name).read_text(encoding="utf-8")


def cut_inside_line(text, lineno, keep=7):
    """The text up to `keep` characters into line `lineno` (1-based): a file truncated mid-line."""
    lines = text.split("\n")
    assert len(lines[lineno - 1]) > keep, "pick a longer line to cut"
    return "\n".join(lines[:lineno - 1] + [lines[lineno - 1][:keep]])


def random_garbage(seed, size=8192):
    """Random bytes decoded as a bundle reader would: undecodable bytes become U+FFFD."""
    generator = random.Random(seed)
    return bytes(generator.randrange(256) for _ in range(size)).decode("utf-8", errors="replace")


def line_of(source):
    """`ip_route:12` -> 12."""
    return int(source.rsplit(":", 1)[1])


def validate_facts(**sections):
    """Raise InputError unless `sections` form a valid facts dump (node is filled in here)."""
    doc = {"apiVersion": "calirules/v1", "kind": "NodeFacts", "node": {"hostname": "crp-node1"}}
    doc.update(sections)
    FACTS_SCHEMA.validate(doc)
    return doc
