"""Connection tracking: `conntrack -S`, `/proc/net/stat/nf_conntrack`, nf_conntrack_count/max.

Each parser returns a `conntrack` object of the facts schema (or {} when nothing matched):
{stats: {counter: total}, source} or {count|max: n, source, sources}; the caller merges them.
`insert_failed`, `drop` and `early_drop` above zero point to a full table or NAT races.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import NUMBER, ref, split_lines, to_int

_COUNTER = re.compile(rf"^([a-z][a-z0-9_]*)=({NUMBER})$")
_HEADER_WORD = re.compile(r"^[a-z][a-z0-9_]*$")
# `entries` is the namespace-wide conntrack count, repeated on every per-CPU row: not summed.
_GLOBAL_COLUMNS = {"entries"}


@parser(Specs.conntrack_stats)
def parse_conntrack_S(text, source):
    r"""`cpu=0 found=0 invalid=12 insert=0 ...` per CPU -> counters summed over the CPUs.

    `conntrack -S` on a lab node with two CPUs:

    >>> text = '''\
    ... cpu=0   \tfound=0 invalid=0 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0
    ... cpu=1   \tfound=0 invalid=8 insert=0 insert_failed=0 drop=0 early_drop=0 error=0 search_restart=0 clash_resolve=0 chaintoolong=0
    ... '''
    >>> stats = parse_conntrack_S(text, "sos_commands/networking/conntrack_-S")
    >>> stats["stats"]["invalid"], stats["stats"]["insert_failed"], stats["source"]
    (8, 0, 'sos_commands/networking/conntrack_-S:1')
    """
    stats, first = {}, None
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        fields = line.split()
        if not fields or not fields[0].startswith("cpu="):
            continue
        counters = [_COUNTER.match(field) for field in fields[1:]]
        if not counters or not all(counters):
            continue
        for counter in counters:
            stats[counter.group(1)] = stats.get(counter.group(1), 0) + int(counter.group(2))
        first = first or lineno
    if first is None:
        return {}
    return {"stats": stats, "source": ref(source, first)}


@parser(Specs.proc_conntrack_stats)
def parse_proc_net_stat_nf_conntrack(text, source):
    r"""Header of column names, then one row of hex numbers per CPU; columns vary by kernel.

    Rows are summed per column, except `entries` (the same global count on every row), which is
    taken from the first row.

    `cat /proc/net/stat/nf_conntrack` on a lab node with two CPUs:

    >>> text = '''\
    ... entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
    ... 00000004  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
    ... 00000004  00000000 00000000 00000000 00000008 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000  00000000 00000000 00000000 00000000
    ... '''
    >>> stats = parse_proc_net_stat_nf_conntrack(text, "proc/net/stat/nf_conntrack")
    >>> stats["stats"]["entries"], stats["stats"]["invalid"], stats["source"]
    (4, 8, 'proc/net/stat/nf_conntrack:2')
    """
    stats, header, first = {}, None, None
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        fields = line.split()
        if header is None:
            if "entries" in fields and all(_HEADER_WORD.match(field) for field in fields):
                header = fields
            continue
        values = [to_int(field, 16) for field in fields]
        if len(values) != len(header) or None in values:
            continue
        for name, value in zip(header, values):
            if name in _GLOBAL_COLUMNS:
                stats.setdefault(name, value)
            else:
                stats[name] = stats.get(name, 0) + value
        first = first or lineno
    if first is None:
        return {}
    return {"stats": stats, "source": ref(source, first)}


def _single_integer(text, source, field):
    lines, cut = split_lines(text)
    if cut is not None and not lines:
        lines = [cut]  # a one-value file written without its newline is still whole
    for lineno, line in lines:
        value = to_int(line.strip())
        if value is None:
            return {}
        where = ref(source, lineno)
        return {field: value, "source": where, "sources": {field: where}}
    return {}


@parser(Specs.nf_conntrack_count)
def parse_nf_conntrack_count(text, source):
    r"""`/proc/sys/net/netfilter/nf_conntrack_count`: {count, source, sources}.

    The file on a lab node holds `4`:

    >>> parse_nf_conntrack_count("4\n", "proc/sys/net/netfilter/nf_conntrack_count")
    {'count': 4,
     'source': 'proc/sys/net/netfilter/nf_conntrack_count:1',
     'sources': {'count': 'proc/sys/net/netfilter/nf_conntrack_count:1'}}
    """
    return _single_integer(text, source, "count")


@parser(Specs.nf_conntrack_max)
def parse_nf_conntrack_max(text, source):
    r"""`/proc/sys/net/netfilter/nf_conntrack_max`: {max, source, sources}.

    The file on a lab node holds `262144`:

    >>> parse_nf_conntrack_max("262144\n", "proc/sys/net/netfilter/nf_conntrack_max")["max"]
    262144
    """
    return _single_integer(text, source, "max")
