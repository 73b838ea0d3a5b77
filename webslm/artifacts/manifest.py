"""webslm-manifest.json: what was built, from what, with which toolchain, and a WebLLM
ModelRecord ready to paste into an appConfig."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from webslm import __version__
from webslm.artifacts.files import CHAT_CONFIG, MANIFEST
from webslm.errors import WebslmError
from webslm.hashing import file_entry
from webslm.resources import WEBLLM, npm_pin

WEBLLM_VERSION = npm_pin(WEBLLM)  # web/package.json pins the WebLLM the artifacts are tested with


def file_table(directory: Path) -> dict[str, dict[str, Any]]:
    """Every file below `directory` but the manifest, by POSIX relative path (onnx/x.onnx)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {p.relative_to(directory).as_posix(): file_entry(p)
            for p in files if p.relative_to(directory).as_posix() != MANIFEST}


def sri(sha256_hex: str) -> str:
    """A hex SHA-256 as a Subresource Integrity string (what WebLLM's `integrity` takes)."""
    return "sha256-" + base64.b64encode(bytes.fromhex(sha256_hex)).decode()


def webllm_integrity(files: dict[str, dict[str, Any]], lib_name: str) -> dict[str, Any]:
    """The ModelRecord's `integrity`: the files WebLLM checks itself (config, wasm,
    tokenizer). webslm's pages check every file (web/static/integrity.js); this covers apps
    that hand the record to WebLLM directly."""
    integrity: dict[str, Any] = {"config": sri(files[CHAT_CONFIG]["sha256"]),
                                 "model_lib": sri(files[lib_name]["sha256"]),
                                 "onFailure": "error"}
    tokenizer = {n: sri(files[n]["sha256"]) for n in ("tokenizer.json", "tokenizer.model") if n in files}
    if tokenizer:
        integrity["tokenizer"] = tokenizer
    return integrity


def vram_estimate_mb(metadata: dict[str, Any], param_bytes: int, kv_dtype_bytes: int,
                     kv_positions: list[int]) -> float:
    """Weights + KV cache at the full context window (`kv_positions`: what each layer holds
    there) + the largest planned activation buffer."""
    kv = metadata["kv_cache"]
    kv_bytes = (2 * kv["num_key_value_heads"] * kv["head_dim"] * sum(kv_positions)
                * kv_dtype_bytes)
    activations = max(metadata.get("memory_usage", {}).values(), default=0)
    return round((param_bytes + kv_bytes + activations) / 2**20, 1)


def model_record(model_id: str, lib_name: str, needs_f16: bool, vram_mb: float,
                 context_window: int) -> dict[str, Any]:
    """A WebLLM ModelRecord with URLs relative to the folder that holds the artifact."""
    record = {
        "model": f"{model_id}/",
        "model_id": model_id,
        "model_lib": f"{model_id}/{lib_name}",
        "vram_required_MB": vram_mb,
        "low_resource_required": vram_mb < 2048,
        "overrides": {"context_window_size": context_window},
    }
    if needs_f16:
        record["required_features"] = ["shader-f16"]
    return record


def write_manifest(directory: Path, *, toolchain: dict, build: dict, source: dict,
                   record: dict) -> dict:
    files = file_table(directory)
    lib_name = record["model_lib"].rsplit("/", 1)[-1]
    manifest = {
        "webslm_version": __version__,
        "toolchain": {**toolchain, "webllm": WEBLLM_VERSION},
        "build": build,
        "source": source,
        "files": files,
        "webllm_model_record": {**record, "integrity": webllm_integrity(files, lib_name)},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def write_onnx_manifest(directory: Path, *, toolchain: dict, build: dict, source: dict) -> dict:
    """The manifest of an ONNX (transformers.js) artifact: no WebLLM record, an engine name."""
    manifest = {
        "webslm_version": __version__,
        "toolchain": toolchain,
        "build": build,
        "source": source,
        "files": file_table(directory),
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(artifact_dir: Path) -> dict:
    """A build's manifest; a folder without one is not a webslm build, said so."""
    path = Path(artifact_dir) / MANIFEST
    if not path.is_file():
        raise WebslmError(f"{artifact_dir} has no {MANIFEST}",
                          "point at a directory written by `webslm build`")
    return json.loads(path.read_text())
