"""One lookup for shipped data (the wheel's copy, else the checkout), and one source for each
npm pin: web/package.json. The pins, node_modules, the lock file and what manifests record
must agree."""

from __future__ import annotations

import json
import re

import pytest

from webslm import resources
from webslm.errors import WebslmError

WEB = resources.CHECKOUT / "web"


def test_the_checkout_is_the_data_root_when_nothing_is_packaged():
    assert not resources.PACKAGE_DATA.exists(), "webslm/_data/ is made only inside the wheel"
    assert resources.data_root() == resources.CHECKOUT
    assert resources.data_path("models.yaml").is_file()
    assert (resources.web_root() / "templates" / "index.html").is_file()


def test_packaged_data_wins_over_the_checkout(tmp_path, monkeypatch):
    (tmp_path / "models.yaml").write_text("models: {}\n")
    monkeypatch.setattr(resources, "PACKAGE_DATA", tmp_path)
    assert resources.data_root() == tmp_path
    assert resources.web_root() == tmp_path / "web"
    monkeypatch.setenv("WEBSLM_WEB_ROOT", str(tmp_path / "mine"))
    assert resources.web_root() == tmp_path / "mine"


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "PACKAGE_DATA", tmp_path / "a")
    monkeypatch.setattr(resources, "CHECKOUT", tmp_path / "b")
    with pytest.raises(WebslmError, match="data files are missing") as err:
        resources.data_path("models.yaml")
    assert "pip wheel" in err.value.fix


def test_everything_served_from_web_is_shipped():
    from webslm.bench.server import WLLAMA_DIR
    from webslm.serve.layout import VENDOR, VENDOR_FILES

    assert set(VENDOR.values()) | {WLLAMA_DIR} <= set(resources.NPM_TREES)
    assert set(VENDOR_FILES.values()) <= set(resources.NPM_FILES)


@pytest.mark.parametrize("package", resources.ENGINE_PACKAGES)
def test_pins_are_exact_and_installed(package):
    manifest = json.loads((WEB / "package.json").read_text())
    raw = {**manifest.get("devDependencies", {}), **manifest.get("peerDependencies", {}),
           **manifest.get("dependencies", {})}[package]
    assert re.fullmatch(r"\d+\.\d+\.\d+", raw), f"{package}: pin an exact version, not {raw!r}"
    pin = resources.npm_pin(package)
    lock = json.loads((WEB / "package-lock.json").read_text())["packages"]
    assert lock[f"node_modules/{package}"]["version"] == pin, "run npm install in web/"
    if not (WEB / "node_modules").is_dir():
        pytest.skip("web/node_modules missing: cd web && npm ci --ignore-scripts")
    assert resources.npm_installed_version(package) == pin, "run `cd web && npm ci --ignore-scripts`"


def test_manifests_record_the_pinned_engines():
    from webslm.artifacts.manifest import WEBLLM_VERSION
    from webslm.pipeline.onnx_build import TRANSFORMERS_JS_VERSION

    assert WEBLLM_VERSION == resources.npm_pin(resources.WEBLLM)
    assert TRANSFORMERS_JS_VERSION == resources.npm_pin(resources.TRANSFORMERS_JS)


def test_docs_name_the_pinned_webllm():
    pin = resources.npm_pin(resources.WEBLLM)
    for doc in ("README.md", "docs/ARCHITECTURE.md"):
        text = (resources.CHECKOUT / doc).read_text()
        named = set(re.findall(r"WebLLM (\d+\.\d+\.\d+)|web-llm@(\d+\.\d+\.\d+)", text))
        assert {v for pair in named for v in pair if v} <= {pin}, doc
