"""Headless Chromium for benchmarks: the real GPU, or a software WebGPU on the CPU.

The one place that says how Chromium gets each WebGPU (flags and environment); the tests'
browsers take theirs from here too (tests/browser/chromium_rig.py picks which):
- "gpu": the machine's GPU through its Vulkan driver (`webslm bench --gpu`).
- "swiftshader": Chromium's built-in CPU WebGPU, on any machine (the default); no shader-f16.
- "lavapipe": Mesa's lavapipe (Vulkan on the CPU, Mesa 25 from bookworm-backports), which
  Chromium offers to WebGPU only through webslm's Vulkan layer (scripts/vk-fake-semaphore-fd/,
  built by `make install` in webslm's repository). About four times faster than SwiftShader,
  WITH shader-f16, at most 128 MiB per storage binding (docs/BENCHMARKS.md). The test suite's
  rig, and `webslm bench --lavapipe` from a clone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from webslm.bench.dawn import LAVAPIPE_ICD
from webslm.errors import WebslmError
from webslm.resources import CHECKOUT

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
# lavapipe: Chromium's GPU process on the system's Vulkan loader, ANGLE on Vulkan too (without
# it Chromium falls back to SwiftShader), the software-GPU blocklist ignored.
LAVAPIPE_ARGS = ["--ignore-gpu-blocklist", "--enable-features=Vulkan", "--use-vulkan=native",
                 "--use-angle=vulkan"]
VK_LAYER_DIR = Path(os.environ.get("WEBSLM_VK_LAYER_DIR",
                                   CHECKOUT / "scripts" / "vk-fake-semaphore-fd"))
VK_LAYER_NAME = "VK_LAYER_fake_semaphore_fd"
VK_LAYER_LIB = VK_LAYER_DIR / "libVkLayer_fake_semaphore_fd.so"
NO_SHADER_F16_ENV = "WEBSLM_VK_NO_SHADER_F16"  # the layer then hides shaderFloat16
SOFTWARE_WEBGPUS = ("swiftshader", "lavapipe")


# A browser without WebGPU (navigator.gpu absent): where the WASM engine has to take over.
NO_WEBGPU_ARGS = ["--disable-blink-features=WebGPU"]


def chromium_args(gpu: bool, webgpu: bool = True) -> list[str]:
    if not webgpu:
        return [a for a in COMMON_ARGS if a != "--enable-unsafe-webgpu"] + NO_WEBGPU_ARGS
    return COMMON_ARGS + (GPU_ARGS if gpu else SWIFTSHADER_ARGS)


def lavapipe_ready() -> bool:
    return VK_LAYER_LIB.is_file() and LAVAPIPE_ICD.is_file()


def launch_options(gpu: bool = False, webgpu: bool = True, software: str = "swiftshader",
                   shader_f16: bool = True) -> dict:
    """Chromium's {args, env} for the machine's GPU (gpu), or else the `software` WebGPU;
    webgpu=False: no WebGPU at all; shader_f16=False (lavapipe): an adapter without it."""
    if software not in SOFTWARE_WEBGPUS:
        raise ValueError(f"software must be one of {SOFTWARE_WEBGPUS}, got {software!r}")
    if gpu or not webgpu or software == "swiftshader":
        return {"args": chromium_args(gpu, webgpu), "env": dict(os.environ)}
    if not lavapipe_ready():
        raise WebslmError(f"lavapipe's WebGPU needs {VK_LAYER_LIB} and {LAVAPIPE_ICD}",
                          "run make install in webslm's repository (scripts/install-lavapipe.sh, "
                          "scripts/install-vk-layer.sh), or set WEBSLM_VK_LAYER_DIR to the "
                          "folder holding the layer; or bench on SwiftShader")
    env = dict(os.environ, VK_ICD_FILENAMES=str(LAVAPIPE_ICD), VK_ADD_LAYER_PATH=str(VK_LAYER_DIR),
               VK_INSTANCE_LAYERS=VK_LAYER_NAME)
    if not shader_f16:
        env[NO_SHADER_F16_ENV] = "1"
    return {"args": COMMON_ARGS + LAVAPIPE_ARGS, "env": env}


WEBGPU_LABELS = {"gpu": "GPU", "swiftshader": "SwiftShader", "lavapipe": "lavapipe"}


def webgpu_name(gpu: bool, software: str = "swiftshader") -> str:
    """The WebGPU a run used, as reports name it: gpu, swiftshader or lavapipe."""
    return "gpu" if gpu else software


def report_webgpu(summary: dict) -> str:
    """A report's WebGPU name; reports written before lavapipe have only `gpu`."""
    return summary.get("webgpu") or ("gpu" if summary["gpu"] else "swiftshader")


@contextmanager
def chromium_page(url: str, gpu: bool, log: list[str], timeout_s: float = 120, webgpu: bool = True,
                  software: str = "swiftshader"):
    """A fresh profile (so the first model load is a cold one) showing url, on the machine's
    GPU or the `software` WebGPU; webgpu=False: a browser without WebGPU at all."""
    if not os.access(CHROMIUM, os.X_OK):
        raise WebslmError(f"{CHROMIUM} not found", "install the Debian package `chromium` "
                          "(make install does), or point WEBSLM_CHROMIUM at a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise WebslmError("the PyPI package playwright is not installed",
                          "pip install playwright (it is in webslm's [test] extra)") from None
    options = launch_options(gpu, webgpu, software)
    profile = tempfile.mkdtemp(prefix="webslm-bench-")
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, **options)
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
