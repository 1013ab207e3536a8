"""Version strings as Kubernetes, Calico and distributions print them, made comparable.

`v1.19.16`, `1.19.16+k3s1`, `v1.27.3-eks-a5565ad`, `v3.11.3`, `3.26` all reduce to integer
tuples; anything after the numeric part (pre-release, build metadata) is ignored on purpose:
the support matrix speaks in minor versions.
"""

import re

_VERSION = re.compile(r"^\s*[vV]?(\d+)(?:\.(\d+))?(?:\.(\d+))?")
# No release numbers a part with more digits; a longer run (damaged or hostile evidence) makes the
# text not a version rather than a number Python may refuse to read (past 4,300 digits).
MAX_PART_DIGITS = 9


def parse(text):
    """Return (major, minor, patch) with missing parts as 0, or None if `text` has no version."""
    if text is None:
        return None
    match = _VERSION.match(str(text))
    if not match or any(part is not None and len(part) > MAX_PART_DIGITS for part in match.groups()):
        return None
    return tuple(int(part) if part is not None else 0 for part in match.groups())


def minor(text):
    """'v1.19.16' -> '1.19' (None when unparseable)."""
    parsed = parse(text)
    return f"{parsed[0]}.{parsed[1]}" if parsed else None


def compare(left, right):
    """-1, 0 or 1; raises ValueError when either side is not a version."""
    a, b = parse(left), parse(right)
    if a is None or b is None:
        raise ValueError(f"not a version: {left if a is None else right!r}")
    return (a > b) - (a < b)
