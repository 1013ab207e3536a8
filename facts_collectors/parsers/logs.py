"""Log files -> the `log_events` section: known log lines, classified and aggregated.

Readers (each returns records, skips lines outside its grammar and never raises):
  - `parse_cri_log`: CRI container logs (`<RFC3339Nano> <stdout|stderr> <F|P>[:tags] <msg>`, `P`
    partial lines joined with what follows them) and docker json-file lines;
  - `parse_calico_line`: one Calico logrus line (`2025-10-15 16:31:48.522 [INFO][81]
    felix/bpf_ep_mgr.go 595: text`, also without `component/`), optionally behind the UTC
    timestamp `svlogd -ttt` puts in front of every line of `/var/log/calico/<svc>/current`;
  - `parse_journal`: `journalctl --no-pager` short / short-precise / short-iso output (and syslog
    files such as /var/log/messages, which share the format);
  - `parse_dmesg`: `dmesg` (`[ 1234.567890] msg`) and `dmesg -T` (`[Fri Nov 27 09:00:00 2026] msg`).

`classify` matches records against the signature table in `data/log_signatures.yaml` and
returns one `log_events` item per (component, event): `count` matching lines, `first`/`last`
timestamps as written in the log, `message` and `source` (file:line) of the first match.
`log_events_from_file` chains a reader and `classify` for one file.

Truncation: the last line of a cut file (no newline) is never read (`split_lines`), and a CRI
record whose `P` pieces never reach their `F` line is dropped, so half a record cannot pass for a
whole one.
"""

import json
import re
from collections import namedtuple
from functools import lru_cache
from importlib import resources

import yaml
from calirules.facts_collectors.specs import Specs, parser

from ._common import NUMBER, ref, split_lines

MESSAGE_LIMIT = 300
KINDS = ("cri", "calico", "cni", "journal", "dmesg", "plain")
COMPONENTS = frozenset({
    "felix", "confd", "bird", "cni", "calico-node", "kubelet", "kernel", "NetworkManager",
    "firewalld", "systemd-networkd",
})
# Hints a line can carry besides the components: systemd (PID 1) and the container runtimes.
HINTS = COMPONENTS | {"systemd", "container-runtime"}
LEVELS = frozenset({"TRACE", "DEBUG", "INFO", "WARNING", "ERROR", "FATAL", "PANIC"})
# calico-node runs felix, confd and BIRD: a line known only to come from its container may be any.
_UMBRELLA = "calico-node"
_IN_CALICO_NODE = frozenset({"felix", "confd", "bird"})

Signature = namedtuple("Signature", "event component level regex seen_in ref")

# journal identifiers (`.service` dropped) and component names -> hint (keys lower-case)
_HINT_ALIASES = {
    "felix": "felix", "calico-felix": "felix", "confd": "confd", "bird": "bird", "bird6": "bird",
    "cni": "cni", "calico-node": "calico-node", "kubelet": "kubelet", "kernel": "kernel",
    "networkmanager": "NetworkManager", "firewalld": "firewalld", "systemd": "systemd",
    "systemd-networkd": "systemd-networkd", "containerd": "container-runtime",
    "crio": "container-runtime", "cri-o": "container-runtime", "dockerd": "container-runtime",
    "docker": "container-runtime", "container-runtime": "container-runtime",
}
# `component/` prefixes of Calico logrus lines that pin down the writer; others keep the file's hint.
_PREFIX_HINTS = {
    "felix": "felix", "confd": "confd", "startup": "calico-node",
    "tunnel-ip-allocator": "calico-node", "monitor-addresses": "calico-node",
    "status-reporter": "calico-node",
}
_PATH_COMPONENTS = {"felix": "felix", "confd": "confd", "bird": "bird", "bird6": "bird", "cni": "cni"}

_CRI_LINE = re.compile(
    r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([FP])(?::\S*)?"
    r"(?: (.*))?$")
_SVLOGD_PREFIX = re.compile(r"^(@[0-9a-f]{24}|\d{4}-\d{2}-\d{2}[T_]\d{2}:\d{2}:\d{2}(?:\.\d+)?) (.*)$")
_CALICO_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) \[(?P<level>[A-Z]+)\]\[(?P<pid>" + NUMBER + r")\] "
    r"(?:(?P<component>[\w.-]+)/)?(?:[\w.-]+/)*(?P<file>[\w.-]+\.go) (?P<line>" + NUMBER + r"):(?: (?P<msg>.*))?$")
_JOURNAL_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\S{1,5} {1,2}\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)"
    r" (?P<host>\S+) (?P<unit>[^\s\[\]:]+)(?:\[(?P<pid>" + NUMBER + r")\])?:(?: (?P<msg>.*))?$")
_DMESG_LINE = re.compile(
    r"^(?:<\d+>)?\[\s*(?P<time>\d+\.\d+|[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d{2}:\d{2}:\d{2} \d{4})\]"
    r"(?: (?P<msg>.*))?$")
_EVENT_ID = re.compile(r"^[a-z][a-z0-9_]*$")


# --- readers ---------------------------------------------------------------------------------

def parse_cri_log(text, source=None):
    r"""CRI container log (and docker json-file) lines -> [(lineno, time, stream, message)].

    `P` (partial) pieces are joined, without separator, with the following pieces of the same
    stream up to its `F` line; the record keeps the line number and time of its first piece.
    Pieces still waiting for their `F` when the text ends are dropped (a cut record). Docker
    json-file lines lose the trailing newline of `log`. Other lines are skipped.

    Lines in the CRI log format and one in docker's json-file format (the two `P` pieces never
    reach their `F` line, so they are dropped):

    >>> text = '''\
    ... 2016-10-20T18:39:20.57606443Z stdout F cri stdout test log
    ... 2016-10-20T18:39:20.57606443Z stdout P cri stdout partial test log
    ... 2016-10-20T18:39:20.57606443Z stdout P:TAG1:TAG2 cri stdout partial test log
    ... {"log":"docker stdout test log","stream":"stdout","time":"2016-10-20T18:39:20.57606443Z"}
    ... '''
    >>> parse_cri_log(text)
    [(1, '2016-10-20T18:39:20.57606443Z', 'stdout', 'cri stdout test log'),
     (4, '2016-10-20T18:39:20.57606443Z', 'stdout', 'docker stdout test log')]
    """
    records = []
    pending = {}  # stream -> [lineno, time, pieces]
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        match = _CRI_LINE.match(line)
        if match:
            time, stream, tag, message = match.group(1), match.group(2), match.group(3), match.group(4) or ""
            partial = pending.get(stream)
            if tag == "P":
                if partial is None:
                    pending[stream] = [lineno, time, [message]]
                else:
                    partial[2].append(message)
            elif partial is None:
                records.append((lineno, time, stream, message))
            else:
                del pending[stream]
                records.append((partial[0], partial[1], stream, "".join(partial[2]) + message))
            continue
        docker = _docker_json_line(line)
        if docker is not None:
            records.append((lineno,) + docker)
    records.sort(key=lambda record: record[0])
    return records


def _docker_json_line(line):
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("log"), str):
        return None
    time, stream = entry.get("time"), entry.get("stream")
    message = entry["log"][:-1] if entry["log"].endswith("\n") else entry["log"]
    return (time if isinstance(time, str) else None, stream if isinstance(stream, str) else "",
            message.rstrip("\r"))


def parse_calico_line(message):
    """One Calico logrus line -> {time, level, pid, component, file, line, msg}, or None.

    `component` is None for the older lines written without `component/`. An `svlogd -ttt` (or
    `-tt`, tai64n `-t`) timestamp in front of the line is skipped; `time` is Calico's own.

    A Felix line, and an older one without the `felix/` prefix:

    >>> parse_calico_line("2025-10-15 16:31:48.522 [INFO][81] felix/bpf_ep_mgr.go 595: tcx is not supported. Falling back to tc")
    {'time': '2025-10-15 16:31:48.522',
     'level': 'INFO',
     'pid': 81,
     'component': 'felix',
     'file': 'bpf_ep_mgr.go',
     'line': 595,
     'msg': 'tcx is not supported. Falling back to tc'}
    >>> parse_calico_line("2020-08-26 12:26:29.025 [INFO][7] daemon.go 182: …")["component"] is None
    True
    """
    if not isinstance(message, str):
        return None
    match = _CALICO_LINE.match(message)
    if not match:
        prefixed = _SVLOGD_PREFIX.match(message)
        match = _CALICO_LINE.match(prefixed.group(2)) if prefixed else None
        if not match:
            return None
    return {
        "time": match.group("time"), "level": match.group("level"), "pid": int(match.group("pid")),
        "component": match.group("component"), "file": match.group("file"),
        "line": int(match.group("line")), "msg": match.group("msg") or "",
    }


def parse_journal(text, source=None):
    r"""`journalctl --no-pager` short output -> [(lineno, time, unit, message)].

    Reads `Nov 27 09:00:00 host unit[pid]: message`, `kernel:` lines (no pid), the short-precise
    (`09:00:00.123456`) and short-iso (`2026-11-27T09:00:00+0100`) forms. `unit` is the syslog
    identifier as written. `-- Logs begin ...`/`-- Boot ...` markers and indented continuation
    lines are outside the grammar and skipped.

    `journalctl --no-pager` (systemd 252):

    >>> text = '''\
    ... Dec 03 09:00:00 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:01 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:05 lab-node systemd[1]: Started firewalld.service - firewalld - dynamic firewall daemon.
    ... '''
    >>> parse_journal(text)
    [(1, 'Dec 03 09:00:00', 'kernel', 'nf_conntrack: table full, dropping packet'),
     (2, 'Dec 03 09:00:01', 'kernel', 'nf_conntrack: table full, dropping packet'),
     (3,
      'Dec 03 09:00:05',
      'systemd',
      'Started firewalld.service - firewalld - dynamic firewall daemon.')]
    """
    records = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        if line.startswith("-- "):
            continue
        match = _JOURNAL_LINE.match(line)
        if match:
            records.append((lineno, match.group("time"), match.group("unit"), match.group("msg") or ""))
    return records


def parse_dmesg(text, source=None):
    r"""`dmesg` / `dmesg -T` output -> [(lineno, time, message)]; `time` as written
    (`1234.567890` or `Fri Nov 27 09:00:00 2026`). Lines without a timestamp are skipped.

    `dmesg` and `dmesg -T` (kernel 6.18), the same last line:

    >>> text = '''\
    ... [  941.079409] crpbr0: port 1(crptap0) entered disabled state
    ... '''
    >>> parse_dmesg(text)
    [(1, '941.079409', 'crpbr0: port 1(crptap0) entered disabled state')]
    >>> text = '''\
    ... [Fri Nov 27 09:24:50 2026] crpbr0: port 1(crptap0) entered disabled state
    ... '''
    >>> parse_dmesg(text)
    [(1, 'Fri Nov 27 09:24:50 2026', 'crpbr0: port 1(crptap0) entered disabled state')]
    """
    records = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        match = _DMESG_LINE.match(line)
        if match:
            records.append((lineno, match.group("time"), match.group("msg") or ""))
    return records


# --- signatures and classification -------------------------------------------------------------

@lru_cache(maxsize=None)
def signatures():
    """The signature table, loaded and compiled once. Raises ValueError if the packaged file is
    malformed (a packaging bug, caught by the tests; not something log input can cause).

    >>> [(signature.event, signature.level) for signature in signatures() if signature.component == "kernel"]
    [('conntrack_table_full', None)]
    """
    path = resources.files("calirules.facts_collectors").joinpath("data/log_signatures.yaml")
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError("log_signatures.yaml: expected a list of signatures")
    return tuple(_signature(number, entry) for number, entry in enumerate(entries, start=1))


def _signature(number, entry):
    where = f"log_signatures.yaml entry {number}"
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: not a mapping")
    unknown = set(entry) - {"event", "component", "match", "level", "seen_in", "ref"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    event, component, level = entry.get("event"), entry.get("component"), entry.get("level")
    if not isinstance(event, str) or not _EVENT_ID.match(event):
        raise ValueError(f"{where}: bad event id {event!r}")
    if component not in COMPONENTS:
        raise ValueError(f"{where} ({event}): unknown component {component!r}")
    if level is not None and level not in LEVELS:
        raise ValueError(f"{where} ({event}): unknown level {level!r}")
    if not isinstance(entry.get("ref"), str) or not entry["ref"].strip():
        raise ValueError(f"{where} ({event}): missing ref")
    try:
        regex = re.compile(entry.get("match"))
    except (re.error, TypeError) as exc:
        raise ValueError(f"{where} ({event}): bad match: {exc}") from None
    seen_in = entry.get("seen_in") or [component]
    if not isinstance(seen_in, list) or not set(seen_in) <= HINTS:
        raise ValueError(f"{where} ({event}): bad seen_in {seen_in!r}")
    seen_in = set(seen_in)
    if seen_in & _IN_CALICO_NODE:
        seen_in.add(_UMBRELLA)
    return Signature(event, component, level, regex, frozenset(seen_in), entry["ref"])


def normalize_hint(hint):
    """A journal identifier, file-derived name or component -> a known hint, or None (unknown:
    signatures then match on the text alone).

    >>> normalize_hint("NetworkManager.service"), normalize_hint("containerd"), normalize_hint("k3s")
    ('NetworkManager', 'container-runtime', None)
    """
    return _normalize_hint(hint) if isinstance(hint, str) else None


@lru_cache(maxsize=4096)
def _normalize_hint(hint):
    name = hint.strip().lower()
    if name.endswith(".service"):
        name = name[:-len(".service")]
    return _HINT_ALIASES.get(name)


def classify(records, source, default_component=None, seen=None):
    r"""[(lineno, time, component_hint, message)] -> `log_events` items.

    A message that is a Calico logrus line is matched on its text after `file.go line: `; its
    level, its own timestamp and (for felix/confd/startup lines) its `component/` prefix are
    used. Otherwise the record's time and hint are used; a record without a hint takes
    `default_component`. A signature matches only lines whose hint is one of its `seen_in` when
    the hint is known; unknown hints (e.g. a `k3s` journal identifier) do not restrict.

    `seen` (a dict, shared across files by the caller) counts a journal/syslog line once: a
    matching record whose (time to the second, hint, message) another file already had is
    skipped, so the same line in the full journal, a per-unit journal and /var/log/messages adds
    one (repeats within one file all count).

    One item per (component, event), in order of first match: `count` = matching lines,
    `first`/`last` = first/last timestamp seen on them, `message` (trimmed to MESSAGE_LIMIT
    characters), `level` (the line's, else the signature's) and `source` of the first match.

    `journalctl --no-pager` (systemd 252): two kernel lines of one event, one of another:

    >>> text = '''\
    ... Dec 03 09:00:00 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:01 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:05 lab-node systemd[1]: Started firewalld.service - firewalld - dynamic firewall daemon.
    ... '''
    >>> items = classify(parse_journal(text), "sos_commands/logs/journalctl_--no-pager")
    >>> [(item["component"], item["event"], item["count"], item["first"], item["last"]) for item in items]
    [('kernel', 'conntrack_table_full', 2, 'Dec 03 09:00:00', 'Dec 03 09:00:01'),
     ('firewalld', 'firewalld_started', 1, 'Dec 03 09:00:05', 'Dec 03 09:00:05')]
    >>> items[0]["message"], items[0]["source"]
    ('nf_conntrack: table full, dropping packet', 'sos_commands/logs/journalctl_--no-pager:1')
    """
    table = signatures()
    default_hint = normalize_hint(default_component)
    found = {}  # (component, event) -> state
    by_hint = {}  # hint -> the signatures that may match its lines
    for record in records or ():
        if not isinstance(record, (tuple, list)) or len(record) != 4:
            continue
        lineno, time, hint, message = record
        if not isinstance(message, str) or not message.strip():
            continue
        raw_hint = hint
        hint = normalize_hint(hint) or default_hint
        level = None
        calico = parse_calico_line(message)
        if calico is not None:
            message, level, time = calico["msg"], calico["level"], calico["time"]
            hint = _PREFIX_HINTS.get(calico["component"], hint)
        entry = by_hint.get(hint)
        if entry is None:
            candidates = tuple(signature for signature in table if hint is None or hint in signature.seen_in)
            # one pass over the line tells whether any candidate can match (most lines: none)
            any_of = re.compile("|".join(f"(?:{s.regex.pattern})" for s in candidates)) if candidates else None
            entry = by_hint[hint] = (candidates, any_of)
        candidates, any_of = entry
        if any_of is None or not any_of.search(message):
            continue
        matched_events = set()
        for signature in candidates:
            if signature.event in matched_events or not signature.regex.search(message):
                continue
            if not matched_events and seen is not None:
                key = _line_key(time, raw_hint, message)
                if key is not None and seen.setdefault(key, source) != source:
                    break  # already counted from another file
            matched_events.add(signature.event)
            key = (signature.component, signature.event)
            state = found.get(key)
            if state is None:
                state = found[key] = {
                    "level": level or signature.level, "message": _trim(message),
                    "source": ref(source, lineno), "count": 0, "first": None, "last": None,
                }
            state["count"] += 1
            if isinstance(time, str) and time:
                state["first"] = state["first"] or time
                state["last"] = time
    return [_item(component, event, state) for (component, event), state in found.items()]


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SHORT_TIME = re.compile(r"^([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d{2}:\d{2}:\d{2})")
_ISO_TIME = re.compile(r"^\d{4}-(\d{2})-(\d{2})[T ](\d{2}:\d{2}:\d{2})")


def _line_key(time, hint, message):
    """What identifies one journal/syslog line in any of its copies: month, day and second of its
    (local) timestamp, the identifier and the text. journalctl short (`Nov 01 10:00:00`), classic
    syslog (`Nov  1 10:00:00`) and short-iso/RFC 3339 syslog (`2026-11-01T10:00:00.123+00:00`)
    of one line give one key. None without a timestamp (such lines are never merged)."""
    if not isinstance(time, str):
        return None
    match = _SHORT_TIME.match(time)
    if match:
        stamp = (match.group(1), int(match.group(2)), match.group(3))
    else:
        match = _ISO_TIME.match(time)
        if not match or not 1 <= int(match.group(1)) <= 12:
            return None
        stamp = (_MONTHS[int(match.group(1)) - 1], int(match.group(2)), match.group(3))
    return stamp + (str(hint or "").lower(), message.strip())


def _item(component, event, state):
    item = {"component": component, "event": event}
    if state["level"]:
        item["level"] = state["level"]
    item["message"] = state["message"]
    item["count"] = state["count"]
    if state["first"]:
        item["first"], item["last"] = state["first"], state["last"]
    item["source"] = state["source"]
    return item


def _trim(message):
    message = message.strip()
    if len(message) > MESSAGE_LIMIT:
        return message[:MESSAGE_LIMIT - 3] + "..."
    return message


# --- one file ----------------------------------------------------------------------------------

def component_from_path(source):
    """`/var/log/calico/felix/current`, `diagnostics/logs/bird6/current` -> felix / bird; a
    file that names none of felix, confd, bird(6), cni -> calico-node.

    >>> component_from_path("var/log/calico/felix/current"), component_from_path("diagnostics/logs/bird6/current")
    ('felix', 'bird')
    >>> component_from_path("var/log/calico/calico-node.log")
    'calico-node'
    """
    if isinstance(source, str):
        for part in reversed(re.split(r"[\\/]", source)[:-1]):
            if part.lower() in _PATH_COMPONENTS:
                return _PATH_COMPONENTS[part.lower()]
    return "calico-node"


@parser(Specs.logs, Specs.ipset_list)
def log_events_from_file(text, source, kind, component=None, seen=None):
    r"""Classify one log file; `kind` says how to read it:

      cri      container log under /var/log/pods or /var/log/containers (default component
               calico-node: the calico-node container runs felix, confd and BIRD);
      calico   a plain Calico log: /var/log/calico/<svc>/current (svlogd prefix optional),
               calicoctl node diags `logs/<svc>/current`, `kubectl logs` output (component
               from the path, see component_from_path);
      cni      the CNI plugin log /var/log/calico/cni/cni.log;
      journal  journalctl --no-pager output or a syslog file (hint = syslog identifier);
      dmesg    dmesg / dmesg -T (hint = kernel);
      plain    one message per line, no timestamps (e.g. kubelet event messages).

    `component` overrides the default hint; `seen` is passed to classify for journal lines
    (duplicates across journal and syslog files). An unknown kind gives [].

    `journalctl --no-pager` (systemd 252):

    >>> text = '''\
    ... Dec 03 09:00:00 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:01 lab-node kernel: nf_conntrack: table full, dropping packet
    ... Dec 03 09:00:05 lab-node systemd[1]: Started firewalld.service - firewalld - dynamic firewall daemon.
    ... '''
    >>> [(e["component"], e["event"], e["count"], e["first"], e["last"])
    ...  for e in log_events_from_file(text, "sos_commands/logs/journalctl_--no-pager", "journal")]
    [('kernel', 'conntrack_table_full', 2, 'Dec 03 09:00:00', 'Dec 03 09:00:01'),
     ('firewalld', 'firewalld_started', 1, 'Dec 03 09:00:05', 'Dec 03 09:00:05')]

    A Felix message (its iptables backend check), read as a plain felix log:

    >>> text = '''\
    ... Iptables backend specified does not match the detected backend, using specified backend
    ... '''
    >>> [(e["component"], e["event"], e["message"]) for e in log_events_from_file(text, "felix.log", "plain", "felix")]
    [('felix',
      'felix_iptables_backend_mismatch',
      'Iptables backend specified does not match the detected backend, using specified backend')]
    """
    if kind == "cri":
        records = [(lineno, time, None, message) for lineno, time, _stream, message in parse_cri_log(text)]
        default = component or "calico-node"
    elif kind in ("calico", "cni"):
        records = _svlogd_records(text)
        default = component or ("cni" if kind == "cni" else component_from_path(source))
    elif kind == "journal":
        return classify(parse_journal(text), source, component, seen)
    elif kind == "dmesg":
        records = [(lineno, time, "kernel", message) for lineno, time, message in parse_dmesg(text)]
        default = "kernel"
    elif kind == "plain":
        lines, _cut = split_lines(text)
        records, default = [(lineno, None, None, line) for lineno, line in lines], component
    else:
        return []
    return classify(records, source, default)


def _svlogd_records(text):
    """Lines of a Calico log file: the svlogd timestamp, when present, becomes the record's time
    (Calico's own timestamp still wins in classify for logrus lines)."""
    records = []
    lines, _cut = split_lines(text)
    for lineno, line in lines:
        prefixed = _SVLOGD_PREFIX.match(line)
        if prefixed:
            records.append((lineno, prefixed.group(1), None, prefixed.group(2)))
        else:
            records.append((lineno, None, None, line))
    return records
