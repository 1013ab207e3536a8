"""The HTML report as a document: self-contained, one page per run, everything the text report says.
(tests/browser/ opens it in a real browser.)"""

import json
import re
from html.parser import HTMLParser

from tests.helpers import EXAMPLES, run_cli
from tests.kube_bundles import cluster_diags

GUIDE = EXAMPLES / "iptables-backend-mismatch-guide.yaml"


class _Page(HTMLParser):
    def __init__(self, text):
        super().__init__()
        self.ids, self.links, self.resources, self.tags, self.copies, self.text = [], [], [], [], [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        for name in ("src", "href"):
            if name in attrs and tag != "a":
                self.resources.append(attrs[name])
        if tag == "button" and "data-copy" in attrs:
            self.copies.append(attrs["data-copy"])

    def handle_data(self, data):
        self.text.append(data)

    @property
    def visible(self):
        return re.sub(r"\s+", " ", "".join(self.text))


def page(*args):
    code, out, err = run_cli("diagnose", *args, "--format", "html")
    assert code in (0, 1), err
    return out, _Page(out)


def test_self_contained_with_viewport_and_working_anchors():
    out, doc = page("--facts", GUIDE)
    assert ('meta', {'name': 'viewport', 'content': 'width=device-width, initial-scale=1'}) in doc.tags
    assert doc.resources == []  # no stylesheet, script or image from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", out)
    assert "@import" not in out and "url(" not in out
    assert len(doc.ids) == len(set(doc.ids))
    for link in doc.links:
        assert link.startswith("#") and link[1:] in doc.ids, link
    for cause in ("iptables-backend-mismatch", "forward-policy-drop", "version-skew"):
        assert cause in doc.ids and f"#{cause}" in doc.links


def test_summary_table_with_confidence_bars():
    out, doc = page("--facts", GUIDE)
    summary = out[out.index('<table class="summary">'):out.index("</table>")]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", summary, re.S)[1:]
    assert [re.search(r'href="#([^"]+)"', row).group(1) for row in rows] == \
        ["iptables-backend-mismatch", "forward-policy-drop", "version-skew"]
    assert 'class="mechanism"' in rows[1] and "caused by iptables-backend-mismatch" in rows[1]
    assert re.search(r'aria-label="confidence 87%"><span style="width:87%"></span>', rows[0])


def test_commands_copy_without_prompt():
    _, doc = page("--facts", EXAMPLES / "ip-forwarding-disabled.yaml")
    assert r"grep -rnE 'ip_forward|conf\.all\.forwarding' /etc/sysctl.conf /etc/sysctl.d /run/sysctl.d " \
           r"/usr/lib/sysctl.d" in doc.copies
    assert "sysctl -w net.ipv4.ip_forward=1" in doc.copies
    assert not any(c.startswith("$") for c in doc.copies)


def test_everything_the_text_report_says():
    _, doc = page("--facts", GUIDE)
    shown = doc.visible
    code, out, _ = run_cli("diagnose", "--facts", GUIDE, "--format", "json")
    report = json.loads(out)
    assert "Caused by iptables-backend-mismatch (above)" in shown
    assert "against: calico-node is Ready for 2h13m with 0 restarts" in shown
    assert "rp-filter-loose (0.11)" in shown
    for missing in report["missing_evidence"]:
        assert missing["what"] in shown and missing["collect_with"] in doc.copies
        if missing.get("reason"):
            assert f"({missing['reason']})" in shown
    for anomaly in report["unexplained"]:
        text = next(a["text"] for a in report["anomalies"] if a["id"] == anomaly)
        assert text in shown
    for cause in report["causes"]:
        if cause["found"]:
            for evidence in cause["evidence"]:
                assert evidence["text"] in shown
    assert "calirules 0.1.0 · run " in shown and "evidence collection time: not in the source" in shown
    _, cross = page("--facts", EXAMPLES / "proxy-arp-disabled.yaml", "--symptom", "cross-node")
    assert "(does not explain cross-node)" in cross.visible


def test_notes_and_probe_block(tmp_path):
    from calirules.facts_collectors.probe.model import Endpoint, Flow, Hop, ProbeResult
    probe = ProbeResult(flow=Flow("icmp", "10.0.0.1", "10.0.0.2"), src=Endpoint("10.0.0.1", "ns1", "cali1"),
                        dst=Endpoint("10.0.0.2", "ns2", "cali2"), node_netns=None,
                        hops=[Hop("eth0", "src-pod", "ns1", requests=3)], summary="seen on the source only",
                        notes=["a probe note"])
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(probe.to_dict()))
    _, doc = page("--facts", EXAMPLES / "healthy.yaml", "--probe-result", path)
    assert "Probe 10.0.0.1 → 10.0.0.2" in doc.visible
    assert "Observed: seen on the source only" in doc.visible and "a probe note" in doc.visible


def test_cluster_bundle_is_one_page(tmp_path):
    bundle = cluster_diags(tmp_path)
    out, doc = page("--bundle", bundle)
    assert out.count("<html") == 1 and out.count("<body") == 1 and out.count('<table class="summary">') == 1
    assert "node-node-a" in doc.ids and "node-node-b" in doc.ids
    assert len(doc.ids) == len(set(doc.ids))
    for link in doc.links:
        assert link[1:] in doc.ids, link
    assert "<h2>Node node-a</h2>" in out and "<h2>Node node-b</h2>" in out
