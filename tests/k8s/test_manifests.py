"""`calirules k8s manifests`: valid Kubernetes objects (OpenAPI schemas of the two newest releases
kubernetes-validate knows, strict: unknown fields refused) with the least privilege the agent's
collection needs (measured in the lab: tests/k8s/test_node_agent_lab.py)."""

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from calirules.k8s import manifests as m
from tests.helpers import run_cli


def _release(version):
    return tuple(int(part) for part in version.split("."))


NEWEST_TWO = sorted(set(all_versions()), key=_release)[-2:]
VARIANTS = {"default": (), "no-pod-namespaces": ("--no-pod-namespaces",),
            "options": ("--namespace", "ops", "--image", "registry.example/calirules:1", "--interval", "1h",
                        "--node", "worker-1", "--priority-class", "system-node-critical")}


def _documents(*args):
    code, out, err = run_cli("k8s", "manifests", *args)
    assert code == 0, err
    return list(yaml.safe_load_all(out))


def _agent(docs):
    return next(d for d in docs if d["kind"] == "DaemonSet")


def _job(docs):
    return next(d for d in docs if d["kind"] == "Job")


def test_two_newest_releases_are_known():
    assert len(NEWEST_TWO) == 2 and _release(NEWEST_TWO[0]) < _release(NEWEST_TWO[1])


@pytest.mark.parametrize("version", NEWEST_TWO)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_document_is_valid_for_the_release(variant, version):
    docs = _documents(*VARIANTS[variant])
    assert [d["kind"] for d in docs] == ["Namespace", "ServiceAccount", "DaemonSet", "ServiceAccount", "Service", "Job"]
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)  # raises ValidationError


def test_the_validator_refuses_a_misspelt_field():
    # the check above is real: a typo in a security context is refused, not ignored
    doc = _agent(_documents())
    doc["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilites"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, NEWEST_TWO[-1], strict=True)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_agent_has_least_privilege(variant):
    pod = _agent(_documents(*VARIANTS[variant]))["spec"]["template"]["spec"]
    wants_pod_namespaces = variant != "no-pod-namespaces"
    assert pod["hostNetwork"] is True
    assert not pod.get("hostPID") and not pod.get("hostIPC")
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["privileged"] is False and context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"]["drop"] == ["ALL"]
    expected = ["NET_ADMIN", "NET_RAW", "SYS_ADMIN"] if wants_pod_namespaces else ["NET_ADMIN", "NET_RAW"]
    assert context["capabilities"]["add"] == expected
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    host_volumes = {v["name"]: v["hostPath"] for v in pod["volumes"] if "hostPath" in v}
    mounts = {mount["name"]: mount for mount in container["volumeMounts"]}
    for name, host in host_volumes.items():
        assert mounts[name]["readOnly"] is True, name
        assert mounts[name].get("mountPropagation", "HostToContainer") == "HostToContainer"  # never Bidirectional
        assert host["type"] in ("Directory", "File", "DirectoryOrCreate")
    assert ("pod-netns" in host_volumes) == wants_pod_namespaces
    assert {h["path"] for h in host_volumes.values()} >= {"/var/log", "/etc/cni/net.d", "/etc/os-release"}
    writable = [mount for mount in container["volumeMounts"] if not mount.get("readOnly")]
    assert [mount["mountPath"] for mount in writable] == [m.STATUS_DIR]
    assert any(v["name"] == "status" and "emptyDir" in v for v in pod["volumes"])
    assert {"operator": "Exists"} in pod["tolerations"]
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_no_api_access_is_granted():
    docs = _documents()
    assert not [d for d in docs if d["kind"] in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")]
    for account in (d for d in docs if d["kind"] == "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False


def test_readiness_reads_the_status_file_the_command_writes():
    container = _agent(_documents())["spec"]["template"]["spec"]["containers"][0]
    status_file = container["command"][container["command"].index("--status-file") + 1]
    assert container["readinessProbe"]["exec"]["command"][-1] == status_file
    assert container["command"] == m.agent_command("10m")


def test_options_reach_the_objects():
    docs = _documents(*VARIANTS["options"])
    assert {d["metadata"].get("namespace", d["metadata"]["name"]) for d in docs} == {"ops"}
    agent, job = _agent(docs), _job(docs)
    container = agent["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/calirules:1"
    assert container["command"][container["command"].index("--interval") + 1] == "1h"
    assert agent["spec"]["template"]["spec"]["priorityClassName"] == "system-node-critical"
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "worker-1"}


def test_network_check_is_two_pods_on_one_node_without_api_access():
    docs = _documents()
    job = _job(docs)
    service = next(d for d in docs if d["kind"] == "Service")
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]["spec"]
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {"job-name": job["metadata"]["name"]}
    assert pod["subdomain"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    assert "hostNetwork" not in pod and pod["automountServiceAccountToken"] is False
    context = pod["containers"][0]["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW"]}
    # the agent's log selector does not pick up the check's pods
    agent_selector = _agent(docs)["spec"]["selector"]["matchLabels"]
    labels = job["spec"]["template"]["metadata"]["labels"]
    assert any(labels.get(key) != value for key, value in agent_selector.items())


@pytest.mark.parametrize("interval", ["0.5s", "ten minutes", "-1m", "5d", ""])
def test_bad_interval_is_refused(interval):
    code, out, err = run_cli("k8s", "manifests", "--interval", interval)
    assert code == 2 and not out
    assert err.startswith("calirules: error: --interval") and err.count("\n") == 1


def test_plain_seconds_are_an_interval():
    from calirules.k8s.agent import parse_interval
    assert parse_interval("10") == 10 and parse_interval("10m") == 600 and parse_interval("1.5h") == 5400
