"""The browser harness: server, served layout, both Chromium WebGPU rigs, WebLLM import, clean failures."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from chromium_rig import LAYER_LIB, RIG, lavapipe_ready
from harness import (
    CHROMIUM,
    WEBLLM_LIB,
    adapter_report,
    layout_served_tree,
    run_webllm,
    webllm_import_report,
)
from static_server import StaticServer


def _get(url: str, headers: dict | None = None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, b""


def test_static_server_types_ranges_and_request_log(tmp_path):
    (tmp_path / "lib.wasm").write_bytes(b"\0asm" + bytes(range(60)))
    (tmp_path / "page.js").write_text("export {};")
    (tmp_path / "params_shard_0.bin").write_bytes(bytes(range(100)))
    with StaticServer(tmp_path) as server:
        status, headers, body = _get(server.url + "/lib.wasm")
        assert (status, headers.get("Content-Type"), body[:4]) == (200, "application/wasm", b"\0asm")
        assert _get(server.url + "/page.js")[1].get("Content-Type") == "text/javascript"
        status, headers, body = _get(server.url + "/params_shard_0.bin", {"Range": "bytes=10-19"})
        assert (status, headers.get("Content-Range")) == (206, "bytes 10-19/100")
        assert body == bytes(range(10, 20))
        assert _get(server.url + "/params_shard_0.bin", {"Range": "bytes=-5"})[2] == bytes(range(95, 100))
        assert _get(server.url + "/params_shard_0.bin", {"Range": "bytes=200-"})[0] == 416
        assert _get(server.url + "/missing.json")[0] == 404
        assert ("GET", "/missing.json", 404) in server.requests
    assert server.url.startswith("http://127.0.0.1:")


def test_layout_served_tree(tmp_path):
    if not (WEBLLM_LIB / "index.js").is_file():
        pytest.skip("web/node_modules missing: run npm install in web/")
    art = tmp_path / "art"
    art.mkdir()
    (art / "mlc-chat-config.json").write_text("{}")
    lib = tmp_path / "model-webgpu.wasm"
    lib.write_bytes(b"\0asm")
    root = tmp_path / "root"
    paths = layout_served_tree(root, artifact_dir=art, lib_path=lib, model_id="m-q4f32_1")
    assert paths["model"] == "/models/m-q4f32_1/resolve/main/"
    assert paths["lib"] == "/libs/model-webgpu.wasm"
    for url in (paths["page"], paths["webllm"], paths["model"] + "mlc-chat-config.json", paths["lib"]):
        assert (root / url.lstrip("/")).is_file(), url


# --- real browser ---------------------------------------------------------------------

browser = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def need_browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed")
    pytest.importorskip("playwright.sync_api")
    if not (WEBLLM_LIB / "index.js").is_file():
        pytest.skip("web/node_modules missing: run npm install in web/")


@pytest.mark.slow
@pytest.mark.browser
def _assert_webllm_limits(limits: dict):
    assert limits["maxStorageBuffersPerShaderStage"] >= 10  # WebLLM refuses fewer
    assert limits["maxComputeWorkgroupStorageSize"] >= 32 * 1024  # WebLLM refuses less
    assert limits["maxComputeInvocationsPerWorkgroup"] >= 256


@pytest.mark.slow
@pytest.mark.browser
def test_swiftshader_adapter(need_browser):
    report = adapter_report(rig="swiftshader")
    assert report["secure_context"] and report["has_gpu"], report
    assert report["info"]["architecture"] == "swiftshader", report["info"]
    assert "shader-f16" not in report["features"]  # only f32 builds run there
    _assert_webllm_limits(report["limits"])


@pytest.mark.slow
@pytest.mark.browser
def test_lavapipe_adapter_with_and_without_shader_f16(need_browser):
    """Chromium on lavapipe through the project's Vulkan layer: Mesa's adapter, not
    SwiftShader, with shader-f16 unless the test asks it hidden."""
    if not lavapipe_ready():
        pytest.skip(f"{LAYER_LIB} or lavapipe missing: make install (scripts/install-vk-layer.sh)")
    report = adapter_report(rig="lavapipe")
    assert (report["info"]["vendor"], report["info"]["architecture"]) == ("mesa", "software"), report
    assert "shader-f16" in report["features"]
    _assert_webllm_limits(report["limits"])
    assert report["limits"]["maxStorageBufferBindingSize"] == 128 * 2**20  # not SwiftShader's 1 GiB
    plain = adapter_report(rig="lavapipe", shader_f16=False)
    assert plain["info"]["vendor"] == "mesa" and "shader-f16" not in plain["features"], plain


@pytest.mark.slow
@pytest.mark.browser
def test_webllm_module_imports(need_browser):
    report = webllm_import_report()
    assert "error" not in report, report
    assert {"CreateMLCEngine", "MLCEngine", "prebuiltAppConfig"} <= set(report["exports"])


def _broken_artifact(tmp_path: Path, case: str) -> tuple[Path, Path]:
    art = tmp_path / "art"
    art.mkdir()
    lib = tmp_path / "broken-webgpu.wasm"
    lib.write_bytes(b"this is not a wasm module")
    if case == "garbage-wasm":
        config = {"tokenizer_files": ["tokenizer.json"], "vocab_size": 10, "context_window_size": 64,
                  "sliding_window_size": -1, "attention_sink_size": -1,
                  "conv_template": {"system_template": "{system_message}", "system_message": "",
                                    "roles": {"user": "U", "assistant": "A"}, "seps": ["\n"],
                                    "stop_str": [], "stop_token_ids": [0]}}  # fmt: skip
        (art / "mlc-chat-config.json").write_text(json.dumps(config))
    return art, lib


# lavapipe calls itself "software" (on dawn, and in Chromium on the lavapipe rig)
ADAPTERS = {"chromium": "software" if RIG == "lavapipe" else "swiftshader", "dawn": "software"}


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("rig", sorted(ADAPTERS))
@pytest.mark.parametrize("case", ["garbage-wasm", "missing-config"])
def test_broken_model_gives_error_string_not_hang(need_browser, tmp_path, case, rig):
    art, lib = _broken_artifact(tmp_path, case)
    start = time.monotonic()
    result = run_webllm(art, lib, "broken-model", max_tokens=4, timeout=90, rig=rig)
    assert time.monotonic() - start < 90
    assert isinstance(result["error"], str) and result["error"], result
    assert result["failed_stage"] == "load"
    assert result["adapter_info"]["info"]["architecture"] == ADAPTERS[rig]
    # SwiftShader has no shader-f16 (only f32 builds run there); lavapipe has it
    assert ("shader-f16" in result["adapter_info"]["features"]) == (ADAPTERS[rig] == "software")
    assert result["text"] is None and result["token_ids"] is None
    if case == "missing-config":
        config = "/models/broken-model/resolve/main/mlc-chat-config.json"
        assert [r for r in result["requests"] if r[1] == config and r[2] == 404], result["requests"]
    else:
        assert "WebAssembly" in result["error"] or "wasm" in result["error"].lower(), result["error"]
        assert ("GET", "/libs/broken-webgpu.wasm", 200) in result["requests"]
    shutil.rmtree(art)
