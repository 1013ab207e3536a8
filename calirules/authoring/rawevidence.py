"""A rule test's `raw:` evidence -> dump sections, read as a bundle is read.

`raw` maps what the engineer ran (`sysctl -a`, `iptables-legacy-save -c`, or a file as
`/proc/modules`) to what it printed. Each key is looked up among the collectors' specs; its output
is placed where a live collection would have written it, and the real bundle reader (the same
parsers and the same combining a sosreport goes through) reads the lot. Provenance then names the
raw key and the line in its output (`sysctl -a:12`), not a bundle path the test never had.

Only the sections the raw output filled are returned: a reader given nothing still writes a few
(a hostname `unknown`, an empty version list), and those must not hide the test base's.
"""

from functools import lru_cache

from calirules.facts_collectors import specs
from calirules.facts_collectors.bundle import BundleReader
from calirules.facts_collectors.source import MAX_FILE_BYTES, EvidenceSource

_NOT_EVIDENCE = ("apiVersion", "kind", "collection")


class RawEvidence(EvidenceSource):
    """Raw outputs held in memory under their bundle paths."""

    label = "rule test"

    def __init__(self, contents):
        self.contents = contents  # bundle path -> bytes
        self.notes = []

    def files(self):
        return list(self.contents)

    def read_bytes(self, relpath, max_bytes=MAX_FILE_BYTES):
        data = self.contents.get(str(relpath).lstrip("/"))
        return None if data is None else data[-max_bytes:]


class UnknownRawKey(LookupError):
    def __init__(self, key):
        super().__init__(key)
        self.key = key


def known_keys():
    """What a `raw:` key may name: the command line or the file (/path) of every spec that one
    bundle path holds (not those found by pattern, like logs)."""
    return sorted({spec.command_line or spec.file for spec in specs.all_specs()
                   if (spec.command or spec.file) and not spec.patterns and spec.paths})


def sections_from_raw(raw):
    """{section: value} the bundle reader makes of the raw outputs; UnknownRawKey for a key no
    spec collects."""
    contents, names = {}, {}
    for key, output in raw.items():
        spec = specs.find_spec(key)
        if spec is None or not spec.paths:
            raise UnknownRawKey(key)
        path = spec.paths[0]  # where a live collection writes it
        contents[path] = output.encode("utf-8")
        names[path] = " ".join(key.split())
    dump = BundleReader(RawEvidence(contents)).read()
    nothing = _reading_of_nothing()  # not to be changed: shared by every test
    sections = {name: value for name, value in dump.items()
                if name not in _NOT_EVIDENCE and value != nothing.get(name)}
    if "node" in sections:  # only the fields the raw output gave (uname -a has no OS name)
        sections["node"] = {k: v for k, v in sections["node"].items() if v != nothing["node"].get(k)}
    return _renamed(sections, names)


@lru_cache(maxsize=None)
def _reading_of_nothing():
    return BundleReader(RawEvidence({})).read()


def _renamed(value, names):
    """`value` with every provenance string (`bundle/path` or `bundle/path:line`) naming the raw
    key instead (`sysctl -a` or `sysctl -a:12`)."""
    if isinstance(value, dict):
        return {k: _renamed(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, names) for v in value]
    if isinstance(value, str):
        path, colon, line = value.partition(":")
        if path in names and (not colon or line.isdigit()):
            return names[path] + colon + line
    return value
