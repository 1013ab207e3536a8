"""`calirules fleet PATH...`: many nodes diagnosed in parallel, one table, cross-node findings."""

import sys

import click

from calirules.report.output import output_format, write_output

EXIT_OK, EXIT_FOUND, EXIT_BAD_INPUT = 0, 1, 2
FORMATS = ("text", "json", "markdown", "html")
HELP = """Diagnose many nodes at once and compare them.

Each PATH is a sosreport or calicoctl node diags bundle (directory or archive), a calicoctl
cluster diags bundle (each of its nodes), a facts dump (.yaml), saved reports (`diagnose --format
json` output, or DaemonSet logs: `kubectl logs -n calirules -l app.kubernetes.io/name=calirules
--prefix --tail=-1`, one JSON report per line; the newest per node counts) or a folder of any of
these.

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

    fmt = output_format(fmt, output)
    load_rulebook(tuple(rules_dirs), with_tests=False)  # bad rules are bad usage: refuse them before any work
    progress = Progress()
    try:
        doc = diagnose_fleet(paths, jobs or default_jobs(), rules_dirs, progress,
                             titles={c: cause.title for c, cause in catalog().items()})
    finally:
        progress.finish()
    write_output(render_fleet(doc, fmt), output)
    if not any(entry["verdict"] != "error" for entry in doc["nodes"]):
        click.echo("calirules: error: no PATH gave a node that could be diagnosed", err=True)
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(EXIT_FOUND if any(entry["causes"] for entry in doc["nodes"]) else EXIT_OK)

