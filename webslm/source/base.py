"""What every model source offers the compiler: config, tokenizer files, and HF-named weights."""

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from webslm.errors import WebslmError
from webslm.model_files import read_json


@dataclass
class ModelSource(ABC):
    """A model to compile, whatever it was read from (hub repo, local folder, GGUF file).

    id: repo id, folder name or file stem. revision: the hub commit, None for local sources.
    config: the HF config.json dict (normalized: see webslm.source.config).
    tokenizer_dir: holds tokenizer.json and tokenizer_config.json (chat_template inside it
    when the model has one). files: every source file, for hashing into a manifest.
    """

    id: str
    revision: str | None
    config: dict
    generation_config: dict
    tokenizer_dir: Path
    files: list[Path]

    @abstractmethod
    def tensor_names(self) -> list[str]:
        """HF parameter names of the stored tensors (tied lm_head absent when it is not stored)."""

    @abstractmethod
    def get_tensor(self, name: str) -> np.ndarray:
        """One tensor as a float32 array that owns its memory."""

    @abstractmethod
    def load_reference_model(self):
        """A float32 transformers AutoModelForCausalLM on the same weights, in eval mode."""

    def tensor_shape(self, name: str) -> tuple[int, ...]:
        """A stored tensor's shape; sources that can read it without the data override this."""
        return tuple(self.get_tensor(name).shape)

    def tensor_type(self, name: str) -> str | None:
        """The ggml type a quantized file stores `name` in ("Q4_K", "F32", ...); None for a
        float checkpoint, whose tensors have no type to carry (quantize/source_grids.py)."""
        return None

    def on_grid(self, name: str, grid, scale_dtype: str) -> tuple[np.ndarray, ...] | None:
        """`name` as quantize() would return it on `grid`, read from how the source stores it
        (its own codes, scales and minimums) when it stores it on that grid; else None."""
        return None

    def load_source_model(self):
        """The model a build must reproduce, as its authors run it: the reference model, or
        for a fine-tune, base + adapter as PEFT runs them."""
        return self.load_reference_model()

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """Yield (name, float32 array) one at a time, so the model is never held twice."""
        for name in self.tensor_names():
            yield name, self.get_tensor(name)

    @property
    def chat_template(self) -> str | None:
        return read_json(self.tokenizer_dir / "tokenizer_config.json").get("chat_template")


def to_float32(name: str, tensor) -> np.ndarray:
    """torch tensor of any float dtype (bf16 included) -> float32 numpy array."""
    import torch

    if not tensor.is_floating_point():
        raise WebslmError(
            f"tensor {name} is stored as {tensor.dtype}, not as floats: the checkpoint is "
            "already quantized (GPTQ/AWQ/bitsandbytes), which webslm cannot read",
            "use the original float16/bfloat16/float32 checkpoint of the model",
        )
    return tensor.to(torch.float32).contiguous().numpy()


def reference_generation_config(config: dict) -> dict:
    """generation_config.json equivalent when a source has none: the special token ids."""
    keys = ("bos_token_id", "eos_token_id", "pad_token_id")
    return {k: config[k] for k in keys if config.get(k) is not None}
