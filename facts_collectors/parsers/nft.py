"""`nft [-n] [-a] list ruleset` -> netfilter tables in the same chain/rule shape as iptables.

The ruleset is parsed by braces, not by lines: set elements and anonymous sets span lines.
Tables are sorted by who owns them:
  - `table ip|ip6 filter|nat|mangle|raw|security`: written by iptables-nft (kube-proxy, Calico
    in iptables mode with the nft backend); their chains map back to iptables chains;
  - `table ip|ip6 calico`: Calico's native nftables dataplane, chains named `filter-FORWARD`,
    `nat-POSTROUTING`, ... (the iptables table as prefix);
  - anything else is only named in `other_tables` (`inet crp-extra`).
Both dataplanes present at once means two programs fight over the node's packets.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import (
    is_warning,
    new_chain,
    new_rule,
    quoted_tokens,
    ref,
    split_lines,
    to_int,
    warning_text,
)

IPTABLES_TABLE_NAMES = {"filter", "nat", "mangle", "raw", "security"}
CALICO_TABLE_NAME = "calico"

_HANDLE = re.compile(r"\s+# handle \d+\s*$")
_TABLE_OPEN = re.compile(r"^table\s+(ip|ip6|inet|arp|bridge|netdev)\s+(\S+)\s*\{$")
_CHAIN_OPEN = re.compile(r"^chain\s+(\S+)\s*\{$")
_POLICY = re.compile(r"\bpolicy\s+(accept|drop)\s*;")

_VERDICTS = {"accept": "ACCEPT", "drop": "DROP", "return": "RETURN", "reject": "REJECT",
             "queue": "NFQUEUE", "continue": None}
# Statements that do what an iptables target does; they stay in `match` (as target options do
# in iptables-save) and only name the target when the rule has no verdict.
_STATEMENT_TARGETS = {"masquerade": "MASQUERADE", "snat": "SNAT", "dnat": "DNAT",
                      "redirect": "REDIRECT", "log": "LOG", "notrack": "NOTRACK"}


@parser(Specs.nft_ruleset)
def parse_nft_ruleset(text, source):
    r"""Parse `nft list ruleset` (with or without -a/-n).

    Returns {"iptables_tables": [...], "ip6tables_tables": [...], "calico_tables": [...],
    "calico6_tables": [...], "other_tables": ["<family> <name>", ...], "tables": [...],
    "warnings": [...]}. `tables` lists every table in the order printed, as the `nft_tables` dump
    section keeps it: {family, name, chains (count), rules (count), source (its `table` line)}.
    Each table is {name, chains}; each chain {name, policy (from `policy accept|drop;` of a base
    chain, None otherwise), source, rules}; each rule {target, goto, match, comments, packets,
    bytes, source}. Targets use iptables names: `jump X`/`goto X` -> X (goto True for goto),
    accept/drop/reject/return -> ACCEPT/DROP/REJECT/RETURN, masquerade -> MASQUERADE,
    `meta mark set` -> MARK. `match` is the rule without counter, verdict, comment and handle.
    Calico comments `"cali:<id>; text"` become two comments, as iptables shows them.

    `nft -a list ruleset` on a lab node running iptables-nft rules and Calico's nftables
    dataplane at once (a cut; nft's tab indentation shown as spaces):

    >>> text = '''\
    ... # Warning: table ip filter is managed by iptables-nft, do not touch!
    ... table ip filter { # handle 3
    ...     chain INPUT { # handle 1
    ...         type filter hook input priority filter; policy accept;
    ...     }
    ...
    ...     chain FORWARD { # handle 2
    ...         type filter hook forward priority filter; policy drop;
    ...          counter packets 6 bytes 504 jump KUBE-FORWARD # handle 7
    ...          counter packets 6 bytes 504 jump cali-FORWARD # handle 8
    ...           meta mark & 0x00010000 == 0x00010000 counter packets 6 bytes 504 accept # handle 9
    ...     }
    ... }
    ... table ip calico { # handle 4
    ...     chain filter-FORWARD { # handle 5
    ...         type filter hook forward priority filter; policy accept;
    ...         counter packets 6 bytes 504 jump filter-cali-FORWARD comment "cali:dpfqBgJrpRwlrqw1;" # handle 15
    ...         meta mark & 0x00010000 == 0x00010000 counter packets 6 bytes 504 accept comment "cali:yp7iNUYNEhDmKF6E; Policy explicitly accepted packet." # handle 16
    ...     }
    ... }
    ... '''
    >>> result = parse_nft_ruleset(text, "sos_commands/firewall_tables/nft_-a_list_ruleset")
    >>> [(t["family"], t["name"], t["chains"], t["rules"]) for t in result["tables"]]
    [('ip', 'filter', 2, 3), ('ip', 'calico', 1, 2)]
    >>> result["warnings"]
    ['Warning: table ip filter is managed by iptables-nft, do not touch!']
    >>> forward = result["iptables_tables"][0]["chains"][1]
    >>> forward["name"], forward["policy"], [(r["target"], r["packets"]) for r in forward["rules"]]
    ('FORWARD', 'DROP', [('KUBE-FORWARD', 6), ('cali-FORWARD', 6), ('ACCEPT', 6)])
    >>> accept = result["calico_tables"][0]["chains"][0]["rules"][1]
    >>> accept["target"], accept["match"], accept["comments"]
    ('ACCEPT',
     'meta mark & 0x00010000 == 0x00010000',
     ['cali:yp7iNUYNEhDmKF6E', 'Policy explicitly accepted packet.'])
    """
    result = {"iptables_tables": [], "ip6tables_tables": [], "calico_tables": [],
              "calico6_tables": [], "other_tables": [], "tables": [], "warnings": [], "warning_sources": []}
    lines, _cut = split_lines(text)
    stack = []  # open blocks: a table dict, a chain dict, or None for sets, maps, braces
    pending = None  # (lineno, text) of a rule whose braces close on a later line
    for lineno, raw_line in lines:
        line = _HANDLE.sub("", raw_line).strip()
        if pending is not None:
            pending = (pending[0], f"{pending[1]} {line}")
            if brace_balance(pending[1]) <= 0:
                _add_rule(stack, pending[1], ref(source, pending[0]))
                pending = None
            continue
        if not line:
            continue
        if line.startswith("#"):
            if is_warning(line):
                result["warnings"].append(warning_text(line))
                result["warning_sources"].append(ref(source, lineno))
            continue
        balance = brace_balance(line)
        chain = stack[-1]["chain"] if stack and _is_chain(stack[-1]) else None
        if chain is not None and balance > 0:
            pending = (lineno, line)  # a rule with an anonymous set spread over lines
            continue
        if chain is not None and balance == 0:
            if line.startswith("type ") and " hook " in line:
                policy = _POLICY.search(line)
                chain["policy"] = policy.group(1).upper() if policy else None
            else:
                _add_rule(stack, line, ref(source, lineno))
            continue
        if chain is None and _open_named_block(line, lineno, source, stack, result):
            continue
        for _ in range(balance):
            stack.append(None)
        for _ in range(-balance):
            if stack:
                stack.pop()
    result["tables"] = [_table_summary(entry) for entry in result["tables"]]
    return result


def _table_summary(entry):
    table = entry.pop("table")
    entry["chains"] = len(table["chains"])
    entry["rules"] = sum(len(chain["rules"]) for chain in table["chains"])
    entry["source"] = entry.pop("source")  # keep `source` last, as in every dump item
    return entry


def _open_named_block(line, lineno, source, stack, result):
    """Push a `table ... {` or `chain ... {` block; sets, maps and the like push a placeholder."""
    match = _TABLE_OPEN.match(line)
    if match and not stack:
        family, name = match.groups()
        table = {"name": name, "chains": []}
        result["tables"].append({"family": family, "name": name, "table": table, "source": ref(source, lineno)})
        bucket = _bucket_for(family, name)
        if bucket:
            result[bucket].append(table)
        else:
            result["other_tables"].append(f"{family} {name}")
        stack.append({"table": table})
        return True
    match = _CHAIN_OPEN.match(line)
    if match and len(stack) == 1 and stack[0] is not None:
        chain = new_chain(match.group(1), None, ref(source, lineno))
        stack[0]["table"]["chains"].append(chain)
        stack.append({"chain": chain})
        return True
    if line.endswith("{") and brace_balance(line) == 1:
        stack.append(None)  # set, map, flowtable, counter, ... : nothing the facts keep
        return True
    return False


def _bucket_for(family, name):
    if name in IPTABLES_TABLE_NAMES and family in ("ip", "ip6"):
        return "iptables_tables" if family == "ip" else "ip6tables_tables"
    if name == CALICO_TABLE_NAME and family in ("ip", "ip6"):
        return "calico_tables" if family == "ip" else "calico6_tables"
    return None


def _is_chain(block):
    return block is not None and "chain" in block


def _add_rule(stack, text, source):
    if not stack or not _is_chain(stack[-1]):
        return
    rule = _rule(text, source)
    if rule is not None:
        stack[-1]["chain"]["rules"].append(rule)


def brace_balance(text):
    """Opening minus closing braces outside double-quoted strings (comments may hold braces).

    >>> brace_balance('chain FORWARD { # handle 2')
    1
    >>> brace_balance('counter packets 3 bytes 252 comment "{ a } }" }')
    -1
    """
    balance, quoted = 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "{":
            balance += 1
        elif not quoted and char == "}":
            balance -= 1
    return balance


def _rule(text, source):
    tokens = quoted_tokens(text)
    if not tokens:
        return None
    kept, comments = [], []
    target, goto, statement_target = None, False, None
    packets = bytes_ = None
    depth, position = 0, 0
    while position < len(tokens):
        raw, value = tokens[position]
        following = tokens[position + 1][1] if position + 1 < len(tokens) else None
        if depth == 0:
            if value == "comment" and following is not None:
                comments.extend(_split_calico_comment(following))
                position += 2
                continue
            if value == "counter":
                position += 1
                if (position + 3 < len(tokens) and tokens[position][1] == "packets"
                        and tokens[position + 2][1] == "bytes"):
                    packets = to_int(tokens[position + 1][1])
                    bytes_ = to_int(tokens[position + 3][1])
                    position += 4
                continue
            if value in ("jump", "goto") and following is not None:
                target, goto = following, value == "goto"
                position += 2
                continue
            if value in _VERDICTS:
                target = _VERDICTS[value]
                position += 1
                continue
            if value in _STATEMENT_TARGETS and statement_target is None:
                statement_target = _STATEMENT_TARGETS[value]
            if value == "set" and kept and kept[-1] == "mark" and statement_target is None:
                statement_target = "MARK"
        depth += raw.count("{") - raw.count("}")
        kept.append(raw)
        position += 1
    return new_rule(target or statement_target, goto, " ".join(kept), comments, source,
                    packets, bytes_)


def _split_calico_comment(comment):
    """Calico's nft comments hold the rule id and the text: `cali:yp7iNUYNEhDmKF6E; Policy ...`."""
    if not comment.startswith("cali:"):
        return [comment]
    return [part.strip() for part in comment.split(";") if part.strip()]
