"""Which iptables backend Felix uses by default, per Calico release (data/felix-iptables-backend.yaml).

`default_for("v3.11.3")` -> {"default": "legacy", "values": [...], "source": "...", "inferred": False}.
Calico releases before v3.17 program the legacy backend unless FELIX_IPTABLESBACKEND says NFT;
from v3.17 the default is `auto` (detection on the node), so the release alone says nothing.
"""

from functools import lru_cache
from importlib import resources

import yaml
from calirules.engine import versions

DATA_FILE = "data/felix-iptables-backend.yaml"


@lru_cache(maxsize=None)
def releases():
    text = resources.files("calirules.engine").joinpath(DATA_FILE).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return sorted(data["releases"], key=lambda r: versions.parse(r["since"]))


def default_for(calico_version):
    """The release entry that covers `calico_version`, or None when it is not a version."""
    parsed = versions.parse(calico_version)
    if parsed is None:
        return None
    entry = None
    for release in releases():
        if versions.parse(release["since"]) <= parsed:
            entry = release
    if entry is None:
        return None
    return {"default": entry["default"], "values": list(entry["values"]), "source": entry["source"],
            "inferred": bool(entry.get("inferred"))}
