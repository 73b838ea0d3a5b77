"""The model's Jinja chat template is rendered in a bounded sandbox: attribute escapes, endless
loops and huge outputs end in a WebslmError within about a second, never a hang, a
multi-gigabyte string or code running outside the template."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest

from webslm.artifacts.conv_templates import detect_chat_format
from webslm.artifacts.template_sandbox import MAX_RENDER_SECONDS
from webslm.errors import WebslmError

CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"]

HOSTILE = {
    "mro escape": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals escape": "{{ cycler.__init__.__globals__.os.popen('touch /tmp/webslm-pwned').read() }}",
    "private attribute": "{{ self._TemplateReference__context.environment }}",
    "format escape": "{{ '{0.__class__.__base__.__subclasses__}'.format('') }}",
    "huge range": "{% for i in range(10**9) %}x{% endfor %}",
    "nested loops, no output": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
    "nested loops, output": "{% for i in range(99999) %}{% for j in range(99999) %}xx{% endfor %}{% endfor %}",
    "string repeat": "{{ 'x' * 10**9 }}",
    "list repeat": "{{ ([1] * 10**8)|length }}",
    "power": "{{ 2 ** 10**9 }}",
    "percent width": "{{ '%999999999d' % 1 }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "center filter": "{{ 'x'|center(10**9) }}",
    "indent filter": "{{ 'x\ny'|indent(10**9) }}",
    "ljust method": "{{ 'x'.ljust(10**9) }}",
    "tojson indent": "{{ messages|tojson(indent=10**9) }}",
    "doubling namespace": "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}"
                          "{% endfor %}{{ ns.s|length }}",
    "recursion": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "raise_exception": "{{ raise_exception('this template refuses') }}",
    "syntax error": "{% for m in messages %}{{ m.content }",
}


def tokenizer_dir(root: Path, template: str) -> Path:
    root.mkdir()
    vocab = {t: i for i, t in enumerate(TOKENS)}
    (root / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": vocab, "merges": []},
                                                     "added_tokens": []}))
    (root / "tokenizer_config.json").write_text(json.dumps({"chat_template": template, "eos_token": "<|im_end|>"}))
    return root


def test_a_real_template_still_detects(tmp_path):
    assert detect_chat_format(tokenizer_dir(tmp_path / "tok", CHATML)) == "chatml"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_template_is_refused_quickly(name, tmp_path):
    pwned = Path("/tmp/webslm-pwned")
    pwned.unlink(missing_ok=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(WebslmError) as err:
        detect_chat_format(tokenizer_dir(tmp_path / "tok", HOSTILE[name]))
    elapsed = time.monotonic() - started
    assert "chat template" in err.value.problem and "chat template" in (err.value.fix or "") + err.value.problem
    assert err.value.fix
    assert elapsed < 4 * MAX_RENDER_SECONDS + 2, f"{name} took {elapsed:.1f} s"
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    assert grown_mb < 200, f"{name} grew peak memory by {grown_mb:.0f} MB"
    assert not pwned.exists()


def test_bounds_do_not_leak_the_tracer(tmp_path):
    """The watchdog restores the previous trace function (coverage, debuggers keep working)."""
    import sys

    marker = lambda *a: None  # noqa: E731
    sys.settrace(marker)
    try:
        with pytest.raises(WebslmError):
            detect_chat_format(tokenizer_dir(tmp_path / "tok", HOSTILE["nested loops, no output"] + "{# 2 #}"))
        assert sys.gettrace() is marker
    finally:
        sys.settrace(None)


# One C call builds the whole value before any check sees it: only the child's address-space
# limit stops these (issue 31).
MEMORY_BOMBS = {
    "replace, 400 MB": "{% set a='x'*20000 %}{{ (a|replace('x',a))|length }}",
    "replace, 3.6 GB": "{% set a='x'*60000 %}{{ (a|replace('x',a))|length }}",
    "long ~ chain": "{% set a='x'*190000 %}{{ (a" + "~a" * 2000 + ")|length }}",
    "join": "{% set a='x'*190000 %}{{ ([a]*1000)|join('')|length }}",
    "str.join": "{% set a='x'*190000 %}{{ a.join([a]*1000)|length }}",
    "tojson": "{% set a=['x'*190000]*1000 %}{{ (a|tojson)|length }}",
}


def test_memory_bombs_are_refused_fast_in_a_bounded_child(tmp_path):
    """A fresh process (its peak memory is its own) refuses each bomb within seconds, naming
    the memory bound, and neither it nor the child ever holds the bomb's value."""
    import subprocess
    import sys

    dirs = {name: str(tokenizer_dir(tmp_path / f"t{i}", t)) for i, (name, t) in enumerate(MEMORY_BOMBS.items())}
    code = f"""
import json, resource, time
from webslm.artifacts import template_process
from webslm.artifacts.conv_templates import detect_chat_format
from webslm.errors import WebslmError
result = {{}}
for name, path in {dirs!r}.items():
    started = time.monotonic()
    try:
        detect_chat_format(path)
        result[name] = ["accepted", 0]
    except WebslmError as err:
        result[name] = [err.problem, time.monotonic() - started]
template_process.close()
peak = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]  # ru_maxrss counts pytest's
print(json.dumps({{"cases": result, "self_mb": int(peak) / 1024,
                  "child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}}))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    for name, (problem, seconds) in found["cases"].items():
        assert "stopped by webslm's sandbox" in problem and "MiB of memory" in problem, (name, problem)
        assert seconds < 3, f"{name} took {seconds:.1f} s"
    assert found["self_mb"] < 100 and found["child_mb"] < 200, found


def test_a_render_past_the_wall_clock_is_killed(monkeypatch):
    """urlize of 200,000 characters is one library call the line tracer cannot stop: the
    parent kills the child at KILL_SECONDS (shortened here) and the next render starts a new one."""
    import os

    from jinja2.exceptions import SecurityError

    from webslm.artifacts import template_process

    slow = "{{ ('a.b ' * 49999)|urlize|length }}"
    template_process.render(CHATML, {}, [])  # the child is up
    monkeypatch.setattr(template_process, "KILL_SECONDS", 0.05)
    pid = template_process._CHILD.proc.pid
    started = time.monotonic()
    with pytest.raises(SecurityError, match="killed"):
        template_process.render(slow, {}, [])
    assert time.monotonic() - started < 1
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(SecurityError, match="killed"):  # remembered: refused without a render
        template_process.render(slow, {}, [])
    assert template_process.render(CHATML, {}, [{"role": "user", "content": "hi"}]).endswith("assistant\n")


def test_wrapped_filters_keep_working():
    """wordwrap and truncate take Jinja's environment first; the bounds must pass it on."""
    from webslm.artifacts.template_process import render

    assert render("{{ 'hello world'|wordwrap(5) }}|{{ 'hello world foo'|truncate(9, leeway=0) }}", {}, []) \
        == "hello\nworld|hello..."
