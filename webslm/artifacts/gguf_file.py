"""The GGUF the CPU engine runs: llama.cpp's file format, read by wllama (llama.cpp on WASM).

Why webslm writes one: on the CPU, llama.cpp's block-quantized Q8_0 (one scale per 32
weights) keeps int8 quality in every matmul at about half the size of the q8 ONNX model,
which has to keep several projections in float to hold its perplexity; wllama also loads
it in a few seconds (docs/BENCHMARKS.md, "The CPU path").

The file is written as llama.cpp's own converter would write it, from facts, not its code:
tensor names from gguf-py's table for the architecture, q/k rows reordered where llama.cpp
rotates adjacent pairs (GgufLayout.interleaved_rotary), norms shifted where llama.cpp
stores 1 + w (Gemma), Llama 3's rope scaling as the
`rope_freqs` tensor and Phi-3's LongRoPE as its factor tensors, and the tokenizer as
`tokenizer.ggml.*` metadata (gguf_tokenizer.py). Tensors stream through one at a time.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from webslm.artifacts.gguf_tokenizer import write_tokenizer
from webslm.errors import WebslmError

# wllama reads a file into one ArrayBuffer (2 GB at most) and fetches the shards of a split
# file in parallel; it recommends shards of 512 MB, named as llama.cpp's gguf-split names them
SHARD_BYTES = 512 * 1024 * 1024
QTYPES = ("Q8_0", "Q4_0", "F32")
# The CPU engine's file: llama.cpp's Q8_0 (docs/ARCHITECTURE.md, "The CPU model")
CPU_GGUF = "Q8_0"
# llama.cpp's file types (general.file_type) for the qtypes above
_FILE_TYPE = {"Q8_0": 7, "Q4_0": 2, "F32": 0}


def _tensor_qtype(hf_name: str, shape: tuple[int, ...], qtype: str) -> str:
    """Matrices take the file's qtype, except that a Q4_0 file keeps the embedding (and a
    separate lm_head) at Q8_0, as llama.cpp keeps its output matrix above 4 bits; vectors
    (norms, biases) stay F32."""
    if len(shape) != 2 or qtype == "F32":
        return "F32"
    if qtype == "Q4_0" and hf_name.split(".")[-2] in ("embed_tokens", "lm_head"):
        return "Q8_0"
    return qtype


def llama3_rope_factors(rope: dict[str, Any], theta: float, head_dim: int) -> np.ndarray:
    """[head_dim / 2] divisors of Llama 3's rotary frequencies (llama.cpp's rope_freqs):
    1 for short wavelengths, `factor` for long ones, a smooth blend between."""
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    factor, low, high = rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]
    original = rope["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv_freq
    smooth = (original / wavelen - low) / (high - low)
    blend = 1.0 / ((1 - smooth) / factor + smooth)
    factors = np.where(wavelen < original / high, 1.0, np.where(wavelen > original / low, factor, blend))
    return factors.astype(np.float32)


def _interleave_rotary(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of each head from [first halves..., second halves...] to pairs (x0, x_half, ...)."""
    rows = weight.shape[0] // heads
    return (weight.reshape(heads, 2, rows // 2, *weight.shape[1:])
            .swapaxes(1, 2).reshape(weight.shape))


def write_gguf(source, cfg, layout, *, qtype: str, tokenizer_pre: str, name: str,
               out: Path, say: Callable[[str], None] = lambda _: None) -> list[Path]:
    """Write source's weights to `out` as a `qtype` GGUF, split into SHARD_BYTES shards when
    larger; returns the files, first shard first. cfg: the architecture's config (webslm/arch:
    LlamaConfig and kin); layout: its GgufLayout; tokenizer_pre: llama.cpp's pre-tokenizer
    name (models.yaml gguf_tokenizer)."""
    import gguf
    from gguf.quants import quant_shape_to_byte_shape

    if qtype not in QTYPES:
        raise WebslmError(f"no GGUF type {qtype!r}", f"use one of {', '.join(QTYPES)}")
    unmet = layout.unmet(cfg)
    if unmet:
        raise WebslmError(f"no GGUF for llama.cpp: {unmet}",
                          "build the WebGPU artifacts alone with --backend webgpu")
    arch_ids = [k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == layout.arch]
    names = gguf.get_tensor_name_map(arch_ids[0], cfg.num_hidden_layers)
    plan = []  # (hf name, gguf name, shape, qtype), in file order
    for hf_name in source.tensor_names():
        target = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise WebslmError(f"{hf_name} has no GGUF name for llama.cpp's {layout.arch}",
                              "report it: webslm's GGUF writer does not know this tensor")
        shape = tuple(source.tensor_shape(hf_name))
        plan.append((hf_name, target, shape, _tensor_qtype(hf_name, shape, qtype)))

    out.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(out, layout.arch, split_max_size=SHARD_BYTES)
    _write_hparams(writer, cfg, name, qtype)
    rope_tensors = _rope_tensors(writer, cfg)
    for tensor_name, factors in rope_tensors.items():
        writer.add_tensor_info(tensor_name, factors.shape, np.float32, factors.nbytes)
    for _, target, shape, kind in plan:
        ggml = gguf.GGMLQuantizationType[kind]
        nbytes = 4 * math.prod(shape) if kind == "F32" else math.prod(quant_shape_to_byte_shape(shape, ggml))
        writer.add_tensor_info(target, shape, np.float32, nbytes, raw_dtype=ggml)
    write_tokenizer(writer, source, cfg.vocab_size, tokenizer_pre)

    writer.write_header_to_file(out)
    files = writer.format_shard_names(out)
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for factors in rope_tensors.values():
        writer.write_tensor_data(factors)
    for i, (hf_name, target, shape, kind) in enumerate(plan):
        weight = source.get_tensor(hf_name)
        if layout.interleaved_rotary and hf_name.endswith(("q_proj.weight", "q_proj.bias")):
            weight = _interleave_rotary(weight, cfg.num_attention_heads)
        elif layout.interleaved_rotary and hf_name.endswith(("k_proj.weight", "k_proj.bias")):
            weight = _interleave_rotary(weight, cfg.num_key_value_heads)
        if layout.norm_shift and hf_name.endswith("norm.weight"):
            weight = weight + np.float32(layout.norm_shift)
        writer.write_tensor_data(gguf.quants.quantize(np.ascontiguousarray(weight, np.float32),
                                                      gguf.GGMLQuantizationType[kind]))
        if i % 20 == 19:
            say(f"GGUF {qtype}: {i + 1}/{len(plan)} tensors")
    writer.close()
    return files


def _rope_tensors(writer, cfg) -> dict[str, np.ndarray]:
    """llama.cpp's rope scaling: Llama 3's as `rope_freqs` divisors; Phi-3's LongRoPE as its
    long and short factors (llama.cpp takes the long ones when its context exceeds the
    original one), its original context and its attention factor (transformers' default,
    sqrt(1 + ln(scale) / ln(original)))."""
    rope = cfg.rope_scaling or {}
    if rope.get("rope_type") == "llama3":
        return {"rope_freqs.weight": llama3_rope_factors(rope, cfg.rope_theta, cfg.head_dim)}
    if rope.get("rope_type") != "longrope":
        return {}
    original = cfg.original_max_position_embeddings
    scale = cfg.max_position_embeddings / original
    writer.add_rope_scaling_orig_ctx_len(original)
    writer.add_rope_scaling_attn_factors(rope.get("attention_factor") or (
        math.sqrt(1 + math.log(scale) / math.log(original)) if scale > 1 else 1.0))
    return {f"rope_factors_{kind}.weight": np.asarray(rope[f"{kind}_factor"], np.float32)
            for kind in ("long", "short")}


# llama.cpp's hyperparameters: gguf-py's writer method -> the config field it records
_HPARAMS = {
    "add_context_length": "max_position_embeddings", "add_embedding_length": "hidden_size",
    "add_feed_forward_length": "intermediate_size", "add_block_count": "num_hidden_layers",
    "add_head_count": "num_attention_heads", "add_head_count_kv": "num_key_value_heads",
    "add_key_length": "head_dim", "add_value_length": "head_dim",
    "add_rope_freq_base": "rope_theta",
    "add_layer_norm_rms_eps": "rms_norm_eps", "add_vocab_size": "vocab_size",
}


def _write_hparams(writer, cfg, name: str, qtype: str) -> None:
    writer.add_name(name)
    writer.add_file_type(_FILE_TYPE[qtype])
    writer.add_quantization_version(2)
    for method, field in _HPARAMS.items():
        getattr(writer, method)(getattr(cfg, field))
    writer.add_rope_dimension_count(getattr(cfg, "rotary_dim", cfg.head_dim))  # Phi-3: partial
    if hasattr(cfg, "sliding_window"):  # llama.cpp's phi3 reads 0 as none
        writer.add_sliding_window(cfg.sliding_window or 0)
