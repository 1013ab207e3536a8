"""One diagnosis: facts dump in, ranked Diagnosis out (no I/O, no rendering)."""

from calirules.engine import compiler, ranking
from calirules.engine.facts import build_facts, sections_present


def diagnose(dump, rulebook, symptom=None, engine_class=None):
    """Run every rule of `rulebook` over `dump`; `symptom` overrides the dump's own."""
    return trace(dump, rulebook, symptom, engine_class)[0]


def trace(dump, rulebook, symptom=None, engine_class=None):
    """(Diagnosis, engine facts, firings): what `--explain` needs to say why."""
    symptom = symptom or dump.get("symptom") or "same-node"
    facts = build_facts(dump, sysctl_keys=rulebook.sysctl_keys(), symptom=symptom)
    firings = compiler.run_engine(engine_class or compiler.compile_engine(rulebook), facts)
    missing = (dump.get("collection") or {}).get("missing") or ()
    return ranking.rank(rulebook, firings, sections_present(dump), symptom, missing), facts, firings
