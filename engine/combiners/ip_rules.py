"""IpRule facts: each policy-routing rule with what its table would do to pod traffic."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.combiners.shared import route_index
from calirules.engine.devices import WORKLOAD_PREFIX, is_workload
from calirules.engine.routing import host_ip

FALLBACK_PROBE = "198.18.0.1"  # a pod-like address when the node routes no pod (RFC 2544 range)


def combine(dump, out):
    index = dump.shared(route_index)
    routes = index.routes if index is not None else ()
    probes = [ip for r in routes if is_workload(r.get("dev") or "") for ip in [host_ip(r["dst"])] if ip][:1] \
        or [FALLBACK_PROBE]
    for rule in dump.get("ip_rules") or ():
        table = rule.get("table")
        summary = (index.table_summary(table, WORKLOAD_PREFIX, probes)
                   if index is not None and table and table not in ("local",) else {})
        out.add("IpRule", rule["source"], priority=rule["priority"], selector=rule["selector"],
                action=rule.get("action", "lookup"), table=table, table_routes=summary.get("routes"),
                table_workload_routes=summary.get("workload_routes"), catches_pods=summary.get("catches_pods"))


COMBINER = Combiner(combine, makes=(FactInputs("IpRule", "ip_rules", {
    "table_routes": "routes", "table_workload_routes": "routes", "catches_pods": "routes"}),))
