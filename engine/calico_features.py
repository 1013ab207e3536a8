"""What a Calico release can do (data/calico-features.yaml), for remediation that fits the node.

`features_for("v3.17.2")` -> {"felix_sets_ip_forward": True, "nftables_mode": False, ...};
with an unknown version every value is None, and templates then print each variant with the
releases it applies to.
"""

from functools import lru_cache
from importlib import resources

import yaml
from calirules.engine import versions

DATA_FILE = "data/calico-features.yaml"


@lru_cache(maxsize=None)
def catalog():
    text = resources.files("calirules.engine").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["features"]


def has(feature, calico_version):
    """True / False for a parseable version, None when the version is unknown."""
    spec = catalog()[feature]
    parsed = versions.parse(calico_version)
    if parsed is None:
        return None
    if "since_patch" in spec:
        firsts = sorted(versions.parse(v) for v in spec["since_patch"])
        same_minor = [f for f in firsts if f[:2] == parsed[:2]]
        if same_minor:
            return parsed >= same_minor[0]
        return parsed[:2] > firsts[-1][:2]
    if "since" in spec and parsed < versions.parse(spec["since"]):
        return False
    if "until" in spec and parsed >= versions.parse(spec["until"]):
        return False
    return True


def features_for(calico_version):
    return {name: has(name, calico_version) for name in catalog()}
