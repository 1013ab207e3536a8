"""The sandbox rule-supplied templates render in: Jinja's immutable sandbox, with a budget.

Jinja's sandbox stops a template from reaching Python internals, not from spending: nested loops,
`'a' * 10**9`, `'%.1000000000f'|format(1.0)`. Here every operation a template takes is a step
charged to the render's Budget (CPU time, memory growth; see template_limits.py), and the
operations that can multiply their input are estimated first and refused past the caps:

- operators: `*`, `**`, `%` and `+` go through call_binop (and are no longer folded at compile time);
- calls: the str/bytes methods that widen or repeat (center, join, replace, ...) and str.format;
- filters: every filter is wrapped (and so no longer folded at compile time either); the widening
  ones are estimated, the ones that print their input measure it first;
- loops and `~`: the compiled template iterates through `iterate_counted` and joins through
  `join_counted` (our code generator writes those calls);
- output: every printed value is measured (finalize) and every buffer joined is counted (concat).

Lists, dicts and sets cannot be changed in place (ImmutableSandboxedEnvironment), so a template
cannot grow a structure without a step that is counted. `lipsum` is not offered: nothing in a
remediation needs it, and it prints as much as it is asked for.
"""

import functools
import inspect

from calirules.base import template_limits as limits
from calirules.base.template_limits import (
    check_int_bits,
    check_items,
    check_text,
    text_size,
)
from jinja2 import nodes, pass_context
from jinja2.compiler import CodeGenerator
from jinja2.filters import make_attrgetter
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class LimitedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset(["*", "**", "%", "+"])

    def __init__(self, **options):
        super().__init__(**options)
        self.code_generator_class = _CountingCodeGenerator
        self.finalize = self._measured
        self.globals.pop("lipsum", None)
        self.filters = {name: _limited_filter(name, func) for name, func in self.filters.items()}
        self.budget = None      # the Budget of the render under way, None between renders
        self.exhausted = {}     # template -> the limit it ran into: not run again in this environment

    def _step(self):
        budget = self.budget
        if budget is not None:
            budget.countdown -= 1  # Budget.step, inlined: it runs for every operation
            if budget.countdown <= 0:
                budget.check()

    # --- hooks Jinja's sandbox calls -----------------------------------------------------------

    def call(self, context, obj, /, *args, **kwargs):
        self._step()
        if isinstance(obj, LoopContext) and args:  # a recursive loop's next level
            args = (self.iterate_counted(args[0]),) + args[1:]
        receiver = getattr(obj, "__self__", None)
        if isinstance(receiver, (str, bytes, bytearray)) and getattr(obj, "__name__", None) in _TEXT_METHODS:
            try:
                args = _TEXT_METHODS[obj.__name__](receiver, *args, **kwargs) or args
            except TypeError:
                pass  # arguments the method refuses: it says so itself, below
        return super().call(context, obj, *args, **kwargs)

    def getattr(self, obj, attribute):
        budget = self.budget
        if budget is not None:
            budget.countdown -= 1
            if budget.countdown <= 0:
                budget.check()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        self._step()
        return super().getitem(obj, argument)

    def call_binop(self, context, operator, left, right):
        self._step()
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value):  # Jinja >= 3.1.5: str.format is sandboxed on access
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args, **kwargs):
            _check_format(fmt, args, kwargs, value.__name__ == "format_map")
            return wrapped(*args, **kwargs)
        return checked

    def format_string(self, s, args, kwargs, format_func=None):  # Jinja < 3.1.5: sandboxed on call
        _check_format(s, args, kwargs, format_func is not None and format_func.__name__ == "format_map")
        return super().format_string(s, args, kwargs, format_func)

    # --- what the compiled template calls --------------------------------------------------------

    def _measured(self, value):
        if type(value) is not str or len(value) > limits.MAX_TEXT:
            check_text(text_size(value), "printing a value")
        return value

    def concat(self, pieces):
        """Join a render's output (a generator, counted while it streams) or a macro's or a
        block's buffer (a list of pieces that each passed finalize)."""
        if not isinstance(pieces, list):
            pieces = _counted_output(pieces)
        if sum(map(len, pieces)) > limits.MAX_TEXT:
            raise limits.LimitExceeded(f"output passed {limits.MAX_TEXT:,} characters")
        return "".join(pieces)

    def iterate_counted(self, iterable):
        """A `{% for %}` loop's items, each one a step."""
        for item in iterable:
            self._step()
            yield item

    def join_counted(self, *parts):
        """The `~` operator (Jinja's str_join), measured first."""
        check_text(sum(text_size(p) for p in parts), "`~`")
        return "".join(map(str, parts))


def _counted_output(pieces):
    kept, size = [], 0
    for piece in pieces:
        size += len(piece)
        if size > limits.MAX_TEXT:
            raise limits.LimitExceeded(f"output passed {limits.MAX_TEXT:,} characters")
        kept.append(piece)
    return kept


# --- compiled code: loops and `~` through the environment ---------------------------------------

class _CountingCodeGenerator(CodeGenerator):
    def visit_For(self, node, frame):
        # The loop's iterable is read in the enclosing frame, whose names Jinja has already
        # collected; wrapping it in a call on the environment adds no name.
        node.iter = _environment_call("iterate_counted", [node.iter], node.lineno)
        super().visit_For(node, frame)

    def visit_Concat(self, node, frame):
        self.write("environment.join_counted(")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write(")")


def _environment_call(method, args, lineno):
    return nodes.Call(nodes.EnvironmentAttribute(method, lineno=lineno), list(args), [], None, None,
                      lineno=lineno)


# --- operators --------------------------------------------------------------------------------

def _check_binop(operator, left, right):
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            check_int_bits(left.bit_length() + right.bit_length(), "`*`")
            return
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(times, int):
            if isinstance(seq, (str, bytes)):
                check_text(len(seq) * times, "`*`")
            elif isinstance(seq, (list, tuple)):
                check_items(len(seq) * times, "`*`")
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            check_int_bits(left.bit_length() * right, "`**`")
    elif operator == "%":
        if isinstance(left, str):
            check_text(limits.printf_size(left, right), "`%`")
    elif operator == "+":
        if isinstance(left, (str, bytes)) and isinstance(right, (str, bytes)):
            check_text(len(left) + len(right), "`+`")
        elif isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
            check_items(len(left) + len(right), "`+`")


def _check_format(fmt, args, kwargs, is_format_map):
    if is_format_map and len(args) == 1:
        args, kwargs = (), args[0]
    size = limits.format_size(fmt, args, kwargs if isinstance(kwargs, dict) else {})
    if size is not None:
        check_text(size, "str.format")


# --- str and bytes methods that widen or repeat -------------------------------------------------
# Each takes the receiver and the call's arguments, raises past a cap, and may return the
# arguments to call with instead (an iterable it had to read to estimate).

def _width(receiver, width, *_args, **_kwargs):
    check_text(max(len(receiver), width), "a width")


def _expandtabs(receiver, tabsize=8):
    tab = "\t" if isinstance(receiver, str) else b"\t"
    check_text(len(receiver) + receiver.count(tab) * max(tabsize, 0), "expandtabs")


def _join(receiver, iterable):
    items = list(iterable)
    check_items(len(items), "join")
    check_text(sum(len(i) if isinstance(i, (str, bytes)) else 0 for i in items)
               + len(receiver) * len(items), "join")
    return (items,)


def _replace(receiver, old, new, count=-1, /, what="replace"):
    found = receiver.count(old) if old else len(receiver) + 1
    if count is not None and count >= 0:
        found = min(found, count)
    check_text(len(receiver) + found * max(len(new) - len(old), 0), what)


def _translate(receiver, table, *_args):
    longest = max((len(v) for v in table.values() if isinstance(v, (str, bytes))), default=1) \
        if isinstance(table, dict) else 1
    check_text(len(receiver) * longest, "translate")


_TEXT_METHODS = {"center": _width, "ljust": _width, "rjust": _width, "zfill": _width,
                 "expandtabs": _expandtabs, "join": _join, "replace": _replace, "translate": _translate}


# --- filters ----------------------------------------------------------------------------------

# Filters that never print their input; every other one is given a value that prints within the
# text cap (`big_list|string`, `[s]*1000|join` and the like are measured before they run).
_NON_PRINTING = {"abs", "attr", "batch", "bool", "count", "d", "default", "dictsort", "first", "float",
                 "groupby", "int", "items", "last", "length", "list", "map", "max", "min", "random",
                 "reject", "rejectattr", "reverse", "round", "select", "selectattr", "slice", "sort",
                 "sum", "unique", "filesizeformat"}


@functools.lru_cache(maxsize=None)  # the same filters in every environment: wrap each once
def _limited_filter(name, func):
    """`func`, charged a step and checked first; marked pass_context so Jinja never runs it
    while compiling (constant folding would run it outside any budget)."""
    pass_arg = getattr(getattr(func, "jinja_pass_arg", None), "name", None)
    estimate = _FILTER_ESTIMATES.get(name)
    signature = _signature(func) if estimate else None
    prints = name not in _NON_PRINTING

    @functools.wraps(func)
    def limited(context, *args, **kwargs):
        environment = context.environment
        environment._step()
        lead = {"context": (context,), "eval_context": (context.eval_ctx,),
                "environment": (environment,)}.get(pass_arg, ())
        if prints:
            check_text(text_size(args) + text_size(kwargs), f"the filter {name}")
        if estimate:
            try:
                bound = signature.bind(*lead, *args, **kwargs)
            except TypeError:
                pass  # the filter itself says what is wrong with its arguments
            else:
                bound.apply_defaults()
                replaced = estimate(environment, bound.arguments)
                if replaced is not None:
                    args, kwargs = replaced, {}
        return func(*lead, *args, **kwargs)
    return pass_context(limited)  # replaces the pass_arg functools.wraps copied from func


def _signature(func):
    try:
        return inspect.signature(func)
    except (TypeError, ValueError):
        return None


def _text(value):
    return value if isinstance(value, str) else str(value)


def _f_center(_env, a):
    check_text(max(len(_text(a["value"])), a["width"]), "the filter center")


def _f_indent(_env, a):
    width = a["width"] if isinstance(a["width"], int) else len(_text(a["width"]))
    text = _text(a["s"])
    check_text(len(text) + (text.count("\n") + 1) * width, "the filter indent")


def _f_replace(_env, a):
    _replace(_text(a["s"]), _text(a["old"]), _text(a["new"]), a["count"], what="the filter replace")


def _f_format(_env, a):
    values = a["kwargs"] or a["args"]
    check_text(limits.printf_size(_text(a["value"]), values), "the filter format")


def _f_join(environment, a):
    items = list(a["value"])
    if a["attribute"] is not None:
        items = list(map(make_attrgetter(environment, a["attribute"]), items))
    check_items(len(items), "the filter join")
    check_text(sum(text_size(i) for i in items) + len(_text(a["d"])) * len(items), "the filter join")
    return (items, a["d"])


def _f_count(argument, what):
    def estimate(_env, a):
        check_items(a[argument], what)
    return estimate


def _f_tojson(_env, a):
    indent = a["indent"] or 0
    indent = indent if isinstance(indent, int) else len(_text(indent))
    check_text(text_size(a["value"]) * (1 + indent), "the filter tojson")


def _f_wordwrap(environment, a):
    text = _text(a["s"])
    wrap = a["wrapstring"] if a["wrapstring"] is not None else environment.newline_sequence
    lines = len(text) // max(a["width"], 1) + text.count("\n") + 1
    check_text(len(text) + lines * len(_text(wrap)), "the filter wordwrap")


def _f_urlize(_env, a):
    text = _text(a["value"])
    extra = len(_text(a["target"] or "")) + len(_text(a["rel"] or "")) + 64
    check_text(2 * len(text) + len(text.split()) * extra, "the filter urlize")


def _f_sum(environment, a):
    items = list(a["iterable"])
    check_items(len(items), "the filter sum")
    if not isinstance(a["start"], (int, float)):  # adding lists: quadratic, and a list per step
        getter = make_attrgetter(environment, a["attribute"]) if a["attribute"] is not None else None
        sizes = [len(getter(i) if getter else i) if hasattr(getter(i) if getter else i, "__len__") else 1
                 for i in items]
        check_items(sum(sizes), "the filter sum")
        check_items(len(items) * sum(sizes) // 8, "the filter sum (each step copies the list)")
    return (items, a["attribute"], a["start"])


_FILTER_ESTIMATES = {
    "center": _f_center, "indent": _f_indent, "replace": _f_replace, "format": _f_format,
    "join": _f_join, "batch": _f_count("linecount", "the filter batch"),
    "slice": _f_count("slices", "the filter slice"), "tojson": _f_tojson, "wordwrap": _f_wordwrap,
    "urlize": _f_urlize, "sum": _f_sum,
}
