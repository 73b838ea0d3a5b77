"""WebGPU on the CPU counts as no GPU: the page takes a WASM engine (the first measured for
chat, web/static/cpu-engine-order.js). On both software adapters the tests have: SwiftShader (a fallback
adapter) and lavapipe (Dawn names it only "mesa", "software", and not as a fallback).

WebGPU emulated on the CPU decodes SmolLM2-135M at about 0.1 tokens/s, the WASM engine at
14-22 (docs/BENCHMARKS.md). (Its own module: one Playwright session per thread at a time.)"""

from __future__ import annotations

import pytest

from browser_helpers import chromium, open_page, webslm_serve
from chromium_rig import lavapipe_ready
from serve_helpers import cpu_engine_order
from test_wasm_engine import badge

pytestmark = [pytest.mark.slow, pytest.mark.browser]

RENDERERS = {"swiftshader": "swiftshader", "lavapipe": "software"}


@pytest.mark.parametrize("rig", sorted(RENDERERS))
def test_software_webgpu_is_passed_over_for_the_cpu_engine(smollm2_onnx_dist, rig):
    if rig == "lavapipe" and not lavapipe_ready():
        pytest.skip("lavapipe's Chromium rig is not installed: make install")
    with webslm_serve(smollm2_onnx_dist) as url, chromium(rig=rig) as ctx:
        page = open_page(ctx, url, [])
        assert page.evaluate("() => window.webslmPage.gpu.software") is True
        assert badge(page)["engine"] == cpu_engine_order()["order"]["chat"][0]
        status = page.text_content("#gpu-status")
        wanted = f"transformers.js on WebGPU: this WebGPU runs on the CPU ({RENDERERS[rig]})"
        assert wanted in status, status
        forced = open_page(ctx, url + "?engine=transformers-webgpu", [])
        assert badge(forced)["engine"] == "transformers-webgpu"
