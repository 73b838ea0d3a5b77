"""Shared by the per-architecture parity tests: tiny random transformers models, our CPU
build of them, and the transformers references they are compared with."""

from __future__ import annotations

import numpy as np
import torch

from webslm.arch import find_architecture
from webslm.compile.compiler import compile_model
from webslm.compile.cpu_model import CpuModel
from webslm.compile.lowering import cpu_target
from webslm.compile.spec import BuildShape
from webslm.convert.weights import convert
from webslm.quantize.schemes import get_scheme
from webslm.verify.reference import load_weights_into, stored_as_hf, teacher_forced_logits

TOL = 1e-3


def tiny_model(model_cls, config_cls, **config):
    """A deterministic float32 transformers model with weights large enough to matter.

    Default inits give zero biases and small weights; both would hide bugs here.
    """
    torch.manual_seed(0)
    model = model_cls(config_cls(**config)).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.mul_(4.0)
            elif name.endswith(".bias"):
                p.normal_(0.0, 0.5)
    return model


def compile_and_convert(model, scheme_name: str, shape: BuildShape = BuildShape(128, 16)):
    """Our CPU build of `model` and the parameters our converter stores for it."""
    hf_config = {**model.config.to_dict(), "architectures": [type(model).__name__]}
    arch = find_architecture(hf_config)
    scheme = get_scheme(scheme_name)
    compiled = compile_model(arch, hf_config, scheme, cpu_target(), shape)
    stored = {}
    tensors = ((k, v.detach().numpy().copy()) for k, v in model.state_dict().items())
    convert(tensors, compiled.params, arch.weight_map, scheme,
            tied_embeddings=model.config.tie_word_embeddings, emit=stored.__setitem__)
    return arch, compiled, stored


def run_cpu(compiled, stored, tokens: list[int], prefill_len: int) -> np.ndarray:
    """Logits after the prefill, then after each decode step: [1 + decodes, vocab]."""
    cpu = CpuModel(compiled, stored)
    rows = [cpu.prefill(tokens[:prefill_len])]
    rows += [cpu.decode(t) for t in tokens[prefill_len:]]
    return np.stack(rows)


@torch.no_grad()
def cached_logits(model, tokens: list[int], prefill_len: int, chunk: int) -> np.ndarray:
    """transformers stepped through a KV cache exactly as CpuModel steps ours: the prefill in
    `chunk`-token pieces, then one token per call. Rows as in run_cpu."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    calls = [tokens[i:min(i + chunk, prefill_len)] for i in range(0, prefill_len, chunk)]
    calls += [[t] for t in tokens[prefill_len:]]
    rows, start = [], 0
    for ids in calls:
        positions = torch.arange(start, start + len(ids))[None]
        out = model(input_ids=torch.tensor([ids]), position_ids=positions, cache=cache,
                    use_cache=True)
        rows.append(out.logits[0, -1].float().numpy())
        start += len(ids)
    prefill_calls = len(calls) - (len(tokens) - prefill_len)
    return np.stack(rows[prefill_calls - 1:])


def random_tokens(model, n: int, seed: int = 1) -> list[int]:
    return np.random.default_rng(seed).integers(0, model.config.vocab_size, n).tolist()


def assert_close(ours: np.ndarray, ref: np.ndarray, tol: float = TOL) -> None:
    diff = float(np.abs(ours - ref).max())
    assert diff < tol, f"max |logit diff| {diff:.2e} >= {tol:g}"
    assert (ours.argmax(-1) == ref.argmax(-1)).all()


def dequantized_reference(model, arch, compiled, stored):
    """`model` (modified in place) carrying the weights our artifact stores, dequantized."""
    hf_shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    scheme = get_scheme(compiled.metadata["quantization"])
    load_weights_into(model, stored_as_hf(stored, compiled.params, arch.weight_map, hf_shapes,
                                          scheme))
    return model


__all__ = ["TOL", "BuildShape", "assert_close", "cached_logits", "compile_and_convert",
           "dequantized_reference", "random_tokens", "run_cpu", "teacher_forced_logits",
           "tiny_model"]
