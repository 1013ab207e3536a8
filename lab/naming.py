"""Names and addresses used by the lab (pure functions, no I/O).

Addresses come only from 198.18.0.0/15 (RFC 2544 benchmarking space): pods from the 198.18.8.0/24
"IPAM block", the node<->upstream link from 198.19.0.0/30.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
import uuid

from .errors import LabError

LAB_SPACE = ipaddress.ip_network("198.18.0.0/15")
POD_BLOCK = ipaddress.ip_network("198.18.8.0/22")
POD_HOST_OFFSET = 10                       # pod i gets 198.18.8.0/22 address 10 + i
MAX_PODS = 1000  # room for the 250-pod benchmark lab
UPLINK_NET = ipaddress.ip_network("198.19.0.0/30")
NODE_UPLINK_IP = str(UPLINK_NET[1])        # 198.19.0.1, on the node's eth0
UPSTREAM_IP = str(UPLINK_NET[2])           # 198.19.0.2, the node's default gateway
# A source range that no lab address falls in (used by a policy that "matches nothing").
UNUSED_NET = ipaddress.ip_network("198.19.255.0/24")

GATEWAY_IP = "169.254.1.1"                 # the fake gateway every Calico pod routes to
CALI_MAC = "ee:ee:ee:ee:ee:ee"             # Calico's fixed host-side veth MAC
NODE_UPLINK_IFACE = "eth0"                 # the node's "physical" NIC
UPSTREAM_IFACE = "up0"
POD_IFACE = "eth0"
K8S_NAMESPACE = "default"

for _net in (POD_BLOCK, UPLINK_NET, UNUSED_NET):
    assert _net.subnet_of(LAB_SPACE), _net

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_LAB_UUID_NS = uuid.UUID("5c0d6a1e-2b1f-4c55-9a55-63616c69726c")


def validate_prefix(prefix: str) -> str:
    """Lower-case letters/digits with single dashes, starting with a letter, at most 24 chars."""
    if not isinstance(prefix, str) or len(prefix) > 24 or not _PREFIX_RE.match(prefix):
        raise LabError(
            f"invalid lab prefix {prefix!r}: use 1-24 lower-case letters, digits and single dashes, "
            "starting with a letter"
        )
    return prefix


def node_netns(prefix: str) -> str:
    return f"{prefix}-node"


def upstream_netns(prefix: str) -> str:
    return f"{prefix}-upstream"


def pod_name(index: int) -> str:
    return f"pod-{index}"


def pod_index(name: str) -> int | None:
    m = re.fullmatch(r"pod-(\d+)", name)
    return int(m.group(1)) if m else None


def pod_netns(prefix: str, name: str) -> str:
    """CNI-style namespace name `<prefix>-cni-<uuid>`; the uuid is derived from prefix and pod name,
    so the same lab always gets the same names (and pod names can be recovered from them)."""
    return f"{prefix}-cni-{uuid.uuid5(_LAB_UUID_NS, f'{prefix}/{name}')}"


def pod_netns_re(prefix: str) -> re.Pattern:
    return re.compile(rf"^{re.escape(prefix)}-cni-{_UUID_RE}$")


def lab_netns_re(prefix: str) -> re.Pattern:
    """Matches exactly the namespace names a lab with this prefix creates (and no other lab's)."""
    p = re.escape(prefix)
    return re.compile(rf"^(?:{p}-node|{p}-upstream|{p}-cni-{_UUID_RE})$")


def pod_ip(index: int) -> str:
    if not 0 <= index < MAX_PODS:
        raise LabError(f"pod index {index} out of range (0..{MAX_PODS - 1})")
    return str(POD_BLOCK[POD_HOST_OFFSET + index])


def workload_id(name: str, k8s_namespace: str = K8S_NAMESPACE) -> str:
    return f"{k8s_namespace}.{name}"


def cali_iface(name: str, k8s_namespace: str = K8S_NAMESPACE) -> str:
    """Host-side veth name the way Calico's CNI plugin derives it: "cali" + the first 11 hex digits
    of sha1("<k8s namespace>.<pod name>") (15 chars, the IFNAMSIZ limit)."""
    digest = hashlib.sha1(workload_id(name, k8s_namespace).encode()).hexdigest()
    return "cali" + digest[:11]


def rule_id(*parts: str) -> str:
    """A 16-character `cali:` rule id (base64url alphabet, like Felix's), stable for the same input."""
    digest = hashlib.sha224("\x00".join(parts).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


MAX_CHAIN_NAME = 28  # iptables chain names are limited to 28 characters


def chain_name(prefix: str, name: str) -> str:
    """`prefix + name`, or `prefix + "_" + hash` when that would exceed 28 chars (as Felix does)."""
    full = prefix + name
    if len(full) <= MAX_CHAIN_NAME:
        return full
    room = MAX_CHAIN_NAME - len(prefix) - 1
    digest = hashlib.sha224(name.encode()).digest()
    return prefix + "_" + base64.urlsafe_b64encode(digest).decode()[:room]
