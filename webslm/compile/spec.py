"""What a compile takes and gives, as plain data (no TVM): the converter, verify and the build
read these without loading the compiler."""

from __future__ import annotations

import dataclasses
from typing import Any


# WebGPU's default maxStorageBufferBindingSize, and the most many adapters allow (lavapipe,
# many phones): a kernel binds each weight whole, so a quantized embedding larger than this is
# stored in row blocks (compile/layers.py), and web/static/gpu.js compares the adapter's own.
DEFAULT_BINDING_BYTES = 128 * 2**20

# Storage buffers one WebGPU kernel may bind: the maxStorageBuffersPerShaderStage WebLLM 0.2.86
# asks its device for (a kernel binding more fails on every device); a fused kernel counts.
WEBGPU_STORAGE_BUFFERS = 10

# The KV cache page WebLLM 0.2.86 asks for (llm_chat.ts: "page_size, hard coded for now").
WEBLLM_PAGE_SIZE = 16


def keep_tokens(window, prefill_chunk, max_batch_size):
    """Tokens a sequence keeps in a windowed KV cache's sliding layers (windowed_kv_cache.py).
    A step's queries read the cache as it was before the step's slide, and a page the slide
    frees is handed out again only in a later step: so one sequence needs its window alone.
    Several need window + chunk - 1, since another sequence may take a freed page in the same
    step. (1 - 1 // n is 0 for one sequence and 1 for more; it works on TVM expressions too.)"""
    return window + (prefill_chunk - 1) * (1 - 1 // max_batch_size)


def window_cache_tokens(window, max_batch_size, prefill_chunk, page_size):
    """Capacity of a windowed KV cache's sliding layers, in whole pages a sequence: the
    entries start up to a page in (a slide frees whole pages), and a chunk is appended before
    the slide. Ints or TVM expressions."""
    kept = keep_tokens(window, prefill_chunk, max_batch_size)
    per_sequence = page_size - 1 + kept + prefill_chunk
    return max_batch_size * ((per_sequence + page_size - 1) // page_size) * page_size


# The parameter-name segment of a table stored in row blocks: model.embed_tokens.rows.0.q_weight
ROW_BLOCKS = "rows"
# The stage of the tied lm_head over such a table that picks each row's block (layers.py); the
# schedule that tiles that GEMV knows it by this name (schedules.py RowBlockGEMV).
ROW_BLOCKS_DEQUANTIZE = "dequantize_rows"


@dataclasses.dataclass(frozen=True)
class BuildShape:
    """Sizes fixed at compile time; they bound the statically planned memory."""

    context_window: int
    prefill_chunk: int
    max_batch_size: int = 4


@dataclasses.dataclass
class ParamSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str


@dataclasses.dataclass
class CompiledModel:
    executable: Any  # tvm.relax.VMExecutable
    metadata: dict[str, Any]
    params: list[ParamSpec]
    config: Any      # the architecture's config dataclass


# A kept adapter's plan (compile/lora.py runs it): which linears carry a low-rank branch. A and
# B^T are stored as float16 bit patterns, two per uint32 (LORA_STORAGE); A's slots are padded
# to a multiple of LORA_SLOT_ALIGN, the decode GEMV's rows per workgroup, so each workgroup's
# threads split A x evenly.
LORA_A, LORA_B = "lora_a", "lora_b"
LORA_STORAGE = "float16"
LORA_SLOT_ALIGN = 8


@dataclasses.dataclass(frozen=True)
class LoraLinear:
    """One adapted linear. rank: slots per adapted part (the largest part's rank; a smaller one
    leaves zeros in A and B). parts: (first output row, first slot) of each adapted part, in
    row order; rows before the first part (an unadapted one) have zero B rows."""

    rank: int
    parts: tuple[tuple[int, int], ...]

    @property
    def slots(self) -> int:
        used = self.rank * len(self.parts)
        return -(-used // LORA_SLOT_ALIGN) * LORA_SLOT_ALIGN


@dataclasses.dataclass(frozen=True)
class LoraPlan:
    """The adapted linears by parameter base (e.g. model.layers.0.self_attn.qkv_proj)."""

    linears: dict[str, LoraLinear]
