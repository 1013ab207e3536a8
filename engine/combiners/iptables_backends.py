"""The IptablesBackends fact: what is known, observed or inferred, about both iptables backends,
for when one was not read (a plain sosreport lists only whatever `iptables` is on the host)."""

from calirules.engine import felix_backend
from calirules.engine.combiners.base import Combiner, FactInputs

# Modules only the legacy (x_tables) iptables backend loads: their presence means legacy tables.
LEGACY_IPTABLES_MODULES = {"ip_tables", "iptable_filter", "iptable_nat", "iptable_mangle", "iptable_raw",
                           "iptable_security"}
# Listings of whatever `iptables` is on the host: sos's `iptables -vnxL`, calicoctl diags' ipv4_tables.
HOST_IPTABLES_LISTINGS = ("sos_commands/firewall_tables/iptables_", "ipv4_tables")
LEGACY_TABLES_WARNING = "iptables-legacy tables present"


def combine(dump, out):
    dump_backends = dump.get("netfilter")
    if dump_backends is None:
        return
    by_name = {b["backend"]: b for b in dump_backends}
    values, sources = {}, {}
    values["backends_read"] = sorted(by_name)
    values["legacy_read"], values["nft_read"] = "legacy" in by_name, "nft" in by_name
    for name, backend in by_name.items():
        if any(c["name"] == "cali-FORWARD" for t in backend["tables"] for c in t["chains"]):
            values["calico_backend"] = name
            sources["calico_backend"] = backend["source"]
    _legacy_signs(dump, dump_backends, values, sources)
    _felix_backend(dump, values, sources)
    nft = by_name.get("nft")
    if nft is not None:
        _nft_side(nft, values, sources)
    out.add("IptablesBackends", dump_backends[0]["source"] if dump_backends else None, sources, **values)


def _nft_side(nft, values, sources):
    """Calico/KUBE-/DOCKER chains in nft, its FORWARD policy, and whether another agent programs nft."""
    chains = [c for t in nft["tables"] for c in t["chains"]]
    filter_chains = {c["name"]: c for t in nft["tables"] if t["name"] == "filter" for c in t["chains"]}
    counts = {}
    for kind, prefix in (("calico", "cali-"), ("kube", "KUBE-"), ("docker", "DOCKER")):
        found = [c for c in chains if c["name"].startswith(prefix)]
        counts[kind] = values[f"nft_{kind}_chains"] = len(found)
        sources[f"nft_{kind}_chains"] = (found[0].get("source") if found else None) or nft["source"]
    forward = filter_chains.get("FORWARD")
    if forward is not None:
        jumps = any((r.get("target") or "").startswith("cali-") for r in forward["rules"])
        values["nft_forward_policy"] = forward.get("policy")
        values["nft_forward_drop"] = forward.get("policy") == "DROP" and not jumps
        sources["nft_forward_policy"] = sources["nft_forward_drop"] = forward.get("source") or nft["source"]
    else:
        values["nft_forward_drop"] = False
    values["nft_foreign"] = bool(counts["kube"] or counts["docker"] or values["nft_forward_drop"])
    sources["nft_foreign"] = next((sources[k] for k in ("nft_forward_drop", "nft_docker_chains",
                                                          "nft_kube_chains") if values.get(k)), nft["source"])


def _legacy_signs(dump, dump_backends, values, sources):
    """Signs that the legacy backend holds tables, whether or not it was listed."""
    signs = 0
    warning = next(((w, src) for b in dump_backends for w, src in _warnings(b) if LEGACY_TABLES_WARNING in w), None)
    values["legacy_warning"] = warning is not None
    if warning:
        signs += 1
        sources["legacy_warning"] = warning[1]
    else:  # no line proves an absence: name what was searched
        sources["legacy_warning"] = ", ".join(b["source"] for b in dump_backends) + " (no such warning)"
    legacy_tables = dump.get("legacy_tables")
    if legacy_tables is not None:
        values["legacy_tables"] = [t["table"] for t in legacy_tables]
        if legacy_tables:
            signs += 1
            sources["legacy_tables"] = legacy_tables[0]["source"]
        else:
            sources["legacy_tables"] = "proc/net/ip_tables_names (empty or absent)"
    else:
        sources["legacy_tables"] = "proc/net/ip_tables_names (not collected)"
    modules = dump.get("kernel_modules")
    if modules is not None:
        loaded = [m for m in modules if m["name"] in LEGACY_IPTABLES_MODULES and m.get("state", "loaded") == "loaded"]
        values["legacy_modules"] = [m["name"] for m in loaded]
        if loaded:
            signs += 1
            sources["legacy_modules"] = loaded[0]["source"]
        else:
            sources["legacy_modules"] = (modules[0]["source"].rsplit(":", 1)[0] if modules else "proc/modules") + \
                " (no ip_tables/iptable_* module)"
    else:
        sources["legacy_modules"] = "proc/modules, lsmod (not collected)"
    values["legacy_signs"] = signs
    sources["legacy_signs"] = next((sources[k] for k in ("legacy_warning", "legacy_tables", "legacy_modules")
                                    if k in sources), None)


def _felix_backend(dump, values, sources):
    """The host's iptables mode and the backend Felix should use (setting, log, release default)."""
    found = {v["component"]: v for v in dump.get("versions") or ()}
    iptables_version = found.get("iptables")
    if iptables_version and iptables_version.get("detail") in ("nf_tables", "legacy"):
        values["host_iptables"] = iptables_version["detail"]
        sources["host_iptables"] = iptables_version["source"]
    else:  # only iptables-nft warns about legacy tables: sos's `iptables` listing that does is nft's
        for backend in dump.get("netfilter") or ():
            for warning, source in _warnings(backend):
                if LEGACY_TABLES_WARNING in warning and source.startswith(HOST_IPTABLES_LISTINGS):
                    values["host_iptables"], sources["host_iptables"] = "nf_tables", source
    if "host_iptables" not in values:
        sources["host_iptables"] = "iptables -V (not collected)"
    calico = found.get("calico")
    expected = None
    if calico:
        values["calico_version"], sources["calico_version"] = calico["version"], calico["source"]
        release = felix_backend.default_for(calico["version"])
        if release:
            values["felix_default"] = release["default"]
            sources["felix_default"] = f"{calico['source']}; engine/data/felix-iptables-backend.yaml: {release['source']}"
            expected = (release["default"], sources["felix_default"])
    for item in dump.get("settings") or ():
        if item["component"].lower() in ("felix", "calico-node") and \
                item["key"].lower() in ("iptablesbackend", "felix_iptablesbackend"):
            values["felix_setting"], sources["felix_setting"] = item["value"].lower(), item["source"]
            expected = (item["value"].lower(), item["source"])
    for event in dump.get("log_events") or ():
        if event["event"] == "felix_iptables_backend_mismatch":
            values["felix_log"], sources["felix_log"] = event["message"], event["source"]
    if expected and expected[0] in ("legacy", "nft"):
        values["felix_expected"], sources["felix_expected"] = expected


def _warnings(backend):
    """(warning, source) pairs of a netfilter backend; the backend's file when lines were not kept."""
    warnings = backend.get("warnings") or []
    return list(zip(warnings, backend.get("warning_sources") or [backend["source"]] * len(warnings)))


COMBINER = Combiner(combine, makes=(FactInputs("IptablesBackends", "netfilter", {
    "legacy_tables": "legacy_tables", "legacy_modules": "kernel_modules", "host_iptables": "versions",
    "calico_version": "versions", "felix_default": "versions", "felix_setting": "settings",
    "felix_log": "log_events"}),))
