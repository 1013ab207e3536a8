"""Loaded kernel modules: `lsmod` and `/proc/modules` -> `kernel_modules` facts.

Each fact is {name, state: "loaded", source}. Built-in modules appear in neither file (they are
in `modules.builtin`), so a module missing here may still be compiled into the kernel.
"""

import re

from calirules.facts_collectors.specs import Specs, parser

from ._common import ref, split_lines, to_int

_MODULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
# /proc/modules states (kernel/module/procfs.c): a module being unloaded is on its way out.
_PRESENT_STATES = {"Live", "Loading"}


def _fact(name, source, lineno):
    return {"name": name, "state": "loaded", "source": ref(source, lineno)}


@parser(Specs.proc_modules, paths=("sos_commands/kernel/lsmod",))
def parse_lsmod(text, source):
    r"""`Module  Size  Used by` header, then `name size count [users,...]` (columns not aligned).

    `lsmod` (columns stop lining up after a long name):

    >>> text = '''\
    ... Module                  Size  Used by
    ... xt_CHECKSUM            12549  1
    ... ipt_MASQUERADE         12678  3
    ... nf_nat_masquerade_ipv4    13412  1 ipt_MASQUERADE
    ... '''
    >>> [(module["name"], module["source"]) for module in parse_lsmod(text, "sos_commands/kernel/lsmod")]
    [('xt_CHECKSUM', 'sos_commands/kernel/lsmod:2'),
     ('ipt_MASQUERADE', 'sos_commands/kernel/lsmod:3'),
     ('nf_nat_masquerade_ipv4', 'sos_commands/kernel/lsmod:4')]
    """
    modules = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        fields = line.split()
        if len(fields) < 3 or not _MODULE_NAME.match(fields[0]):
            continue  # the header (`Module Size Used by`), errors, junk
        if to_int(fields[1]) is None or (to_int(fields[2]) is None and fields[2] != "-"):
            continue
        modules.append(_fact(fields[0], source, lineno))
    return modules


@parser(Specs.proc_modules)
def parse_proc_modules(text, source):
    r"""`name size refcount deps state address [taints]`, e.g. `vxlan 53248 0 - Live 0x0`.

    On a kernel without loadable modules the file is missing; what a collector keeps then is the
    error, which holds no module:

    >>> text = '''\
    ... cat: /proc/modules: No such file or directory
    ... '''
    >>> parse_proc_modules(text, "proc/modules")
    []
    """
    modules = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        fields = line.split()
        if len(fields) < 6 or not _MODULE_NAME.match(fields[0]) or to_int(fields[1]) is None:
            continue
        if fields[4] not in _PRESENT_STATES or not fields[5].startswith("0x"):
            continue
        modules.append(_fact(fields[0], source, lineno))
    return modules
