"""Calico IP pools in a facts dump: the one place that knows how the dump carries them.

The dump has no section of its own for IP pools (its format is a contract): each field of a pool
is a `settings` item whose component is "ippool/<pool name>", e.g.
  {component: ippool/default-ipv4-ippool, key: cidr, value: 198.18.64.0/18, source: ...}.
"""

POOL_COMPONENT_PREFIX = "ippool/"


def pool_name(setting):
    """The IP pool a `settings` item describes a field of, or None for any other setting."""
    component = setting["component"]
    return component[len(POOL_COMPONENT_PREFIX):] if component.startswith(POOL_COMPONENT_PREFIX) else None


def ip_pools(settings):
    """{pool name: {field: settings item}} for the IP pools among `settings` (a dump's list, or None),
    pools in the order they first appear."""
    pools = {}
    for item in settings or ():
        name = pool_name(item)
        if name is not None:
            pools.setdefault(name, {})[item["key"]] = item
    return pools
