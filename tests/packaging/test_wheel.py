"""Acceptance of issue 14's Python half: the wheel works outside this repository.

The wheel is built from the checkout, installed into a new virtual environment in a temporary
folder, and driven from another temporary folder with no editable install and no repository
on sys.path. The new environment borrows the dependencies (torch, TVM, ...) of the
interpreter running the tests through a .pth line, which adds that site-packages folder
without running the .pth files inside it, so the checkout's editable finder stays off; the
test proves it. The build reuses the user's cache root (WEBSLM_CACHE), so the web runtime
compiled by earlier builds is not compiled again.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import sysconfig
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from webslm.resources import CHECKOUT, WEBLLM, npm_pin
from webslm.user_cache import CACHE_ENV, cache_root

REPO = CHECKOUT
MODEL_ID = "smollm2-135m-q4f32_asym"
MAX_WHEEL_BYTES = 40 * 2**20
MODEL_SUFFIXES = (".gguf", ".safetensors", ".onnx", ".onnx_data", ".bin", ".pt")

pytestmark = pytest.mark.slow


def run(cmd: list, cwd: Path, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not (REPO / "web" / "node_modules").is_dir():
        pytest.skip("web/node_modules missing: cd web && npm ci --ignore-scripts")
    out = tmp_path_factory.mktemp("wheelhouse")
    # --no-build-isolation: the same setup.py, with this environment's setuptools (offline)
    run([sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--no-build-isolation",
         "-q", "-w", out], cwd=out, env=os.environ.copy())
    (found,) = out.glob("webslm-*.whl")
    return found


@pytest.fixture(scope="module")
def user(tmp_path_factory, wheel):
    """(bin folder of the new environment, its env vars, a working folder outside the repo)."""
    root = tmp_path_factory.mktemp("outside")
    venv = root / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=root, env=os.environ.copy())
    purelib = Path(run([venv / "bin" / "python", "-c",
                        "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       cwd=root, env=os.environ.copy()).stdout.strip())
    (purelib / "_webslm_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "WEBSLM_MODELS",
                        "WEBSLM_WEB_ROOT")}
    path = [p for p in env["PATH"].split(os.pathsep) if p and not p.startswith(str(REPO))]
    env["PATH"] = os.pathsep.join([str(venv / "bin"), *path])
    env[CACHE_ENV] = str(cache_root())  # the pre-warmed web runtime
    run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
         wheel], cwd=root, env=env)
    work = root / "work"
    work.mkdir()
    return venv, env, work


def test_the_wheel_carries_the_data_and_no_model(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("webslm/_data/models.yaml", "webslm/_data/web/templates/index.html",
                   "webslm/_data/web/webslm.js", "webslm/_data/web/bench/bench.html",
                   "webslm/_data/web/node_modules/@mlc-ai/web-llm/lib/index.js",
                   "webslm/_data/web/node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
                   "webslm/_data/web/node_modules/@wllama/wllama/esm/wasm/wllama.wasm",
                   "webslm/_data/tests/data/eval_text.txt"):
        assert needed in names, needed
    assert not [n for n in names if n.endswith(MODEL_SUFFIXES)]
    size = wheel.stat().st_size
    print(f"\n{wheel.name}: {size / 2**20:.1f} MiB, {len(names)} files")
    assert size < MAX_WHEEL_BYTES


def test_installed_package_is_not_the_checkout(user):
    venv, env, work = user
    probe = ("import json, sys, webslm, webslm.resources as r; print(json.dumps({'file': "
             "webslm.__file__, 'data': str(r.data_root()), 'path': sys.path, "
             "'finders': [repr(f) for f in sys.meta_path]}))")
    seen = json.loads(run([venv / "bin" / "python", "-c", probe], cwd=work, env=env).stdout)
    assert Path(seen["file"]).is_relative_to(venv), seen["file"]
    assert Path(seen["data"]).is_relative_to(venv), seen["data"]
    deps = sysconfig.get_paths()["purelib"]
    assert not [p for p in seen["path"] if p.startswith(str(REPO)) and p != deps], seen["path"]
    assert not [f for f in seen["finders"] if "editable" in f.lower()], seen["finders"]


def test_models_doctor_build_serve_export(user):
    venv, env, work = user
    webslm = venv / "bin" / "webslm"
    assert "smollm2-135m" in run([webslm, "models"], cwd=work, env=env).stdout
    doctor = run([webslm, "doctor"], cwd=work, env=env).stdout
    assert f"in {venv}" in doctor and "webslm build: ready" in doctor

    # --recompile: the installed package compiles and links, whatever the cache holds
    run([webslm, "build", "smollm2-135m", "--backend", "webgpu", "--q4f32", "--recompile",
         "--out", "dist"], cwd=work, env=env, timeout=900)
    manifest = json.loads((work / "dist" / MODEL_ID / "webslm-manifest.json").read_text())
    assert manifest["toolchain"]["webllm"] == npm_pin(WEBLLM)

    check_served_site(webslm, work, env)

    run([webslm, "export-site", "dist", "--out", "site"], cwd=work, env=env)
    site = work / "site"
    for rel in ("index.html", "form.html", "webslm.js", "api/models.json",
                "vendor/web-llm/index.js", "vendor/transformers/transformers.js",
                "vendor/ort/ort-wasm-simd-threaded.wasm", "vendor/wllama/index.js",
                "vendor/wllama/wasm/wllama.wasm",
                f"models/{MODEL_ID}/resolve/main/mlc-chat-config.json"):
        assert (site / rel).is_file(), rel


def check_served_site(webslm: Path, work: Path, env: dict):
    """`webslm serve dist --port 0` in a subprocess: the page, the API and the engines."""
    server = subprocess.Popen([str(webslm), "serve", "dist", "--port", "0"], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = wait_for_url(server, timeout=60)
        assert "<html" in get(base).lower() or "<!doctype" in get(base).lower()
        models = json.loads(get(base + "api/models"))
        assert [r["model_id"] for r in models["model_list"]] == [MODEL_ID]
        for rel in ("webslm.js", "vendor/web-llm/index.js", "vendor/transformers/transformers.js",
                    "vendor/ort/ort-wasm-simd-threaded.mjs", "vendor/wllama/index.js",
                    f"models/{MODEL_ID}/resolve/main/mlc-chat-config.json"):
            assert get(base + rel), rel
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_for_url(server: subprocess.Popen, timeout: float) -> str:
    """The URL from the server's "serving on" line. A thread reads its lines: select() on the
    pipe misses a line that one read already pulled into the text buffer with the one before."""
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True)
    reader.start()
    deadline, seen = time.monotonic() + timeout, []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=min(left, 1))
        except queue.Empty:
            if not reader.is_alive() and lines.empty():  # it exited and all it said is in seen
                break
            continue
        seen.append(line)
        if "serving on " in line:
            return line.split("serving on ", 1)[1].strip()
    raise AssertionError(f"webslm serve did not start (exit {server.poll()}):\n{''.join(seen)}")


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return response.read().decode("utf-8", errors="replace")
