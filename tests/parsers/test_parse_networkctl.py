"""`networkctl status -a` parser, on real systemd-networkd output (tests/fixtures/raw/networkd)."""

from calirules.facts_collectors.parsers.hostnet import (
    networkd_observed,
    parse_networkctl_status,
)
from rawfixtures import RAW, cut_inside_line, random_garbage

NETWORKD = RAW / "networkd"


def read(name):
    return (NETWORKD / name).read_text(encoding="utf-8")


def test_configured_links_name_the_network_file():
    links = parse_networkctl_status(read("networkctl_status_-a.configured"), "st")
    by_name = {link["name"]: link for link in links}
    assert [link["index"] for link in links] == list(range(1, 8))
    cali = by_name["cali1a2b3c4d5e6"]
    assert (cali["operational"], cali["setup"]) == ("carrier", "configured")
    assert cali["network_file"] == "/run/systemd/network/50-all.network"
    assert cali["source"].startswith("st:") and cali["state_source"].startswith("st:")


def test_unmanaged_links_have_no_network_file():
    links = {link["name"]: link for link in parse_networkctl_status(read("networkctl_status_-a.unmanaged"), "st")}
    assert links["cali9f8e7d6c5b4"]["setup"] == "unmanaged" and links["cali9f8e7d6c5b4"]["network_file"] is None
    assert links["eth0"]["setup"] == "configured"


def test_a_cut_state_line_leaves_that_links_setup_unknown():
    text = read("networkctl_status_-a.configured")
    lines = text.split("\n")
    last_state = max(i for i, line in enumerate(lines, 1) if "State:" in line and "Online" not in line)
    links = parse_networkctl_status(cut_inside_line(text, last_state, keep=30), "st")
    assert links[-1]["setup"] is None and links[0]["setup"] == "configured"


def test_error_and_garbage_give_no_links():
    assert parse_networkctl_status("Failed to connect system bus: No such file or directory\n", "st") == []
    assert all(isinstance(link, dict) for link in parse_networkctl_status(random_garbage(3), "st"))


def test_observed_verdicts():
    configured = networkd_observed(parse_networkctl_status(read("networkctl_status_-a.configured"), "st"))
    assert configured["claims"] == ["cali*"]
    assert "cali1a2b3c4d5e6 is configured by /run/systemd/network/50-all.network (2 of 2" in configured["config"]
    unmanaged = networkd_observed(parse_networkctl_status(read("networkctl_status_-a.unmanaged"), "st"))
    assert unmanaged["claims"] == [] and "every cali* link is unmanaged (2 shown)" in unmanaged["config"]
    assert networkd_observed([]) == {}


def test_lingering_and_pending_links_say_nothing_about_live_ones():
    gone = {"name": "cali0123456789a", "setup": "linger", "network_file": None, "state_source": "st:3"}
    pending = dict(gone, name="cali9f8e7d6c5b4", setup="pending", state_source="st:9")
    assert networkd_observed([gone, pending]) == {}  # only the .network files can tell then
