"""Facts dumps from the schema and from real dumps, damaged, through `calirules diagnose --facts`:
exit 0, 1 or 2 (one `calirules: error:` line), never a traceback, never an internal error."""

import copy
import tempfile
from pathlib import Path

from calirules.facts_collectors.dump import dump_text
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.budget import fuzz_settings
from tests.fuzz.contract import assert_contract, run_within
from tests.fuzz.mutations import damaged_text, mutated_tree, render
from tests.fuzz.schema_strategy import facts_dumps, load_example

# Known bugs of issue 10 these properties find on this branch (fixed elsewhere): remove at merge.
# Real dumps with different causes, smallest first (each is parsed once per test run).
REAL_DUMPS = ("ip-pool-misconfigured.yaml", "rp-filter-loose.yaml", "version-skew.yaml")


def diagnose_bytes(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dump.yaml"
        path.write_bytes(data)
        return run_within("diagnose", "--facts", path, "--format", "json")


# A dump must hold at least one of these to be a node's facts (a check beyond the schema).
CORE_SECTIONS = ("interfaces", "routes", "sysctls")
A_SYSCTL = {"key": "net.ipv4.ip_forward", "value": "1", "source": "proc/sys/net/ipv4/ip_forward:1"}


@fuzz_settings(25)
@given(facts_dumps())
def test_schema_valid_dumps_are_diagnosed(dump):
    if not any(dump.get(section) for section in CORE_SECTIONS):
        dump["sysctls"] = [A_SYSCTL]
    # written as `calirules collect` writes (a YAML 1.1 writer would leave `1e+100` unquoted,
    # which YAML 1.2 reads as a number: a different document, rightly refused)
    code, out, err, took = diagnose_bytes(dump_text(dump).encode())
    assert_contract(code, out, err, took)
    assert code != 2, f"a dump the schema accepts is refused: {err}"


@fuzz_settings(35)
@given(st.data())
def test_schema_dumps_mutated(data):
    dump = data.draw(mutated_tree(data.draw(facts_dumps())))
    assert_contract(*diagnose_bytes(render(dump).encode()))


@fuzz_settings(25)
@given(st.data(), st.sampled_from(REAL_DUMPS))
def test_real_dumps_mutated(data, name):
    dump = data.draw(mutated_tree(copy.deepcopy(load_example(name))))
    assert_contract(*diagnose_bytes(render(dump).encode()))


@fuzz_settings(20)
@given(st.data(), st.sampled_from(REAL_DUMPS[:2]))
def test_real_dump_text_damaged(data, name):
    text = render(load_example(name))
    assert_contract(*diagnose_bytes(data.draw(damaged_text(text))))
