"""`webslm export-site`: the same layout as the server, written atomically, and served by a
plain static server (the documented Python snippet) it gives the same API and files."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from serve_helpers import SECRET, documented_static_server
from webslm.cli import main
from webslm.errors import WebslmError
from webslm.serve.export import export_site

REPO = Path(__file__).resolve().parents[2]


def export(site_dirs, out, **kw):
    return export_site([site_dirs["dist"]], out, web_root=site_dirs["web"], say=lambda m: None, **kw)


def site_files(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}


def test_layout_matches_the_server(site_dirs, client, tmp_path):
    site = export(site_dirs, tmp_path / "site")
    files = site_files(site)
    art = "models/tiny-q4f32_1/resolve/main/"
    assert {"index.html", "form.html", "api/models.json", "webslm.js", "static/app.css",
            "static/sub/x.js", "vendor/web-llm/index.js", art + "params_shard_0.bin",
            art + "tiny-q4f32_1-webgpu.wasm", art + "webslm-manifest.json"} <= files
    assert not [f for f in files if f.endswith(".d.ts") or "/." in "/" + f]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging left"
    for rel in files - {"_headers"}:  # every exported file is what the server sends at the same URL
        r = client.get("/" + rel, headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200 and r.content == (site / rel).read_bytes(), rel
    assert len(files) == len(site_files(site))


def test_headers_file_asks_for_the_servers_headers(site_dirs, client, tmp_path):
    """`_headers` (Netlify, Cloudflare Pages) holds, for every path, the isolation and CSP
    headers `webslm serve` sends; the pages carry the CSP, less frame-ancestors, in a <meta>."""
    import html
    import re

    site = export(site_dirs, tmp_path / "site")
    lines = (site / "_headers").read_text().splitlines()
    assert lines[0] == "/*"
    wanted = dict(line.strip().split(": ", 1) for line in lines[1:])
    sent = client.get("/").headers
    for name in ("Cross-Origin-Opener-Policy", "Cross-Origin-Embedder-Policy",
                 "Cross-Origin-Resource-Policy", "Content-Security-Policy"):
        assert wanted[name] == sent[name], name
    assert "frame-ancestors 'none'" in wanted["Content-Security-Policy"]
    assert wanted["Content-Security-Policy"] in (REPO / "docs" / "EMBEDDING.md").read_text()
    from webslm.serve.pages import render_page

    for page in ("index.html", "form.html"):  # the real pages, as served and exported
        meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">',
                         render_page(REPO / "web" / "templates", page, []))
        assert meta, f"{page} has no CSP <meta>"
        assert html.unescape(meta.group(1)) + "; frame-ancestors 'none'" == wanted["Content-Security-Policy"]


def test_artifacts_are_hard_linked_on_the_same_filesystem(site_dirs, tmp_path):
    site = export(site_dirs, tmp_path / "site")
    shard = site / "models/tiny-q4f32_1/resolve/main/params_shard_0.bin"
    assert shard.stat().st_ino == (site_dirs["dist"] / "tiny-q4f32_1/params_shard_0.bin").stat().st_ino


def test_existing_out_is_refused_without_force(site_dirs, tmp_path, capsys):
    out = tmp_path / "site"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code = main(["export-site", str(site_dirs["dist"]), "--out", str(out)])
    assert code == 2 and "already exists" in capsys.readouterr().err
    assert site_files(out) == {"keep.txt"}
    export(site_dirs, out, force=True)
    assert "keep.txt" not in site_files(out) and (out / "index.html").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_out_may_not_swallow_its_sources(site_dirs, tmp_path):
    for out in (site_dirs["dist"], tmp_path, site_dirs["dist"] / "tiny-q4f32_1" / "site",
                site_dirs["web"]):
        with pytest.raises(WebslmError):
            export(site_dirs, out, force=True)
    assert (site_dirs["dist"] / "tiny-q4f32_1" / "params_shard_0.bin").is_file()


def test_symlinks_out_are_not_exported(site_dirs, tmp_path):
    (site_dirs["web"] / "static" / "leak.txt").symlink_to(site_dirs["secret"])
    (site_dirs["web"] / "static" / "loop").symlink_to(site_dirs["web"] / "static")
    site = export(site_dirs, tmp_path / "site")
    assert not (site / "static" / "leak.txt").exists()
    assert all(SECRET.encode() not in (site / f).read_bytes() for f in site_files(site))


def test_plain_static_server_serves_the_same_site(site_dirs, client, tmp_path):
    site = export(site_dirs, tmp_path / "site")
    with documented_static_server(site) as base:
        with urllib.request.urlopen(base + "api/models.json") as r:
            assert r.read() == client.get("/api/models.json").content
            assert r.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
            assert r.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        lib = "models/tiny-q4f32_1/resolve/main/tiny-q4f32_1-webgpu.wasm"
        with urllib.request.urlopen(base + lib) as r:
            assert r.headers["Content-Type"] == "application/wasm"
            assert r.read() == client.get("/" + lib).content
        with urllib.request.urlopen(base + "webslm.js") as r:
            assert r.headers["Content-Type"].startswith("text/javascript")
