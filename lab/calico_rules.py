"""Render Calico-shaped iptables-restore input for the filter table (pure functions, no I/O).

The shape follows what Felix programs for same-node pod traffic (projectcalico/calico at v3.29.0:
felix/rules/static.go, dispatch.go and endpoints.go): `FORWARD -j cali-FORWARD` at the top;
`cali-FORWARD` clears the non-accept mark bits and dispatches `-i cali+` / `-o cali+` to
`cali-from-wl-dispatch` / `cali-to-wl-dispatch`, which `-g` to per-endpoint `cali-fw-<iface>` /
`cali-tw-<iface>` chains ending in `"Unknown interface" -j DROP`; the endpoint chains accept conntrack
RELATED,ESTABLISHED, drop INVALID, clear the accept bit, optionally run a tier of `cali-pi-`/`cali-po-`
policy chains, then the `kns.default` profile, which sets the accept bit 0x10000,
`"Return if profile accepted"`, else `"Drop if no profiles matched"`. Appended at the end of FORWARD:
`"Policy explicitly accepted packet."` ACCEPT on mark 0x10000/0x10000, then set that mark. Every rule
carries a `cali:<16 chars>` id comment. This is our own rendering, not Felix's code; the rule ids are
stable hashes of chain name and rule text, not Felix's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

from .naming import chain_name, rule_id

ACCEPT_MARK = 0x10000
PASS_MARK = 0x20000
SCRATCH_MARKS = 0x40000 | 0x80000
NON_ACCEPT_BITS = PASS_MARK | SCRATCH_MARKS           # 0xe0000: what cali-FORWARD clears first

ACCEPT_COMMENT = "Policy explicitly accepted packet."
UNKNOWN_IFACE_COMMENT = "Unknown interface"
PROFILE_RETURN_COMMENT = "Return if profile accepted"
PROFILE_DROP_COMMENT = "Drop if no profiles matched"
POLICY_RETURN_COMMENT = "Return if policy accepted"
START_OF_POLICIES_COMMENT = "Start of policies"
END_OF_TIER_COMMENT = "End of tier default. Drop if no policies passed packet"
ENDPOINT_TO_HOST_COMMENT = "Configured DefaultEndpointToHostAction"

DEFAULT_PROFILE = "kns.default"
IFACE_PREFIX = "cali"


@dataclass(frozen=True)
class Policy:
    """A Calico policy in tier "default". `allow_cidrs` are the only peers it allows (sources for an
    ingress policy, destinations for egress); an empty tuple allows nothing."""

    name: str
    allow_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """One workload endpoint as Felix sees it: its host-side interface, profile and policies."""

    iface: str
    profile: str = DEFAULT_PROFILE
    ingress: tuple[Policy, ...] = ()
    egress: tuple[Policy, ...] = ()


@dataclass
class Chain:
    """A chain being rendered: rules are kept as (interface match, matches, comment, target)."""

    name: str
    rules: list[tuple[str, str, str | None, str]] = field(default_factory=list)

    def add(self, target: str, match: str = "", *, comment: str | None = None, iface: str = "") -> "Chain":
        self.rules.append((iface, match, comment, target))
        return self

    def lines(self) -> list[str]:
        out, previous = [], ""
        for iface, match, comment, target in self.rules:
            body = " ".join(p for p in (iface, match, target) if p)
            previous = rule_id(self.name, previous, body, comment or "")
            parts = ["-A", self.name]
            if iface:
                parts.append(iface)
            parts += ["-m", "comment", "--comment", f'"cali:{previous}"']
            if comment:
                parts += ["-m", "comment", "--comment", f'"{comment}"']
            if match:
                parts.append(match)
            target_word = "-g" if target.startswith("goto:") else "-j"
            parts += [target_word, target.removeprefix("goto:")]
            out.append(" ".join(parts))
        return out


# ---- chain names ------------------------------------------------------------------------------------

def from_wl_chain(iface: str) -> str:
    return f"cali-fw-{iface}"


def to_wl_chain(iface: str) -> str:
    return f"cali-tw-{iface}"


def policy_chain(policy: str, direction: str) -> str:
    """`cali-pi-<name>` (ingress) / `cali-po-<name>` (egress), hashed like Felix when over 28 chars."""
    return chain_name("cali-pi-" if direction == "ingress" else "cali-po-", policy)


def profile_chain(profile: str, direction: str) -> str:
    return chain_name("cali-pri-" if direction == "ingress" else "cali-pro-", profile)


def _set_mark(bits: int) -> str:
    return f"MARK --set-xmark {bits:#x}/{bits:#x}"


def _clear_mark(bits: int) -> str:
    return f"MARK --set-xmark 0x0/{bits:#x}"


def _mark_set(bits: int) -> str:
    return f"-m mark --mark {bits:#x}/{bits:#x}"


def _mark_clear(bits: int) -> str:
    return f"-m mark --mark 0x0/{bits:#x}"


# ---- static chains ----------------------------------------------------------------------------------

def static_chains() -> list[Chain]:
    fwd = Chain("cali-FORWARD")
    fwd.add(_clear_mark(NON_ACCEPT_BITS))
    fwd.add("cali-from-hep-forward", _mark_clear(ACCEPT_MARK))
    fwd.add("cali-from-wl-dispatch", iface=f"-i {IFACE_PREFIX}+")
    fwd.add("cali-to-wl-dispatch", iface=f"-o {IFACE_PREFIX}+")
    fwd.add("cali-to-hep-forward")
    fwd.add("cali-cidr-block")

    inp = Chain("cali-INPUT")
    inp.add("goto:cali-wl-to-host", iface=f"-i {IFACE_PREFIX}+")
    wl_to_host = Chain("cali-wl-to-host")
    wl_to_host.add("cali-from-wl-dispatch")
    wl_to_host.add("ACCEPT", comment=ENDPOINT_TO_HOST_COMMENT)

    return [fwd, inp, Chain("cali-OUTPUT"), wl_to_host, Chain("cali-from-hep-forward"),
            Chain("cali-to-hep-forward"), Chain("cali-cidr-block")]


def profile_chains(profile: str = DEFAULT_PROFILE) -> list[Chain]:
    """The namespace profile (Kubernetes' default: allow all) for both directions."""
    chains = []
    for direction in ("ingress", "egress"):
        c = Chain(profile_chain(profile, direction))
        c.add(_set_mark(ACCEPT_MARK))
        c.add("RETURN", _mark_set(ACCEPT_MARK))
        chains.append(c)
    return chains


def dispatch_chains(ifaces: Sequence[str]) -> list[Chain]:
    from_wl, to_wl = Chain("cali-from-wl-dispatch"), Chain("cali-to-wl-dispatch")
    for iface in ifaces:
        from_wl.add("goto:" + from_wl_chain(iface), iface=f"-i {iface}")
        to_wl.add("goto:" + to_wl_chain(iface), iface=f"-o {iface}")
    from_wl.add("DROP", comment=UNKNOWN_IFACE_COMMENT)
    to_wl.add("DROP", comment=UNKNOWN_IFACE_COMMENT)
    return [from_wl, to_wl]


def policy_chains(policy: Policy, direction: str) -> Chain:
    c = Chain(policy_chain(policy.name, direction))
    peer = "-s" if direction == "ingress" else "-d"
    for cidr in policy.allow_cidrs:
        c.add(_set_mark(ACCEPT_MARK), f"{peer} {cidr}")
    c.add("RETURN", _mark_set(ACCEPT_MARK))
    return c


def endpoint_chains(ep: Endpoint, *, allow_action: str = "ACCEPT") -> list[Chain]:
    """cali-tw-<iface> (to workload = pod ingress), cali-fw-<iface> (from workload = pod egress) and the
    policy chains they jump to."""
    chains: list[Chain] = []
    for direction, name in (("ingress", to_wl_chain(ep.iface)), ("egress", from_wl_chain(ep.iface))):
        c = Chain(name)
        c.add(allow_action, "-m conntrack --ctstate RELATED,ESTABLISHED")
        c.add("DROP", "-m conntrack --ctstate INVALID")
        c.add(_clear_mark(ACCEPT_MARK))
        if direction == "egress":
            c.add("DROP", "-p udp -m udp --dport 4789",
                  comment="Drop VXLAN encapped packets originating in workloads")
            c.add("DROP", "-p 4", comment="Drop IPinIP encapped packets originating in workloads")
        policies = ep.ingress if direction == "ingress" else ep.egress
        if policies:
            c.add(_clear_mark(PASS_MARK), comment=START_OF_POLICIES_COMMENT)
            for policy in policies:
                c.add(policy_chain(policy.name, direction), _mark_clear(PASS_MARK))
                c.add("RETURN", _mark_set(ACCEPT_MARK), comment=POLICY_RETURN_COMMENT)
                chains.append(policy_chains(policy, direction))
            c.add("DROP", _mark_clear(PASS_MARK), comment=END_OF_TIER_COMMENT)
        c.add(profile_chain(ep.profile, direction))
        c.add("RETURN", _mark_set(ACCEPT_MARK), comment=PROFILE_RETURN_COMMENT)
        c.add("DROP", comment=PROFILE_DROP_COMMENT)
        chains.insert(0, c)
    return chains


def hook_rules(*, append_accept: bool = True, allow_action: str = "ACCEPT") -> list[str]:
    """Rules Felix puts in the built-in chains: its jumps inserted at the top of INPUT/FORWARD/OUTPUT,
    and (since v3.16) the accept rules appended at the end of FORWARD."""
    lines = []
    for builtin in ("INPUT", "FORWARD", "OUTPUT"):
        lines += Chain(builtin).add(f"cali-{builtin}").lines()
    if append_accept:
        tail = Chain("FORWARD")
        tail.add(allow_action, _mark_set(ACCEPT_MARK), comment=ACCEPT_COMMENT)
        tail.add(_set_mark(ACCEPT_MARK))
        lines += tail.lines()
    return lines


# ---- whole documents --------------------------------------------------------------------------------

def _document(chains: Iterable[Chain], *, builtins: dict[str, str] | None = None,
              extra_rules: Sequence[str] = ()) -> str:
    chains = list(chains)
    out = ["*filter"]
    for name, policy in (builtins or {}).items():
        out.append(f":{name} {policy} [0:0]")
    seen = set()
    for c in chains:
        if c.name not in seen:
            seen.add(c.name)
            out.append(f":{c.name} - [0:0]")
    out += list(extra_rules)
    for c in chains:
        out += c.lines()
    out.append("COMMIT")
    return "\n".join(out) + "\n"


def render_filter_table(
    endpoints: Sequence[Endpoint],
    *,
    forward_policy: str = "ACCEPT",
    append_accept: bool = True,
    allow_action: str = "ACCEPT",
) -> str:
    """Complete iptables-restore input for the filter table of a healthy Calico node."""
    chains = static_chains() + dispatch_chains([ep.iface for ep in endpoints])
    profiles = sorted({ep.profile for ep in endpoints} | {DEFAULT_PROFILE})
    for profile in profiles:
        chains += profile_chains(profile)
    for ep in endpoints:
        chains += endpoint_chains(ep, allow_action=allow_action)
    builtins = {"INPUT": "ACCEPT", "FORWARD": forward_policy, "OUTPUT": "ACCEPT"}
    return _document(chains, builtins=builtins,
                     extra_rules=hook_rules(append_accept=append_accept, allow_action=allow_action))


def render_empty_filter_table(*, forward_policy: str = "ACCEPT") -> str:
    """A filter table with only the built-in chains (what a node looks like before Felix runs)."""
    return _document([], builtins={"INPUT": "ACCEPT", "FORWARD": forward_policy, "OUTPUT": "ACCEPT"})


def render_update(chains: Iterable[Chain]) -> str:
    """Input for `iptables-restore --noflush`: (re)creates exactly these chains, leaves the rest."""
    return _document(chains)
