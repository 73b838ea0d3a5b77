"""What the pages and /api/models say about the built models.

The chat page and the form demo are jinja2 templates owned by web/; when one is missing
(a checkout without the frontend, or a test) a plain page listing the models stands in,
so the server never fails on a page.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import jinja2

from webslm import __version__
from webslm.serve.catalog import WEBLLM, BuiltModel
from webslm.serve.headers import META_CONTENT_SECURITY_POLICY


def api_models(models: list[BuiltModel]) -> dict[str, Any]:
    """{"model_list": WebLLM ModelRecords (URLs relative to the site root), "models": every
    build's summary, WebLLM and transformers.js (ONNX) alike}."""
    return {"model_list": [m.webllm_record() for m in models if m.engine == WEBLLM],
            "models": [m.summary() for m in models]}


def api_models_bytes(models: list[BuiltModel]) -> bytes:
    return (json.dumps(api_models(models), indent=2) + "\n").encode()


def page_context(models: list[BuiltModel]) -> dict[str, Any]:
    return {"models": [m.summary() for m in models], "version": __version__,
            "content_security_policy": META_CONTENT_SECURITY_POLICY}


def render_page(templates: Path, name: str, models: list[BuiltModel]) -> str:
    context = page_context(models)
    if not (templates / name).is_file():
        return fallback_page(name, context)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates)),
                             autoescape=jinja2.select_autoescape(["html"]))
    return env.get_template(name).render(**context)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def fallback_page(name: str, context: dict[str, Any]) -> str:
    rows = "".join(
        f"<li><code>{html.escape(m['id'])}</code>"
        f"{' (fine-tune of ' + html.escape(m['base']) + ')' if m.get('base') else ''}: "
        f"{html.escape(str(m['model_type']))}, "
        f"{html.escape(str(m['quantization']))}, {_size(m['size_bytes'])}, "
        f"context {m['context_window']}, needs "
        f"{html.escape(', '.join(m['required_features']) or 'no optional GPU features')}</li>"
        for m in context["models"]) or "<li>no built models found</li>"
    return (f"<!doctype html>\n<html lang=en><meta charset=utf-8><title>webslm</title>\n"
            f"<h1>webslm {html.escape(context['version'])}</h1>\n"
            f"<p>The page template web/templates/{html.escape(name)} is missing, so this plain "
            f"list stands in. The WebLLM appConfig is at <a href=api/models.json>"
            f"api/models.json</a>.</p>\n<ul>{rows}</ul>\n</html>\n")
