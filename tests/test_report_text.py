"""The text report on a terminal (a real pseudo-terminal), through a pipe, with NO_COLOR and COLUMNS."""

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import pytest

from tests.helpers import EXAMPLES, REPO, run_cli, run_cli_process

THREE_CAUSES = EXAMPLES / "iptables-backend-mismatch-guide.yaml"  # 2 root causes + 1 mechanism
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def run_on_pty(args, columns=80, env_extra=None, stdout_pty=True, interrupt_when=None, timeout=60):
    """Run calirules with stdout (and stderr) on a pseudo-terminal of `columns` columns.

    Returns (exit code, what the terminal showed). `interrupt_when`: a string; SIGINT is sent as
    soon as the terminal shows it."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR", "LINES")}
    env.update({"TERM": "xterm-256color", **(env_extra or {})})
    proc = subprocess.Popen([sys.executable, "-m", "calirules", *map(str, args)], stdin=subprocess.DEVNULL,
                            stdout=terminal if stdout_pty else subprocess.PIPE, stderr=terminal, env=env,
                            cwd=REPO)
    os.close(terminal)
    shown, deadline, sent = b"", time.monotonic() + timeout, False
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the other side closed: the process is done
                break
            if not chunk:
                break
            shown += chunk
        if interrupt_when and not sent and interrupt_when.encode() in shown:
            proc.send_signal(signal.SIGINT)
            sent = True
        if proc.poll() is not None and not ready:
            break
    os.close(controller)
    piped = proc.stdout.read().decode() if not stdout_pty else ""
    code = proc.wait(timeout=timeout)
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n") + piped


def overlong(lines, width):
    """Lines over `width` that hold no word longer than the width (those could have been wrapped);
    a shell command (`$ ...`) is never wrapped and does not count."""
    return [line for line in lines if len(line) > width and not line.lstrip().startswith("$ ")
            and not any(len(word) > width // 2 for word in line.split())]


def test_terminal_gets_colour_and_its_width():
    code, shown = run_on_pty(["diagnose", "--facts", THREE_CAUSES], columns=80)
    assert code == 1, shown
    assert ANSI.search(shown), "no colour on a terminal"
    plain = ANSI.sub("", shown).splitlines()
    assert plain[1].startswith("Verdict: found"), plain[:3]
    assert not overlong(plain, 80), overlong(plain, 80)
    assert max(len(line) for line in plain if not line.lstrip().startswith("$ ")) > 60  # it uses the width


def test_no_color_on_a_terminal_is_plain():
    code, shown = run_on_pty(["diagnose", "--facts", THREE_CAUSES], columns=80, env_extra={"NO_COLOR": "1"})
    assert code == 1
    assert "\x1b" not in shown
    assert not overlong(shown.splitlines(), 80)


def test_columns_wins_over_the_terminal():
    code, shown = run_on_pty(["diagnose", "--facts", THREE_CAUSES], columns=120, env_extra={"COLUMNS": "60"})
    plain = ANSI.sub("", shown).splitlines()
    assert code == 1 and not overlong(plain, 60), overlong(plain, 60)


def test_piped_output_is_plain_and_wrapped_to_100():
    env = {"COLUMNS": ""}
    code, out, err = run_cli_process("diagnose", "--facts", THREE_CAUSES, env=env)
    assert code == 1 and err == ""
    assert "\x1b" not in out
    lines = out.splitlines()
    assert not overlong(lines, 100), overlong(lines, 100)
    assert max(len(line) for line in lines if not line.lstrip().startswith("$ ")) > 90
    code, narrow, _ = run_cli_process("diagnose", "--facts", THREE_CAUSES, env={"COLUMNS": "50"})
    assert code == 1 and not overlong(narrow.splitlines(), 50)


def test_stdout_piped_from_a_terminal_session_is_plain():
    # stderr on a terminal (progress may show there), stdout into a pipe: the report has no colour
    code, shown = run_on_pty(["diagnose", "--facts", THREE_CAUSES], stdout_pty=False)
    assert code == 1 and "Verdict: found" in shown
    report = shown[shown.index("calirules diagnosis for node"):]
    assert "\x1b" not in report


def test_summary_comes_first_with_mechanisms_under_their_root():
    code, out, _ = run_cli("diagnose", "--facts", THREE_CAUSES)
    assert code == 1
    lines = out.splitlines()
    first_detail = lines.index(next(line for line in lines if line.startswith("1. iptables-backend-mismatch")))
    head = "\n".join(lines[:first_detail])
    rows = [line for line in lines[:first_detail] if re.match(r"\s+(└ )?\d\. ", line)]
    assert [re.search(r"\d\. (\S+)", row).group(1) for row in rows] == \
        ["iptables-backend-mismatch", "forward-policy-drop", "version-skew"]
    assert re.match(r"\s{3,}└ 2\. forward-policy-drop", rows[1])  # under its root, indented
    for row, confidence, severity in zip(rows, ("0.87", "0.60", "0.65"), ("high", "high", "high")):
        assert f" {confidence}  {severity}" in row, row
    assert "Less likely: calico-chains-missing 0.45, rp-filter-loose 0.11" in head
    assert first_detail < 20, "the summary must fit a screen"


def test_header_line_carries_version_run_time_and_evidence_time():
    from calirules import __version__
    _, out, _ = run_cli("diagnose", "--facts", THREE_CAUSES)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("source "))
    provenance = " ".join(lines[start:start + 2])  # it may wrap
    assert f"calirules {__version__}" in provenance
    assert re.search(r"run \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", provenance)
    assert "evidence collection time: not in the source" in provenance


def test_layout_wraps_with_hanging_indent_and_keeps_commands_whole():
    from calirules.report.terminal import layout, style
    text = "  - " + "word " * 30 + "\n        $ " + "x" * 120 + "\n" + style("red alert", "found")
    plain = layout(text, width=40)
    lines = plain.splitlines()
    assert all(len(line) <= 40 for line in lines[:-2])
    assert all(line.startswith("    word") for line in lines[1:-2])  # under the text after "- "
    assert lines[-2] == "        $ " + "x" * 120
    assert lines[-1] == "red alert"
    coloured = layout(style("red alert", "found"), width=40, color=True)
    assert coloured == "\x1b[1;31mred alert\x1b[0m"


def test_output_settings_follow_no_color_and_columns():
    from calirules.report.terminal import output_settings

    class Tty:
        def isatty(self):
            return True

        def fileno(self):
            raise OSError("no terminal")

    assert output_settings(Tty(), {"COLUMNS": "77"}) == (77, True)
    assert output_settings(Tty(), {"COLUMNS": "77", "NO_COLOR": "1"}) == (77, False)
    assert output_settings(Tty(), {"COLUMNS": "77", "NO_COLOR": ""}) == (77, True)  # empty: not set
    assert output_settings(open(os.devnull), {}) == (100, False)
    assert output_settings(open(os.devnull), {"COLUMNS": "junk"}) == (100, False)


def test_ctrl_c_exits_130_and_progress_shows_on_a_terminal(tmp_path):
    sys.path.insert(0, str(REPO / "bench"))
    try:
        import bench
    finally:
        sys.path.remove(str(REPO / "bench"))
    # a 2,000-pod node (~1.5 s to diagnose): long enough for the status line to show, then Ctrl-C.
    # JSON is YAML 1.2, and quick to write.
    big = tmp_path / "big.yaml"
    big.write_text(json.dumps(bench.make_dump(2000)))
    code, shown = run_on_pty(["diagnose", "--facts", big], interrupt_when="calirules: ")
    assert "calirules: reading the facts dump..." in shown or "calirules: diagnosing..." in shown \
        or "calirules: loading the rules..." in shown, shown[-500:]
    assert code == 130, shown[-500:]
    assert "calirules: interrupted" in shown


def test_no_progress_when_stderr_is_not_a_terminal(tmp_path):
    code, out, err = run_cli_process("diagnose", "--facts", THREE_CAUSES)
    assert code == 1 and err == "" and out


def test_abort_maps_to_130():
    import click

    from calirules import cli

    @cli.main_group.command("raise-abort-for-test", hidden=True)
    def _raise():
        raise KeyboardInterrupt

    try:
        code, _, err = run_cli("raise-abort-for-test")
    finally:
        cli.main_group.commands.pop("raise-abort-for-test")
    assert code == 130 and "interrupted" in err
    assert click  # click's Abort path is the one exercised


@pytest.mark.parametrize("report", ["3-causes"])
def test_measure_three_cause_report(report, capsys):
    """Not a gate: prints the figures (lines, widest line) of the 3-cause report at the default width."""
    _, out, _ = run_cli("diagnose", "--facts", THREE_CAUSES)
    lines = out.splitlines()
    with capsys.disabled():
        print(f"\n3-cause report: {len(lines)} lines, widest {max(map(len, lines))} columns "
              f"(widest that is not an unbreakable token: "
              f"{max(len(line) for line in lines if not any(len(w) > 50 for w in line.split()))})")
    assert len(lines) > 20


def test_control_characters_from_the_bundle_are_shown_not_obeyed():
    from calirules.report.render import render
    _, out, _ = run_cli("diagnose", "--facts", THREE_CAUSES, "--format", "json")
    report = json.loads(out)
    report["causes"][0]["title"] = "evil \x1b[2J\x1b[31mred \x01found\x02 fake\x03 mark\r"
    for color in (False, True):
        text = render(report, "text", width=100, color=color)
        assert "\x1b[2J" not in text and "evil \x1b" not in text and "\x01" not in text and "\r" not in text
        assert "evil \\x1b[2J\\x1b[31mred \\x01found\\x02 fake\\x03 mark\\x0d" in ANSI.sub("", text)
