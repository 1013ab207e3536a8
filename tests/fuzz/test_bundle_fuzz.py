"""A sosreport built from real command output, one evidence file damaged at a time, through
`calirules diagnose --sosreport`: exit 0, 1 or 2 (one line), no traceback, and nothing read
outside the bundle (a canary file beside it never shows up in what calirules prints)."""

import os
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from tests.fuzz.contract import assert_contract, fifo_unblocked_after, run_within
from tests.fuzz.mutations import HUGE_DIGITS
from tests.fuzz.sosreport import build_sosreport, copy_sosreport

BUNDLE_NAME = "sosreport-n1-2026-11-01-abcdefg"
# What a followed link out of the bundle would leak: a token in lines shaped like evidence.
CANARY = "fuzzcanary7f3e"
CANARY_TEXT = (f"{CANARY}\nnet.ipv4.ip_forward = {CANARY}\n1: {CANARY}: <UP> mtu 1500\n"
               f"iptables v1.8.{CANARY}\n").encode()
# A FIFO reader left waiting is released after this long, so a hang fails the bound instead of the run.
BUNDLE_SECONDS = 10.0


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-bundle") / BUNDLE_NAME
    return root, build_sosreport(root)


# Numbers are where parsers convert text (and where the int-string limit bites): half the draws.
NUMERIC = ["huge-digits", "grow-number", "grow-every-number"]
CONTENT = ["truncate", "garbage", "empty", "binary", "bad-utf8", "nul-bytes", "crlf", "long-line"]
SPECIAL = ["loop", "self-link", "fifo", "directory", "link-out-absolute", "link-out-relative", "link-out-dir"]


@st.composite
def content_damage(draw, data):
    kind = draw(st.one_of(st.sampled_from(NUMERIC), st.sampled_from(CONTENT)))
    at = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return data[:at]
    if kind == "garbage":
        return data[:at] + draw(st.binary(min_size=1, max_size=256)) + data[at:]
    if kind == "huge-digits":
        return data[:at] + b"9" * draw(HUGE_DIGITS) + data[at:]
    if kind == "grow-number":
        runs = [m.span() for m in re.finditer(rb"\d+", data)]
        if not runs:
            return data + b"9" * draw(HUGE_DIGITS)
        start, end = runs[draw(st.integers(0, len(runs) - 1))]
        return data[:start] + b"9" * draw(HUGE_DIGITS) + data[end:]
    if kind == "grow-every-number":
        return re.sub(rb"\d+", b"9" * draw(HUGE_DIGITS), data)
    if kind == "empty":
        return b""
    if kind == "binary":
        return draw(st.binary(min_size=1, max_size=4096))
    if kind == "bad-utf8":
        return data[:at] + b"\xff\xfe\xc3\x28\xed\xa0\x80" + data[at:]
    if kind == "nul-bytes":
        return data[:at] + b"\0" * draw(st.integers(1, 4096)) + data[at:]
    if kind == "crlf":
        return data.replace(b"\n", b"\r\n")
    return data[:at] + b"x" * draw(st.integers(10_000, 300_000)) + data[at:]


def make_special(kind, path, outside):
    """Put a special file where the evidence file `path` was."""
    path.unlink()
    if kind == "loop":
        path.symlink_to(path.name + ".other")
        path.with_name(path.name + ".other").symlink_to(path.name)
    elif kind == "self-link":
        path.symlink_to(path.name)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
        (path / "inside").write_bytes(b"1\n")  # inside the bundle: reading it is allowed
    elif kind == "link-out-absolute":
        path.symlink_to(outside / "secret")
    elif kind == "link-out-relative":
        path.symlink_to(os.path.relpath(outside / "secret", path.parent))
    else:
        path.symlink_to(outside)


def diagnose_damaged(base, relative, damage):
    """Copy the sosreport, damage one file (bytes, or a special-file kind), diagnose it."""
    root, _files = base
    with tempfile.TemporaryDirectory() as tmp:
        outside = Path(tmp) / "outside"
        outside.mkdir()
        (outside / "secret").write_bytes(CANARY_TEXT)
        bundle = Path(tmp) / BUNDLE_NAME
        copy_sosreport(root, bundle)
        target = bundle / relative
        if isinstance(damage, bytes):
            target.write_bytes(damage)
        else:
            make_special(damage, target, outside)
        with fifo_unblocked_after(target, BUNDLE_SECONDS):
            code, out, err, took = run_within("diagnose", "--sosreport", bundle, "--format", "json")
    assert_contract(code, out, err, took, seconds=BUNDLE_SECONDS)
    assert CANARY not in out and CANARY not in err, "a file outside the bundle was read"


# Known bug of issue 10 (fixed elsewhere), found by the long budget, by chance by the short one:
# a >4,300-digit number in an evidence file is exit 3. Remove this mark at merge.
@fuzz_settings(15)
@given(data=st.data())
def test_one_evidence_file_damaged(base, data):
    relative = data.draw(st.sampled_from(base[1]), label="file")
    original = (base[0] / relative).read_bytes()
    diagnose_damaged(base, relative, data.draw(content_damage(original), label="content"))


@pytest.mark.parametrize("kind", SPECIAL)
@fuzz_settings(2)
@given(data=st.data())
def test_one_evidence_file_replaced_by_a_special_file(base, kind, data):
    diagnose_damaged(base, data.draw(st.sampled_from(base[1]), label="file"), kind)
