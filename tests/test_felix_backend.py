"""Felix's default iptables backend by Calico release (engine/data/felix-iptables-backend.yaml)."""

import pytest
from calirules.engine import felix_backend


@pytest.mark.parametrize("version, default, values", [
    ("v3.8.0", "legacy", []),  # no parameter: the image's (legacy) iptables
    ("v3.8.1", "legacy", ["legacy", "nft"]),
    ("v3.11.3", "legacy", ["legacy", "nft"]),  # the source guide's release
    ("v3.12.0", "legacy", ["legacy", "nft", "auto"]),  # auto exists, is not the default
    ("v3.16.5", "legacy", ["legacy", "nft", "auto"]),  # last release defaulting to legacy
    ("v3.17.0", "auto", ["legacy", "nft", "auto"]),  # felix commit 88bcfe425
    ("3.26", "auto", ["legacy", "nft", "auto"]),
])
def test_default_backend_on_both_sides_of_each_boundary(version, default, values):
    entry = felix_backend.default_for(version)
    assert (entry["default"], entry["values"]) == (default, values)
    assert "config_params.go" in entry["source"]


def test_unknown_versions_say_nothing():
    for odd in (None, "", "latest", "master"):
        assert felix_backend.default_for(odd) is None


def test_only_the_release_before_the_parameter_is_inferred():
    assert felix_backend.default_for("v3.8.0")["inferred"]
    assert not felix_backend.default_for("v3.8.1")["inferred"]
