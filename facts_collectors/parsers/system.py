"""Node identity: `uname -a`, `/etc/os-release`, `hostname` -> fields of the facts `node`.

Each parser returns the node fields it found plus `sources` (field -> file:line), the shape of
`node.sources` in the facts schema, or {} when the text holds nothing it recognises.
"""

import re
import shlex

from calirules.facts_collectors.specs import Specs, parser

from ._common import ref, split_lines

_ARCH = re.compile(r"^[A-Za-z0-9_]+$")
# The operating-system word that GNU `uname -a` prints last (`-o`); busybox and Android too.
_OS_WORDS = {"GNU/Linux", "Linux", "Android", "Toybox"}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$")


@parser(Specs.uname)
def parse_uname_a(text, source):
    r"""`Linux <hostname> <release> <version, several words> <machine> [...] GNU/Linux`.

    Returns {kernel: release, hostname, arch, sources}. The version is free text with a variable
    word count, so the release is the third word and the arch is read from the end.

    `uname -a` on a lab node, and on a RHEL 7 host (machine, processor and platform all printed):

    >>> text = '''\
    ... Linux crp-node1 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64 GNU/Linux
    ... '''
    >>> parse_uname_a(text, "sos_commands/kernel/uname_-a")
    {'kernel': '6.18.44-fc-v669',
     'hostname': 'crp-node1',
     'arch': 'x86_64',
     'sources': {'kernel': 'sos_commands/kernel/uname_-a:1',
                 'hostname': 'sos_commands/kernel/uname_-a:1',
                 'arch': 'sos_commands/kernel/uname_-a:1'}}
    >>> rhel7 = '''\
    ... Linux rhel7box 3.10.0-229.el7.x86_64 #1 SMP Mon Mar 3 13:32:45 EST 2014 x86_64 x86_64 x86_64 GNU/Linux
    ... '''
    >>> {key: value for key, value in parse_uname_a(rhel7, "uname_-a").items() if key != "sources"}
    {'kernel': '3.10.0-229.el7.x86_64', 'hostname': 'rhel7box', 'arch': 'x86_64'}
    """
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        fields = line.split()
        if len(fields) < 5 or fields[0] != "Linux":
            continue
        tail = fields[3:]
        while tail and tail[-1] in _OS_WORDS:
            tail.pop()
        if len(tail) < 2 or not _ARCH.match(tail[-1]) or not _HOSTNAME.match(fields[1]):
            continue
        where = ref(source, lineno)
        return {"kernel": fields[2], "hostname": fields[1], "arch": tail[-1],
                "sources": {"kernel": where, "hostname": where, "arch": where}}
    return {}


@parser(Specs.os_release)
def parse_os_release(text, source):
    r"""`/etc/os-release`: {os: PRETTY_NAME (else NAME VERSION), sources}.

    `/etc/os-release` of a Debian 12 node (first lines):

    >>> text = '''\
    ... PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
    ... NAME="Debian GNU/Linux"
    ... VERSION_ID="12"
    ... VERSION="12 (bookworm)"
    ... '''
    >>> parse_os_release(text, "etc/os-release")
    {'os': 'Debian GNU/Linux 12 (bookworm)', 'sources': {'os': 'etc/os-release:1'}}
    """
    values, lines_of = {}, {}
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        key, separator, raw_value = line.strip().partition("=")
        if not separator or not re.match(r"^[A-Z][A-Z0-9_]*$", key):
            continue
        try:
            words = shlex.split(raw_value)  # values are shell-quoted (os-release(5))
        except ValueError:
            continue
        values[key], lines_of[key] = " ".join(words), lineno
    for keys in (("PRETTY_NAME",), ("NAME", "VERSION"), ("NAME",)):
        if all(values.get(key) for key in keys):
            name = " ".join(values[key] for key in keys)
            return {"os": name, "sources": {"os": ref(source, lines_of[keys[0]])}}
    return {}


@parser(Specs.hostname)
def parse_hostname(text, source):
    r"""The `hostname` command's output (or /etc/hostname): {hostname, sources}.

    `hostname` on a lab node:

    >>> text = '''\
    ... crp-node1
    ... '''
    >>> parse_hostname(text, "sos_commands/host/hostname")
    {'hostname': 'crp-node1', 'sources': {'hostname': 'sos_commands/host/hostname:1'}}
    """
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if _HOSTNAME.match(name):
            return {"hostname": name, "sources": {"hostname": ref(source, lineno)}}
        return {}  # the first line is not a host name: not a hostname file
    return {}
