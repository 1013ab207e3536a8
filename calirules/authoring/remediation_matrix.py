"""Every rule's remediation, rendered for each Calico release band and install method it must support.

`rules lint` checks what this renders (calirules.authoring.lint): the commands of a remediation depend on the
node's Calico version (calicoctl's flags, features) and on how Calico is installed (the namespace of
calico-node, or both variants when the bundle does not say), so one rendering proves little. A cell is
one Calico version x one install method; its firing contexts are real ones: each positive inline test
of the rule is diagnosed with the cell's Calico version and calico-node pod listing laid over the test's
facts, and the report is built as `calirules diagnose` builds it.
"""

import copy
from dataclasses import dataclass, replace

from calirules.authoring.ruletests import valid_dump_for_test
from calirules.base import templating
from calirules.base.errors import InputError
from calirules.engine import platform, runner
from calirules.engine.combiners import FACT_INPUTS, summarise
from calirules.facts_collectors.dump import normalise
from calirules.report.build import build_report

CALICO_VERSIONS = ("v3.11.3", "v3.17.0", "v3.22.0", "v3.26.0", "v3.29.0", "v3.32.0")
# Install method -> namespace of the calico-node pod listing (None: the bundle lists no pods).
INSTALL_METHODS = {"operator": platform.OPERATOR_NAMESPACE, "manifest": platform.MANIFEST_NAMESPACE,
                   "unknown": None}
CELLS = tuple((version, method) for version in CALICO_VERSIONS for method in INSTALL_METHODS)
CELL_SECTIONS = {"versions", "components", "kube_objects"}  # the dump sections a cell changes
CELL_SOURCE = "rules-lint:1"  # provenance of the facts a cell lays over a test's


@dataclass(frozen=True)
class Rendering:
    version: str       # the Calico version of the cell (or of the test, see renderings())
    method: str        # operator | manifest | unknown
    text: str | None   # the rendered remediation, None when the template failed to render
    error: str | None  # why it failed


def renderings(rule, book, engine, every_cell=False):
    """Each cell's remediation of `rule` (a cell where the rule does not fire renders nothing).

    A rule whose firings cannot change with the cell is diagnosed once per test and rendered in
    every cell (see _depends_on_cell); `every_cell` diagnoses every cell anyway. When the rule fires
    in no cell (its tests pin a Calico version outside the bands, say), its positive tests are
    rendered as they are, so the template is still checked once.
    """
    env = templating.rule_environment(book.template_dirs)
    tests = [t for t in rule.tests if t["expect"] == "fire"]
    per_cell = every_cell or _depends_on_cell(rule, book)
    found = []
    for test in tests:
        test_dump, diagnosis = valid_dump_for_test(test), None
        for version, method in CELLS:
            dump = normalise(cell_dump(test_dump, version, method, INSTALL_METHODS[method]))
            if per_cell or diagnosis is None:
                diagnosis = _diagnosis(rule, book, engine, dump, test)
            else:  # the same firings, rendered for this cell's node
                diagnosis = replace(diagnosis, summary=summarise(dump))
            if diagnosis is not None:
                found.append(_render(diagnosis, book, env, version, method))
            elif not per_cell:
                break  # it did not fire, and no cell can change that
    if not found:
        for test in tests:
            dump = normalise(valid_dump_for_test(test))
            calico = next((v["version"] for v in dump.get("versions") or () if v["component"] == "calico"), None)
            diagnosis = _diagnosis(rule, book, engine, dump, test)
            if diagnosis is not None:
                found.append(_render(diagnosis, book, env, calico or "unknown",
                                     platform.describe(dump)["method"] or "unknown"))
    return found


def _depends_on_cell(rule, book, _seen=()):
    """Whether the facts a cell changes (versions, components) can change the rule's firings.

    Firings and their bindings come from the `when` and `unless` patterns only (support and
    against change the confidence, not what fires or what templates see), so a rule whose patterns
    use none of the fact types built from those sections, directly or through a derived fact, fires
    the same way in every cell.
    """
    for pattern in rule.when + rule.unless:
        spec = FACT_INPUTS.get(pattern["fact"])
        if spec is None:  # a derived fact: whatever its producers depend on
            if any(_depends_on_cell(producer, book, _seen + (rule.id,)) for producer in book.rules
                   if producer.derive and producer.derive["fact"] == pattern["fact"] and producer.id not in _seen):
                return True
        elif spec.section in CELL_SECTIONS or CELL_SECTIONS & set(spec.field_sections.values()):
            return True
    return False


def reusable_engine(engine_class):
    """An engine factory for runner.diagnose that builds experta's rete network once.

    Building the network is about 80% of a diagnosis, and the matrix runs hundreds; experta's
    reset() (which run_engine calls first) clears facts, agenda and memories, so reusing one engine
    gives the same firings as a fresh one.
    """
    engine = engine_class()

    def instance():
        engine.firings = []
        return engine
    return instance


def cell_dump(test_dump, version, method, namespace):
    """The test's facts with this cell's Calico version and calico-node pod listing: as the
    collectors write a `kubectl get pods --all-namespaces -o wide` that covered every namespace
    (facts_collectors/parsers/kube.py, kube_objects.py), so engine/platform.py decides the install
    method from it as it would from a bundle; the `unknown` cell lists no pods at all."""
    dump = copy.deepcopy(test_dump)
    dump["versions"] = [v for v in dump.get("versions") or () if v.get("component") != "calico"]
    dump["versions"].append({"component": "calico", "version": version, "source": CELL_SOURCE})
    hostname = (dump.get("node") or {}).get("hostname")
    components = [c for c in dump.get("components") or () if c.get("name") != "tigera-operator"]
    node = next((c for c in components if c.get("name") == "calico-node"), None)
    for key in ("namespace", "pod", "node"):
        (node or {}).pop(key, None)
    if node is not None and (node.get("message") or "").startswith("pod "):
        del node["message"]
    dump.pop("kube_objects", None)
    if namespace:
        if node is None:  # the test's own calico-node state (e.g. CrashLoopBackOff) is kept when it has one
            node = {"name": "calico-node", "ready": True, "status": "Running", "restarts": 0, "source": CELL_SOURCE}
            components.append(node)
        node.update(namespace=namespace, pod="calico-node-abcde", node=hostname)
        dump["kube_objects"] = [
            {"kind": "Pod", "component": "calico-node", "name": "calico-node-abcde", "namespace": namespace,
             "count": 1, "source": CELL_SOURCE},
            {"kind": "List", "of": "Pod", "source": CELL_SOURCE}]
    if components or "components" in dump:
        dump["components"] = components
    return dump


def _diagnosis(rule, book, engine, dump, test):
    """The diagnosis narrowed to `rule`'s own finding, or None when the rule did not fire."""
    diagnosis = runner.diagnose(dump, book, test.get("symptom"), engine)
    diagnosis.findings = [f for f in diagnosis.findings if any(r.rule.id == rule.id for r in f.results)]
    if not diagnosis.findings:
        return None
    for finding in diagnosis.findings:
        finding.results = [r for r in finding.results if r.rule.id == rule.id]
    return diagnosis


def _render(diagnosis, book, env, version, method):
    try:
        report = build_report(diagnosis, book, source="lint", env=env)
    except InputError as exc:
        return Rendering(version, method, None, str(exc))
    return Rendering(version, method, "\n\n".join(c["remediation"] for c in report["causes"]), None)
