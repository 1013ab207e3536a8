"""No parser raises, whatever prefix of whatever fixture (or non-text) it is handed."""

import importlib
import inspect
import pkgutil
import random

import pytest
from calirules.facts_collectors import parsers, specs
from calirules.facts_collectors.parsers import sysctl
from rawfixtures import RAW


def _text_parsers():
    """Every parser that reads a file's text: each registered on the evidence registry, and every
    public parse_* helper of the parser modules. None is listed by hand, so a new parser is walked."""
    found = list(specs.all_parsers())
    for info in pkgutil.iter_modules(parsers.__path__):
        module = importlib.import_module(f"{parsers.__name__}.{info.name}")
        found += [f for name, f in vars(module).items()
                  if name.startswith("parse_") and inspect.isfunction(f) and f.__module__ == module.__name__]
    unique = list(dict.fromkeys(found))
    return [f for f in unique if _takes_text_and_source(f)]


def _takes_text_and_source(function):
    params = list(inspect.signature(function).parameters.values())
    return [p.name for p in params[:2]] == ["text", "source"] and all(
        p.default is not inspect.Parameter.empty for p in params[2:])


PARSERS = _text_parsers()
FIXTURES = sorted(path for path in RAW.rglob("*") if path.is_file() and path.suffix not in (".sh", ".md"))
# Characters that matter to some grammar: quotes, braces, continuations, counters, separators.
SPICE = ['"', "{", "}", "\\", "\t", "[", "@", ":", "=", "#", "-A ", "-g", "nexthop ", "*nat\n", ":X - ["]


def damaged_versions(text, seed):
    generator = random.Random(seed)
    for _ in range(6):
        prefix = text[:generator.randrange(len(text) + 1)]
        yield prefix
        if prefix:
            at = generator.randrange(len(prefix))
            yield prefix[:at] + generator.choice(SPICE) + prefix[at + 1:]


@pytest.mark.parametrize("parse", PARSERS, ids=lambda parse: parse.__name__)
def test_parser_survives_every_damaged_fixture(parse):
    results = 0
    for number, path in enumerate(FIXTURES):
        for text in damaged_versions(path.read_text(encoding="utf-8"), number):
            assert isinstance(parse(text, "damaged"), (list, dict))
            results += 1
    for odd in (None, b"\xff\xfe\x00 1: x", 42, ""):
        assert not parse(odd, "odd") or isinstance(parse(odd, "odd"), (list, dict))
    assert results > 100


def test_the_walk_covers_the_registry():
    registered = {f.__name__ for f in specs.all_parsers()}
    walked = {f.__name__ for f in PARSERS}
    # the ones that take something else: a path and text, a list of files, the kind of log
    assert registered - walked == {"parse_proc_sys_file", "networkmanager_claims", "networkd_claims",
                                   "log_events_from_file"}
    assert {"parse_ip_link", "parse_iptables_save", "parse_cri_log"} <= walked


def test_proc_sys_file_survives_odd_paths():
    for path in (None, 42, "", "proc/sys/", "/proc/sys/net/a b/c", "xproc/sys/net/x", "C:\\bundle\\proc\\sys\\net\\x"):
        assert isinstance(sysctl.parse_proc_sys_file(path, "1\n"), list)
    windows_path = "C:\\bundle\\proc\\sys\\net\\ipv4\\ip_forward"
    assert sysctl.parse_proc_sys_file(windows_path, "1\n")[0]["key"] == "net.ipv4.ip_forward"
