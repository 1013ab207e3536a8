"""Reading Calico's iptables structure out of dump chains (used by the fact combiners).

Felix's layout: FORWARD jumps to cali-FORWARD, which dispatches by interface to cali-fw-<iface>
(from the pod) and cali-tw-<iface> (to the pod); those set the accept mark and return; an ACCEPT
on that mark (end of FORWARD since v3.16, inside cali-FORWARD before) lets the packet through.
Dispatch chains end in "Unknown interface" DROP, per-endpoint chains with policies end in
"... Drop if no policies passed packet".
"""

import re

MARK_ACCEPT = re.compile(r"(?:--mark|mark match) (0x[0-9a-f]+)/\1\b")
END_OF_TIER = "Drop if no policies passed packet"
UNKNOWN_INTERFACE = "Unknown interface"
BLOCKING_TARGETS = ("DROP", "REJECT")


def comments(rule):
    return rule.get("comments") or ()


def accepts_calico_mark(rule):
    if rule.get("target") != "ACCEPT":
        return False
    if any("Policy explicitly accepted packet" in c for c in comments(rule)):
        return True
    return bool(MARK_ACCEPT.search(rule.get("match") or ""))


def blocks(rule):
    return rule.get("target") in BLOCKING_TARGETS


def rule_text(rule):
    return " ".join(part for part in (rule.get("match"), f"-j {rule.get('target')}") if part).strip()


def has_comment(rule, text):
    return any(text in c for c in comments(rule))


def calico_accept_point(chain, cali_forward):
    """Index in `chain` (FORWARD) where Calico-accepted traffic is accepted, or None.

    Since v3.16 that is the mark ACCEPT in FORWARD itself; before, cali-FORWARD accepted, so the
    jump to it is the point.
    """
    rules = chain["rules"]
    for index, rule in enumerate(rules):
        if accepts_calico_mark(rule):
            return index
    if cali_forward and any(accepts_calico_mark(r) for r in cali_forward["rules"]):
        return next((i for i, r in enumerate(rules) if r.get("target") == "cali-FORWARD"), None)
    return None


def endpoint_index(netfilter):
    """Per cali* interface: which endpoint chains exist, dispatch entries, policy drops, in any backend.

    Returns None when iptables was not collected.
    """
    if netfilter is None:
        return None
    index = {"tw": {}, "fw": {}, "dispatched": {}, "has_dispatch": False, "unknown_drops": 0,
             "source": netfilter[0]["source"] if netfilter else None}
    for backend in netfilter:
        for table in backend["tables"]:
            if table["name"] != "filter":
                continue
            for chain in table["chains"]:
                name = chain["name"]
                for kind in ("tw", "fw"):
                    prefix = f"cali-{kind}-"
                    if name.startswith(prefix):
                        index[kind][name[len(prefix):]] = _endpoint_chain_summary(chain)
                if name.startswith(("cali-to-wl-dispatch", "cali-from-wl-dispatch")):
                    index["has_dispatch"] = True
                    for rule in chain["rules"]:
                        target = rule.get("target") or ""
                        if target.startswith(("cali-tw-", "cali-fw-")):
                            index["dispatched"][target[8:]] = rule["source"]
                        if blocks(rule) and has_comment(rule, UNKNOWN_INTERFACE):
                            index["unknown_drops"] += rule.get("packets") or 0
    return index


def _end_of_tier_drops(rules):
    """The DROP(s) ending the policy tier: by comment, or, where comments are lost (iptables-nft
    rules listed by `nft list ruleset` show none), the first DROP after the last policy jump."""
    by_comment = [r for r in rules if blocks(r) and has_comment(r, END_OF_TIER)]
    if by_comment:
        return by_comment
    jumps = [i for i, r in enumerate(rules) if (r.get("target") or "").startswith(("cali-pi-", "cali-po-"))]
    if not jumps:
        return []
    return next(([r] for r in rules[jumps[-1] + 1:] if blocks(r)), [])


INVALID_STATE = re.compile(r"(ctstate|ct state|state) INVALID\b", re.I)


def invalid_drops(rules):
    """DROP rules on conntrack state INVALID (iptables-save, -L listings and nft spell it differently)."""
    return [r for r in rules if blocks(r) and INVALID_STATE.search(r.get("match") or "")]


def _endpoint_chain_summary(chain):
    policy_drops = _end_of_tier_drops(chain["rules"])
    invalid = invalid_drops(chain["rules"])
    return {
        "invalid_drop_packets": sum(r.get("packets") or 0 for r in invalid) if invalid else None,
        "invalid_drop_source": invalid[0]["source"] if invalid else None,
        "source": chain.get("source") or (chain["rules"][0]["source"] if chain["rules"] else None),
        "policies": sum(1 for r in chain["rules"] if (r.get("target") or "").startswith(("cali-pi-", "cali-po-"))),
        "policy_drop_packets": sum(r.get("packets") or 0 for r in policy_drops) if policy_drops else None,
        "policy_drop_source": policy_drops[0]["source"] if policy_drops else None,
    }
