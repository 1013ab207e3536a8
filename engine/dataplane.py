"""Which data plane Felix runs on this node, its iptables backend and the encapsulations in use:
the data plane half of engine/platform.py's `describe`.

Two kinds of evidence, never mixed up:
  - what the node shows now (observed): Felix's `table ip calico` / `table ip6 calico` in nft
    (its nftables data plane, Calico v3.29+: felix/dataplane/linux/int_dataplane.go
    `nftables.NewTable("calico", 4|6, ...)`), cali- chains in an iptables backend, Felix's eBPF
    log lines from the running calico-node, tunnel devices;
  - what is configured (config): Felix parameters (`FELIX_<PARAM>` on calico-node, then the
    FelixConfiguration `node.<node>`, then `default`: felix/config's source order), the
    operator's Installation `calicoNetwork.linuxDataplane`, IP pools' ipipMode/vxlanMode.
For the data plane, what the node shows decides; configuration decides only where the node
shows nothing; a disagreement is reported in `conflicts`. Encapsulation lists what either shows
(a pool's mode applies even before this node has a tunnel device up). A value is None unless
evidence shows it.
"""

# The same "set up" test the Mtu fact applies to tunnel devices (an idle tunl0 is <NOARP> DOWN).
from calirules.engine.devices import admin_up
from calirules.engine.ip_pools import pool_name

TUNNELS = {"tunl0": "ipip", "vxlan.calico": "vxlan", "vxlan-v6.calico": "vxlan",
           "wireguard.cali": "wireguard", "wg-v6.cali": "wireguard"}
# Felix logs these only with its eBPF data plane running (bpf_ep_mgr.go, libbpf loads).
BPF_RUNNING_EVENTS = ("felix_bpf_enabled", "felix_bpf_endpoint_dirty", "felix_bpf_program_load_failed")
# "BPF dataplane mode enabled but not supported by the kernel.  Disabling BPF mode." (felix/daemon/daemon.go)
BPF_REFUSED_EVENT = "felix_bpf_unsupported"
INSTALLATION_DATAPLANES = {"iptables": "iptables", "nftables": "nftables", "bpf": "bpf"}  # VPP: not Felix's


def felix_param(dump, name, conflicts):
    """(value, source) of a Felix parameter from `settings`, or (None, None).

    Felix's order (environment > per-node FelixConfiguration > global): an env var is a
    `calico-node`/`felix` setting named FELIX_<NAME> or <NAME>; FelixConfiguration fields are
    `felixconfiguration/node.<this node>` and `felixconfiguration/default`. Names compare
    without case (FELIX_NFTABLESMODE, nftablesMode, NFTablesMode). Two different values at the
    level that decides are a conflict: None.
    """
    wanted = name.lower()
    node = f"felixconfiguration/node.{(dump.get('node') or {}).get('hostname')}"
    levels = ([], [], [])
    for item in dump.get("settings") or ():
        component, key = item["component"].lower(), item["key"].lower()
        if component in ("calico-node", "felix") and key in (wanted, "felix_" + wanted):
            levels[0].append(item)
        elif component == node.lower() and key == wanted:
            levels[1].append(item)
        elif component == "felixconfiguration/default" and key == wanted:
            levels[2].append(item)
    for items in levels:
        values = {item["value"].lower() for item in items}
        if len(values) > 1:
            conflicts.append(f"Felix {name} set to {' and '.join(sorted(values))} at the same level "
                             f"({'; '.join(i['source'] for i in items)})")
            return None, None
        if items:
            return items[0]["value"].lower(), items[0]["source"]
    return None, None


def configured(dump, conflicts):
    """(data plane, source) the configuration asks for, or (None, None). Felix's own parameters
    decide; the operator's Installation only where they leave it open (the operator renders them
    from it, and a node's own FelixConfiguration beats what it rendered)."""
    bpf, bpf_source = felix_param(dump, "BPFEnabled", conflicts)
    mode, mode_source = felix_param(dump, "NFTablesMode", conflicts)
    if bpf == "true":
        return "bpf", bpf_source
    if mode == "enabled":
        return "nftables", mode_source
    if mode == "disabled" and bpf == "false":  # neither of the others: Felix programs iptables
        return "iptables", f"{mode_source}; {bpf_source}"
    for item in dump.get("settings") or ():
        if item["component"].startswith("installation/") and item["key"].endswith("calicoNetwork.linuxDataplane"):
            asked = INSTALLATION_DATAPLANES.get(item["value"].lower())
            ruled_out = {"bpf": bpf == "false", "nftables": mode == "disabled"}.get(asked, False)
            if asked and not ruled_out:
                return asked, item["source"]
    return None, None  # Auto (v3.32's default) follows kube-proxy's mode: the node must show it


def calico_chains(dump):
    """{backend: number of cali- chains} for the iptables backends read."""
    return {backend["backend"]: sum(1 for t in backend["tables"] for c in t["chains"] if c["name"].startswith("cali-"))
            for backend in dump.get("netfilter") or ()}


def _chain_source(dump, backend_name):
    """Where a backend's Calico chains show: its cali-FORWARD line (else its first cali- chain's,
    else the listing's file)."""
    backend = next(b for b in dump["netfilter"] if b["backend"] == backend_name)
    chains = [c for t in backend["tables"] for c in t["chains"] if c["name"].startswith("cali-") and c.get("source")]
    chains.sort(key=lambda c: c["name"] != "cali-FORWARD")
    return chains[0]["source"] if chains else backend["source"]


def observed(dump, conflicts):
    """(data plane, source) the node shows: "bpf", "nftables", "iptables", "both" (Felix's nft
    table and cali- iptables chains are programmed at once), or (None, None)."""
    events = [e for e in dump.get("log_events") or () if e.get("current") is not False]
    refused = [e for e in events if e["event"] == BPF_REFUSED_EVENT]
    if refused:
        conflicts.append(f"Felix was configured for eBPF and turned it off (the kernel lacks support): "
                         f"{refused[0]['source']}")
    running = [e for e in events if e["event"] in BPF_RUNNING_EVENTS]
    if running and not refused:
        return "bpf", running[0]["source"]
    tables = [t for t in dump.get("nft_tables") or ()
              if t["name"] == "calico" and t["family"] in ("ip", "ip6") and t.get("chains")]
    chains = [b for b, n in calico_chains(dump).items() if n]
    if tables and chains:
        return "both", f"{tables[0]['source']}; {_chain_source(dump, chains[0])}"
    if tables:
        return "nftables", tables[0]["source"]
    if chains:
        return "iptables", _chain_source(dump, chains[0])
    return None, None


def dataplane(dump, found, conflicts):
    seen, seen_source = observed(dump, conflicts)
    asked, asked_source = configured(dump, conflicts)
    value, source = seen, seen_source
    if seen == "both":
        conflicts.append(f"Felix's nftables table and cali- iptables chains are both programmed ({seen_source})")
        # One of them is a leftover of the other mode: the configuration says which is current.
        value, source = (asked, asked_source) if asked in ("nftables", "iptables") else (None, None)
    elif seen and asked and seen != asked:
        conflicts.append(f"the node runs the {seen} data plane ({seen_source}) but the configuration asks for "
                         f"{asked} ({asked_source}): not applied yet")
    elif seen is None:
        value, source = asked, asked_source
    found["dataplane"] = value
    if source:
        found["sources"]["dataplane"] = source
    if value != "nftables":  # in nftables mode cali- iptables chains are leftovers Felix no longer uses
        _backend(dump, found, conflicts)


def _backend(dump, found, conflicts):
    """The iptables backend Felix programs: the one holding its cali- chains; else an explicit
    IptablesBackend setting (Legacy/NFT; Auto decides at run time)."""
    counts = {b: n for b, n in calico_chains(dump).items() if n}
    if len(counts) == 1 or (counts and len(set(counts.values())) > 1):
        best = max(counts, key=counts.get)
        found["iptables_backend"] = best
        found["sources"]["iptables_backend"] = _chain_source(dump, best)
        return
    if counts:
        conflicts.append("both iptables backends hold as many cali- chains")
        return
    value, source = felix_param(dump, "IptablesBackend", conflicts)
    if value in ("legacy", "nft"):
        found["iptables_backend"], found["sources"]["iptables_backend"] = value, source


def encapsulation(dump, found):
    """Tunnels in use: Calico's tunnel devices that exist (tunl0 only with an address: the ipip
    module creates an unused tunl0 on load), IP pools' ipipMode/vxlanMode other than Never, and
    Felix's wireguardEnabled."""
    kinds = {}
    for iface in dump.get("interfaces") or ():
        kind = TUNNELS.get(iface["name"])
        if kind and (kind != "ipip" or (iface.get("addresses") and admin_up(iface))):
            kinds.setdefault(kind, iface["source"])
    for item in dump.get("settings") or ():
        if pool_name(item) is not None and item["key"] in ("ipipMode", "vxlanMode") \
                and item["value"] in ("Always", "CrossSubnet"):
            kinds.setdefault("ipip" if item["key"] == "ipipMode" else "vxlan", item["source"])
    for param in ("WireguardEnabled", "WireguardEnabledV6"):
        value, source = felix_param(dump, param, [])
        if value == "true":
            kinds.setdefault("wireguard", source)
    found["encapsulation"] = sorted(kinds)
    if kinds:
        found["sources"]["encapsulation"] = "; ".join(f"{kind}: {kinds[kind]}" for kind in sorted(kinds))
