"""The evidence registry as a table: `calirules evidence` and the evidence tables of the docs.

Generated, never kept by hand: each row is one `Specs` attribute with the section it fills, where
each source kind keeps it and the parsers registered on it.
"""

from calirules.facts_collectors import specs


def rows():
    """One dict per spec, in declaration order."""
    specs.load_parsers()
    out = []
    for spec in specs.all_specs():
        reads = spec.command_line or spec.file or ""
        if spec.patterns and not reads:
            reads = spec.collect_with
        out.append({
            "name": spec.name, "sections": list(spec.sections), "what": spec.what, "reads": reads,
            "sosreport": [p for p in spec.paths if p not in spec.node_diags] + list(spec.patterns),
            "calicoctl_node_diags": list(spec.node_diags),
            "calicoctl_cluster_diags": spec.cluster_diags and (
                spec.cluster_diags if spec.cluster_diags.startswith(specs.CLUSTER_SHARED)
                else f"nodes/<node>/{spec.cluster_diags}"),
            "live": spec.live, "sos_extras": spec.extras,
            # sorted: registration order depends on which module was imported first
            "parsers": sorted(f"{function.__module__.rsplit('.', 1)[1]}.{function.__name__}" for function, _p in spec.parsers),
        })
    return out


def markdown():
    lines = ["| evidence | section | reads | sosreport | calicoctl node diags | cluster diags | live | parsers |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows():
        sos = "<br>".join(f"`{p}`" for p in row["sosreport"]) or "-"
        if row["sos_extras"]:
            sos += " (sos-extras)"
        lines.append("| " + " | ".join((
            f"`Specs.{row['name']}`: {row['what']}", ", ".join(row["sections"]), f"`{row['reads']}`" if row["reads"] else "-",
            sos, "<br>".join(f"`{p}`" for p in row["calicoctl_node_diags"]) or "-",
            f"`{row['calicoctl_cluster_diags']}`" if row["calicoctl_cluster_diags"] else "-",
            "yes" if row["live"] else "-", "<br>".join(f"`{p}`" for p in row["parsers"]) or "-")) + " |")
    return "\n".join(lines) + "\n"


def text():
    lines = []
    for row in rows():
        lines.append(f"{row['name']:24} {', '.join(row['sections']):28} {row['reads']}")
        for label, value in (("sosreport", row["sosreport"]), ("node diags", row["calicoctl_node_diags"]),
                             ("cluster diags", [row["calicoctl_cluster_diags"]] if row["calicoctl_cluster_diags"] else []),
                             ("parsers", row["parsers"])):
            if value:
                lines.append(f"{'':24} {label + ':':14} {', '.join(value)}")
    return "\n".join(lines) + "\n"

