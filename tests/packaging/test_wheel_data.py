"""setup.py's data step, without building a wheel: what it lays out under webslm/_data/ is
everything the commands look up through webslm/resources.py, and a missing or stale
web/node_modules stops the build with the command that fixes it."""

from __future__ import annotations

import importlib.util
import json
import shutil

import pytest

from webslm import resources

REPO = resources.CHECKOUT


def load_setup():
    spec = importlib.util.spec_from_file_location("webslm_setup", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: defines the helpers, runs no setup()
    return module


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    if not (REPO / "web" / "node_modules").is_dir():
        pytest.skip("web/node_modules missing: cd web && npm ci --ignore-scripts")
    target = tmp_path_factory.mktemp("wheel") / "webslm" / "_data"
    load_setup().copy_data(REPO, target)
    return target


def test_the_packaged_copy_serves_every_page_and_engine(packaged, monkeypatch):
    from webslm.bench.server import WLLAMA_DIR
    from webslm.registry import load_registry
    from webslm.serve.layout import PAGES, SiteLayout

    monkeypatch.setattr(resources, "PACKAGE_DATA", packaged)
    monkeypatch.delenv("WEBSLM_WEB_ROOT", raising=False)
    assert resources.data_root() == packaged
    layout = SiteLayout(resources.web_root())
    assert all((layout.templates / t).is_file() for t in PAGES.values())
    assert all(p.is_dir() for p in layout.trees().values())
    assert all(p.is_file() for p in layout.single_files().values())
    assert (layout.web_root / WLLAMA_DIR / "index.js").is_file()
    assert (layout.web_root / "bench" / "bench.html").is_file()
    assert resources.data_path("tests/data/eval_text.txt").is_file()
    assert "smollm2-135m" in load_registry()


def test_only_the_engines_files_of_node_modules_ship(packaged):
    shipped = {p.relative_to(packaged / "web").as_posix()
               for p in (packaged / "web" / "node_modules").rglob("*") if p.is_file()}
    allowed = resources.NPM_TREES + resources.NPM_FILES
    assert shipped and all(any(f == a or f.startswith(a + "/") for a in allowed) for f in shipped)
    models = [p for p in packaged.rglob("*") if p.suffix in (".gguf", ".safetensors", ".onnx", ".bin")]
    assert models == []


def fake_repo(tmp_path, installed: str | None):
    web = tmp_path / "repo" / "web"
    web.mkdir(parents=True)
    shutil.copy(REPO / "web" / "package.json", web / "package.json")
    if installed:
        pkg = web / "node_modules" / resources.WEBLLM
        pkg.mkdir(parents=True)
        (pkg / "package.json").write_text(json.dumps({"version": installed}))
    return tmp_path / "repo"


def test_a_missing_node_modules_stops_the_build_with_the_fix(tmp_path):
    with pytest.raises(SystemExit) as stop:
        load_setup().check_npm_engines(fake_repo(tmp_path, installed=None))
    assert "node_modules is missing" in str(stop.value)
    assert "cd web && npm ci --ignore-scripts" in str(stop.value)


def test_stale_engines_stop_the_build(tmp_path):
    with pytest.raises(SystemExit) as stop:
        load_setup().check_npm_engines(fake_repo(tmp_path, installed="0.0.1"))
    assert f"{resources.WEBLLM} 0.0.1" in str(stop.value)
    assert resources.npm_pin(resources.WEBLLM) in str(stop.value)
