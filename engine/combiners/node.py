"""The Node fact: identity, symptom, workload count, iptables backends read, Felix's nft table."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.combiners.shared import felix_nft_table
from calirules.engine.devices import is_workload


def combine(dump, out):
    node = dump["node"]
    sources = node.get("sources") or {}
    interfaces = dump.get("interfaces")
    workloads = None if interfaces is None else sum(1 for i in interfaces if is_workload(i["name"]))
    netfilter_dump = dump.get("netfilter")
    backends = None if netfilter_dump is None else sorted({b["backend"] for b in netfilter_dump})
    nft = dump.shared(felix_nft_table)
    if nft:
        sources = dict(sources, felix_nftables=nft["source"])
    out.add("Node", sources.get("hostname"), sources, hostname=node["hostname"], os=node.get("os"),
            kernel=node.get("kernel"), symptom=dump.symptom, workloads=workloads, iptables_backends=backends,
            all_backends_read=None if backends is None else backends == ["legacy", "nft"],
            felix_nftables=None if dump.get("nft_tables") is None else nft is not None)


COMBINER = Combiner(
    combine,
    makes=(FactInputs("Node", "node", {"workloads": "interfaces", "iptables_backends": "netfilter",
                                       "all_backends_read": "netfilter"}),),
    # felix_nftables is deliberately not tied to nft_tables: rules use it only to stand down
    # (unless), and a bundle without the nft ruleset must not silence them.
    also_reads=("nft_tables",))
