"""WebGPU in Node: Dawn (npm `webgpu`, devDependency of web/) over Mesa's lavapipe.

The second software GPU, and the only one here WITH shader-f16: SwiftShader in headless
Chromium has none, so f16 builds execute on this rig (shared/TOOLCHAIN.md). It runs the
unmodified WebLLM in Node, about four times faster than SwiftShader in Chromium. Installed by
`make install` (scripts/install-lavapipe.sh and npm ci).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from webslm.errors import WebslmError
from webslm.resources import data_path

# lavapipe's Vulkan ICD from Debian's mesa-vulkan-drivers (25.x, from bookworm-backports).
LAVAPIPE_ICD = Path(os.environ.get("WEBSLM_LAVAPIPE_ICD", "/usr/share/vulkan/icd.d/lvp_icd.json"))
DAWN_PACKAGE = "node_modules/webgpu"
INSTALL_HINT = "make install (scripts/install-lavapipe.sh, then npm ci in web/)"


def node_modules() -> Path:
    """web/node_modules with Dawn in it; a clear error naming the install step otherwise."""
    web = data_path("web")
    if not shutil.which("node"):
        raise WebslmError("node is not on PATH (the Dawn WebGPU rig runs in Node)", INSTALL_HINT)
    if not (web / DAWN_PACKAGE / "index.js").is_file():
        raise WebslmError(f"{web / DAWN_PACKAGE} is missing (npm `webgpu`, Dawn for Node)", INSTALL_HINT)
    if not LAVAPIPE_ICD.is_file():
        raise WebslmError(f"{LAVAPIPE_ICD} is missing (Mesa's lavapipe from bookworm-backports)",
                          INSTALL_HINT)
    return web / "node_modules"


def run_node(script: Path, args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    """Run `node script args...` with lavapipe as the only Vulkan driver Dawn sees."""
    env = dict(os.environ, VK_ICD_FILENAMES=str(LAVAPIPE_ICD))
    return subprocess.run(["node", str(script), *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s)
