"""The CPU build of `webslm build`: <model>-cpu/, one folder holding every requested ONNX
dtype in the layout transformers.js loads, the GGUF wllama runs, and a webslm manifest (files,
hashes, toolchain)."""

from __future__ import annotations

import importlib.metadata
import math
import time
from pathlib import Path
from typing import Callable

from webslm.arch import find_architecture
from webslm.artifacts.files import gguf_filename
from webslm.artifacts.gguf_file import CPU_GGUF, write_gguf
from webslm.artifacts.manifest import write_onnx_manifest
from webslm.errors import WebslmError
from webslm.onnx import OnnxDtype, export_onnx, onnx_dtypes_for
from webslm.onnx.wasm_memory import heap_bytes, largest_context, wasm_refusal
from webslm.quantize.schemes import flag_schemes
from webslm.registry import ModelEntry
from webslm.resources import TRANSFORMERS_JS, WLLAMA, npm_pin
from webslm.source.base import ModelSource

# A CPU model that cannot hold a prompt this long in WASM memory is not worth a download.
MIN_CPU_CONTEXT = 1024
# The browser side of this backend, as web/package.json pins it.
TRANSFORMERS_JS_VERSION = npm_pin(TRANSFORMERS_JS)
WLLAMA_VERSION = npm_pin(WLLAMA)


def onnx_toolchain() -> dict:
    version = importlib.metadata.version
    return {"onnxruntime_genai": version("onnxruntime-genai"), "onnx": version("onnx"),
            "onnxruntime": version("onnxruntime"), "transformers_js": TRANSFORMERS_JS_VERSION,
            "gguf": version("gguf"), "wllama": WLLAMA_VERSION}


def wasm_fit(config: dict, quantizations: list[str], context_window: int
             ) -> tuple[list[OnnxDtype], dict[str, int], dict[str, str]]:
    """The ONNX dtypes to build, the context each CPU (float32-activation) dtype holds in
    WASM memory (the build's, or less where that does not fit), and why any was left out:
    one that cannot hold a MIN_CPU_CONTEXT-token prompt (or the build's, if shorter). Raises when nothing is left, so
    `webslm build` can refuse from the config alone, before any download."""
    dtypes = onnx_dtypes_for(quantizations)
    if not dtypes:
        flags = ", ".join(f"--{f} (ONNX {' + '.join(s.onnx)})"
                          for f, s in flag_schemes().items() if s.onnx)
        raise WebslmError(f"none of {', '.join(quantizations)} has an ONNX build",
                          f"add {flags}, or use --backend webgpu")
    contexts, refused = {}, {}
    least = min(MIN_CPU_CONTEXT, context_window)
    for dtype in (d.name for d in dtypes if not d.needs_f16):
        fits = largest_context(config, dtype)
        if fits < least:
            refused[dtype] = wasm_refusal(config, dtype, least)
        else:
            contexts[dtype] = min(context_window, fits)
    kept = [d for d in dtypes if d.name not in refused]
    if not kept:
        raise WebslmError("the ONNX (CPU) build cannot run in a browser: "
                          + "; ".join(refused.values()),
                          "build the WebGPU artifacts alone with --backend webgpu")
    return kept, contexts, refused


def write_onnx_artifact(entry: ModelEntry, source: ModelSource, quantizations: list[str],
                        out: Path, model_id: str, source_record: dict, context_window: int,
                        say: Callable[[str], None]) -> None:
    """Export into `out` (a staging directory the caller renames into place). A dtype with
    fp32 activations comes first: transformers.js loads it by default."""
    dtypes, contexts, refused = wasm_fit(source.config, quantizations, context_window)
    for reason in refused.values():
        say(f"left out: {reason}")
    for dtype, context in contexts.items():
        if context < context_window:
            say(f"ONNX {dtype} holds prompts of up to {context} tokens on the CPU (WASM memory), "
                f"not {context_window}")
    dtypes.sort(key=lambda d: d.needs_f16)
    started = time.time()
    tjs_config = export_onnx(source, dtypes, out, say=say)
    cpu_gguf = write_cpu_gguf(entry, source, out, context_window, say) if contexts else {}
    write_onnx_manifest(
        out, toolchain=onnx_toolchain(),
        build={"model": entry.name, "model_id": model_id, "engine": "transformers.js",
               "quantization": "onnx", "dtypes": [d.name for d in dtypes],
               "f16_dtypes": [d.name for d in dtypes if d.needs_f16],
               "default_dtype": tjs_config["dtype"],
               "context_window": context_window,
               # each CPU dtype's context in WASM memory, what it needs there, what was left out
               "wasm_context": contexts,
               "wasm_bytes": {d: heap_bytes(source.config, d, n) for d, n in contexts.items()},
               "wasm_refused": refused,
               # the GGUF the CPU engine (wllama) runs: {qtype: {file, files, context}}
               "gguf": cpu_gguf,
               "chat_format": entry.chat_format, "seconds": round(time.time() - started, 1)},
        source=source_record)


def write_cpu_gguf(entry: ModelEntry, source: ModelSource, out: Path, context_window: int,
                   say: Callable[[str], None]) -> dict:
    """The GGUF wllama runs on the CPU, when llama.cpp has a layout for the architecture and
    models.yaml names the tokenizer's pre-tokenizer; {} otherwise (transformers.js remains)."""
    arch = find_architecture(source.config)
    if arch.gguf is None or not entry.gguf_tokenizer:
        missing = (f"llama.cpp's layout of {arch.display_name}" if arch.gguf is None
                   else f"models.yaml gguf_tokenizer for {entry.name}")
        say(f"no GGUF for the CPU engine (webslm lacks {missing}): transformers.js runs it there")
        return {}
    say(f"writing the CPU engine's GGUF ({CPU_GGUF})")
    files = write_gguf(source, arch.config_from_hf(source.config), arch.gguf, qtype=CPU_GGUF,
                       tokenizer_pre=entry.gguf_tokenizer, name=entry.name,
                       out=out / gguf_filename(CPU_GGUF), say=say)
    names = [f.relative_to(out).as_posix() for f in files]
    return {CPU_GGUF: {"file": names[0], "files": names, "context": context_window}}


def onnx_expected_bytes(source: ModelSource, quantizations: list[str]) -> int:
    """Rough size of the ONNX folder (for a disk-full message): every dtype's weights, plus
    the fp32 export an int8 build is quantized from, plus tokenizer and config files."""
    elements = sum(math.prod(source.tensor_shape(n)) for n in source.tensor_names())
    dtypes = onnx_dtypes_for(quantizations)
    bits = sum(d.weight_bits + (32 if d.int8_from_fp32 else 0) for d in dtypes)
    bits += _gguf_bits(CPU_GGUF)
    return int(elements * bits / 8) + 5_000_000


def _gguf_bits(qtype: str) -> float:
    """Bits per weight of a llama.cpp type, scales included (gguf-py's block table)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType[qtype]]
    return 8 * size / block
