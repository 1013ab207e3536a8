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
    """`Linux <hostname> <release> <version, several words> <machine> [...] GNU/Linux`.

    Returns {kernel: release, hostname, arch, sources}. The version is free text with a variable
    word count, so the release is the third word and the arch is read from the end.
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
    """`/etc/os-release`: {os: PRETTY_NAME (else NAME VERSION), sources}."""
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
    """The `hostname` command's output (or /etc/hostname): {hostname, sources}."""
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if _HOSTNAME.match(name):
            return {"hostname": name, "sources": {"hostname": ref(source, lineno)}}
        return {}  # the first line is not a host name: not a hostname file
    return {}
