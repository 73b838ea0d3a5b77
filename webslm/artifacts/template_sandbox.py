"""The model's own Jinja chat template, rendered in a bounded sandbox.

The template comes from whoever published the model. Jinja's sandbox blocks attribute escapes
(''.__class__...); the bounds here stop templates that would run for hours or fill memory:
no value over MAX_RENDER_CHARS, no render over MAX_RENDER_SECONDS. Any failure is a
TemplateError (or its SecurityError), which conv_templates.py turns into a WebslmError.
It runs in the child process of template_process.py, which bounds memory and wall time.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from datetime import datetime

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_TEMPLATE_CHARS = 256_000
MAX_RENDER_CHARS = 200_000  # output, and any one string or list a template builds
MAX_RENDER_SECONDS = 1.0
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(\*|\d{6,})|\{[^{}]*:[^{}]*\d{6,}[^{}]*\}")
_SLOW_TEMPLATES: set[int] = set()  # hashes of templates that already ran out of time


def _too_big(what: str):
    raise SecurityError(f"the template {what}, beyond webslm's bound of {MAX_RENDER_CHARS} "
                        f"characters / {MAX_RENDER_SECONDS:g} s")


def _check_size(value, what: str) -> None:
    if isinstance(value, (str, list, tuple, dict)) and len(value) > MAX_RENDER_CHARS:
        _too_big(what)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """No operation may build a value bigger than MAX_RENDER_CHARS (x * 10**9, '%9999999s')."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context, operator, left, right):
        if operator == "**" and not (isinstance(right, (int, float)) and abs(right) <= 64
                                     and isinstance(left, (int, float)) and abs(left) <= 1 << 64):
            _too_big(f"computes {left!r:.20} ** {right!r:.20}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RENDER_CHARS:
                    _too_big("repeats a value too often")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            _too_big("formats with a huge width")
        return super().call_binop(context, operator, left, right)

    def call(self, __context, __obj, *args, **kwargs):
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RENDER_CHARS:
                _too_big(f"calls {getattr(__obj, '__name__', 'a function')} with {value}")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value):
        wrapped = super().wrap_str_format(value)
        if wrapped is not None and _WIDE_FORMAT.search(str(value.__self__)):
            return lambda *a, **k: _too_big("formats with a huge width")
        return wrapped


def _bounded_filter(name: str, inner):
    """A filter whose numeric arguments (widths, lengths) stay under the bound (wraps keeps
    Jinja's pass_environment mark: wordwrap and truncate get the environment first)."""

    @functools.wraps(inner)
    def run(value, *args, **kwargs):
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_RENDER_CHARS:
                _too_big(f"calls the {name} filter with {arg}")
        if name == "format" and isinstance(value, str) and _WIDE_FORMAT.search(value):
            _too_big("formats with a huge width")
        return inner(value, *args, **kwargs)

    return run


def _tojson(value, indent=None, **_):
    if indent is not None and not (isinstance(indent, int) and 0 <= indent <= 16):
        _too_big(f"indents JSON by {indent!r:.20}")
    return json.dumps(value, ensure_ascii=False, indent=indent)


@functools.lru_cache(maxsize=1)
def _environment() -> _BoundedSandbox:
    env = _BoundedSandbox(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    for name in ("center", "indent", "wordwrap", "truncate", "format", "batch", "slice"):
        env.filters[name] = _bounded_filter(name, env.filters[name])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(str(fmt)[:100])
    return env


@functools.lru_cache(maxsize=16)
def _compiled(template: str):
    return _environment().from_string(template)


class _Watchdog:
    """Follows the template's own code line by line (sys.settrace, this thread only): stops it
    past MAX_RENDER_SECONDS, or when a variable grows past MAX_RENDER_CHARS."""

    def __init__(self):
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def __enter__(self):
        self.previous = sys.gettrace()
        sys.settrace(self.outer)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.previous)

    def outer(self, frame, event, arg):
        return self.inner if frame.f_code.co_filename == "<template>" else None

    def inner(self, frame, event, arg):
        if event == "line":
            if time.monotonic() > self.deadline:
                raise SecurityError(f"the template ran longer than {MAX_RENDER_SECONDS:g} s")
            for value in frame.f_locals.values():
                _check_size(value, "builds a huge value")
                for inner in getattr(value, "_Namespace__attrs", {}).values():
                    _check_size(inner, "builds a huge value in a namespace")
        return self.inner


def _raise(message: str):
    raise TemplateError(message)


def render_in_this_process(template: str, specials: dict, messages: list[dict]) -> str:
    """Render like transformers' apply_chat_template(add_generation_prompt=True, tokenize=False),
    in a sandbox with bounded time and output: any failure is a TemplateError. Only the child
    of template_process.py calls this: here nothing bounds the memory one C call may take."""
    if hash(template) in _SLOW_TEMPLATES:
        raise SecurityError(f"the template ran longer than {MAX_RENDER_SECONDS:g} s")
    chunks, size = [], 0
    try:
        with _Watchdog():
            for chunk in _compiled(template).generate(messages=messages, add_generation_prompt=True, **specials):
                size += len(chunk)
                if size > MAX_RENDER_CHARS:
                    _too_big("renders a huge prompt")
                chunks.append(chunk)
        return "".join(chunks)
    except SecurityError as err:
        if "ran longer" in str(err):
            _SLOW_TEMPLATES.add(hash(template))
        raise
    except (TemplateError, MemoryError):  # MemoryError: the child's address-space limit
        raise
    except Exception as err:  # a template bug (TypeError, KeyError, RecursionError, ...)
        raise TemplateError(f"{type(err).__name__}: {err}") from None
