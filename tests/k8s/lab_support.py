"""The manifest's command lines and capabilities, taken from `calirules k8s manifests` output."""

import yaml

from tests.helpers import run_cli

PREFIX = "ck4"  # this suite's lab namespaces: ck4-... (never another suite's)


def agent_container(*args):
    code, out, err = run_cli("k8s", "manifests", *args)
    assert code == 0, err
    daemonset = next(d for d in yaml.safe_load_all(out) if d["kind"] == "DaemonSet")
    return daemonset["spec"]["template"]["spec"]["containers"][0]


def agent_lines(*args):
    """(agent argv, readiness probe argv, capabilities) exactly as the DaemonSet declares them."""
    container = agent_container(*args)
    return (container["command"], container["readinessProbe"]["exec"]["command"],
            container["securityContext"]["capabilities"]["add"])
