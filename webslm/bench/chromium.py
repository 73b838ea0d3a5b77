"""Headless Chromium for benchmarks: SwiftShader (CPU WebGPU, any machine) or the real GPU."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager

from webslm.errors import WebslmError

CHROMIUM = os.environ.get("WEBSLM_CHROMIUM", "/usr/bin/chromium")
COMMON_ARGS = [
    "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-unsafe-webgpu",
    "--enable-precise-memory-info",  # performance.memory without its 20-minute quantisation
]
# shared/TOOLCHAIN.md: WebGPU on the CPU through SwiftShader's Vulkan (no shader-f16).
SWIFTSHADER_ARGS = ["--enable-features=Vulkan", "--use-vulkan=swiftshader",
                    "--use-webgpu-adapter=swiftshader"]
# A real GPU through its Vulkan driver (NVIDIA on Linux); the blocklist would hide it headless.
GPU_ARGS = ["--enable-features=Vulkan,VulkanFromANGLE,DefaultANGLEVulkan", "--use-angle=vulkan",
            "--ignore-gpu-blocklist", "--enable-gpu"]


# A browser without WebGPU (navigator.gpu absent): where the WASM engine has to take over.
NO_WEBGPU_ARGS = ["--disable-blink-features=WebGPU"]


def chromium_args(gpu: bool, webgpu: bool = True) -> list[str]:
    if not webgpu:
        return [a for a in COMMON_ARGS if a != "--enable-unsafe-webgpu"] + NO_WEBGPU_ARGS
    return COMMON_ARGS + (GPU_ARGS if gpu else SWIFTSHADER_ARGS)


@contextmanager
def chromium_page(url: str, gpu: bool, log: list[str], timeout_s: float = 120, webgpu: bool = True):
    """A fresh profile (so the first model load is a cold one) showing url; webgpu=False: a
    browser without WebGPU at all."""
    if not os.access(CHROMIUM, os.X_OK):
        raise WebslmError(f"{CHROMIUM} not found", "install the Debian package `chromium` "
                          "(make install does), or point WEBSLM_CHROMIUM at a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise WebslmError("the PyPI package playwright is not installed",
                          "pip install playwright (it is in webslm's [test] extra)") from None
    profile = tempfile.mkdtemp(prefix="webslm-bench-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=chromium_args(gpu, webgpu))
            try:
                page = ctx.new_page()
                page.on("console", lambda m: log.append(f"console.{m.type}: {m.text}"))
                page.on("pageerror", lambda e: log.append(f"pageerror: {e}"))
                page.goto(url, timeout=timeout_s * 1000)
                yield page
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run_bench_page(page, entry: str, cfg: dict, timeout_s: float, what: str, fix: str,
                   log: list[str]) -> dict:
    """Call window[entry](cfg) on web/bench/'s page and wait for its window.__benchResult."""
    page.wait_for_function("() => window.__benchReady === true", timeout=60_000)
    page.evaluate("([entry, cfg]) => window[entry](cfg)", [entry, cfg])
    try:
        page.wait_for_function("() => window.__benchResult !== undefined", polling=1000,
                               timeout=timeout_s * 1000)
    except Exception:
        raise WebslmError(f"{what} gave no result within {timeout_s:g} s",
                          f"{fix}; browser log:\n" + "\n".join(log[-20:])) from None
    return page.evaluate("() => window.__benchResult")
