"""Helpers shared by the parsers: line splitting with truncation detection, provenance, numbers.

Every parser reads text that may be damaged: sos merges stderr into command files, archives get
cut, people paste partial output. The helpers here never raise on such input; they return None
(or nothing) and let the parser skip what does not match its grammar.
"""

import ipaddress
import re

# The longest number the kernel and the tools print: 2**64 - 1 has 20 digits. A longer digit run is
# damage (or hostility), not a number: parsers skip it as they skip any text outside their grammar
# (and Python refuses to read a run of more than 4,300 digits at all). NUMBER is that in a regex;
# follow it with something that is not a digit, so a longer run fails to match instead of splitting.
MAX_DIGITS = 20
NUMBER = rf"\d{{1,{MAX_DIGITS}}}"

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5,19}$")

# iptables -L abbreviates counters above 99999 by powers of 1000 (iptables.c: print_num()).
_UNIT_FACTORS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15}
_ABBREVIATED = re.compile(rf"^({NUMBER})([KMGTP]?)$")


def as_text(text):
    """Text to parse, whatever the caller handed over: bytes are decoded leniently, None is empty."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", errors="replace")
    return ""


def ref(source, lineno):
    """The `source` of a fact: the file the caller named and the 1-based line it came from."""
    return f"{source}:{lineno}"


def split_lines(text):
    """Split into (lineno, line) pairs, 1-based, without line terminators.

    Returns (lines, cut). Commands end every line with a newline, so a last line without one is
    where a truncated file was cut: it is returned separately as `cut` = (lineno, text) (None
    when the text ends cleanly) and never among `lines`, so a half-written record cannot pass for
    a whole one. Parsers whose records span several lines also drop the record the cut falls in.
    """
    text = as_text(text)
    if not text:
        return [], None
    pieces = text.split("\n")
    cut = None
    last = pieces.pop()  # "" when the text ends with a newline
    if last:
        cut = (len(pieces) + 1, last.rstrip("\r"))
    lines = [(number, piece.rstrip("\r")) for number, piece in enumerate(pieces, start=1)]
    return lines, cut


def cut_is_continuation(cut):
    """True when the cut line is an indented continuation of the record before it."""
    return cut is not None and cut[1][:1] in (" ", "\t")


def to_int(token, base=10):
    """A non-negative integer from a token, or None when the token is not one."""
    if not isinstance(token, str) or not token:
        return None
    if len(token[2:] if token[:2].lower() in ("0x", "0o", "0b") else token) > MAX_DIGITS:
        return None
    try:
        value = int(token, base)
    except ValueError:
        return None
    return value if value >= 0 else None


def expand_abbreviated(token):
    """`123K` -> 123000: undo the K/M/G/T/P abbreviation of `iptables -L` counters (no `-x`)."""
    match = _ABBREVIATED.match(token or "")
    if not match:
        return None
    return int(match.group(1)) * _UNIT_FACTORS[match.group(2)]


def value_after(tokens, keyword):
    """The token that follows `keyword` in a `key value key value ...` list, or None."""
    try:
        position = tokens.index(keyword)
    except ValueError:
        return None
    return tokens[position + 1] if position + 1 < len(tokens) else None


def is_ip_address(token):
    try:
        ipaddress.ip_address(token)
    except ValueError:
        return False
    return True


def is_ip_network(token):
    """An address or a prefix as iproute2 prints it (`10.65.0.2`, `10.65.0.0/26`, `fe80::/64`)."""
    try:
        ipaddress.ip_network(token, strict=False)
    except ValueError:
        return False
    return True


def is_mac(token):
    """A link-layer address in colon notation (6 bytes for Ethernet, up to 20 for InfiniBand)."""
    return bool(_MAC.match(token or ""))


def strip_peer(name):
    """Split `cali1234@if4` into (`cali1234`, `if4`); names without `@` have no peer."""
    base, at, peer = name.partition("@")
    return base, (peer if at else None)


def quoted_tokens(text):
    """Split a rule on whitespace, keeping double-quoted strings whole.

    Returns a list of (raw, value) pairs: `raw` is the token as written (quotes and escapes kept,
    so the rule text can be rebuilt) and `value` has the quotes removed and `\\"` unescaped.
    Returns None when a quote is left open, which only happens in damaged or cut text.
    """
    # Rules are split by the thousand (one per iptables-save line): text without a backslash is
    # split on whitespace runs and words rejoined while a quote is open, not walked char by char.
    if "\\" in text:
        return _quoted_tokens_by_char(text)
    if '"' not in text:
        return [(word, word) for word in text.split()]
    raws, pending, quoted = [], [], False
    for index, piece in enumerate(_WHITESPACE_RUNS.split(text)):  # words at even indexes
        if index % 2 == 0:
            if piece:
                pending.append(piece)
                quoted ^= piece.count('"') % 2 == 1
        elif quoted:
            pending.append(piece)
        elif pending:
            raws.append("".join(pending))
            pending = []
    if quoted:
        return None
    if pending:
        raws.append("".join(pending))
    return [(raw, raw.replace('"', "")) for raw in raws]


_WHITESPACE_RUNS = re.compile(r"(\s+)")  # \s and str.split() agree on what whitespace is


def _quoted_tokens_by_char(text):
    """quoted_tokens for text with backslash escapes."""
    tokens = []
    position, length = 0, len(text)
    while position < length:
        if text[position].isspace():
            position += 1
            continue
        start, value, quoted = position, [], False
        while position < length and (quoted or not text[position].isspace()):
            char = text[position]
            if char == "\\" and position + 1 < length:
                value.append(text[position + 1])
                position += 2
                continue
            if char == '"':
                quoted = not quoted
            else:
                value.append(char)
            position += 1
        if quoted:
            return None
        tokens.append((text[start:position], "".join(value)))
    return tokens


# --- netfilter: the chain/rule shape shared by the iptables and nft parsers -----------------

def is_warning(line):
    """The stderr lines iptables-nft and nft write about the other backend or foreign rules
    (`# Warning: iptables-legacy tables present, ...`, ``# Table `nat' is incompatible, ...``,
    `# Warning: table ip nat is managed by iptables-nft, do not touch!`)."""
    text = line.lstrip("#").strip().lower()
    return text.startswith("warning") or "is incompatible" in text


def warning_text(line):
    return line.lstrip("#").strip()


def new_chain(name, policy, source, packets=None, bytes_=None):
    """A `chain` of the facts schema; policy is ACCEPT/DROP for base chains, None otherwise."""
    chain = {"name": name, "policy": policy}
    if packets is not None and bytes_ is not None:
        chain["packets"], chain["bytes"] = packets, bytes_
    chain["source"] = source
    chain["rules"] = []
    return chain


def new_rule(target, goto, match, comments, source, packets=None, bytes_=None):
    """A rule of a schema `chain`; counters only when the dump shows them."""
    rule = {}
    if target:
        rule["target"] = target
    rule["goto"] = goto
    rule["match"] = match
    rule["comments"] = comments
    if packets is not None and bytes_ is not None:
        rule["packets"], rule["bytes"] = packets, bytes_
    rule["source"] = source
    return rule
