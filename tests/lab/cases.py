"""One lab per fault case, built once per test session and shared by every test that asserts on it.

A case is a fault (or none: the healthy lab), its options and the iptables backend. The
`lab_case` fixture (conftest) builds it once: the lab comes up, a pod-to-pod ping shows it
healthy, the fault goes in and the ping that proves the symptom runs. What tests read from the
case while its lab is up (the live diagnosis, sosreports, a calicoctl diags bundle) is made on
first use and kept, so the fault, live and bundle tests of one case share one lab and one of each.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

from calirules.lab import faults
from calirules.lab.bundles import write_calicoctl_diags, write_sosreport
from calirules.lab.topology import Lab

from tests.helpers import run_cli


@dataclasses.dataclass(frozen=True)
class LabCase:
    """Hashable, so pytest groups the tests of one case together and builds it once."""

    fault: str | None  # None: the healthy lab
    backend: str
    options: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, fault: str | None, options: dict, backend: str) -> LabCase:
        return cls(fault, backend, tuple(sorted(options.items())))

    def __str__(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.options)
        return f"{self.fault or 'healthy'}[{self.backend}{',' + extra if extra else ''}]"


# Every fault the live diagnosis and the sosreports must rank first: case -> cause expected first.
_DIAGNOSED = [
    ("ip-forwarding-disabled", {}, "legacy", "ip-forwarding-disabled"),
    ("ip-forwarding-disabled", {"per_interface": True}, "legacy", "ip-forwarding-disabled"),
    ("forward-policy-drop", {}, "legacy", "forward-policy-drop"),
    ("forward-policy-drop", {}, "nft", "forward-policy-drop"),
    ("host-firewall-rejects", {}, "legacy", "host-firewall-rejects"),
    ("iptables-backend-mismatch", {}, "legacy", "iptables-backend-mismatch"),
    ("iptables-backend-mismatch", {"mode": "rule"}, "nft", "iptables-backend-mismatch"),
    ("calico-chains-missing", {}, "legacy", "calico-chains-missing"),
    ("policy-denies", {}, "legacy", "policy-denies"),
    ("policy-denies", {"direction": "egress"}, "nft", "policy-denies"),
    ("proxy-arp-disabled", {}, "legacy", "proxy-arp-disabled"),
    ("workload-route-missing", {}, "legacy", "workload-route-missing"),
    ("workload-route-conflict", {}, "legacy", "workload-route-conflict"),
    ("workload-route-conflict", {"target": "other"}, "legacy", "workload-route-conflict"),
    # The leftover veth is UP and unknown to Felix: endpoint-not-programmed fires too, as the
    # mechanism; the route conflict is its root and must rank first.
    ("workload-route-conflict", {"peer_up": True}, "legacy", "workload-route-conflict"),
    ("workload-veth-down", {}, "legacy", "workload-veth-down"),
    ("policy-routing-override", {}, "legacy", "policy-routing-override"),
    ("endpoint-not-programmed", {}, "legacy", "endpoint-not-programmed"),
    ("mtu-mismatch", {}, "legacy", "mtu-mismatch"),
    ("mtu-mismatch", {"where": "pod"}, "nft", "mtu-mismatch"),
]
DIAGNOSED = {LabCase.of(fault, options, backend): cause for fault, options, backend, cause in _DIAGNOSED}


def symptom_is_real(lab: Lab, injection) -> bool:
    """The ping the fault should break fails (for an MTU fault: small passes, large DF fails)."""
    if injection.large_size:
        return lab.ping(injection.src, injection.dst) and not lab.ping(
            injection.src, injection.dst, size=injection.large_size, dont_fragment=True)
    return not lab.ping(injection.src, injection.dst)


def diagnose_live(lab: Lab) -> tuple[int, dict]:
    code, out, err = run_cli("diagnose", "--live", "--netns", lab.node_ns, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


class BuiltCase:
    """A case's lab, up, with the fault injected and the symptom ping done."""

    def __init__(self, case: LabCase, lab: Lab, workdir: Path):
        self.case, self.lab, self.workdir = case, lab, workdir
        self.healthy_before = lab.ping(0, 1)
        self.injection = faults.inject(lab, case.fault, **dict(case.options)) if case.fault else None
        # also what makes the drop counters count before anything is collected
        self.symptom_seen = symptom_is_real(lab, self.injection) if self.injection else None
        self._made: dict[tuple, object] = {}

    def _once(self, key: tuple, make):
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def live(self) -> tuple[int, dict]:
        """`calirules diagnose --live --netns <node> --format json`: (exit code, report); each
        caller gets its own copy of the report."""
        return copy.deepcopy(self._once(("live",), lambda: diagnose_live(self.lab)))

    def sosreport(self, *, archive: str | None = None, extras: bool = False) -> Path:
        """The lab node's sosreport (a directory, or packed as `archive`), with or without the
        calirules sos-extras file."""
        def make():
            parent = self.workdir / f"sos-{archive or 'dir'}{'-extras' if extras else ''}"
            parent.mkdir()
            return write_sosreport(self.lab, parent, archive=archive, extras=extras)
        return self._once(("sosreport", archive, extras), make)

    def calicoctl_diags(self) -> Path:
        def make():
            parent = self.workdir / "calicoctl-diags"
            parent.mkdir()
            return write_calicoctl_diags(self.lab, parent)
        return self._once(("calicoctl-diags",), make)
