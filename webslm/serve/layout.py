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
from pathlib import Path

from webslm import resources

PAGES = {"index.html": "index.html", "form.html": "form.html"}  # URL -> template name
API_MODELS = "api/models.json"
SINGLE_FILES = {"webslm.js": "webslm.js"}  # URL -> path under the web root
# URL prefix under /vendor/ -> folder under the web root (npm files: webslm/resources.py).
VENDOR = {"web-llm": resources.WEBLLM_LIB, "transformers": resources.TRANSFORMERS_DIST,
          "wllama": resources.WLLAMA_ESM}
# Single vendored files: onnxruntime-web's WASM builds that transformers.js loads.
VENDOR_FILES = {f"vendor/ort/{Path(rel).name}": rel for rel in resources.ORT_FILES}


def default_web_root() -> Path:
    """web/ as installed (the wheel's copy, or the checkout's), or $WEBSLM_WEB_ROOT."""
    return resources.web_root()


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
