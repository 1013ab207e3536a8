"""How much each property runs: a short fixed-seed default for every test run, a longer opt-in one.

CALIRULES_FUZZ_EXAMPLES=N runs every property N times (still derandomized: the same N inputs on
every machine) and lets hypothesis shrink a failure to its smallest form; without it each property
runs its own small default, and a failure is reported as found (shrinking costs more calls than the
whole default budget)."""

import os

from hypothesis import HealthCheck, Phase, settings

LONG_RUN = os.environ.get("CALIRULES_FUZZ_EXAMPLES", "").strip()

# One CLI call on any generated input must end well within this; the bound is 60 s, and
# nothing the default strategies generate is meant to take more than a fraction of a second.
EXAMPLE_SECONDS = 20.0


def fuzz_settings(default_examples):
    """Settings for one property: fixed seed, no example database, no per-example deadline
    (EXAMPLE_SECONDS is checked around each CLI call instead, on a shared machine)."""
    examples = int(LONG_RUN) if LONG_RUN else default_examples
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if LONG_RUN else [])
    return settings(max_examples=examples, derandomize=True, database=None, deadline=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example, HealthCheck.filter_too_much,
                                           HealthCheck.function_scoped_fixture])
