"""The site's URL layout, as data: the live server and the static export both read it, so
they cannot drift apart.

    /  /index.html  /form.html          pages rendered from web/templates/
    /api/models  /api/models.json       the WebLLM appConfig and the model summaries
    /models/<id>/resolve/main/<file>    artifact files (only those in the manifest)
    /webslm.js                          web/webslm.js
    /static/<path>                      web/static/
    /vendor/<name>/<path>               JavaScript installed by npm (VENDOR below)
    /vendor/ort/<file>                  the onnxruntime-web WASM transformers.js runs
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

PAGES = {"index.html": "index.html", "form.html": "form.html"}  # URL -> template name
API_MODELS = "api/models.json"
SINGLE_FILES = {"webslm.js": "webslm.js"}  # URL -> path under the web root
# URL prefix under /vendor/ -> folder under the web root. npm installs it; never a CDN.
VENDOR = {
    "web-llm": "node_modules/@mlc-ai/web-llm/lib",
    "transformers": "node_modules/@huggingface/transformers/dist",
}
# Single vendored files: of onnxruntime-web's 140 MB only the build transformers.js loads
# (its bundled JS is the same onnxruntime-web version, pinned by web/package-lock.json).
ORT_DIST = "node_modules/onnxruntime-web/dist"
VENDOR_FILES = {f"vendor/ort/{name}": f"{ORT_DIST}/{name}" for name in (
    "ort-wasm-simd-threaded.asyncify.mjs", "ort-wasm-simd-threaded.asyncify.wasm",
    "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")}


def default_web_root() -> Path:
    """web/ next to the package (an editable install, as `make install` makes), or
    $WEBSLM_WEB_ROOT."""
    env = os.environ.get("WEBSLM_WEB_ROOT")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "web"


@dataclasses.dataclass(frozen=True)
class SiteLayout:
    web_root: Path

    @property
    def templates(self) -> Path:
        return self.web_root / "templates"

    def trees(self) -> dict[str, Path]:
        """URL prefix (no slashes at the ends) -> directory served below it."""
        trees = {"static": self.web_root / "static"}
        trees.update({f"vendor/{name}": self.web_root / folder for name, folder in VENDOR.items()})
        return trees

    def single_files(self) -> dict[str, Path]:
        return {url: self.web_root / rel for url, rel in {**SINGLE_FILES, **VENDOR_FILES}.items()}
