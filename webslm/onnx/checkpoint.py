"""Write a ModelSource out as a plain Hugging Face checkpoint folder (config.json, sharded
float32 safetensors, tokenizer files): the one input format the ONNX exporter reads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

from webslm.source.base import ModelSource
from webslm.source.tokenizer import TOKENIZER_FILES

SHARD_BYTES = 1 << 30


def write_hf_checkpoint(source: ModelSource, out: Path) -> Path:
    """Tensors are written one shard at a time, so at most ~1 GiB of them is held at once."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(source.config, indent=2))
    (out / "generation_config.json").write_text(json.dumps(source.generation_config, indent=2))
    for name in TOKENIZER_FILES:
        shutil.copy2(source.tokenizer_dir / name, out / name)

    parts: list[list[str]] = [[]]
    pending: dict[str, np.ndarray] = {}
    size = 0
    for name, tensor in source.tensors():
        if pending and size + tensor.nbytes > SHARD_BYTES:
            save_file(pending, str(out / f"part-{len(parts)}.safetensors"))
            parts.append([])
            pending, size = {}, 0
        pending[name] = tensor
        parts[-1].append(name)
        size += tensor.nbytes
    save_file(pending, str(out / f"part-{len(parts)}.safetensors"))

    weight_map = {}
    for number, names in enumerate(parts, start=1):
        final = f"model-{number:05d}-of-{len(parts):05d}.safetensors"
        (out / f"part-{number}.safetensors").rename(out / final)
        weight_map.update({name: final for name in names})
    index = {"metadata": {}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    return out
