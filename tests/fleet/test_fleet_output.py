"""The fleet's layouts and its run: formats, JSON schema, parallel == serial, the TTY progress bar."""

import json
import os
import pty
import re
import subprocess
import sys
from html.parser import HTMLParser

import jsonschema_rs
import pytest

from tests.fleet.bundles import cluster_diags, dump, sosreport
from tests.helpers import REPO, run_cli

FLEET_SCHEMA = jsonschema_rs.validator_for(json.loads((REPO / "calirules/report/schema/fleet-v1.schema.json").read_text()))


@pytest.fixture(scope="module")
def fleet_dir(tmp_path_factory):
    parent = tmp_path_factory.mktemp("fleet")
    sosreport(parent, "n1", ip="198.18.0.21", block="198.18.129.0/26")
    sosreport(parent, "n2", ip="198.18.0.22", block="198.18.130.0/26", calico="v3.28.2")
    cluster_diags(parent, {"c1": {"ip": "198.18.0.31", "block": "198.18.131.0/26"},
                           "c2": {"ip": "198.18.0.32", "block": "198.18.131.0/25"}})
    dump(parent, "ip-forwarding-disabled.yaml", "d|1")  # a name Markdown must escape
    (parent / "broken.tar.gz").write_bytes(b"not an archive")
    return parent


def without_run_details(doc):
    doc = json.loads(json.dumps(doc))
    doc.pop("generated_at")
    for entry in doc["nodes"]:
        entry.pop("seconds", None)
        entry.pop("generated_at", None)
    return doc


def test_parallel_equals_serial_and_fits_the_schema(fleet_dir):
    code1, serial, _ = run_cli("fleet", fleet_dir, "--format", "json", "--jobs", "1")
    code2, parallel, _ = run_cli("fleet", fleet_dir, "--format", "json", "--jobs", "2")
    serial, parallel = json.loads(serial), json.loads(parallel)
    assert code1 == code2 == 1
    assert without_run_details(serial) == without_run_details(parallel)
    assert len(serial["nodes"]) == 6 and serial["summary"]["error"] == 1
    FLEET_SCHEMA.validate(serial)
    assert {"schema", "nodes", "cluster_findings"} <= set(serial) and serial["schema"] == "calirules/fleet/v1"
    assert {f["id"] for f in serial["cluster_findings"]} >= {"calico-version-differs", "overlapping-blocks",
                                                              "cause-on-most-nodes"}


def test_text_table(fleet_dir):
    code, out, _ = run_cli("fleet", fleet_dir, "--jobs", "2")
    assert out.startswith("calirules fleet: 6 nodes: 5 found, 1 error; ")
    table = out[out.index("Nodes x causes"):]
    assert re.search(r"^  NODE +VERDICT +\[1\] +\[2\]", table, re.M)
    assert re.search(r"^  n1 +found +0\.\d\d", table, re.M)
    assert re.search(r"broken\.tar\.gz +error +\S", table, re.M)
    assert "  [1] forward-policy-drop (4 nodes): " in out and "  [3] ip-forwarding-disabled (1 node): " in out


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.external = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)


def test_html_is_one_self_contained_page(fleet_dir, tmp_path):
    out = tmp_path / "fleet.html"
    code, _, _ = run_cli("fleet", fleet_dir, "-o", out)  # the format comes from the extension
    page = out.read_text()
    parser = _Collect()
    parser.feed(page)
    tags = [t for t, _ in parser.tags]
    assert page.startswith("<!DOCTYPE html>") and tags.count("html") == 1 and tags.count("table") == 1
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in parser.tags
    assert parser.external == [] and "script" not in tags and "link" not in tags and "url(" not in page
    assert "d|1" in page and "calico-version-differs" in page


def test_markdown_table_has_as_many_cells_per_row_as_columns(fleet_dir):
    code, out, _ = run_cli("fleet", fleet_dir, "--format", "markdown")
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    widths = {len(re.findall(r"(?<!\\)\|", row)) for row in rows}
    assert len(rows) == 7 and len(widths) == 1  # header + 6 nodes, pipes in names escaped
    assert "d\\|1" in out


def test_progress_bar_only_on_a_terminal(fleet_dir):
    argv = [sys.executable, "-m", "calirules", "fleet", str(fleet_dir), "--format", "json", "--jobs", "2"]
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 1 and piped.stderr == ""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=follower)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            seen += chunk
        stdout = proc.stdout.read()
        assert proc.wait(timeout=120) == 1
    finally:
        os.close(leader)
    assert re.search(rb"\] \d+/6 nodes", seen) and b"6/6 nodes" in seen
    assert json.loads(stdout)["schema"] == "calirules/fleet/v1"  # stdout stays the report alone
