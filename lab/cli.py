"""`lab` command group: build, break, probe and remove the fault lab from a shell.

    python -m calirules.lab up --pods 2 --backend nft
    python -m calirules.lab inject workload-route-missing
    python -m calirules.lab ping pod-0 pod-1        # exit 0 answered, 1 not answered
    python -m calirules.lab status
    python -m calirules.lab down

Every command needs root. Between commands the lab is recovered from /run/calirules-lab/<prefix>.json,
or, without it, from the namespaces themselves. Exit status: 0 ok, 1 ping failed / command failed,
2 bad usage (not root, unknown fault or option, no such lab, missing tools).
"""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from . import faults, netns, state
from .errors import CommandError, LabError
from .iptables import BACKENDS
from .topology import REQUIRED_COMMANDS, Lab

DEFAULT_PREFIX = "crl"
_prefix_option = click.option("--prefix", default=DEFAULT_PREFIX, show_default=True,
                              help="Name prefix of the lab's namespaces.")


def _fail(message: str, code: int) -> None:
    click.echo(f"lab: error: {message}", err=True)
    sys.exit(code)


def _errors(func):
    """Turn lab errors into one line on stderr: exit 1 for a failing command, 2 otherwise."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except CommandError as exc:
            _fail(str(exc), 1)
        except LabError as exc:
            _fail(str(exc), 2)
    return wrapper


def _load(prefix: str) -> Lab:
    data = state.load(prefix)
    if data is None:
        return Lab.discover(prefix)
    lab = Lab.from_state(data)
    if lab.node_ns not in netns.list_netns():
        raise LabError(f"lab {prefix!r} has a state file but its namespaces are gone; "
                       f"run `down --prefix {prefix}`")
    return lab


def _parse_value(text: str):
    low = text.lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        return text


@click.group(name="lab", context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def lab(ctx: click.Context) -> None:
    """Reproduce Calico same-node pod-to-pod failures in network namespaces (root only)."""
    if os.geteuid() != 0 and ctx.invoked_subcommand != "faults":
        click.echo("lab: error: must run as root: the lab creates network namespaces, veth pairs "
                   "and iptables rules (try sudo)", err=True)
        ctx.exit(2)


@lab.command()
@click.option("--pods", default=2, show_default=True, type=click.IntRange(1, 200))
@click.option("--backend", default="legacy", show_default=True, type=click.Choice(sorted(BACKENDS)))
@_prefix_option
@_errors
def up(pods: int, backend: str, prefix: str) -> None:
    """Create the node, upstream and pod namespaces with Calico-shaped plumbing and rules."""
    missing = netns.missing_commands(REQUIRED_COMMANDS + BACKENDS[backend].commands)
    if missing:
        raise LabError(f"missing commands: {', '.join(missing)}")
    if state.load(prefix) is not None:
        raise LabError(f"lab {prefix!r} is already up; run `down --prefix {prefix}` first")
    the_lab = Lab(prefix, pods=pods, backend=backend).up()
    try:
        state.save(the_lab.to_state())
    except OSError as exc:
        the_lab.down()
        raise LabError(f"cannot write state file: {exc}") from None
    click.echo(f"lab {prefix} up: node {the_lab.node_ns}, backend {backend}")
    for p in the_lab.pods:
        click.echo(f"  {p.name}  {p.ip:<14} {p.iface}  {p.netns}")


@lab.command("faults")
def list_faults() -> None:
    """List the fault ids and what each one does."""
    for fault_id, description in faults.describe():
        options = ", ".join(f"{k}={v!r}" for k, v in faults.FAULTS[fault_id].options.items())
        click.echo(f"{fault_id}\n    {description}" + (f"\n    options: {options}" if options else ""))


@lab.command()
@click.argument("fault", metavar="FAULT", type=click.Choice(sorted(faults.FAULTS)))
@click.option("--src", default=None, help="Source pod (name, index, IP); default the first pod.")
@click.option("--dst", default=None, help="Destination pod; default the second pod.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Fault option, e.g. -o per_interface=true (see `faults`).")
@_prefix_option
@_errors
def inject(fault: str, src: str | None, dst: str | None, options: tuple[str, ...], prefix: str) -> None:
    """Break the running lab with FAULT."""
    kwargs = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise LabError(f"option {item!r} is not KEY=VALUE")
        kwargs[key.replace("-", "_")] = _parse_value(value)
    the_lab = _load(prefix)
    inj = faults.inject(the_lab, fault, src=src, dst=dst, **kwargs)
    state.save(the_lab.to_state())
    click.echo(f"injected {fault}: {json.dumps(inj.details, sort_keys=True)}")
    if inj.expect == faults.LARGE_DF_PING_FAILS:
        click.echo(f"expect: ping {inj.src} {inj.dst} passes, "
                   f"ping --size {inj.large_size} --df {inj.src} {inj.dst} fails")
    else:
        click.echo(f"expect: ping {inj.src} {inj.dst} fails")


@lab.command()
@click.argument("src")
@click.argument("dst")
@click.option("--count", default=1, show_default=True, type=click.IntRange(1, 100))
@click.option("--size", default=None, type=click.IntRange(0, 65507), help="ICMP payload bytes.")
@click.option("--df/--no-df", default=False, help="Set Don't Fragment (ping -M do).")
@click.option("--timeout", default=1.0, show_default=True, type=click.FloatRange(0.1, 30))
@_prefix_option
@_errors
def ping(src: str, dst: str, count: int, size: int | None, df: bool, timeout: float, prefix: str) -> None:
    """Ping DST (pod name, index or IP) from inside pod SRC. Exit 0 if answered, 1 if not."""
    the_lab = _load(prefix)
    ok, output = the_lab.ping_verbose(src, dst, count=count, size=size, dont_fragment=df,
                                      timeout=timeout)
    click.echo(output)
    target = dst if any(c == "." for c in dst) else the_lab.pod(dst).name
    click.echo(f"{'OK' if ok else 'FAILED'}: {the_lab.pod(src).name} -> {target}")
    sys.exit(0 if ok else 1)


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_prefix_option
@_errors
def status(as_json: bool, prefix: str) -> None:
    """Show the lab's namespaces, pods and injected faults (exit 1 if there is no such lab)."""
    try:
        the_lab = _load(prefix)
    except LabError as exc:
        leftovers = Lab(prefix).existing_namespaces()
        if leftovers:
            raise
        click.echo(str(exc))
        sys.exit(1)
    info = the_lab.status()
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    click.echo(f"lab {prefix}: backend {info['backend']}, node {info['node_ns']}, "
               f"upstream {info['upstream_ns']}, {'complete' if info['complete'] else 'INCOMPLETE'}")
    for p in info["pods"]:
        flag = "" if p["programmed"] else "  (not programmed)"
        click.echo(f"  {p['name']}  {p['ip']:<14} {p['iface']}  {p['netns']}{flag}")
    for inj in info["injected"]:
        click.echo(f"  fault {inj['fault_id']} {inj['options'] or ''} -> {inj['src']} to {inj['dst']}")


@lab.command()
@_prefix_option
@_errors
def down(prefix: str) -> None:
    """Delete every namespace of the lab and its state file (safe to repeat)."""
    deleted = Lab(prefix).down()
    click.echo(f"lab {prefix} down: deleted {len(deleted)} namespace(s)")


def main() -> None:
    lab(prog_name="python -m calirules.lab")
