"""The markdown report, rendered the way GitHub renders it (markdown-it-py's gfm-like preset)."""

import html
import re

import pytest
from markdown_it import MarkdownIt

from tests.helpers import EXAMPLES, run_cli
from tests.test_examples import CAUSE_EXAMPLES, diagnose_json


def gfm(text):
    # gfm-like = CommonMark + tables + strikethrough (+ linkify, which needs an extra package and
    # changes nothing here: the report writes no bare URLs to check)
    return MarkdownIt("gfm-like", {"linkify": False}).render(text)


def visible_text(rendered):
    inline = re.sub(r"</?(code|em|strong|a)\b[^>]*>", "", rendered)  # text flows through these
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", inline))).strip()


def markdown_of(path, *args):
    code, out, err = run_cli("diagnose", "--facts", path, "--format", "markdown", *args)
    assert code in (0, 1), err
    return out


def test_commands_are_fenced_sh_blocks_with_their_backslashes():
    rendered = gfm(markdown_of(EXAMPLES / "ip-forwarding-disabled.yaml"))
    blocks = [html.unescape(b) for b in re.findall(r'<pre><code class="language-sh">(.*?)</code></pre>', rendered, re.S)]
    assert blocks, rendered[:2000]
    joined = "\n".join(blocks)
    assert r"grep -rnE 'ip_forward|conf\.all\.forwarding'" in joined
    assert r"conf\.(\*|cali|default)[^=]*forwarding" in joined
    assert r"printf 'net.ipv4.ip_forward = 1\n' > /etc/sysctl.d/99-calico-forwarding.conf" in joined
    assert "sysctl -w net.ipv4.ip_forward=1" in joined.splitlines()  # one command a line, no prompt
    assert not any(line.startswith("$ ") for line in joined.splitlines())


@pytest.mark.parametrize("path", CAUSE_EXAMPLES, ids=lambda p: p.stem)
def test_no_remediation_text_is_lost(path):
    _, report, _ = diagnose_json(path)
    shown = visible_text(gfm(markdown_of(path)))
    for cause in (c for c in report["causes"] if c["found"]):  # every format shows less likely ones by title
        for line in cause["remediation"].splitlines():
            command = line.strip().startswith("$ ")
            expected = " ".join(line.strip().removeprefix("$ ").split())
            if not command:  # prose: a `...` span renders as code, its backticks are markup
                expected = expected.replace("`", "")
            if expected:
                assert expected in shown, (cause["id"], line)
        for evidence in cause["evidence"]:
            assert " ".join(evidence["text"].split()) in shown, (cause["id"], evidence["text"])


def test_summary_table_links_each_cause_to_its_section():
    text = markdown_of(EXAMPLES / "iptables-backend-mismatch-guide.yaml")
    rendered = gfm(text)
    assert "<table>" in rendered
    for cause in ("iptables-backend-mismatch", "forward-policy-drop", "version-skew"):
        assert f'<a href="#{cause}"><code>{cause}</code></a>' in rendered
        assert f'<a id="{cause}"></a>' in rendered
    assert rendered.count("<h1>") == 1


def test_everything_the_text_report_says_is_there():
    text = markdown_of(EXAMPLES / "proxy-arp-disabled.yaml", "--symptom", "cross-node")
    shown = visible_text(gfm(text))
    assert "(does not explain cross-node)" in shown
    guide = visible_text(gfm(markdown_of(EXAMPLES / "iptables-backend-mismatch-guide.yaml")))
    _, report, _ = diagnose_json(EXAMPLES / "iptables-backend-mismatch-guide.yaml")
    assert "Caused by iptables-backend-mismatch (above)" in guide
    assert "against: calico-node is Ready for 2h13m with 0 restarts" in guide
    for missing in report["missing_evidence"]:
        assert " ".join(missing["collect_with"].split()) in guide
        if missing.get("reason"):
            assert missing["reason"] in guide
    assert "Not explained by any cause found" in guide
    assert "calirules 0.1.0" in guide and "evidence collection time" in guide


def test_literal_characters_survive():
    from calirules.report.remediation import md_code, md_inline
    for text in ("net.ipv4.conf.cali*.rp_filter = 2", "a_b_c <tag> [x](y) | pipe ~~s~~ & 1 > 0",
                 "1. not a list", "- not a bullet", "# not a heading", "> not a quote", r"back\slash"):
        assert visible_text(gfm(md_inline(text, code_spans=False))) == text, text
    assert visible_text(gfm(md_code("a `tick` here"))) == "a `tick` here"


def test_cluster_bundle_is_one_markdown_document(tmp_path):
    from tests.kube_bundles import cluster_diags
    bundle = cluster_diags(tmp_path)
    code, out, err = run_cli("diagnose", "--bundle", bundle, "--format", "markdown")
    assert code in (0, 1), err
    rendered = gfm(out)
    assert rendered.count("<h1>") == 1
    assert "<h2>Node node-a</h2>" in rendered and "<h2>Node node-b</h2>" in rendered
    assert '<a href="#node-node-a">node-a</a>' in rendered
    assert "evidence collected 2026-11-01T10:00:00" in visible_text(rendered)
