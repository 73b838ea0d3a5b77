"""The FastAPI app behind `webslm serve`: pages, /api/models, artifacts and JavaScript.

Every response, errors included, carries COOP/COEP/CORP so the page is cross-origin
isolated (SharedArrayBuffer, multithreaded WASM), and the Content-Security-Policy with
frame-ancestors 'none' (headers.py). Requests whose path is in any way
ambiguous are answered 404 before any route or file is looked at.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.exceptions import HTTPException

from webslm.artifacts.files import RESOLVE
from webslm.serve.catalog import BuiltModel, discover
from webslm.serve.headers import SITE_HEADERS
from webslm.serve.http import bytes_response, file_response
from webslm.serve.layout import API_MODELS, PAGES, SiteLayout, default_web_root
from webslm.serve.pages import api_models_bytes, render_page
from webslm.serve.paths import inside, request_is_clean, resolve_under

_SITE_RAW = [(k.encode(), v.encode()) for k, v in SITE_HEADERS.items()]
GET = ["GET", "HEAD"]


class GuardMiddleware:
    """Adds the site's headers (headers.py) to every response; refuses ambiguous paths with a 404."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_isolated(message):
            if message["type"] == "http.response.start":
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.lower().decode() not in SITE_HEADERS]
                message = {**message, "headers": kept + _SITE_RAW}
            await send(message)

        raw = scope.get("raw_path") or scope["path"].encode()
        if not request_is_clean(raw, scope["path"]):
            return await not_found()(scope, receive, send_isolated)
        return await self.app(scope, receive, send_isolated)


def not_found() -> Response:
    return PlainTextResponse("not found\n", status_code=404)


def create_app(dists: list[Path | str], web_root: Path | None = None) -> FastAPI:
    """An app serving the models found under `dists` and the frontend in web_root (web/)."""
    models = discover(dists)
    return build_app(models, SiteLayout(Path(web_root) if web_root else default_web_root()))


def build_app(models: list[BuiltModel], layout: SiteLayout) -> FastAPI:
    app = FastAPI(title="webslm", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.models = models
    app.state.layout = layout
    by_id = {m.id: m for m in models}

    @app.exception_handler(HTTPException)
    def _plain_errors(_request, exc: HTTPException):
        return PlainTextResponse(f"{exc.detail}\n".lower(), status_code=exc.status_code,
                                 headers=getattr(exc, "headers", None))

    def page(name: str):
        def handler(request: Request):
            body = render_page(layout.templates, PAGES[name], models).encode()
            return bytes_response(request, body, "text/html; charset=utf-8")
        return handler

    app.add_api_route("/", page("index.html"), methods=GET)
    for url in PAGES:
        app.add_api_route(f"/{url}", page(url), methods=GET)

    def api(request: Request):
        return bytes_response(request, api_models_bytes(models), "application/json")

    app.add_api_route("/api/models", api, methods=GET)
    app.add_api_route(f"/{API_MODELS}", api, methods=GET)

    @app.api_route(f"/models/{{model_id}}/{RESOLVE}/{{name:path}}", methods=GET)
    def artifact(request: Request, model_id: str, name: str):
        model = by_id.get(model_id)
        if model is None or name not in model.served_names:
            return not_found()
        path = inside(model.dir, model.dir / name)
        if path is None:
            return not_found()
        entry = model.manifest["files"].get(name, {})
        return file_response(request, path, sha256=entry.get("sha256"),
                             expected_bytes=entry.get("bytes"))

    for url, target in layout.single_files().items():
        app.add_api_route(f"/{url}", _single(target), methods=GET)
    for prefix, root in layout.trees().items():
        app.add_api_route(f"/{prefix}/{{subpath:path}}", tree_route(root), methods=GET)

    # Outermost, so even the 500 page of Starlette's error middleware gets the headers.
    inner = app.build_middleware_stack
    app.build_middleware_stack = lambda: GuardMiddleware(inner())
    return app


def _single(target: Path):
    def handler(request: Request):
        path = inside(target.parent, target)
        return not_found() if path is None else file_response(request, path)
    return handler


def tree_route(root: Path):
    """A GET handler serving files below root (nothing outside it, no listings)."""
    def handler(request: Request, subpath: str):
        path = resolve_under(root, subpath)
        return not_found() if path is None else file_response(request, path)
    return handler
