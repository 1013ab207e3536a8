"""Sections whose items become one fact each, fields copied (with defaults where a field is optional)."""

from calirules.engine.combiners.base import Combiner, FactInputs
from calirules.engine.devices import gateway_neighbor
from calirules.engine.vocabulary import PROBE_FIELDS


def modules(dump, out):
    for module in dump.get("kernel_modules") or ():
        out.add("Module", module["source"], name=module["name"], state=module.get("state", "loaded"))


def conntrack(dump, out):
    table = dump.get("conntrack")
    if table is None:
        return
    stats = table.get("stats") or {}
    count, limit = table.get("count"), table.get("max")
    out.add("Conntrack", table["source"], table.get("sources"), count=count, max=limit,
            usage=round(count / limit, 4) if count is not None and limit else None,
            insert_failed=stats.get("insert_failed"), drop=stats.get("drop"),
            early_drop=stats.get("early_drop"), invalid=stats.get("invalid"))


def components(dump, out):
    for item in dump.get("components") or ():
        out.add("Component", item["source"], name=item["name"], ready=item.get("ready"),
                status=item.get("status"), restarts=item.get("restarts"), message=item.get("message"),
                age=item.get("age"), age_seconds=item.get("age_seconds"),
                last_restart_seconds=item.get("last_restart_seconds"), namespace=item.get("namespace"),
                pod=item.get("pod"), node=item.get("node"))


def settings(dump, out):
    for item in dump.get("settings") or ():
        out.add("Setting", item["source"], component=item["component"], key=item["key"], value=item["value"])


def log_events(dump, out):
    for item in dump.get("log_events") or ():
        out.add("LogEvent", item["source"], component=item["component"], event=item["event"],
                level=item.get("level"), message=item["message"], count=item.get("count", 1),
                first=item.get("first"), last=item.get("last"), current=item.get("current"))


def network_managers(dump, out):
    for item in dump.get("network_managers") or ():
        out.add("HostNetworkManager", item["source"], {"active": item.get("active_source"),
                                                       "manages_workloads": item["source"]},
                name=item["name"], active=item.get("active"), manages_workloads=item.get("manages_workloads"),
                claims=item.get("claims") or [], config=item.get("config"))


def pods(dump, out):
    for pod in dump.get("pods") or ():
        out.add("Pod", pod["source"], name=pod.get("name"), namespace=pod.get("namespace"),
                netns=pod.get("netns"), host_iface=pod.get("host_iface"), addresses=pod.get("addresses") or [],
                mtu=pod.get("mtu"), gateway_neighbor=gateway_neighbor(pod))


def observations(dump, out):
    for item in dump.get("observations") or ():
        out.add("Observation", item["source"], kind=item["kind"], text=item.get("text"),
                seen_on=item.get("seen_on") or [], not_seen_on=item.get("not_seen_on") or [],
                result=item.get("result"), **{name: item.get(name) for name in PROBE_FIELDS})


MODULES = Combiner(modules, makes=(FactInputs("Module", "kernel_modules"),))
CONNTRACK = Combiner(conntrack, makes=(FactInputs("Conntrack", "conntrack"),))
COMPONENTS = Combiner(components, makes=(FactInputs("Component", "components"),))
SETTINGS = Combiner(settings, makes=(FactInputs("Setting", "settings"),))
LOG_EVENTS = Combiner(log_events, makes=(FactInputs("LogEvent", "log_events"),))
NETWORK_MANAGERS = Combiner(network_managers, makes=(FactInputs("HostNetworkManager", "network_managers"),))
PODS = Combiner(pods, makes=(FactInputs("Pod", "pods"),))
OBSERVATIONS = Combiner(observations, makes=(FactInputs("Observation", "observations"),))
