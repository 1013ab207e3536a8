"""`calirules fleet PATH...`: many nodes diagnosed in parallel, one table, cross-node findings."""

import os
import stat
import sys

import click

from calirules.base.errors import InputError

EXIT_OK, EXIT_FOUND, EXIT_BAD_INPUT = 0, 1, 2
FORMATS = ("text", "json", "markdown", "html")
_BY_EXTENSION = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
                 ".txt": "text"}

HELP = """Diagnose many nodes at once and compare them.

Each PATH is a sosreport or calicoctl node diags bundle (directory or archive), a calicoctl
cluster diags bundle (each of its nodes), a facts dump (.yaml), saved reports (`diagnose --format
json` output, or DaemonSet logs: `kubectl logs -l app.kubernetes.io/name=calirules --prefix`, one
JSON report per line; the newest per node counts) or a folder of any of these.

Prints a nodes x causes table and the cross-node findings no single node shows: Calico or
Kubernetes versions, MTUs or encapsulation that differ between nodes, the same cause on most nodes
(a cluster-wide setting), duplicate node names or IPs, overlapping IPAM blocks. A PATH that cannot
be read is a row with verdict `error` and its reason, not a failed run.

\b
Exit status: 0 no cause found on any node; 1 a cause found on at least one node;
2 bad usage, or no PATH gave a node that could be diagnosed."""


@click.command("fleet", help=HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Output format [default: from -o's extension, else text].")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the fleet report here instead of stdout.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), help="Diagnoses run at once [default: the number of CPUs].")
@click.option("--rules-dir", "rules_dirs", multiple=True, type=click.Path(exists=True),
              help="Extra rule files or directories (repeatable), as for `calirules diagnose`.")
def fleet(paths, fmt, output, jobs, rules_dirs):
    from calirules.engine.rulebook import catalog, load_rulebook
    from calirules.fleet.run import diagnose_fleet
    from calirules.fleet.pool import default_jobs
    from calirules.fleet.progress import Progress
    from calirules.fleet.render import render_fleet

    fmt = fmt or _format_from(output)
    load_rulebook(tuple(rules_dirs), with_tests=False)  # bad rules are bad usage: refuse them before any work
    progress = Progress()
    try:
        doc = diagnose_fleet(paths, jobs or default_jobs(), rules_dirs, progress,
                             titles={c: cause.title for c, cause in catalog().items()})
    finally:
        progress.finish()
    _write(render_fleet(doc, fmt), output)
    if not any(entry["verdict"] != "error" for entry in doc["nodes"]):
        click.echo("calirules: error: no PATH gave a node that could be diagnosed", err=True)
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_FOUND if any(entry["causes"] for entry in doc["nodes"]) else EXIT_OK)


def _format_from(output):
    if output is None or output == "-":
        return "text"
    if output in FORMATS or output in ("yaml", "md"):
        raise InputError(f"-o takes a file name, not a format: use --format {output if output in FORMATS else 'markdown'}"
                         f" (and -o {output}.{ {'markdown': 'md', 'text': 'txt'}.get(output, output)} for a file)")
    return _BY_EXTENSION.get(os.path.splitext(output)[1].lower(), "text")


def _write(text, output):
    """Write the whole report at once (no partial file on failure); refuse what is not a regular file."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK | os.O_CLOEXEC, 0o666)
        with open(fd, "w", encoding="utf-8") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise InputError("not a regular file (a device, fifo or socket)", output)
            handle.write(text)
    except OSError as exc:
        raise InputError(f"cannot write output: {exc.strerror or exc}", output) from None
