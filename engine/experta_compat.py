"""The one place calirules imports experta.

experta 1.9.4 (the newest release) pins frozendict==1.2, whose module body subclasses
`collections.Mapping`. That alias was removed in Python 3.10, so a plain `import experta` fails
with AttributeError on 3.10-3.13. We keep the published pins (a plain `pip install calirules`
gets exactly experta 1.9.4 + frozendict 1.2) and, only while frozendict is first imported,
provide the alias from `collections.abc`; it is removed again afterwards so nothing else sees it.

experta also calls `logging.basicConfig()` at import time, which would attach a stderr handler
to the root logger of whatever program imports us; we detach the handlers it added.
"""

import collections
import collections.abc
import logging


def _import_experta():
    added_alias = not hasattr(collections, "Mapping")
    if added_alias:
        collections.Mapping = collections.abc.Mapping
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    try:
        import experta  # noqa: F401  (imports frozendict under the alias)
    finally:
        if added_alias:
            del collections.Mapping
        for handler in root.handlers[:]:
            if handler not in handlers_before:
                root.removeHandler(handler)
    return experta


experta = _import_experta()

from experta import AS, MATCH, NOT, Fact, KnowledgeEngine, P, Rule, W  # noqa: E402

__all__ = ["AS", "MATCH", "NOT", "Fact", "KnowledgeEngine", "P", "Rule", "W", "experta"]
