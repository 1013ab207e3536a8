"""The evidence registry is the only registry: what is generated from it stays in step with it."""

import importlib.util
from pathlib import Path

import pytest
import yaml
from calirules.facts_collectors import cluster_diags, evidence_table, specs
from calirules.facts_collectors.specs import Spec, Specs

REPO = Path(__file__).resolve().parent.parent
# docs/regenerate_evidence.py is a script of the source tree, not of the package: load it by path.
_SCRIPT = importlib.util.spec_from_file_location("regenerate_evidence", REPO / "docs" / "regenerate_evidence.py")
regenerate_evidence = importlib.util.module_from_spec(_SCRIPT)
_SCRIPT.loader.exec_module(regenerate_evidence)


def test_docs_table_is_generated_from_the_registry():
    doc = (REPO / "docs/evidence.md").read_text(encoding="utf-8")
    assert doc == regenerate_evidence.DOC_HEADER + evidence_table.markdown(), \
        "docs/evidence.md is stale: run `python docs/regenerate_evidence.py`"


def test_engine_missing_hints_are_the_registrys():
    sections = yaml.safe_load((REPO / "engine/data/sections.yaml").read_text(encoding="utf-8"))
    filled = {section for spec in specs.all_specs() for section in spec.sections}
    for section in filled:
        assert section in sections, f"engine/data/sections.yaml lacks {section}"
        assert sections[section]["collect_with"] == specs.section_collect_with(section), \
            f"{section}: engine/data/sections.yaml is stale: run `python docs/regenerate_evidence.py`"


def test_every_spec_is_named_after_its_attribute_and_parsed():
    for spec in specs.all_specs():
        assert getattr(Specs, spec.name) is spec
        assert spec.parsers or spec.presence_only, f"{spec!r}: no parser registered"
        assert spec.collect_with, f"{spec!r}: no hint to collect it"


def test_live_collection_writes_where_the_reader_looks():
    for spec in specs.all_specs():
        if spec.live:
            assert spec.live_path == spec.paths[0], spec


def test_parsers_say_which_evidence_they_read():
    for function in specs.all_parsers():
        assert function.specs, function


def test_a_parser_registered_for_one_path_wins_there():
    lsmod = Specs.proc_modules.parser_for("sos_commands/kernel/lsmod")
    proc = Specs.proc_modules.parser_for("proc/modules")
    assert (lsmod.__name__, proc.__name__) == ("parse_lsmod", "parse_proc_modules")


def test_cluster_diags_file_map_comes_from_the_declarations():
    assert cluster_diags.NODE_FILES[Specs.ip_route.paths[0]] == "ip-route.txt"
    assert cluster_diags.SHARED_FILES[Specs.calicoctl_ippools.paths[0]].startswith("cluster/crd/ippools")
    assert all(not name.startswith("cluster/") for name in cluster_diags.NODE_FILES.values())


def test_sos_extras_asks_for_every_extras_command_live_collection_runs():
    extras = specs.sos_extras_file().splitlines()
    for spec in specs.all_specs():
        if spec.extras and spec.live:
            assert spec.command_line in extras, spec


@pytest.mark.parametrize("key, name", [("ip -d route show table all", "ip_route"), ("/proc/modules", "proc_modules"),
                                       ("iptables-save   -c", "calicoctl_iptables"), ("nft -a list ruleset", "nft_ruleset")])
def test_find_spec_by_what_a_person_ran(key, name):
    assert specs.find_spec(key).name == name


def test_find_spec_of_unknown_evidence_is_none():
    assert specs.find_spec("rm -rf /") is None


def test_a_spec_must_say_what_it_reads():
    with pytest.raises(ValueError):
        Spec("routes", "nothing at all")
