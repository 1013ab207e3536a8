"""Combiners: how a facts dump becomes engine facts (the rule vocabulary is engine.vocabulary).

A dump has one record per sysctl, route and iptables rule; declaring each into experta would
make every join an N x M scan. Instead combiners aggregate records into a few facts per
interface, chain and backend (insights-core calls this layer "combiners" too), so rules match
one fact where they can and join on small memories where they must. One module per fact family;
each declares the dump sections it reads (combiners.base), and FACT_INPUTS, which ranking uses
to tell what evidence a rule lacks, is derived from those declarations.
"""

from calirules.engine.combiners import (
    chains,
    ip_pools,
    ip_rules,
    iptables_backends,
    mtu,
    node,
    records,
    summary,
    sysctls,
    versions,
    workloads,
)
from calirules.engine.combiners.base import Inputs, Output, sections_present

__all__ = ["COMBINERS", "FACT_INPUTS", "build_facts", "combine", "sections_present", "summarise"]

# In this order: the order facts are declared into experta (and so the order firings and evidence
# come out), and the summary last, since it reads the facts of the others.
COMBINERS = (
    node.COMBINER, versions.COMBINER, sysctls.COMBINER, workloads.COMBINER, mtu.COMBINER, chains.COMBINER,
    iptables_backends.COMBINER, ip_rules.COMBINER, records.MODULES, records.CONNTRACK, records.COMPONENTS,
    records.SETTINGS, ip_pools.COMBINER, records.LOG_EVENTS, records.NETWORK_MANAGERS, records.PODS,
    records.OBSERVATIONS, summary.COMBINER,
)

# fact type -> FactInputs: the dump section it cannot exist without, and its fields' further sections
FACT_INPUTS = {made.fact: made for combiner in COMBINERS for made in combiner.makes}


def combine(dump, sysctl_keys=None, symptom=None):
    """Run every combiner over `dump`: an Output with the engine facts and the node summary.
    `sysctl_keys`: the only Sysctl facts to make (None: all); `symptom` overrides the dump's."""
    inputs, out = Inputs(dump, symptom, sysctl_keys), Output()
    for combiner in COMBINERS:
        combiner.combine(inputs, out)
    return out


def build_facts(dump, sysctl_keys=None, symptom=None):
    """The engine facts of `dump`: [(type name, fields dict)]."""
    return combine(dump, sysctl_keys, symptom).facts


def summarise(dump):
    """The node summary alone (to render firings already found against another version of the
    dump): the summary combiner and the combiners making the facts it reads."""
    wanted = set(summary.COMBINER.reads_facts)
    inputs, out = Inputs(dump), Output()
    for combiner in COMBINERS:
        if combiner is summary.COMBINER or wanted & {made.fact for made in combiner.makes}:
            combiner.combine(inputs, out)
    return out.summary
