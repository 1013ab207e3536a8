"""Pieces of a dump several combiners read, built once per dump through Inputs.shared()."""

from calirules.engine.routing import RouteIndex


def route_index(dump):
    """The dump's routes indexed by device, address and table; None when routes were not collected."""
    routes = dump.get("routes")
    return RouteIndex(routes) if routes is not None else None


def felix_nft_table(dump):
    """Felix's nftables data plane table (`table ip calico` with chains), or None."""
    return next((t for t in dump.get("nft_tables") or ()
                 if t.get("name") == "calico" and t.get("family") == "ip" and t.get("chains")), None)


def sysctls_by_key(dump):
    """{key: sysctl item}."""
    return {s["key"]: s for s in dump.get("sysctls") or ()}
