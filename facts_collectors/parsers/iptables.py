"""iptables rule dumps -> the `tables` of a `netfilter` fact (the caller adds `backend`).

Two formats, one result shape:
  - `iptables[-legacy|-nft]-save`, with or without `-c` (`[packets:bytes]` before each rule);
  - `iptables [-t T] -nvL` / `-vnxL` listings (what sos collects), counters abbreviated with
    K/M/G unless `-x` was given.
Both return {"tables": [{name, chains: [{name, policy, packets, bytes, source, rules: [...]}]}],
"warnings": [...]}; a rule is {target, goto, match, comments, packets, bytes, source}. The
warnings are the lines iptables-nft prints to stderr and sos/calicoctl keep in the file
(`# Warning: iptables-legacy tables present, ...`: rules exist in both backends, a classic
conflict; ``# Table `nat' is incompatible, ...``: nft-native rules sit in an iptables table).
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import (
    as_text,
    expand_abbreviated,
    is_warning,
    new_chain,
    new_rule,
    quoted_tokens,
    ref,
    split_lines,
    to_int,
    warning_text,
)

_TABLE_LINE = re.compile(r"^\*([A-Za-z0-9_-]+)$")
_CHAIN_LINE = re.compile(r"^:(\S+)\s+(ACCEPT|DROP|-)(?:\s+\[(\d+):(\d+)\])?$")
_COUNTED_RULE = re.compile(r"^\[(\d+):(\d+)\]\s+(.*)$")
_JUMPS = {"-j": False, "--jump": False, "-g": True, "--goto": True}


@parser(Specs.iptables_legacy_save, Specs.iptables_nft_save, Specs.calicoctl_iptables)
def parse_iptables_save(text, source):
    """Parse `iptables-save [-c]` output into tables, chains and rules.

    `match` is the rule text without `-A <chain>`, the `-j`/`-g` target and the counters (so
    target options such as `--set-xmark 0x10000/0x10000` stay in it); `comments` lists every
    `--comment` value unquoted; `goto` is True for `-g`. User chains have policy None.
    """
    result = {"tables": [], "warnings": [], "warning_sources": []}
    lines, _cut = split_lines(text)
    table = None  # (table dict, {chain name: chain dict}) until COMMIT
    for lineno, raw_line in lines:
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if is_warning(line):
                result["warnings"].append(warning_text(line))
                result["warning_sources"].append(ref(source, lineno))
            continue
        if line == "COMMIT":
            table = None
            continue
        match = _TABLE_LINE.match(line)
        if match:
            table = ({"name": match.group(1), "chains": []}, {})
            result["tables"].append(table[0])
            continue
        if table is None:
            continue  # rules outside a *table block, or stderr noise
        match = _CHAIN_LINE.match(line)
        if match:
            name, policy, packets, bytes_ = match.groups()
            chain = new_chain(name, None if policy == "-" else policy, ref(source, lineno),
                              to_int(packets), to_int(bytes_))
            _add_chain(table, chain)
            continue
        _read_save_rule(table, line, ref(source, lineno))
    return result


def _add_chain(table, chain):
    table_dict, chains = table
    if chain["name"] not in chains:
        table_dict["chains"].append(chain)
        chains[chain["name"]] = chain


def _read_save_rule(table, line, source):
    packets = bytes_ = None
    counted = _COUNTED_RULE.match(line)
    if counted:
        packets, bytes_ = int(counted.group(1)), int(counted.group(2))
        line = counted.group(3)
    tokens = quoted_tokens(line)
    if not tokens or len(tokens) < 2 or tokens[0][1] not in ("-A", "--append"):
        return
    chain_name = tokens[1][1]
    target, goto, comments, kept = None, False, [], []
    rest = tokens[2:]
    position = 0
    while position < len(rest):
        raw, value = rest[position]
        following = rest[position + 1][1] if position + 1 < len(rest) else None
        if value in _JUMPS and target is None and following is not None:
            target, goto = following, _JUMPS[value]
            position += 2
            continue
        if value in ("-c", "--set-counters") and position + 2 < len(rest):
            # `iptables -v -S` writes counters inside the rule instead of a [p:b] prefix.
            packets, bytes_ = to_int(rest[position + 1][1]), to_int(rest[position + 2][1])
            position += 3
            continue
        if value == "--comment" and following is not None:
            comments.append(following)
        kept.append(raw)
        position += 1
    chains = table[1]
    if chain_name not in chains:
        # A rule for a chain with no `:` line (a cut or hand-edited dump): keep the rule.
        _add_chain(table, new_chain(chain_name, None, source))
    chains[chain_name]["rules"].append(
        new_rule(target, goto, " ".join(kept), comments, source, packets, bytes_))


# --- iptables -L ----------------------------------------------------------------------------

_CHAIN_HEADER = re.compile(r"^Chain\s+(\S+)\s+\((.*)\)\s*$")
_POLICY = re.compile(r"^policy\s+(ACCEPT|DROP)(?:\s+(\S+)\s+packets,\s+(\S+)\s+bytes)?$")
_REFERENCES = re.compile(r"^\d+\s+references?$")
_COMMENT = re.compile(r"/\* (.*?) \*/")
_OPT_VALUES = {"--", "-f", "!f"}
_GOTO_MARK = "[goto]"


@parser(Specs.iptables_list)
def parse_iptables_list(text, source, table="filter"):
    """Parse `iptables [-t T] -L -n [-v] [-x] [--line-numbers]` output for one table.

    Columns are mapped from each chain's header line. A rule's `match` is its columns after the
    target (prot, opt, [in, out,] source, destination) followed by the trailing match text;
    `comments` are the `/* ... */` texts; `goto` is True when the line carries `[goto]`.
    Counters abbreviated as K/M/G/T are expanded to integers (123K -> 123000).
    """
    result = {"tables": [], "warnings": [], "warning_sources": []}
    chains = []
    lines, _cut = split_lines(text)
    chain, columns = None, None
    for lineno, line in lines:
        if line.startswith("#"):
            if is_warning(line):
                result["warnings"].append(warning_text(line))
                result["warning_sources"].append(ref(source, lineno))
            continue
        header = _CHAIN_HEADER.match(line)
        if header:
            chain = _listed_chain(header, ref(source, lineno))
            columns = None
            if chain is not None:
                chains.append(chain)
            continue
        if chain is None:
            continue
        tokens = line.split()
        if "target" in tokens and "source" in tokens and "destination" in tokens:
            columns = tokens
            continue
        if columns is not None and tokens:
            rule = _listed_rule(line, columns, ref(source, lineno))
            if rule is not None:
                chain["rules"].append(rule)
    if chains:
        result["tables"].append({"name": table, "chains": chains})
    return result


def _listed_chain(header, source):
    name, inside = header.group(1), header.group(2).strip()
    policy = _POLICY.match(inside)
    if policy:
        packets = expand_abbreviated(policy.group(2)) if policy.group(2) else None
        bytes_ = expand_abbreviated(policy.group(3)) if policy.group(3) else None
        return new_chain(name, policy.group(1), source, packets, bytes_)
    if _REFERENCES.match(inside):
        return new_chain(name, None, source)
    return None


def _listed_rule(line, columns, source):
    """One rule line, split on whitespace: the target column may be empty (no -j) or long."""
    fields = line.split()
    target_at = columns.index("target")
    after_target = len(columns) - target_at - 1  # prot opt [in out] source destination
    counters = dict(zip(columns[:target_at], fields[:target_at]))
    remainder = fields[target_at:]
    if len(remainder) >= 2 and remainder[1] in _OPT_VALUES and remainder[0] not in _OPT_VALUES:
        target, fixed = None, remainder[:after_target]  # a rule without target: column empty
    else:
        target, fixed = (remainder[0] if remainder else None), remainder[1:after_target + 1]
    if len(fixed) < after_target or fixed[1] not in _OPT_VALUES:
        return None
    packets = bytes_ = None
    if "pkts" in counters or "bytes" in counters:
        packets = expand_abbreviated(counters.get("pkts"))
        bytes_ = expand_abbreviated(counters.get("bytes"))
        if packets is None or bytes_ is None:
            return None
    consumed = target_at + (1 if target else 0) + after_target
    pieces = line.split(None, consumed)
    trailing = pieces[consumed].strip() if len(pieces) > consumed else ""
    comments = _COMMENT.findall(trailing)
    trailing_words = trailing.split()
    goto = _GOTO_MARK in trailing_words
    match = " ".join(fixed + [word for word in trailing_words if word != _GOTO_MARK])
    return new_rule(target, goto, match, comments, source, packets, bytes_)


# Legacy x_tables table names (net/netfilter/x_tables.c lists one per line; only tables some
# rule or module has instantiated: filter, nat, mangle, raw, security).
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@parser(Specs.ip_tables_names)
def parse_ip_tables_names(text, source):
    """`/proc/net/ip_tables_names` -> [{table, source}]: the legacy iptables tables the kernel has.

    The file exists only while the legacy `ip_tables` module is loaded; an empty file means the
    module is there but no legacy table was created. Lines that are not a table name are skipped.
    """
    tables = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        name = line.strip()
        if _TABLE_NAME.match(name) and name not in {t["table"] for t in tables}:
            tables.append({"table": name, "source": ref(source, lineno)})
    return tables


@parser(Specs.iptables_version)
def parse_iptables_version(text, source):
    """`iptables -V` -> the iptables `versions` item; its mode tells which backend `iptables` is.

    >>> parse_iptables_version("iptables v1.8.9 (nf_tables)\\n", "iptables_-V")
    [{'component': 'iptables', 'version': 'v1.8.9', 'detail': 'nf_tables', 'source': 'iptables_-V:1'}]
    >>> parse_iptables_version("iptables v1.8.9 (legacy)\\n", "iptables_-V")[0]["detail"]
    'legacy'
    """
    for lineno, line in enumerate(as_text(text).splitlines(), 1):
        words = line.split()
        if len(words) >= 2 and words[0].startswith("iptables") and words[1].startswith("v"):
            detail = "nf_tables" if "nf_tables" in line else "legacy"
            return [{"component": "iptables", "version": words[1], "detail": detail, "source": ref(source, lineno)}]
    return []
