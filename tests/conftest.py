"""Markers for the whole suite: everything under tests/lab is `lab` (it needs root and builds
network namespaces) and everything under tests/fuzz is `fuzz` (the property-based suite, ~25 s
at its default budget), so `pytest -m "not lab and not fuzz"` is the quick loop."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MARKED_DIRS = {HERE / "lab": pytest.mark.lab, HERE / "fuzz": pytest.mark.fuzz}


def pytest_collection_modifyitems(items):
    for item in items:
        parents = Path(item.path).parents
        for directory, mark in MARKED_DIRS.items():
            if directory in parents:
                item.add_marker(mark)
