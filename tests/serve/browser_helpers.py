"""Helpers for the browser tests of the chat page, the form demo and webslm.js.

They drive the real `webslm serve` (a subprocess) or a plain static server with headless
Chromium on a software WebGPU (lavapipe or SwiftShader: tests/browser/chromium_rig.py).
Both decode a few tokens per second at best and compile shaders for seconds to tens of
seconds, so each test module loads the model once and every answer is kept short.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "browser"))

from chromium_rig import launch_options  # noqa: E402
from harness import CHROMIUM  # noqa: E402

WEBSLM = Path(sys.executable).with_name("webslm")  # .venv/bin/webslm
LOAD_TIMEOUT_S = 900  # first load: download, weights to the GPU, shader compilation
ANSWER_TIMEOUT_S = 600


class Served(str):
    """The base URL of a running `webslm serve` (ends in /), with stop() to take it down."""

    proc: subprocess.Popen

    def stop(self):
        _stop(self.proc)


def _stop(proc: subprocess.Popen):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def webslm_serve(*dists: Path, timeout: float = 60):
    """`webslm serve DIST... --port 0` as a subprocess; yields its base URL (a Served)."""
    cmd = [str(WEBSLM), "serve", *map(str, dists), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        deadline = time.time() + timeout
        url = None
        while time.time() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "serving on http://" in line:
                url = line.split("serving on ", 1)[1].strip()
                break
            if not line and proc.poll() is not None:
                break
        if url is None:
            pytest.fail("webslm serve did not start:\n" + "".join(lines))
        assert urlsplit(url).hostname == "127.0.0.1"
        served = Served(url)
        served.proc = proc
        yield served
    finally:
        _stop(proc)


def attach_log(page, log: list[str]):
    page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.on("crash", lambda _p: log.append("crash: renderer crashed"))
    page.on("requestfailed", lambda r: log.append(f"requestfailed: {r.url} {r.failure}"))
    page.on("response", lambda r: r.status >= 400
            and log.append(f"http {r.status}: {r.request.method} {r.url}"))


@contextmanager
def chromium(webgpu: bool = True, *, rig: str | None = None, shader_f16: bool = True,
             bypass_csp: bool = False):
    """A fresh headless Chromium profile with the tests' software WebGPU (chromium_rig.py;
    `rig` names one; shader_f16=False hides that feature), or, webgpu=False, with no WebGPU
    at all; yields a browser context. bypass_csp lets a test inject a tool (axe-core: an
    inline script that compiles its templates with new Function) into pages whose CSP
    refuses both; every other module runs the pages under their real policy."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="webslm-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, bypass_csp=bypass_csp,
                **launch_options(rig, webgpu=webgpu, shader_f16=shader_f16),
                viewport={"width": 1280, "height": 860})
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def open_page(ctx, url: str, log: list[str], timeout: float = 60):
    """Open `url` and wait until the page script has listed the models and probed the GPU."""
    page = ctx.new_page()
    attach_log(page, log)
    page.goto(url, timeout=timeout * 1000)
    page.wait_for_function("() => document.getElementById('app')?.dataset.ready === 'true'"
                           " || ['error', 'unsupported'].includes(document.getElementById('app')?.dataset.state)",
                           timeout=timeout * 1000)
    return page


def wait_state(page, states, log, timeout: float):
    """Wait until #app[data-state] is one of `states`; fail with the browser log otherwise."""
    states = [states] if isinstance(states, str) else list(states)
    try:
        page.wait_for_function(
            "(states) => states.includes(document.getElementById('app').dataset.state)"
            " || document.getElementById('app').dataset.state === 'error'",
            arg=states, polling=500, timeout=timeout * 1000)
    except Exception as err:  # timeout: report what the page shows
        raise AssertionError(f"page never reached {states}: {page_summary(page)}\n"
                             + "\n".join(log[-30:])) from err
    state = page.evaluate("() => document.getElementById('app').dataset.state")
    assert state in states, f"page state {state}: {page_summary(page)}\n" + "\n".join(log[-30:])


def page_summary(page) -> str:
    try:
        return page.evaluate("""() => JSON.stringify({
            state: document.getElementById('app')?.dataset.state,
            error: document.getElementById('error')?.textContent,
            progress: document.getElementById('progress-label')?.textContent,
            status: (document.getElementById('gpu-status') || document.getElementById('model-status'))?.textContent})""")
    except Exception as err:  # noqa: BLE001 - a crashed page
        return f"(page unreadable: {err})"


def load_model(page, log, timeout: float = LOAD_TIMEOUT_S) -> float:
    """Click "Load model" on the chat page; return the seconds it took."""
    t0 = time.time()
    page.click("#load-button")
    wait_state(page, "ready", log, timeout)
    return time.time() - t0


def set_sampling(page, *, temperature: float, top_p: float = 1.0, max_tokens: int):
    page.evaluate("""([t, p, n]) => {
        const set = (id, v) => { const el = document.getElementById(id); el.value = v;
            el.dispatchEvent(new Event('input', {bubbles: true})); };
        set('temperature', t); set('top-p', p); set('max-tokens', n); }""",
                  [temperature, top_p, max_tokens])


def ask(page, text: str, log, timeout: float = ANSWER_TIMEOUT_S) -> dict:
    """Type `text`, press Enter, wait for the answer; return the last answer's details."""
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.getElementById('app').dataset.state === 'generating'",
                           timeout=30_000)
    wait_state(page, "ready", log, timeout)
    return last_answer(page)


def last_answer(page) -> dict:
    return page.evaluate("""() => {
        const items = [...document.querySelectorAll('#messages .message.assistant')];
        const m = items.at(-1);
        if (!m) return null;
        const stats = m.querySelector('.stats');
        return {text: m.querySelector('.body').textContent, html: m.querySelector('.body').innerHTML,
                chunks: Number(m.dataset.chunks || 0), finish: m.dataset.finishReason || null,
                error: m.dataset.error || null, stats: stats ? {...stats.dataset, text: stats.textContent} : null,
                count: items.length};
    }""")


def fill_form(page, text: str, log: list[str], timeout: float) -> tuple[dict, dict, float]:
    """Paste `text` into the form demo and press "Fill"; returns (the fill result, the form's
    values by field name, seconds taken). Fails with the page and the browser log."""
    page.fill("#source-text", text)
    t0 = time.time()
    page.click("#fill")
    try:
        page.wait_for_function("() => ['filled', 'error'].includes(document.getElementById('app').dataset.state)",
                               polling=500, timeout=timeout * 1000)
    except Exception as err:
        raise AssertionError(page_summary(page) + "\n" + "\n".join(log[-30:])) from err
    result = page.evaluate("() => window.webslmPage.fill")
    assert result is not None, page_summary(page) + "\n" + "\n".join(log[-30:])
    values = page.evaluate("""() => Object.fromEntries([...document.getElementById('contact-form').elements]
        .filter(e => e.name).map(e => [e.name, e.type === 'checkbox' ? e.checked : e.value]))""")
    return result, values, time.time() - t0
