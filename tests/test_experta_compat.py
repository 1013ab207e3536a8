"""experta 1.9.4 pins frozendict==1.2, which cannot be imported on Python >= 3.10 as is."""

import collections
import importlib.metadata
import subprocess
import sys

import pytest


def test_the_published_pins_are_what_we_run_on():
    # The shim exists for exactly these versions; if pip resolves something else, rethink it.
    assert importlib.metadata.version("experta") == "1.9.4"
    assert importlib.metadata.version("frozendict") == "1.2"


@pytest.mark.skipif(sys.version_info < (3, 10), reason="the alias exists before 3.10")
def test_frozendict_alone_fails_on_this_python():
    code = "import frozendict"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode != 0
    assert "collections' has no attribute 'Mapping'" in proc.stderr


def test_engine_imports_and_runs_through_the_shim():
    code = (
        "import collections, logging\n"
        "from calirules.engine.experta_compat import KnowledgeEngine, Fact, Rule\n"
        "class F(Fact): pass\n"
        "hits = []\n"
        "class E(KnowledgeEngine):\n"
        "    @Rule(F(x=1))\n"
        "    def r(self): hits.append(1)\n"
        "e = E(); e.reset(); e.declare(F(x=1)); e.run()\n"
        "assert hits == [1]\n"
        "assert not hasattr(collections, 'Mapping'), 'alias leaked'\n"
        "assert logging.getLogger().handlers == [], 'experta basicConfig handler leaked'\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_importing_in_process_leaves_no_alias():
    import calirules.engine.experta_compat  # noqa: F401
    if sys.version_info >= (3, 10):
        assert not hasattr(collections, "Mapping")
