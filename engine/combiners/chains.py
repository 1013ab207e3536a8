"""Netfilter facts (one per iptables backend, as a whole) and Chain facts (built-in chains and
top-level cali- chains; per-endpoint and per-policy chains are folded into counts)."""

import re

from calirules.engine import netfilter
from calirules.engine.combiners.base import Combiner, FactInputs

BUILTIN_CHAINS = {"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"}
# Per-endpoint and per-policy chains are folded into WorkloadPlumbing / Netfilter counts.
_PER_ENDPOINT_CHAIN = re.compile(r"^cali-(tw|fw|sm|pi|po|pri|pro|th|fh|thfw|fhfw)-")


def combine(dump, out):
    for backend in dump.get("netfilter") or ():
        name = backend["backend"]
        counts = {"rules": 0, "chains": 0, "calico_chains": 0, "kube_chains": 0, "docker_chains": 0,
                  "other_chains": 0}
        filter_chains = {}
        for table in backend["tables"]:
            for chain in table["chains"]:
                cname = chain["name"]
                counts["chains"] += 1
                counts["rules"] += len(chain["rules"])
                kind = ("calico_chains" if cname.startswith("cali-") else "kube_chains" if cname.startswith("KUBE-")
                        else "docker_chains" if cname.startswith("DOCKER") else
                        None if cname in BUILTIN_CHAINS else "other_chains")
                if kind:
                    counts[kind] += 1
                if table["name"] == "filter":
                    filter_chains[cname] = chain
        warnings = backend.get("warnings") or []
        unknown = netfilter.endpoint_index([backend])["unknown_drops"]
        kube_invalid = netfilter.invalid_drops(filter_chains.get("KUBE-FORWARD", {}).get("rules") or [])
        out.add("Netfilter", backend["source"],
                {"kube_invalid_drop_packets": kube_invalid[0]["source"] if kube_invalid else None}, backend=name,
                kube_invalid_drop_packets=sum(r.get("packets") or 0 for r in kube_invalid) if kube_invalid else None,
                forward_policy=filter_chains.get("FORWARD", {}).get("policy"),
                calico_forward="cali-FORWARD" in filter_chains, warnings=warnings,
                legacy_warning=any("legacy tables present" in w for w in warnings),
                unknown_interface_drops=unknown, **counts)
        for table in backend["tables"]:
            for chain in table["chains"]:
                if chain["name"] in BUILTIN_CHAINS or (chain["name"].startswith("cali-")
                                                        and not _PER_ENDPOINT_CHAIN.match(chain["name"])):
                    _chain(out, name, table["name"], chain, filter_chains if table["name"] == "filter" else {})


def _chain(out, backend, table, chain, filter_chains):
    rules = chain["rules"]
    cali_forward = filter_chains.get("cali-FORWARD")
    accept_at = netfilter.calico_accept_point(chain, cali_forward) if chain["name"] == "FORWARD" else None
    calico_at = next((i for i, r in enumerate(rules) if (r.get("target") or "").startswith("cali-")), None)
    blocks = [r for r in (rules if accept_at is None else rules[:accept_at]) if netfilter.blocks(r)]
    sources = {"policy": chain.get("source")}
    if blocks:
        sources["first_block"] = sources["blocks_before_calico"] = blocks[0]["source"]
    source = chain.get("source") or (rules[0]["source"] if rules else None)
    out.add("Chain", source, sources, backend=backend, table=table, name=chain["name"],
            policy=chain.get("policy"), policy_packets=chain.get("packets"), rules=len(rules),
            builtin=chain["name"] in BUILTIN_CHAINS, calico_jump=calico_at is not None,
            accepts_calico_mark=accept_at is not None, blocks_before_calico=len(blocks),
            first_block=netfilter.rule_text(blocks[0]) if blocks else None,
            block_packets=sum(r.get("packets") or 0 for r in blocks))


COMBINER = Combiner(combine, makes=(FactInputs("Netfilter", "netfilter"), FactInputs("Chain", "netfilter")))
