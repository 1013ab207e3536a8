"""What a combiner is: a function from dump sections to engine facts, with its inputs declared.

A combiner declares, next to its code, every dump section it reads:
  - for each fact type it makes, the section without which no fact of that type exists
    (`FactInputs.section`) and the further sections single fields need (`field_sections`:
    without one, those fields are None and a rule that needs them is not evaluated);
  - `also_reads`: sections it consults that no field needs (their absence only narrows what a
    fact says, so ranking must not report them missing);
  - `reads_facts`: fact types other combiners made that it reads (it runs after them).
Ranking and missing-evidence reasoning read these declarations (combiners.FACT_INPUTS); a test
runs every combiner on real dumps and checks that the sections it reads are the ones declared.
"""

from dataclasses import dataclass, field

from calirules.engine.vocabulary import FACT_TYPES


@dataclass(frozen=True)
class FactInputs:
    """The dump sections one fact type is built from."""
    fact: str
    section: str  # the dump section this fact cannot exist without
    field_sections: dict = field(default_factory=dict)  # field -> the further section it needs


@dataclass(frozen=True, eq=False)  # compared and hashed as itself: one object per combiner
class Combiner:
    """One fact family: `combine(dump, out)` reads `dump` (an Inputs) and adds facts to `out`."""
    combine: object
    makes: tuple = ()  # FactInputs of each fact type it adds
    also_reads: tuple = ()
    reads_facts: tuple = ()

    @property
    def name(self):
        module = self.combine.__module__.rsplit(".", 1)[-1]
        return module if self.combine.__name__ == "combine" else f"{module}.{self.combine.__name__}"

    @property
    def reads(self):
        """Every dump section the declarations name."""
        return ({m.section for m in self.makes} | {s for m in self.makes for s in m.field_sections.values()}
                | set(self.also_reads))


class Inputs:
    """A dump as combiners see it: its sections, the run's options, and pieces several combiners
    share (each computed once per dump: `shared(function)` calls function(self) the first time)."""

    def __init__(self, dump, symptom=None, sysctl_keys=None):
        self._dump = dump
        self.get = dump.get
        self.symptom = symptom or dump.get("symptom") or "same-node"
        self.sysctl_keys = sysctl_keys  # None: every sysctl
        self._shared = {}

    def __getitem__(self, section):
        return self._dump[section]

    def shared(self, function):
        if function not in self._shared:
            self._shared[function] = function(self)
        return self._shared[function]


class Output:
    """What combiners produce: the facts, in order, as (type name, fields dict) with every field of
    the type; and the node summary for reports (combiners.summary)."""

    def __init__(self):
        self.facts = []
        self.summary = None
        self._by_type = {}

    def add(self, type_name, source=None, sources=None, **values):
        record = {name: values.get(name) for name in FACT_TYPES[type_name].fields}
        record["source"] = source
        record["sources"] = {k: v for k, v in (sources or {}).items() if v}
        self.facts.append((type_name, record))
        self._by_type.setdefault(type_name, []).append(record)

    def of(self, type_name):
        """The facts of one type added so far."""
        return self._by_type.get(type_name, [])


def sections_present(dump):
    """Dump sections that were collected (an empty list still counts: collected, nothing there)."""
    return {name for name, value in dump.items() if value is not None} | {"node"}
