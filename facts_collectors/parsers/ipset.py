"""`ipset list` output -> IP sets and ipset's own error messages.

The format (ipset's list_set(), quoted in Felix's felix/ipsets/ipsets.go) is one block per set:

    Name: cali40all-hosts-net
    Type: hash:net
    Revision: 6
    Header: family inet hashsize 1024 maxelem 1048576
    Size in memory: 504
    References: 2
    Number of entries: 1        (ipset >= 6.22)
    Members:
    192.168.56.198

with a blank line between sets. Members may carry options after the element (`timeout 0`,
`nomatch`, `packets N bytes N`, `comment "..."`). The result is plain dicts, not a facts dump
section (the schema has none for IP sets yet).

`ipset list` fails as a whole when the userspace tool cannot read a set the kernel holds, which
is how Calico's ipset-incompatibility problem shows (calico#5011, #8372): it prints
`ipset v7.11: Kernel and userspace incompatible: settype hash:ip with revision 6 not supported by
userspace.` (or, for an older tool, `Kernel support protocol versions 6-7 while userspace
supports protocol versions 6-6`). Those lines are returned as `errors`: they are evidence, not
noise. Other lines outside the grammar (stderr merged by sos or calicoctl) are skipped.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import ref, split_lines, to_int

_FIELD = re.compile(r"^(Name|Type|Revision|Header|Size in memory|References|Number of entries"
                    r"|Members):\s*(.*?)\s*$")
_INT_FIELDS = {"Revision": "revision", "Size in memory": "size_in_memory",
               "References": "references", "Number of entries": "entries"}

_ERROR_MARKERS = ("Kernel and userspace incompatible", "Kernel support protocol versions")
_IPSET_MESSAGE = re.compile(r"^ipset v\d+(?:\.\d+)*: \S")
# An element: address, network, range, `ip,proto:port`, `net,iface`, MAC.
_ELEMENT = re.compile(r"^[0-9A-Za-z_.:/,@%\[\]-]+$")
_OPTION_WORDS = {"timeout", "nomatch", "packets", "bytes", "skbmark", "skbprio", "skbqueue"}
_OPTION_VALUE = re.compile(r"^(?:\d+|0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?|[0-9a-fA-F]+:[0-9a-fA-F]+)$")

_SET_FIELDS = ("name", "type", "revision", "header", "size_in_memory", "references", "entries",
               "members", "nomatch", "source")


def _is_error(line):
    return any(marker in line for marker in _ERROR_MARKERS) or bool(_IPSET_MESSAGE.match(line))


def _member(line):
    """(element, is_nomatch) from a member line, or None when the line is not one."""
    tokens = line.split()
    if not tokens or not _ELEMENT.match(tokens[0]):
        return None
    options = tokens[1:]
    if "comment" in options:  # the comment is a quoted string that may hold anything
        options = options[:options.index("comment")]
    for option in options:
        if option not in _OPTION_WORDS and not _OPTION_VALUE.match(option):
            return None
    return tokens[0], "nomatch" in options


@parser(Specs.ipset_list)
def parse_ipset_list(text, source):
    r"""Parse `ipset list` (or `ipset --list`, `ipset list <name>`).

    Returns {"sets": [...], "errors": [...]}. Each set: {name, type, revision, header,
    size_in_memory, references, entries, members, nomatch, source}: `entries` only when ipset
    printed `Number of entries`, `members` the elements without their options, `nomatch` (the
    elements flagged nomatch, i.e. excluded from the set) only when there are any, `source` the
    `Name:` line. Integer fields that are missing or unreadable are left out. Each error:
    {message, source}. A set the file was cut inside of is dropped (its members may be missing).

    `ipset list` (ipset 7.17) after creating two Felix-named sets:

    >>> text = '''\
    ... Name: cali40all-hosts-net
    ... Type: hash:net
    ... Revision: 7
    ... Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xe1e35f05
    ... Size in memory: 552
    ... References: 0
    ... Number of entries: 2
    ... Members:
    ... 198.18.0.12
    ... 198.18.0.11
    ...
    ... Name: cali40this-host
    ... Type: hash:ip
    ... Revision: 6
    ... Header: family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0xc4e1de7e
    ... Size in memory: 256
    ... References: 0
    ... Number of entries: 1
    ... Members:
    ... 198.18.0.10
    ... '''
    >>> result = parse_ipset_list(text, "sos_commands/sos_extras/calico/ipset_list")
    >>> [(s["name"], s["type"], s["revision"], s["members"], s["source"]) for s in result["sets"]]
    [('cali40all-hosts-net',
      'hash:net',
      7,
      ['198.18.0.12', '198.18.0.11'],
      'sos_commands/sos_extras/calico/ipset_list:1'),
     ('cali40this-host', 'hash:ip', 6, ['198.18.0.10'], 'sos_commands/sos_extras/calico/ipset_list:12')]
    >>> result["errors"]
    []

    When the tool cannot read a set the kernel holds, the error is what the file says (ipset
    7.1 against a newer kernel):

    >>> text = '''\
    ... ipset v7.1: Kernel and userspace incompatible: settype hash:ip,port with revision 6 not supported by userspace.
    ... '''
    >>> parse_ipset_list(text, "ipset_list")
    {'sets': [],
     'errors': [{'message': 'ipset v7.1: Kernel and userspace incompatible: settype hash:ip,port with revision 6 not supported by userspace.',
     'source': 'ipset_list:1'}]}
    """
    sets, errors = [], []
    lines, cut = split_lines(text)
    current, in_members = None, False
    for lineno, line in lines:
        stripped = line.strip()
        if not stripped:
            if current is not None:
                _close(current, sets)
            current, in_members = None, False
            continue
        if _is_error(stripped):
            errors.append({"message": stripped, "source": ref(source, lineno)})
            continue
        field = _FIELD.match(stripped)
        if field:
            name, value = field.groups()
            if name == "Name":
                if current is not None:
                    _close(current, sets)
                current = {"name": value, "source": ref(source, lineno)} if value else None
                in_members = False
            elif current is not None:
                in_members = _read_field(current, name, value)
            continue
        if current is not None and in_members:
            member = _member(stripped)
            if member is not None:
                element, nomatch = member
                current["members"].append(element)
                if nomatch:
                    current.setdefault("nomatch", []).append(element)
    if current is not None and cut is None:
        _close(current, sets)
    return {"sets": sets, "errors": errors}


def _read_field(current, name, value):
    """Store one `Key: value` line of a set; returns whether the member list starts."""
    if name == "Members":
        current["members"] = []
        return True
    if name == "Type":
        current["type"] = value
    elif name == "Header":
        current["header"] = value
    elif name in _INT_FIELDS:
        number = to_int(value)
        if number is not None:
            current[_INT_FIELDS[name]] = number
    return False


def _close(current, sets):
    if current.get("type"):
        current.setdefault("members", [])
        sets.append({key: current[key] for key in _SET_FIELDS if key in current})


def calico_ipsets(sets):
    """The sets Felix owns: `cali40*` (IPv4) and `cali60*` (IPv6), e.g. `cali40all-ipam-pools`.

    Takes the dict parse_ipset_list returns, or its `sets` list.

    >>> sets = [{"name": "cali40all-hosts-net"}, {"name": "KUBE-CLUSTER-IP"}, {"name": "cali60this-host"}]
    >>> [item["name"] for item in calico_ipsets(sets)]
    ['cali40all-hosts-net', 'cali60this-host']
    """
    if isinstance(sets, dict):
        sets = sets.get("sets")
    if not isinstance(sets, (list, tuple)):
        return []
    return [item for item in sets
            if isinstance(item, dict) and str(item.get("name", "")).startswith(("cali40", "cali60"))]
