"""Combiners' declared inputs are honest: each reads exactly the dump sections it declares.

Ranking decides which evidence a rule lacks from these declarations (combiners.FACT_INPUTS), so a
section read but not declared would let a rule be evaluated on absent data, and a section declared
but never read would send people collecting evidence nothing uses. Every combiner runs here on
real dumps (the examples, the rules' inline tests and a bundle read from the raw fixtures) through
a dump that records which sections are asked for.
"""

import json
import shutil
from functools import lru_cache

import pytest
from calirules.engine.combiners import (
    COMBINERS,
    FACT_INPUTS,
    build_facts,
    combine,
    summarise,
)
from calirules.engine.combiners.base import Combiner, FactInputs, Inputs, Output
from calirules.engine.rulebook import load_rulebook
from calirules.engine.vocabulary import FACT_TYPES
from calirules.facts_collectors.bundle import read_bundle
from calirules.facts_collectors.dump import load_dump, normalise
from calirules.facts_collectors.source import DirectorySource

from calirules.authoring.ruletests import dump_for_test
from tests.helpers import EXAMPLES, REPO

RAW = REPO / "tests" / "fixtures" / "raw"
# The raw fixtures laid out as a sosreport (sos's file names), plus the guide case's nft listing.
SOS_LAYOUT = {
    "netns-lab/sysctl_-a": "sos_commands/kernel/sysctl_-a",
    "netns-lab/hostname": "sos_commands/host/hostname",
    "netns-lab/ip_-d_address": "sos_commands/networking/ip_-d_address",
    "netns-lab/ip_route_show_table_all": "sos_commands/networking/ip_route_show_table_all",
    "netns-lab/ip_-4_rule_list": "sos_commands/networking/ip_-4_rule_list",
    "netns-lab/nft_-a_list_ruleset": "sos_commands/firewall_tables/nft_-a_list_ruleset",
    "netns-lab/conntrack_-S": "sos_commands/networking/conntrack_-S",
    "lab/guide/iptables_-vnxL": "sos_commands/firewall_tables/iptables_-vnxL",
    "lab/guide/ip_tables_names": "proc/net/ip_tables_names",
}


class RecordingInputs(Inputs):
    """Inputs that note each section asked for (`asked`) and each one asked for that holds data (`used`)."""

    def __init__(self, dump):
        super().__init__(dump)
        self.asked, self.used = set(), set()
        self.get = self._recorded_get

    def _record(self, section):
        self.asked.add(section)
        if self._dump.get(section) is not None:
            self.used.add(section)

    def _recorded_get(self, section, default=None):
        self._record(section)
        return self._dump.get(section, default)

    def __getitem__(self, section):
        self._record(section)
        return self._dump[section]


class RecordingOutput(Output):
    """An Output that notes which fact types a combiner reads back (`of`)."""

    def __init__(self):
        super().__init__()
        self.types_read = set()

    def of(self, type_name):
        self.types_read.add(type_name)
        return super().of(type_name)


def run_recorded(dump, combiners=COMBINERS):
    """Run the combiners in order, each on its own recording view: (Output, {combiner: view});
    a view's `facts_read` are the fact types its combiner read back from the Output."""
    out, views = RecordingOutput(), {}
    for combiner in combiners:
        views[combiner] = view = RecordingInputs(dump)
        out.types_read = set()
        combiner.combine(view, out)
        view.facts_read = out.types_read
    return out, views


def undeclared_reads(dump, combiners=COMBINERS):
    return {(c.name, section) for c, view in run_recorded(dump, combiners)[1].items()
            for section in view.asked - c.reads}


def fixture_bundle_dump(tmp_path):
    root = tmp_path / "sosreport-fixtures"
    for raw, target in SOS_LAYOUT.items():
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RAW / raw, root / target)
    # Felix's own words (quoted from its source) where sos keeps calico-node's log
    felix_log = root / "var/log/calico/felix/current"
    felix_log.parent.mkdir(parents=True)
    felix_log.write_text(next(line for line in (RAW / "logs/calico-messages.quoted").read_text().splitlines()
                              if line.startswith("Iptables backend specified does not match")) + "\n")
    (root / "version.txt").write_text("sos report: 4.12.0\n")
    return read_bundle(DirectorySource(root))


@lru_cache(maxsize=None)
def _named_dumps():
    dumps = [(str(p.relative_to(REPO)), load_dump(p))
             for p in sorted(EXAMPLES.glob("*.yaml")) + sorted((EXAMPLES / "reasoning").glob("*.yaml"))]
    for rule in load_rulebook().rules:
        for test in rule.tests:
            dumps.append((f"rule {rule.id}: {test.get('name')}", normalise(dump_for_test(test))))
    return tuple(dumps)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    return list(_named_dumps()) + [("raw fixtures as a sosreport", fixture_bundle_dump(tmp_path_factory.mktemp("b")))]


def test_every_section_a_combiner_reads_is_declared(dumps):
    lies = {}
    for name, dump in dumps:
        for combiner, section in undeclared_reads(dump):
            lies.setdefault(f"{combiner} reads {section!r} undeclared", name)
    assert not lies, "\n".join(f"{lie} (first in {where})" for lie, where in lies.items())


def test_every_declared_section_is_read_with_data_by_some_dump(dumps):
    used = {c: set() for c in COMBINERS}
    for _name, dump in dumps:
        for combiner, view in run_recorded(dump)[1].items():
            used[combiner] |= view.used
    unread = {c.name: sorted(c.reads - used[c]) for c in COMBINERS if c.reads - used[c]}
    assert not unread, f"declared but never read from a dump that has them: {unread}"


def test_fact_types_a_combiner_reads_back_are_declared_and_made_before_it(dumps):
    made_before, order = set(), {}
    for combiner in COMBINERS:
        order[combiner] = set(made_before)
        made_before |= {m.fact for m in combiner.makes}
    for combiner in COMBINERS:
        assert set(combiner.reads_facts) <= order[combiner], combiner.name
    for name, dump in dumps:
        for combiner, view in run_recorded(dump)[1].items():
            assert view.facts_read <= set(combiner.reads_facts), (name, combiner.name, view.facts_read)


def test_the_summary_alone_is_the_summary_of_a_full_run(dumps):
    for name, dump in dumps[::5]:
        assert summarise(dump) == combine(dump).summary, name


def test_recording_changes_nothing(dumps):
    for name, dump in dumps[::7]:
        assert run_recorded(dump)[0].facts == build_facts(dump), name


def test_an_undeclared_read_is_caught():
    def sneaky(dump, out):
        for route in dump.get("routes") or ():
            out.add("Observation", route["source"], kind="note", text=route["dst"])
    honest = Combiner(sneaky, makes=(FactInputs("Observation", "observations"),), also_reads=("routes",))
    liar = Combiner(sneaky, makes=(FactInputs("Observation", "observations"),))
    dump = {"node": {"hostname": "n"}, "routes": [{"dst": "default", "dev": "eth0", "source": "r:1"}]}
    assert undeclared_reads(dump, (honest,)) == set()
    assert undeclared_reads(dump, (liar,)) == {(liar.name, "routes")}


def test_every_fact_type_is_made_by_exactly_one_combiner_from_dump_sections():
    makers = [m.fact for c in COMBINERS for m in c.makes]
    assert sorted(makers) == sorted(FACT_TYPES) and len(set(makers)) == len(makers)
    schema = json.loads((REPO / "facts_collectors/schema/facts-v1.schema.json").read_text())
    sections = set(schema["properties"])
    for fact, inputs in FACT_INPUTS.items():
        assert set(inputs.field_sections) <= set(FACT_TYPES[fact].fields), fact
        assert {inputs.section, *inputs.field_sections.values()} <= sections, fact
    assert all(c.reads <= sections for c in COMBINERS)


def _facts_alone(combiner, dump):
    out = Output()
    combiner.combine(Inputs(dump), out)
    return out


def field_changes(dump):
    """{(fact, field, section)}: a field that changes when only that section of `dump` is left out."""
    changes = set()
    for combiner in COMBINERS:
        if not combiner.makes:
            continue
        whole = _facts_alone(combiner, dump)
        for section in combiner.reads - {m.section for m in combiner.makes}:
            if dump.get(section) is None:
                continue
            without = _facts_alone(combiner, dict(dump, **{section: None}))
            for made in combiner.makes:
                for before, after in zip(whole.of(made.fact), without.of(made.fact)):
                    changes |= {(made.fact, f, section) for f in FACT_TYPES[made.fact].fields if before[f] != after[f]}
    return changes


def test_each_field_section_changes_its_field_in_some_dump(dumps):
    """A field declared to need a section is one that section feeds: leaving the section out of some
    real dump changes that field (so the declaration names the right field, not just any)."""
    seen = set()
    for _name, dump in dumps:
        seen |= field_changes(dump)
    declared = {(fact, f, s) for fact, inputs in FACT_INPUTS.items() for f, s in inputs.field_sections.items()}
    assert not declared - seen, sorted(declared - seen)
