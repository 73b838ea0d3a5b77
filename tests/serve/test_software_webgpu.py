"""WebGPU on the CPU (SwiftShader here) counts as no GPU: the page takes a WASM engine
(wllama on the build's GGUF, the first of them).

WebGPU emulated on the CPU decodes SmolLM2-135M at about 0.1 tokens/s, the WASM engine at
14-22 (docs/BENCHMARKS.md). (Its own module: one Playwright session per thread at a time.)"""

from __future__ import annotations

import pytest

from browser_helpers import chromium, open_page, webslm_serve
from test_wasm_engine import badge

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_software_webgpu_is_passed_over_for_the_cpu_engine(smollm2_onnx_dist):
    with webslm_serve(smollm2_onnx_dist) as url, chromium() as ctx:
        page = open_page(ctx, url, [])
        assert page.evaluate("() => window.webslmPage.gpu.software") is True
        assert badge(page)["engine"] == "wllama"
        status = page.text_content("#gpu-status")
        assert "transformers.js on WebGPU: this WebGPU runs on the CPU (swiftshader)" in status, status
        forced = open_page(ctx, url + "?engine=transformers-webgpu", [])
        assert badge(forced)["engine"] == "transformers-webgpu"
