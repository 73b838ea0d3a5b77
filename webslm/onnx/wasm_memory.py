"""Will an ONNX build run in a browser's WASM memory? Decided from config.json alone, so a
build that cannot is refused before anything is downloaded or exported.

onnxruntime-web runs in wasm32: one linear memory of at most 4 GiB (its module declares
65536 pages of 64 KiB) that only grows, so what counts is the peak of two moments:
- loading: every initializer is copied in from the fetched external-data file (which stays
  outside, in JS), one tensor at a time through a buffer of its size, and MatMulInteger
  (q8) packs each constant int8 matrix into a copy of its own;
- the longest call, a prompt that fills the context window in one call (transformers.js
  does not chunk): the KV cache goes in and comes back (two copies at once), one float32
  activation row per prompt token as wide as the layer's widest outputs together, each
  attention thread's [prompt, prompt] scores, and for q4 MatMulNBits (fp32 compute)
  dequantizes each matrix into a float workspace the size of the largest. The lm_head sees
  only the last position (graph.py's num_logits_to_keep).
Calibrated on Llama-3.2-1B (q8 and q4, prompts of 16, 1024 and 2048 tokens) and SmolLM2-135M
in headless Chromium (`bench/onnx_full_size.py`, docs/BENCHMARKS.md "The CPU path at full
size"): the estimate sits 0-11% above what Llama reached, further above for SmolLM2.
"""

from __future__ import annotations

import dataclasses

from webslm.memory_fit import longest_fitting
from webslm.onnx.int8 import keeps_float
from webslm.quantize.onnx_dtypes import ONNX_DTYPES
from webslm.source.config import head_dim

WASM32_BYTES = 4 << 30
RUNTIME_BYTES = 160 << 20  # onnxruntime itself, its arena's slack
GROWTH_BYTES = 96 << 20    # emscripten grows the memory by up to this much beyond the request
ATTENTION_THREADS = 4      # the most WASM threads the pages use (engines.js wasmThreads)


@dataclasses.dataclass(frozen=True)
class Tensor:
    elements: int
    nbytes: float
    quantized: bool


def _projections(config: dict) -> dict[str, int]:
    """Weights of each linear of one decoder layer."""
    hidden, inter = config["hidden_size"], config["intermediate_size"]
    q = config["num_attention_heads"] * head_dim(config)
    kv = _kv_heads(config) * head_dim(config)
    return {"q_proj": hidden * q, "k_proj": hidden * kv, "v_proj": hidden * kv,
            "o_proj": q * hidden, "gate_proj": hidden * inter, "up_proj": hidden * inter,
            "down_proj": inter * hidden}


def _kv_heads(config: dict) -> int:
    return config.get("num_key_value_heads") or config["num_attention_heads"]


def tensors(config: dict, dtype: str) -> list[Tensor]:
    """Every large tensor of the dtype's external-data file, by the exporter's rules: linears
    quantized (q8 keeps some in float, int8.keeps_float), the lm_head quantized like them,
    the embedding shared with a tied lm_head or else float, the rotary cos/sin tables for
    every position the config allows."""
    store, layers = ONNX_DTYPES[dtype], config["num_hidden_layers"]
    linear = store.weight_bits / 8
    out = []
    for layer in range(layers):
        for name, count in _projections(config).items():
            kept = dtype == "q8" and keeps_float(name, layer, layers)
            out.append(Tensor(count, count * (store.float_bytes if kept else linear),
                              not kept and dtype != "fp32"))
    table = config["vocab_size"] * config["hidden_size"]
    out.append(Tensor(table, table * linear, dtype != "fp32"))  # the lm_head
    if not config.get("tie_word_embeddings", False):
        out.append(Tensor(table, table * store.float_bytes, False))
    rotary = config.get("max_position_embeddings", 2048) * head_dim(config)  # cos + sin caches
    out.append(Tensor(rotary, rotary * store.float_bytes, False))
    return out


def weight_bytes(config: dict, dtype: str) -> int:
    return int(sum(t.nbytes for t in tensors(config, dtype)))


def kv_bytes_per_token(config: dict, dtype: str) -> int:
    return (2 * config["num_hidden_layers"] * _kv_heads(config) * head_dim(config)
            * ONNX_DTYPES[dtype].float_bytes)


def heap_bytes(config: dict, dtype: str, context_window: int) -> int:
    """The WASM memory the dtype reaches: the larger of loading and of a prompt that fills
    the context window in one call (the module docstring says what each term is)."""
    store, all_tensors = ONNX_DTYPES[dtype], tensors(config, dtype)
    weights = sum(t.nbytes for t in all_tensors)
    quantized = [t for t in all_tensors if t.quantized]
    # MatMulInteger packs a copy of every int8 matrix; MatMulNBits (fp32 compute) dequantizes
    # each into a float workspace the size of the largest
    packed = sum(t.nbytes for t in quantized) if store.op == "MatMulInteger" else 0
    load = weights + packed + max(t.nbytes for t in all_tensors)
    workspace = 4 * max(t.elements for t in quantized) if store.op == "MatMulNBits" else 0
    widths = _projections(config)
    row = 4 * ((widths["q_proj"] + 2 * widths["k_proj"]) // config["hidden_size"]
               + 2 * config["intermediate_size"] + config["hidden_size"])
    p = context_window
    prompt = p * (2 * kv_bytes_per_token(config, dtype) + row) + ATTENTION_THREADS * 4 * p * p
    return int(max(load, weights + packed + workspace + RUNTIME_BYTES + prompt) + GROWTH_BYTES)


def largest_context(config: dict, dtype: str) -> int:
    """The longest context window at which the dtype fits (0: none does)."""
    return longest_fitting(lambda n: heap_bytes(config, dtype, n), WASM32_BYTES)


def wasm_refusal(config: dict, dtype: str, context_window: int) -> str | None:
    """Why the dtype cannot run in WASM at this context window, or None when it fits."""
    need = heap_bytes(config, dtype, context_window)
    if need <= WASM32_BYTES:
        return None
    return (f"ONNX {dtype} needs about {need / 2**30:.1f} GiB of WASM memory for a "
            f"{context_window}-token prompt ({weight_bytes(config, dtype) / 2**30:.1f} GiB of "
            f"weights), over the {WASM32_BYTES >> 30} GiB a browser gives WebAssembly")
