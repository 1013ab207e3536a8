"""calirules: explains why pods on a Calico node cannot reach each other.

The pipeline runs one way: source -> evidence -> facts -> engine -> findings -> renderers.
"""

from calirules.base import __version__  # noqa: F401  (one version, kept in the base)
