"""Size of the webslm wheel and what takes the room (docs/BENCHMARKS.md, "Wheel size").

Builds the wheel from this checkout (`pip wheel . --no-deps`, web/node_modules installed),
prints its size, the uncompressed bytes per part, and fails if any model file got in.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL_SUFFIXES = (".gguf", ".safetensors", ".onnx", ".onnx_data", ".bin", ".pt")
PARTS = ("webslm/_data/web/node_modules/onnxruntime-web", "webslm/_data/web/node_modules/@mlc-ai",
         "webslm/_data/web/node_modules/@wllama", "webslm/_data/web/node_modules/@huggingface",
         "webslm/_data", "webslm")


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q",
                        "-w", out], check=True)
        (wheel,) = Path(out).glob("webslm-*.whl")
        infos = zipfile.ZipFile(wheel).infolist()
        size = wheel.stat().st_size
    parts = collections.Counter()
    for info in infos:
        parts[next((p for p in PARTS if info.filename.startswith(p + "/")), "other")] += info.file_size
    print(f"{wheel.name}: {size:,} bytes ({size / 2**20:.1f} MiB), {len(infos)} files, "
          f"{sum(parts.values()) / 2**20:.1f} MiB uncompressed")
    for part, n in parts.most_common():
        print(f"  {n / 2**20:6.1f} MiB  {part}")
    models = [i.filename for i in infos if i.filename.endswith(MODEL_SUFFIXES)]
    print(f"model files: {models or 'none'}")
    return 1 if models else 0


if __name__ == "__main__":
    sys.exit(main())
