"""calirules.lab: reproduce Calico same-node pod-to-pod failures in real network namespaces.

    from calirules.lab import Lab, inject
    with Lab("crl", pods=2, backend="nft") as lab:
        assert lab.ping(0, 1)
        inject(lab, "proxy-arp-disabled")
        assert not lab.ping(0, 1)
"""

from .errors import CommandError, LabError, UnknownFault
from .faults import FAULTS, Injection, inject
from .topology import Lab, Pod

__all__ = ["Lab", "Pod", "inject", "Injection", "FAULTS", "LabError", "CommandError", "UnknownFault"]
