"""`webslm export-site`: the site `webslm serve` would serve, as plain files for any static
host or CDN. It reads the same layout and renders the same pages and JSON as the server, and
applies the same rules (manifest files only, nothing hidden, no symlink leading out).

Files are hard-linked when the site is on the same filesystem as the sources (instant, no
extra disk), else copied. A fine-tune's shared base shards are the base's files, placed once
under the base's folder, where the fine-tune's relative names (artifacts/files.py) lead.
The site is written into a staging directory beside --out and renamed into place, so --out
is either the old site or the whole new one. `_headers` says which headers the host must
send, in the format Netlify and Cloudflare Pages read (headers.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from webslm.errors import WebslmError
from webslm.serve.catalog import BuiltModel, discover
from webslm.serve.headers import HEADERS_FILE, headers_file
from webslm.serve.layout import API_MODELS, PAGES, SiteLayout, default_web_root
from webslm.serve.pages import api_models_bytes, render_page
from webslm.serve.paths import inside, resolve_under, servable_name


def export_site(dists: list[Path | str], out: Path, *, force: bool = False,
                web_root: Path | None = None, say: Callable[[str], None] = print) -> Path:
    models = discover(dists)
    layout = SiteLayout(Path(web_root) if web_root else default_web_root())
    out = Path(out).absolute()
    _check_target(out, [Path(d) for d in dists], models, layout, force)
    staging = out.parent / f".{out.name}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        counts = _write_site(staging, models, layout, say)
        _swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"exported {len(models)} model(s), {counts['files']} files "
        f"({counts['linked']} hard-linked, {counts['copied']} copied) to {out}")
    return out


def _check_target(out: Path, dists: list[Path], models: list[BuiltModel], layout: SiteLayout,
                  force: bool) -> None:
    real = Path(os.path.realpath(out))
    for source in [*dists, *(m.dir for m in models), layout.web_root]:
        src = Path(os.path.realpath(source))
        if real == src or real in src.parents:
            raise WebslmError(f"--out {out} would replace {source}, which the site is made from",
                              "choose an --out outside the dist and web directories")
    for source in [*(m.dir for m in models), layout.web_root]:
        if Path(os.path.realpath(source)) in real.parents:
            raise WebslmError(f"--out {out} is inside {source}", "choose an --out outside it")
    if out.exists() and not force:
        raise WebslmError(f"{out} already exists", "pass --force to replace it")


def _swap_in(staging: Path, out: Path) -> None:
    if not out.exists() and not out.is_symlink():
        staging.rename(out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    out.rename(old)
    try:
        staging.rename(out)
    except OSError:
        old.rename(out)
        raise
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old)
    else:
        old.unlink()


def _write_site(site: Path, models: list[BuiltModel], layout: SiteLayout,
                say: Callable[[str], None]) -> dict[str, int]:
    counts = {"files": 0, "linked": 0, "copied": 0}

    def place(src: Path, rel: str) -> None:
        dst = site / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
            counts["linked"] += 1
        except OSError:
            shutil.copy2(src, dst)
            counts["copied"] += 1
        counts["files"] += 1

    for url, template in PAGES.items():
        (site / url).write_text(render_page(layout.templates, template, models))
    (site / API_MODELS).parent.mkdir(parents=True)
    (site / API_MODELS).write_bytes(api_models_bytes(models))
    (site / HEADERS_FILE).write_text(headers_file())  # for hosts that read one (docs/EMBEDDING.md)
    for url, target in layout.single_files().items():
        src = inside(target.parent, target)
        if src is None:
            say(f"warning: {target} is missing, so the site has no /{url}")
        else:
            place(src, url)
    for prefix, root in layout.trees().items():
        files = tree_files(root)
        if not files:
            say(f"warning: nothing to export from {root} (for /{prefix}/)")
        for rel, src in files:
            place(src, f"{prefix}/{rel}")
    for model in models:
        for name in model.served_names:
            src = inside(model.dir, model.dir / name)
            if src is None:
                raise WebslmError(f"{model.dir / name} is missing or leads outside {model.dir}",
                                  "rebuild the model with `webslm build ... --force`")
            place(src, model.url + name)
    return counts


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """(URL path below root, real file) for every file the server would serve from root."""
    if not root.is_dir():
        return []
    real_root = os.path.realpath(root)
    found, seen = [], set()
    for here, dirs, names in os.walk(root, followlinks=True):
        real_here = os.path.realpath(here)
        if real_here in seen:  # a symlink loop, or a second way to the same folder
            dirs[:] = []
            continue
        seen.add(real_here)
        dirs[:] = sorted(d for d in dirs if servable_name(d))
        for name in sorted(names):
            rel = Path(here, name).relative_to(root).as_posix()
            src = resolve_under(root, rel)
            if src is not None and os.path.commonpath([real_root, real_here]) == real_root:
                found.append((rel, src))
    return found
