"""Version facts (one per installed component) and Compat (Calico against Kubernetes and kubelet)."""

from calirules.engine import compat_matrix
from calirules.engine import versions as version_numbers
from calirules.engine.combiners.base import Combiner, FactInputs


def combine(dump, out):
    by_component = {}
    for item in dump.get("versions") or ():
        by_component.setdefault(item["component"], item)
        out.add("Version", item["source"], component=item["component"], version=item["version"],
                minor=version_numbers.minor(item["version"]), detail=item.get("detail"))
    calico = by_component.get("calico")
    if not calico:
        return
    for component in ("kubernetes", "kubelet"):
        other = by_component.get(component)
        if not other:
            continue
        verdict = compat_matrix.assess(calico["version"], other["version"])
        out.add("Compat", other["source"], {"calico": calico["source"], component: other["source"]},
                component=component, tested_text=", ".join(verdict["tested"]), **verdict)


COMBINER = Combiner(combine, makes=(FactInputs("Version", "versions"), FactInputs("Compat", "versions")))
