"""calirules: explains why pods on a Calico node cannot reach each other.

The pipeline runs one way: source -> evidence -> facts -> engine -> findings -> renderers.
"""

__version__ = "0.1.0"
