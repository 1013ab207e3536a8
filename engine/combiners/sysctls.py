"""Sysctl facts: only the keys some loaded rule names (a node has ~15k sysctls)."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.combiners.shared import sysctls_by_key


def combine(dump, out):
    for key, item in dump.shared(sysctls_by_key).items():
        if dump.sysctl_keys is None or key in dump.sysctl_keys:
            out.add("Sysctl", item["source"], key=key, value=item["value"])


COMBINER = Combiner(combine, makes=(FactInputs("Sysctl", "sysctls"),))
