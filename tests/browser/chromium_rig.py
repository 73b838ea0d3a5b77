"""Which software WebGPU headless Chromium gets in the tests: the one place that decides.

- "lavapipe" (the default where `make install` set it up): Mesa's lavapipe, the Vulkan driver
  the dawn rig uses, reached through the project's own Vulkan layer
  (scripts/vk-fake-semaphore-fd/: Chromium refuses lavapipe without it). About 4x faster
  than SwiftShader on the same pages (docs/BENCHMARKS.md). Its adapter says vendor "mesa",
  architecture "software" (a software adapter to the pages, as SwiftShader is), HAS
  shader-f16, and binds at most 128 MiB per storage buffer.
- "swiftshader": Chromium's built-in CPU WebGPU, what a GPU-less user's Chrome offers; no
  shader-f16. `WEBSLM_TEST_WEBGPU=swiftshader` forces it for every test; tests about
  SwiftShader itself ask for it by name.

A test about an adapter WITHOUT shader-f16 asks for `shader_f16=False`: lavapipe then hides
the feature (the layer clears shaderFloat16), and SwiftShader never has it.
"""

from __future__ import annotations

import os

from webslm.bench import chromium
from webslm.bench.chromium import VK_LAYER_LIB as LAYER_LIB
from webslm.bench.chromium import lavapipe_ready
from webslm.bench.dawn import LAVAPIPE_ICD

# The flags and environment of each WebGPU are webslm/bench/chromium.py's (`webslm bench`
# takes the same ones: `--lavapipe`); this module only decides which one the tests get.
RIG_ENV = "WEBSLM_TEST_WEBGPU"
RIGS = ("lavapipe", "swiftshader")


class RigError(RuntimeError):
    """The rig asked for (by WEBSLM_TEST_WEBGPU) is not installed."""


def default_rig() -> str:
    """WEBSLM_TEST_WEBGPU if set, else lavapipe where installed, else SwiftShader."""
    forced = os.environ.get(RIG_ENV, "")
    if forced and forced not in RIGS:
        raise RigError(f"{RIG_ENV}={forced!r}: use one of {', '.join(RIGS)}")
    if forced == "lavapipe" and not lavapipe_ready():
        raise RigError(f"{RIG_ENV}=lavapipe, but {LAYER_LIB} or {LAVAPIPE_ICD} is missing: "
                       "run make install (scripts/install-lavapipe.sh, scripts/install-vk-layer.sh)")
    return forced or ("lavapipe" if lavapipe_ready() else "swiftshader")


RIG = default_rig()
BENCH_FLAG = f"--{RIG}"  # `webslm bench` on the same WebGPU as the other browser tests


def launch_options(rig: str | None = None, *, webgpu: bool = True, shader_f16: bool = True) -> dict:
    """Playwright launch arguments {args, env} for `rig` (default: RIG). webgpu=False: no
    WebGPU at all; shader_f16=False: an adapter without shader-f16."""
    rig = rig or RIG
    if rig not in RIGS:
        raise ValueError(f"rig must be one of {RIGS}, got {rig!r}")
    return chromium.launch_options(webgpu=webgpu, software=rig, shader_f16=shader_f16)
