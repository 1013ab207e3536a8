"""Netfilter packet counters before and after the probe: which rules and policies the probe hit.

Three dumps, each read only when reading cannot change the node:
  - `iptables-legacy-save -c`, only while the ip_tables module is present (the dump would load it);
  - `iptables-nft-save -c`, only while nf_tables is present (it shows base-chain policy counters,
    which count policy drops like legacy's do);
  - `nft list ruleset`, for the tables iptables-nft does not manage (native nft: Calico's nftables
    dataplane, firewalld, ...). The iptables-nft tables are left out there so no packet is counted
    twice; only nft rules with a `counter` statement can count at all.

A counter is keyed by (backend, table, chain, rule text, occurrence), not by its position: Felix
rewrites chains while it runs, and a rule that moved up one place is still the same rule. When the
ruleset changed between the two snapshots, `ruleset_changes` says how; rules present in only one
snapshot, or whose counter went down (recreated), are not compared.

Failures: a dump that cannot be read (module absent, tool missing, error, timeout) is a note in
the snapshot; InputError only for a namespace that does not exist or `ip` missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from calirules.facts_collectors.live import module_present
from calirules.facts_collectors.parsers.iptables import parse_iptables_save
from calirules.facts_collectors.parsers.nft import IPTABLES_TABLE_NAMES, brace_balance, parse_nft_ruleset

from . import _exec
from .model import CounterMove

LEGACY_SAVE = ("iptables-legacy-save", "-c")
NFT_SAVE = ("iptables-nft-save", "-c")
NFT_LIST = ("nft", "list", "ruleset")
TIMEOUT = 10.0

DROP_TARGETS = frozenset({"DROP", "REJECT"})
# Targets that are not a jump to a user chain (iptables extensions and nft statements alike).
_BUILTIN_TARGETS = frozenset({
    "ACCEPT", "DROP", "REJECT", "RETURN", "QUEUE", "NFQUEUE", "LOG", "NFLOG", "ULOG", "TRACE",
    "MARK", "CONNMARK", "CT", "NOTRACK", "MASQUERADE", "SNAT", "DNAT", "REDIRECT", "NETMAP",
    "TPROXY", "TCPMSS", "TOS", "DSCP", "TTL", "HL", "CLASSIFY", "CHECKSUM", "SET", "AUDIT", "HMARK",
    "IDLETIMER", "LED", "SECMARK", "CONNSECMARK", "SYNPROXY", "TEE", "RATEEST", "CLUSTERIP",
})

_NFT_COUNTER_VALUES = re.compile(r"\bcounter\s+packets\s+\d+\s+bytes\s+\d+")
_NFT_HANDLE = re.compile(r"\s+# handle \d+\s*$")
_IPT_COUNTS = re.compile(r"^\[\d+:\d+\]\s+")
_TABLE_LINE = re.compile(r"^table\s+(\S+)\s+(\S+)\s*\{")
_INCOMPATIBLE = re.compile(r"Table `([^']+)' is incompatible")
_SAVE_TABLE = re.compile(r"^\*([A-Za-z0-9_-]+)\s*$", re.M)


@dataclass(frozen=True)
class RuleCounter:
    """One rule's or base-chain policy's counter in one snapshot."""
    backend: str                 # legacy | nft
    table: str                   # iptables table name; "<family> <name>" for a native nft table
    chain: str
    rule: str | None             # the rule text without counters; None for the policy
    target: str | None
    packets: int
    bytes: int
    position: int | None         # 1-based rule number in its chain; None for the policy
    occurrence: int              # how many identical rules come before it in the chain
    source: str                  # the command the dump came from

    @property
    def key(self) -> tuple:
        return (self.backend, self.table, self.chain, self.rule, self.occurrence)


@dataclass
class NetfilterSnapshot:
    """Every counted rule and policy, in ruleset order (a chain's rules, then its policy)."""
    counters: list = field(default_factory=list)    # [RuleCounter]
    sources: list = field(default_factory=list)     # the commands read
    notes: list = field(default_factory=list)       # dumps not read, and why


def snapshot(node_netns: str | None) -> NetfilterSnapshot:
    """Read every counter of the node namespace (None: the current one). Read-only.

    A dump that cannot be read (module absent, tool missing, error, timeout) becomes a note in
    the snapshot; InputError only for a namespace that does not exist or `ip` missing."""
    notes: list[str] = []
    legacy = nft_save = ruleset = None
    if module_present("ip_tables"):
        legacy = _dump(node_netns, LEGACY_SAVE, notes)
    else:
        notes.append("iptables-legacy-save not read: kernel module ip_tables not loaded "
                     "(reading would load it); no legacy rules can exist")
    if module_present("nf_tables"):
        nft_save = _dump(node_netns, NFT_SAVE, notes)
        ruleset = _dump(node_netns, NFT_LIST, notes)
    else:
        notes.append("iptables-nft-save and nft not read: kernel module nf_tables not loaded "
                     "(reading would load it); no nft rules can exist")
    return build_snapshot(legacy, nft_save, ruleset, notes)


def _dump(netns, argv, notes) -> str | None:
    out = _exec.run(netns, argv, timeout=TIMEOUT)
    if out.ok:
        # iptables-nft-save names tables it cannot show on stderr; keep that line with the dump.
        return out.stdout + "".join(line + "\n" for line in out.stderr.splitlines()
                                    if _INCOMPATIBLE.search(line))
    reason = out.problem or _exec.first_line(out.stderr) or f"exit {out.returncode}"
    notes.append(f"{' '.join(argv)} not read: {reason}")
    return None


def build_snapshot(legacy_save: str | None, nft_save: str | None, nft_ruleset: str | None,
                   notes=()) -> NetfilterSnapshot:
    """A snapshot from the three dumps' text (None: not read)."""
    snap = NetfilterSnapshot(notes=list(notes))
    if legacy_save is not None:
        snap.sources.append(" ".join(LEGACY_SAVE))
        snap.counters.extend(counters_from_iptables_save(legacy_save, "legacy", " ".join(LEGACY_SAVE)))
    if nft_save is not None:
        snap.sources.append(" ".join(NFT_SAVE))
        snap.counters.extend(counters_from_iptables_save(nft_save, "nft", " ".join(NFT_SAVE)))
    if nft_ruleset is not None:
        snap.sources.append(" ".join(NFT_LIST))
        if nft_save is not None:
            # iptables-nft leaves out a table it cannot show (nft-native rules in it): nft counts it.
            shown = set(_SAVE_TABLE.findall(nft_save)) - set(_INCOMPATIBLE.findall(nft_save))
            # ip6 tables are ip6tables-nft's and never see an IPv4 probe.
            skip = {("ip", name) for name in shown} | {("ip6", name) for name in IPTABLES_TABLE_NAMES}
        else:
            skip = set()
            snap.notes.append("iptables-nft-save was not read: nft's own view of the iptables-nft "
                              "tables is counted instead")
        snap.counters.extend(counters_from_nft_ruleset(nft_ruleset, " ".join(NFT_LIST), skip=skip))
    return snap


def counters_from_iptables_save(text: str, backend: str, source: str) -> list[RuleCounter]:
    """Counters of an `iptables-save -c` dump (rules without a counter are left out)."""
    lines = text.split("\n")
    counters = []
    for table in parse_iptables_save(text, source)["tables"]:
        for chain in table["chains"]:
            seen: dict[str, int] = {}
            for position, rule in enumerate(chain["rules"], 1):
                if "packets" not in rule:
                    continue
                raw = _line_at(lines, rule["source"])
                text_ = _IPT_COUNTS.sub("", raw.strip()) if raw else _rebuild(chain["name"], rule)
                counters.append(RuleCounter(backend, table["name"], chain["name"], text_, rule.get("target"),
                                        rule["packets"], rule["bytes"], position, seen.get(text_, 0), source))
                seen[text_] = seen.get(text_, 0) + 1
            if chain["policy"] and "packets" in chain:
                counters.append(RuleCounter(backend, table["name"], chain["name"], None, chain["policy"],
                                        chain["packets"], chain["bytes"], None, 0, source))
    return counters


def counters_from_nft_ruleset(text: str, source: str, skip: set = frozenset()) -> list[RuleCounter]:
    """Counters of `nft list ruleset` rules that have a `counter`, table by table.

    `skip` holds (family, name) pairs of tables to leave out. Each table is parsed on its own
    (parse_nft_ruleset keeps the chains of iptables and Calico tables only, so any other table is
    handed to it under a stand-in name; line numbers stay those of the whole dump)."""
    lines = text.split("\n")
    counters = []
    for family, name, first, last in _table_blocks(lines):
        if (family, name) in skip:
            continue
        block = lines[first:last + 1]
        block[0] = "table ip calico {"
        parsed = parse_nft_ruleset("\n" * first + "\n".join(block) + "\n", source)
        for table in parsed["calico_tables"]:
            for chain in table["chains"]:
                seen: dict[str, int] = {}
                for position, rule in enumerate(chain["rules"], 1):
                    if "packets" not in rule:
                        continue
                    text_ = _nft_rule_text(lines, rule["source"])
                    counters.append(RuleCounter("nft", f"{family} {name}", chain["name"], text_,
                                            rule.get("target"), rule["packets"], rule["bytes"], position,
                                            seen.get(text_, 0), source))
                    seen[text_] = seen.get(text_, 0) + 1
    return counters


def _table_blocks(lines):
    """(family, name, first line index, last line index) of each top-level `table` block."""
    blocks, depth, start = [], 0, None
    for index, line in enumerate(lines):
        if depth == 0 and start is None:
            match = _TABLE_LINE.match(line.strip())
            if match:
                start = (match.group(1), match.group(2), index)
        depth = max(0, depth + brace_balance(_NFT_HANDLE.sub("", line)))
        if start is not None and depth == 0:
            blocks.append((*start, index))
            start = None
    return blocks


def _line_at(lines, source_ref: str) -> str | None:
    try:
        lineno = int(source_ref.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
    return lines[lineno - 1] if 0 < lineno <= len(lines) else None


def _nft_rule_text(lines, source_ref: str) -> str:
    """The rule as nft prints it, without handle and counter values (a rule may span lines)."""
    try:
        index = int(source_ref.rsplit(":", 1)[1]) - 1
    except (IndexError, ValueError):
        return ""
    parts, balance = [], 0
    while 0 <= index < len(lines):
        piece = _NFT_HANDLE.sub("", lines[index]).strip()
        parts.append(piece)
        balance += brace_balance(piece)
        index += 1
        if balance <= 0:
            break
    text = " ".join(" ".join(parts).split())
    return _NFT_COUNTER_VALUES.sub("counter", text)


def _rebuild(chain: str, rule: dict) -> str:
    jump = "-g" if rule.get("goto") else "-j"
    target = f" {jump} {rule['target']}" if rule.get("target") else ""
    return f"-A {chain} {rule['match']}{target}".replace("  ", " ")


# --- comparing two snapshots ---------------------------------------------------------------------

def moves(before: NetfilterSnapshot, after: NetfilterSnapshot) -> list[CounterMove]:
    """Every rule and policy whose packet counter rose, in the after-snapshot's ruleset order."""
    earlier = {c.key: c for c in before.counters}
    result = []
    for counter in after.counters:
        old = earlier.get(counter.key)
        if old is None or counter.packets <= old.packets:
            continue
        result.append(CounterMove(backend=counter.backend, table=counter.table, chain=counter.chain,
                                  rule=counter.rule, target=counter.target,
                                  packets=counter.packets - old.packets,
                                  bytes=max(0, counter.bytes - old.bytes),
                                  position=counter.position, source=counter.source))
    return result


def ruleset_changes(before: NetfilterSnapshot, after: NetfilterSnapshot) -> list[str]:
    """Notes on what changed in the ruleset between the snapshots (empty when nothing did)."""
    earlier = {c.key: c for c in before.counters}
    later = {c.key: c for c in after.counters}
    notes = []
    added = [k for k in later if k not in earlier]
    removed = [k for k in earlier if k not in later]
    if added or removed:
        chains = sorted({f"{k[0]} {k[1]} {k[2]}" for k in added + removed})
        shown = ", ".join(chains[:5]) + (f" and {len(chains) - 5} more" if len(chains) > 5 else "")
        notes.append(f"the ruleset changed during the probe ({len(added)} rules added, {len(removed)} "
                     f"removed, in {shown}); those rules' counters are not compared")
    reset = [k for k in later if k in earlier and later[k].packets < earlier[k].packets]
    if reset:
        notes.append(f"{len(reset)} counters went down during the probe (rules recreated or counters "
                     "zeroed); they are not compared")
    if before.sources != after.sources:
        notes.append(f"the dumps read differ: before {before.sources}, after {after.sources}")
    return notes


def drops(counter_moves: list[CounterMove], at_least: int = 1) -> list[CounterMove]:
    """The DROP/REJECT rules and DROP policies that rose by at least `at_least` packets."""
    return [m for m in counter_moves if m.target in DROP_TARGETS and m.packets >= at_least]


def is_jump(target: str | None) -> bool:
    return bool(target) and target not in _BUILTIN_TARGETS


def last_accept_or_jump(counter_moves: list[CounterMove], chain: str | None = None,
                        backend: str | None = None) -> CounterMove | None:
    """The last rule (in ruleset order) that fired with ACCEPT or a jump/goto to a chain,
    optionally only in one chain and/or backend; None when there is none."""
    found = None
    for move in counter_moves:
        if chain is not None and move.chain != chain:
            continue
        if backend is not None and move.backend != backend:
            continue
        if move.rule is not None and (move.target == "ACCEPT" or is_jump(move.target)):
            found = move
    return found
