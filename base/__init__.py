"""The shared base every other room stands on: errors, YAML I/O, schema loading, templating.

It imports nothing from calirules' other packages (an import-linter contract checks it in CI).
"""

__version__ = "0.1.0"
