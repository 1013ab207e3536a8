"""PATHs -> the fleet document: discover, diagnose on every core, add the saved reports, compare."""

from calirules.fleet import inputs, pool, reports
from calirules.fleet.document import error_entry, fleet_document, node_entry


def diagnose_fleet(paths, processes, rules_dirs=(), progress=None, titles=None):
    found = inputs.discover(paths)
    entries = [error_entry(source, reason) for source, reason in found.errors]
    for job, result in pool.run_jobs(found.jobs, processes, rules_dirs, progress):
        if "report" in result:
            entries.append(node_entry(result["report"], job.label, seconds=result.get("seconds")))
        else:
            entries.append(error_entry(job.label, result["error"], node=job.node))
    entries.extend(node_entry(doc, where) for doc, where in reports.newest_per_node(found.reports))
    return fleet_document(entries, titles)
