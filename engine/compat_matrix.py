"""The Calico <-> Kubernetes support matrix (engine data: calico-k8s-compat.yaml).

`assess()` places one (Calico, Kubernetes) pair: tested, outside the tested list (and by how many
minor versions), below a documented hard floor ("will not work on v1.15 or below"), or unknown
because the Calico release is not in the matrix. Below a floor is a statement of breakage;
outside the tested list is only an absence of testing, and rules weigh them differently.
"""

import re
from functools import lru_cache
from importlib import resources

import yaml
from calirules.engine import versions

MATRIX_FILE = "data/calico-k8s-compat.yaml"


@lru_cache(maxsize=None)
def releases():
    """{'3.11': release entry, ...} as in the shipped matrix."""
    text = resources.files("calirules.engine").joinpath(MATRIX_FILE).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {str(entry["calico"]): entry for entry in data["releases"]}


def _floor(entry):
    """The highest Kubernetes minor that is documented not to work, or None."""
    statement = entry.get("k8s_will_not_work")
    if statement:
        match = re.search(r"v?(\d+\.\d+)", statement)
        return (match.group(1), "hard") if match else (None, None)
    if entry.get("k8s_minimum"):
        low = versions.parse(entry["k8s_minimum"])
        return f"{low[0]}.{low[1] - 1}", "inferred"
    return None, None


def _source(entry):
    source = entry.get("source")
    return "; ".join(source) if isinstance(source, list) else (source or "calico-k8s-compat.yaml")


def assess(calico_version, kubernetes_version):
    """Return a dict describing how `kubernetes_version` fits the matrix row of `calico_version`."""
    calico_minor = versions.minor(calico_version)
    k8s_minor = versions.minor(kubernetes_version)
    result = {
        "calico": calico_version, "kubernetes": kubernetes_version,
        "calico_minor": calico_minor, "kubernetes_minor": k8s_minor,
        "verdict": "unknown", "tested": [], "floor": None, "floor_kind": None,
        "minors_outside": None, "matrix_source": None,
    }
    entry = releases().get(calico_minor) if calico_minor else None
    if entry is None or k8s_minor is None:
        result["verdict"] = "unknown-release" if k8s_minor else "unknown"
        return result
    tested = [str(v) for v in (entry.get("k8s_tested") or [])]
    floor, floor_kind = _floor(entry)
    result.update(tested=tested, floor=floor, floor_kind=floor_kind, matrix_source=_source(entry))
    k8s = versions.parse(k8s_minor)
    if floor and k8s <= versions.parse(floor):
        result["verdict"] = "below-floor"
    elif not tested or k8s_minor in tested:
        result["verdict"] = "tested" if tested else "unlisted"
    else:
        lowest, highest = min(versions.parse(t) for t in tested), max(versions.parse(t) for t in tested)
        if k8s > highest:
            result["verdict"], result["minors_outside"] = "newer-than-tested", k8s[1] - highest[1]
        else:
            result["verdict"], result["minors_outside"] = "older-than-tested", lowest[1] - k8s[1]
    return result
