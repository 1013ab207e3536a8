"""The `calirules` command line: thin click commands over the pipeline.

Exit status (a contract scripts rely on): 0 no cause found, 1 at least one cause found (confidence >=
0.5; `diagnose --fail-on` narrows which), 2 bad usage or unreadable/invalid input, 130 interrupted
(Ctrl-C). Input errors are one line on stderr, never a
traceback; set CALIRULES_DEBUG=1 to see one for internal errors.
"""

import gc
import importlib
import os
import re
import stat
import sys

import click

from calirules import __version__
from calirules.base.errors import InputError
from calirules.report.output import output_format, write_output

EXIT_OK, EXIT_FOUND, EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
SYMPTOMS = ("same-node", "host-to-pod", "cross-node", "egress", "pod-startup")


# Characters an error line must not carry raw: they come from the input (a key, a file name) and
# would move the cursor, recolour the terminal or split the one line into several.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _printable(message):
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        message)


def _fail(message):
    click.echo(f"calirules: error: {_printable(message)}", err=True)
    sys.exit(EXIT_BAD_INPUT)


class _Path(click.Path):
    """A path option or argument that names a regular file (or, where allowed, a directory), told
    by stat before anything opens it: opening a fifo waits for a writer (or reader) forever, and a
    device reads without end. A path that does not exist is click.Path's to judge."""

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if value == "-" and self.allow_dash:
            return value
        try:
            mode = os.stat(value).st_mode
        except FileNotFoundError:
            return value
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}", value) from None
        if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
            return value  # click.Path has already refused a file or a directory where it is not wanted
        wanted = "a regular file or a directory" if self.dir_okay and self.file_okay else \
            "a directory" if self.dir_okay else "a regular file"
        raise InputError(f"not {wanted} (a device, fifo or socket)", value)


# Commands imported only when named (or listed by --help): the root-only fault lab's modules were a
# third of the start-up of every diagnosis.
_OPTIONAL_COMMANDS = {"lab": "calirules.lab.cli",
                      "k8s": "calirules.k8s.cli",
                      "fleet": "calirules.fleet.cli"}


class _MainGroup(click.Group):
    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *(name for name in _OPTIONAL_COMMANDS if self._optional(name))})

    def get_command(self, ctx, name):
        return super().get_command(ctx, name) or self._optional(name)

    @staticmethod
    def _optional(name):
        try:
            return getattr(importlib.import_module(_OPTIONAL_COMMANDS[name]), name)
        except (KeyError, ImportError):
            return None


@click.group(cls=_MainGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="calirules")
def main_group():
    """Explain why pods on a Calico node cannot reach each other, and what to do about it."""


CORE_SECTIONS = {"interfaces": "network interfaces (ip address / ip link)", "routes": "routes (ip route)",
                 "sysctls": "sysctls (sysctl -a or proc/sys)"}


def _require_core_evidence(loaded, kind):
    """A source holding none of the core evidence is not a node's state: refuse it (exit 2)
    rather than report a healthy node."""
    for dump, label in loaded:
        if not any(dump.get(section) for section in CORE_SECTIONS):
            what = "not a sosreport or diags bundle" if kind == "bundle" else "not a node's facts"
            raise InputError(f"{what}: found none of {', '.join(CORE_SECTIONS.values())}", label)
    return loaded


def _load_facts(facts_path, sosreport, live, netns, raw_dir=None, node=None, require_core=True):
    """[(facts dump, label)] from whichever source was given: one per node of a cluster diags bundle."""
    loaded = _read_sources(facts_path, sosreport, live, netns, raw_dir, node)
    if not require_core:
        return loaded
    return _require_core_evidence(loaded, "facts" if facts_path else "live" if live else "bundle")


def _read_sources(facts_path, sosreport, live, netns, raw_dir=None, node=None):
    sources = [s for s in (facts_path and "--facts", sosreport and "--sosreport", live and "--live") if s]
    if len(sources) != 1:
        _fail("give exactly one of --facts FILE, --sosreport PATH, --live")
    if netns and not live:
        _fail("--netns goes with --live")
    if raw_dir and not live:
        _fail("--raw-dir goes with --live")
    if node and not sosreport:
        _fail("--node goes with --bundle (a calicoctl cluster diags bundle)")
    if facts_path:
        from calirules.facts_collectors.dump import load_dump
        return [(load_dump(facts_path), facts_path)]
    if live:
        from calirules.facts_collectors.live import collect_live
        return [(collect_live(netns, raw_dir), f"live:{netns}" if netns else "live")]
    from calirules.facts_collectors import cluster_diags
    from calirules.facts_collectors.archive import open_source
    from calirules.facts_collectors.bundle import read_bundle
    source = open_source(sosreport)
    if not cluster_diags.is_cluster_diags(source):
        return [(read_bundle(source, label=sosreport), sosreport)]
    nodes = cluster_diags.node_names(source)
    if node:
        if node not in nodes:
            raise InputError(f"no node {node!r} in this cluster diags bundle (nodes: {', '.join(nodes) or 'none'})",
                             sosreport)
        nodes = [node]
    if not nodes:
        raise InputError("calicoctl cluster diags bundle without per-node data (nodes/<node>/)", sosreport)
    return [(read_bundle(cluster_diags.ClusterNodeSource(source, name), label=f"{sosreport} (node {name})"),
             f"{sosreport} (node {name})") for name in nodes]


_PROBE_ENDPOINT = "a pod IP, a cali* interface or a pod network namespace name"
TRACE_HELP = ("Also trace the kernel's drop reasons: switches the skb:kfree_skb tracepoint on for the probe "
              "and back to its previous state on exit (also on Ctrl-C). Without it nothing but the probe "
              "packets touches the node.")


def _probe_options(command):
    for option in reversed([
        click.option("--proto", default="icmp", show_default=True, metavar="icmp|tcp:PORT|udp:PORT",
                     help="What to send: ICMP echo, a TCP SYN or a UDP datagram to PORT."),
        click.option("--count", default=3, show_default=True, type=int, help="How many probes."),
        click.option("--size", type=int, help="IP packet size of each probe (bytes); with --df, tests the MTU."),
        click.option("--df", "dont_fragment", is_flag=True, help="Set Don't Fragment (path MTU test)."),
        click.option("--trace", "trace_drops", is_flag=True, help=TRACE_HELP),
    ]):
        command = option(command)
    return command


def _run_probe(src, dst, netns, proto, count, size, dont_fragment, trace):
    from calirules.facts_collectors.probe.run import parse_proto, probe
    protocol, port = parse_proto(proto)
    return probe(src, dst, node_netns=netns, proto=protocol, port=port, count=count, size=size,
                 dont_fragment=dont_fragment, trace=trace)


@main_group.command()
@click.option("--facts", "facts_path", type=_Path(dir_okay=False), help="A facts dump (calirules/v1 YAML).")
@click.option("--sosreport", "--bundle", "sosreport", type=_Path(),
              help="A sosreport, calicoctl node diags or cluster diags bundle: directory or archive "
                   "(.tar.xz/.gz/.bz2, .tar, .zip). Cluster diags give one diagnosis per node.")
@click.option("--node", help="With a cluster diags bundle: only this node.")
@click.option("--live", is_flag=True, help="Collect from this node (read-only).")
@click.option("--netns", help="With --live: read inside this named network namespace.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
              help="Report format [default: from the -o file's extension (.json, .md, .html, .txt), else text].")
@click.option("--output", "-o", type=_Path(dir_okay=False), help="Write the report here instead of stdout.")
@click.option("--fail-on", "fail_on", metavar="SEVERITY|CONFIDENCE",
              help="Exit 1 only if a found cause has at least this severity (low, medium, high, critical) or "
                   "this confidence (0-1); default: any found cause.")
@click.option("--rules-dir", "rules_dirs", multiple=True, type=_Path(exists=True),
              help="Extra rule files or directories (repeatable); their templates/ folder is searched too.")
@click.option("--symptom", type=click.Choice(SYMPTOMS), help="What fails (default: the dump's, else same-node).")
@click.option("--explain", "explain_cause", metavar="CAUSE",
              help="Instead of the report: why (or why not) this cause, rule by rule, with the confidence arithmetic.")
@click.option("--probe", "probe_pair", nargs=2, metavar="SRC DST",
              help="With --live: first probe SRC -> DST (see `calirules probe`); what it observes is evidence.")
@click.option("--probe-result", "probe_file", type=_Path(dir_okay=False, exists=True),
              help="A saved `calirules probe --format json` of this node: what it observed is evidence.")
@_probe_options
def diagnose(facts_path, sosreport, node, live, netns, fmt, output, fail_on, rules_dirs, symptom, explain_cause,
             probe_pair, probe_file, proto, count, size, dont_fragment, trace_drops):
    """Rank the root causes for one node (or each node of a cluster bundle), with evidence and remediation."""
    fmt = output_format(fmt, output)
    gate = parse_fail_on(fail_on)
    progress = Progress(sys.stderr)
    try:
        _diagnose(facts_path, sosreport, node, live, netns, fmt, output, gate, rules_dirs, symptom, explain_cause,
                  probe_pair, probe_file, proto, count, size, dont_fragment, trace_drops, progress)
    finally:
        progress.done()


def _diagnose(facts_path, sosreport, node, live, netns, fmt, output, gate, rules_dirs, symptom, explain_cause,
              probe_pair, probe_file, proto, count, size, dont_fragment, trace_drops, progress):
    from calirules.engine.compiler import compile_engine
    from calirules.engine.rulebook import catalog, load_rulebook
    from calirules.engine.runner import trace
    from calirules.report.build import build_explanation, build_report
    from calirules.report.render import render_explanation, render_many
    from calirules.report.terminal import DEFAULT_WIDTH, output_settings

    if explain_cause is not None:
        if explain_cause not in catalog():
            _fail(f"--explain: unknown cause {explain_cause!r} (causes: {', '.join(sorted(catalog()))})")
        if fmt not in ("text", "json"):
            _fail("--explain writes text or json")
    probed = _read_probe_result(probe_file) if probe_file else None
    if probe_pair and probe_file:
        _fail("give --probe SRC DST or --probe-result FILE, not both")
    if not probe_pair and (proto != "icmp" or count != 3 or size or dont_fragment or trace_drops):
        _fail("--proto, --count, --size, --df and --trace go with --probe SRC DST")
    if probe_pair:
        if not live:
            _fail("--probe goes with --live (it sends packets on this node)")
        progress.say("probing")
        probed = _run_probe(*probe_pair, netns, proto, count, size, dont_fragment, trace_drops)
    progress.say("reading the facts dump" if facts_path else "collecting from this node" if live
                 else "reading the bundle")
    loaded = _load_facts(facts_path, sosreport, live, netns, node=node)
    if probed is not None:
        from calirules.facts_collectors.probe.analyze import observation
        if len(loaded) > 1:
            _fail("a probe observes one node: choose it with --node")
        label = probe_file or f"calirules probe {' '.join(probe_pair)}"
        loaded[0][0].setdefault("observations", []).append(observation(probed, label))
    progress.say("loading the rules")
    rulebook = load_rulebook(rules_dirs, with_tests=False)
    engine_class = compile_engine(rulebook)
    traced = []
    for number, (dump, label) in enumerate(loaded, 1):
        progress.say("diagnosing" + (f" node {number} of {len(loaded)}" if len(loaded) > 1 else ""))
        traced.append((trace(dump, rulebook, symptom, engine_class), dump, label))
    progress.say("writing the report")
    found = [f for (diagnosis, _, _), _, _ in traced for f in diagnosis.findings if f.found]
    if explain_cause is not None:
        docs = [build_explanation(explain_cause, diagnosis, rulebook, facts, firings)
                for (diagnosis, facts, firings), _, _ in traced]
        text = "".join(render_explanation(doc, fmt) for doc in docs) if fmt == "text" or len(docs) == 1 \
            else render_explanation({"schema": "calirules/explains/v1", "explanations": docs}, "json")
    else:
        reports = [build_report(diagnosis, rulebook, source=label, probe=probed and probed.to_dict(),
                                evidence_collected_at=_evidence_time(dump, live))
                   for (diagnosis, _, _), dump, label in traced]
        width, color = output_settings(sys.stdout) if output in (None, "-") else (DEFAULT_WIDTH, False)
        text = render_many(reports, fmt, width=width, color=color)
    progress.done()
    write_output(text, output)
    sys.exit(EXIT_FOUND if any(gate(finding) for finding in found) else EXIT_OK)


def _evidence_time(dump, live):
    """When the evidence was collected: a live collection's own time, else what the bundle said."""
    collection = dump.get("collection") or {}
    if live:
        return collection.get("collected_at")
    return collection.get("evidence_collected_at")


# The -o file's extension -> the report format, when --format is not given.
SEVERITIES = ("low", "medium", "high", "critical")


def parse_fail_on(value):
    """--fail-on -> a test of one found cause: does it fail the run? None: every found cause does."""
    if value is None:
        return lambda finding: True
    word = value.strip().lower()
    if word in SEVERITIES:
        floor = SEVERITIES.index(word)
        return lambda finding: finding.severity in SEVERITIES and SEVERITIES.index(finding.severity) >= floor
    try:
        confidence = float(word)
    except ValueError:
        confidence = None
    if confidence is None or not 0 <= confidence <= 1:
        _fail(f"--fail-on {value!r}: give a severity ({', '.join(SEVERITIES)}) or a confidence between 0 and 1, "
              f"e.g. --fail-on high or --fail-on 0.8")
    return lambda finding: finding.confidence >= confidence


class Progress:
    """One status line on stderr while a diagnosis runs ("reading the bundle...", "diagnosing...").

    Only on a terminal: a pipe or a log file gets nothing. Shown after a short delay, so a quick
    run prints nothing at all, and erased before the report is written."""

    DELAY_S = 0.3

    def __init__(self, stream):
        import threading
        self.stream, self.message, self.shown = stream, None, False
        self.enabled = _isatty(stream)
        self._lock, self._stop = threading.Lock(), threading.Event()
        self._thread = None
        if self.enabled:
            self._thread = threading.Thread(target=self._spin, daemon=True)
            self._thread.start()

    def say(self, message):
        with self._lock:
            self.message = message

    def _spin(self):
        import time
        frames, start, index = "|/-\\", time.monotonic(), 0
        while not self._stop.wait(0.1):
            if time.monotonic() - start < self.DELAY_S:
                continue
            with self._lock:
                if self.message and not self._stop.is_set():
                    self.stream.write(f"\r\x1b[2K{frames[index % 4]} calirules: {self.message}...")
                    self.stream.flush()
                    self.shown = True
            index += 1

    def done(self):
        if not self.enabled or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        if self.shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _read_probe_result(path):
    import json

    from calirules.facts_collectors.probe.model import result_from_dict
    try:
        with open(path, encoding="utf-8") as handle:
            doc = json.load(handle)
        return result_from_dict(doc)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg}", path, exc.lineno, exc.colno) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputError(f"not a calirules probe result (`calirules probe --format json`): {exc}", path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", path) from None


@main_group.command("probe")
@click.option("--from", "src", required=True, metavar="SRC", help=f"The source pod: {_PROBE_ENDPOINT}.")
@click.option("--to", "dst", required=True, metavar="DST", help=f"The destination pod on this node: {_PROBE_ENDPOINT}.")
@click.option("--netns", help="The node's network namespace (a lab node); default: this namespace.")
@_probe_options
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown", "html"]),
              help="Default: from the -o file's extension, else text.")
@click.option("--output", "-o", type=_Path(dir_okay=False), help="Write the result here instead of stdout.")
def probe_command(src, dst, netns, proto, count, size, dont_fragment, trace_drops, fmt, output):
    """Send a few probes from SRC to DST and show, hop by hop, where they go and what drops them (root).

    Exit status: 0 the probes reached DST and were answered, 1 they were not, 2 bad input."""
    from calirules.report.probe import render_probe
    fmt = output_format(fmt, output)  # before any packet: `-o json` is refused without sending
    result = _run_probe(src, dst, netns, proto, count, size, dont_fragment, trace_drops)
    write_output(render_probe(result.to_dict(), fmt), output)
    sys.exit(EXIT_OK if result.reached and result.replied else EXIT_FOUND)


@main_group.command()
@click.option("--live", is_flag=True, help="Collect from this node (read-only).")
@click.option("--netns", help="With --live: read inside this named network namespace.")
@click.option("--sosreport", "--bundle", "sosreport", type=_Path(),
              help="A sosreport or calicoctl (node or cluster) diags bundle: directory or archive.")
@click.option("--node", help="With a cluster diags bundle: the node to collect.")
@click.option("--raw-dir", type=_Path(file_okay=False),
              help="With --live: also keep the raw command outputs here, laid out like a sosreport.")
@click.option("--output", "-o", type=_Path(dir_okay=False), required=True, help="Where to write the dump.")
def collect(live, netns, sosreport, node, raw_dir, output):
    """Write a facts dump for a node (to diagnose elsewhere with --facts)."""
    from calirules.facts_collectors.dump import FACTS_SCHEMA, dump_text

    # A live collection that could read nothing still writes its dump: collection.missing says why.
    progress = Progress(sys.stderr)
    progress.say("collecting from this node" if live else "reading the bundle")
    try:
        loaded = _load_facts(None, sosreport, live, netns, raw_dir, node=node, require_core=not live)
    finally:
        progress.done()
    if len(loaded) > 1:
        _fail(f"this cluster diags bundle has {len(loaded)} nodes; choose one with --node "
              f"({', '.join(d['node']['hostname'] for d, _ in loaded)})")
    dump = loaded[0][0]
    FACTS_SCHEMA.validate(dump)  # a collector bug must not produce a dump --facts refuses
    write_output(dump_text(dump), output)


@main_group.command("sos-extras")
def sos_extras():
    """Print /etc/sos/extras.d/calico: makes the next sosreport carry Calico's evidence."""
    from calirules.facts_collectors.specs import sos_extras_file
    click.echo(sos_extras_file(), nl=False)


@main_group.command("evidence")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
def evidence(fmt):
    """Every piece of evidence calirules reads: section, where each bundle kind keeps it, parsers."""
    from calirules.facts_collectors import evidence_table
    if fmt == "json":
        import json
        click.echo(json.dumps(evidence_table.rows(), indent=2))
    else:
        click.echo(evidence_table.markdown() if fmt == "markdown" else evidence_table.text(), nl=False)


@main_group.group()
def rules():
    """List, show, lint and test rule files."""


@rules.command("list")
@click.option("--rules-dir", "rules_dirs", multiple=True, type=_Path(exists=True))
def rules_list(rules_dirs):
    """One line per rule: id, cause, severity, confidence."""
    from calirules.engine.rulebook import load_rulebook
    book = load_rulebook(rules_dirs)
    for rule in book.rules:
        target = rule.cause or f"derives {rule.derive['fact']}"
        click.echo(f"{rule.id:44} {target:32} {rule.severity:9} {rule.confidence:.2f}")


@rules.command("show")
@click.argument("rule_id")
@click.option("--rules-dir", "rules_dirs", multiple=True, type=_Path(exists=True))
def rules_show(rule_id, rules_dirs):
    """Print one rule's source (by rule id or cause id)."""
    from calirules.engine.rulebook import load_rulebook
    book = load_rulebook(rules_dirs)
    matches = [r for r in book.rules if rule_id in (r.id, r.cause)]
    if not matches:
        _fail(f"no rule or cause named {rule_id!r} (see `calirules rules list`)")
    import yaml
    for rule in matches:
        line = rule.location[0]
        click.echo(f"# {rule.path}:{line}")
        raw = yaml.safe_load(rule.text)["rules"][rule.index]
        click.echo(yaml.safe_dump(raw, sort_keys=False, width=110))


@rules.command("facts")
def rules_facts():
    """The fact types rules can match, with their fields (a Markdown table)."""
    from calirules.engine.combiners import FACT_INPUTS
    from calirules.engine.vocabulary import FACT_TYPES
    click.echo("| fact | fields | needs section | meaning |")
    click.echo("|---|---|---|---|")
    for spec in FACT_TYPES.values():
        inputs = FACT_INPUTS[spec.name]
        fields = ", ".join(f"`{f}`" + (f" ({inputs.field_sections[f]})" if f in inputs.field_sections else "")
                           for f in spec.fields)
        click.echo(f"| `{spec.name}` | {fields} | `{inputs.section}` | {spec.doc} |")


@rules.command("lint")
@click.argument("paths", nargs=-1, type=_Path(exists=True))
def rules_lint(paths):
    """Check rule files (schema, causes, facts, fields, variables, templates) and render their remediation."""
    from calirules.authoring.lint import lint_rules
    problems = lint_rules(paths)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(EXIT_BAD_INPUT)
    click.echo("rules ok")


@rules.command("test")
@click.argument("paths", nargs=-1, type=_Path(exists=True))
def rules_test(paths):
    """Run the tests (inline, and in x.test.yaml beside x.yaml) of the shipped rules, or of the rule files/directories given."""
    from calirules.authoring.ruletests import run_rule_tests
    from calirules.engine.rulebook import load_rulebook
    book = load_rulebook(paths)
    only = None
    if paths:
        from calirules.engine.rulebook import load_rule_file, rule_files
        only = {r.id for f in rule_files(paths) for r in load_rule_file(f)}
    results = run_rule_tests(book, only)
    failed = [r for r in results if not r.passed]
    for result in failed:
        click.echo(f"FAIL {result.describe()}", err=True)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(EXIT_FOUND if failed else EXIT_OK)


def main(argv=None):
    # One short-lived process: what it builds (evidence, facts) lives until it exits, so frequent
    # cyclic-GC passes only re-scan it (~8 % of a 200-pod sosreport's diagnosis). Collect rarely.
    gc.set_threshold(200_000, 30, 30)
    try:
        main_group.main(args=argv, prog_name="calirules", standalone_mode=False)
    except InputError as exc:
        _fail(str(exc))
    except click.exceptions.Abort:
        # click turns Ctrl-C (KeyboardInterrupt) into Abort: the shell's convention is 128 + SIGINT
        click.echo("calirules: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        click.echo("calirules: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # an internal bug, not bad input
        if os.environ.get("CALIRULES_DEBUG"):
            raise
        click.echo(_printable(f"calirules: internal error: {type(exc).__name__}: {exc} (CALIRULES_DEBUG=1 shows a traceback)"),
                   err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)
