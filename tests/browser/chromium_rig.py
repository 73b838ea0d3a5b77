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
from pathlib import Path

from webslm.bench.chromium import COMMON_ARGS, chromium_args
from webslm.bench.dawn import LAVAPIPE_ICD

REPO = Path(__file__).resolve().parents[2]
RIG_ENV = "WEBSLM_TEST_WEBGPU"
RIGS = ("lavapipe", "swiftshader")
LAYER_DIR = REPO / "scripts" / "vk-fake-semaphore-fd"
LAYER_NAME = "VK_LAYER_fake_semaphore_fd"
LAYER_LIB = LAYER_DIR / "libVkLayer_fake_semaphore_fd.so"
# Chromium's GPU process on the system's Vulkan loader, ANGLE on Vulkan too (without it
# Chromium falls back to SwiftShader), the software-GPU blocklist ignored.
LAVAPIPE_ARGS = ["--ignore-gpu-blocklist", "--enable-features=Vulkan", "--use-vulkan=native",
                 "--use-angle=vulkan"]


class RigError(RuntimeError):
    """The rig asked for (by WEBSLM_TEST_WEBGPU) is not installed."""


def lavapipe_ready() -> bool:
    return LAYER_LIB.is_file() and LAVAPIPE_ICD.is_file()


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


def launch_options(rig: str | None = None, *, webgpu: bool = True, shader_f16: bool = True) -> dict:
    """Playwright launch arguments {args, env} for `rig` (default: RIG). webgpu=False: no
    WebGPU at all; shader_f16=False: an adapter without shader-f16."""
    rig = rig or RIG
    if rig not in RIGS:
        raise ValueError(f"rig must be one of {RIGS}, got {rig!r}")
    if not webgpu:
        return {"args": chromium_args(gpu=False, webgpu=False), "env": dict(os.environ)}
    if rig == "swiftshader":
        return {"args": chromium_args(gpu=False), "env": dict(os.environ)}
    env = dict(os.environ, VK_ICD_FILENAMES=str(LAVAPIPE_ICD), VK_ADD_LAYER_PATH=str(LAYER_DIR),
               VK_INSTANCE_LAYERS=LAYER_NAME)
    if not shader_f16:
        env["WEBSLM_VK_NO_SHADER_F16"] = "1"
    return {"args": COMMON_ARGS + LAVAPIPE_ARGS, "env": env}
