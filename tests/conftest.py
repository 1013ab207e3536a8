"""Markers for the whole suite: everything under tests/lab is `lab` (it needs root and builds
network namespaces), so `pytest -m "not lab"` is the quick loop."""

from pathlib import Path

import pytest

LAB_DIR = Path(__file__).resolve().parent / "lab"


def pytest_collection_modifyitems(items):
    for item in items:
        if LAB_DIR in Path(item.path).parents:
            item.add_marker(pytest.mark.lab)
