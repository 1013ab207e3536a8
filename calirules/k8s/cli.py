"""`calirules k8s ...`: print the manifests; run the node agent (the DaemonSet's command)."""

import sys

import click

from calirules.k8s import manifests as manifest_module


@click.group("k8s")
def k8s():
    """Run calirules on every node of a Kubernetes cluster (a DaemonSet) and check same-node pod traffic (a Job)."""


@k8s.command("manifests")
@click.option("--namespace", default=manifest_module.NAME, show_default=True, help="Namespace of every object.")
@click.option("--image", help="The calirules image (built from the Dockerfile).  [default: calirules:VERSION]")
@click.option("--interval", default="10m", show_default=True, help="How often each node is diagnosed (30s, 10m, 1h).")
@click.option("--node", help="Pin the network check's two pods to this node (default: any one node).")
@click.option("--no-pod-namespaces", is_flag=True,
              help="Drop SYS_ADMIN and the /run/netns mount: the pods' own interfaces, routes and neighbours "
                   "are then not collected.")
@click.option("--priority-class", help="priorityClassName for the agent (e.g. system-node-critical).")
def manifests_command(namespace, image, interval, node, no_pod_namespaces, priority_class):
    """Print the DaemonSet, the network-check Job and their ServiceAccounts as one YAML stream."""
    from calirules.k8s.agent import parse_interval
    parse_interval(interval)  # refuse a bad duration here, not in every pod's log
    docs = manifest_module.manifests(namespace=namespace, image=image, interval=interval, node=node,
                                     pod_namespaces=not no_pod_namespaces, priority_class=priority_class)
    click.echo(manifest_module.render(docs), nl=False)


@k8s.command("node-agent")
@click.option("--interval", default="10m", show_default=True, help="Time between the starts of two runs.")
@click.option("--status-file", type=click.Path(dir_okay=False),
              help="Rewritten after each run: 'ready <verdict>' or 'not-ready found: <causes>' / 'not-ready error: ...'.")
@click.option("--once", is_flag=True, help="One run, then exit 0 (no cause found) or 1 (a cause, or the run failed).")
@click.option("--netns", help="Diagnose this named network namespace instead of the current one.")
def node_agent(interval, status_file, once, netns):
    """Diagnose this node live every interval; print each report as one JSON line (calirules/report/v1).

    Exit status: 0 on SIGTERM, 130 on Ctrl-C; with --once 0 or 1."""
    from calirules.k8s.agent import run_agent, parse_interval
    seconds = parse_interval(interval)
    try:
        code = run_agent(seconds, status_file=status_file, once=once, netns=netns)
    except KeyboardInterrupt:
        # click would turn Ctrl-C into an abort (exit 2, "bad input"); an interrupted loop is 130
        click.echo("calirules: node-agent: interrupted", err=True)
        code = 130
    sys.exit(code)
