"""Cross-node findings: what no single node's report shows, read from the reports' node_facts.

Each finding is {"id", "title", "nodes", "evidence"}: `nodes` are the nodes to look at (those
that differ from the most common value; all of them on a tie), `evidence` one line per value or
per clash. Nodes without node_facts (reports from an older calirules) or without the value are
left out of that comparison, never counted as different.
"""

import ipaddress
from collections import defaultdict

MOST_NODES = 0.5  # a cause on at least this share of the nodes (and on 2 or more) looks cluster-wide


def cross_node_findings(entries):
    """`entries`: the fleet's diagnosed node entries, each with "node", "source", "causes" and
    "node_facts" (may be None)."""
    findings = []
    for key, label, idea in (
            ("calico_version", "Calico", "calico-node images or CNI plugins from different releases"),
            ("kubernetes_version", "Kubernetes", "a cluster upgrade that has not reached every node")):
        findings.extend(_differs(entries, f"{key.split('_')[0]}-version-differs", f"{label} versions differ between nodes",
                                 lambda facts, key=key: facts.get(key), idea))
    findings.extend(_common_causes(entries))
    findings.extend(_differs(entries, "mtu-differs", "MTUs differ between nodes", _mtu,
                             "pods on different nodes get different MTUs: large packets between them are dropped"))
    findings.extend(_differs(entries, "encapsulation-differs", "Encapsulation differs between nodes", _encapsulation,
                             "tunnels that one node uses and another does not", skip_if_none_seen=True))
    findings.extend(_duplicate_names(entries))
    findings.extend(_duplicate_ips(entries))
    findings.extend(_overlapping_blocks(entries))
    return findings


def _facts(entry):
    return entry.get("node_facts") or {}


def _differs(entries, finding_id, title, value_of, idea, skip_if_none_seen=False):
    by_value = defaultdict(list)
    for entry in entries:
        value = value_of(_facts(entry))
        if value is not None:
            by_value[value].append(entry["node"])
    if len(by_value) < 2:
        return []
    if skip_if_none_seen and all(v == "none seen" for v in by_value):
        return []
    largest = max(len(nodes) for nodes in by_value.values())
    majority = [v for v, nodes in by_value.items() if len(nodes) == largest]
    odd = sorted({n for v, nodes in by_value.items() if len(majority) > 1 or v != majority[0] for n in nodes})
    evidence = [f"{value}: {_names(nodes)}" for value, nodes in sorted(by_value.items(), key=lambda kv: -len(kv[1]))]
    return [{"id": finding_id, "title": f"{title} ({len(by_value)} values; {idea})", "nodes": odd,
             "evidence": evidence}]


def _mtu(facts):
    mtu = facts.get("mtu") or {}
    parts = []
    if mtu.get("uplink") is not None:
        parts.append(f"uplink {mtu['uplink']}")
    if mtu.get("workloads"):
        parts.append("cali* " + "/".join(str(v) for v in mtu["workloads"]))
    parts.extend(f"{name} {value}" for name, value in sorted((mtu.get("tunnels") or {}).items()))
    return ", ".join(parts) or None


def _encapsulation(facts):
    if "encapsulation" not in facts:
        return None
    return ", ".join(sorted(facts["encapsulation"])) or "none seen"


def _common_causes(entries):
    if len(entries) < 2:
        return []
    by_cause = defaultdict(list)
    for entry in entries:
        for cause in entry.get("causes") or ():
            by_cause[cause["id"]].append(entry["node"])
    found = []
    for cause, nodes in sorted(by_cause.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(nodes) >= 2 and len(nodes) >= MOST_NODES * len(entries):
            found.append({"id": "cause-on-most-nodes", "cause": cause,
                          "title": f"{cause} on {len(nodes)} of {len(entries)} nodes: likely a cluster-wide setting "
                                   "(a DaemonSet env, a node image, a shared configuration), fix it there",
                          "nodes": sorted(nodes), "evidence": [f"{cause}: {_names(nodes)}"]})
    return found


def _duplicate_names(entries):
    sources = defaultdict(list)
    for entry in entries:
        sources[entry["node"]].append(entry["source"])
    clashes = {name: where for name, where in sources.items() if len(where) > 1}
    if not clashes:
        return []
    return [{"id": "duplicate-node-name", "title": "Several nodes report the same node name (Calico keys its "
             "node resource, BGP peerings and IPAM blocks by it)", "nodes": sorted(clashes),
             "evidence": [f"{name}: {', '.join(where)}" for name, where in sorted(clashes.items())]}]


def _duplicate_ips(entries):
    holders = defaultdict(list)
    for index, entry in enumerate(entries):
        for ip in dict.fromkeys(_facts(entry).get("node_ips") or ()):
            holders[ip].append(index)
    clashes = {ip: idx for ip, idx in holders.items() if len(idx) > 1}
    if not clashes:
        return []
    nodes = sorted({entries[i]["node"] for idx in clashes.values() for i in idx})
    return [{"id": "duplicate-node-ip", "title": "Several nodes have the same node IP (BGP and tunnels send one "
             "node's traffic to another)", "nodes": nodes,
             "evidence": [f"{ip}: {_names(entries[i]['node'] for i in idx)}" for ip, idx in sorted(clashes.items())]}]


def _overlapping_blocks(entries):
    """Blocks (blackhole routes: the IPAM blocks a node owns) of different nodes that overlap, by
    a sweep over the blocks sorted by start address."""
    blocks = []
    for index, entry in enumerate(entries):
        for text in _facts(entry).get("blocks") or ():
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                continue
            blocks.append((net.version, int(net.network_address), int(net.broadcast_address), index, str(net)))
    blocks.sort()
    clashes, open_blocks = [], []
    for block in blocks:
        open_blocks = [b for b in open_blocks if b[0] == block[0] and b[2] >= block[1]]
        clashes.extend((other, block) for other in open_blocks if other[3] != block[3])
        open_blocks.append(block)
    if not clashes:
        return []
    nodes = sorted({entries[b[3]]["node"] for pair in clashes for b in pair})
    evidence = [f"{a[4]} on {entries[a[3]]['node']} overlaps {b[4]} on {entries[b[3]]['node']}" for a, b in clashes]
    return [{"id": "overlapping-blocks", "title": "IPAM blocks of different nodes overlap (two nodes route the "
             "same pod addresses: blackhole routes for blocks each thinks it owns)", "nodes": nodes,
             "evidence": evidence[:50] + ([f"... and {len(evidence) - 50} more"] if len(evidence) > 50 else [])}]


def _names(nodes, limit=20):
    nodes = list(nodes)
    shown = ", ".join(nodes[:limit])
    return shown + (f" and {len(nodes) - limit} more" if len(nodes) > limit else "")
