"""Run a built model in the unmodified WebLLM engine, on one of two software WebGPU rigs:

- "chromium": headless Chromium, on lavapipe or SwiftShader (chromium_rig.py decides): what
  a page gets;
- "dawn": Node on Dawn over Mesa's lavapipe (webslm.bench.dawn): WITH shader-f16, so f16
  builds execute, and about four times faster; for kernel and model-id checks.

This is the ground truth for "WebLLM loads our artifacts": the npm package's own code does
the loading, the prompting and the sampling (webllm_run.js, the same on both rigs). Failures
come back as an error string plus the console, page errors and failed requests (and, on
dawn, every uncaptured WebGPU error), never as a hang.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from webslm.bench import dawn
from webslm.bench.chromium import CHROMIUM
from webslm.errors import WebslmError

try:  # imported as tests.browser.harness
    from .chromium_rig import launch_options
    from .static_server import StaticServer
except ImportError:  # imported as a top-level module by pytest (tests/browser on sys.path)
    from chromium_rig import launch_options
    from static_server import StaticServer

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WEBLLM_LIB = REPO / "web" / "node_modules" / "@mlc-ai" / "web-llm" / "lib"
PAGE = "/webllm_page.html"
WEBLLM_URL = "/webllm/index.js"
# Passed as chatOpts: forwardTokensAndSample samples with the chat config's defaults, so
# greedy ids need them neutral; chat requests get the same values explicitly.
GREEDY = {
    "temperature": 0,
    "top_p": 1,
    "repetition_penalty": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
}


class HarnessError(RuntimeError):
    """The harness itself cannot run (no browser, no npm install), as opposed to a model failing."""


def _link(target: Path, link: Path):
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(Path(target).resolve(), link)


def layout_served_tree(
    root: Path,
    *,
    artifact_dir: Path | None = None,
    lib_path: Path | None = None,
    model_id: str | None = None,
    beside: dict[str, Path] | None = None,
) -> dict[str, str]:
    """Symlink WebLLM, the test page and (optionally) a model under `root`; return URL paths.

    /models/<model_id>/resolve/main/  the artifact dir (WebLLM appends resolve/main/ itself
                                      to model URLs that lack it, so serve it there)
    /libs/<file>.wasm                 the model library
    /webllm/index.js                  web/node_modules/@mlc-ai/web-llm/lib
    /webllm_page.html, .js            the test page
    """
    if not (WEBLLM_LIB / "index.js").is_file():
        raise HarnessError(f"{WEBLLM_LIB} is missing: run `npm install` in {REPO / 'web'}")
    root = Path(root)
    _link(WEBLLM_LIB, root / "webllm")
    for name in ("webllm_page.html", "webllm_page.js", "webllm_run.js"):
        _link(HERE / name, root / name)
    paths = {"page": PAGE, "webllm": WEBLLM_URL}
    if artifact_dir is not None:
        if not model_id or "/" in model_id:
            raise ValueError(f"model_id must be a plain name, got {model_id!r}")
        _link(artifact_dir, root / "models" / model_id / "resolve" / "main")
        paths["model"] = f"/models/{model_id}/resolve/main/"
    for other_id, other in (beside or {}).items():  # a kept adapter's base build, by its id
        _link(other, root / "models" / other_id / "resolve" / "main")
    if lib_path is not None:
        lib_path = Path(lib_path)
        _link(lib_path, root / "libs" / lib_path.name)
        paths["lib"] = f"/libs/{lib_path.name}"
    return paths


def _attach_log(page, log: list[str]):
    page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
    page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
    page.on("crash", lambda _p: log.append("crash: renderer crashed"))
    page.on("requestfailed", lambda r: log.append(f"requestfailed: {r.url} {r.failure}"))
    page.on(
        "response",
        lambda r: r.status >= 400 and log.append(f"http {r.status}: {r.request.method} {r.url}"),
    )


@contextmanager
def browser_page(url: str, log: list[str], *, timeout: float = 60, rig: str | None = None,
                 shader_f16: bool = True):
    """A fresh headless Chromium (new profile; the WebGPU of chromium_rig.py, or `rig`;
    shader_f16=False: without that feature) showing `url`."""
    if not os.access(CHROMIUM, os.X_OK):
        raise HarnessError(f"{CHROMIUM} not found (Debian package `chromium`)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as err:
        raise HarnessError("PyPI playwright is not installed") from err
    profile = tempfile.mkdtemp(prefix="webslm-chromium-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, **launch_options(rig, shader_f16=shader_f16)
            )
            try:
                page = ctx.new_page()
                _attach_log(page, log)
                page.goto(url, timeout=timeout * 1000)
                page.wait_for_function("() => window.__webslmReady === true", timeout=timeout * 1000)
                yield page
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@contextmanager
def served(**layout):
    """Lay out a temporary tree (see layout_served_tree), serve it; yield (server, url paths)."""
    with tempfile.TemporaryDirectory(prefix="webslm-serve-") as root:
        paths = layout_served_tree(Path(root), **layout)
        with StaticServer(Path(root)) as server:
            yield server, paths


def _page_report(script: str, timeout: float, **rig) -> dict:
    """Evaluate `script(url paths)` on the bare test page; add the browser log."""
    log: list[str] = []
    with served() as (server, paths):
        with browser_page(server.url + paths["page"], log, timeout=timeout, **rig) as page:
            report = page.evaluate(script, paths)
    report["log"] = log
    return report


def adapter_report(timeout: float = 60, **rig) -> dict:
    """The WebGPU adapter Chromium offers here: info, sorted features, all limits.
    rig: browser_page's rig and shader_f16."""
    return _page_report("() => window.webslmAdapter()", timeout, **rig)


def webllm_import_report(timeout: float = 60) -> dict:
    """Whether WebLLM's ES module imports in the page: {'exports': [...]} or {'error': ...}."""
    return _page_report("(paths) => window.webslmImport(paths.webllm)", timeout)


RIGS = ("chromium", "dawn")


def run_webllm(
    artifact_dir: Path,
    lib_path: Path,
    model_id: str,
    prompt: str | None = "What is the capital of France?",
    max_tokens: int = 32,
    token_ids_prompt: list[int] | None = None,
    n_tokens: int = 16,
    timeout: float = 600,
    *,
    rig: str = "chromium",
    messages: list[dict] | None = None,
    completion_prompt: str | None = None,
    required_features: list[str] | None = None,
    overrides: dict | None = None,
    greedy: bool = True,
    encode_texts: list[str] | None = None,
    request_extra: dict | None = None,
    repeat: int = 1,
    beside: dict[str, Path] | None = None,
) -> dict:
    """Load `artifact_dir` + `lib_path` with CreateMLCEngine on `rig` and run it; never raises
    for model errors.

    prompt/messages: one chat.completions.create call (temperature 0 when greedy).
    completion_prompt: one plain completions.create call (a base model's way).
    token_ids_prompt: prefill these ids with forwardTokensAndSample, then decode greedily
    to n_tokens ids in all (stop tokens do not end it).
    encode_texts: also return WebLLM's own tokenization of these strings.
    request_extra: more chat.completions fields, e.g. {"enable_latency_breakdown": True}.
    repeat: send the chat request this many times (`usages` has each one's usage).
    beside: more builds served as /models/<id>/ (a kept adapter's base, which its
    tensor-cache.json names by a relative path).
    Returns dict(text, token_ids, chat_token_ids, adapter_info, log, error, ...); `error` is
    None on success, else a one-line message (details in `log` and `error_stack`).
    """
    if rig not in RIGS:
        raise ValueError(f"rig must be one of {RIGS}, got {rig!r}")
    if messages is None and prompt is not None:
        messages = [{"role": "user", "content": prompt}]
    log: list[str] = []
    out = {"text": None, "token_ids": None, "chat_token_ids": None, "adapter_info": None, "error": None}
    with served(artifact_dir=artifact_dir, lib_path=lib_path, model_id=model_id,
                beside=beside) as (server, paths):
        cfg = {
            "webllm_url": paths["webllm"],
            "model_url": server.url + paths["model"],
            "lib_url": server.url + paths["lib"],
            "model_id": model_id,
            "required_features": required_features,
            "overrides": overrides,
            "chat_opts": dict(GREEDY) if greedy else None,
            "messages": messages,
            "completion_prompt": completion_prompt,
            "max_tokens": max_tokens,
            "sampling": dict(GREEDY) if greedy else {},
            "token_ids_prompt": list(token_ids_prompt) if token_ids_prompt else None,
            "n_tokens": n_tokens,
            "encode_texts": encode_texts,
            "request_extra": request_extra or {},
            "repeat": repeat,
        }
        run = _run_in_node if rig == "dawn" else _run_in_chromium
        run(server.url + paths["page"], cfg, out, log, timeout)
        out["requests"] = server.requests
    out["log"] = log
    return out


def _run_in_chromium(page_url: str, cfg: dict, out: dict, log: list[str], timeout: float):
    try:
        with browser_page(page_url, log) as page:
            page.evaluate("(cfg) => window.webslmStart(cfg)", cfg)
            try:
                page.wait_for_function(
                    "() => window.__webslmResult !== undefined", polling=500, timeout=timeout * 1000
                )
                out.update(page.evaluate("() => window.__webslmResult"))
            except Exception as err:  # timeout or a crashed page: report, do not hang
                stage = _safe_eval(page, "() => window.__webslmStage")
                progress = _safe_eval(page, "() => window.__webslmProgress") or []
                out["error"] = f"no result after {timeout:g}s (stage: {stage}): {type(err).__name__}"
                out["progress"] = progress
    except HarnessError:
        raise
    except Exception as err:  # the browser itself failed
        out["error"] = out["error"] or f"browser failed: {type(err).__name__}: {err}"


def _run_in_node(page_url: str, cfg: dict, out: dict, log: list[str], timeout: float):
    """The dawn rig: webllm_node.mjs in a Node process. A WebGPU validation error is an error
    here even when WebLLM carries on (it shows them only as uncaptured errors)."""
    try:
        modules = dawn.node_modules()
    except WebslmError as err:
        raise HarnessError(str(err)) from err
    with tempfile.TemporaryDirectory(prefix="webslm-dawn-") as tmp:
        cfg_path, result_path = Path(tmp) / "cfg.json", Path(tmp) / "result.json"
        cfg_path.write_text(json.dumps(cfg))
        try:
            proc = dawn.run_node(HERE / "webllm_node.mjs",
                                 [str(modules), str(cfg_path), str(result_path)], timeout)
        except subprocess.TimeoutExpired:
            out["error"] = f"no result after {timeout:g}s on the dawn rig"
            return
        if not result_path.is_file():
            log.extend((proc.stdout + proc.stderr).splitlines()[-40:])
            out["error"] = f"node exited {proc.returncode} without a result"
            return
        result = json.loads(result_path.read_text())
    log.extend(result.pop("log", []))
    out.update(result)
    uncaptured = result.get("uncaptured_errors") or []
    if uncaptured and not out["error"]:
        out["error"] = f"{len(uncaptured)} uncaptured WebGPU error(s), the first: {uncaptured[0]}"


def _safe_eval(page, script: str):
    try:
        return page.evaluate(script)
    except Exception:
        return None
