"""A Hugging Face model folder: config.json, safetensors weights (one file or sharded), tokenizer."""

import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.model_files import read_json
from webslm.source.base import ModelSource, reference_generation_config, to_float32
from webslm.source.config import normalize_config
from webslm.source.tokenizer import prepare_tokenizer_dir, tokenizer_files

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
MAX_HEADER = 100_000_000  # the limit the safetensors library itself enforces
DTYPE_BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16,
              "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "F64": 64,
              "I64": 64, "U64": 64, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "C64": 64}
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

        if name not in self.weight_map:
            raise WebslmError(f"{self.id} has no tensor named {name}", "use one of tensor_names()")
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
    raw_config = read_json(root / "config.json")
    weight_map, weight_files = _find_weights(root)
    config = normalize_config(raw_config, where=str(root / "config.json"))
    _check_embedding(config, weight_map)
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
        index = read_json(root / INDEX)
        index = index.get("weight_map") if isinstance(index, dict) else None
        if not isinstance(index, dict) or not index:
            raise WebslmError(f"{root / INDEX} has no weight_map", REDOWNLOAD)
        for shard in index.values():  # plain file names in this folder: never ../ or an absolute path
            if not isinstance(shard, str) or Path(shard).name != shard or not shard.endswith(".safetensors"):
                raise WebslmError(f"{root / INDEX} places tensors in {shard!r}, not a .safetensors "
                                  "file name in the same folder", REDOWNLOAD)
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


def _check_embedding(config: dict, weight_map: dict[str, Path]) -> None:
    """The embedding must have config's [vocab_size, hidden_size]: a mismatch means config.json
    and the weights come from different models, which would fail deep in the build."""
    for name in ("model.embed_tokens.weight", "lm_head.weight"):
        if name in weight_map:
            entry = read_safetensors_header(weight_map[name])[name]
            want = [config["vocab_size"], config["hidden_size"]]
            if entry["shape"] != want:
                raise WebslmError(
                    f"{weight_map[name]} stores {name} as {entry['shape']}, but config.json says "
                    f"[vocab_size, hidden_size] = {want}",
                    "use the config.json that belongs to these weights (same repo and revision)",
                )


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """name -> {dtype, shape, data_offsets} after checking the header against the file size.

    Checked here, in Python, so every damage gets a message naming the tensor and field:
    header length, JSON, dtype, shape, offsets in range, byte size matching the shape, overlaps.
    """
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                _corrupt(path, f"it is {size} bytes, shorter than the 8-byte header length")
            (length,) = struct.unpack("<Q", f.read(8))
            if length > min(MAX_HEADER, size - 8):
                _corrupt(path, f"its header claims {length} bytes; the file has {size - 8} after the length")
            raw = f.read(length)
    except OSError as err:
        raise WebslmError(f"cannot read weight file {path}: {err.strerror or err}", REDOWNLOAD) from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        _corrupt(path, f"its header is not valid JSON ({err})")
    if not isinstance(header, dict):
        _corrupt(path, "its header is not a JSON object")
    header.pop("__metadata__", None)
    tensors = {name: _check_entry(path, name, entry, size - 8 - length) for name, entry in header.items()}
    ordered = sorted(tensors.items(), key=lambda kv: kv[1]["data_offsets"])
    for (a, ea), (b, eb) in zip(ordered, ordered[1:]):
        if ea["data_offsets"][1] > eb["data_offsets"][0]:
            _corrupt(path, f"tensors {a} and {b} overlap")
    return tensors


def _check_entry(path: Path, name: str, entry, data_size: int) -> dict:
    if not isinstance(entry, dict):
        _corrupt(path, f"header entry {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        _corrupt(path, f"tensor {name!r} has dtype {dtype!r}, which safetensors does not define")
    if not isinstance(shape, list) or not all(_is_size(d) for d in shape):
        _corrupt(path, f"tensor {name!r} has shape {shape!r}, not a list of sizes")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_size(o) for o in offsets)
            and offsets[0] <= offsets[1] <= data_size):
        _corrupt(path, f"tensor {name!r} has data_offsets {offsets!r}, outside the {data_size} data bytes")
    nbits = math.prod(shape) * DTYPE_BITS[dtype]
    if nbits != 8 * (offsets[1] - offsets[0]):
        _corrupt(path, f"tensor {name!r} of shape {shape} and dtype {dtype} needs {nbits / 8:g} bytes, "
                       f"its data_offsets give {offsets[1] - offsets[0]}")
    return {"dtype": dtype, "shape": shape, "data_offsets": offsets}


def _is_size(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1 << 62


def _corrupt(path: Path, what: str):
    raise WebslmError(f"weight file {path} is corrupt or incomplete: {what}", REDOWNLOAD)


def _header_names(path: Path) -> list[str]:
    from safetensors import safe_open

    read_safetensors_header(path)
    try:
        with safe_open(path, framework="pt") as f:
            return list(f.keys())
    except Exception as err:  # SafetensorError for bad headers, OSError for unreadable files
        raise WebslmError(f"weight file {path} is corrupt or incomplete: {err}", REDOWNLOAD) from None
