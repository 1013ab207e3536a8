"""One node's diagnosis, as a pool process runs it: the rulebook is loaded, the engine compiled
and the template environment made once per process (`start`), then each job returns plain data
(the report document, or an error reason), never engine objects."""

import gc
import time

from calirules.base.errors import InputError
from calirules.fleet.inputs import Job, one_line

CORE_SECTIONS = ("interfaces", "routes", "sysctls")
_STATE = {}


def start(rules_dirs):
    from calirules.base import templating
    from calirules.engine.compiler import compile_engine
    from calirules.engine.rulebook import load_rulebook
    rulebook = load_rulebook(tuple(rules_dirs), with_tests=False)
    _STATE.update(rulebook=rulebook, engine_class=compile_engine(rulebook),
                  env=templating.rule_environment(rulebook.template_dirs))
    # What lives for the whole run (rules, compiled engine, imports) need not be scanned by the
    # collection after every node: about half of its cost on a 110-pod node.
    gc.collect()
    gc.freeze()


def run(job):
    """{"report": document} | {"error": reason} | {"expand": [jobs]} (a cluster diags archive)."""
    started = time.perf_counter()
    try:
        result = _run(job)
        result["seconds"] = round(time.perf_counter() - started, 3)
        return result
    except InputError as exc:
        return {"error": one_line(exc)}
    except RecursionError:
        return {"error": "input nested too deeply to read"}
    except MemoryError:
        return {"error": "out of memory reading it"}
    except Exception as exc:  # a bug on one node must not lose the other nodes' reports
        return {"error": f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}"}
    finally:
        # Each job's evidence is garbage once its report is built: free its cycles now rather than
        # let a long run's heap grow.
        gc.collect()


def _run(job):
    from calirules.engine.runner import diagnose
    from calirules.report.build import build_report
    dump = _load(job)
    if isinstance(dump, list):
        return {"expand": dump}
    if not any(dump.get(section) for section in CORE_SECTIONS):
        what = "not a node's facts" if job.kind == "facts" else "not a sosreport or diags bundle"
        return {"error": f"{what}: found none of network interfaces, routes, sysctls"}
    diagnosis = diagnose(dump, _STATE["rulebook"], engine_class=_STATE["engine_class"])
    collected = (dump.get("collection") or {}).get("evidence_collected_at")  # what the bundle says, if anything
    return {"report": build_report(diagnosis, _STATE["rulebook"], source=job.label, env=_STATE["env"],
                                   evidence_collected_at=collected)}


def _load(job):
    if job.kind == "facts":
        from calirules.facts_collectors.dump import load_dump
        return load_dump(job.path)
    from calirules.facts_collectors import cluster_diags
    from calirules.facts_collectors.archive import open_source
    from calirules.facts_collectors.bundle import read_bundle
    source = open_source(job.path)
    if job.kind == "cluster-node":
        return read_bundle(cluster_diags.ClusterNodeSource(source, job.node), label=job.label)
    if cluster_diags.is_cluster_diags(source):
        names = cluster_diags.node_names(source)
        if not names:
            raise InputError("calicoctl cluster diags bundle without per-node data (nodes/<node>/)")
        return [Job("cluster-node", job.path, name) for name in names]
    return read_bundle(source, label=job.label)
