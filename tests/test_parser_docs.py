"""Every parser shows a sample of what it reads and what it makes of it, and the examples run.

Each public function of a parser module carries, in its docstring, a short piece of the tool
output it reads and a `>>>` example of the result; this test runs every example (doctest) and
fails for a public function without one, so a new parser cannot land without its sample.
"""

import doctest
import importlib
import inspect
import pkgutil

import pytest
from calirules.facts_collectors import parsers

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

MODULES = [importlib.import_module(f"{parsers.__name__}.{info.name}")
           for info in pkgutil.iter_modules(parsers.__path__) if not info.name.startswith("_")]


def public_functions(module):
    """(name, function) for each public function a parser module defines (aliases once).

    Decorators (a registry that records the parser) may wrap a function; the example is read from
    the function they wrap, which is where its docstring is."""
    seen = set()
    for name, value in vars(module).items():
        if name.startswith("_") or not callable(value) or inspect.isclass(value):
            continue
        function = inspect.unwrap(value)
        if getattr(function, "__module__", None) != module.__name__ or id(function) in seen:
            continue
        seen.add(id(function))
        yield name, function


FUNCTIONS = [(module, name, function) for module in MODULES for name, function in public_functions(module)]


def test_parser_modules_are_found():
    names = {module.__name__.rsplit(".", 1)[1] for module in MODULES}
    assert {"iproute", "iptables", "nft", "sysctl", "kube", "logs"} <= names
    assert any(name.startswith("parse_") for _module, name, _function in FUNCTIONS)


@pytest.mark.parametrize("module, name, function", FUNCTIONS,
                         ids=[f"{m.__name__.rsplit('.', 1)[1]}.{n}" for m, n, _f in FUNCTIONS])
def test_public_parser_function_has_a_runnable_example(module, name, function):
    finder = doctest.DocTestFinder(recurse=False)
    tests = finder.find(function, f"{module.__name__}.{name}", module=False, globs=dict(vars(module)))
    examples = [example for test in tests for example in test.examples]
    assert examples, (f"{module.__name__}.{name} has no `>>>` example: give it a few lines of real "
                      f"tool output and what it returns for them")
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


@pytest.mark.parametrize("module", MODULES, ids=[m.__name__.rsplit(".", 1)[1] for m in MODULES])
def test_module_docstring_examples_run(module):
    tests = doctest.DocTestFinder(recurse=False).find(module, module.__name__)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
