"""One diagnosis: facts dump in, ranked Diagnosis out (no I/O, no rendering)."""

from calirules.engine import compiler, ranking
from calirules.engine.combiners import combine, sections_present


def diagnose(dump, rulebook, symptom=None, engine_class=None):
    """Run every rule of `rulebook` over `dump`; `symptom` overrides the dump's own."""
    return trace(dump, rulebook, symptom, engine_class)[0]


def trace(dump, rulebook, symptom=None, engine_class=None):
    """(Diagnosis, engine facts, firings): what `--explain` needs to say why."""
    symptom = symptom or dump.get("symptom") or "same-node"
    combined = combine(dump, sysctl_keys=rulebook.sysctl_keys(), symptom=symptom)
    matched = rulebook.fact_types()
    declared = [fact for fact in combined.facts if fact[0] in matched]
    firings = compiler.run_engine(engine_class or compiler.compile_engine(rulebook), declared)
    missing = (dump.get("collection") or {}).get("missing") or ()
    diagnosis = ranking.rank(rulebook, firings, sections_present(dump), symptom, missing)
    diagnosis.summary = combined.summary
    return diagnosis, combined.facts, firings
