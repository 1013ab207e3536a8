"""The inference engine: YAML rules compiled to experta rules, run over facts, ranked into findings.

No I/O happens here beyond reading the package's own data files; callers hand in parsed facts.
"""
