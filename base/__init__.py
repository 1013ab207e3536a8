"""The shared base every other room stands on: errors, YAML I/O, schema loading, templating.

It imports nothing from calirules' other packages (the import contract in .ci/run checks it).
"""

__version__ = "0.1.0"
