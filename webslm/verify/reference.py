"""PyTorch references: the source model as transformers loads it, and the same model
carrying the weights our artifact stores (dequantized), split back to HF names."""

from __future__ import annotations

import numpy as np
import torch

from webslm.arch.record import WeightMap
from webslm.compile.spec import ParamSpec
from webslm.convert.kept_adapter import base_params
from webslm.convert.weights import declared_grid, join_blocks, plan_targets
from webslm.quantize.group import dequantize
from webslm.quantize.schemes import QuantScheme


def stored_as_hf(stored: dict[str, np.ndarray], params: list[ParamSpec], weight_map: WeightMap,
                 hf_shapes: dict[str, tuple[int, ...]], scheme: QuantScheme
                 ) -> dict[str, np.ndarray]:
    """Invert the conversion: dequantize and un-fuse every stored parameter. The scheme names
    the grids (NF4's arrays have the shapes of a 4-bit grid's)."""
    out = {}
    specs = {p.name: p for p in params}
    for target in plan_targets(base_params(params), weight_map):
        if target.quantized:
            merged = dequantize(join_blocks(target, stored),
                                grid=declared_grid(target, specs, scheme))
        else:
            merged = stored[target.out_names[0]].astype(np.float32)
        sizes = [hf_shapes[p][0] for p in target.parts]
        for part, piece in zip(target.parts, np.split(merged, np.cumsum(sizes)[:-1], axis=0)):
            out[part] = piece
    return out


def load_weights_into(model: torch.nn.Module, weights: dict[str, np.ndarray]) -> None:
    state = model.state_dict()
    with torch.no_grad():
        for name, array in weights.items():
            state[name].copy_(torch.from_numpy(np.ascontiguousarray(array)))
        if getattr(model.config, "tie_word_embeddings", False):
            model.tie_weights()


@torch.no_grad()
def teacher_forced_logits(model: torch.nn.Module, token_ids: list[int]) -> np.ndarray:
    ids = torch.tensor([token_ids], dtype=torch.long)
    return model(input_ids=ids).logits[0].float().numpy()
