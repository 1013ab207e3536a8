"""Parsers: text printed by Linux networking and Kubernetes tools -> plain dicts shaped like facts.

One module per format family. Each parser registers on the evidence it reads with
`@parser(Specs.x)` (facts_collectors.specs), takes the text and the name of the file it came
from (`source`), and every fact it returns carries `source: "<file>:<line>"`. Parsers never raise
on bad input: lines outside the grammar (stderr merged in by sos, junk) are skipped, and a file
cut off mid-line yields the complete records before the cut. Each carries a sample input and a
runnable example in its docstring.

The index of which parser reads which evidence, and where each bundle kind keeps it, is generated
from the registry: `calirules evidence`.
"""
