#!/usr/bin/env python3
"""Regenerate what the source tree keeps from the evidence registry: docs/evidence.md and the
`collect_with` of every registry-filled section in engine/data/sections.yaml (other lines kept).

Usage: python docs/regenerate_evidence.py   (tests/test_evidence_registry.py fails when either is stale)
"""

import re
import sys
from pathlib import Path

from calirules.facts_collectors import evidence_table, specs

REPO = Path(__file__).resolve().parent.parent

DOC_HEADER = """# Evidence calirules reads

Generated from the evidence registry (`Specs` in facts_collectors/specs.py) by
`python docs/regenerate_evidence.py` (the same table: `calirules evidence --format markdown`);
a test fails when it is stale. How to add a row: [adding-evidence.md](adding-evidence.md).

"""


def regenerate(repo=REPO):
    (repo / "docs" / "evidence.md").write_text(DOC_HEADER + evidence_table.markdown(), encoding="utf-8")
    path = repo / "engine" / "data" / "sections.yaml"
    text = path.read_text(encoding="utf-8")
    for section in dict.fromkeys(s for spec in specs.all_specs() for s in spec.sections):
        derived = specs.section_collect_with(section).replace('"', '\\"')
        pattern = re.compile(rf'(?m)^({re.escape(section)}:\n  what: .*\n  collect_with: ).*$')
        if not pattern.search(text):
            sys.exit(f"{path}: add a `{section}:` entry (what: ..., collect_with: ...) first")
        text = pattern.sub(lambda m: f'{m.group(1)}"{derived}"', text)
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    regenerate()
