"""Bad input: one line on stderr naming file and line, exit 2, no traceback, nothing written."""

import os
import re

import pytest

from tests.helpers import EXAMPLES, run_cli, run_cli_process

HEALTHY = (EXAMPLES / "healthy.yaml").read_text()


def assert_clean_error(code, out, err, path, line=None):
    assert code == 2, (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("calirules: error: ")
    assert str(path) in lines[0]
    if line is not None:
        assert re.search(rf"{re.escape(str(path))}:{line}(:\d+)?: ", lines[0]), lines[0]
    return lines[0]


def diagnose(path, tmp_path):
    output = tmp_path / "out" / "report.json"
    output.parent.mkdir()
    result = run_cli("diagnose", "--facts", path, "--format", "json", "-o", output)
    assert not output.exists(), "nothing may be written for bad input"
    return result


def test_wrong_type_names_field_line_and_column(tmp_path):
    text = HEALTHY.replace("  mtu: 1500\n", "  mtu: abc\n", 1)
    bad = tmp_path / "dump.yaml"
    bad.write_text(text)
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "mtu: abc" in l)
    message = assert_clean_error(*diagnose(bad, tmp_path), bad, line)
    assert "interfaces[1].mtu: expected integer, got 'abc'" in message


def test_invalid_yaml_names_line(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text(HEALTHY + "\nsysctls: [unclosed\n")
    message = assert_clean_error(*diagnose(bad, tmp_path), bad)
    assert "invalid YAML" in message and re.search(r"dump\.yaml:\d+:\d+:", message)


def test_unknown_api_version(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text(HEALTHY.replace("apiVersion: calirules/v1", "apiVersion: calirules/v9"))
    message = assert_clean_error(*diagnose(bad, tmp_path), bad, 2)
    assert "unknown 'calirules/v9', expected 'calirules/v1'" in message


def test_unknown_field_points_at_the_key(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text(HEALTHY.replace("node:\n", "node:\n  hostnme: typo\n", 1))
    message = assert_clean_error(*diagnose(bad, tmp_path), bad)
    assert "node.hostnme: unknown field" in message


def test_missing_required_field(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text("apiVersion: calirules/v1\nkind: NodeFacts\nnode: {os: Debian}\n")
    message = assert_clean_error(*diagnose(bad, tmp_path), bad, 3)
    assert "missing required field 'hostname'" in message


@pytest.mark.parametrize("content", [b"", b"   \n\n"], ids=["empty", "blank"])
def test_empty_file(tmp_path, content):
    bad = tmp_path / "dump.yaml"
    bad.write_bytes(content)
    message = assert_clean_error(*diagnose(bad, tmp_path), bad, 1)
    assert "empty" in message


def test_binary_garbage(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_bytes(os.urandom(4096) + b"\0")
    message = assert_clean_error(*diagnose(bad, tmp_path), bad)
    assert "binary" in message or "not UTF-8" in message


def test_non_utf8_text_names_line(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_bytes(b"apiVersion: calirules/v1\nkind: NodeFacts\nnode: {hostname: \xff}\n")
    assert "not UTF-8" in assert_clean_error(*diagnose(bad, tmp_path), bad, 3)


def test_hundred_megabyte_file_is_refused_without_reading_it(tmp_path):
    bad = tmp_path / "dump.yaml"
    with open(bad, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse: costs no disk
    message = assert_clean_error(*diagnose(bad, tmp_path), bad)
    assert "100.0 MiB" in message


def test_not_a_mapping(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text("- just\n- a list\n")
    assert "expected a mapping" in assert_clean_error(*diagnose(bad, tmp_path), bad, 1)


def test_missing_file_and_directory(tmp_path):
    # a real process: what a user's shell sees is one line and exit 2, whatever the interpreter adds
    assert_clean_error(*run_cli_process("diagnose", "--facts", tmp_path / "nope.yaml"), tmp_path / "nope.yaml")
    code, out, err = run_cli("diagnose", "--facts", tmp_path)
    assert code == 2 and "Traceback" not in err


def test_no_source_given_is_usage_error():
    code, out, err = run_cli("diagnose")
    assert code == 2 and "exactly one of" in err


def test_live_options_are_checked(tmp_path):
    code, _, err = run_cli("diagnose", "--live", "--netns", "no-such-namespace-xyz")
    assert code == 2 and "no network namespace named 'no-such-namespace-xyz'" in err and "Traceback" not in err
    code, _, err = run_cli("diagnose", "--facts", tmp_path / "x.yaml", "--netns", "x")
    assert code == 2 and "--netns goes with --live" in err


def test_yaml_tags_are_not_executed(tmp_path):
    bad = tmp_path / "dump.yaml"
    bad.write_text("!!python/object/apply:os.system ['touch pwned']\n")
    assert_clean_error(*diagnose(bad, tmp_path), bad, 1)
    assert not (tmp_path / "pwned").exists()
