"""Route and policy-routing lookups over dump routes (used by the fact combiners)."""

import ipaddress


def host_ip(dst):
    """'198.18.0.5/32' or '198.18.0.5' -> '198.18.0.5'; wider prefixes and 'default' -> None."""
    if dst == "default":
        return None
    address, _, prefix = dst.partition("/")
    if prefix and prefix not in ("32", "128"):
        return None
    return address


class RouteIndex:
    """Unicast routes by device, and /32 host routes by address, per table."""

    def __init__(self, routes):
        self.routes = routes or []
        self.by_dev = {}
        self.host_routes = {}  # ip -> [route] in table main
        self.by_table = {}
        for route in self.routes:
            table = route.get("table", "main")
            self.by_table.setdefault(table, []).append(route)
            if table != "main" or route.get("type", "unicast") != "unicast" or not route.get("dev"):
                continue
            self.by_dev.setdefault(route["dev"], []).append(route)
            ip = host_ip(route["dst"])
            if ip:
                self.host_routes.setdefault(ip, []).append(route)

    def table_summary(self, table, workload_prefix, probe_ips):
        """How a policy-routing table would treat pod traffic: its routes, workload routes, catch-alls."""
        routes = self.by_table.get(table, [])
        workload = [r for r in routes if (r.get("dev") or "").startswith(workload_prefix)]
        return {
            "routes": len(routes),
            "workload_routes": len(workload),
            "catches_pods": any(_covers(r, probe_ips) for r in routes if r.get("type", "unicast") == "unicast"),
        }


def _covers(route, ips):
    dst = route["dst"]
    if dst == "default":
        return True
    try:
        network = ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False)
        return any(ipaddress.ip_address(ip) in network for ip in ips)
    except ValueError:
        return False


def ip_in(address, cidr):
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
