"""Fixtures for the fault lab tests: real network namespaces, always torn down.

`lab_case` is the shared one: a session-scoped lab per fault case (tests/lab/cases.py), asked for
with `@pytest.mark.parametrize("lab_case", [LabCase.of(...)], indirect=True)`. pytest runs the tests
of one case one after another and keeps a single case's lab up at a time; the hook below makes
sure of that grouping on pytest releases that group parameters by position rather than value.
`make_lab` and `lab` are per test, for tests that change the lab beyond one fault.
"""

from __future__ import annotations

import re

import pytest
from calirules.lab.topology import Lab

from tests.lab.cases import BuiltCase
from tests.lab.support import (
    SESSION_BASE,
    cleanup_session_namespaces,
    new_prefix,
    skip_unless_lab,
)


@pytest.fixture(scope="session", autouse=True)
def _session_cleanup():
    yield
    cleanup_session_namespaces()


@pytest.fixture(scope="session")
def lab_case(request, tmp_path_factory) -> BuiltCase:
    case = request.param
    skip_unless_lab(case.backend)
    lab = Lab(new_prefix(), pods=2, backend=case.backend)
    try:
        lab.up()
        yield BuiltCase(case, lab, tmp_path_factory.mktemp("lab-case"))
    finally:
        lab.down()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run the tests of one lab case together (a stable regrouping; a no-op where pytest already
    grouped them), so each case's lab is built once."""
    def case_of(item):
        callspec = getattr(item, "callspec", None)
        return callspec.params.get("lab_case") if callspec else None

    by_case: dict = {}
    for item in items:
        case = case_of(item)
        if case is not None:
            by_case.setdefault(case, []).append(item)
    ordered, placed = [], set()
    for item in items:
        case = case_of(item)
        if case is None:
            ordered.append(item)
        elif case not in placed:
            placed.add(case)
            ordered.extend(by_case[case])
    items[:] = ordered


@pytest.fixture
def make_lab():
    """Factory: make_lab(pods=2, backend="legacy") -> a Lab that is up; all are torn down after the
    test, whatever happens."""
    labs: list[Lab] = []

    def factory(pods: int = 2, backend: str = "legacy") -> Lab:
        skip_unless_lab(backend)
        lab = Lab(new_prefix(), pods=pods, backend=backend)
        labs.append(lab)
        return lab.up()

    try:
        yield factory
    finally:
        for lab in labs:
            lab.down()


@pytest.fixture(params=["legacy", "nft"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def lab(make_lab) -> Lab:
    return make_lab()


def _policy_counter(save_c_output: str, chain: str) -> int:
    """Packets counted against a built-in chain's policy in `iptables-save -c` output."""
    m = re.search(rf"^:{re.escape(chain)} \w+ \[(\d+):\d+\]", save_c_output, re.M)
    return int(m.group(1)) if m else 0


class LabTools:
    """Helpers for lab tests, handed out by the `lab_tools` fixture."""

    policy_counter = staticmethod(_policy_counter)
    skip_unless_lab = staticmethod(skip_unless_lab)
    new_prefix = staticmethod(new_prefix)
    session_base = SESSION_BASE


@pytest.fixture
def lab_tools() -> LabTools:
    return LabTools()
