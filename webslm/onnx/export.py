"""Export a source model to ONNX in the folder layout transformers.js loads.

The graph is written by onnxruntime-genai's model builder (MatMulNBits 4-bit weights,
GroupQueryAttention, fused RMSNorm: the ops onnxruntime-web runs fastest), run in a child
process on a staged float32 HF checkpoint. Then this module makes the result something
transformers.js reads without hand edits:

    config.json                 the source config + "transformers.js_config"
    generation_config.json, tokenizer.json, tokenizer_config.json (chat template inside)
    onnx/model_<dtype>.onnx     the graph, one per dtype (fp32 has no suffix)
    onnx/model_<dtype>.onnx_data   its weights (the external-data name transformers.js fetches)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from webslm.artifacts.files import onnx_filename
from webslm.errors import WebslmError
from webslm.onnx.checkpoint import write_hf_checkpoint
from webslm.onnx.graph import finalize_graph
from webslm.onnx.int8 import quantize_int8
from webslm.quantize.onnx_dtypes import BLOCK, ONNX_DTYPES, OnnxDtype
from webslm.quantize.schemes import get_scheme
from webslm.source.base import ModelSource
from webslm.source.config import head_dim
from webslm.source.tokenizer import TOKENIZER_FILES


def onnx_dtypes_for(quantizations: list[str]) -> list[OnnxDtype]:
    names = dict.fromkeys(n for q in quantizations for n in get_scheme(q).onnx)
    return [ONNX_DTYPES[n] for n in names]


def check_exportable(config: dict) -> None:
    """Each architecture's folder says whether onnxruntime-genai's builder exports it (and
    transformers.js runs the result; tests/onnx checks every one end to end)."""
    from webslm.arch import architectures, find_architecture

    arch = find_architecture(config)
    if arch.onnx_refusal is not None:
        exportable = [a.display_name for a in architectures() if a.onnx_refusal is None]
        raise WebslmError(
            f"the ONNX exporter cannot handle the architecture {arch.display_name}: "
            f"{arch.onnx_refusal}",
            f"build only the WebGPU artifacts with --backend webgpu (ONNX supports: "
            f"{', '.join(exportable)})")


def export_onnx(source: ModelSource, dtypes: list[OnnxDtype], out: Path,
                say: Callable[[str], None] = print, block_size: int = BLOCK) -> dict:
    """Write the transformers.js folder into `out` (which must not exist yet); returns the
    transformers.js_config written into config.json."""
    check_exportable(source.config)
    out.mkdir(parents=True)
    (out / "onnx").mkdir()
    with tempfile.TemporaryDirectory(prefix="webslm-onnx-") as tmp:
        checkpoint = write_hf_checkpoint(source, Path(tmp) / "hf")
        fp32 = None
        # int8 first: it is made from the fp32 export, which finalizing fp32 moves away.
        for dtype in sorted(dtypes, key=lambda d: not d.int8_from_fp32):
            built = Path(tmp) / dtype.name
            if dtype.int8_from_fp32:
                if fp32 is None:
                    fp32 = Path(tmp) / "fp32"
                    say("export ONNX fp32 (for the int8 build)")
                    _run_builder(checkpoint, fp32, ONNX_DTYPES["fp32"], Path(tmp) / "cache",
                                 block_size)
                say("quantize ONNX q8 (int8 weights and activations)")
                quantize_int8(fp32 / "model.onnx", built / "model.onnx")
            elif dtype.name == "fp32" and fp32 is not None:
                built = fp32
            else:
                say(f"export ONNX {dtype.name} ({dtype.precision} weights, "
                    f"{'fp16' if dtype.needs_f16 else 'fp32'} activations)")
                _run_builder(checkpoint, built, dtype, Path(tmp) / "cache", block_size)
            finalize_graph(built / "model.onnx", out / "onnx" / onnx_filename(dtype.name),
                           head_dim=head_dim(source.config))
    for name in TOKENIZER_FILES:
        shutil.copy2(source.tokenizer_dir / name, out / name)
    (out / "generation_config.json").write_text(
        json.dumps(source.generation_config, indent=2) + "\n")
    tjs_config = {
        "dtype": dtypes[0].name,
        "use_external_data_format": {onnx_filename(d.name): 1 for d in dtypes},
    }
    config = {**source.config, "transformers.js_config": tjs_config}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return tjs_config


def _run_builder(checkpoint: Path, out: Path, dtype: OnnxDtype, cache: Path,
                 block_size: int) -> None:
    """The builder in a child process: its prints and its peak memory stay out of ours.
    windowed_kv_cache=false: sliding-window layers keep the whole KV cache and mask it, as
    transformers.js expects of every layer (it grows each cache by the step's tokens), instead
    of a window-sized ring that only onnxruntime-genai's own generator knows how to feed."""
    extra = ["filename=model.onnx", "hf_remote=false", "windowed_kv_cache=false"]
    if dtype.precision == "int4":
        extra += [f"block_size={block_size}", "is_symmetric=true"]
        if dtype.accuracy_level is not None:
            extra.append(f"accuracy_level={dtype.accuracy_level}")
    command = [sys.executable, "-m", "webslm.onnx.builder_child",
               "-i", str(checkpoint), "-o", str(out), "-p", dtype.precision,
               "-e", dtype.provider, "-c", str(cache), "--extra_options", *extra]
    # GIT_DIR: the builder stamps `git rev-parse HEAD` of the folder around its install into
    # the graph (producer_version), so a venv inside a checkout would tie every ONNX file to
    # that checkout's commit; with no repository it stamps its own release's commit.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GIT_DIR": os.devnull}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0 or not (out / "model.onnx").is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise WebslmError(
            f"the ONNX exporter (onnxruntime-genai model builder) failed for {dtype.name}:\n"
            f"{tail}",
            "build the WebGPU artifacts alone with --backend webgpu, or report the model's "
            "config.json with this message")
