"""Jinja environments: a sandbox for rule-supplied templates, a plain one for our report layouts.

Rule files and their templates are user input, so they render in a sandbox (template_sandbox.py)
with StrictUndefined: a typo in a template is an error the linter reports, not an empty string in
a remediation someone will paste into a root shell. Templates load only from the template
folders, links resolved (template_loader.py), and each render runs on a budget of time, memory
and output (template_limits.py). Whatever goes wrong inside a template, a Jinja error, a Python
exception (`{{ 1/0 }}`) or a limit, is that template's error: an InputError naming the template
and its line.
"""

import weakref

from calirules.base.errors import InputError
from calirules.base.template_limits import Budget, LimitExceeded
from calirules.base.template_loader import ConfinedLoader
from calirules.base.template_sandbox import LimitedSandbox
from jinja2 import StrictUndefined, TemplateError, TemplateNotFound, TemplateSyntaxError

_INLINE_FILE = "<template>"  # the file name Jinja gives a template compiled from a string
_MAX_MESSAGE = 300


def rule_environment(template_dirs):
    return LimitedSandbox(loader=ConfinedLoader(template_dirs),
                          undefined=StrictUndefined, autoescape=False,
                          trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render_inline(env, source, context, where):
    return _render(env, ("inline", source), where, lambda: _compiled(env, source), context)


def render_file(env, name, context):
    return _render(env, ("file", name), name, lambda: env.get_template(name), context)


# Evidence and `says` strings compiled once per environment: a report renders the same few strings
# for every firing, and `rules lint` builds ~1,600 reports with one environment.
_INLINE = weakref.WeakKeyDictionary()


def _compiled(env, source):
    templates = _INLINE.setdefault(env, {})
    if source not in templates:
        templates[source] = env.from_string(source)
    return templates[source]


def _render(env, key, where, load, context):
    if key in env.exhausted:  # it ran into a limit before: running it again would only take as long
        raise InputError(env.exhausted[key])
    env.budget = Budget()
    try:
        return load().render(context).strip()
    except Exception as exc:  # noqa: BLE001 - a template is code: whatever it raises is its error
        message = _describe(exc, env, where)
        if isinstance(exc, LimitExceeded):
            env.exhausted[key] = message
        raise InputError(message) from None
    finally:
        env.budget.close()
        env.budget = None


def _describe(exc, env, where):
    name, line = _where_in_template(exc, env, where)
    location = f"{name}:{line}" if line else name
    return f"template error in {location}: {_one_line(_reason(exc))}"


def _where_in_template(exc, env, where):
    """The template (its name, or `where` for an inline one) and line the error is in."""
    names = getattr(env.loader, "names", {})
    if isinstance(exc, TemplateSyntaxError):
        return names.get(exc.filename, exc.name or where), exc.lineno
    found = (where, None)
    traceback = exc.__traceback__
    while traceback is not None:  # Jinja rewrote its frames to show template files and lines
        filename = traceback.tb_frame.f_code.co_filename
        if filename in names:
            found = (names[filename], traceback.tb_lineno)
        elif filename == _INLINE_FILE:
            found = (where, traceback.tb_lineno)
        traceback = traceback.tb_next
    return found


def _reason(exc):
    if isinstance(exc, TemplateSyntaxError):
        return exc.message or "syntax error"
    if isinstance(exc, TemplateNotFound):
        return exc.message if exc.message and exc.message != exc.name else f"no template {exc.name}"
    if isinstance(exc, (TemplateError, LimitExceeded)):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "calls nest too deeply (a macro or include that calls itself?)"
    if isinstance(exc, MemoryError):
        return "ran out of memory"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _one_line(text):
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."
