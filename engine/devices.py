"""Network devices: which are Calico workloads, whether one is up, and a pod's view of its gateway."""

WORKLOAD_PREFIX = "cali"  # the host side of a pod's veth, as Calico's CNI plugin names it


def is_workload(name):
    return name.startswith(WORKLOAD_PREFIX)


def oper_up(iface):
    """Whether the link carries traffic: state UP, else both UP and LOWER_UP flags; None when
    neither was read."""
    state = (iface.get("state") or "").upper()
    flags = {f.upper() for f in iface.get("flags") or ()}
    if state == "UP":
        return True
    if state in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT", "DORMANT"):
        return False
    if flags:
        return "UP" in flags and "LOWER_UP" in flags
    return None


def admin_up(iface):
    """A device set up (`UP` flag, or state UP/UNKNOWN when flags were not read): a tunnel device the
    kernel module created but Calico does not use (tunl0 `<NOARP>` DOWN) does not count."""
    flags = {f.upper() for f in iface.get("flags") or ()}
    if flags:
        return "UP" in flags
    return (iface.get("state") or "").upper() in ("UP", "UNKNOWN")


POD_GATEWAY = "169.254.1.1"  # the link-local next hop Calico gives every pod


def gateway_neighbor(pod):
    """The state of the pod's neighbour entry for its gateway (REACHABLE, FAILED, ...), or None."""
    for neighbor in pod.get("neighbors") or ():
        if neighbor.get("ip") == POD_GATEWAY:
            return neighbor.get("state")
    return None
