"""Where webslm's data files are at run time, and which of them the wheel carries.

The repository keeps models.yaml and web/ at its top level. A wheel cannot reach those, so
the wheel build (setup.py) copies them, plus the npm engines the pages load, into
webslm/_data/ under the same relative paths. Every lookup goes through `data_path`, which
prefers that copy and falls back to the checkout (an editable install, or running from the
clone). This module imports nothing but the standard library (and webslm.errors): setup.py
imports it too.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from webslm.errors import WebslmError

PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
CHECKOUT = Path(__file__).resolve().parent.parent

# What the wheel carries, relative to the repository root.
SHIPPED_FILES = ("models.yaml", "tests/data/eval_text.txt")
SHIPPED_TREES = ("web",)              # all of web/ but node_modules (NPM_* below)

# The npm files the pages load, relative to the web root (web/). npm installs them from
# web/package.json's pins (`npm ci`); nothing is fetched from a CDN.
WEBLLM_LIB = "node_modules/@mlc-ai/web-llm/lib"
TRANSFORMERS_DIST = "node_modules/@huggingface/transformers/dist"
WLLAMA_ESM = "node_modules/@wllama/wllama/esm"          # the CPU engine for GGUFs, and `webslm bench`
ORT_DIST = "node_modules/onnxruntime-web/dist"
# Of onnxruntime-web's 140 MB only the builds transformers.js loads (its bundled JS is the
# same onnxruntime-web version, pinned by web/package-lock.json).
ORT_FILES = tuple(f"{ORT_DIST}/{name}" for name in (
    "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm",
    "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"))
NPM_TREES = (WEBLLM_LIB, TRANSFORMERS_DIST, WLLAMA_ESM)
NPM_FILES = ORT_FILES
# The packages web/package.json pins, whose files those are (onnxruntime-web comes with
# transformers.js, at the version web/package-lock.json holds).
WEBLLM, TRANSFORMERS_JS, WLLAMA = "@mlc-ai/web-llm", "@huggingface/transformers", "@wllama/wllama"
ENGINE_PACKAGES = (WEBLLM, TRANSFORMERS_JS, WLLAMA)

NPM_INSTALL = "cd web && npm ci --ignore-scripts"


def data_root() -> Path:
    """The packaged copy when this is an installed wheel, else the repository checkout."""
    if (PACKAGE_DATA / "models.yaml").is_file():
        return PACKAGE_DATA
    if (CHECKOUT / "models.yaml").is_file():
        return CHECKOUT
    raise WebslmError(f"webslm's data files are missing (neither {PACKAGE_DATA} nor {CHECKOUT} "
                      "holds models.yaml)",
                      "reinstall webslm from a wheel built with `pip wheel .`, or run it from "
                      "its repository")


def data_path(relative: str) -> Path:
    """A shipped file or folder, by its path relative to the repository root."""
    return data_root() / relative


def web_root() -> Path:
    """web/ (pages, static files, the npm engines), or $WEBSLM_WEB_ROOT."""
    env = os.environ.get("WEBSLM_WEB_ROOT")
    return Path(env) if env else data_path("web")


def npm_pin(package: str, web: Path | None = None) -> str:
    """The version web/package.json pins for an npm package (e.g. "0.2.86"): the one version
    manifests record and the tests hold node_modules to."""
    manifest = json.loads(((web or data_path("web")) / "package.json").read_text())
    for field in ("dependencies", "peerDependencies", "devDependencies"):
        if package in manifest.get(field, {}):
            return re.sub(r"^[\^~=v]+", "", manifest[field][package].strip())
    raise KeyError(f"web/package.json pins no version of {package}")


def npm_installed_version(package: str, web: Path | None = None) -> str | None:
    """The version of an npm package installed under web/node_modules, None when absent. An
    installed wheel carries only the engines' files, so there it is always None."""
    found = (web or data_path("web")) / "node_modules" / package / "package.json"
    return json.loads(found.read_text())["version"] if found.is_file() else None
