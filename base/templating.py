"""Jinja environments: a sandbox for rule-supplied templates, a plain one for our report layouts.

Rule files and their templates are user input, so they render in a SandboxedEnvironment with
StrictUndefined: a typo in a template is an error the linter reports, not an empty string in a
remediation someone will paste into a root shell.
"""

import weakref

from calirules.base.errors import InputError
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment


def rule_environment(template_dirs):
    return SandboxedEnvironment(loader=FileSystemLoader([str(d) for d in template_dirs]),
                                undefined=StrictUndefined, autoescape=False,
                                trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False)


def render_inline(env, source, context, where):
    try:
        return _compiled(env, source).render(context).strip()
    except TemplateError as exc:
        raise InputError(f"template error in {where}: {exc}") from None


# Evidence and `says` strings compiled once per environment: a report renders the same few strings
# for every firing, and `rules lint` builds ~1,600 reports with one environment.
_INLINE = weakref.WeakKeyDictionary()


def _compiled(env, source):
    templates = _INLINE.setdefault(env, {})
    if source not in templates:
        templates[source] = env.from_string(source)
    return templates[source]


def render_file(env, name, context):
    try:
        return env.get_template(name).render(context).strip()
    except TemplateError as exc:
        raise InputError(f"template error in {name}: {exc}") from None
