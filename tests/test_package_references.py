"""No docstring, comment, message or template of the package names a file its users do not have.

A user has the installed package: the `calirules.*` packages, their Python modules and the data
files pyproject.toml ships with them. The source repository around it (docs/, tests/, bench/,
examples/, .ci/, README.md) and the project's design card and reference notes beside the
repository are not installed, so a docstring that sends a reader there points nowhere, and an
error message that does so is worse.

The scan reads what a reader of the package sees as text: docstrings, comments and string
literals of every module (via tokenize), and the whole of each Jinja template. Every path-looking
token that names a place in the project is resolved against the installed tree; tokens that name
other things (node paths such as /proc/sys/..., bundle paths such as sos_commands/...,
upstream source files such as felix/config/config_params.go, URLs, `calirules/v1` API versions)
are not references to project files and are left alone.
"""

import fnmatch
import importlib.util
import io
import re
import tokenize
from functools import lru_cache
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11; the suite runs on 3.11+

REPO = Path(__file__).resolve().parent.parent
# Rooms of the project that are not part of the repository: the design card and the reference
# notes kept beside it (never installed, never in a clean clone).
PROJECT_ROOMS_BESIDE_THE_REPO = {"design.md", "reference"}
# What a working copy may hold beside the project's own rooms (git, virtualenvs, build output).
LOCAL_ARTIFACTS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache"}
# Extensions of documents: the package ships none, so a bare `writing-rules.md` is a reference
# to a file the user does not have wherever it is.
DOCUMENT_EXTENSIONS = (".md", ".rst")
# Bare module and template names are ours: they must name a shipped file.
OWN_FILE_EXTENSIONS = (".py", ".j2")

# References that other sessions' files still make; they own those files and remove these as they
# reword them (file relative to the repository, token as found). The lead deletes this list when
# merging. Every entry must still be found: a stale entry fails the test too.
KNOWN_OFFENDERS = set()  # (file, token) pairs tolerated for now; empty: every reference resolves

_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_TOKEN = re.compile(r"[A-Za-z0-9_.~*<>{}@+\-]*(?:/[A-Za-z0-9_.~*<>{}@+\-]*)+|[A-Za-z0-9_.\-]+\.[A-Za-z0-9]+")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]*$")


def _pyproject():
    with open(REPO / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["setuptools"]


def _package_dirs():
    """{package: its installed directory} for every package pyproject.toml installs."""
    dirs = {}
    for package in _pyproject()["packages"]:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
        dirs[package] = Path(list(spec.submodule_search_locations)[0])
    return dirs


def _shipped_files():
    """Paths (`calirules/engine/data/causes.yaml`) of the files an installed package holds."""
    package_data = _pyproject().get("package-data", {})
    shipped = set()
    for package, directory in _package_dirs().items():
        prefix = package.replace(".", "/")
        patterns = package_data.get(package, [])
        for path in directory.rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(directory).as_posix()
            if (path.suffix == ".py" and "/" not in relative) or any(fnmatch.fnmatch(relative, p) for p in patterns):
                shipped.add(f"{prefix}/{relative}")
    return shipped


def _source_rooms():
    """{top-level name in the repository: installed path prefix or None when it is not installed}."""
    rooms = {}
    package_dir = {src: package.replace(".", "/") for package, src in _pyproject()["package-dir"].items()
                   if "." not in src and "/" not in src}
    for entry in REPO.iterdir():
        if entry.name not in LOCAL_ARTIFACTS and not entry.name.endswith(".egg-info"):
            rooms[entry.name] = package_dir.get(entry.name)
    for name in PROJECT_ROOMS_BESIDE_THE_REPO:
        rooms.setdefault(name, None)
    return rooms


def _texts(path):
    """(line, text) of every docstring, comment and string literal of a module; a template whole."""
    source = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        yield from enumerate(source.splitlines(), start=1)
        return
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT) or token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
            for offset, line in enumerate(token.string.splitlines()):
                yield token.start[0] + offset, line


def _references(text):
    """Path-looking tokens of one line, URLs removed and sentence punctuation stripped."""
    for token in _TOKEN.findall(_URL.sub(" ", text)):
        token = token.rstrip(".,:;)'`\"")
        if token.endswith("/."):
            token = token[:-1]
        if token and not token.startswith(("/", "..", "~")):
            yield token


class Resolver:
    """Decides, token by token, whether text names a file a package user does not have."""

    def __init__(self):
        self.shipped = _shipped_files()
        self.shipped_dirs = {str(Path(p).parent.as_posix()) for p in self.shipped}
        for directory in list(self.shipped_dirs):
            while "/" in directory:
                directory = directory.rsplit("/", 1)[0]
                self.shipped_dirs.add(directory)
        self.basenames = {p.rsplit("/", 1)[1] for p in self.shipped}
        self.inner_dirs = {part for p in self.shipped for part in p.split("/")[2:-1]}
        self.rooms = _source_rooms()

    def exists(self, installed_path):
        installed_path = installed_path.rstrip("/")
        return installed_path in self.shipped or installed_path in self.shipped_dirs

    def problem(self, token):
        """Why `token` names a file a package user does not have, or None when it does not."""
        first, slash, rest = token.partition("/")
        if not slash:
            if first in self.rooms and self.rooms[first] is None:
                return "not installed"
            if first.endswith(DOCUMENT_EXTENSIONS):
                return "documents are not installed"
            if first.endswith(OWN_FILE_EXTENSIONS) and first not in self.basenames:
                return "no installed file has this name"
            return None
        if first in self.rooms:
            installed = self.rooms[first]
            if installed is None:
                return "not installed"
            looks_like_file = bool(_EXTENSION.search(token)) or token.endswith("/")
            candidate = f"{installed}/{rest}" if rest else installed
            if self.exists(candidate):
                return None
            if looks_like_file:
                return f"{candidate} is not in the installed package"
            return None
        if first in self.inner_dirs and _EXTENSION.search(token):
            # `data/causes.yaml`, `parsers/kube.py`: a path inside some package
            if not any(p.endswith("/" + token) for p in self.shipped):
                return "no installed file has this path"
        if token.endswith(DOCUMENT_EXTENSIONS):
            return "documents are not installed"
        return None


def _scanned_files():
    dirs = _package_dirs()
    for package, directory in sorted(dirs.items()):
        for path in sorted(directory.glob("*.py")):
            yield path
    yield from sorted(dirs["calirules.templates"].rglob("*.j2"))


def _display(path):
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.as_posix()


@lru_cache(maxsize=None)
def resolver():
    return Resolver()


def find_offenders():
    resolver_ = resolver()
    found = []
    for path in _scanned_files():
        for lineno, text in _texts(path):
            for token in _references(text):
                problem = resolver_.problem(token)
                if problem:
                    found.append((_display(path), lineno, token, problem))
    return found


def test_no_reference_to_a_file_outside_the_package():
    found = find_offenders()
    allowed = {(f, t) for f, _line, t, _problem in found if (f, t) in KNOWN_OFFENDERS}
    unexpected = [f"{f}:{line}: `{t}`: {problem}" for f, line, t, problem in found if (f, t) not in allowed]
    assert not unexpected, "names of files a package user does not have:\n" + "\n".join(unexpected)
    stale = KNOWN_OFFENDERS - allowed
    assert not stale, f"allowlisted references no longer found (remove them): {sorted(stale)}"


@pytest.mark.parametrize("token, expected", [
    ("design.md", "not installed"),
    ("writing-rules.md", "documents are not installed"),
    ("reference/causes.yaml", "not installed"),
    ("docs/writing-rules.md", "not installed"),
    ("tests/lab", "not installed"),
    (".ci/run", "not installed"),
    ("bench/bench.py", "not installed"),
    ("engine/ruletests.py", "calirules/engine/ruletests.py is not in the installed package"),
    ("engine/data/causes.yaml", None),
    ("data/causes.yaml", None),
    ("facts_collectors/parsers/kube.py", None),
    ("templates/report/", None),
    ("calirules/report/v1", None),
    ("sos_commands/networking/ip_route_show_table_all", None),
    ("felix/config/env_var_loader.go", None),
    ("specs.py", None),
    ("nosuchmodule.py", "no installed file has this name"),
])
def test_resolver(token, expected):
    assert resolver().problem(token) == expected
