"""Kernel parameters: `sysctl -a` listings and single `/proc/sys/...` files -> `sysctls` facts.

Facts are {key, value, source}. Keys always carry real interface names: procps writes a `.`
inside a path component as `/` (`net.ipv4.conf.vxlan/calico.rp_filter` is the file
`/proc/sys/net/ipv4/conf/vxlan.calico/rp_filter`), and both parsers turn that back into
`net.ipv4.conf.vxlan.calico.rp_filter`, so the two sources give the same key. Values stay the
strings the kernel prints, multi-value entries with their tab separators.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import as_text, ref, split_lines

# The key grammar of the facts schema; anything else on a line is not a sysctl listing.
_KEY = re.compile(r"^[A-Za-z0-9_./:@-]+$")
_PROC_SYS = "proc/sys/"


def dotted_key(procps_key):
    """`net.ipv4.conf.vxlan/calico.rp_filter` -> `net.ipv4.conf.vxlan.calico.rp_filter`.

    A `/` can never be part of a /proc/sys path component, so every `/` in a procps key stands
    for a `.` inside one (an interface name such as `vxlan.calico` or `eth0.100`).

    >>> dotted_key("net.ipv4.conf.vxlan/calico.rp_filter")
    'net.ipv4.conf.vxlan.calico.rp_filter'
    """
    return procps_key.replace("/", ".")


@parser(Specs.sysctl)
def parse_sysctl_a(text, source):
    r"""Parse `sysctl -a` output: `key = value` lines; stderr noise (`sysctl: ...`) is skipped.

    `sysctl -a` on a lab node, run as an unprivileged user (procps writes the `.` of
    `vxlan.calico` as `/` and mixes its permission errors in):

    >>> text = '''\
    ... net.ipv4.conf.vxlan/calico.route_localnet = 0
    ... net.ipv4.conf.vxlan/calico.rp_filter = 2
    ... net.ipv4.conf.vxlan/calico.secure_redirects = 1
    ... sysctl: permission denied on key 'net.ipv4.tcp_fastopen_key'
    ... '''
    >>> for fact in parse_sysctl_a(text, "sos_commands/kernel/sysctl_-a"):
    ...     print(fact["key"], repr(fact["value"]), fact["source"])
    net.ipv4.conf.vxlan.calico.route_localnet '0' sos_commands/kernel/sysctl_-a:1
    net.ipv4.conf.vxlan.calico.rp_filter '2' sos_commands/kernel/sysctl_-a:2
    net.ipv4.conf.vxlan.calico.secure_redirects '1' sos_commands/kernel/sysctl_-a:3
    """
    facts = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        key, separator, value = line.partition(" = ")
        if not separator:
            # `key =` with an empty value: procps prints the separator without a trailing space
            # once the line is stripped by an editor or a collector.
            if not line.endswith(" ="):
                continue
            key, value = line[:-2], ""
        if not _KEY.match(key):
            continue
        facts.append({"key": dotted_key(key), "value": value, "source": ref(source, lineno)})
    return facts


@parser(Specs.proc_sys)
def parse_proc_sys_file(relpath, text):
    r"""Parse one `/proc/sys` file; `relpath` is its path in the bundle, which names the key.

    `proc/sys/net/ipv4/conf/vxlan.calico/rp_filter` holding `2` gives
    [{key: net.ipv4.conf.vxlan.calico.rp_filter, value: "2", source: "<relpath>:1"}].
    Returns [] when the path is not under proc/sys or the file is empty.

    `cat /proc/sys/net/ipv4/conf/vxlan.calico/rp_filter` on a lab node prints `2`:

    >>> parse_proc_sys_file("proc/sys/net/ipv4/conf/vxlan.calico/rp_filter", "2\n")
    [{'key': 'net.ipv4.conf.vxlan.calico.rp_filter',
      'value': '2',
      'source': 'proc/sys/net/ipv4/conf/vxlan.calico/rp_filter:1'}]
    """
    if not isinstance(relpath, str):
        return []
    normalised = relpath.replace("\\", "/")
    position = normalised.rfind(_PROC_SYS)
    if position < 0 or (position > 0 and normalised[position - 1] != "/"):
        return []
    key = normalised[position + len(_PROC_SYS):].strip("/").replace("/", ".")
    if not key or not _KEY.match(key):
        return []
    value = as_text(text)
    if not value:
        return []
    # The kernel ends the value with one newline; a multi-line file keeps its inner newlines.
    value = value[:-1] if value.endswith("\n") else value
    return [{"key": key, "value": value, "source": ref(relpath, 1)}]
