"""A fine-tune candidate's size counts each weight on the grid its build stores it on: a
q4f*_k linear the source keeps in more bits at the 8-bit grid's size, a 4-bit one at 4 bits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from webslm.arch.llama.mapping import LLAMA_WEIGHTS
from webslm.quantize.grids import Q4_ASYM, Q8_SYM
from webslm.quantize.schemes import get_scheme
from webslm.source.adapter import Adapter
from webslm.source.merged import MergedSource
from webslm.source.safetensors_dir import SafetensorsSource
from webslm.verify.finetune_candidates import Candidate, stored_megabytes

SHAPES = {
    "model.embed_tokens.weight": (320, 64),
    "model.layers.0.self_attn.q_proj.weight": (64, 64),    # part of qkv_proj: 8-bit below
    "model.layers.0.mlp.down_proj.weight": (64, 128),      # on the 4-bit grid
    "model.norm.weight": (64,),                            # not quantized
}


def _fine_tune(tmp_path: Path) -> MergedSource:
    """A base of real tensors in a safetensors file, with an adapter that changes nothing."""
    tensors = {n: np.zeros(s, np.float32) for n, s in SHAPES.items()}
    save_file(tensors, tmp_path / "model.safetensors")
    common = dict(id="tiny", revision=None, config={}, generation_config={},
                  tokenizer_dir=tmp_path, files=[])
    base = SafetensorsSource(**common, root=tmp_path,
                             weight_map=dict.fromkeys(SHAPES, tmp_path / "model.safetensors"))
    adapter = Adapter(tmp_path, "peft", {}, low_rank={}, whole={}, files=[])
    return MergedSource(**common, base=base, adapter=adapter)


def test_each_linear_is_counted_on_its_own_grid(tmp_path):
    source = _fine_tune(tmp_path)
    scheme = get_scheme("q4f16_k").with_linear_grids({"model.layers.0.self_attn.qkv_proj": Q8_SYM})
    bits = lambda grid: grid.bits_per_weight("float16")  # noqa: E731
    by_hand = (320 * 64 * bits(Q8_SYM)       # the embedding: q4f*_k's 8-bit grid
               + 64 * 64 * bits(Q8_SYM)      # q_proj, in the 8-bit qkv_proj
               + 64 * 128 * bits(Q4_ASYM)    # down_proj
               ) / 8 + 64 * 2                # the norm, in float16
    got = stored_megabytes(source, Candidate(scheme, False), LLAMA_WEIGHTS)
    assert got == pytest.approx(by_hand / 1e6, rel=1e-12)
    all_4bit = stored_megabytes(source, Candidate(get_scheme("q4f16_k"), False), LLAMA_WEIGHTS)
    assert got - all_4bit == pytest.approx(64 * 64 * (bits(Q8_SYM) - bits(Q4_ASYM)) / 8 / 1e6)
