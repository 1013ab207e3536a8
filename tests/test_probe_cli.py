"""`calirules probe` and `diagnose --probe`: what is refused before a packet is sent (exit 2, one line)."""

import os
import pytest

from tests.helpers import REPO, run_cli


@pytest.mark.parametrize("proto,needle", [("tcp", "needs a port"), ("udp:0", "needs a port"), ("icmp:7", "no port"),
                                          ("sctp:80", "give icmp, tcp:PORT or udp:PORT"), ("tcp:70000", "1-65535")])
def test_bad_proto_is_refused(proto, needle):
    code, out, err = run_cli("probe", "--from", "198.18.8.10", "--to", "198.18.8.11", "--proto", proto)
    assert code == 2 and needle in err and err.count("\n") == 1, err


@pytest.mark.parametrize("count", ["0", "21", "-1"])
def test_count_out_of_range_is_refused(count):
    code, _, err = run_cli("probe", "--from", "198.18.8.10", "--to", "198.18.8.11", "--count", count)
    assert code == 2 and "--count" in err, err


def test_probe_needs_live():
    code, _, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--probe", "a", "b")
    assert code == 2 and "--probe goes with --live" in err


def test_probe_options_need_probe():
    code, _, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--proto", "tcp:80")
    assert code == 2 and "go with --probe" in err


def test_unknown_node_namespace_is_refused():
    code, _, err = run_cli("probe", "--from", "a", "--to", "b", "--netns", "calirules-no-such-ns")
    assert code == 2 and "calirules-no-such-ns" in err and "Traceback" not in err


def test_without_root_it_says_so(monkeypatch):
    """As an unprivileged user (the check asks the kernel's effective uid): one line naming root and
    what to run instead."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, _, err = run_cli("probe", "--from", "198.18.8.10", "--to", "198.18.8.11")
    assert code == 2, err
    assert "needs root" in err and "diagnose --live" in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("content,needle", [
    ('{"schema": "calirules/probe/v1", "reached": tru', "not JSON"),
    ('{"schema": "calirules/report/v1"}', "not a calirules probe result"),
    ('{"schema": "calirules/probe/v1", "reached": true}', "not a calirules probe result"),
    ('[1, 2]', "not a calirules probe result"),
])
def test_a_bad_probe_result_file_is_refused(tmp_path, content, needle):
    path = tmp_path / "probe.json"
    path.write_text(content)
    code, _, err = run_cli("diagnose", "--facts", REPO / "examples" / "healthy.yaml", "--probe-result", path)
    assert code == 2 and needle in err and str(path) in err and err.count("\n") == 1, err


def test_a_bare_format_word_as_output_is_refused_before_probing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("probe", "--from", "198.18.8.10", "--to", "198.18.8.11", "-o", "json")
    assert code == 2 and "--format json" in err and not (tmp_path / "json").exists()
