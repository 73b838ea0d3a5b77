"""A Hugging Face model folder: config.json, safetensors weights (one file or sharded), tokenizer."""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.source.base import ModelSource, read_json, reference_generation_config, to_float32
from webslm.source.config import normalize_config
from webslm.source.tokenizer import prepare_tokenizer_dir, tokenizer_files

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
REDOWNLOAD = "download the file again (delete it first; for a hub model delete its folder under $HF_HOME/hub)"


@dataclass
class SafetensorsSource(ModelSource):
    root: Path = field(default=Path("."))
    weight_map: dict[str, Path] = field(default_factory=dict, repr=False)

    def tensor_names(self) -> list[str]:
        return list(self.weight_map)

    def get_tensor(self, name: str) -> np.ndarray:
        from safetensors import safe_open

        if name not in self.weight_map:
            raise WebslmError(f"{self.id} has no tensor named {name}", "use one of tensor_names()")
        path = self.weight_map[name]
        try:
            with safe_open(path, framework="pt") as f:
                tensor = f.get_tensor(name)
        except Exception as err:  # safetensors raises its own untyped errors
            raise WebslmError(f"cannot read tensor {name} from {path}: {err}", REDOWNLOAD) from None
        return to_float32(name, tensor)

    def tensor_shape(self, name: str) -> tuple[int, ...]:
        from safetensors import safe_open

        with safe_open(self.weight_map[name], framework="pt") as f:
            return tuple(f.get_slice(name).get_shape())

    def load_reference_model(self):
        import torch
        from transformers import AutoModelForCausalLM

        return AutoModelForCausalLM.from_pretrained(self.root, dtype=torch.float32).eval()


def open_model_dir(root: Path, id: str | None = None, revision: str | None = None) -> SafetensorsSource:
    """Open a local HF-layout folder, checking every file the compiler will need up front."""
    root = Path(root).expanduser().resolve()
    if not (root / "config.json").is_file():
        raise WebslmError(
            f"{root} has no config.json, so it is not a Hugging Face model folder",
            "pass --source a folder with config.json, *.safetensors and tokenizer files, or a .gguf file",
        )
    config = normalize_config(read_json(root / "config.json"))
    weight_map, weight_files = _find_weights(root)
    gen_path = root / "generation_config.json"
    generation = read_json(gen_path) if gen_path.is_file() else reference_generation_config(config)
    tok_files = tokenizer_files(root)
    files = [root / "config.json", *([gen_path] if gen_path.is_file() else []), *weight_files, *tok_files]
    return SafetensorsSource(
        id=id or root.name,
        revision=revision,
        config=config,
        generation_config=generation,
        tokenizer_dir=prepare_tokenizer_dir(root),
        files=files,
        root=root,
        weight_map=weight_map,
    )


def _find_weights(root: Path) -> tuple[dict[str, Path], list[Path]]:
    """Map every tensor name to its file; an unreadable header fails here, naming the file."""
    if (root / INDEX).is_file():
        index = read_json(root / INDEX).get("weight_map")
        if not isinstance(index, dict) or not index:
            raise WebslmError(f"{root / INDEX} has no weight_map", REDOWNLOAD)
        shards = list(dict.fromkeys(index.values()))
        for shard in shards:
            if not (root / shard).is_file():
                raise WebslmError(f"weight file {root / shard} (listed in {INDEX}) is missing", REDOWNLOAD)
        stored = {shard: set(_header_names(root / shard)) for shard in shards}
        for name, shard in index.items():
            if name not in stored[shard]:
                raise WebslmError(f"{root / shard} lacks tensor {name} that {INDEX} places there", REDOWNLOAD)
        files = [root / INDEX, *(root / s for s in shards)]
        return {name: root / shard for name, shard in index.items()}, files
    if (root / SINGLE).is_file():
        return {name: root / SINGLE for name in _header_names(root / SINGLE)}, [root / SINGLE]
    others = sorted(p.name for p in root.iterdir() if p.suffix in (".bin", ".pth", ".pt", ".safetensors"))
    raise WebslmError(
        f"{root} has no {SINGLE} or {INDEX}" + (f" (found: {', '.join(others)})" if others else ""),
        "webslm reads safetensors weights; convert a PyTorch checkpoint with "
        "`AutoModelForCausalLM.from_pretrained(DIR).save_pretrained(DIR)`",
    )


def _header_names(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="pt") as f:
            return list(f.keys())
    except Exception as err:  # SafetensorError for bad headers, OSError for unreadable files
        raise WebslmError(f"weight file {path} is corrupt or incomplete: {err}", REDOWNLOAD) from None
