"""Acceptance for the npm package: `npm pack` web/, install the tarball into the Vite app in
tests/npm/app (Vite and TypeScript pinned there), type-check it with `tsc --noEmit`, bundle it
with `vite build`, serve the bundle next to a `webslm export-site` of SmolLM2 (the static
server docs/EMBEDDING.md documents, with COOP/COEP), and in headless Chromium on SwiftShader:
the app fills a form through createChat(...).fillForm(...) on the first CPU engine unforced
(wllama, the build's GGUF) and on transformers.js (ONNX build) when forced, and chats through
WebLLM when forced with ?engine=webllm.

The engines must come from the bundle (bare specifiers resolved by Vite), the models and
the engines' WASM files (onnxruntime-web's, wllama's) from the export, and nothing from
another host."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from browser_helpers import WEBSLM, attach_log, chromium
from npm_helpers import npm, pack, run
from serve_helpers import cpu_engine_order, documented_static_server
from test_form_demo import SIGNATURE

pytestmark = [pytest.mark.slow, pytest.mark.browser]
APP = Path(__file__).resolve().parent / "app"
APP_FILES = ("package.json", "package-lock.json", "tsconfig.json", "index.html", "src")
DOC = Path(__file__).resolve().parents[2] / "docs" / "EMBEDDING.md"
RESULT_TIMEOUT_S = 900  # WebLLM on SwiftShader compiles its shaders for minutes on 2 cores


def doc_example() -> str:
    """The TypeScript examples of docs/EMBEDDING.md (its npm app and its Prompt API use), as written."""
    return "\n".join(re.findall(r"```ts\n(.*?)```", DOC.read_text(), re.S))


def build_app(work: Path) -> Path:
    """Pack webslm, install it into a copy of the app (plus the documented example, which tsc
    checks but the app does not run), type-check and bundle; returns dist/."""
    app = work / "app"
    app.mkdir()
    for name in APP_FILES:
        (shutil.copytree if (APP / name).is_dir() else shutil.copy)(APP / name, app / name)
    (app / "src" / "doc_example.ts").write_text(doc_example())
    tarball = pack(work)
    flags = ["--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
    run([npm(), "ci", *flags], app)
    run([npm(), "install", "--no-save", *flags, str(tarball)], app)
    run([str(app / "node_modules/.bin/tsc"), "--noEmit"], app, timeout=300)
    run([str(app / "node_modules/.bin/vite"), "build"], app, timeout=600)
    return app / "dist"


@pytest.fixture(scope="module")
def app_site(smollm2_dist, smollm2_onnx_dist, tmp_path_factory):
    """http://127.0.0.1:<port>/ serving the Vite bundle, with the export in site/ beside it."""
    root = build_app(tmp_path_factory.mktemp("npm-app"))
    subprocess.run([str(WEBSLM), "export-site", str(smollm2_dist), str(smollm2_onnx_dist),
                    "--out", str(root / "site")], check=True, capture_output=True, text=True)
    with documented_static_server(root) as base, chromium() as ctx:
        yield base, ctx


def run_app(ctx, base: str, query: dict) -> tuple[dict, list[str], list[str]]:
    """Open the app with `query`; returns (window.webslmApp, the URLs requested, the log)."""
    log: list[str] = []
    requested: list[str] = []
    page = ctx.new_page()
    attach_log(page, log)
    def record(request):
        requested.append(request.url)
    ctx.on("request", record)  # the workers' requests too
    try:
        page.goto(base + "index.html?" + urlencode(query))
        try:
            page.wait_for_function("() => { const o = window.webslmApp;"
                                   " return o && (o.error || o.fill || o.answer !== undefined); }",
                                   polling=1000, timeout=RESULT_TIMEOUT_S * 1000)
        except Exception as err:
            raise AssertionError(page.text_content("#status") + "\n" + "\n".join(log[-30:])) from err
        outcome = page.evaluate("() => window.webslmApp")
        assert page.evaluate("() => customElements.get('webslm-chat') !== undefined"), "<webslm-chat> defined"
        return outcome, requested, log
    finally:
        ctx.remove_listener("request", record)
        page.close()  # frees the worker and its memory before the next model loads


def assert_served_locally(base: str, requested: list[str]):
    assert all(u.startswith((base, "blob:", "data:")) for u in requested), \
        [u for u in requested if not u.startswith(base)]
    assert not [u for u in requested if "/site/vendor/web-llm/" in u or "/site/vendor/transformers/" in u
                or u.endswith("/site/vendor/wllama/index.js")], \
        "the engines come from the bundle, not from the export's vendor/ copies"
    assert any(u.startswith(base + "assets/") for u in requested), requested


WASM_FOLDERS = {"wllama": "site/vendor/wllama/wasm/", "transformers-wasm": "site/vendor/ort/"}
# The app asks for task "form" when it fills: unforced, the order file's first CPU engine for
# forms runs (SwiftShader is a software adapter); the other one is asked for by name.
FORM_ORDER = cpu_engine_order()["order"]["form"]
# engine asked for -> (engine that runs, the export's folder its WASM comes from)
CPU_ENGINES = {"": (FORM_ORDER[0], WASM_FOLDERS[FORM_ORDER[0]]),
               FORM_ORDER[1]: (FORM_ORDER[1], WASM_FOLDERS[FORM_ORDER[1]])}


@pytest.mark.parametrize("asked", CPU_ENGINES)
def test_app_fills_a_form_on_a_cpu_engine(app_site, asked):
    base, ctx = app_site
    params = {"task": "fill", "text": SIGNATURE, **({"engine": asked} if asked else {})}
    outcome, requested, log = run_app(ctx, base, params)
    assert outcome.get("error") is None, (outcome, log[-30:])
    engine, wasm = CPU_ENGINES[asked]
    assert outcome["engine"] == engine, outcome
    fill = outcome["fill"]
    print(f"fill answer: {fill['raw']}")
    assert fill["values"]["name"] == "John Smith", fill
    assert fill["values"]["email"] == "john.smith@acme.com", fill
    assert {"name", "email"} <= set(fill["filled"]), fill
    assert_served_locally(base, requested)
    assert any(u.startswith(base + wasm) for u in requested), f"{engine}'s WASM from the export"


def test_app_chats_through_webllm_when_forced(app_site):
    base, ctx = app_site
    outcome, requested, log = run_app(ctx, base, {"task": "chat", "engine": "webllm", "tokens": 3,
                                                  "text": "What is the capital of France?"})
    assert outcome.get("error") is None, (outcome, log[-30:])
    assert (outcome["engine"], outcome["model"]) == ("webllm", "smollm2-135m-q4f32_asym"), outcome
    print(f"WebLLM answer: {outcome['answer']!r} in {outcome['chunks']} chunks")
    assert outcome["answer"].strip() and outcome["chunks"] >= 2, outcome
    assert_served_locally(base, requested)
